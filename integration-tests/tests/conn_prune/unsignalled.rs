//! Failures 1 and 4: closes that were never signalled are found and pruned.

use std::time::{Duration, Instant};

use conn_prune::{Reason, Transport};
use libp2p::swarm::dial_opts::DialOpts;
use testkit::{ChildNode, ChildSpec, TransportKind};

use super::*;

/// A plain listener and a dialer with the [`fast`] policy, connected through a
/// proxy, the policy having learnt the RTT; then the path goes silent. Returns
/// the prune's reason and evidence, how long it took, and the bound.
async fn prune_after_cut(
    transport: TransportKind,
) -> (conn_prune::Reason, conn_prune::Evidence, Duration, Duration) {
    let config = fast();
    let bound = config
        .detection_bound(Transport::of(&transport.listen_addr(0)))
        .unwrap();
    let listener = plain_node(transport).await;
    let mut dialer = pruning_node(transport, config).await;
    let (proxy, connection) = dialer
        .connect_through_proxy(listener.peer_id(), listener.addr(), CONNECT)
        .await
        .unwrap();
    // As on any connection that lived a while.
    wait_answered(&dialer, connection, 2).await;

    proxy.cut();
    let cut = Instant::now();
    let (reason, evidence, took) = wait_pruned(&mut dialer, connection, bound * 2, cut).await;
    let peer = listener.peer_id();
    assert!(!dialer.with(move |s| s.is_connected(&peer)).await);
    (reason, evidence, took, bound)
}

#[tokio::test]
async fn webrtc_blackholed_connection_is_pruned_within_the_bound() {
    init();
    let (reason, evidence, took, bound) = prune_after_cut(TransportKind::WebRtc).await;
    assert_eq!(reason, Reason::Unresponsive);
    assert_eq!(evidence.missed_probes, 3);
    assert!(took <= bound, "pruned after {took:?}, bound {bound:?}");
}

/// A child node running no policy (the plain testkit node), and a survivor
/// with the [`fast`] policy connected to it that has learnt the RTT; with the
/// proxy the connection goes through, if its first connect failed.
async fn survivor_of(
    transport: TransportKind,
    seed: u64,
) -> (
    ChildNode,
    PruningNode,
    libp2p::swarm::ConnectionId,
    Duration,
    Option<testkit::UdpProxy>,
) {
    let config = fast();
    let bound = config
        .detection_bound(Transport::of(&transport.listen_addr(0)))
        .unwrap();
    let remote = ChildNode::spawn(ChildSpec::new(transport, seed))
        .await
        .unwrap();
    let mut survivor = pruning_node(transport, config).await;
    let (path, connection) = survivor
        .connect_retrying(remote.peer_id(), remote.addr(), CONNECT)
        .await
        .unwrap();
    wait_answered(&survivor, connection, 2).await;
    (remote, survivor, connection, bound, path)
}

#[tokio::test]
async fn webrtc_killed_remote_is_pruned_within_the_bound() {
    init();
    let (mut remote, mut survivor, connection, bound, _path) =
        survivor_of(TransportKind::WebRtc, 31).await;

    remote.kill().await.unwrap();
    let killed = Instant::now();
    let (reason, _, took) = wait_pruned(&mut survivor, connection, bound * 2, killed).await;
    assert_eq!(reason, Reason::Unresponsive);
    assert!(took <= bound, "pruned after {took:?}, bound {bound:?}");
}

#[tokio::test]
async fn webrtc_listener_prunes_the_connection_its_dialer_closed() {
    init();
    let config = fast();
    let bound = config.detection_bound(Transport::WebRtc).unwrap();
    let mut listener = pruning_node(TransportKind::WebRtc, config).await;
    let mut dialer = plain_node(TransportKind::WebRtc).await;
    let (peer, dialer_id) = (listener.peer_id(), dialer.peer_id());
    let (_first_path, first) = dialer
        .connect_retrying(peer, listener.addr(), CONNECT)
        .await
        .unwrap();
    let a = listener.wait_established(dialer_id, CONNECT).await.unwrap();
    // Two paths, as the baseline test needs: one direct, one through a proxy.
    let (_second_path, _) = dialer
        .connect_through_proxy(peer, listener.addr(), CONNECT)
        .await
        .unwrap();
    let b = listener.wait_established(dialer_id, CONNECT).await.unwrap();

    // The first connection the dialer made is the first the listener accepted.
    assert!(dialer.with(move |s| s.close_connection(first)).await);
    let closed = Instant::now();
    // No application stream is opened: the policy's probes find it.
    let (reason, _, took) = wait_pruned(&mut listener, a, bound * 2, closed).await;
    assert!(took <= bound, "pruned after {took:?}, bound {bound:?}");
    assert!(
        matches!(reason, Reason::ProbeFailed(_) | Reason::Unresponsive),
        "{reason:?}"
    );

    // The other connection stays, answering probe after probe.
    let answered = stats(&listener, b).await.unwrap().probes_answered;
    assert_kept(&mut listener, b, Duration::from_secs(2)).await;
    assert!(stats(&listener, b).await.unwrap().probes_answered >= answered + 2);
}

#[tokio::test]
async fn quic_blackholed_connection_is_pruned_long_before_the_idle_timeout() {
    init();
    let (reason, _, took, bound) = prune_after_cut(TransportKind::Quic).await;
    assert_eq!(reason, Reason::Unresponsive);
    // QUIC alone takes about 12 s (see the baseline test).
    assert!(
        took <= bound && took < Duration::from_secs(8),
        "pruned after {took:?}"
    );
}

#[tokio::test]
async fn quic_remote_restarted_on_its_port_has_its_old_connection_pruned() {
    init();
    // The remote restarts with its key on its port, and its new endpoint
    // drops the old connection's packets without a reset.
    let (mut remote, mut survivor, old, bound, _path) = survivor_of(TransportKind::Quic, 51).await;

    remote.kill().await.unwrap();
    let killed = Instant::now();
    remote.restart().await.unwrap();
    let (reason, _, took) = wait_pruned(&mut survivor, old, bound * 2, killed).await;
    assert_eq!(reason, Reason::Unresponsive);
    // Plain QUIC keeps it 10 to 14.5 s (see the baseline test).
    assert!(
        took <= bound && took < Duration::from_secs(8),
        "pruned after {took:?}"
    );

    // With the stale connection gone, a plain dial (refused while it stood,
    // see the baseline test) reaches the new process.
    let (peer, addr) = (remote.peer_id(), remote.addr().clone());
    let dial = survivor
        .with(move |s| s.dial(DialOpts::peer_id(peer).addresses(vec![addr]).build()))
        .await;
    assert!(dial.is_ok(), "{dial:?}");
    survivor.wait_established(peer, CONNECT).await.unwrap();
}
