//! What the policy reports.

use std::time::Duration;

use libp2p_identity::PeerId;
use libp2p_swarm::ConnectionId;

/// What the policy did, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// Why a connection was pruned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// `max_strikes` probes in a row went unanswered; the policy closed it.
    Unresponsive,
    /// Opening a probe stream failed and the transport closed the connection
    /// with this error: it knew the connection was dead and had not said so
    /// (a WebRTC connection whose remote closed it, for one).
    ProbeFailed(String),
}

/// What led to a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
pub enum Trigger {
    /// Its transport's probe schedule.
    Schedule,
    /// A newer connection to the same peer was established.
    NewerConnection,
    /// The application called `Behaviour::suspect`.
    Suspect,
}
