//! Failure 1: native WebRTC-direct never reports a dead remote.

use std::time::{Duration, Instant};

use testkit::{
    echo::EchoError, ChildNode, ChildSpec, Node, NodeConfig, PlainBehaviour, TransportKind,
};

use super::*;

/// Longer than QUIC needs to notice a silent path (about 12 s).
const NEVER: Duration = Duration::from_secs(14);

#[tokio::test]
async fn blackholed_connection_is_never_closed_and_streams_time_out() {
    init();
    let mut listener = Node::spawn(NodeConfig::new(TransportKind::WebRtc), PlainBehaviour::new)
        .await
        .unwrap();
    let mut dialer = Node::spawn(NodeConfig::new(TransportKind::WebRtc), PlainBehaviour::new)
        .await
        .unwrap();
    let peer = listener.peer_id();
    let (proxy, connection) = dialer
        .connect_through_proxy(peer, listener.addr(), CONNECT)
        .await
        .unwrap();
    let listener_side = listener
        .wait_established(dialer.peer_id(), CONNECT)
        .await
        .unwrap();
    assert!(echo_on(&mut dialer, peer, connection, CONNECT)
        .await
        .0
        .is_ok());

    proxy.cut();
    let cut = Instant::now();

    let (result, took) = echo_on(&mut dialer, peer, connection, STREAM_TIMEOUT * 2).await;
    assert_eq!(result, Err(EchoError::OpenTimeout));
    assert!(
        took >= STREAM_TIMEOUT - Duration::from_secs(1),
        "failed after {took:?}"
    );

    assert_stays_open(&mut dialer, connection, NEVER.saturating_sub(cut.elapsed())).await;
    assert!(is_connected(&dialer, peer).await);
    assert_stays_open(&mut listener, listener_side, Duration::from_millis(1)).await;
    assert!(is_connected(&listener, dialer.peer_id()).await);
}

#[tokio::test]
async fn killed_remote_is_never_closed_and_streams_time_out() {
    init();
    let mut remote = ChildNode::spawn(ChildSpec::new(TransportKind::WebRtc, 21))
        .await
        .unwrap();
    let mut survivor = Node::spawn(NodeConfig::new(TransportKind::WebRtc), PlainBehaviour::new)
        .await
        .unwrap();
    let peer = remote.peer_id();
    let (_path, connection) = survivor
        .connect_retrying(peer, remote.addr(), CONNECT)
        .await
        .unwrap();
    assert!(echo_on(&mut survivor, peer, connection, CONNECT)
        .await
        .0
        .is_ok());

    remote.kill().await.unwrap();
    let killed = Instant::now();

    let (result, took) = echo_on(&mut survivor, peer, connection, STREAM_TIMEOUT * 2).await;
    assert_eq!(result, Err(EchoError::OpenTimeout));
    assert!(
        took >= STREAM_TIMEOUT - Duration::from_secs(1),
        "failed after {took:?}"
    );

    assert_stays_open(
        &mut survivor,
        connection,
        NEVER.saturating_sub(killed.elapsed()),
    )
    .await;
    assert!(is_connected(&survivor, peer).await);
}

#[tokio::test]
async fn listener_misses_the_close_of_one_of_two_connections() {
    init();
    let mut listener = Node::spawn(NodeConfig::new(TransportKind::WebRtc), PlainBehaviour::new)
        .await
        .unwrap();
    let mut dialer = Node::spawn(NodeConfig::new(TransportKind::WebRtc), PlainBehaviour::new)
        .await
        .unwrap();
    let (peer, dialer_id) = (listener.peer_id(), dialer.peer_id());
    let (_first_path, first) = dialer
        .connect_retrying(peer, listener.addr(), CONNECT)
        .await
        .unwrap();
    // The listener's UDP mux binds a remote address to one connection, so the
    // second connection takes a second path: through a (fault-free) proxy.
    let (_second_path, _second) = dialer
        .connect_through_proxy(peer, listener.addr(), CONNECT)
        .await
        .unwrap();
    let a = listener.wait_established(dialer_id, CONNECT).await.unwrap();
    let b = listener.wait_established(dialer_id, CONNECT).await.unwrap();

    assert!(dialer.with(move |s| s.close_connection(first)).await);
    dialer.wait_closed(first, CONNECT).await.unwrap();

    // The listener keeps both sides.
    for side in [a, b] {
        assert_stays_open(&mut listener, side, Duration::from_secs(3)).await;
    }
    let established = listener
        .with(|s| s.network_info().connection_counters().num_established())
        .await;
    assert_eq!(established, 2);

    // Until it opens a stream on each: one works; on the other the open fails
    // at once, because the SCTP association knew all along that it was closed,
    // and the listener closes that connection.
    let ids = listener
        .with(move |s| {
            let echo = &mut s.behaviour_mut().echo;
            [a, b].map(|c| echo.send(dialer_id, echo::Target::Connection(c)))
        })
        .await;
    let mut outcomes = Vec::new();
    while outcomes.len() < 2 {
        let outcome = listener
            .wait_behaviour(STREAM_TIMEOUT * 2, "echo outcome", |event| match event {
                testkit::PlainEvent::Echo(e) if ids.contains(&e.id) => Some(e.clone()),
                _ => None,
            })
            .await
            .unwrap();
        outcomes.push(outcome);
    }
    let failed: Vec<_> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    assert_eq!(
        failed.len(),
        1,
        "expected exactly one dead connection: {outcomes:?}"
    );
    assert_eq!(failed[0].result, Err(EchoError::ConnectionClosed));
    let established = listener
        .with(|s| s.network_info().connection_counters().num_established())
        .await;
    assert_eq!(established, 1);
}
