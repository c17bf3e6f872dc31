//! The lab's child-process nodes are the lab itself.
//!
//! The testkit's [`ChildNode`](testkit::ChildNode) starts the program named
//! by `TESTKIT_NODE_BIN`, else a `testkit-node` binary beside the running
//! one, which `cargo run -p policy-lab` does not build (cargo builds no
//! other package's binaries for it). So the lab names itself, with a
//! variable its children inherit that makes them run the testkit's node
//! (the same code as `testkit-node`) instead of the lab.

use std::process::ExitCode;

/// Set in the children's environment: run as a testkit node.
const AS_NODE: &str = "POLICY_LAB_AS_TESTKIT_NODE";

/// If this process is one of the lab's child nodes, runs the node until it
/// is killed and returns its exit code; `None` in the lab itself.
pub fn run_if_child() -> Option<ExitCode> {
    std::env::var_os(AS_NODE)?;
    testkit::init_tracing();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("policy-lab node: {e}");
            return Some(ExitCode::from(2));
        }
    };
    match runtime.block_on(testkit::child::run_node(std::env::args().skip(1))) {
        Ok(()) => Some(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("policy-lab node: {e}");
            Some(ExitCode::from(2))
        }
    }
}

/// Makes the testkit start this executable for child nodes, unless
/// `TESTKIT_NODE_BIN` names another node binary already.
///
/// Call it before any other thread starts: it changes the environment.
pub fn serve_children_from_self() -> std::io::Result<()> {
    if std::env::var_os(testkit::child::NODE_BIN_ENV).is_some() {
        return Ok(());
    }
    let exe = std::env::current_exe()?;
    std::env::set_var(testkit::child::NODE_BIN_ENV, exe);
    std::env::set_var(AS_NODE, "1");
    Ok(())
}
