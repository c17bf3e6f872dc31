//! A small network of in-process nodes, for the DHT scenarios.

use std::{fmt, time::Duration};

use libp2p::{identity::Keypair, swarm::NetworkBehaviour};

use crate::{ConnectError, ListenError, Node, NodeConfig, TransportKind};

/// N nodes on one transport, each listening on 127.0.0.1.
pub struct Network<B: NetworkBehaviour> {
    nodes: Vec<Node<B>>,
}

impl<B> Network<B>
where
    B: NetworkBehaviour + Send + 'static,
    B::ToSwarm: Send + fmt::Debug,
{
    /// Starts `n` nodes with fresh identities and the behaviour `behaviour` makes for each.
    pub async fn spawn(
        n: usize,
        transport: TransportKind,
        behaviour: impl Fn(&Keypair) -> B,
    ) -> Result<Self, ListenError> {
        let mut nodes = Vec::with_capacity(n);
        for _ in 0..n {
            nodes.push(Node::spawn(NodeConfig::new(transport), &behaviour).await?);
        }
        Ok(Self { nodes })
    }

    /// Connects every node to node `hub` and waits until each connection is up on both sides.
    pub async fn connect_star(&mut self, hub: usize, within: Duration) -> Result<(), ConnectError> {
        let (hub_id, hub_addr) = (self.nodes[hub].peer_id(), self.nodes[hub].addr().clone());
        for i in (0..self.nodes.len()).filter(|i| *i != hub) {
            let peer = self.nodes[i].peer_id();
            self.nodes[i]
                .connect(hub_id, hub_addr.clone(), within)
                .await?;
            self.nodes[hub]
                .wait_established(peer, within)
                .await
                .map_err(ConnectError::Timeout)?;
        }
        Ok(())
    }

    /// The nodes, in start order.
    pub fn nodes(&self) -> &[Node<B>] {
        &self.nodes
    }

    /// The nodes, to wait on their events.
    pub fn nodes_mut(&mut self) -> &mut [Node<B>] {
        &mut self.nodes
    }

    /// Node `i`.
    pub fn node(&mut self, i: usize) -> &mut Node<B> {
        &mut self.nodes[i]
    }

    /// Hands the nodes over, for example to drop one (a graceful shutdown).
    pub fn into_nodes(self) -> Vec<Node<B>> {
        self.nodes
    }
}
