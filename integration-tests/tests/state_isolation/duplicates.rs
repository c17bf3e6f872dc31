//! What is not a restart: two connections of one incarnation, and a peer
//! that does not speak the exchange, with and without the handshake in the
//! transport. Nothing is closed, nothing waits for the handshake's bound,
//! and the wrapper still delivers.

use libp2p::swarm::SwarmEvent;

use super::*;

/// Fails on any replacement, stale judgement or close within `window`.
async fn assert_nothing_closed(node: &mut IsolatedNode, window: Duration) {
    node.expect_none(window, "a judgement or a close", |event| match event {
        SwarmEvent::Behaviour(state_isolation::Event::Replaced(r)) => Some(format!("{r:?}")),
        SwarmEvent::Behaviour(state_isolation::Event::Stale { connection, .. }) => {
            Some(format!("stale {connection:?}"))
        }
        SwarmEvent::ConnectionClosed {
            connection_id,
            cause,
            ..
        } => Some(format!("closed {connection_id:?}: {cause:?}")),
        _ => None,
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn two_connections_of_one_incarnation_are_both_kept() {
    init();
    let mut a = isolating_node(TransportKind::Quic).await;
    let mut b = isolating_node(TransportKind::Quic).await;
    let (a_id, b_id) = (a.peer_id(), b.peer_id());
    let b_incarnation = b.with(|s| s.behaviour().local_incarnation()).await;

    // Simultaneous dials, each way.
    let (a_addr, b_addr) = (a.addr().clone(), b.addr().clone());
    let (from_a, from_b) = tokio::join!(
        a.connect(b_id, b_addr, CONNECT),
        b.connect(a_id, a_addr, CONNECT)
    );
    let (first, _) = (from_a.unwrap(), from_b.unwrap());
    let second = a
        .wait_until(CONNECT, "two connections", move |s| {
            let connections = s.behaviour().current_connections(&b_id);
            (connections.len() == 2).then(|| connections.into_iter().find(|c| *c != first).unwrap())
        })
        .await
        .unwrap();

    let one = wait_status(&a, first, Status::Current).await;
    let other = wait_status(&a, second, Status::Current).await;
    assert_eq!(one.incarnation, Some(b_incarnation));
    assert_eq!(
        (one.incarnation, one.epoch),
        (other.incarnation, other.epoch)
    );
    assert_nothing_closed(&mut a, Duration::from_secs(1)).await;
    assert!(echo_any(&mut a, b_id).await.result.is_ok());
}

/// Longer than every connect deadline here: a connection that waited for
/// the handshake's bound would fail its test.
const STALL: Duration = Duration::from_secs(60);

#[tokio::test]
async fn an_additional_connection_between_two_handshaking_nodes_is_known_at_once() {
    init();
    let mut a = handshaking_node(TransportKind::Quic, STALL).await;
    let mut b = handshaking_node(TransportKind::Quic, STALL).await;
    let (a_id, b_id) = (a.peer_id(), b.peer_id());
    let b_incarnation = b.with(|s| s.behaviour().local_incarnation()).await;
    let a_incarnation = a.with(|s| s.behaviour().local_incarnation()).await;
    let first = a.connect(b_id, b.addr().clone(), CONNECT).await.unwrap();
    let first_at_b = b.wait_established(a_id, CONNECT).await.unwrap();
    wait_status(&a, first, Status::Current).await;

    // Both are connected: each side's transport announces itself and reads
    // the other's before its swarm hears of the connection. Neither waits
    // for a handler, so neither waits for the bound.
    let second = a.connect(b_id, b.addr().clone(), CONNECT).await.unwrap();
    let second_at_b = b.wait_established(a_id, CONNECT).await.unwrap();
    let one = wait_status(&a, first, Status::Current).await;
    let other = wait_status(&a, second, Status::Current).await;
    assert_eq!(other.incarnation, Some(b_incarnation));
    assert_eq!(one.epoch, other.epoch);
    for connection in [first_at_b, second_at_b] {
        let info = wait_status(&b, connection, Status::Current).await;
        assert_eq!(info.incarnation, Some(a_incarnation));
    }
    assert_nothing_closed(&mut a, Duration::from_secs(1)).await;
    let echo = echo_any(&mut a, b_id).await;
    assert!(echo.result.is_ok(), "{:?}", echo.result);
    assert_eq!(echo.connection, Some(second));
}

#[tokio::test]
async fn a_peer_without_the_protocol_is_never_judged_and_still_served() {
    init();
    without_the_protocol(isolating_node(TransportKind::Quic).await).await;
}

/// The handshake learns from the refusal of its own stream that the peer
/// does not speak the exchange: the second connection is not held up, and
/// the peer's streams opened meanwhile are served.
#[tokio::test]
async fn a_peer_without_the_protocol_is_not_held_up_by_the_handshake() {
    init();
    without_the_protocol(handshaking_node(TransportKind::Quic, STALL).await).await;
}

async fn without_the_protocol(mut a: IsolatedNode) {
    let mut plain = Node::spawn(NodeConfig::new(TransportKind::Quic), PlainBehaviour::new)
        .await
        .unwrap();
    let plain_id = plain.peer_id();
    plain
        .connect(a.peer_id(), a.addr().clone(), CONNECT)
        .await
        .unwrap();
    let one = a.wait_established(plain_id, CONNECT).await.unwrap();
    plain
        .connect(a.peer_id(), a.addr().clone(), CONNECT)
        .await
        .unwrap();
    let two = a.wait_established(plain_id, CONNECT).await.unwrap();

    for connection in [one, two] {
        let info = wait_status(&a, connection, Status::Unsupported).await;
        assert_eq!((info.incarnation, info.epoch), (None, None));
    }
    assert_nothing_closed(&mut a, Duration::from_secs(1)).await;
    let echo = echo_any(&mut a, plain_id).await;
    assert!(echo.result.is_ok(), "{:?}", echo.result);
    // Any goes to the newest live connection.
    assert_eq!(echo.connection, Some(two));
}
