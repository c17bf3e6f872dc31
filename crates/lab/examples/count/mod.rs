//! What the instruction-count examples share: their command line
//! (`<stack> [count] [warm-up count]`), the lab's log filter, and the one
//! current-thread runtime both nodes run on.

use std::process::ExitCode;

use tokio::runtime::Runtime;

/// Whatever a run fails with.
pub(crate) type Error = Box<dyn std::error::Error>;

/// The example's `main`: parses the stack with `parse` (one of `stacks`)
/// and the two counts (`defaults` when absent), quiets the logs to
/// `log_filter` unless `RUST_LOG` says otherwise, and runs `run` on a
/// current-thread runtime.
pub(crate) fn main<S>(
    name: &str,
    stacks: &str,
    parse: fn(&str) -> Option<S>,
    defaults: (u64, u64),
    log_filter: &str,
    run: impl FnOnce(&Runtime, S, u64, u64) -> Result<(), Error>,
) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(stack) = args.first().and_then(|a| parse(a)) else {
        eprintln!("usage: {name} {stacks} [count] [warm-up count]");
        return ExitCode::from(2);
    };
    let count = |i: usize, default: u64| args.get(i).map_or(Ok(default), |a| a.parse());
    let (Ok(count), Ok(warm_up)) = (count(1, defaults.0), count(2, defaults.1)) else {
        eprintln!("{name}: counts are whole numbers");
        return ExitCode::from(2);
    };
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", log_filter);
    }
    testkit::init_tracing();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::from)
        .and_then(|runtime| run(&runtime, stack, count, warm_up));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
