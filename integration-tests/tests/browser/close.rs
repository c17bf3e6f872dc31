//! A normal close by the page. js-libp2p's `connection.close()` closes its
//! RTCPeerConnection, which sends an SCTP abort and a DTLS close_notify; our
//! side's association takes them, but libp2p-webrtc reports nothing until a
//! stream is opened there, so conn-prune's next probe fails at once and the
//! connection goes: within one probe interval. A closed tab sends nothing at
//! all (Chromium ends the page without closing its peer connections), which
//! is a crash as far as our node can tell, unless the page closes its
//! connections on `pagehide`.

use super::*;

/// Lets `connection` answer a probe (a tab that has lived a while), closes
/// it from the page with `command`, and waits until our side has closed it
/// within `within`.
async fn closed_by(
    node: &mut PolicyNode,
    browser: &mut Browser,
    connection: ConnectionId,
    command: &str,
    within: Duration,
) -> Closed {
    wait_answered(node, connection, 1, interval() * 2).await;
    let started = Instant::now();
    browser.command(command, ECHO).await;
    let command_took = started.elapsed();
    let closed = wait_closed(node, connection, within + Duration::from_secs(5), started).await;
    eprintln!(
        "{command} (the page's command took {} ms): {}",
        command_took.as_millis(),
        closed.how()
    );
    assert!(
        closed.after <= within,
        "{command}: closed {:?} after; expected within {within:?}",
        closed.after
    );
    assert!(closed.pruned.is_some(), "{command}: {}", closed.how());
    closed
}

fn interval() -> Duration {
    Config::default().probe_interval(Transport::WebRtc).unwrap()
}

/// The next scheduled probe, with its jitter, fails at once.
fn one_interval() -> Duration {
    interval().mul_f64(1.2) + Duration::from_millis(500)
}

#[tokio::test]
async fn a_normal_close_by_the_page_is_closed_on_our_side_within_a_probe_interval() {
    init();
    let Some(dir) = page::ready() else { return };
    let mut node = policy_node(Config::default()).await;
    let options = PageOptions {
        stop_on_pagehide: true,
        ..PageOptions::default()
    };
    let (mut browser, peer, first) = connect_browser(&mut node, &dir, options).await;

    closed_by(
        &mut node,
        &mut browser,
        first,
        "close-connection",
        one_interval(),
    )
    .await;
    assert_eq!(browser.state.connections(), 0, "{}", browser.state.json);
    assert!(!node.with(move |s| s.is_connected(&peer)).await);

    // The page dials again; then its tab is closed, and its pagehide handler
    // aborts the connection.
    browser.command("echo", ECHO).await;
    let second = node.wait_established(peer, CONNECT).await.unwrap();
    assert_ne!(first, second);
    closed_by(&mut node, &mut browser, second, "close-tab", one_interval()).await;
    assert!(!node.with(move |s| s.is_connected(&peer)).await);
}

#[tokio::test]
async fn a_closed_tab_is_pruned_within_the_bound() {
    init();
    let Some(dir) = page::ready() else { return };
    let config = Config::default();
    let mut node = policy_node(config.clone()).await;
    let (mut browser, peer, connection) =
        connect_browser(&mut node, &dir, PageOptions::default()).await;
    closed_by(
        &mut node,
        &mut browser,
        connection,
        "close-tab",
        bound(&config),
    )
    .await;
    assert!(!node.with(move |s| s.is_connected(&peer)).await);
}
