//! What a lab node runs: the plain application, and on the policy arm the
//! same application inside the policy bundle of the `transport-policies`
//! facade, the way a user deploys them.
//!
//! Every in-process node of a scenario is a [`LabBehaviour`]. The policy
//! arm takes whatever the facade's bundle holds, so a policy that lands in
//! the facade joins the lab's policy arm (and `overhead`) with no change
//! here; [`policy_config`] is where the lab picks each policy's settings.

use std::time::Duration;

use either::Either;
use libp2p::{
    identity::Keypair,
    kad::{self, store::MemoryStore},
    multiaddr::Protocol,
    swarm::{
        dial_opts::{DialOpts, PeerCondition},
        DialError, NetworkBehaviour,
    },
    Multiaddr, PeerId, Swarm,
};
use testkit::{NodeConfig, PlainBehaviour, PlainEvent, TransportKind};
use transport_policies::{
    conn_prune,
    state_isolation::Handshake,
    stream_quota::{self, Quota},
    Config,
};

use crate::scenarios::Arm;

/// How often the policy arm probes QUIC connections: the 5 s that conn-prune
/// probes WebRTC-direct with by default, and the facade's QUIC DHT server
/// preset. QUIC is not probed by default (it notices a silent path itself,
/// at its idle timeout); 5 s keeps probe traffic at about 70 B/s a connection.
pub const QUIC_PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// Each arm's stack in a sentence, plain's then the policies', as the
/// report states them.
pub const ARMS: [&str; 2] = [
    "rust-libp2p 0.57 as an application runs it: the testkit's application (echo \
     request-response, ping, identify; Kademlia in server mode on a DHT node), no policy.",
    "The same application inside the transport-policies bundle: on a Kademlia node the \
     facade's QUIC DHT server preset (rebootstrap, conn-prune with QUIC probed every 5 s, \
     state-isolation), elsewhere the facade's defaults with QUIC probed every 5 s; \
     stream-quota and state-isolation's handshake under the transport.",
];

