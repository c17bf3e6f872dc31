//! Many plain clients of one server in one process. See `testkit::clients`.

fn main() {
    testkit::init_tracing();
    // One thread: a process is one of several, each with thousands of
    // swarms that are idle once connected.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("testkit-clients: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = runtime.block_on(testkit::clients::run_clients(std::env::args().skip(1))) {
        eprintln!("testkit-clients: {e}");
        std::process::exit(2);
    }
}
