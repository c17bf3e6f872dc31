//! The command line: a small parser, no dependency.

use std::{fmt, path::PathBuf};

use crate::scenarios::{self, Scenario};

/// Runs per arm when `--runs` is not given.
pub const DEFAULT_RUNS: usize = 3;
/// Nodes in a DHT scenario when `--nodes` is not given.
pub const DEFAULT_NODES: usize = 8;
/// The fewest nodes a DHT scenario takes: the measured node and its three bootstrap peers.
pub const MIN_NODES: usize = 4;
/// The most nodes: each but one is a process of its own.
pub const MAX_NODES: usize = 128;
/// The most runs per arm.
pub const MAX_RUNS: usize = 1000;

/// What the lab was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run scenarios.
    Run(Args),
    /// Draw the report page of a recorded run, without running anything.
    Render {
        /// The run's JSON document.
        from: PathBuf,
        /// The page to write.
        report: PathBuf,
    },
    /// Print the usage.
    Help,
}

/// The options of a lab run.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    /// The scenarios, in the order asked, each once; all of them by default.
    pub scenarios: Vec<&'static Scenario>,
    /// Runs per arm.
    pub runs: usize,
    /// Nodes in the DHT scenarios, the measured one included.
    pub nodes: usize,
    /// One JSON object per scenario per line, instead of the table.
    pub json: bool,
    /// Where to write the report page (its JSON document beside it).
    pub report: Option<PathBuf>,
}

/// A command line that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgsError(String);

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgsError {}

/// Parses the arguments after the program name. Options take their value
/// as the next argument or after `=` (`--runs 5`, `--runs=5`).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, ArgsError> {
    let mut parsed = Args {
        scenarios: Vec::new(),
        runs: DEFAULT_RUNS,
        nodes: DEFAULT_NODES,
        json: false,
        report: None,
    };
    let mut from = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        if inline.is_some() && matches!(flag.as_str(), "-h" | "--help" | "--json") {
            return Err(ArgsError(format!("{flag} takes no value")));
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| ArgsError(format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--json" => parsed.json = true,
            "--scenario" => {
                let name = value()?;
                let scenario = scenarios::find(&name).ok_or_else(|| {
                    ArgsError(format!(
                        "unknown scenario {name:?}; valid names: {}",
                        names()
                    ))
                })?;
                if !parsed.scenarios.iter().any(|s| s.name == scenario.name) {
                    parsed.scenarios.push(scenario);
                }
            }
            "--runs" => parsed.runs = number(&flag, &value()?, 1, MAX_RUNS)?,
            "--nodes" => parsed.nodes = number(&flag, &value()?, MIN_NODES, MAX_NODES)?,
            "--report" => parsed.report = Some(PathBuf::from(value()?)),
            "--from" => from = Some(PathBuf::from(value()?)),
            other => return Err(ArgsError(format!("unknown argument {other:?}; see --help"))),
        }
    }
    if let Some(from) = from {
        return match parsed.report {
            Some(report) => Ok(Command::Render { from, report }),
            None => Err(ArgsError("--from needs --report FILE.html".to_owned())),
        };
    }
    if parsed.scenarios.is_empty() {
        parsed.scenarios = scenarios::ALL.to_vec();
    }
    Ok(Command::Run(parsed))
}

fn number(flag: &str, value: &str, min: usize, max: usize) -> Result<usize, ArgsError> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            ArgsError(format!(
                "{flag} takes a number from {min} to {max}, not {value:?}"
            ))
        })
}

fn names() -> String {
    scenarios::ALL
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The text of `--help`.
pub fn usage() -> String {
    let mut text = format!(
        "policy-lab: every failure the transport policies cure, on real transports on \
         127.0.0.1, with plain rust-libp2p and with the policies, side by side.\n\n\
         Usage: policy-lab [--scenario NAME]... [--runs N] [--nodes N] [--json] [--report FILE.html]\n       \
         policy-lab --report FILE.html --from FILE.json\n\n\
         Options:\n  \
         --scenario NAME  run this scenario (repeatable; default: all)\n  \
         --runs N         runs per arm (default {DEFAULT_RUNS})\n  \
         --nodes N        nodes in the DHT scenarios, {MIN_NODES} to {MAX_NODES} (default {DEFAULT_NODES})\n  \
         --json           one JSON object per scenario per line instead of the table\n  \
         --report FILE    also write the run's report page there, and its JSON document\n                   \
         beside it (FILE with .json for .html)\n  \
         --from FILE      with --report: draw the page of that recorded JSON document\n                   \
         instead of running\n  \
         -h, --help       this text\n\n\
         Progress goes to stderr, the results to stdout.\n\nScenarios:\n"
    );
    for scenario in scenarios::ALL {
        text.push_str(&format!("  {:<25} {}\n", scenario.name, scenario.metric));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, ArgsError> {
        super::parse(args.iter().map(|a| a.to_string()))
    }

    fn run(args: &[&str]) -> Args {
        match parse(args) {
            Ok(Command::Run(args)) => args,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn no_arguments_run_every_scenario_with_defaults() {
        let args = run(&[]);
        assert_eq!(args.scenarios.len(), scenarios::ALL.len());
        assert_eq!(
            (args.runs, args.nodes, args.json),
            (DEFAULT_RUNS, DEFAULT_NODES, false)
        );
    }

    #[test]
    fn options_take_their_value_next_or_after_an_equals_sign() {
        let args = run(&["--runs", "5", "--nodes=16", "--json", "--scenario=overhead"]);
        assert_eq!((args.runs, args.nodes, args.json), (5, 16, true));
        let names: Vec<_> = args.scenarios.iter().map(|s| s.name).collect();
        assert_eq!(names, ["overhead"]);
    }

    #[test]
    fn scenarios_repeat_in_the_order_given_each_once() {
        let args = run(&[
            "--scenario",
            "webrtc-kill",
            "--scenario",
            "quic-silent-drop",
            "--scenario",
            "webrtc-kill",
        ]);
        let names: Vec<_> = args.scenarios.iter().map(|s| s.name).collect();
        assert_eq!(names, ["webrtc-kill", "quic-silent-drop"]);
    }

    #[test]
    fn a_report_is_written_beside_a_run_or_drawn_from_a_recorded_one() {
        assert_eq!(run(&["--report", "r.html"]).report, Some("r.html".into()));
        assert_eq!(
            parse(&["--report=r.html", "--from", "r.json"]),
            Ok(Command::Render {
                from: "r.json".into(),
                report: "r.html".into()
            })
        );
    }

    #[test]
    fn help_wins() {
        assert_eq!(parse(&["--runs", "2", "--help"]), Ok(Command::Help));
        assert_eq!(parse(&["-h"]), Ok(Command::Help));
        for scenario in scenarios::ALL {
            assert!(usage().contains(scenario.name));
        }
    }

    #[test]
    fn an_unknown_scenario_lists_the_valid_names() {
        let error = parse(&["--scenario", "carrier-pigeon"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("carrier-pigeon"), "{error}");
        for scenario in scenarios::ALL {
            assert!(error.contains(scenario.name), "{error}");
        }
    }

    #[test]
    fn bad_numbers_and_arguments_are_errors() {
        for bad in [
            &["--runs", "0"][..],
            &["--runs", "three"],
            &["--runs", "-1"],
            &["--runs"],
            &["--nodes", "3"],
            &["--nodes", "100000"],
            &["--scenario"],
            &["--json=yes"],
            &["--from", "run.json"],
            &["--report"],
            &["--verbose"],
            &["overhead"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
