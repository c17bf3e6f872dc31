//! The behaviour of a plain rust-libp2p node: what an application has before
//! any policy is added.

use libp2p::{
    identify,
    identity::Keypair,
    kad::{self, store::MemoryStore},
    ping,
    swarm::{behaviour::toggle::Toggle, NetworkBehaviour},
};

use crate::echo;

/// Echo (for requests on a chosen connection), ping and identify, and
/// optionally Kademlia in server mode, all with their default configuration.
#[derive(NetworkBehaviour)]
#[behaviour(to_swarm = "PlainEvent")]
pub struct PlainBehaviour {
    /// Requests on a chosen connection.
    pub echo: echo::Behaviour,
    /// libp2p-ping, default configuration (it never closes a connection).
    pub ping: ping::Behaviour,
    /// libp2p-identify.
    pub identify: identify::Behaviour,
    /// Kademlia, when the node is part of a DHT.
    pub kad: Toggle<kad::Behaviour<MemoryStore>>,
}

impl PlainBehaviour {
    /// Echo, ping and identify.
    pub fn new(keypair: &Keypair) -> Self {
        Self {
            echo: echo::Behaviour::default(),
            ping: ping::Behaviour::default(),
            identify: identify::Behaviour::new(identify::Config::new(
                "/testkit/1.0.0".to_owned(),
                keypair.public(),
            )),
            kad: Toggle::from(None),
        }
    }

    /// Echo, ping, identify and Kademlia in server mode (loopback nodes would
    /// otherwise stay clients).
    pub fn with_kad(keypair: &Keypair) -> Self {
        let peer_id = keypair.public().to_peer_id();
        let mut kad = kad::Behaviour::new(peer_id, MemoryStore::new(peer_id));
        kad.set_mode(Some(kad::Mode::Server));
        Self {
            kad: Toggle::from(Some(kad)),
            ..Self::new(keypair)
        }
    }
}

/// An event of [`PlainBehaviour`], one variant per protocol.
#[derive(Debug)]
pub enum PlainEvent {
    /// An echo request completed or failed.
    Echo(echo::Event),
    /// A ping round trip or failure.
    Ping(ping::Event),
    /// Identify information sent or received.
    Identify(Box<identify::Event>),
    /// Kademlia progress.
    Kad(Box<kad::Event>),
}

impl From<echo::Event> for PlainEvent {
    fn from(event: echo::Event) -> Self {
        Self::Echo(event)
    }
}

impl From<ping::Event> for PlainEvent {
    fn from(event: ping::Event) -> Self {
        Self::Ping(event)
    }
}

impl From<identify::Event> for PlainEvent {
    fn from(event: identify::Event) -> Self {
        Self::Identify(Box::new(event))
    }
}

impl From<kad::Event> for PlainEvent {
    fn from(event: kad::Event) -> Self {
        Self::Kad(Box::new(event))
    }
}
