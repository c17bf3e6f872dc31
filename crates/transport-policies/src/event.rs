//! The bundle's one event type.

use libp2p_kad::store::RecordStore;
use libp2p_swarm::NetworkBehaviour;

use crate::bundle::ProtectedEvent;

/// An event of a [`crate::Policies`] bundle: the application's own, one
/// variant deep, or one policy's.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<A> {
    /// An event of the application's behaviour, as it emitted it.
    App(A),
    /// Kademlia's, passed through rebootstrap.
    Kad(libp2p_kad::Event),
    /// conn-prune's.
    Prune(conn_prune::Event),
    /// stream-quota's.
    Quota(stream_quota::Event),
    /// rebootstrap's own (Kademlia's come as [`Event::Kad`]).
    Rebootstrap(rebootstrap::Event),
    /// state-isolation's own: a peer's replaced run, a stale connection, a
    /// refused message.
    Isolation(state_isolation::Event),
}

impl<B, S> From<state_isolation::Event<ProtectedEvent<B, S>>> for Event<B::ToSwarm>
where
    B: NetworkBehaviour,
    S: RecordStore + Send + 'static,
{
    fn from(event: state_isolation::Event<ProtectedEvent<B, S>>) -> Self {
        match event.into_behaviour() {
            Ok(ProtectedEvent::App(event)) => Self::App(event),
            Ok(ProtectedEvent::Prune(event)) => Self::Prune(event),
            Ok(ProtectedEvent::Quota(event)) => Self::Quota(event),
            Ok(ProtectedEvent::Rebootstrap(rebootstrap::Event::Kad(event))) => Self::Kad(event),
            Ok(ProtectedEvent::Rebootstrap(event)) => Self::Rebootstrap(event),
            Err(event) => Self::Isolation(event),
        }
    }
}
