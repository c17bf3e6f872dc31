//! The lab: every failure the transport policies cure, run on real
//! transports on 127.0.0.1 through the testkit, once with plain rust-libp2p
//! and once with the policies, side by side.
//!
//! `cargo run --release -p policy-lab` runs every scenario and ends with a
//! table; `--json` prints one JSON object per scenario per line instead.
//! The parts:
//!
//! - [`scenarios`]: one file per scenario, each a [`scenarios::Scenario`]
//!   that runs once on an [`scenarios::Arm`] and returns a
//!   [`scenarios::Sample`] (a measured value, or the cap);
//! - [`stack`]: what a lab node runs on each arm: the plain application
//!   alone, or inside the `transport-policies` facade's bundle;
//! - [`runner`]: runs a scenario's runs, concurrently where it allows,
//!   with progress on stderr;
//! - [`stats`], [`table`] and [`json`]: the summary and its two outputs;
//! - [`args`]: the command line; [`child`]: the lab's child-process nodes.

pub mod args;
pub mod child;
pub mod json;
pub mod runner;
pub mod scenarios;
pub mod stack;
pub mod stats;
pub mod table;

use std::{process::ExitCode, time::Instant};

/// Runs the scenarios `args` names and prints their results to stdout: the
/// table at the end, or a JSON line as each scenario finishes. Fails if a
/// scenario could not be run (its setup failed every attempt); one whose
/// requirements the machine lacks is skipped with a note.
pub async fn run(args: &args::Args) -> ExitCode {
    let started = Instant::now();
    let ctx = scenarios::Context::new(args.nodes);
    let mut outcomes = Vec::new();
    let mut notes = Vec::new();
    for scenario in &args.scenarios {
        if let Err(missing) = (scenario.requires)() {
            eprintln!("{}: skipped: {missing}", scenario.name);
            notes.push((scenario.name, format!("skipped: {missing}")));
            continue;
        }
        match runner::run_scenario(scenario, args.runs, &ctx).await {
            Ok(outcome) => {
                if args.json {
                    println!("{}", json::line(&outcome));
                }
                outcomes.push(outcome);
            }
            Err(e) => {
                eprintln!("{}: failed: {e}", scenario.name);
                notes.push((scenario.name, format!("failed: {e}")));
            }
        }
    }
    if !args.json {
        print!("{}", table::render(&outcomes, &notes));
    }
    eprintln!(
        "policy-lab: {} scenarios in {:.0} s",
        outcomes.len(),
        started.elapsed().as_secs_f64()
    );
    if notes.iter().any(|(_, note)| note.starts_with("failed")) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
