//! A page with js-libp2p's default connection monitor. The monitor pings
//! every connection every 10 s and closes each ping stream under the ping's
//! timeout (5 s at least); the close waits for a FIN_ACK that rust-libp2p
//! 0.57 never sends (see fin_ack.rs), so the ping fails and the monitor
//! aborts the connection: a browser with default settings drops its
//! connection to our node 10 to 20 s after it starts, every time. Its abort
//! is a normal close on the wire; conn-prune's next probe finds it.

use super::*;

#[tokio::test]
async fn with_its_default_connection_monitor_the_page_aborts_its_own_connection() {
    init();
    let Some(dir) = page::ready() else { return };
    let mut node = policy_node(Config::default()).await;
    let options = PageOptions {
        default_monitor: true,
        ..PageOptions::default()
    };
    let (mut browser, peer, connection) = connect_browser(&mut node, &dir, options).await;
    let established = Instant::now();

    let state = browser
        .wait_state(CONNECT, "the page's own abort", |s| s.closes() >= 1)
        .await;
    let page_closed = established.elapsed();
    assert!(
        state.json.contains(r#""status":"aborted""#),
        "{}",
        state.json
    );
    assert!(browser.monitor_failures >= 1, "{browser}");

    let interval = Config::default().probe_interval(Transport::WebRtc).unwrap();
    let closed = wait_closed(&mut node, connection, interval * 2, established).await;
    eprintln!(
        "the page aborted its connection {} ms after it was established (its monitor's \
         ping failed); our side: {}",
        page_closed.as_millis(),
        closed.how()
    );
    assert!(closed.pruned.is_some(), "{}", closed.how());
    assert!(!node.with(move |s| s.is_connected(&peer)).await);
}
