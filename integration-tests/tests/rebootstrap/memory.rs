//! A node that remembers its peers dials them again when it restarts, bootstrap
//! peers or not: each of them hears from the new run at once.

use std::collections::HashSet;

use rebootstrap::FileMemory;

use super::*;

fn memory_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rebootstrap-it-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("peers")
}

/// Peers in the memory file now.
fn remembered(path: &std::path::Path) -> HashSet<PeerId> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.parse::<libp2p::Multiaddr>().ok())
        .filter_map(|addr| match addr.iter().last() {
            Some(libp2p::multiaddr::Protocol::P2p(peer)) => Some(peer),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_restarted_node_dials_the_peers_it_remembers() {
    init();
    let peers = peers(3100).await;
    let path = memory_path("restart");
    let _ = std::fs::remove_file(&path);
    let key = Keypair::generate_ed25519();

    // First run: two bootstrap peers; Kademlia finds the others.
    let first = rebootstrap::Config::default()
        .with_bootstrap_addresses(peers.addrs(2))
        .with_peer_memory(FileMemory::new(&path));
    let mut x = rejoining_node(key.clone(), first).await;
    wait_rejoined(&mut x, STEP).await;
    let deadline = Instant::now() + STEP;
    let mut pace = tokio::time::interval(Duration::from_millis(100));
    let known = loop {
        pace.tick().await;
        let known = remembered(&path);
        if known.len() >= HOLDERS {
            break known;
        }
        assert!(
            Instant::now() < deadline,
            "the memory never held {HOLDERS} peers: {known:?}"
        );
    };
    drop(x);

    // Second run: no bootstrap peer at all, only the memory.
    let second = rebootstrap::Config::default().with_peer_memory(FileMemory::new(&path));
    let mut x = rejoining_node(key, second).await;
    let started = Instant::now();
    // (Its `Recalled` event comes before the node listens, while the testkit
    // still drives the swarm itself.)
    let dialed = x
        .wait_until(STEP, "recalled", |s| s.behaviour().dht.recalled_peers())
        .await
        .unwrap();
    assert!(dialed >= known.len(), "{dialed} dialed of {known:?}");
    let mut connected = HashSet::new();
    x.wait_for(STEP, "a connection to every remembered peer", |event| {
        if let SwarmEvent::ConnectionEstablished { peer_id, .. } = event {
            connected.insert(*peer_id);
        }
        known.is_subset(&connected).then_some(())
    })
    .await
    .unwrap();
    println!(
        "{} remembered peers, all connected {:?} after the restart",
        known.len(),
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
