//! A crashed browser: Chromium SIGKILLed with every process it started. No
//! close reaches the node; conn-prune prunes the connection within its bound.

use std::hash::{BuildHasher, RandomState};

use super::*;

/// What one kill showed.
#[derive(Debug)]
struct KillRun {
    /// From the kill to the connection's close on our side.
    closed_after: Duration,
    closed: Closed,
    chromium: String,
}

/// Connects a browser at the default config, lets the connection answer two
/// probes, waits `phase` into the probe cycle, kills the browser and waits for
/// the prune.
async fn kill_run(phase: Duration) -> Option<KillRun> {
    let dir = page::ready()?;
    let config = Config::default();
    let bound = bound(&config);
    let mut node = policy_node(config.clone()).await;
    let (mut browser, peer, connection) =
        connect_browser(&mut node, &dir, PageOptions::default()).await;
    let interval = config.probe_interval(Transport::WebRtc).unwrap();
    // A tab that has lived a while: its RTT is known.
    wait_answered(&node, connection, 2, interval * 2).await;
    tokio::time::sleep(phase).await;
    // The page still holds the connection: what dies is a live tab.
    browser.catch_up();
    assert_eq!(
        (browser.state.connections(), browser.state.closes()),
        (1, 0),
        "{}",
        browser.state.json
    );

    let killed = browser.kill_browser();
    let closed = wait_closed(
        &mut node,
        connection,
        bound + Duration::from_secs(5),
        killed,
    )
    .await;
    assert!(browser.browser_gone(), "the browser process is gone");
    assert!(
        closed.pruned.is_some(),
        "conn-prune closed it, with its event: {closed:?}"
    );
    assert!(
        closed.after <= bound,
        "pruned {:?} after the kill; bound {bound:?}",
        closed.after
    );
    assert!(!node.with(move |s| s.is_connected(&peer)).await);
    Some(KillRun {
        closed_after: closed.after,
        closed,
        chromium: browser.chromium_version.clone(),
    })
}

#[tokio::test]
async fn a_killed_browser_is_pruned_within_the_bound() {
    init();
    let Some(run) = kill_run(Duration::ZERO).await else {
        return;
    };
    eprintln!("Chromium {} killed: {}", run.chromium, run.closed.how());
}

/// The figures for docs/interop.md: `BROWSER_KILL_RUNS` kills (default 5),
/// each at a random moment of the probe cycle, as conn-prune's benchmark cuts.
///
/// `cargo test -p integration-tests --test browser -- --ignored --nocapture prune_after_kill_figures`
#[tokio::test]
#[ignore = "measurement: about 20 s a run"]
async fn prune_after_kill_figures() {
    init();
    let runs: usize = std::env::var("BROWSER_KILL_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let interval = Config::default().probe_interval(Transport::WebRtc).unwrap();
    let mut times = Vec::new();
    for i in 0..runs {
        // A uniform phase in [0, interval) from the std hasher's random keys.
        let random = RandomState::new().hash_one(i) as f64 / u64::MAX as f64;
        let phase = interval.mul_f64(random);
        let Some(run) = kill_run(phase).await else {
            return;
        };
        let evidence = run.closed.pruned.as_ref().map(|(reason, e)| {
            format!(
                "{reason:?}, {} missed, rtt {:?}, silent {:?}",
                e.missed_probes, e.rtt, e.silent_for
            )
        });
        println!(
            "run {}: killed {:.0} ms into the cycle, pruned after {} ms ({})",
            i + 1,
            phase.as_secs_f64() * 1000.0,
            run.closed_after.as_millis(),
            evidence.unwrap_or_default()
        );
        times.push(run.closed_after);
    }
    times.sort();
    let n = times.len();
    let median = (times[(n - 1) / 2] + times[n / 2]) / 2;
    println!(
        "prune after kill over {runs} runs: min {} ms, median {} ms, max {} ms",
        times[0].as_millis(),
        median.as_millis(),
        times[n - 1].as_millis()
    );
}
