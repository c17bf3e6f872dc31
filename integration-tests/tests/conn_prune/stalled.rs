//! A node too busy to run: its own stall is not its peer's silence.
//!
//! The application blocks the swarm's thread for 3 s, three times, on a
//! current-thread runtime (so the QUIC endpoint, the probe's handler and the
//! testkit's proxy stall with it, as a busy single-threaded node does), each
//! time while a probe waits for its answer. The peer is a child process
//! without the policy: its answers arrive on time and sit unread. Then the
//! peer is killed, and must be pruned as fast as on a node that never stalled.

use std::time::{Duration, Instant};

use conn_prune::{Config, Event, Reason, Transport};
use libp2p::swarm::SwarmEvent;
use testkit::{ChildNode, ChildSpec, Direction, Faults, TransportKind};

use super::*;

const STALL: Duration = Duration::from_secs(3);
const STALLS: usize = 3;
/// Each way on the proxy: a probe's answer is on its way for 200 ms, which
/// is when each stall starts.
const DELAY: Duration = Duration::from_millis(100);

/// A preset under test, with the values of it this test computes with
/// (`Config` keeps them private): probed on QUIC every `interval`, with no
/// jitter, so that the next probe's start is known from an answer.
struct Preset {
    config: Config,
    interval: Duration,
    strikes: u32,
    min_timeout: Duration,
    gap: Duration,
    /// How long judging stays off after a late timer: twice the maximum timeout.
    hold: Duration,
}

async fn stalls_are_not_silence(preset: Preset, seed: u64) {
    let Preset {
        config,
        interval,
        strikes,
        min_timeout,
        gap,
        hold,
    } = preset;
    let config = config
        .with_probe_interval(Transport::Quic, Some(interval))
        .with_jitter(0.0);
    let remote = ChildNode::spawn(ChildSpec::new(TransportKind::Quic, seed))
        .await
        .unwrap();
    let mut node = pruning_node(TransportKind::Quic, config).await;
    let (proxy, connection) = node
        .connect_through_proxy(remote.peer_id(), remote.addr(), CONNECT)
        .await
        .unwrap();
    for direction in Direction::BOTH {
        proxy.set_faults(
            direction,
            Faults {
                delay: DELAY,
                ..Faults::default()
            },
        );
    }
    wait_answered(&node, connection, 3).await;

    let mut overloaded = 0;
    for _ in 0..STALLS {
        // The next probe starts one interval after the last answer: stall
        // while its answer is on its way.
        let answered = stats(&node, connection).await.unwrap().probes_answered;
        wait_answered(&node, connection, answered + 1).await;
        let sent = Instant::now() + interval;
        tokio::time::sleep_until((sent + DELAY).into()).await;
        node.with(|_| std::thread::sleep(STALL)).await;
        // The answer read late, and the next: the path's RTT (200 ms and
        // the proxy's own) is all the policy learnt. One stall taken for a
        // sample would put it past 500 ms.
        wait_answered(&node, connection, answered + 3).await;
        let rtt = stats(&node, connection).await.unwrap().rtt.unwrap();
        assert!(rtt < DELAY * 4, "RTT inflated by the stall: {rtt:?}");
        // No prune, until the stall's hold has passed.
        node.expect_none(hold + interval, "prune or close", |event| match event {
            SwarmEvent::Behaviour(PruningEvent::Prune(Event::Overloaded { .. })) => {
                overloaded += 1;
                None
            }
            SwarmEvent::Behaviour(PruningEvent::Prune(Event::Pruned { reason, .. })) => {
                Some(format!("pruned: {reason:?}"))
            }
            SwarmEvent::ConnectionClosed { cause, .. } => Some(format!("closed: {cause:?}")),
            _ => None,
        })
        .await
        .unwrap();
    }
    assert!(overloaded >= 1, "no stall was noticed");
    let rtt = stats(&node, connection).await.unwrap().rtt.unwrap();

    // A real death now is found in the usual time: an interval, then each
    // strike's timeout, as the path's RTT sets it (at most 5 RTTs here, or
    // the minimum), not stretched by the stalls.
    let mut remote = remote;
    remote.kill().await.unwrap();
    let killed = Instant::now();
    let timeout = min_timeout.max(rtt * 5);
    let usual = interval + (timeout + gap) * strikes + Duration::from_millis(500);
    let (reason, _, took) = wait_pruned(&mut node, connection, usual * 3, killed).await;
    assert_eq!(reason, Reason::Unresponsive);
    assert!(took <= usual, "pruned after {took:?}, usual {usual:?}");
}

#[tokio::test]
async fn stalls_at_the_default_timeouts_neither_prune_nor_slow_detection() {
    init();
    let preset = Preset {
        config: Config::default(),
        interval: Duration::from_secs(2),
        strikes: 3,
        min_timeout: Duration::from_secs(1),
        gap: Duration::from_millis(100),
        hold: Duration::from_secs(10),
    };
    stalls_are_not_silence(preset, 41).await;
}

#[tokio::test]
async fn stalls_at_the_aggressive_preset_neither_prune_nor_slow_detection() {
    init();
    let preset = Preset {
        config: Config::aggressive(),
        interval: Duration::from_millis(250),
        strikes: 2,
        min_timeout: Duration::from_millis(150),
        gap: Duration::from_millis(20),
        hold: Duration::from_secs(4),
    };
    stalls_are_not_silence(preset, 42).await;
}
