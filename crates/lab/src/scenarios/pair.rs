//! What the connection scenarios share: lab nodes, a connection proved
//! alive and aged, and the time until a side closes it.

use std::time::{Duration, Instant};

use libp2p::{
    swarm::{ConnectionId, SwarmEvent},
    PeerId,
};
use rand::RngExt;
use testkit::{echo, Node, PlainEvent, TransportKind};

use super::{Arm, RunError, Sample};
use crate::{
    stack::{self, LabBehaviour, LabEvent, QUIC_PROBE_INTERVAL},
    timeline::{self, Kind},
};

/// A node of the connection scenarios.
pub(crate) type LabNode = Node<LabBehaviour>;

/// Time to set up a connection on loopback.
pub(crate) const CONNECT: Duration = Duration::from_secs(10);

/// Faults come at a random moment within this after the connection is
/// ready: one probe interval (5 s for both transports, see
/// [`crate::stack::policy_config`]), so that they fall anywhere in the
/// probe cycle rather than right after an answer.
const FAULT_SPREAD: Duration = QUIC_PROBE_INTERVAL;

/// How long the first probe answer may take: the jittered first interval
/// (6 s at most) and a probe.
const FIRST_ANSWER: Duration = Duration::from_secs(15);

/// An in-process node with the `arm`'s stack on `transport`, called `name`
/// in the run's timeline.
pub(crate) async fn lab_node(
    transport: TransportKind,
    arm: Arm,
    name: &str,
) -> Result<LabNode, RunError> {
    let (config, layers) = stack::node_config(arm, transport);
    Ok(Node::spawn_observed(
        config,
        move |key| LabBehaviour::new(arm, key, layers),
        timeline::observer(name),
    )
    .await?)
}

/// Makes `connection` of `node` to `peer` what a real connection at the
/// moment of a fault is: it carried a request, and it has lived a while,
/// so on the policy arm conn-prune has had a probe answered and knows the
/// RTT. Then waits a random part of a probe interval.
pub(crate) async fn ready(
    node: &mut LabNode,
    arm: Arm,
    peer: PeerId,
    connection: ConnectionId,
) -> Result<(), RunError> {
    echo_ok(node, peer, connection).await?;
    if arm == Arm::Policy {
        node.wait_until(FIRST_ANSWER, "a probe answered", move |s| {
            s.behaviour()
                .prune()
                .and_then(|p| p.stats(connection))
                .filter(|stats| stats.probes_answered >= 1)
                .map(|_| ())
        })
        .await?;
        timeline::mark(
            "conn-prune",
            Kind::Policy,
            "a probe answered: the connection's RTT is known",
        );
    }
    let offset = FAULT_SPREAD.mul_f64(rand::rng().random_range(0.0..1.0));
    // The randomness is the point: faults do not wait for a convenient moment.
    tokio::time::sleep(offset).await;
    Ok(())
}

/// One echo on `connection`, which must succeed.
async fn echo_ok(
    node: &mut LabNode,
    peer: PeerId,
    connection: ConnectionId,
) -> Result<(), RunError> {
    let id = node
        .with(move |s| {
            s.behaviour_mut()
                .app_mut()
                .echo
                .send(peer, echo::Target::Connection(connection))
        })
        .await;
    let result = node
        .wait_behaviour(CONNECT, "echo outcome", |event| match event {
            LabEvent::App(PlainEvent::Echo(e)) if e.id == id => Some(e.result.clone()),
            _ => None,
        })
        .await?;
    result
        .map(|_| ())
        .map_err(|e| RunError::new(format!("echo on a fresh connection: {e}")))
}

/// The time from `since` until `node` closes `connection`, or the cap.
pub(crate) async fn time_to_close(
    node: &mut LabNode,
    connection: ConnectionId,
    since: Instant,
    cap: Duration,
) -> Sample {
    let left = cap.saturating_sub(since.elapsed());
    let closed = node
        .wait_for(left, "ConnectionClosed", |event| match event {
            SwarmEvent::ConnectionClosed { connection_id, .. } if *connection_id == connection => {
                Some(())
            }
            _ => None,
        })
        .await;
    if closed.is_err() {
        timeline::mark(
            "run",
            Kind::Capped,
            "the cap passed: the connection is still open",
        );
    }
    Sample::time(closed.ok().map(|()| since.elapsed()), cap)
}

/// A connection through a UDP proxy whose path is then blackholed both
/// ways: the time until the dialer closes it.
pub(crate) async fn silent_drop(
    transport: TransportKind,
    arm: Arm,
    cap: Duration,
) -> Result<Sample, RunError> {
    // The listener runs the arm's stack too: with policies means on both ends.
    let listener = lab_node(transport, arm, "listener").await?;
    let mut dialer = lab_node(transport, arm, "dialer").await?;
    let peer = listener.peer_id();
    let (proxy, connection) = dialer
        .connect_through_proxy(peer, listener.addr(), CONNECT)
        .await?;
    ready(&mut dialer, arm, peer, connection).await?;

    proxy.cut();
    let cut = Instant::now();
    timeline::mark("proxy", Kind::Fault, "the path is blackholed both ways");
    Ok(time_to_close(&mut dialer, connection, cut, cap).await)
}
