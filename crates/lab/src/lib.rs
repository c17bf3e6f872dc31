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
//! - [`timeline`]: what happened in one run of each arm; [`report`]: the
//!   page drawn from a run's JSON document (`--report FILE.html`);
//! - [`args`]: the command line; [`child`]: the lab's child-process nodes.

pub mod args;
pub mod child;
pub mod json;
pub mod report;
pub mod runner;
pub mod scenarios;
pub mod stack;
pub mod stats;
pub mod table;
pub mod timeline;

use std::{
    fmt, io,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Instant,
};

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
    let mut failed = false;
    if let Some(report) = &args.report {
        let about = report::About::now(args.runs, args.nodes);
        match write_report(&outcomes, &about, report) {
            Ok(json) => eprintln!(
                "policy-lab: the report is {}, its JSON {}",
                report.display(),
                json.display()
            ),
            Err(e) => {
                eprintln!("policy-lab: {e}");
                failed = true;
            }
        }
    }
    eprintln!(
        "policy-lab: {} scenarios in {:.0} s",
        outcomes.len(),
        started.elapsed().as_secs_f64()
    );
    if failed || notes.iter().any(|(_, note)| note.starts_with("failed")) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Why a report page could not be written.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReportWriteError {
    /// A file could not be read or written.
    Io(PathBuf, io::Error),
    /// The JSON document could not be drawn.
    Render(PathBuf, report::ReportError),
}

impl fmt::Display for ReportWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(path, e) => write!(f, "{}: {e}", path.display()),
            Self::Render(path, e) => write!(f, "{}: {e}", path.display()),
        }
    }
}

impl std::error::Error for ReportWriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(_, e) => Some(e),
            Self::Render(_, e) => Some(e),
        }
    }
}

/// Writes the run's JSON document beside `report` (its path with `.json`)
/// and the page drawn from it at `report`; returns the document's path.
pub fn write_report(
    outcomes: &[runner::Outcome],
    about: &report::About,
    report: &Path,
) -> Result<PathBuf, ReportWriteError> {
    let mut json = report.with_extension("json");
    if json == report {
        json = PathBuf::from(format!("{}.json", report.display()));
    }
    if let Some(dir) = report.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| ReportWriteError::Io(dir.to_owned(), e))?;
    }
    std::fs::write(&json, json::document(outcomes, about))
        .map_err(|e| ReportWriteError::Io(json.clone(), e))?;
    write_report_from(&json, report)?;
    Ok(json)
}

/// Draws the page of the recorded JSON document `from` at `report`.
pub fn write_report_from(from: &Path, report: &Path) -> Result<(), ReportWriteError> {
    let document =
        std::fs::read_to_string(from).map_err(|e| ReportWriteError::Io(from.to_owned(), e))?;
    let page =
        report::render(&document).map_err(|e| ReportWriteError::Render(from.to_owned(), e))?;
    std::fs::write(report, page).map_err(|e| ReportWriteError::Io(report.to_owned(), e))
}
