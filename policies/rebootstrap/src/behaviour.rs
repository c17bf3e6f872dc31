//! The `NetworkBehaviour`: a `kad::Behaviour` inside, whose every hook it
//! forwards, with the [`Recovery`] core fed from what passes through.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    num::NonZeroUsize,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::Instant,
};

use deadline_timer::DeadlineTimer;
use futures::{future::BoxFuture, FutureExt};
use libp2p_core::{transport::PortUse, Endpoint, Multiaddr};
use libp2p_identity::PeerId;
use libp2p_kad::{self as kad, store::RecordStore, QueryResult};
use libp2p_swarm::{
    dial_opts::{DialOpts, PeerCondition},
    ConnectionClosed, ConnectionDenied, ConnectionError, ConnectionId, DialError, FromSwarm,
    NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};

use crate::{
    memory::{self, PeerMemory},
    recovery::{Action, Health, Recovery, RecoveryStats},
    source::{BootstrapSource, SourceError},
    Config, ConfigError, Event,
};

type Fetch = BoxFuture<'static, Result<Vec<Multiaddr>, SourceError>>;

/// The [`PeerMemory`] and what is under way with it.
struct Memory {
    store: Arc<dyn PeerMemory>,
    max: usize,
    /// The recall at start, until it answers.
    recalling: Option<Fetch>,
    /// A write in flight; the next waits for it.
    remembering: Option<BoxFuture<'static, Result<(), SourceError>>>,
    /// What was last handed to the store.
    remembered: Vec<Multiaddr>,
    /// Peers dialed from the recall, once it answered.
    recalled: Option<usize>,
}

/// Wraps a `kad::Behaviour` and brings the node back into the DHT when it
/// loses its peers. See the [crate docs](crate).
pub struct Behaviour<S: RecordStore + Send + 'static = kad::store::MemoryStore> {
    kad: kad::Behaviour<S>,
    recovery: Recovery,
    check_interval: std::time::Duration,
    source: Option<Arc<dyn BootstrapSource>>,
    fetching: Option<Fetch>,
    memory: Option<Memory>,
    connected: HashSet<PeerId>,
    /// The recovery's dials in flight, by the connection the swarm gives them.
    dials: HashMap<ConnectionId, PeerId>,
    listen_addrs: usize,
    /// The lookup that confirms a recovery.
    lookup: Option<kad::QueryId>,
    next_check: Instant,
    /// One timer for the next health check and the next attempt: polled on
    /// every swarm poll, so one is cheaper than two.
    timer: DeadlineTimer,
    pending: VecDeque<ToSwarm<Event, THandlerInEvent<kad::Behaviour<S>>>>,
    waker: Option<Waker>,
}

