//! What the DHT scenarios share: a node X on QUIC in process, running the
//! arm's stack with Kademlia, and its peers as Kademlia nodes in child
//! processes that can crash.

use std::time::Duration;

use testkit::{ChildNetwork, Node, TransportKind};

use super::{Arm, Context, RunError};
use crate::{stack::LabBehaviour, timeline};

/// X is in the DHT when this many nodes hold it (or, seen from X, it holds
/// this many connected peers); X's bootstrap peers are this many too.
pub(crate) const HOLDERS: usize = 3;

/// Joining, on either arm, takes a bootstrap on loopback: about a second.
const JOIN: Duration = Duration::from_secs(20);

/// How long X's connections live before the fault, the same on both arms:
/// past conn-prune's first probe (5 s interval, jittered up to 6 s), so
/// that it knows their RTT as on any connection that has lived a while, and
/// long past plain Kademlia's bootstrap query, so that no query in flight
/// re-dials for it.
const SETTLE: Duration = Duration::from_secs(7);

/// X and its peers, X in the DHT and settled.
pub(crate) struct Dht {
    /// X's peers, the first [`HOLDERS`] its bootstrap peers.
    pub(crate) peers: ChildNetwork,
    /// The node measured.
    pub(crate) x: Node<LabBehaviour>,
}

/// What X's peers run on the policy arm (on the plain arm, nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peers {
    /// Plain Kademlia: X's policies on their own.
    Plain,
    /// state-isolation and rebootstrap with a peer memory, as restarted
    /// policy nodes: they announce each new run, and dial the peers they
    /// remember when they start again.
    WithPolicies,
}

/// Where peer `seed` of this lab process keeps its memory.
fn memory_file(seed: u64) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("policy-lab-{}-peers-{seed}", std::process::id()))
}

/// Starts `ctx.nodes - 1` peers and X on `arm`, and waits until X is in
/// the DHT and its connections have settled.
pub(crate) async fn join(arm: Arm, ctx: &Context, peers: Peers) -> Result<Dht, RunError> {
    let n = ctx.nodes - 1;
    let policies = arm == Arm::Policy && peers == Peers::WithPolicies;
    let mut peers =
        ChildNetwork::spawn_kad_with(n, TransportKind::Quic, ctx.key_seeds(n), |spec| {
            if !policies {
                return spec;
            }
            let file = memory_file(spec.key_seed);
            let _ = std::fs::remove_file(&file);
            spec.with_state_isolation().with_peer_memory(file)
        })
        .await?;
    let bootstrap = peers.addrs(HOLDERS);
    let (config, layers) = crate::stack::node_config(arm, TransportKind::Quic);
    let x = Node::spawn_observed(
        config,
        move |key| LabBehaviour::with_kad(arm, key, bootstrap, layers),
        timeline::observer("X"),
    )
    .await?;
    if arm == Arm::Plain {
        // As applications do at start; rebootstrap does it on its own.
        x.with(|s| {
            s.behaviour_mut()
                .kad_mut()
                .map(libp2p::kad::Behaviour::bootstrap)
        })
        .await
        .ok_or_else(|| RunError::new("X runs no Kademlia"))?
        .map_err(|e| RunError::new(format!("bootstrap: {e:?}")))?;
    }
    peers.wait_holders(x.peer_id(), HOLDERS, JOIN).await?;
    // The same fixed age on both arms; nothing to wait for on the plain one.
    tokio::time::sleep(SETTLE).await;
    Ok(Dht { peers, x })
}
