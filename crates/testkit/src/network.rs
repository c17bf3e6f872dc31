//! Small networks for the DHT scenarios: in-process nodes, or Kademlia nodes
//! in child processes that can crash.

use std::{fmt, time::Duration};

use libp2p::{identity::Keypair, swarm::NetworkBehaviour, Multiaddr, PeerId};

use crate::{
    ChildNode, ChildSpec, ConnectError, ListenError, Node, NodeConfig, TransportKind, WaitError,
};

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

/// N Kademlia nodes in child processes, over one transport: the first alone,
/// the others bootstrapping from it. They crash and restart with their keys
/// and ports, and tell who is in their routing tables.
pub struct ChildNetwork {
    nodes: Vec<ChildNode>,
}

impl ChildNetwork {
    /// Starts `n` nodes with the key seeds `first_seed..first_seed + n`.
    pub async fn spawn_kad(
        n: usize,
        transport: TransportKind,
        first_seed: u64,
    ) -> std::io::Result<Self> {
        Self::spawn_kad_with(n, transport, first_seed, |spec| spec).await
    }

    /// As [`ChildNetwork::spawn_kad`], each node's spec passed through
    /// `configure` first (to run policies, say).
    pub async fn spawn_kad_with(
        n: usize,
        transport: TransportKind,
        first_seed: u64,
        configure: impl Fn(ChildSpec) -> ChildSpec,
    ) -> std::io::Result<Self> {
        let mut nodes: Vec<ChildNode> = Vec::with_capacity(n);
        for seed in first_seed..first_seed + n as u64 {
            let bootstrap = nodes.first().map(|first| first.addr().clone());
            let spec = ChildSpec::new(transport, seed).with_kad(bootstrap.into_iter().collect());
            nodes.push(ChildNode::spawn(configure(spec)).await?);
        }
        Ok(Self { nodes })
    }

    /// The nodes, in start order.
    pub fn nodes_mut(&mut self) -> &mut [ChildNode] {
        &mut self.nodes
    }

    /// The addresses of the first `n` nodes.
    pub fn addrs(&self, n: usize) -> Vec<Multiaddr> {
        self.nodes
            .iter()
            .take(n)
            .map(|c| c.addr().clone())
            .collect()
    }

    /// Kills every node (a crash), then starts each again with its key and port.
    pub async fn restart_all(&mut self) -> std::io::Result<()> {
        for node in &mut self.nodes {
            node.kill().await?;
        }
        for node in &mut self.nodes {
            node.restart().await?;
        }
        Ok(())
    }

    /// How many nodes hold `peer` in their routing table.
    pub async fn holders(&mut self, peer: PeerId) -> std::io::Result<usize> {
        let mut holders = 0;
        for node in &mut self.nodes {
            if node.routing_table().await?.contains(&peer) {
                holders += 1;
            }
        }
        Ok(holders)
    }

    /// Waits until at least `n` nodes hold `peer`, asking every 200 ms.
    pub async fn wait_holders(
        &mut self,
        peer: PeerId,
        n: usize,
        within: Duration,
    ) -> Result<(), WaitError> {
        let poll = async {
            loop {
                if self.holders(peer).await.is_ok_and(|h| h >= n) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        tokio::time::timeout(within, poll)
            .await
            .map_err(|_| WaitError::new(within, &format!("{n} nodes holding {peer}"), Vec::new()))
    }
}
