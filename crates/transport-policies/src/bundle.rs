//! The policies composed around an application's behaviour.

use std::task::{Context, Poll};

use libp2p_core::{transport::PortUse, Endpoint, Multiaddr};
use libp2p_identity::PeerId;
use libp2p_kad::{self as kad, store::MemoryStore, store::RecordStore};
use libp2p_swarm::{
    behaviour::toggle::Toggle, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour,
    THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};

use crate::{Config, ConfigError, Event, Isolation};

pub use protected::{Protected, ProtectedEvent};

// The derive's event enum (one variant per field: `App`, `Prune`,
// `Quota`, `Rebootstrap`) has no docs of its own to give.
#[allow(missing_docs)]
mod protected {
    use libp2p_kad::store::RecordStore;
    use libp2p_swarm::{behaviour::toggle::Toggle, NetworkBehaviour};

    /// The application's behaviour and the policies that sit beside it, all
    /// behind state-isolation: the inside of a [`Policies`](crate::Policies)
    /// bundle, named here only because its handler type is.
    #[derive(NetworkBehaviour)]
    #[behaviour(prelude = "libp2p_swarm::derive_prelude")]
    pub struct Protected<B: NetworkBehaviour, S: RecordStore + Send + 'static> {
        pub(crate) app: B,
        pub(crate) prune: Toggle<conn_prune::Behaviour>,
        pub(crate) quota: Toggle<stream_quota::Behaviour>,
        pub(crate) rebootstrap: Toggle<rebootstrap::Behaviour<S>>,
    }
}

/// Every policy around the application's behaviour `B`, ready for a swarm,
/// or for a field of your own derived behaviour. `S` is the record store of
/// the Kademlia behaviour rebootstrap wraps.
///
/// state-isolation is the outer layer, so neither the application nor
/// Kademlia nor conn-prune ever sees a connection of a peer's replaced run:
/// they are told it closed the moment it is judged stale, a restarted
/// peer's new connection reaches them as its first, and their
/// `NotifyHandler::Any` lands on the peer's live connection.
///
/// Its events are [`Event`]s: `Event::App(e)` for the application's own `e`,
/// one variant per policy for theirs.
pub struct Policies<B: NetworkBehaviour, S: RecordStore + Send + 'static = MemoryStore> {
    inner: Isolation<Protected<B, S>>,
}

impl<B: NetworkBehaviour> Policies<B> {
    /// The policies `config` switches on, around `app`, without a DHT
    /// (rebootstrap on is [`ConfigError::RebootstrapWithoutKad`]; see
    /// [`Policies::with_kad`]).
    pub fn new(app: B, config: Config) -> Result<Self, ConfigError> {
        Self::build(app, None, config)
    }
}

impl<B: NetworkBehaviour, S: RecordStore + Send + 'static> Policies<B, S> {
    /// The policies `config` switches on, around `app`, with `kad` inside
    /// rebootstrap, which must be on ([`ConfigError::KadWithoutRebootstrap`]
    /// otherwise: a Kademlia without rebootstrap belongs in `app`).
    pub fn with_kad(app: B, kad: kad::Behaviour<S>, config: Config) -> Result<Self, ConfigError> {
        Self::build(app, Some(kad), config)
    }

    fn build(app: B, kad: Option<kad::Behaviour<S>>, config: Config) -> Result<Self, ConfigError> {
        let prune = config
            .prune
            .map(conn_prune::Behaviour::new)
            .transpose()
            .map_err(ConfigError::Prune)?;
        let rebootstrap = match (config.rebootstrap, kad) {
            (Some(rebootstrap), Some(kad)) => Some(
                rebootstrap::Behaviour::new(kad, rebootstrap).map_err(ConfigError::Rebootstrap)?,
            ),
            (Some(_), None) => return Err(ConfigError::RebootstrapWithoutKad),
            (None, Some(_)) => return Err(ConfigError::KadWithoutRebootstrap),
            (None, None) => None,
        };
        if let Some(quota) = &config.quota {
            if !quota.is_layered() {
                return Err(ConfigError::StreamQuotaNotInTransport);
            }
        }
        let protected = Protected {
            app,
            prune: Toggle::from(prune),
            quota: Toggle::from(config.quota.as_ref().map(stream_quota::Behaviour::new)),
            rebootstrap: Toggle::from(rebootstrap),
        };
        let isolation = match config.handshake {
            Some(handshake) => config.isolation.map(|c| c.with_handshake(handshake)),
            None => config.isolation,
        };
        let inner = match isolation {
            Some(isolation) => Isolation::On(
                state_isolation::Behaviour::wrap(protected, isolation)
                    .map_err(ConfigError::Isolation)?,
            ),
            None => Isolation::Off(protected),
        };
        Ok(Self { inner })
    }

    /// The application's behaviour.
    pub fn app(&self) -> &B {
        &self.inner.inner().app
    }

    /// The application's behaviour, to act on it.
    pub fn app_mut(&mut self) -> &mut B {
        &mut self.inner.inner_mut().app
    }

    /// state-isolation, when on: which connections are current, incarnations.
    pub fn isolation(&self) -> Option<&state_isolation::Behaviour<Protected<B, S>>> {
        self.inner.policy()
    }

    /// conn-prune, when on.
    pub fn prune(&self) -> Option<&conn_prune::Behaviour> {
        self.inner.inner().prune.as_ref()
    }

    /// conn-prune, when on, to act on it (`suspect`).
    pub fn prune_mut(&mut self) -> Option<&mut conn_prune::Behaviour> {
        self.inner.inner_mut().prune.as_mut()
    }

    /// stream-quota, when on (its ledger through `snapshot()` / `quota()`).
    pub fn quota(&self) -> Option<&stream_quota::Behaviour> {
        self.inner.inner().quota.as_ref()
    }

    /// rebootstrap, when on.
    pub fn rebootstrap(&self) -> Option<&rebootstrap::Behaviour<S>> {
        self.inner.inner().rebootstrap.as_ref()
    }

    /// rebootstrap, when on, to act on it.
    pub fn rebootstrap_mut(&mut self) -> Option<&mut rebootstrap::Behaviour<S>> {
        self.inner.inner_mut().rebootstrap.as_mut()
    }

    /// Kademlia, when given (inside rebootstrap).
    pub fn kad(&self) -> Option<&kad::Behaviour<S>> {
        self.rebootstrap().map(rebootstrap::Behaviour::kad)
    }

    /// Kademlia, when given, to act on it (`add_address`, queries).
    pub fn kad_mut(&mut self) -> Option<&mut kad::Behaviour<S>> {
        self.rebootstrap_mut().map(rebootstrap::Behaviour::kad_mut)
    }
}

impl<B: NetworkBehaviour, S: RecordStore + Send + 'static> NetworkBehaviour for Policies<B, S> {
    type ConnectionHandler = THandler<Isolation<Protected<B, S>>>;
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
        self.inner.handle_established_inbound_connection(
            connection_id,
            peer,
            local_addr,
            remote_addr,
        )
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
        self.inner.handle_established_outbound_connection(
            connection_id,
            peer,
            addr,
            role_override,
            port_use,
        )
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner
            .on_connection_handler_event(peer, connection, event);
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx).map(|event| event.map_out(Event::from))
    }
}
