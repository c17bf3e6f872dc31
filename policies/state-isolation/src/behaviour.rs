//! The `NetworkBehaviour`: runs the exchange on every connection, applies the
//! core's judgements, and keeps the wrapped behaviour's view to live connections.

use std::{
    collections::{HashMap, VecDeque},
    task::{Context, Poll},
    time::Instant,
};

use either::Either;
use libp2p_core::{transport::PortUse, ConnectedPoint, Endpoint, Multiaddr};
use libp2p_identity::PeerId;
use libp2p_swarm::{
    behaviour::{AddressChange, ConnectionClosed, ConnectionEstablished},
    dummy,
    handler::ConnectionHandlerSelect,
    CloseConnection, ConnectionDenied, ConnectionHandler, ConnectionId, FromSwarm,
    NetworkBehaviour, NotifyHandler, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};

use crate::{
    handler::{Exchange, Handler},
    registry::{Judgement, Registry},
    Config, ConfigError, ConnectionInfo, Epoch, Event, Incarnation,
};

/// Closes a restarted peer's old connections the moment a connection of its
/// new run appears, and keeps a wrapped behaviour off them.
///
/// `B` is the wrapped behaviour (by default none). It sees the swarm through
/// the policy:
///
/// - a connection judged stale is reported to it as closed at once (a
///   `ConnectionClosed` with no cause), before the swarm has closed it; the
///   swarm's own report of that close later is not repeated;
/// - it gets no handler event from a stale connection, and none of its
///   [`NotifyHandler`]s reaches one: `NotifyHandler::Any` goes to the peer's
///   newest connection that is not stale (a pending one included: a restarted
///   peer's newest connection is its live one), and a message for a peer whose
///   every connection is stale is dropped, as the swarm drops one for a
///   disconnected peer;
/// - the connection counts it is told (`other_established`,
///   `remaining_established`) leave stale connections out.
///
/// A connection is judged only on what its peer announced: a peer that does
/// not speak the exchange, or has not yet, is never closed on this ground.
pub struct Behaviour<B: NetworkBehaviour = dummy::Behaviour> {
    inner: B,
    local: Incarnation,
    config: Config,
    registry: Registry,
    endpoints: HashMap<ConnectionId, ConnectedPoint>,
    queued: VecDeque<ToSwarm<Event<B::ToSwarm>, THandlerInEvent<Self>>>,
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
        Ok(Self {
            inner,
            local: Incarnation::random(),
            registry: Registry::new(config.max_retired),
            config,
            endpoints: HashMap::new(),
            queued: VecDeque::new(),
        })
    }

    /// This node's incarnation, announced on every connection.
    pub fn local_incarnation(&self) -> Incarnation {
        self.local
    }

    /// The peer's connections that are not stale, newest first: those the
    /// wrapped behaviour sees.
    pub fn current_connections(&self, peer: &PeerId) -> Vec<ConnectionId> {
        self.registry.live_connections(peer).collect()
    }

    /// What is known of a connection, `None` once it is closed.
    pub fn connection(&self, connection: ConnectionId) -> Option<ConnectionInfo> {
        self.registry.info(connection)
    }

    /// Whether the connection belongs to an incarnation its peer replaced.
    pub fn is_stale(&self, connection: ConnectionId) -> bool {
        self.registry.is_stale(connection)
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

    fn handler(&self, inner: THandler<B>) -> THandler<Self> {
        Handler::new(self.local, self.config.exchange_timeout).select(inner)
    }

    fn judge(&mut self, peer: PeerId, connection: ConnectionId, incarnation: Incarnation) {
        match self
            .registry
            .on_incarnation(connection, incarnation, Instant::now())
        {
            Judgement::Ignored | Judgement::Current => {}
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
            }
            Judgement::Stale { peer, incarnation } => {
                self.close_stale(peer, connection);
                self.queued.push_back(ToSwarm::GenerateEvent(Event::Stale {
                    peer,
                    connection,
                    incarnation,
                }));
            }
        }
    }

    /// Closes a connection the core judged stale, and tells the wrapped
    /// behaviour it is gone now rather than when the swarm gets to it.
    fn close_stale(&mut self, peer: PeerId, connection: ConnectionId) {
        if let Some(endpoint) = self.endpoints.get(&connection) {
            self.inner
                .on_swarm_event(FromSwarm::ConnectionClosed(ConnectionClosed {
                    peer_id: peer,
                    connection_id: connection,
                    endpoint,
                    cause: None,
                    remaining_established: self.registry.live_connections(&peer).count(),
                }));
        }
        self.queued.push_back(ToSwarm::CloseConnection {
            peer_id: peer,
            connection: CloseConnection::One(connection),
        });
    }

    /// Where a message of the wrapped behaviour goes: never to a stale connection.
    fn route(&self, peer: &PeerId, handler: NotifyHandler) -> Option<NotifyHandler> {
        match handler {
            NotifyHandler::One(connection) if self.registry.is_stale(connection) => None,
            NotifyHandler::One(connection) => Some(NotifyHandler::One(connection)),
            NotifyHandler::Any => match self.registry.live_connections(peer).next() {
                Some(connection) => Some(NotifyHandler::One(connection)),
                // No connection at all: the swarm drops it, as it would have.
                None if !self.registry.is_connected(peer) => Some(NotifyHandler::Any),
                None => None,
            },
        }
    }
}

