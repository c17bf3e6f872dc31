//! Bad input from the network: garbage, oversized payloads and floods of
//! probe streams are dropped; the connection and the policy carry on.

use std::time::{Duration, Instant};

use futures::{future::join_all, AsyncWriteExt};
use libp2p::StreamProtocol;
use testkit::{Node, NodeConfig, TransportKind};

use super::*;

const PROBE: StreamProtocol = conn_prune::PROTOCOL;
const FLOOD: usize = 300;

#[tokio::test]
async fn hostile_probe_streams_are_dropped_and_the_connection_kept() {
    init();
    // Default inbound budget: 8 probes a second, 16 at once.
    let mut victim = pruning_node(TransportKind::Quic, fast()).await;
    let mut attacker = Node::spawn(NodeConfig::new(TransportKind::Quic), |_| {
        libp2p_stream::Behaviour::new()
    })
    .await
    .unwrap();
    let victim_id = victim.peer_id();
    attacker
        .connect(victim_id, victim.addr().clone(), CONNECT)
        .await
        .unwrap();
    let connection = victim
        .wait_established(attacker.peer_id(), CONNECT)
        .await
        .unwrap();
    wait_answered(&victim, connection, 1).await;
    let mut control = attacker.with(|s| s.behaviour().new_control()).await;

    // Garbage, then far more than a probe ever carries.
    let mut garbage = control.open_stream(victim_id, PROBE).await.unwrap();
    let _ = garbage.write_all(b"\xff\x00not a probe\x07").await;
    let _ = garbage.close().await;
    let mut oversized = control.open_stream(victim_id, PROBE).await.unwrap();
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        oversized.write_all(&vec![0xAB; 1 << 20]),
    )
    .await;

    // A flood of probe streams at once.
    let started = Instant::now();
    let outcomes = join_all((0..FLOOD).map(|_| {
        let mut control = control.clone();
        async move {
            tokio::time::timeout(CONNECT, control.open_stream(victim_id, PROBE))
                .await
                .map(|opened| opened.is_ok())
                .unwrap_or(false)
        }
    }))
    .await;
    let served = outcomes.iter().filter(|ok| **ok).count();
    let elapsed = started.elapsed().as_secs_f64();
    println!("served {served} of {FLOOD} in {elapsed:.2} s");
    // The budget serves its burst plus its rate; the rest are refused.
    let allowed = 16.0 + 8.0 * elapsed + 2.0;
    assert!(
        (served as f64) <= allowed,
        "served {served} of {FLOOD} in {elapsed:.2} s"
    );
    assert!(served < FLOOD, "nothing refused");

    // The connection stays, and the policy still probes it.
    assert_kept(&mut victim, connection, Duration::from_millis(100)).await;
    let answered = stats(&victim, connection).await.unwrap().probes_answered;
    wait_answered(&victim, connection, answered + 3).await;
    let attacker_id = attacker.peer_id();
    assert!(victim.with(move |s| s.is_connected(&attacker_id)).await);
}
