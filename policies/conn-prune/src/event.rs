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
    /// This node stopped judging its peers for `hold`, because what it saw
    /// says the trouble is its own ([`Overload`]): no probe counts against
    /// any connection meanwhile. The hold is renewed while the trouble
    /// lasts. Reported when judging stops, not for each probe it spares.
    Overloaded {
        /// What showed it.
        cause: Overload,
        /// How long judging stays off after the last sign of it.
        hold: Duration,
    },
}

/// Why this node stopped judging its peers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overload {
    /// A timer of this node ran `late_by` after it was due: the node was too
    /// busy to read its peers' answers on time.
    LateTimer {
        /// How late the timer ran.
        late_by: Duration,
    },
    /// `silent` of the `monitored` connections were missing probes at once
    /// while some of them answered late: a busy node (its socket read late)
    /// or its own network, not that many peers failing together. A real
    /// mass death answers nothing late, so it is judged as usual.
    ManySilent {
        /// Connections missing probes.
        silent: usize,
        /// Connections monitored.
        monitored: usize,
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
    /// (a WebRTC connection whose remote closed it, for one). Never on QUIC
    /// or TCP, which report their closes themselves.
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
