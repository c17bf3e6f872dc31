//! What the policy did and why.

use std::convert::Infallible;

use libp2p_identity::PeerId;
use libp2p_swarm::ConnectionId;

use crate::{ExchangeError, Incarnation, Replacement};

/// An event of [`crate::Behaviour`]: the policy's own, or the wrapped behaviour's.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<E = Infallible> {
    /// A connection from a new incarnation of a peer appeared: every
    /// connection of its older incarnations was closed at once.
    Replaced(Replacement),
    /// A connection announced an incarnation its peer had already replaced:
    /// it was closed.
    Stale {
        /// The peer.
        peer: PeerId,
        /// The connection, closed.
        connection: ConnectionId,
        /// The replaced incarnation it announced.
        incarnation: Incarnation,
    },
    /// The peer's incarnation message on a connection was refused; only that
    /// stream was dropped.
    Refused {
        /// The peer.
        peer: PeerId,
        /// The connection, left open.
        connection: ConnectionId,
        /// What was wrong with the message.
        error: ExchangeError,
    },
    /// An event of the wrapped behaviour.
    Behaviour(E),
}

impl<E> Event<E> {
    /// The wrapped behaviour's event, or the policy's own.
    // The policy's events are this size wherever they go; boxing the `Err`
    // would allocate for each.
    #[allow(clippy::result_large_err)]
    pub fn into_behaviour(self) -> Result<E, Event> {
        match self {
            Self::Behaviour(event) => Ok(event),
            Self::Replaced(replacement) => Err(Event::Replaced(replacement)),
            Self::Stale {
                peer,
                connection,
                incarnation,
            } => Err(Event::Stale {
                peer,
                connection,
                incarnation,
            }),
            Self::Refused {
                peer,
                connection,
                error,
            } => Err(Event::Refused {
                peer,
                connection,
                error,
            }),
        }
    }
}
