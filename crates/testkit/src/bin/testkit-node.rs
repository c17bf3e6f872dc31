//! A plain node for the testkit's child processes. See `testkit::child`.

#[tokio::main]
async fn main() {
    testkit::init_tracing();
    if let Err(e) = testkit::child::run_node(std::env::args().skip(1)).await {
        eprintln!("testkit-node: {e}");
        std::process::exit(2);
    }
}
