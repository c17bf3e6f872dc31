//! An in-process node: a swarm driven by its own task, with a handle to act on
//! it and to wait for its events with a deadline.

use std::{fmt, time::Duration};

use futures::StreamExt;
use libp2p::{
    core::ConnectedPoint,
    identity::Keypair,
    swarm::{
        dial_opts::DialOpts, dial_opts::PeerCondition, ConnectionId, NetworkBehaviour, SwarmEvent,
    },
    Multiaddr, PeerId, Swarm,
};
use tokio::sync::{mpsc, oneshot};

use crate::{socket_addr, swarm::listen, ChildNode, ListenError, NodeConfig, UdpProxy};

type Command<B> = Box<dyn FnOnce(&mut Swarm<B>) + Send>;

/// How often [`Node::wait_until`] looks at the swarm.
const STATE_POLL: Duration = Duration::from_millis(10);
/// How many recent events a [`WaitError`] keeps to show what happened instead.
const SEEN_KEPT: usize = 20;

/// A swarm running on its own task.
///
/// Events are buffered until a `wait_*` call looks at them; an event that does
/// not match is consumed. Dropping the handle stops the task and drops the
/// swarm, which closes its connections gracefully (to crash a node, use a
/// [`crate::ChildNode`] or a [`crate::UdpProxy`]).
pub struct Node<B: NetworkBehaviour> {
    peer_id: PeerId,
    addr: Multiaddr,
    commands: mpsc::UnboundedSender<Command<B>>,
    events: mpsc::UnboundedReceiver<SwarmEvent<B::ToSwarm>>,
}

