//! rebootstrap on a real DHT: QUIC, X in process, its 7 peers in child
//! processes that crash and restart with the same keys and ports.

mod bootstrap_peers;
mod memory;
mod network_loss;
mod restarts;

use std::time::{Duration, Instant};

use libp2p::{
    identify,
    identity::Keypair,
    kad::{self, store::MemoryStore},
    swarm::{NetworkBehaviour, SwarmEvent},
    PeerId,
};
use testkit::{ChildNetwork, Node, NodeConfig, TransportKind};

/// X and its 7 peers.
const PEERS: usize = 7;
/// What "X is in the DHT" takes: this many other nodes hold X in their tables.
const HOLDERS: usize = 3;
const STEP: Duration = Duration::from_secs(20);

/// A node with the policy around its Kademlia, and identify so that the
/// others learn its address.
#[derive(NetworkBehaviour)]
struct Rejoining {
    identify: identify::Behaviour,
    dht: rebootstrap::Behaviour,
}

type RejoiningNode = Node<Rejoining>;

fn server_kad(key: &Keypair) -> kad::Behaviour<MemoryStore> {
    let peer = key.public().to_peer_id();
    let mut kad = kad::Behaviour::new(peer, MemoryStore::new(peer));
    kad.set_mode(Some(kad::Mode::Server));
    kad
}

fn identify(key: &Keypair) -> identify::Behaviour {
    identify::Behaviour::new(identify::Config::new("/testkit/1.0.0".into(), key.public()))
}

async fn rejoining_node(key: Keypair, config: rebootstrap::Config) -> RejoiningNode {
    Node::spawn(
        NodeConfig::new(TransportKind::Quic).with_keypair(key),
        move |key| Rejoining {
            identify: identify(key),
            dht: rebootstrap::Behaviour::new(server_kad(key), config).expect("a valid config"),
        },
    )
    .await
    .unwrap()
}

/// X's 7 peers, as child processes.
async fn peers(first_seed: u64) -> ChildNetwork {
    ChildNetwork::spawn_kad(PEERS, TransportKind::Quic, first_seed)
        .await
        .unwrap()
}

/// Waits for the policy's `Rejoined` event; returns how long it said recovery took.
async fn wait_rejoined(node: &mut RejoiningNode, within: Duration) -> Duration {
    node.wait_behaviour(within, "rebootstrap Rejoined", |event| match event {
        RejoiningEvent::Dht(rebootstrap::Event::Rejoined { after, .. }) => Some(*after),
        _ => None,
    })
    .await
    .unwrap()
}

/// A lookup of a random key from `node` finds peers.
async fn assert_lookup_succeeds(node: &mut RejoiningNode) {
    let query = node
        .with(|s| {
            s.behaviour_mut()
                .dht
                .kad_mut()
                .get_closest_peers(PeerId::random())
        })
        .await;
    let found = node
        .wait_for(STEP, "lookup result", |event| match event {
            SwarmEvent::Behaviour(RejoiningEvent::Dht(rebootstrap::Event::Kad(
                kad::Event::OutboundQueryProgressed {
                    id,
                    result: kad::QueryResult::GetClosestPeers(result),
                    step,
                    ..
                },
            ))) if *id == query && step.last => Some(
                result
                    .as_ref()
                    .map(|ok| ok.peers.len())
                    .map_err(ToString::to_string),
            ),
            _ => None,
        })
        .await
        .unwrap();
    assert!(matches!(found, Ok(n) if n > 0), "lookup: {found:?}");
}

fn init() {
    testkit::init_tracing();
}
