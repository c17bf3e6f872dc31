//! The `NetworkBehaviour`: runs the exchange on every connection, applies the
//! core's judgements, and keeps the wrapped behaviour's view to live connections.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use either::Either;
use futures::FutureExt;
use futures_timer::Delay;
use libp2p_core::{transport::PortUse, ConnectedPoint, Endpoint, Multiaddr};
use libp2p_identity::PeerId;
use libp2p_swarm::{
    behaviour::{AddressChange, ConnectionClosed, ConnectionEstablished},
    dummy,
    handler::{ConnectionHandlerSelect, UpgradeInfoSend},
    CloseConnection, ConnectionDenied, ConnectionHandler, ConnectionId, FromSwarm,
    NetworkBehaviour, NotifyHandler, StreamProtocol, THandler, THandlerInEvent, THandlerOutEvent,
    ToSwarm,
};

use crate::{
    deferred::{Deferred, DeferredIn},
    handler::{Exchange, Handler},
    handshake::{Flags, Learnt, Outcome},
    registry::{Judgement, Registry},
    Config, ConfigError, ConnectionInfo, Epoch, Event, Incarnation,
};

/// Closes a restarted peer's old connections the moment a connection of its
/// new run appears, and keeps a wrapped behaviour off them.
///
/// `B` is the wrapped behaviour (by default none). It sees the swarm through
/// the policy, and every sequence it sees is one the swarm itself could have
/// shown it:
///
/// - a peer's first connection reaches it at once, as from the swarm;
/// - a peer's additional connection is held from it until the connection's
///   incarnation is known (or [`Config::with_max_hold`] has passed, or the
///   peer turned out not to speak the exchange): only then is it told of the
///   connection (`handle_established_*`, then `ConnectionEstablished`), and
///   its handler for it made. The remote's streams for its protocols that
///   arrive meanwhile are accepted and handed to that handler once it is
///   there. A connection of an incarnation the peer has replaced is never
///   shown to it;
/// - when a peer's new run appears, it is told first that the old run's
///   connections closed (a `ConnectionClosed` with no cause, before the swarm
///   has closed them; the swarm's own report later is not repeated), then
///   that the new run's connection is established, as a first connection
///   (`other_established` counts none of the old run). So a behaviour that
///   greets a peer on its first connection (gossipsub's subscriptions,
///   identify) greets the new run;
/// - it gets no handler event from a stale connection, and none of its
///   [`NotifyHandler`]s reaches one: `NotifyHandler::Any` goes to the peer's
///   newest connection it knows of that is not stale, and a message for a
///   peer with none is dropped, as the swarm drops one for a disconnected
///   peer;
/// - the connection counts it is told (`other_established`,
///   `remaining_established`) leave out stale and held connections.
///
/// A connection is judged only on what its peer announced: a peer that does
/// not speak the exchange, or has not yet, is never closed on this ground.
///
/// One thing a held connection's handler misses: the swarm tells a handler
/// the connection's protocols (`LocalProtocolsChange`, and the remote's so
/// far) when the connection starts, and libp2p-swarm 0.48 gives no way to
/// tell a handler made later; it hears only later changes.
///
/// With a [`crate::Handshake`] under the transport
/// ([`Config::with_handshake`]), an additional connection's incarnation is
/// known before the swarm reports it: the judgement, and for a new run the
/// old run's close, happen inside `handle_established_*`, and the
/// connection is shown to the wrapped behaviour there, not held.
pub struct Behaviour<B: NetworkBehaviour = dummy::Behaviour> {
    inner: B,
    local: Incarnation,
    config: Config,
    registry: Registry,
    /// What the handshake learnt of a connection, until the swarm reports
    /// it established.
    early: HashMap<ConnectionId, Outcome>,
    /// Connections the wrapped behaviour has not been told of.
    held: HashMap<ConnectionId, Held>,
    /// When each held connection is released, in order (the bound is one).
    releases: VecDeque<(Instant, ConnectionId)>,
    release_timer: Option<Delay>,
    /// The protocols the wrapped behaviour's handlers last offered inbound,
    /// which a held connection offers for them.
    offered: Arc<[StreamProtocol]>,
    queued: VecDeque<ToSwarm<Event<B::ToSwarm>, THandlerInEvent<Self>>>,
}

/// A connection held from the wrapped behaviour, with what it must be told
/// of it when it is released.
struct Held {
    peer: PeerId,
    side: Side,
    /// Filled when the swarm reports the connection established.
    established: Option<(ConnectedPoint, Vec<Multiaddr>)>,
    /// The wrapped behaviour refused it when it was released: it never
    /// learns of it, and its close is not reported.
    denied: bool,
}

enum Side {
    Inbound {
        local_addr: Multiaddr,
        remote_addr: Multiaddr,
    },
    Outbound {
        addr: Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    },
}

/// What the handshake made of an additional connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Settled {
    /// The wrapped behaviour can be told of it now: a new run (the old one
    /// now closed for it), the current run, or a peer without the exchange.
    Shown,
    /// A run the peer replaced: closed, and never shown.
    Stale,
}

