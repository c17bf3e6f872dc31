//! Every peer restarts; X restarts.

use testkit::PlainBehaviour;

use super::*;

/// QUIC notices the crashed peers at its idle timeout (10 to 14.5 s); then
/// one attempt, a connection and a bootstrap.
const AFTER_RESTART: Duration = Duration::from_secs(25);

/// Waits until the plain node's Kademlia has made no progress on any query for 3 s.
async fn wait_kad_idle(node: &mut Node<PlainBehaviour>) {
    let deadline = Instant::now() + STEP;
    while Instant::now() < deadline {
        let busy = node
            .expect_none(
                Duration::from_secs(3),
                "kad query progress",
                |event| match event {
                    SwarmEvent::Behaviour(testkit::PlainEvent::Kad(e)) => {
                        matches!(**e, kad::Event::OutboundQueryProgressed { .. }).then_some(())
                    }
                    _ => None,
                },
            )
            .await;
        if busy.is_ok() {
            return;
        }
    }
    panic!("kad never went idle");
}

#[tokio::test]
async fn every_peer_restarts_x_rejoins_while_plain_kad_stays_alone() {
    init();
    let mut peers = peers(1000).await;
    let bootstrap = peers.addrs(3);

    // Before: a plain kad node, bootstrapped once at start, as applications do.
    let mut plain = Node::spawn(
        NodeConfig::new(TransportKind::Quic),
        PlainBehaviour::with_kad,
    )
    .await
    .unwrap();
    let plain_id = plain.peer_id();
    let addrs = bootstrap.clone();
    plain
        .with(move |s| {
            let kad = s.behaviour_mut().kad.as_mut().unwrap();
            for addr in addrs {
                let Some(libp2p::multiaddr::Protocol::P2p(peer)) = addr.iter().last() else {
                    unreachable!("testkit addresses end in /p2p");
                };
                kad.add_address(&peer, addr);
            }
            kad.bootstrap().unwrap();
        })
        .await;
    peers.wait_holders(plain_id, HOLDERS, STEP).await.unwrap();
    // A node in steady state: its bootstrap done, no query running (a query
    // still running re-dials its peers when their connections fail).
    plain
        .wait_behaviour(STEP, "bootstrap's last step", |event| match event {
            testkit::PlainEvent::Kad(e) => match &**e {
                kad::Event::OutboundQueryProgressed {
                    result: kad::QueryResult::Bootstrap(_),
                    step,
                    ..
                } if step.last => Some(()),
                _ => None,
            },
            _ => None,
        })
        .await
        .unwrap();
    wait_kad_idle(&mut plain).await;
    peers.restart_all().await.unwrap();
    let alone = plain
        .wait_until(AFTER_RESTART, "plain node without connections", |s| {
            (s.connected_peers().count() == 0).then_some(())
        })
        .await;
    assert!(
        alone.is_ok(),
        "the stale connections closed at QUIC's idle timeout"
    );
    plain
        .expect_none(
            AFTER_RESTART / 5,
            "a connection to the plain node",
            |event| match event {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => Some(*peer_id),
                _ => None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        peers.holders(plain_id).await.unwrap(),
        0,
        "plain kad stays alone"
    );
    drop(plain);

    // After: X with the policy.
    let mut x = rejoining_node(
        Keypair::generate_ed25519(),
        rebootstrap::Config::default().with_bootstrap_addresses(bootstrap),
    )
    .await;
    let x_id = x.peer_id();
    wait_rejoined(&mut x, STEP).await;
    peers.wait_holders(x_id, HOLDERS, STEP).await.unwrap();

    peers.restart_all().await.unwrap();
    let restarted = Instant::now();
    let after = wait_rejoined(&mut x, AFTER_RESTART).await;
    let took = restarted.elapsed();
    println!("X rejoined {took:?} after the restarts, {after:?} after it was degraded");
    assert_lookup_succeeds(&mut x).await;
    peers.wait_holders(x_id, HOLDERS, STEP).await.unwrap();
    // The initial join and the recovery; each bootstrap peer whose stale
    // connection times out later starts (and ends) another quick one.
    assert!(x.with(|s| s.behaviour().dht.stats().rejoins).await >= 2);
}

#[tokio::test]
async fn x_restarted_with_only_its_bootstrap_list_rejoins() {
    init();
    let mut peers = peers(2000).await;
    let key = Keypair::generate_ed25519();
    let x_id = key.public().to_peer_id();
    let config = rebootstrap::Config::default().with_bootstrap_addresses(peers.addrs(2));

    let mut first = rejoining_node(key.clone(), config.clone()).await;
    wait_rejoined(&mut first, STEP).await;
    drop(first);

    // A new process, the same identity, nothing but the bootstrap list: no application call.
    let started = Instant::now();
    let mut x = rejoining_node(key, config).await;
    wait_rejoined(&mut x, STEP).await;
    let took = started.elapsed();
    println!("restarted X rejoined {took:?} after it started");
    assert!(took < Duration::from_secs(5), "rejoined after {took:?}");
    assert_lookup_succeeds(&mut x).await;
    peers.wait_holders(x_id, HOLDERS, STEP).await.unwrap();
}
