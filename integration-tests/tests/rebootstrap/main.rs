//! rebootstrap on a real DHT: QUIC, X in process, its 7 peers in child
//! processes that crash and restart with the same keys and ports.

mod bootstrap_peers;
mod network_loss;
mod restarts;

use std::time::{Duration, Instant};

use libp2p::{
    identify,
    identity::Keypair,
    kad::{self, store::MemoryStore},
    swarm::{NetworkBehaviour, SwarmEvent},
    Multiaddr, PeerId,
};
use testkit::{ChildNode, ChildSpec, Node, NodeConfig, TransportKind};

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

/// The 7 peers: the first alone, the others bootstrapping from it.
struct Peers {
    nodes: Vec<ChildNode>,
}

impl Peers {
    async fn spawn(first_seed: u64) -> Self {
        let first =
            ChildNode::spawn(ChildSpec::new(TransportKind::Quic, first_seed).with_kad(vec![]))
                .await
                .unwrap();
        let mut nodes = vec![first];
        for i in 1..PEERS as u64 {
            let spec = ChildSpec::new(TransportKind::Quic, first_seed + i)
                .with_kad(vec![nodes[0].addr().clone()]);
            nodes.push(ChildNode::spawn(spec).await.unwrap());
        }
        Self { nodes }
    }

    fn addrs(&self, n: usize) -> Vec<Multiaddr> {
        self.nodes
            .iter()
            .take(n)
            .map(|c| c.addr().clone())
            .collect()
    }

    /// Kills every peer (a crash), then starts each again with its key and port.
    async fn restart_all(&mut self) {
        for node in &mut self.nodes {
            node.kill().await.unwrap();
        }
        for node in &mut self.nodes {
            node.restart().await.unwrap();
        }
    }

    /// How many peers hold `peer` in their routing table.
    async fn holders(&mut self, peer: PeerId) -> usize {
        let mut holders = 0;
        for node in &mut self.nodes {
            if node.routing_table().await.unwrap().contains(&peer) {
                holders += 1;
            }
        }
        holders
    }

    /// Waits until at least `n` peers hold `peer`.
    async fn wait_holders(&mut self, peer: PeerId, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let holders = self.holders(peer).await;
            if holders >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {holders} peers hold {peer} after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
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