impl Side {
    fn remote_addr(&self) -> &Multiaddr {
        match self {
            Self::Inbound { remote_addr, .. } => remote_addr,
            Self::Outbound { addr, .. } => addr,
        }
    }
}

impl Behaviour {
    /// The policy on its own, wrapping nothing.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        Self::wrap(dummy::Behaviour, config)
    }
}

impl<B: NetworkBehaviour> Behaviour<B> {
    /// The policy around `inner`, with a new random incarnation for this node.
    pub fn wrap(inner: B, config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let local = match &config.handshake {
            Some(handshake) => handshake.local_incarnation(),
            None => Incarnation::random(),
        };
        Ok(Self {
            inner,
            local,
            registry: Registry::new(config.max_retired),
            config,
            early: HashMap::new(),
            held: HashMap::new(),
            releases: VecDeque::new(),
            release_timer: None,
            offered: Arc::from([]),
            queued: VecDeque::new(),
        })
    }

    /// This node's incarnation, announced on every connection.
    pub fn local_incarnation(&self) -> Incarnation {
        self.local
    }

    /// The peer's connections that the wrapped behaviour knows of and that
    /// are not stale, newest first.
    pub fn current_connections(&self, peer: &PeerId) -> Vec<ConnectionId> {
        self.visible(peer).collect()
    }

    /// What is known of a connection, `None` once it is closed.
    pub fn connection(&self, connection: ConnectionId) -> Option<ConnectionInfo> {
        self.registry.info(connection)
    }

    /// Whether the connection belongs to an incarnation its peer replaced.
    pub fn is_stale(&self, connection: ConnectionId) -> bool {
        self.registry.is_stale(connection)
    }

    /// Whether the connection is held from the wrapped behaviour, its
    /// incarnation not known yet.
    pub fn is_held(&self, connection: ConnectionId) -> bool {
        self.held.get(&connection).is_some_and(|h| !h.denied)
    }

    /// How many connections the policy keeps a record of: every established
    /// one until it closes, and those whose exchange ended in the transport
    /// ([`crate::Handshake`]) until the swarm reports them. Back at the
    /// connections open once a flood of them is over.
    pub fn tracked_connections(&self) -> usize {
        self.registry.len() + self.early.len()
    }

    /// The current incarnation of a connected peer, with its epoch.
    pub fn incarnation_of(&self, peer: &PeerId) -> Option<(Incarnation, Epoch)> {
        self.registry.incarnation_of(peer)
    }

    /// The wrapped behaviour.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// The wrapped behaviour, to act on it.
    pub fn inner_mut(&mut self) -> &mut B {
        &mut self.inner
    }

