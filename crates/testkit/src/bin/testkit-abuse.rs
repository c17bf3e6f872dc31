//! One attack on a node, from a process of its own. See `testkit::abuse`.

fn main() {
    testkit::init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("testkit-abuse: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = runtime.block_on(testkit::abuse::run_abuse(std::env::args().skip(1))) {
        eprintln!("testkit-abuse: {e}");
        std::process::exit(2);
    }
}
