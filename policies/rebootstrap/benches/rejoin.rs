//! rebootstrap on a real DHT over QUIC: how long X takes to rejoin after
//! every peer restarted, and after its network came back, at 8 and 32 nodes.
//!
//! After a restart, X is back when three of the restarted peers (whose tables
//! start empty) hold it again, asked every 100 ms: the policy's own event is
//! not the measure, since with conn-prune composed X may get back without
//! ever counting as degraded. After a network loss X has lost every
//! connection, so it is back at its `Rejoined` event.
//!
//! ```sh
//! cargo bench -p libp2p-rebootstrap --bench rejoin                 # 10 runs, 8 and 32 nodes
//! cargo bench -p libp2p-rebootstrap --bench rejoin -- --runs 5 --nodes 8
//! ```
//!
//! The network-loss scenario cuts X's UDP port with iptables: run as root.

use std::time::{Duration, Instant};

use libp2p::{
    identify,
    identity::Keypair,
    kad::{self, store::MemoryStore},
    swarm::{behaviour::toggle::Toggle, NetworkBehaviour},
};
use testkit::{ChildNetwork, Node, NodeConfig, TransportKind, UdpPortCut};

/// A run that has not rejoined by then counts as the cap.
const CAP: Duration = Duration::from_secs(60);
const STEP: Duration = Duration::from_secs(30);

#[derive(NetworkBehaviour)]
struct Rejoining {
    identify: identify::Behaviour,
    dht: rebootstrap::Behaviour,
    prune: Toggle<conn_prune::Behaviour>,
}

/// X, with rebootstrap, and conn-prune probing QUIC when `prune` is set.
async fn x_node(bootstrap: Vec<libp2p::Multiaddr>, prune: bool) -> Node<Rejoining> {
    Node::spawn(
        NodeConfig::new(TransportKind::Quic),
        move |key: &Keypair| {
            let peer = key.public().to_peer_id();
            let mut kad = kad::Behaviour::new(peer, MemoryStore::new(peer));
            kad.set_mode(Some(kad::Mode::Server));
            let probing = conn_prune::Config::default().with_probe_interval(
                conn_prune::Transport::Quic,
                Some(Duration::from_millis(500)),
            );
            Rejoining {
                identify: identify::Behaviour::new(identify::Config::new(
                    "/testkit/1.0.0".into(),
                    key.public(),
                )),
                dht: rebootstrap::Behaviour::new(
                    kad,
                    rebootstrap::Config::default().with_bootstrap_addresses(bootstrap),
                )
                .expect("valid config"),
                prune: Toggle::from(
                    prune.then(|| conn_prune::Behaviour::new(probing).expect("valid config")),
                ),
            }
        },
    )
    .await
    .expect("X listens")
}

/// Whether X reports `Rejoined` within `within`.
async fn rejoined(x: &mut Node<Rejoining>, within: Duration) -> bool {
    x.wait_behaviour(within, "Rejoined", |event| match event {
        RejoiningEvent::Dht(rebootstrap::Event::Rejoined { .. }) => Some(()),
        _ => None,
    })
    .await
    .is_ok()
}

/// X joins the network; returns once three peers hold it.
async fn join(network: &mut ChildNetwork, prune: bool) -> Node<Rejoining> {
    let mut x = x_node(network.addrs(3), prune).await;
    assert!(rejoined(&mut x, STEP).await, "X joins");
    network
        .wait_holders(x.peer_id(), 3, STEP)
        .await
        .expect("three peers hold X");
    x
}

/// How long X's connections live before the peers restart: a few probe
/// rounds, so that conn-prune knows their RTT, as on any connection that has
/// lived a while (before its first answer a probe waits its 5 s upper bound).
const SETTLE: Duration = Duration::from_secs(3);

/// Time from the restart of every peer until three of them hold X.
async fn peers_restart(network: &mut ChildNetwork, prune: bool) -> Option<Duration> {
    let x = join(network, prune).await;
    // A precondition of the scenario, the same for both arms, not a wait for an event.
    tokio::time::sleep(SETTLE).await;
    network.restart_all().await.expect("restart");
    let restarted = Instant::now();
    loop {
        if network.holders(x.peer_id()).await.is_ok_and(|h| h >= 3) {
            return Some(restarted.elapsed());
        }
        if restarted.elapsed() > CAP {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Time from the restore of X's network, cut past QUIC's idle timeout, to X's `Rejoined`.
async fn network_loss(network: &mut ChildNetwork) -> Option<Duration> {
    let mut x = join(network, false).await;
    let port = testkit::socket_addr(x.addr()).expect("udp").port();
    let cut = UdpPortCut::new(port).expect("iptables (root) cuts the port");
    x.wait_until(STEP, "every connection gone", |s| {
        (s.connected_peers().count() == 0).then_some(())
    })
    .await
    .expect("X loses its connections");
    drop(cut);
    let restored = Instant::now();
    rejoined(&mut x, CAP).await.then(|| restored.elapsed())
}

fn summary(samples: &mut [Option<Duration>]) -> String {
    let capped = samples.iter().filter(|s| s.is_none()).count();
    let mut ms: Vec<f64> = samples
        .iter()
        .map(|s| s.unwrap_or(CAP).as_secs_f64() * 1000.0)
        .collect();
    ms.sort_by(f64::total_cmp);
    format!(
        "min {:>6.0} ms   median {:>6.0} ms   max {:>6.0} ms   ({} runs, {capped} capped at {} s)",
        ms[0],
        ms[ms.len() / 2],
        ms[ms.len() - 1],
        ms.len(),
        CAP.as_secs()
    )
}

fn arg(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
}

#[tokio::main]
async fn main() {
    testkit::init_tracing();
    let runs = arg("--runs").unwrap_or(10);
    let sizes = arg("--nodes").map_or(vec![8, 32], |n| vec![n]);
    for nodes in sizes {
        // X plus its peers.
        let mut network = ChildNetwork::spawn_kad(nodes - 1, TransportKind::Quic, 9000)
            .await
            .expect("peers start");
        for (name, prune) in [("rebootstrap", false), ("rebootstrap + conn-prune", true)] {
            let mut samples = Vec::with_capacity(runs);
            for run in 1..=runs {
                let took = peers_restart(&mut network, prune).await;
                eprintln!("  {nodes} nodes, peers restart, {name}, run {run}: {took:?}");
                samples.push(took);
            }
            println!(
                "{nodes:>2} nodes, every peer restarts, from the restart to 3 holders, {name:<24} {}",
                summary(&mut samples)
            );
        }
        let mut samples = Vec::with_capacity(runs);
        for run in 1..=runs {
            let took = network_loss(&mut network).await;
            eprintln!("  {nodes} nodes, network loss, run {run}: {took:?}");
            samples.push(took);
        }
        println!(
            "{nodes:>2} nodes, network cut past the idle timeout, from the restore, rebootstrap {}",
            summary(&mut samples)
        );
    }
}