impl<S: RecordStore + Send + 'static> Behaviour<S> {
    /// Wraps `kad` with `config`, if it is valid, and adds the configured
    /// bootstrap addresses to its table.
    pub fn new(mut kad: kad::Behaviour<S>, config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let source = config.source.clone();
        let check_interval = config.check_interval;
        let memory = config.memory.clone().map(|store| Memory {
            recalling: Some({
                let store = Arc::clone(&store);
                async move { store.recall().await }.boxed()
            }),
            store,
            max: config.max_remembered,
            remembering: None,
            remembered: Vec::new(),
            recalled: None,
        });
        let recovery = Recovery::new(config, rand::random());
        for (peer, addr) in recovery.bootstrap_addresses() {
            kad.add_address(&peer, addr);
        }
        Ok(Self {
            fetching: source.as_ref().map(|s| fetch(s)),
            source,
            memory,
            kad,
            recovery,
            check_interval,
            connected: HashSet::new(),
            dials: HashMap::new(),
            listen_addrs: 0,
            lookup: None,
            next_check: Instant::now() + check_interval,
            timer: DeadlineTimer::new(),
            pending: VecDeque::new(),
            waker: None,
        })
    }

    /// The wrapped Kademlia behaviour.
    pub fn kad(&self) -> &kad::Behaviour<S> {
        &self.kad
    }

    /// The wrapped Kademlia behaviour, to query, add addresses, ...
    pub fn kad_mut(&mut self) -> &mut kad::Behaviour<S> {
        &mut self.kad
    }

    /// How many remembered peers were dialed at start, once the
    /// [`PeerMemory`] answered.
    pub fn recalled_peers(&self) -> Option<usize> {
        self.memory.as_ref().and_then(|m| m.recalled)
    }

    /// What the policy has done so far.
    pub fn stats(&self) -> RecoveryStats {
        self.recovery.stats()
    }

    fn health(&mut self) -> Health {
        let live_entries = self
            .kad
            .kbuckets()
            .map(|bucket| {
                bucket
                    .iter()
                    .filter(|entry| entry.status == kad::NodeStatus::Connected)
                    .count()
            })
            .sum();
        Health {
            connected_peers: self.connected.len(),
            live_entries,
        }
    }

    fn check_health(&mut self) {
        let health = self.health();
        self.recovery.on_health(health, Instant::now());
    }

    /// Hands the memory the peers connected now, closest first, if that
    /// list changed and no write is in flight.
    fn remember_connected(&mut self) {
        let Some(memory) = &mut self.memory else {
            return;
        };
        if memory.remembering.is_some() || memory.recalling.is_some() {
            return;
        }
        let connected = self.kad.kbuckets().flat_map(|bucket| {
            bucket
                .iter()
                .filter(|entry| entry.status == kad::NodeStatus::Connected)
                .map(|entry| {
                    (
                        *entry.node.key.preimage(),
                        entry.node.value.iter().next().cloned(),
                    )
                })
                .collect::<Vec<_>>()
        });
        let now = memory::to_remember(connected, memory.max);
        if now.is_empty() || now == memory.remembered {
            return;
        }
        memory.remembered = now.clone();
        let store = Arc::clone(&memory.store);
        memory.remembering = Some(async move { store.remember(now).await }.boxed());
    }

    /// Dials the remembered peers, once each.
    fn recalled(&mut self, addresses: Vec<Multiaddr>) {
        let Some(memory) = &mut self.memory else {
            return;
        };
        let peers = memory::to_dial(addresses, memory.max);
        memory.recalled = Some(peers.len());
        for (peer, addr) in &peers {
            self.kad.add_address(peer, addr.clone());
            self.pending.push_back(ToSwarm::Dial {
                opts: DialOpts::peer_id(*peer)
                    .addresses(vec![addr.clone()])
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build(),
            });
        }
        self.pending
            .push_back(ToSwarm::GenerateEvent(Event::Recalled {
                dialed: peers.len(),
            }));
    }

    /// Polls the memory's recall and write; returns whether either finished.
    fn poll_memory(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(memory) = &mut self.memory else {
            return false;
        };
        if let Some(recalling) = &mut memory.recalling {
            if let Poll::Ready(result) = recalling.poll_unpin(cx) {
                memory.recalling = None;
                match result {
                    Ok(addresses) => self.recalled(addresses),
                    Err(e) => self
                        .pending
                        .push_back(ToSwarm::GenerateEvent(Event::MemoryFailed(e))),
                }
                return true;
            }
        }
        if let Some(remembering) = &mut memory.remembering {
            if let Poll::Ready(result) = remembering.poll_unpin(cx) {
                memory.remembering = None;
                if let Err(e) = result {
                    // Written again at the next change.
                    memory.remembered.clear();
                    self.pending
                        .push_back(ToSwarm::GenerateEvent(Event::MemoryFailed(e)));
                }
                return true;
            }
        }
        false
    }

    fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::AddAddresses(addresses) => {
                for (peer, addr) in addresses {
                    self.kad.add_address(&peer, addr);
                }
            }
            Action::Dial { peer, addresses } => {
                let opts = DialOpts::peer_id(peer)
                    .addresses(addresses)
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build();
                self.dials.insert(opts.connection_id(), peer);
                self.pending.push_back(ToSwarm::Dial { opts });
            }
            Action::Bootstrap { confirm_through } => {
                if self.kad.bootstrap().is_err() {
                    self.recovery.on_bootstrap_failed(Instant::now());
                }
                // kad reports a bootstrap step as done even when no peer
                // answered; a lookup's result says who did. One answer is
                // enough, so dead entries in the table do not hold it up.
                let key = confirm_through.unwrap_or_else(PeerId::random);
                self.lookup = Some(self.kad.get_n_closest_peers(key, NonZeroUsize::MIN));
            }
            Action::FetchSource => {
                if self.fetching.is_none() {
                    self.fetching = self.source.as_ref().map(fetch);
                }
            }
            Action::Report(event) => self.pending.push_back(ToSwarm::GenerateEvent(event)),
        }
    }

    fn on_kad_event(&mut self, event: &kad::Event) {
        match event {
            kad::Event::OutboundQueryProgressed {
                result: QueryResult::Bootstrap(Err(_)),
                ..
            } => self.recovery.on_bootstrap_failed(Instant::now()),
            kad::Event::OutboundQueryProgressed {
                id,
                result: QueryResult::GetClosestPeers(result),
                step,
                ..
            } if Some(*id) == self.lookup && step.last => {
                self.lookup = None;
                let found = result.as_ref().map_or(0, |ok| ok.peers.len());
                let health = self.health();
                self.recovery.on_health(health, Instant::now());
                self.recovery.on_lookup(found, Instant::now());
            }
            kad::Event::RoutingUpdated { .. } => self.check_health(),
            _ => {}
        }
    }

    fn on_connection_closed(&mut self, closed: &ConnectionClosed) {
        if closed.remaining_established > 0 {
            return;
        }
        self.connected.remove(&closed.peer_id);
        // A clean close, or the swarm's idle timer, says nothing about the path.
        let lost = matches!(closed.cause, Some(ConnectionError::IO(_)));
        self.recovery
            .on_disconnected(closed.peer_id, lost, Instant::now());
    }

    /// Polls the health check, the attempt timer and the source; returns
    /// whether any of them did something.
    fn poll_timers(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progressed = false;
        let deadline = match self.recovery.poll_timeout() {
            Some(attempt) => attempt.min(self.next_check),
            None => self.next_check,
        };
        if let Poll::Ready(now) = self.timer.poll(Some(deadline), cx) {
            if now >= self.next_check {
                self.next_check = now + self.check_interval;
                self.check_health();
                self.remember_connected();
            }
            if self.recovery.poll_timeout().is_some_and(|t| t <= now) {
                self.recovery.handle_timeout(now);
            }
            progressed = true;
        }
        progressed |= self.poll_memory(cx);
        if let Some(fetch) = &mut self.fetching {
            if let Poll::Ready(result) = fetch.poll_unpin(cx) {
                self.fetching = None;
                match result {
                    Ok(addresses) => self.recovery.set_bootstrap(addresses),
                    Err(e) => self
                        .pending
                        .push_back(ToSwarm::GenerateEvent(Event::SourceFailed(e))),
                }
                progressed = true;
            }
        }
        progressed
    }
}

