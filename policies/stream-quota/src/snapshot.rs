//! What the ledger shows: counts per scope at one moment.

use std::{collections::HashMap, time::Duration};

use libp2p_identity::PeerId;
use libp2p_swarm::{ConnectionId, StreamProtocol};

use crate::Direction;

/// Counts of one direction in one scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DirectionStats {
    /// Streams open now.
    pub open: u32,
    /// Streams admitted so far (a stream refused after its negotiation was
    /// admitted first, and counts here and in `refused`).
    pub opened: u64,
    /// Streams refused by a limit.
    pub refused: u64,
}

/// Counts of one scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScopeStats {
    /// Streams the remote opened.
    pub inbound: DirectionStats,
    /// Streams we opened.
    pub outbound: DirectionStats,
    /// How long the oldest open stream has been open.
    pub oldest_open: Option<Duration>,
}

impl ScopeStats {
    /// The counts of `direction`.
    pub fn direction(&self, direction: Direction) -> &DirectionStats {
        match direction {
            Direction::Inbound => &self.inbound,
            Direction::Outbound => &self.outbound,
        }
    }

    /// Open streams, both directions.
    pub fn open(&self) -> u32 {
        self.inbound.open + self.outbound.open
    }

    pub(crate) fn note_age(&mut self, age: Duration) {
        self.oldest_open = Some(self.oldest_open.map_or(age, |oldest| oldest.max(age)));
    }
}

/// One connection's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// The peer at the other end.
    pub peer: PeerId,
    /// Its streams.
    pub streams: ScopeStats,
    /// How long an outbound open has been waiting for the muxer, if one is.
    pub outbound_blocked_for: Option<Duration>,
}

/// Every scope's counts at one moment, from [`crate::Quota::snapshot`].
///
/// A stream counts in its connection, peer and the node from the moment the
/// muxer hands it out until it is dropped or its connection closes, and in
/// its protocol scopes (on the node, for its peer, on its connection) once
/// it negotiated one. Peers are listed while they
/// have a connection; protocols once a stream negotiated them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The whole node.
    pub node: ScopeStats,
    /// Each connected peer.
    pub peers: HashMap<PeerId, ScopeStats>,
    /// Each connection the swarm established over a wrapped muxer.
    pub connections: HashMap<ConnectionId, ConnectionStats>,
    /// Each protocol a stream negotiated.
    pub protocols: HashMap<StreamProtocol, ScopeStats>,
    /// Each protocol per connected peer.
    pub protocols_per_peer: HashMap<(PeerId, StreamProtocol), ScopeStats>,
    /// Each protocol per connection the swarm established over a wrapped
    /// muxer.
    pub protocols_per_connection: HashMap<(ConnectionId, StreamProtocol), ScopeStats>,
    /// Events the behaviour was not polled in time to take, and dropped
    /// (the counts above stay exact).
    pub dropped_events: u64,
}
