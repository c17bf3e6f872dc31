//! state-isolation that can be switched off while still carrying the
//! behaviour it wraps, which `Toggle` cannot do.

use std::task::{Context, Poll};

use either::Either;
use libp2p_core::{transport::PortUse, Endpoint, Multiaddr};
use libp2p_identity::PeerId;
use libp2p_swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};

/// `B` wrapped by state-isolation, or `B` alone; either way its events come as
/// [`state_isolation::Event`]s.
// One per swarm: the policy's few hundred bytes beside `B` are not worth a box.
#[allow(clippy::large_enum_variant)]
pub enum Isolation<B: NetworkBehaviour> {
    /// The policy on.
    On(state_isolation::Behaviour<B>),
    /// The policy off: `B` as it is.
    Off(B),
}

impl<B: NetworkBehaviour> Isolation<B> {
    /// The wrapped behaviour.
    pub fn inner(&self) -> &B {
        match self {
            Self::On(policy) => policy.inner(),
            Self::Off(inner) => inner,
        }
    }

    /// The wrapped behaviour, to act on it.
    pub fn inner_mut(&mut self) -> &mut B {
        match self {
            Self::On(policy) => policy.inner_mut(),
            Self::Off(inner) => inner,
        }
    }

    /// The policy, when on: its query API.
    pub fn policy(&self) -> Option<&state_isolation::Behaviour<B>> {
        match self {
            Self::On(policy) => Some(policy),
            Self::Off(_) => None,
        }
    }
}

impl<B: NetworkBehaviour> NetworkBehaviour for Isolation<B> {
    type ConnectionHandler = Either<THandler<state_isolation::Behaviour<B>>, THandler<B>>;
    type ToSwarm = state_isolation::Event<B::ToSwarm>;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        match self {
            Self::On(b) => {
                b.handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
            }
            Self::Off(b) => {
                b.handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
            }
        }
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(match self {
            Self::On(b) => Either::Left(b.handle_established_inbound_connection(
                connection_id,
                peer,
                local_addr,
                remote_addr,
            )?),
            Self::Off(b) => Either::Right(b.handle_established_inbound_connection(
                connection_id,
                peer,
                local_addr,
                remote_addr,
            )?),
        })
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        match self {
            Self::On(b) => b.handle_pending_outbound_connection(
                connection_id,
                maybe_peer,
                addresses,
                effective_role,
            ),
            Self::Off(b) => b.handle_pending_outbound_connection(
                connection_id,
                maybe_peer,
                addresses,
                effective_role,
            ),
        }
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(match self {
            Self::On(b) => Either::Left(b.handle_established_outbound_connection(
                connection_id,
                peer,
                addr,
                role_override,
                port_use,
            )?),
            Self::Off(b) => Either::Right(b.handle_established_outbound_connection(
                connection_id,
                peer,
                addr,
                role_override,
                port_use,
            )?),
        })
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match self {
            Self::On(b) => b.on_swarm_event(event),
            Self::Off(b) => b.on_swarm_event(event),
        }
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match (self, event) {
            (Self::On(b), Either::Left(event)) => {
                b.on_connection_handler_event(peer, connection, event);
            }
            (Self::Off(b), Either::Right(event)) => {
                b.on_connection_handler_event(peer, connection, event);
            }
            // A handler is built by the variant that receives its events,
            // and the variant never changes.
            _ => unreachable!("handler and behaviour variants match"),
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        match self {
            Self::On(b) => b.poll(cx).map(|e| e.map_in(Either::Left)),
            Self::Off(b) => b.poll(cx).map(|e| {
                e.map_out(state_isolation::Event::Behaviour)
                    .map_in(Either::Right)
            }),
        }
    }
}
