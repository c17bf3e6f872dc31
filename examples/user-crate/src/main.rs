//! A user's node: ping, identify, Kademlia and gossipsub, with conn-prune
//! beside them as one dependency, and the same application inside the
//! facade's bundle. It builds both swarms and prints their peer ids.

use std::time::Duration;

use libp2p::{
    gossipsub, identify,
    identity::Keypair,
    kad::{self, store::MemoryStore},
    ping,
    swarm::NetworkBehaviour,
    Multiaddr,
};
use transport_policies::{Config, Policies};

/// One policy, composed by the derive beside libp2p's own behaviours.
#[derive(NetworkBehaviour)]
struct Node {
    ping: ping::Behaviour,
    identify: identify::Behaviour,
    kad: kad::Behaviour<MemoryStore>,
    gossipsub: gossipsub::Behaviour,
    prune: conn_prune::Behaviour,
}

/// The application the facade wraps (Kademlia goes to rebootstrap).
#[derive(NetworkBehaviour)]
struct App {
    ping: ping::Behaviour,
    identify: identify::Behaviour,
    gossipsub: gossipsub::Behaviour,
}

fn gossip(key: &Keypair) -> gossipsub::Behaviour {
    gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Signed(key.clone()),
        gossipsub::Config::default(),
    )
    .expect("valid gossipsub config")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = Keypair::generate_ed25519();
    let peer = key.public().to_peer_id();
    let identify =
        || identify::Behaviour::new(identify::Config::new("/user/1.0.0".into(), key.public()));

    let one = Node {
        ping: ping::Behaviour::default(),
        identify: identify(),
        kad: kad::Behaviour::new(peer, MemoryStore::new(peer)),
        gossipsub: gossip(&key),
        prune: conn_prune::Behaviour::new(
            conn_prune::Config::default()
                .with_probe_interval(conn_prune::Transport::Quic, Some(Duration::from_secs(5))),
        )?,
    };
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key.clone())
        .with_tokio()
        .with_quic()
        .with_behaviour(|_| one)?
        .build();
    println!("one policy: {}", swarm.local_peer_id());

    let bootstrap: Vec<Multiaddr> = Vec::new();
    let all = Policies::with_kad(
        App {
            ping: ping::Behaviour::default(),
            identify: identify(),
            gossipsub: gossip(&key),
        },
        kad::Behaviour::new(peer, MemoryStore::new(peer)),
        Config::quic_dht_server(bootstrap),
    )?;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_quic()
        .with_behaviour(|_| all)?
        .build();
    println!("every policy: {}", swarm.local_peer_id());
    Ok(())
}