/// Dials `peer` at `addr` unless the swarm is connected to it or dialing
/// it already: on the policy arm rebootstrap dials its bootstrap peers on
/// its own, and a measurement wants the one connection, whoever dialed it.
pub fn dial_once<B: NetworkBehaviour>(
    swarm: &mut Swarm<B>,
    peer: PeerId,
    addr: Multiaddr,
) -> Result<(), DialError> {
    let dial = DialOpts::peer_id(peer)
        .addresses(vec![addr])
        .condition(PeerCondition::DisconnectedAndNotDialing)
        .build();
    match swarm.dial(dial) {
        Ok(()) | Err(DialError::DialPeerConditionFalse(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The policy bundle around the plain application.
pub type Bundle = transport_policies::Policies<PlainBehaviour>;

/// The policies as the policy arm deploys them. A Kademlia node (with its
/// `bootstrap` peers) gets the facade's QUIC DHT server preset: conn-prune's
/// defaults with QUIC probed every [`QUIC_PROBE_INTERVAL`], state-isolation's
/// defaults, rebootstrap's defaults. Any other node gets the facade's
/// defaults (conn-prune's and state-isolation's, the browser-facing WebRTC
/// preset) with QUIC probed as well. Both run stream-quota and
/// state-isolation's handshake on `layers`, which [`node_config`] put under
/// the node's transport.
pub fn policy_config(bootstrap: Option<Vec<Multiaddr>>, layers: Option<Layers>) -> Config {
    let config = match bootstrap {
        Some(bootstrap) => Config::quic_dht_server(bootstrap),
        None => Config::default().with_prune(Some(
            conn_prune::Config::default()
                .with_probe_interval(conn_prune::Transport::Quic, Some(QUIC_PROBE_INTERVAL)),
        )),
    };
    let (quota, handshake) = match layers {
        Some(Layers { quota, handshake }) => (Some(quota), Some(handshake)),
        None => (None, None),
    };
    config.with_stream_quota(quota).with_handshake(handshake)
}

/// What the policy arm puts under a node's transport, for its bundle.
#[derive(Clone, Debug)]
pub struct Layers {
    /// stream-quota's ledger, at its defaults.
    pub quota: Quota,
    /// state-isolation's exchange in the transport.
    pub handshake: Handshake,
}

/// A lab node's swarm settings on `transport`. On the policy arm,
/// stream-quota's ledger (its defaults) wraps the transport and
/// state-isolation's handshake wraps that, as the facade documents; both
/// are returned for the node's [`LabBehaviour`].
pub fn node_config(arm: Arm, transport: TransportKind) -> (NodeConfig, Option<Layers>) {
    let config = NodeConfig::new(transport);
    match arm {
        Arm::Plain => (config, None),
        Arm::Policy => {
            let quota = Quota::new(stream_quota::Config::default())
                .expect("stream-quota's defaults are valid");
            let layers = Layers {
                quota,
                handshake: Handshake::new(),
            };
            let layer = layers.clone();
            (
                config.with_transport_layer(move |t| {
                    layer.handshake.transport(layer.quota.transport(t))
                }),
                Some(layers),
            )
        }
    }
}

/// A lab node: the testkit's plain application (echo, ping, identify, and
/// Kademlia on a DHT node) on the plain arm; the same application inside the
/// facade's [`Bundle`] on the policy arm.
#[derive(NetworkBehaviour)]
#[behaviour(to_swarm = "LabEvent")]
pub struct LabBehaviour {
    // `Either` rather than two node types: every scenario is written once,
    // and the plain arm carries no policy code at all, not even switched off.
    node: Either<PlainBehaviour, Bundle>,
}

impl LabBehaviour {
    /// A node without Kademlia; `layers` from [`node_config`].
    pub fn new(arm: Arm, key: &Keypair, layers: Option<Layers>) -> Self {
        let node = match arm {
            Arm::Plain => Either::Left(PlainBehaviour::new(key)),
            Arm::Policy => Either::Right(
                Bundle::new(PlainBehaviour::new(key), policy_config(None, layers))
                    .expect("the lab's policy config is valid"),
            ),
        };
        Self { node }
    }

    /// A Kademlia server that knows `bootstrap`. On the plain arm Kademlia
    /// is the application's, with the addresses added (the caller
    /// bootstraps once, as applications do at start); on the policy arm
    /// rebootstrap wraps it and takes `bootstrap` as its bootstrap peers.
    /// `layers` from [`node_config`].
    pub fn with_kad(
        arm: Arm,
        key: &Keypair,
        bootstrap: Vec<Multiaddr>,
        layers: Option<Layers>,
    ) -> Self {
        let node = match arm {
            Arm::Plain => {
                let mut app = PlainBehaviour::with_kad(key);
                let kad = app.kad.as_mut().expect("with_kad runs Kademlia");
                for addr in bootstrap {
                    if let Some(Protocol::P2p(peer)) = addr.iter().last() {
                        kad.add_address(&peer, addr);
                    }
                }
                Either::Left(app)
            }
            Arm::Policy => Either::Right(
                Bundle::with_kad(
                    PlainBehaviour::new(key),
                    server_kad(key),
                    policy_config(Some(bootstrap), layers),
                )
                .expect("testkit addresses end in /p2p"),
            ),
        };
        Self { node }
    }

    /// The facade's bundle as the caller built it, for a policy arm with
    /// policies of its own choosing (`examples/overhead_count.rs` measures
    /// them one at a time).
    pub fn from_bundle(bundle: Bundle) -> Self {
        Self {
            node: Either::Right(bundle),
        }
    }

    /// The application, on either arm.
    pub fn app_mut(&mut self) -> &mut PlainBehaviour {
        match &mut self.node {
            Either::Left(app) => app,
            Either::Right(bundle) => bundle.app_mut(),
        }
    }

    /// The node's Kademlia, on either arm, if it runs one.
    pub fn kad_mut(&mut self) -> Option<&mut kad::Behaviour<MemoryStore>> {
        match &mut self.node {
            Either::Left(app) => app.kad.as_mut(),
            Either::Right(bundle) => bundle.kad_mut(),
        }
    }

    /// The facade's bundle, on the policy arm.
    pub fn bundle(&self) -> Option<&Bundle> {
        match &self.node {
            Either::Left(_) => None,
            Either::Right(bundle) => Some(bundle),
        }
    }

    /// conn-prune, on the policy arm.
    pub fn prune(&self) -> Option<&conn_prune::Behaviour> {
        self.bundle()?.prune()
    }
}

/// An event of a [`LabBehaviour`]: the application's, on either arm, or the
/// policies'.
#[derive(Debug)]
pub enum LabEvent {
    /// The application's protocols.
    App(PlainEvent),
    /// The policies: what they did. Never an application event, which
    /// comes as [`LabEvent::App`].
    Policy(Box<transport_policies::Event<PlainEvent>>),
}

impl From<Either<PlainEvent, transport_policies::Event<PlainEvent>>> for LabEvent {
    fn from(event: Either<PlainEvent, transport_policies::Event<PlainEvent>>) -> Self {
        match event {
            Either::Left(event) | Either::Right(transport_policies::Event::App(event)) => {
                Self::App(event)
            }
            Either::Right(event) => Self::Policy(Box::new(event)),
        }
    }
}

/// Kademlia in server mode, as [`PlainBehaviour::with_kad`] runs it
/// (loopback nodes would otherwise stay clients).
pub fn server_kad(key: &Keypair) -> kad::Behaviour<MemoryStore> {
    let peer = key.public().to_peer_id();
    let mut kad = kad::Behaviour::new(peer, MemoryStore::new(peer));
    kad.set_mode(Some(kad::Mode::Server));
    kad
}

/// Routing-table entries of connected peers: how much of the DHT a node is in.
pub fn live_entries(kad: &mut kad::Behaviour<MemoryStore>) -> usize {
    kad.kbuckets()
        .map(|bucket| {
            bucket
                .iter()
                .filter(|entry| entry.status == kad::NodeStatus::Connected)
                .count()
        })
        .sum()
}
