//! X's network goes away past QUIC's idle timeout, then comes back.

use testkit::UdpPortCut;

use super::*;

#[tokio::test]
async fn x_rejoins_within_the_backoff_after_its_network_returns() {
    init();
    let mut peers = peers(4000).await;
    let config = rebootstrap::Config::default().with_bootstrap_addresses(peers.addrs(3));
    let mut x = rejoining_node(Keypair::generate_ed25519(), config).await;
    let x_id = x.peer_id();
    wait_rejoined(&mut x, STEP).await;
    peers.wait_holders(x_id, HOLDERS, STEP).await.unwrap();

    // Every packet to or from X's one UDP port is lost, whoever the peer.
    let port = testkit::socket_addr(x.addr()).unwrap().port();
    let cut = UdpPortCut::new(port).expect("iptables (root) cuts the port");
    x.wait_behaviour(Duration::from_secs(25), "Degraded", |event| match event {
        RejoiningEvent::Dht(rebootstrap::Event::Degraded { .. }) => Some(()),
        _ => None,
    })
    .await
    .unwrap();
    x.wait_until(Duration::from_secs(25), "every connection gone", |s| {
        (s.connected_peers().count() == 0).then_some(())
    })
    .await
    .unwrap();

    drop(cut);
    let restored = Instant::now();
    wait_rejoined(&mut x, STEP).await;
    let took = restored.elapsed();
    println!("X rejoined {took:?} after its network returned");
    // The next attempt comes within the backoff's 4 s ceiling; then a
    // connection and a lookup.
    assert!(
        took < Duration::from_secs(6),
        "rejoined {took:?} after the network returned"
    );
    assert_lookup_succeeds(&mut x).await;
}
