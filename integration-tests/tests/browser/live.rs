//! A live tab: it connects, its echo works with every policy on,
//! and twenty probe rounds later nothing was pruned or closed.

use super::*;

const ROUNDS: u64 = 20;
const INTERVAL: Duration = Duration::from_millis(500);
/// js-libp2p's first connection-monitor ping (10 s after its node starts),
/// its timeout (5 s at least), and a margin.
const MONITOR_CYCLE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_live_tab_echoes_and_is_never_pruned() {
    init();
    let Some(dir) = page::ready() else { return };
    // Only the interval is shortened, so that twenty rounds take ten seconds;
    // timeouts and strikes are the defaults.
    let config = Config::default().with_probe_interval(Transport::WebRtc, Some(INTERVAL));
    let mut node = policy_node(config).await;
    let started = Instant::now();
    let (mut browser, peer, connection) =
        connect_browser(&mut node, &dir, PageOptions::default()).await;
    eprintln!(
        "Chromium {}; page peer {peer}; first echo from the page in {:?} ms (dial included)",
        browser.chromium_version,
        browser.state.field("lastEchoMs")
    );

    // js does not speak the incarnation exchange: never judged.
    wait_status(&node, connection, Status::Unsupported).await;

    // The page answers every probe with "protocol not supported". Meanwhile
    // js-libp2p's connection monitor pings our node every 10 s from the js
    // node's start; its pings fail on the missing FIN_ACK (see fin_ack.rs),
    // and the page is set not to abort on that. The watch lasts until the
    // first ping and its 5 s timeout are past.
    wait_answered(&node, connection, ROUNDS, INTERVAL * 2).await;
    let watch = (started + MONITOR_CYCLE).saturating_duration_since(Instant::now());
    let mut suspected = 0;
    node.expect_none(
        watch.max(Duration::from_millis(100)),
        "prune or close",
        |event| {
            match event {
                SwarmEvent::Behaviour(PoliciesEvent::Prune(conn_prune::Event::Suspected {
                    ..
                })) => suspected += 1,
                SwarmEvent::Behaviour(PoliciesEvent::Prune(conn_prune::Event::Pruned {
                    reason,
                    ..
                })) => return Some(format!("pruned: {reason:?}")),
                SwarmEvent::ConnectionClosed { cause, .. } => {
                    return Some(format!("closed: {cause:?}"))
                }
                _ => {}
            }
            None
        },
    )
    .await
    .unwrap();
    browser.catch_up();
    let stats = stats(&node, connection).await.expect("still monitored");
    eprintln!(
        "{} s, {} failed js monitor pings: {stats:?}, {suspected} suspected",
        started.elapsed().as_secs(),
        browser.monitor_failures
    );
    assert!(
        stats.probes_sent >= ROUNDS && stats.probes_answered >= ROUNDS,
        "{stats:?}"
    );
    assert!(node.with(move |s| s.is_connected(&peer)).await);

    // Still carries streams, on the same connection.
    assert_eq!(browser.state.closes(), 0, "{}", browser.state.json);
    browser.command("echo", ECHO).await;
    assert_eq!(browser.state.connections(), 1, "{}", browser.state.json);
    assert_eq!(browser.state.closes(), 0, "{}", browser.state.json);
}

/// Each probe of a js peer is a new data channel (the page refuses the probe
/// protocol): a tab probed every 100 ms goes through more channels than a
/// peer connection can hold open at once (Chromium caps SCTP stream ids at
/// 1024), so channels must be closed and their ids reused. `BROWSER_LONG_PROBES`
/// probes (default 2500).
#[tokio::test]
#[ignore = "long: about 5 minutes"]
async fn a_tab_probed_past_its_stream_ids_is_never_pruned() {
    init();
    let Some(dir) = page::ready() else { return };
    let probes: u64 = std::env::var("BROWSER_LONG_PROBES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2500);
    let interval = Duration::from_millis(100);
    let config = Config::default().with_probe_interval(Transport::WebRtc, Some(interval));
    let mut node = policy_node(config).await;
    let (mut browser, peer, connection) =
        connect_browser(&mut node, &dir, PageOptions::default()).await;
    let started = Instant::now();
    wait_answered(&node, connection, probes, interval * 3).await;
    assert_kept(&mut node, Duration::from_millis(100)).await;
    browser.command("echo", ECHO).await;
    browser.catch_up();
    assert_eq!(browser.state.closes(), 0, "{}", browser.state.json);
    let stats = stats(&node, connection).await.unwrap();
    eprintln!(
        "{probes} probes in {:?}: {stats:?}; the page still echoes",
        started.elapsed()
    );
    assert!(node.with(move |s| s.is_connected(&peer)).await);
}