impl<B> Node<B>
where
    B: NetworkBehaviour + Send + 'static,
    B::ToSwarm: Send + fmt::Debug,
{
    /// Builds a swarm from `config`, listens on 127.0.0.1 and starts driving it.
    pub async fn spawn(
        config: NodeConfig,
        behaviour: impl FnOnce(&Keypair) -> B,
    ) -> Result<Self, ListenError> {
        Self::spawn_observed(config, behaviour, |_| {}).await
    }

    /// [`Node::spawn`], with `observe` shown every event as it happens, before
    /// any `wait_*` call sees it (the lab's timelines record them).
    pub async fn spawn_observed(
        config: NodeConfig,
        behaviour: impl FnOnce(&Keypair) -> B,
        observe: impl FnMut(&SwarmEvent<B::ToSwarm>) + Send + 'static,
    ) -> Result<Self, ListenError> {
        let mut swarm = config.build(behaviour);
        let addr = listen(&mut swarm, config.transport, config.port).await?;
        Ok(Self::run_observed(swarm, addr, observe))
    }

    /// Drives an already listening `swarm` whose dialable address is `addr`.
    pub fn run(swarm: Swarm<B>, addr: Multiaddr) -> Self {
        Self::run_observed(swarm, addr, |_| {})
    }

    /// [`Node::run`], with `observe` shown every event as it happens.
    pub fn run_observed(
        mut swarm: Swarm<B>,
        addr: Multiaddr,
        mut observe: impl FnMut(&SwarmEvent<B::ToSwarm>) + Send + 'static,
    ) -> Self {
        let peer_id = *swarm.local_peer_id();
        let (commands, mut command_rx) = mpsc::unbounded_channel::<Command<B>>();
        let (event_tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    command = command_rx.recv() => match command {
                        Some(command) => command(&mut swarm),
                        None => break,
                    },
                    event = swarm.select_next_some() => {
                        observe(&event);
                        // Nobody listening any more is fine: the node keeps running until dropped.
                        let _ = event_tx.send(event);
                    }
                }
            }
        });
        Self {
            peer_id,
            addr,
            commands,
            events,
        }
    }

    /// The node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The node's full dialable address.
    pub fn addr(&self) -> &Multiaddr {
        &self.addr
    }

    /// Runs `f` on the swarm, between two of its events, and returns what it returns.
    pub async fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Swarm<B>) -> R + Send + 'static,
    ) -> R {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Box::new(move |swarm| {
                let _ = tx.send(f(swarm));
            }))
            .expect("the node's task runs as long as its handle");
        rx.await.expect("the node's task runs every command")
    }

    /// Waits up to `within` until `check` returns `Some` for the swarm's state,
    /// checking every 10 ms; events are left for the `wait_*` calls.
    pub async fn wait_until<R: Send + 'static>(
        &self,
        within: Duration,
        what: &str,
        check: impl Fn(&mut Swarm<B>) -> Option<R> + Clone + Send + 'static,
    ) -> Result<R, WaitError> {
        let poll = async {
            loop {
                if let Some(found) = self.with(check.clone()).await {
                    return found;
                }
                tokio::time::sleep(STATE_POLL).await;
            }
        };
        tokio::time::timeout(within, poll)
            .await
            .map_err(|_| WaitError::new(within, what, Vec::new()))
    }

    /// Waits up to `within` for the first event for which `matches` returns
    /// `Some`, consuming the events before it.
    pub async fn wait_for<T>(
        &mut self,
        within: Duration,
        what: &str,
        mut matches: impl FnMut(&SwarmEvent<B::ToSwarm>) -> Option<T>,
    ) -> Result<T, WaitError> {
        let mut seen = Vec::new();
        let search = async {
            while let Some(event) = self.events.recv().await {
                if let Some(found) = matches(&event) {
                    return Some(found);
                }
                if seen.len() == SEEN_KEPT {
                    seen.remove(0);
                }
                seen.push(format!("{event:?}"));
            }
            None
        };
        match tokio::time::timeout(within, search).await {
            Ok(Some(found)) => Ok(found),
            Ok(None) | Err(_) => Err(WaitError::new(within, what, seen)),
        }
    }

    /// Watches the events for `window` and fails with the first one for which
    /// `matches` returns `Some`: how a test asserts that something did not happen.
    pub async fn expect_none<T: fmt::Debug>(
        &mut self,
        window: Duration,
        what: &str,
        matches: impl FnMut(&SwarmEvent<B::ToSwarm>) -> Option<T>,
    ) -> Result<(), Unexpected> {
        match self.wait_for(window, what, matches).await {
            Ok(found) => Err(Unexpected {
                what: what.to_owned(),
                event: format!("{found:?}"),
            }),
            Err(_) => Ok(()),
        }
    }

    /// Waits for the behaviour event for which `matches` returns `Some`.
    pub async fn wait_behaviour<T>(
        &mut self,
        within: Duration,
        what: &str,
        mut matches: impl FnMut(&B::ToSwarm) -> Option<T>,
    ) -> Result<T, WaitError> {
        self.wait_for(within, what, |event| match event {
            SwarmEvent::Behaviour(e) => matches(e),
            _ => None,
        })
        .await
    }

    /// Waits until connection `id` is closed, and returns how it closed.
    pub async fn wait_closed(
        &mut self,
        id: ConnectionId,
        within: Duration,
    ) -> Result<Option<String>, WaitError> {
        self.wait_for(within, "ConnectionClosed", |event| match event {
            SwarmEvent::ConnectionClosed {
                connection_id,
                cause,
                ..
            } if *connection_id == id => Some(cause.as_ref().map(ToString::to_string)),
            _ => None,
        })
        .await
    }

    /// Dials `peer` at `addr` with a new connection even if one exists, and
    /// waits until this side has established it.
    pub async fn connect(
        &mut self,
        peer: PeerId,
        addr: Multiaddr,
        within: Duration,
    ) -> Result<ConnectionId, ConnectError> {
        let opts = DialOpts::peer_id(peer)
            .addresses(vec![addr])
            .condition(PeerCondition::Always)
            .build();
        let id = opts.connection_id();
        self.with(move |swarm| swarm.dial(opts))
            .await
            .map_err(|e| ConnectError::Dial(e.to_string()))?;
        self.wait_for(within, "ConnectionEstablished", |event| match event {
            SwarmEvent::ConnectionEstablished { connection_id, .. } if *connection_id == id => {
                Some(Ok(id))
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } if *connection_id == id => Some(Err(ConnectError::Dial(error.to_string()))),
            _ => None,
        })
        .await
        .map_err(ConnectError::Timeout)?
    }

    /// Connects to `peer` at `addr` as [`Node::connect`] does; if that fails,
    /// through fresh proxies as [`Node::connect_through_proxy`] does (a failed
    /// WebRTC-direct attempt leaves the listener dropping this node's
    /// packets, so a retry must come from a new address). Keep the proxy,
    /// when there is one, as long as the connection.
    pub async fn connect_retrying(
        &mut self,
        peer: PeerId,
        addr: &Multiaddr,
        within: Duration,
    ) -> Result<(Option<UdpProxy>, ConnectionId), ConnectError> {
        match self.connect(peer, addr.clone(), within).await {
            Ok(connection) => Ok((None, connection)),
            Err(e) => {
                tracing::warn!("connect failed, trying through a proxy: {e}");
                let (proxy, connection) = self.connect_through_proxy(peer, addr, within).await?;
                Ok((Some(proxy), connection))
            }
        }
    }

    /// Makes `child` dial this node at `addr` and waits for the connection,
    /// inbound here. A failed connect is tried again through a fresh proxy
    /// in front of this node, as [`Node::connect_through_proxy`] does. Keep
    /// the proxy, when there is one, as long as the connection.
    pub async fn accept_from(
        &mut self,
        child: &mut ChildNode,
        addr: &Multiaddr,
        within: Duration,
    ) -> Result<(Option<UdpProxy>, ConnectionId), ConnectError> {
        let peer = child.peer_id();
        let upstream = socket_addr(&self.addr)
            .ok_or_else(|| ConnectError::Dial(format!("{} has no IP and port", self.addr)))?;
        let (mut proxy, mut addr) = (None, addr.clone());
        let mut attempts = 0;
        loop {
            attempts += 1;
            child
                .dial(&addr)
                .await
                .map_err(|e| ConnectError::Dial(format!("child: {e}")))?;
            // Inbound: a dial of this node's own to the child may run meanwhile.
            let inbound = self
                .wait_for(within, "the child's connection", |event| match event {
                    SwarmEvent::ConnectionEstablished {
                        peer_id,
                        connection_id,
                        endpoint: ConnectedPoint::Listener { .. },
                        ..
                    } if *peer_id == peer => Some(*connection_id),
                    _ => None,
                })
                .await;
            match inbound {
                Ok(connection) => return Ok((proxy, connection)),
                Err(e) if attempts < 3 => {
                    tracing::warn!("the child's connect failed, again through a fresh proxy: {e}");
                }
                Err(e) => return Err(ConnectError::Timeout(e)),
            }
            let fresh = UdpProxy::start(upstream)
                .await
                .map_err(|e| ConnectError::Dial(format!("proxy: {e}")))?;
            addr = fresh.proxied(&self.addr);
            proxy = Some(fresh);
        }
    }

    /// Puts a fresh [`UdpProxy`] in front of `addr` and connects to `peer`
    /// through it, as [`Node::connect`] does. A connect that fails is tried
    /// twice more, each time through another fresh proxy: now and then a
    /// WebRTC-direct connect never opens its data channel (rust-libp2p issue
    /// 3223), and a failed attempt leaves the listener dropping that source
    /// address's packets, so a retry must come from a new address.
    pub async fn connect_through_proxy(
        &mut self,
        peer: PeerId,
        addr: &Multiaddr,
        within: Duration,
    ) -> Result<(UdpProxy, ConnectionId), ConnectError> {
        let upstream = socket_addr(addr)
            .ok_or_else(|| ConnectError::Dial(format!("{addr} has no IP and port")))?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let proxy = UdpProxy::start(upstream)
                .await
                .map_err(|e| ConnectError::Dial(format!("proxy: {e}")))?;
            match self.connect(peer, proxy.proxied(addr), within).await {
                Ok(connection) => return Ok((proxy, connection)),
                Err(e) if attempts < 3 => {
                    tracing::warn!("connect through a proxy failed, trying a fresh one: {e}");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits until a connection from `peer` is established, and returns its id.
    pub async fn wait_established(
        &mut self,
        peer: PeerId,
        within: Duration,
    ) -> Result<ConnectionId, WaitError> {
        self.wait_for(within, "ConnectionEstablished", |event| match event {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                ..
            } if *peer_id == peer => Some(*connection_id),
            _ => None,
        })
        .await
    }
}

/// An awaited event did not come in time.
#[derive(Debug)]
pub struct WaitError {
    within: Duration,
    what: String,
    seen: Vec<String>,
}

impl WaitError {
    pub(crate) fn new(within: Duration, what: &str, seen: Vec<String>) -> Self {
        Self {
            within,
            what: what.to_owned(),
            seen,
        }
    }
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no {} within {:?}", self.what, self.within)?;
        if !self.seen.is_empty() {
            write!(f, "; last events seen instead:")?;
            for event in &self.seen {
                write!(f, "\n  {event}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for WaitError {}

/// An event that should not have happened did.
#[derive(Debug)]
pub struct Unexpected {
    what: String,
    event: String,
}

impl fmt::Display for Unexpected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected {}: {}", self.what, self.event)
    }
}

impl std::error::Error for Unexpected {}

/// A connection could not be made.
#[derive(Debug)]
pub enum ConnectError {
    /// The dial failed.
    Dial(String),
    /// The connection was not established in time.
    Timeout(WaitError),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dial(e) => write!(f, "dial failed: {e}"),
            Self::Timeout(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ConnectError {}