impl<B: NetworkBehaviour> NetworkBehaviour for Behaviour<B> {
    type ConnectionHandler = ConnectionHandlerSelect<Handler, THandler<B>>;
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
        let inner = self.inner.handle_established_inbound_connection(
            connection_id,
            peer,
            local_addr,
            remote_addr,
        )?;
        Ok(self.handler(inner))
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
        let inner = self.inner.handle_established_outbound_connection(
            connection_id,
            peer,
            addr,
            role_override,
            port_use,
        )?;
        Ok(self.handler(inner))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(established) => {
                let other_established =
                    self.registry.live_connections(&established.peer_id).count();
                self.registry.on_established(
                    established.peer_id,
                    established.connection_id,
                    Instant::now(),
                );
                self.endpoints
                    .insert(established.connection_id, established.endpoint.clone());
                self.inner.on_swarm_event(FromSwarm::ConnectionEstablished(
                    ConnectionEstablished {
                        other_established,
                        ..established
                    },
                ));
            }
            FromSwarm::ConnectionClosed(closed) => {
                let stale = self.registry.is_stale(closed.connection_id);
                self.registry.on_closed(closed.connection_id);
                self.endpoints.remove(&closed.connection_id);
                if !stale {
                    let remaining_established =
                        self.registry.live_connections(&closed.peer_id).count();
                    self.inner
                        .on_swarm_event(FromSwarm::ConnectionClosed(ConnectionClosed {
                            remaining_established,
                            ..closed
                        }));
                }
            }
            FromSwarm::AddressChange(change) => {
                if let Some(endpoint) = self.endpoints.get_mut(&change.connection_id) {
                    *endpoint = change.new.clone();
                }
                if !self.registry.is_stale(change.connection_id) {
                    self.inner
                        .on_swarm_event(FromSwarm::AddressChange(AddressChange { ..change }));
                }
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
            Either::Left(Exchange::Received(incarnation)) => {
                self.judge(peer, connection, incarnation)
            }
            Either::Left(Exchange::Unsupported) => self.registry.on_unsupported(connection),
            Either::Left(Exchange::Refused(error)) => {
                tracing::debug!(%peer, ?connection, "incarnation message refused: {error}");
                self.queued
                    .push_back(ToSwarm::GenerateEvent(Event::Refused {
                        peer,
                        connection,
                        error,
                    }));
            }
            Either::Right(event) => {
                // The wrapped behaviour was told this connection closed.
                if !self.registry.is_stale(connection) {
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
                            event: Either::Right(event),
                        })
                    }
                    None => {
                        tracing::debug!(%peer_id, "dropping a message for a stale connection");
                    }
                },
                Poll::Ready(other) => {
                    return Poll::Ready(other.map_out(Event::Behaviour).map_in(Either::Right))
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
