//! No false positives: a connection that can carry streams is never pruned.

use std::time::Duration;

use conn_prune::{Config, Transport};
use testkit::{Direction, Faults, TransportKind};

use super::*;

const ROUNDS: u64 = 20;

#[tokio::test]
async fn lossy_jittery_webrtc_connection_survives_twenty_probe_rounds() {
    init();
    // Default timeouts and strikes; only the interval is shortened, so that
    // twenty rounds take seconds. Both ends run the policy: the pings go on
    // kept probe streams, both ways.
    let config =
        Config::default().with_probe_interval(Transport::WebRtc, Some(Duration::from_millis(300)));
    let mut listener = pruning_node(TransportKind::WebRtc, config.clone()).await;
    let mut dialer = pruning_node(TransportKind::WebRtc, config).await;
    let (proxy, connection) = dialer
        .connect_through_proxy(listener.peer_id(), listener.addr(), CONNECT)
        .await
        .unwrap();
    let listener_side = listener
        .wait_established(dialer.peer_id(), CONNECT)
        .await
        .unwrap();

    let lossy = Faults {
        loss: 0.05,
        delay: Duration::from_millis(10),
        jitter: Duration::from_millis(20),
        ..Faults::default()
    };
    for direction in Direction::BOTH {
        proxy.set_faults(direction, lossy);
    }
    wait_answered(&dialer, connection, ROUNDS).await;
    wait_answered(&listener, listener_side, ROUNDS).await;
    // Twenty rounds are only some hundred packets, and 5 % loss may spare them
    // all in one direction (CI saw it): the rounds go on until each direction
    // lost a packet, so the claim is always about a lossy path.
    let mut rounds = ROUNDS;
    while Direction::BOTH
        .into_iter()
        .any(|direction| proxy.counts(direction).dropped == 0)
    {
        rounds += 5;
        assert!(rounds <= 10 * ROUNDS, "no packet lost in {rounds} rounds");
        wait_answered(&dialer, connection, rounds).await;
    }
    // Scans every event buffered meanwhile, then a little more.
    assert_kept(&mut dialer, connection, Duration::from_millis(100)).await;
    assert_kept(&mut listener, listener_side, Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_peer_without_the_policy_is_probed_and_never_pruned() {
    init();
    for transport in [TransportKind::Quic, TransportKind::WebRtc] {
        let plain = plain_node(transport).await;
        let every_200ms = Some(Duration::from_millis(200));
        let config = fast()
            .with_probe_interval(Transport::Quic, every_200ms)
            .with_probe_interval(Transport::WebRtc, every_200ms);
        let mut pruning = pruning_node(transport, config).await;
        let (_path, connection) = pruning
            .connect_retrying(plain.peer_id(), plain.addr(), CONNECT)
            .await
            .unwrap();
        // The plain peer answers every probe with "protocol not supported".
        wait_answered(&pruning, connection, ROUNDS).await;
        assert_kept(&mut pruning, connection, Duration::from_millis(100)).await;
        let stats = stats(&pruning, connection).await.unwrap();
        assert_eq!(stats.missed_in_a_row, 0, "{transport}: {stats:?}");
        assert!(stats.rtt.is_some());
    }
}

#[tokio::test]
async fn slow_lossy_paths_keep_their_connections() {
    init();
    // A far peer on a bad path: 200 ms round trips, 20 ms jitter and 5 %
    // loss each way, at
    // the default timeouts and strikes (only the interval is shortened), to
    // a peer with the policy (pings on a kept stream) and to one without it
    // (a negotiation per probe), over QUIC and WebRTC-direct.
    let slow_lossy = Faults {
        loss: 0.05,
        delay: Duration::from_millis(100),
        jitter: Duration::from_millis(20),
        ..Faults::default()
    };
    let every_500ms = Some(Duration::from_millis(500));
    let config = Config::default()
        .with_probe_interval(Transport::Quic, every_500ms)
        .with_probe_interval(Transport::WebRtc, every_500ms);
    for transport in [TransportKind::Quic, TransportKind::WebRtc] {
        let mut with_policy = pruning_node(transport, config.clone()).await;
        let plain = plain_node(transport).await;
        let mut node = pruning_node(transport, config.clone()).await;
        let (to_policy, a) = node
            .connect_through_proxy(with_policy.peer_id(), with_policy.addr(), CONNECT)
            .await
            .unwrap();
        let (to_plain, b) = node
            .connect_through_proxy(plain.peer_id(), plain.addr(), CONNECT)
            .await
            .unwrap();
        let a_remote = with_policy
            .wait_established(node.peer_id(), CONNECT)
            .await
            .unwrap();
        for direction in Direction::BOTH {
            to_policy.set_faults(direction, slow_lossy);
            to_plain.set_faults(direction, slow_lossy);
        }
        // Rounds until each path lost packets both ways, so the claim is
        // about a lossy path.
        let mut rounds = ROUNDS;
        loop {
            // A round on this path takes the interval and up to a few RTTs
            // (a negotiation to the plain peer, a retransmission): 3 s each
            // leaves room for a loaded CI machine.
            for connection in [a, b] {
                let within = Duration::from_secs(3 * rounds);
                wait_answered_within(&node, connection, rounds, within).await;
            }
            let lost = |p: &testkit::UdpProxy| {
                Direction::BOTH
                    .into_iter()
                    .all(|direction| p.counts(direction).dropped > 0)
            };
            if lost(&to_policy) && lost(&to_plain) {
                break;
            }
            rounds += 5;
            assert!(
                rounds <= 10 * ROUNDS,
                "{transport}: no loss in {rounds} rounds"
            );
        }
        assert_kept(&mut node, a, Duration::from_millis(100)).await;
        assert_kept(&mut node, b, Duration::from_millis(100)).await;
        assert_kept(&mut with_policy, a_remote, Duration::from_millis(100)).await;
        for connection in [a, b] {
            let stats = stats(&node, connection).await.unwrap();
            let rtt = stats.rtt.unwrap();
            assert!(
                rtt >= Duration::from_millis(150),
                "{transport}: the path's RTT not learnt: {stats:?}"
            );
        }
    }
}
