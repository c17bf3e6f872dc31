//! state-isolation on real connections: a restarted peer's old connections
//! closed the moment its new run is known (QUIC and WebRTC-direct), a request
//! through the wrapper landing on the new connection at once, duplicates and
//! peers without the protocol left alone, bad incarnation messages dropped.

mod bad_input;
mod behaviours;
mod duplicates;
mod restart;

use std::time::Duration;

use libp2p::{swarm::ConnectionId, PeerId};
use state_isolation::{ConnectionInfo, Status};
use testkit::{
    echo::{self, Target},
    ChildNode, ChildSpec, Node, NodeConfig, PlainBehaviour, PlainEvent, TransportKind,
};

const CONNECT: Duration = Duration::from_secs(10);

/// A plain node's protocols, wrapped by the policy.
type Isolated = state_isolation::Behaviour<PlainBehaviour>;
type IsolatedNode = Node<Isolated>;

async fn isolating_node(transport: TransportKind) -> IsolatedNode {
    Node::spawn(NodeConfig::new(transport), |key| {
        state_isolation::Behaviour::wrap(
            PlainBehaviour::new(key),
            state_isolation::Config::default(),
        )
        .expect("a valid config")
    })
    .await
    .unwrap()
}

/// A node whose policy runs the handshake in its transport, with `bound`.
async fn handshaking_node(transport: TransportKind, bound: Duration) -> IsolatedNode {
    let handshake = state_isolation::Handshake::new().with_bound(bound);
    handshaking(transport, handshake, PlainBehaviour::new).await
}

/// `inner` wrapped by the policy as a user should run it with a wrapped
/// behaviour: `handshake` under the transport, so a connected peer's new
/// connection is reported with its incarnation known.
async fn handshaking<B>(
    transport: TransportKind,
    handshake: state_isolation::Handshake,
    inner: impl FnOnce(&libp2p::identity::Keypair) -> B,
) -> Node<state_isolation::Behaviour<B>>
where
    B: libp2p::swarm::NetworkBehaviour + Send + 'static,
    B::ToSwarm: Send + std::fmt::Debug,
{
    let layer = handshake.clone();
    let config = NodeConfig::new(transport).with_transport_layer(move |t| layer.transport(t));
    Node::spawn(config, move |key| {
        let config = state_isolation::Config::default().with_handshake(handshake);
        state_isolation::Behaviour::wrap(inner(key), config).expect("a valid config")
    })
    .await
    .unwrap()
}

/// A node in a child process that runs the policy, so it can crash and come
/// back as a new incarnation.
async fn isolating_child(transport: TransportKind, seed: u64) -> ChildNode {
    ChildNode::spawn(ChildSpec::new(transport, seed).with_state_isolation())
        .await
        .unwrap()
}

/// Waits until `connection` has the status `status`, and returns what is known of it.
async fn wait_status(
    node: &IsolatedNode,
    connection: ConnectionId,
    status: Status,
) -> ConnectionInfo {
    node.wait_until(CONNECT, "connection status", move |s| {
        s.behaviour()
            .connection(connection)
            .filter(|info| info.status == status)
    })
    .await
    .unwrap()
}

/// Sends an echo request through the wrapper with `NotifyHandler::Any` and
/// waits for its outcome.
async fn echo_any(node: &mut IsolatedNode, peer: PeerId) -> echo::Event {
    let id = node
        .with(move |s| s.behaviour_mut().inner_mut().echo.send(peer, Target::Any))
        .await;
    node.wait_behaviour(CONNECT + CONNECT, "echo outcome", |event| match event {
        state_isolation::Event::Behaviour(PlainEvent::Echo(e)) if e.id == id => Some(e.clone()),
        _ => None,
    })
    .await
    .unwrap()
}

fn init() {
    testkit::init_tracing();
}
