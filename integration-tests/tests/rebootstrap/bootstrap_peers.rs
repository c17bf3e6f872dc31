//! Every bootstrap peer dead for a while, then one comes back.

use rebootstrap::Degradation;

use super::*;

#[tokio::test]
async fn x_retries_within_the_backoff_and_rejoins_through_the_first_peer_back() {
    init();
    let mut peers = peers(3000).await;
    let config = rebootstrap::Config::default().with_bootstrap_addresses(peers.addrs(2));
    let mut x = rejoining_node(Keypair::generate_ed25519(), config.clone()).await;
    wait_rejoined(&mut x, STEP).await;

    for node in peers.nodes_mut() {
        node.kill().await.unwrap();
    }
    // X notices when QUIC gives the connections up.
    let reason = x
        .wait_behaviour(Duration::from_secs(25), "Degraded", |event| match event {
            RejoiningEvent::Dht(rebootstrap::Event::Degraded { reason, .. }) => Some(*reason),
            _ => None,
        })
        .await
        .unwrap();
    assert!(
        matches!(
            reason,
            Degradation::BootstrapPeerLost(_) | Degradation::UnderConnected
        ),
        "{reason:?}"
    );
    let degraded = Instant::now();
    let then = x.with(|s| s.behaviour().dht.stats()).await;

    // Nothing answers for a while: X keeps trying, within the backoff.
    x.expect_none(
        Duration::from_secs(8),
        "Rejoined with every peer dead",
        |event| match event {
            SwarmEvent::Behaviour(RejoiningEvent::Dht(rebootstrap::Event::Rejoined { .. })) => {
                Some(())
            }
            _ => None,
        },
    )
    .await
    .unwrap();
    let now = x.with(|s| s.behaviour().dht.stats()).await;
    let (attempts, dials) = (now.attempts - then.attempts, now.dials - then.dials);
    let bound = config.max_dials_within(degraded.elapsed()) as u64;
    println!(
        "{attempts} attempts, {dials} dials in {:?} with every bootstrap peer dead; bound {bound}",
        degraded.elapsed()
    );
    // Each attempt dials the peers with no dial in flight; a dial the swarm
    // drops because Kademlia's own dial to that peer is in flight is not
    // the policy's and not counted, so the dials alone may stay at 0.
    assert!(attempts >= 4, "X gave up: {attempts} attempts");
    assert!(dials <= bound, "{dials} dials, backoff bound {bound}");

    // One bootstrap peer comes back.
    peers.nodes_mut()[1].restart().await.unwrap();
    let back = Instant::now();
    wait_rejoined(&mut x, STEP).await;
    let took = back.elapsed();
    println!("X rejoined {took:?} after a bootstrap peer came back");
    // Worst case: a dial in flight when the peer came back runs out QUIC's
    // 5 s handshake timeout (ICMP is ignored, and the swarm refuses a second
    // dial meanwhile), then one backoff ceiling (4 s) to the next attempt.
    assert!(
        took < Duration::from_secs(10),
        "rejoined {took:?} after the peer came back"
    );
    let connected = x
        .with(|s| s.connected_peers().copied().collect::<Vec<_>>())
        .await;
    assert_eq!(connected, vec![peers.nodes_mut()[1].peer_id()]);
}