    /// The peer's connections the wrapped behaviour knows of and that are
    /// not stale, newest first.
    fn visible<'a>(&'a self, peer: &PeerId) -> impl Iterator<Item = ConnectionId> + 'a {
        // Usually nothing is held: then no lookup per connection.
        let none_held = self.held.is_empty();
        self.registry
            .live_connections(peer)
            .filter(move |c| none_held || !self.held.contains_key(c))
    }

    fn handler(&self, handshake: Option<Flags>, inner: Deferred<THandler<B>>) -> THandler<Self> {
        let handler = Handler::new(self.local, self.config.exchange_timeout);
        match handshake {
            Some(flags) => handler.after_handshake(flags),
            None => handler,
        }
        .select(inner)
    }

    /// A connection the swarm is about to report: held from the wrapped
    /// behaviour, or handed to it now.
    fn establish(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        side: Side,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let mut handshake = self
            .config
            .handshake
            .as_ref()
            .and_then(|h| h.take(peer, side.remote_addr()));
        let additional = self.must_hold(&peer);
        let settled = match &handshake {
            Some(outcome) if additional => self.settle(peer, connection, outcome),
            _ => None,
        };
        let flags = handshake.as_ref().map(Outcome::flags);
        if settled.is_none() {
            // Applied when the swarm reports the connection.
            if let Some(outcome) = handshake.take() {
                self.early.insert(connection, outcome);
            }
        }
        if additional && settled != Some(Settled::Shown) {
            return Ok(self.hold(connection, peer, side, flags));
        }
        let inner = self.inner_handler(connection, peer, &side)?;
        self.learn_offered(&inner);
        Ok(self.handler(flags, Deferred::active(inner)))
    }

    /// The wrapped behaviour's handler for the connection, as the swarm
    /// would have asked for it.
    fn inner_handler(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        side: &Side,
    ) -> Result<THandler<B>, ConnectionDenied> {
        match side {
            Side::Inbound {
                local_addr,
                remote_addr,
            } => self.inner.handle_established_inbound_connection(
                connection,
                peer,
                local_addr,
                remote_addr,
            ),
            Side::Outbound {
                addr,
                role_override,
                port_use,
            } => self.inner.handle_established_outbound_connection(
                connection,
                peer,
                addr,
                *role_override,
                *port_use,
            ),
        }
    }

    /// Judges an additional connection on what the handshake learnt, before
    /// the wrapped behaviour hears of it; `None` when that is not enough to
    /// judge it.
    fn settle(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        outcome: &Outcome,
    ) -> Option<Settled> {
        match outcome.learnt {
            Learnt::Incarnation(incarnation) => {
                self.registry
                    .on_established(peer, connection, Instant::now());
                Some(if self.judge(peer, connection, incarnation) {
                    Settled::Stale
                } else {
                    Settled::Shown
                })
            }
            Learnt::Unsupported => {
                self.registry
                    .on_established(peer, connection, Instant::now());
                self.registry.on_unsupported(connection);
                Some(Settled::Shown)
            }
            Learnt::Refused(_) | Learnt::Nothing => None,
        }
    }

    /// Applies what the handshake learnt, as if the connection's handler
    /// had just reported it.
    fn apply_handshake(&mut self, peer: PeerId, connection: ConnectionId) {
        let Some(outcome) = self.early.remove(&connection) else {
            return;
        };
        let exchange = match outcome.learnt {
            Learnt::Incarnation(incarnation) => Exchange::Received(incarnation),
            Learnt::Refused(error) => Exchange::Refused(error),
            Learnt::Unsupported => Exchange::Unsupported,
            Learnt::Nothing => return,
        };
        self.on_exchange(peer, connection, exchange);
    }

    fn on_exchange(&mut self, peer: PeerId, connection: ConnectionId, exchange: Exchange) {
        match exchange {
            Exchange::Received(incarnation) => {
                let stale = self.judge(peer, connection, incarnation);
                if !stale {
                    self.release(connection);
                }
            }
            Exchange::Unsupported => {
                self.registry.on_unsupported(connection);
                self.release(connection);
            }
            Exchange::Refused(error) => {
                tracing::debug!(%peer, ?connection, "incarnation message refused: {error}");
                self.queued
                    .push_back(ToSwarm::GenerateEvent(Event::Refused {
                        peer,
                        connection,
                        error,
                    }));
                self.release(connection);
            }
        }
    }

    /// A peer's first connection goes to the wrapped behaviour at once; an
    /// additional one may be a new run, which must not look like a second
    /// connection of the old one.
    fn must_hold(&self, peer: &PeerId) -> bool {
        self.registry.live_connections(peer).next().is_some()
    }

    fn hold(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        side: Side,
        handshake: Option<Flags>,
    ) -> THandler<Self> {
        self.held.insert(
            connection,
            Held {
                peer,
                side,
                established: None,
                denied: false,
            },
        );
        self.releases
            .push_back((Instant::now() + self.config.max_hold, connection));
        self.handler(handshake, Deferred::held(self.offered.clone()))
    }

    /// Remembers the protocols `handler` offers, for held connections to offer.
    fn learn_offered(&mut self, handler: &THandler<B>) {
        let protocol = handler.listen_protocol();
        let upgrade = protocol.upgrade();
        let mut count = 0;
        let same = upgrade.protocol_info().all(|p| {
            count += 1;
            self.offered
                .get(count - 1)
                .is_some_and(|known| known.as_ref() == p.as_ref())
        }) && count == self.offered.len();
        if !same {
            self.offered = upgrade
                .protocol_info()
                .filter_map(|p| StreamProtocol::try_from_owned(p.as_ref().to_owned()).ok())
                .collect();
        }
    }

    /// Tells the wrapped behaviour of a held connection, and hands the
    /// connection the handler it makes for it.
    fn release(&mut self, connection: ConnectionId) {
        let Some(held) = self.held.get(&connection) else {
            return;
        };
        if held.denied || held.established.is_none() || self.registry.is_stale(connection) {
            return;
        }
        let held = self.held.remove(&connection).expect("looked up above");
        let (endpoint, failed_addresses) = held.established.expect("checked above");
        let peer = held.peer;
        let handler = self.inner_handler(connection, peer, &held.side);
        let handler = match handler {
            Ok(handler) => handler,
            Err(denied) => {
                tracing::debug!(%peer, ?connection, "the wrapped behaviour denied a held connection: {denied}");
                self.held.insert(
                    connection,
                    Held {
                        denied: true,
                        established: None,
                        ..held
                    },
                );
                self.queued.push_back(ToSwarm::CloseConnection {
                    peer_id: peer,
                    connection: CloseConnection::One(connection),
                });
                return;
            }
        };
        let other_established = self.visible(&peer).filter(|c| *c != connection).count();
        // Queued before anything the wrapped behaviour sends on being told:
        // the handler is on the connection before any message for it.
        self.queued.push_back(ToSwarm::NotifyHandler {
            peer_id: peer,
            handler: NotifyHandler::One(connection),
            event: Either::Right(DeferredIn::Activate(Box::new(handler))),
        });
        self.inner
            .on_swarm_event(FromSwarm::ConnectionEstablished(ConnectionEstablished {
                peer_id: peer,
                connection_id: connection,
                endpoint: &endpoint,
                failed_addresses: &failed_addresses,
                other_established,
            }));
    }

    /// Releases the peer's held connections once the wrapped behaviour knows
    /// of no other: whatever they are, each is then a first connection.
    fn release_orphans(&mut self, peer: &PeerId) {
        if self.visible(peer).next().is_some() {
            return;
        }
        // Oldest first, as the swarm would have told them.
        let mut orphans: Vec<ConnectionId> = self.registry.live_connections(peer).collect();
        orphans.reverse();
        for connection in orphans {
            self.release(connection);
        }
    }

    /// Applies the core's judgement; returns whether `connection` itself is stale.
    fn judge(&mut self, peer: PeerId, connection: ConnectionId, incarnation: Incarnation) -> bool {
        match self
            .registry
            .on_incarnation(connection, incarnation, Instant::now())
        {
            Judgement::Ignored | Judgement::Current => false,
            Judgement::Replaced(replacement) => {
                tracing::debug!(
                    %peer,
                    previous = %replacement.previous,
                    current = %replacement.current,
                    closed = ?replacement.closed,
                    "peer replaced its incarnation"
                );
                for stale in &replacement.closed {
                    self.close_stale(peer, *stale);
                }
                self.queued
                    .push_back(ToSwarm::GenerateEvent(Event::Replaced(replacement)));
                false
            }
            Judgement::Stale { peer, incarnation } => {
                self.close_stale(peer, connection);
                self.queued.push_back(ToSwarm::GenerateEvent(Event::Stale {
                    peer,
                    connection,
                    incarnation,
                }));
                true
            }
        }
    }

    /// Closes a connection the core judged stale, and tells the wrapped
    /// behaviour it is gone now rather than when the swarm gets to it.
    fn close_stale(&mut self, peer: PeerId, connection: ConnectionId) {
        if !self.held.contains_key(&connection) {
            if let Some(endpoint) = self.registry.endpoint(connection) {
                self.inner
                    .on_swarm_event(FromSwarm::ConnectionClosed(ConnectionClosed {
                        peer_id: peer,
                        connection_id: connection,
                        endpoint,
                        cause: None,
                        // A connection settled on the handshake is not
                        // reported established yet: the wrapped behaviour
                        // does not count it.
                        remaining_established: self
                            .visible(&peer)
                            .filter(|c| self.registry.endpoint(*c).is_some())
                            .count(),
                    }));
            }
        }
        self.queued.push_back(ToSwarm::CloseConnection {
            peer_id: peer,
            connection: CloseConnection::One(connection),
        });
    }

    /// Where a message of the wrapped behaviour goes: only to a connection
    /// it knows of and that is not stale.
    fn route(&self, peer: &PeerId, handler: NotifyHandler) -> Option<NotifyHandler> {
        match handler {
            NotifyHandler::One(connection)
                if self.registry.is_stale(connection) || self.held.contains_key(&connection) =>
            {
                None
            }
            NotifyHandler::One(connection) => Some(NotifyHandler::One(connection)),
            NotifyHandler::Any => match self.visible(peer).next() {
                Some(connection) => Some(NotifyHandler::One(connection)),
                // No connection at all: the swarm drops it, as it would have.
                None if !self.registry.is_connected(peer) => Some(NotifyHandler::Any),
                None => None,
            },
        }
    }

    /// A connection settled on the handshake and then denied by another
    /// behaviour: the swarm never reports it, so it goes from the registry
    /// here (the wrapped behaviour hears of the failure as from the swarm).
    fn forget_denied(&mut self, connection: ConnectionId) {
        if self.registry.endpoint(connection).is_none() {
            self.registry.on_closed(connection);
        }
    }

    /// Releases the held connections whose bound has passed by `now`;
    /// returns when the next one's does.
    fn release_due(&mut self, now: Instant) -> Option<Instant> {
        while let Some(&(at, connection)) = self.releases.front() {
            if !self.held.contains_key(&connection) {
                self.releases.pop_front();
                continue;
            }
            if at > now {
                return Some(at);
            }
            self.releases.pop_front();
            match self.held.get(&connection) {
                // Never reported established (another behaviour denied it): forget it.
                Some(held) if held.established.is_none() && !held.denied => {
                    self.held.remove(&connection);
                }
                _ => {
                    tracing::debug!(
                        ?connection,
                        "no incarnation within the hold bound; released as it is"
                    );
                    self.release(connection);
                }
            }
        }
        None
    }

    /// Releases what is due, and arms the timer for the next bound.
    fn poll_releases(&mut self, cx: &mut Context<'_>) {
        loop {
            let now = Instant::now();
            let Some(next) = self.release_due(now) else {
                self.release_timer = None;
                return;
            };
            let timer = self
                .release_timer
                .get_or_insert_with(|| Delay::new(next - now));
            if timer.poll_unpin(cx).is_pending() {
                return;
            }
            self.release_timer = None;
        }
    }
}

