//! What the policy reports.

use std::{fmt, io, time::Duration};

use libp2p_identity::PeerId;
use libp2p_swarm::{ConnectionError, ConnectionId};

/// What the policy did, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The connection is gone: the policy closed it, or its probe made the
    /// transport close it.
    Pruned {
        /// The remote peer.
        peer: PeerId,
        /// The connection.
        connection: ConnectionId,
        /// Why.
        reason: Reason,
        /// What the policy saw.
        evidence: Evidence,
    },
    /// A probe went unanswered; the connection is probed again at once.
    Suspected {
        /// The remote peer.
        peer: PeerId,
        /// The connection.
        connection: ConnectionId,
        /// What the policy saw; `missed_probes` counts the misses so far.
        evidence: Evidence,
    },
    /// A suspected connection answered after all.
    Recovered {
        /// The remote peer.
        peer: PeerId,
        /// The connection.
        connection: ConnectionId,
        /// What the policy saw before the answer.
        evidence: Evidence,
    },
    /// This node ran its own timers `late_by` after they were due: it was
    /// too busy to read its peers' answers on time, so it stopped judging
    /// them rather than take its own lateness for their silence. No probe
    /// counts against any connection until `hold` has passed without a late
    /// timer. Reported when judging stops, not for each probe it spares.
    Overloaded {
        /// How late the timer that showed it ran.
        late_by: Duration,
        /// How long judging stays off after the last late timer.
        hold: Duration,
    },
}

/// Why a connection was pruned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// `max_strikes` probes in a row went unanswered; the policy closed it.
    Unresponsive,
    /// Opening a probe stream failed and the transport closed the connection
    /// with this error: it knew the connection was dead and had not said so
    /// (a WebRTC connection whose remote closed it, for one).
    ProbeFailed(ConnectionFailure),
}

/// How the transport closed a connection: the swarm's [`ConnectionError`],
/// which a behaviour is only lent and cannot keep, as far as it can be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionFailure {
    /// The connection failed with an I/O error.
    Io {
        /// Its kind.
        kind: io::ErrorKind,
        /// Its text, sources included.
        message: String,
    },
    /// The swarm's keep-alive timed out.
    KeepAliveTimeout,
}

impl From<&ConnectionError> for ConnectionFailure {
    fn from(error: &ConnectionError) -> Self {
        match error {
            ConnectionError::IO(e) => {
                let mut message = e.to_string();
                let mut source = std::error::Error::source(e);
                while let Some(cause) = source {
                    message.push_str(": ");
                    message.push_str(&cause.to_string());
                    source = cause.source();
                }
                Self::Io {
                    kind: e.kind(),
                    message,
                }
            }
            ConnectionError::KeepAliveTimeout => Self::KeepAliveTimeout,
        }
    }
}

impl fmt::Display for ConnectionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { message, .. } => write!(f, "connection failed: {message}"),
            Self::KeepAliveTimeout => write!(f, "keep-alive timeout"),
        }
    }
}

impl std::error::Error for ConnectionFailure {}

/// What led to a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Evidence {
    /// Probes in a row that went unanswered.
    pub missed_probes: u32,
    /// The smoothed probe round-trip time, if the connection ever answered.
    pub rtt: Option<Duration>,
    /// Time since the connection last answered (or was established).
    pub silent_for: Duration,
    /// What started the probing that found it out.
    pub trigger: Trigger,
}

/// Why a connection was probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Trigger {
    /// Its transport's probe schedule.
    Schedule,
    /// A newer connection to the same peer was established.
    NewerConnection,
    /// The application called `Behaviour::suspect`.
    Suspect,
}
