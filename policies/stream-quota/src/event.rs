//! What the policy did and why.

use std::time::Duration;

use libp2p_identity::PeerId;
use libp2p_swarm::{ConnectionId, StreamProtocol};

use crate::{Direction, LimitExceeded, RecycleError};

/// What the policy saw or did. Every refusal, starvation and leak is
/// reported once.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A stream was refused: inbound it was reset, outbound its opener got
    /// `error` inside an `io::Error`.
    Refused {
        /// The peer the stream was to.
        peer: PeerId,
        /// Its connection (`None` only if the swarm had not established the
        /// connection yet).
        connection: Option<ConnectionId>,
        /// The limit, its scope, the direction and the protocol if known.
        error: LimitExceeded,
    },
    /// An outbound open on `connection` has waited `blocked_for`, past the
    /// starvation threshold: the peer does not hand back stream credit.
    Starved {
        /// The peer.
        peer: PeerId,
        /// The starved connection.
        connection: ConnectionId,
        /// How long the open had waited when this was reported.
        blocked_for: Duration,
    },
    /// A fresh connection to the peer is up and the starved one was closed.
    Recycled {
        /// The peer.
        peer: PeerId,
        /// The connection closed.
        starved: ConnectionId,
        /// The connection that replaced it.
        replacement: ConnectionId,
    },
    /// The fresh connection could not be made; the starved one was kept.
    RecycleFailed {
        /// The peer.
        peer: PeerId,
        /// The starved connection, still open.
        starved: ConnectionId,
        /// The failed dial's connection. If the swarm got as far as dialing
        /// (`SwarmEvent::Dialing` with this `connection_id`), its
        /// `SwarmEvent::OutgoingConnectionError` with this id carries the
        /// `DialError` itself; a dial stopped before (no address, denied by a
        /// behaviour before dialing) is reported by this event only.
        dial: ConnectionId,
        /// Why the dial failed.
        error: RecycleError,
    },
    /// A stream has been open longer than the leak threshold.
    Leaked {
        /// The peer.
        peer: PeerId,
        /// The stream's connection.
        connection: ConnectionId,
        /// The protocol it negotiated, if any.
        protocol: Option<StreamProtocol>,
        /// Who opened it.
        direction: Direction,
        /// How long it had been open.
        age: Duration,
    },
}
