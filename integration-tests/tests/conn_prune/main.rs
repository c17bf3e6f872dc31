//! conn-prune on real connections: every failure of the baseline tests that
//! it must cure, cured within its bound, and no healthy connection pruned.

mod bad_input;
mod healthy;
mod stalled;
mod unsignalled;

use std::time::{Duration, Instant};

use conn_prune::{Config, Transport};
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent};
use testkit::{Node, NodeConfig, PlainBehaviour, TransportKind};

const CONNECT: Duration = Duration::from_secs(10);

/// A plain node with the policy beside its protocols.
#[derive(NetworkBehaviour)]
struct Pruning {
    plain: PlainBehaviour,
    prune: conn_prune::Behaviour,
}

type PruningNode = Node<Pruning>;

/// Probes every 500 ms on WebRTC and QUIC, so a test takes seconds.
fn fast() -> Config {
    Config::default()
        .with_probe_interval(Transport::WebRtc, Some(Duration::from_millis(500)))
        .with_probe_interval(Transport::Quic, Some(Duration::from_millis(500)))
        .with_probe_timeout(Duration::from_millis(300), Duration::from_secs(2))
}

async fn pruning_node(transport: TransportKind, config: Config) -> PruningNode {
    Node::spawn(NodeConfig::new(transport), move |key| Pruning {
        plain: PlainBehaviour::new(key),
        prune: conn_prune::Behaviour::new(config).expect("a valid config"),
    })
    .await
    .unwrap()
}

async fn plain_node(transport: TransportKind) -> Node<PlainBehaviour> {
    Node::spawn(NodeConfig::new(transport), PlainBehaviour::new)
        .await
        .unwrap()
}

/// Waits until the policy has reported `connection` pruned and the swarm has
/// closed it, in either order. Returns the reason, the evidence and the time
/// from `since`.
async fn wait_pruned(
    node: &mut PruningNode,
    connection: ConnectionId,
    within: Duration,
    since: Instant,
) -> (conn_prune::Reason, conn_prune::Evidence, Duration) {
    let (mut pruned, mut closed) = (None, false);
    node.wait_for(within, "conn-prune Pruned and ConnectionClosed", |event| {
        match event {
            SwarmEvent::Behaviour(PruningEvent::Prune(conn_prune::Event::Pruned {
                connection: c,
                reason,
                evidence,
                ..
            })) if *c == connection => pruned = Some((reason.clone(), *evidence)),
            SwarmEvent::ConnectionClosed { connection_id, .. } if *connection_id == connection => {
                closed = true;
            }
            _ => {}
        }
        if closed {
            pruned.clone()
        } else {
            None
        }
    })
    .await
    .map(|(reason, evidence)| (reason, evidence, since.elapsed()))
    .unwrap()
}

/// Waits until `connection` has answered `n` probes in all, allowing a second per probe.
async fn wait_answered(node: &PruningNode, connection: ConnectionId, n: u64) {
    wait_answered_within(node, connection, n, CONNECT + Duration::from_secs(n)).await;
}

/// [`wait_answered`], allowing `within` in all.
async fn wait_answered_within(
    node: &PruningNode,
    connection: ConnectionId,
    n: u64,
    within: Duration,
) {
    node.wait_until(within, "probes answered", move |s| {
        s.behaviour()
            .prune
            .stats(connection)
            .filter(|stats| stats.probes_answered >= n)
    })
    .await
    .unwrap();
}

async fn stats(
    node: &PruningNode,
    connection: ConnectionId,
) -> Option<conn_prune::ConnectionStats> {
    node.with(move |s| s.behaviour().prune.stats(connection))
        .await
}

/// Asserts that neither a `Pruned` event nor a close comes for `connection` within `window`.
async fn assert_kept(node: &mut PruningNode, connection: ConnectionId, window: Duration) {
    node.expect_none(window, "prune or close", |event| match event {
        SwarmEvent::Behaviour(PruningEvent::Prune(conn_prune::Event::Pruned {
            connection: c,
            reason,
            ..
        })) if *c == connection => Some(format!("pruned: {reason:?}")),
        SwarmEvent::ConnectionClosed {
            connection_id,
            cause,
            ..
        } if *connection_id == connection => Some(format!("closed: {cause:?}")),
        _ => None,
    })
    .await
    .unwrap();
}

fn init() {
    testkit::init_tracing();
}
