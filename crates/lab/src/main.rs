//! `policy-lab`: see the library's docs and `policy-lab --help`.

use std::process::ExitCode;

use policy_lab::{args, child};

fn main() -> ExitCode {
    // First, before any thread: a child node of the lab is the lab's own executable.
    if let Some(code) = child::run_if_child() {
        return code;
    }
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(args::Command::Run(args)) => args,
        Ok(args::Command::Render { from, report }) => {
            return match policy_lab::write_report_from(&from, &report) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("policy-lab: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Ok(args::Command::Help) => {
            print!("{}", args::usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("policy-lab: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = child::serve_children_from_self() {
        eprintln!("policy-lab: cannot find its own executable for child nodes: {e}");
        return ExitCode::FAILURE;
    }
    quiet_expected_warnings();
    testkit::init_tracing();
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(policy_lab::run(&args)),
        Err(e) => {
            eprintln!("policy-lab: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Kademlia warns that a node with an empty routing table cannot bootstrap:
/// in the lab that is the expected state of a DHT's first node and of the
/// `overhead` server, not news. A `RUST_LOG` of the user's is left alone;
/// the child nodes inherit this one.
fn quiet_expected_warnings() {
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "warn,libp2p_kad=error");
    }
}
