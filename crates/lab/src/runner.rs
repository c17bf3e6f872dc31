//! Runs a scenario's runs on both arms, as many at once as it allows,
//! reporting progress on stderr.

use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::{
    scenarios::{Arm, Context, RunError, Sample, Scenario, Unit},
    stats::Summary,
    timeline::{self, Recorded},
};

/// Attempts at a run whose setup failed (a connect, a child process)
/// before the scenario is given up. A run that does not recover is not a
/// failure: it is capped.
const ATTEMPTS: usize = 3;

/// A run still going after this is stuck; every scenario's run ends well
/// within it (setup, settling, then the cap).
const STUCK: Duration = Duration::from_secs(180);

/// Between the starts of the first runs in flight.
const STAGGER: Duration = Duration::from_millis(250);

/// One scenario's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The scenario.
    pub scenario: &'static Scenario,
    /// Runs per arm.
    pub runs: usize,
    /// The plain arm's runs.
    pub plain: Summary,
    /// The policy arm's runs.
    pub policy: Summary,
    /// What happened in each arm's first run, plain's then policy's.
    pub timelines: [Recorded; 2],
}

/// Runs `scenario` `runs` times on each arm and summarises. Progress goes
/// to stderr: a line per finished run, with its value.
pub async fn run_scenario(
    scenario: &'static Scenario,
    runs: usize,
    ctx: &Context,
) -> Result<Outcome, RunError> {
    let parallel = (scenario.parallel)(ctx).clamp(1, 2 * runs);
    let cap = scenario
        .cap
        .map_or(String::new(), |c| format!(", cap {} s", c.as_secs_f64()));
    eprintln!(
        "{}: {runs} runs per arm, {parallel} at a time{cap}",
        scenario.name
    );
    let started = Instant::now();

    // Arms alternate, so that a limit on runs in flight treats them alike
    // and a drift of the machine during the scenario does not favour one.
    let schedule = (0..runs).flat_map(|i| Arm::BOTH.map(|arm| (arm, i)));
    let mut finished = futures::stream::iter(schedule.enumerate())
        .map(|(position, (arm, i))| {
            let ctx = ctx.clone();
            // The first runs in flight start a little apart, so that their
            // setups (DTLS handshakes, child processes) do not all land on
            // the two cores at once; later ones start as a slot frees.
            let stagger = if position < parallel {
                STAGGER * position as u32
            } else {
                Duration::ZERO
            };
            async move {
                tokio::time::sleep(stagger).await;
                (arm, i, attempt(scenario, arm, i, runs, ctx).await)
            }
        })
        .buffer_unordered(parallel);

    let mut samples: [Vec<Option<Sample>>; 2] = [vec![None; runs], vec![None; runs]];
    let mut timelines = [Recorded::default(), Recorded::default()];
    while let Some((arm, i, result)) = finished.next().await {
        let (sample, recorded) = result?;
        if let Some(recorded) = recorded {
            timelines[arm_index(arm)] = recorded;
        }
        eprintln!(
            "  {} {arm:<6} run {}/{runs}: {}",
            scenario.name,
            i + 1,
            show(sample, scenario.unit)
        );
        samples[arm_index(arm)][i] = Some(sample);
    }
    eprintln!(
        "{}: done in {:.0} s",
        scenario.name,
        started.elapsed().as_secs_f64()
    );

    let [plain, policy] = samples.map(|arm| {
        let arm: Vec<Sample> = arm.into_iter().flatten().collect();
        Summary::new(&arm).expect("at least one run per arm")
    });
    Ok(Outcome {
        scenario,
        runs,
        plain,
        policy,
        timelines,
    })
}

/// Runs one run on its own task, again after a setup failure, a panic or
/// a stuck run, up to [`ATTEMPTS`] times. The first run of an arm is
/// recorded: its timeline comes with it.
async fn attempt(
    scenario: &'static Scenario,
    arm: Arm,
    i: usize,
    runs: usize,
    ctx: Context,
) -> Result<(Sample, Option<Recorded>), RunError> {
    let mut last = RunError::new("never attempted");
    for n in 1..=ATTEMPTS {
        // A task of its own: runs in flight share both cores, and a panic
        // in one is an error of that run, not the end of the lab.
        let run = (scenario.run)(arm, ctx.clone());
        let mut task = Task(tokio::spawn(async move {
            if i == 0 {
                let (result, recorded) = timeline::record(run).await;
                result.map(|sample| (sample, Some(recorded)))
            } else {
                run.await.map(|sample| (sample, None))
            }
        }));
        let error = match tokio::time::timeout(STUCK, &mut task.0).await {
            Ok(Ok(Ok(done))) => return Ok(done),
            Ok(Ok(Err(e))) => e,
            Ok(Err(join)) => RunError::new(format!("the run failed: {join}")),
            Err(_) => RunError::new(format!("the run was stuck for {} s", STUCK.as_secs())),
        };
        eprintln!(
            "  {} {arm:<6} run {}/{runs}: attempt {n} of {ATTEMPTS} failed: {error}",
            scenario.name,
            i + 1
        );
        last = error;
    }
    Err(RunError::new(format!(
        "{} {arm} run {}: {last}",
        scenario.name,
        i + 1
    )))
}

/// A run's task, aborted when dropped: a stuck run, or the runs still in
/// flight when another failed for good, do not live on into the next scenario.
struct Task(tokio::task::JoinHandle<Result<(Sample, Option<Recorded>), RunError>>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn arm_index(arm: Arm) -> usize {
    match arm {
        Arm::Plain => 0,
        Arm::Policy => 1,
    }
}

/// A sample as a progress line shows it.
fn show(sample: Sample, unit: Unit) -> String {
    if sample.capped {
        format!("≥{:.0} {} (capped)", sample.value, unit.symbol())
    } else {
        format!("{:.0} {}", sample.value, unit.symbol())
    }
}