impl<B: NetworkBehaviour> NetworkBehaviour for Behaviour<B> {
    type ConnectionHandler = ConnectionHandlerSelect<Handler, Deferred<THandler<B>>>;
    type ToSwarm = Event<B::ToSwarm>;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let side = Side::Inbound {
            local_addr: local_addr.clone(),
            remote_addr: remote_addr.clone(),
        };
        self.establish(connection_id, peer, side)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(
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
        let side = Side::Outbound {
            addr: addr.clone(),
            role_override,
            port_use,
        };
        self.establish(connection_id, peer, side)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(established) => {
                if let Some(handshake) = &self.config.handshake {
                    handshake.on_established(established.peer_id);
                }
                let (peer, connection) = (established.peer_id, established.connection_id);
                let other_established = self.visible(&peer).filter(|c| *c != connection).count();
                // Settled on the handshake, it is known already.
                if self.registry.info(connection).is_none() {
                    self.registry
                        .on_established(peer, connection, Instant::now());
                }
                (self.registry)
                    .set_endpoint(established.connection_id, established.endpoint.clone());
                if let Some(held) = self.held.get_mut(&established.connection_id) {
                    held.established = Some((
                        established.endpoint.clone(),
                        established.failed_addresses.to_vec(),
                    ));
                } else {
                    self.inner.on_swarm_event(FromSwarm::ConnectionEstablished(
                        ConnectionEstablished {
                            other_established,
                            ..established
                        },
                    ));
                }
                // Before the swarm tells anyone else: a restart the handshake
                // saw is applied by the time the application hears of the
                // connection.
                self.apply_handshake(established.peer_id, established.connection_id);
            }
            FromSwarm::ConnectionClosed(closed) => {
                if let Some(handshake) = &self.config.handshake {
                    handshake.on_closed(&closed.peer_id);
                }
                self.early.remove(&closed.connection_id);
                let stale = self.registry.is_stale(closed.connection_id);
                self.registry.on_closed(closed.connection_id);
                if self.held.remove(&closed.connection_id).is_some() || stale {
                    return;
                }
                let remaining_established = self.visible(&closed.peer_id).count();
                self.inner
                    .on_swarm_event(FromSwarm::ConnectionClosed(ConnectionClosed {
                        remaining_established,
                        ..closed
                    }));
                self.release_orphans(&closed.peer_id);
            }
            FromSwarm::AddressChange(change) => {
                if let Some(endpoint) = self.registry.endpoint_mut(change.connection_id) {
                    *endpoint = change.new.clone();
                }
                if let Some(held) = self.held.get_mut(&change.connection_id) {
                    if let Some((endpoint, _)) = &mut held.established {
                        *endpoint = change.new.clone();
                    }
                    return;
                }
                if !self.registry.is_stale(change.connection_id) {
                    self.inner
                        .on_swarm_event(FromSwarm::AddressChange(AddressChange { ..change }));
                }
            }
            FromSwarm::DialFailure(failure) => {
                // A behaviour denied the connection after ours made its handler.
                self.early.remove(&failure.connection_id);
                self.forget_denied(failure.connection_id);
                self.inner.on_swarm_event(FromSwarm::DialFailure(failure));
            }
            FromSwarm::ListenFailure(failure) => {
                self.early.remove(&failure.connection_id);
                self.forget_denied(failure.connection_id);
                self.inner.on_swarm_event(FromSwarm::ListenFailure(failure));
            }
            other => self.inner.on_swarm_event(other),
        }
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {
            Either::Left(exchange) => self.on_exchange(peer, connection, exchange),
            Either::Right(event) => {
                // The wrapped behaviour was told this connection closed, or
                // has not been told of it.
                if !self.registry.is_stale(connection) && !self.held.contains_key(&connection) {
                    self.inner
                        .on_connection_handler_event(peer, connection, event);
                }
            }
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if !self.releases.is_empty() {
            self.poll_releases(cx);
        }
        if let Some(queued) = self.queued.pop_front() {
            return Poll::Ready(queued);
        }
        loop {
            match self.inner.poll(cx) {
                Poll::Ready(ToSwarm::NotifyHandler {
                    peer_id,
                    handler,
                    event,
                }) => match self.route(&peer_id, handler) {
                    Some(handler) => {
                        return Poll::Ready(ToSwarm::NotifyHandler {
                            peer_id,
                            handler,
                            event: Either::Right(DeferredIn::Event(event)),
                        })
                    }
                    None => {
                        tracing::debug!(%peer_id, "dropping a message for a stale connection");
                    }
                },
                Poll::Ready(other) => {
                    return Poll::Ready(
                        other
                            .map_out(Event::Behaviour)
                            .map_in(|e| Either::Right(DeferredIn::Event(e))),
                    )
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The wrapped behaviour's view, checked against the swarm's own rules
    //! by a recording behaviour that fails on any sequence the swarm could
    //! not have produced.

    use std::{collections::HashMap, convert::Infallible, task::Context};

    use libp2p_core::{multiaddr::Protocol, transport::PortUse};
    use libp2p_swarm::{dummy, ConnectionClosed};

    use super::*;
    use crate::Handshake;

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Seen {
        Handler(ConnectionId),
        Established {
            connection: ConnectionId,
            other: usize,
        },
        Closed {
            connection: ConnectionId,
            remaining: usize,
        },
    }

    /// Panics on what the swarm never does: an established connection
    /// without its handler just before, counts that disagree with what it
    /// was told, an event of a connection it does not know.
    #[derive(Default)]
    struct Recorder {
        known: HashMap<ConnectionId, PeerId>,
        handler_for: Option<ConnectionId>,
        seen: Vec<Seen>,
    }

    impl Recorder {
        fn count(&self, peer: PeerId) -> usize {
            self.known.values().filter(|p| **p == peer).count()
        }

        fn made_handler(&mut self, connection: ConnectionId) -> dummy::ConnectionHandler {
            assert_eq!(
                self.handler_for, None,
                "two handlers without an establishment"
            );
            self.handler_for = Some(connection);
            self.seen.push(Seen::Handler(connection));
            dummy::ConnectionHandler
        }
    }

    impl NetworkBehaviour for Recorder {
        type ConnectionHandler = dummy::ConnectionHandler;
        type ToSwarm = Infallible;

        fn handle_established_inbound_connection(
            &mut self,
            connection: ConnectionId,
            _: PeerId,
            _: &Multiaddr,
            _: &Multiaddr,
        ) -> Result<THandler<Self>, ConnectionDenied> {
            Ok(self.made_handler(connection))
        }

        fn handle_established_outbound_connection(
            &mut self,
            connection: ConnectionId,
            _: PeerId,
            _: &Multiaddr,
            _: Endpoint,
            _: PortUse,
        ) -> Result<THandler<Self>, ConnectionDenied> {
            Ok(self.made_handler(connection))
        }

        fn on_swarm_event(&mut self, event: FromSwarm) {
            match event {
                FromSwarm::ConnectionEstablished(e) => {
                    assert_eq!(
                        self.handler_for.take(),
                        Some(e.connection_id),
                        "established without its handler just before"
                    );
                    assert_eq!(e.other_established, self.count(e.peer_id));
                    self.known.insert(e.connection_id, e.peer_id);
                    self.seen.push(Seen::Established {
                        connection: e.connection_id,
                        other: e.other_established,
                    });
                }
                FromSwarm::ConnectionClosed(e) => {
                    assert_eq!(self.handler_for, None);
                    assert!(
                        self.known.remove(&e.connection_id).is_some(),
                        "closed, never established"
                    );
                    assert_eq!(e.remaining_established, self.count(e.peer_id));
                    self.seen.push(Seen::Closed {
                        connection: e.connection_id,
                        remaining: e.remaining_established,
                    });
                }
                _ => {}
            }
        }

        fn on_connection_handler_event(
            &mut self,
            _: PeerId,
            connection: ConnectionId,
            event: Infallible,
        ) {
            assert!(self.known.contains_key(&connection));
            match event {}
        }

        fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Infallible, Infallible>> {
            Poll::Pending
        }
    }

    struct Swarm {
        policy: Behaviour<Recorder>,
        peer: PeerId,
        endpoint: ConnectedPoint,
        /// Connections the swarm has, for the counts it reports.
        open: Vec<ConnectionId>,
        next: usize,
    }

    fn incarnation(id: u128) -> Incarnation {
        Incarnation::from_u128(id).unwrap()
    }

    /// What the wrapped behaviour sees of a connection shown to it.
    fn shown(connection: ConnectionId, other: usize) -> Vec<Seen> {
        vec![
            Seen::Handler(connection),
            Seen::Established { connection, other },
        ]
    }

    fn closed(connection: ConnectionId, remaining: usize) -> Vec<Seen> {
        vec![Seen::Closed {
            connection,
            remaining,
        }]
    }

    impl Swarm {
        fn new() -> Self {
            Self::with_config(Config::default())
        }

        /// The policy with a handshake under the transport.
        fn with_handshake() -> (Self, Handshake) {
            let handshake = Handshake::new();
            let swarm = Self::with_config(Config::default().with_handshake(handshake.clone()));
            (swarm, handshake)
        }

        fn with_config(config: Config) -> Self {
            let addr: Multiaddr = Multiaddr::empty().with(Protocol::Memory(1));
            Self {
                policy: Behaviour::wrap(Recorder::default(), config).unwrap(),
                peer: PeerId::random(),
                endpoint: ConnectedPoint::Listener {
                    local_addr: addr.clone(),
                    send_back_addr: addr,
                },
                open: Vec::new(),
                next: 0,
            }
        }

        /// A new inbound connection, as the swarm reports one.
        fn connect(&mut self) -> ConnectionId {
            let connection = ConnectionId::new_unchecked(self.next);
            self.next += 1;
            let (local, remote) = match &self.endpoint {
                ConnectedPoint::Listener {
                    local_addr,
                    send_back_addr,
                } => (local_addr.clone(), send_back_addr.clone()),
                ConnectedPoint::Dialer { .. } => unreachable!(),
            };
            self.policy
                .handle_established_inbound_connection(connection, self.peer, &local, &remote)
                .unwrap();
            self.policy
                .on_swarm_event(FromSwarm::ConnectionEstablished(ConnectionEstablished {
                    peer_id: self.peer,
                    connection_id: connection,
                    endpoint: &self.endpoint,
                    failed_addresses: &[],
                    other_established: self.open.len(),
                }));
            self.open.push(connection);
            connection
        }

        /// A new inbound connection on which the handshake learnt `learnt`.
        fn connect_after(&mut self, handshake: &Handshake, learnt: Learnt) -> ConnectionId {
            let remote = self.endpoint.get_remote_address().clone();
            let outcome = Outcome {
                learnt,
                announced: true,
            };
            handshake.ran(self.peer, remote, outcome);
            self.connect()
        }

        fn close(&mut self, connection: ConnectionId) {
            self.open.retain(|c| *c != connection);
            self.policy
                .on_swarm_event(FromSwarm::ConnectionClosed(ConnectionClosed {
                    peer_id: self.peer,
                    connection_id: connection,
                    endpoint: &self.endpoint,
                    cause: None,
                    remaining_established: self.open.len(),
                }));
        }

        fn exchange(&mut self, connection: ConnectionId, outcome: Exchange) {
            self.policy
                .on_connection_handler_event(self.peer, connection, Either::Left(outcome));
        }

        /// What the policy asks of the swarm: connections it closes and
        /// those it hands a wrapped handler.
        fn drain(&mut self) -> (Vec<ConnectionId>, Vec<ConnectionId>) {
            let mut cx = Context::from_waker(futures::task::noop_waker_ref());
            let (mut closed, mut activated) = (Vec::new(), Vec::new());
            while let Poll::Ready(event) = self.policy.poll(&mut cx) {
                match event {
                    ToSwarm::CloseConnection {
                        connection: CloseConnection::One(c),
                        ..
                    } => closed.push(c),
                    ToSwarm::NotifyHandler {
                        handler: NotifyHandler::One(c),
                        event: Either::Right(DeferredIn::Activate(_)),
                        ..
                    } => activated.push(c),
                    _ => {}
                }
            }
            (closed, activated)
        }

        fn seen(&mut self) -> Vec<Seen> {
            std::mem::take(&mut self.policy.inner_mut().seen)
        }
    }

    #[test]
    fn a_first_connection_is_shown_at_once() {
        let mut swarm = Swarm::new();
        let c = swarm.connect();
        assert_eq!(swarm.seen(), shown(c, 0));
        assert!(!swarm.policy.is_held(c));
    }

    #[test]
    fn a_restart_reads_as_a_disconnect_then_a_first_connection() {
        let mut swarm = Swarm::new();
        let old = swarm.connect();
        swarm.exchange(old, Exchange::Received(incarnation(1)));
        swarm.seen();

        let new = swarm.connect();
        assert!(swarm.policy.is_held(new));
        assert_eq!(swarm.seen(), [], "nothing of the new connection yet");
        assert_eq!(swarm.policy.current_connections(&swarm.peer), [old]);

        swarm.exchange(new, Exchange::Received(incarnation(2)));
        assert_eq!(swarm.seen(), [closed(old, 0), shown(new, 0)].concat());
        assert_eq!(swarm.drain(), (vec![old], vec![new]));
        assert_eq!(swarm.policy.current_connections(&swarm.peer), [new]);

        // The swarm's own close of the old connection is not repeated.
        swarm.close(old);
        assert_eq!(swarm.seen(), []);
    }

    #[test]
    fn a_duplicate_of_one_run_is_shown_as_a_second_connection() {
        let mut swarm = Swarm::new();
        let first = swarm.connect();
        swarm.exchange(first, Exchange::Received(incarnation(1)));
        let second = swarm.connect();
        swarm.seen();
        swarm.exchange(second, Exchange::Received(incarnation(1)));
        assert_eq!(swarm.seen(), shown(second, 1));
        assert_eq!(swarm.drain(), (vec![], vec![second]));
    }

    #[test]
    fn a_peer_without_the_exchange_is_shown_as_it_is() {
        let mut swarm = Swarm::new();
        let first = swarm.connect();
        swarm.exchange(first, Exchange::Unsupported);
        let second = swarm.connect();
        swarm.seen();
        swarm.exchange(second, Exchange::Unsupported);
        assert_eq!(swarm.seen(), shown(second, 1));
    }

    #[test]
    fn a_silent_connection_is_shown_when_the_bound_passes() {
        let mut swarm = Swarm::new();
        let first = swarm.connect();
        let held_at = Instant::now();
        let second = swarm.connect();
        swarm.seen();
        let bound = Config::default().max_hold;
        let next = swarm.policy.release_due(held_at);
        assert!(next.is_some_and(|at| at > held_at));
        assert_eq!(swarm.seen(), []);

        swarm.policy.release_due(held_at + bound + bound);
        assert_eq!(swarm.seen(), shown(second, 1));
        assert_eq!(
            swarm.policy.current_connections(&swarm.peer),
            [second, first]
        );
    }

    #[test]
    fn a_held_connection_is_shown_as_first_when_the_others_close() {
        let mut swarm = Swarm::new();
        let old = swarm.connect();
        let new = swarm.connect();
        swarm.seen();
        swarm.close(old);
        assert_eq!(swarm.seen(), [closed(old, 0), shown(new, 0)].concat());
    }

    #[test]
    fn a_replaced_runs_late_connection_is_never_shown() {
        let mut swarm = Swarm::new();
        let old = swarm.connect();
        swarm.exchange(old, Exchange::Received(incarnation(1)));
        let new = swarm.connect();
        swarm.exchange(new, Exchange::Received(incarnation(2)));
        swarm.close(old);
        let late = swarm.connect();
        swarm.seen();
        swarm.exchange(late, Exchange::Received(incarnation(1)));
        assert_eq!(swarm.seen(), []);
        assert_eq!(swarm.drain().0, vec![old, late]);
        // Nor its close, nor anything when its bound passes.
        swarm
            .policy
            .release_due(Instant::now() + Config::default().max_hold * 2);
        swarm.close(late);
        assert_eq!(swarm.seen(), []);
    }

    #[test]
    fn a_held_connection_that_closes_was_never_there() {
        let mut swarm = Swarm::new();
        let first = swarm.connect();
        let second = swarm.connect();
        swarm.seen();
        swarm.close(second);
        swarm
            .policy
            .release_due(Instant::now() + Config::default().max_hold * 2);
        assert_eq!(swarm.seen(), []);
        assert_eq!(swarm.policy.current_connections(&swarm.peer), [first]);
    }

    #[test]
    fn a_restart_the_handshake_saw_is_settled_before_the_swarm_reports_it() {
        let (mut swarm, handshake) = Swarm::with_handshake();
        let old = swarm.connect();
        swarm.exchange(old, Exchange::Received(incarnation(1)));
        swarm.seen();

        let new = swarm.connect_after(&handshake, Learnt::Incarnation(incarnation(2)));
        // The old run closed for the wrapped behaviour, then the new
        // connection made and established as a first one, with its handler
        // from the start: nothing to activate later.
        assert_eq!(swarm.seen(), [closed(old, 0), shown(new, 0)].concat());
        assert!(!swarm.policy.is_held(new));
        assert_eq!(swarm.drain(), (vec![old], vec![]));
        assert_eq!(swarm.policy.current_connections(&swarm.peer), [new]);
        swarm.close(old);
        assert_eq!(swarm.seen(), []);
    }

    #[test]
    fn the_handshake_shows_a_duplicate_and_a_peer_without_the_exchange_at_once() {
        let (mut swarm, handshake) = Swarm::with_handshake();
        let first = swarm.connect();
        swarm.exchange(first, Exchange::Received(incarnation(1)));
        swarm.seen();
        let second = swarm.connect_after(&handshake, Learnt::Incarnation(incarnation(1)));
        assert_eq!(swarm.seen(), shown(second, 1));
        assert_eq!(swarm.drain(), (vec![], vec![]));

        let (mut swarm, handshake) = Swarm::with_handshake();
        let first = swarm.connect();
        swarm.exchange(first, Exchange::Unsupported);
        swarm.seen();
        let second = swarm.connect_after(&handshake, Learnt::Unsupported);
        assert_eq!(swarm.seen(), shown(second, 1));
        assert_eq!(
            swarm.policy.connection(second).map(|c| c.status),
            Some(crate::Status::Unsupported)
        );
    }

    #[test]
    fn a_replaced_runs_late_connection_through_the_handshake_is_never_shown() {
        let (mut swarm, handshake) = Swarm::with_handshake();
        let old = swarm.connect();
        swarm.exchange(old, Exchange::Received(incarnation(1)));
        let new = swarm.connect_after(&handshake, Learnt::Incarnation(incarnation(2)));
        swarm.close(old);
        swarm.seen();
        let late = swarm.connect_after(&handshake, Learnt::Incarnation(incarnation(1)));
        assert_eq!(swarm.seen(), []);
        assert!(swarm.policy.is_stale(late));
        assert_eq!(swarm.drain().0, vec![old, late]);
        swarm.close(late);
        assert_eq!(swarm.seen(), []);
        assert_eq!(swarm.policy.current_connections(&swarm.peer), [new]);
    }

    #[test]
    fn what_the_handshake_could_not_judge_is_held_as_without_it() {
        let (mut swarm, handshake) = Swarm::with_handshake();
        let first = swarm.connect();
        swarm.exchange(first, Exchange::Received(incarnation(1)));
        swarm.seen();
        let silent = swarm.connect_after(&handshake, Learnt::Nothing);
        assert!(swarm.policy.is_held(silent));
        assert_eq!(swarm.seen(), []);
        // The connection's own handler still reads the remote's message.
        swarm.exchange(silent, Exchange::Received(incarnation(2)));
        assert_eq!(swarm.seen(), [closed(first, 0), shown(silent, 0)].concat());
    }

    #[test]
    fn a_settled_connection_another_behaviour_denied_is_forgotten() {
        let (mut swarm, handshake) = Swarm::with_handshake();
        let old = swarm.connect();
        swarm.exchange(old, Exchange::Received(incarnation(1)));
        let remote = swarm.endpoint.get_remote_address().clone();
        handshake.ran(
            swarm.peer,
            remote.clone(),
            Outcome {
                learnt: Learnt::Incarnation(incarnation(1)),
                announced: true,
            },
        );
        let denied = ConnectionId::new_unchecked(99);
        swarm
            .policy
            .handle_established_inbound_connection(denied, swarm.peer, &remote, &remote)
            .unwrap();
        assert!(swarm.policy.connection(denied).is_some());
        swarm
            .policy
            .on_swarm_event(FromSwarm::ListenFailure(libp2p_swarm::ListenFailure {
                local_addr: &remote,
                send_back_addr: &remote,
                error: &libp2p_swarm::ListenError::Aborted,
                connection_id: denied,
                peer_id: Some(swarm.peer),
            }));
        assert!(swarm.policy.connection(denied).is_none());
        assert_eq!(swarm.policy.current_connections(&swarm.peer), [old]);
    }
}
