//! What the policy did and why.

use std::convert::Infallible;

use libp2p_identity::PeerId;
use libp2p_swarm::ConnectionId;

use crate::{ExchangeError, Incarnation, Replacement};

/// An event of [`crate::Behaviour`]: the policy's own, or the wrapped behaviour's.
#[derive(Debug)]
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
