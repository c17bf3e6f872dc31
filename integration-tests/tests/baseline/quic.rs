//! Failure 4, and QUIC's own slow detection of a silent path.

use std::time::{Duration, Instant};

use libp2p::swarm::{dial_opts::DialOpts, DialError};
use testkit::{ChildNode, ChildSpec, Node, NodeConfig, PlainBehaviour, TransportKind};

use super::*;

/// QUIC's idle timeout; detection takes this plus up to a keep-alive interval.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Enough for the idle timeout and the keep-alive that starts it.
const CLOSE_DEADLINE: Duration = Duration::from_secs(25);

#[tokio::test]
async fn blackholed_connection_closes_only_at_the_idle_timeout() {
    init();
    let listener = Node::spawn(NodeConfig::new(TransportKind::Quic), PlainBehaviour::new)
        .await
        .unwrap();
    let mut dialer = Node::spawn(NodeConfig::new(TransportKind::Quic), PlainBehaviour::new)
        .await
        .unwrap();
    let peer = listener.peer_id();
    let (proxy, connection) = dialer
        .connect_through_proxy(peer, listener.addr(), CONNECT)
        .await
        .unwrap();
    assert!(echo_on(&mut dialer, peer, connection, CONNECT)
        .await
        .0
        .is_ok());

    proxy.cut();
    let cut = Instant::now();

    assert_stays_open(
        &mut dialer,
        connection,
        IDLE_TIMEOUT - Duration::from_secs(2),
    )
    .await;
    let cause = dialer
        .wait_closed(connection, CLOSE_DEADLINE)
        .await
        .unwrap();
    let took = cut.elapsed();
    assert!(
        cause.as_deref().is_some_and(|c| c.contains("timed out")),
        "closed by {cause:?}"
    );
    assert!(took >= IDLE_TIMEOUT, "closed after {took:?}");
    assert!(proxy.counts(testkit::Direction::ToListener).dropped > 0);
}

#[tokio::test]
async fn restarted_remote_leaves_a_stale_connection_that_blocks_redial() {
    init();
    let mut remote = ChildNode::spawn(ChildSpec::new(TransportKind::Quic, 42))
        .await
        .unwrap();
    let mut survivor = Node::spawn(NodeConfig::new(TransportKind::Quic), PlainBehaviour::new)
        .await
        .unwrap();
    let peer = remote.peer_id();
    let old = survivor
        .connect(peer, remote.addr().clone(), CONNECT)
        .await
        .unwrap();
    assert!(echo_on(&mut survivor, peer, old, CONNECT).await.0.is_ok());

    remote.kill().await.unwrap();
    let killed = Instant::now();
    remote.restart().await.unwrap();
    assert_eq!(remote.peer_id(), peer);

    // The restarted endpoint sends no stateless reset the old connection would
    // accept, so the survivor still counts the peer as connected...
    assert!(is_connected(&survivor, peer).await);
    // ... and refuses a plain dial to it.
    let addr = remote.addr().clone();
    let dial = survivor
        .with(move |s| s.dial(DialOpts::peer_id(peer).addresses(vec![addr]).build()))
        .await;
    assert!(
        matches!(dial, Err(DialError::DialPeerConditionFalse(_))),
        "dial: {dial:?}"
    );

    // The stale connection goes only when QUIC's idle timeout fires.
    let cause = survivor.wait_closed(old, CLOSE_DEADLINE).await.unwrap();
    let took = killed.elapsed();
    assert!(
        took >= IDLE_TIMEOUT - Duration::from_secs(1),
        "closed after {took:?}"
    );
    assert!(
        cause.as_deref().is_some_and(|c| c.contains("timed out")),
        "closed by {cause:?}"
    );
}