fn fetch(source: &Arc<dyn BootstrapSource>) -> Fetch {
    let source = Arc::clone(source);
    async move { source.bootstrap_addresses().await }.boxed()
}

impl<S: RecordStore + Send + 'static> NetworkBehaviour for Behaviour<S> {
    type ConnectionHandler = THandler<kad::Behaviour<S>>;
    type ToSwarm = Event;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.kad
            .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.kad
            .handle_established_inbound_connection(connection_id, peer, local_addr, remote_addr)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.kad.handle_pending_outbound_connection(
            connection_id,
            maybe_peer,
            addresses,
            effective_role,
        )
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.kad.handle_established_outbound_connection(
            connection_id,
            peer,
            addr,
            role_override,
            port_use,
        )
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.kad.on_swarm_event(event);
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                self.dials.remove(&e.connection_id);
                if self.connected.insert(e.peer_id) {
                    self.recovery.on_connected(e.peer_id);
                }
            }
            FromSwarm::ConnectionClosed(e) => self.on_connection_closed(&e),
            FromSwarm::DialFailure(e) => {
                let Some(peer) = self.dials.remove(&e.connection_id) else {
                    return;
                };
                // Dropped unsent because a dial to the peer was in flight:
                // no dial happened.
                let happened = !matches!(e.error, DialError::DialPeerConditionFalse(_));
                self.recovery.on_dial_failed(peer, happened);
            }
            FromSwarm::NewListenAddr(_) => {
                self.listen_addrs += 1;
                if self.listen_addrs == 1 {
                    self.recovery.on_listen_addr_after_none(Instant::now());
                }
            }
            FromSwarm::ExpiredListenAddr(_) => {
                self.listen_addrs = self.listen_addrs.saturating_sub(1);
            }
            _ => return,
        }
        self.wake();
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.kad
            .on_connection_handler_event(peer, connection, event);
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Event, THandlerInEvent<Self>>> {
        loop {
            while let Some(action) = self.recovery.poll_action() {
                self.apply(action);
            }
            if let Some(event) = self.pending.pop_front() {
                return Poll::Ready(event);
            }
            if let Poll::Ready(event) = self.kad.poll(cx) {
                if let ToSwarm::GenerateEvent(e) = &event {
                    self.on_kad_event(e);
                }
                return Poll::Ready(event.map_out(Event::Kad));
            }
            if !self.poll_timers(cx) {
                break;
            }
        }
        // Polled on every swarm poll: clone the waker only when it changed.
        if !self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            self.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}
