//! What the policy reports.

use std::time::Duration;

use libp2p_identity::PeerId;

use crate::SourceError;

/// What the policy did, and why. Kademlia's own events come through as [`Event::Kad`].
// Kademlia's events pass through as they come, like those of a derived
// behaviour's event enum: boxing would allocate for each of them.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// An event of the wrapped `kad::Behaviour`.
    Kad(libp2p_kad::Event),
    /// The node has lost its place in the DHT; recovery starts.
    Degraded {
        /// Why.
        reason: Degradation,
        /// Peers connected when it was noticed.
        connected_peers: usize,
        /// Routing-table entries of connected peers when it was noticed.
        live_entries: usize,
    },
    /// A recovery attempt: bootstrap peers dialed, and when the next comes if this one fails.
    Retrying {
        /// The attempt, from 1.
        attempt: u32,
        /// Bootstrap peers dialed in this attempt.
        dialed: usize,
        /// The delay before the next attempt.
        next_in: Duration,
    },
    /// The node is back: a lookup was answered by peers and its table holds
    /// live entries again.
    Rejoined {
        /// Time from `Degraded` to now.
        after: Duration,
        /// Attempts it took.
        attempts: u32,
        /// Peers connected now.
        connected_peers: usize,
        /// Routing-table entries of connected peers now.
        live_entries: usize,
    },
    /// The bootstrap source failed; the last list it gave is used.
    SourceFailed(SourceError),
    /// At start, the peers the [`crate::PeerMemory`] remembered were dialed.
    Recalled {
        /// Peers dialed, one dial each.
        dialed: usize,
    },
    /// The [`crate::PeerMemory`] failed to recall or to remember.
    MemoryFailed(SourceError),
}

/// Why the node counts as degraded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Degradation {
    /// Fewer connected peers than the threshold.
    UnderConnected,
    /// Fewer live routing-table entries than the threshold.
    TableDepleted,
    /// A Kademlia bootstrap found no known peers, or its query failed.
    BootstrapFailed,
    /// A bootstrap peer's last connection closed by a timeout or a reset: it
    /// may have restarted, or the path to it may be gone.
    BootstrapPeerLost(PeerId),
}
