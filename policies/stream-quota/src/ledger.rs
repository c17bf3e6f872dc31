//! The pure core: every stream of every wrapped connection, the limits, and
//! the starvation and leak decisions. Time is passed in; nothing here does
//! I/O, so the tests are exact.
//!
//! Memory: per connection one entry plus one per open stream (a few dozen
//! bytes each); per connected peer one entry plus one per protocol it used;
//! per protocol one entry, and at most [`MAX_PROTOCOLS`] of them, taken only
//! by protocols this node agreed to (it proposed them, or accepted them), so a
//! remote cannot grow any of this beyond the limits.

use std::{
    collections::{hash_map::Entry, BTreeMap, HashMap, VecDeque},
    time::{Duration, Instant},
};

use libp2p_core::ConnectedPoint;
use libp2p_identity::PeerId;
use libp2p_swarm::{ConnectionId, StreamProtocol};

use crate::{
    snapshot::{ConnectionStats, ScopeStats},
    Config, Direction, Limit, LimitExceeded, Scope, Snapshot,
};

/// Distinct protocols tracked; streams of further ones stay unattributed.
pub(crate) const MAX_PROTOCOLS: usize = 1024;

/// Refusals kept for the behaviour; older ones are dropped (and counted)
/// when it does not poll.
pub(crate) const MAX_QUEUED_REFUSALS: usize = 1024;

/// One wrapped muxer, from its creation in the transport to its drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct MuxerId(u64);

impl MuxerId {
    /// No muxer: the owner of a stream refused before it was opened.
    pub(crate) const NONE: MuxerId = MuxerId(u64::MAX);
}

/// One stream, node-wide; later streams have larger keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct StreamKey(u64);

type ProtocolIndex = usize;

/// A refused stream, for the behaviour to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) peer: PeerId,
    pub(crate) connection: Option<ConnectionId>,
    pub(crate) error: LimitExceeded,
}

/// What [`Ledger::decide`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// An outbound open on this connection has waited past the threshold.
    Starved {
        peer: PeerId,
        connection: ConnectionId,
        endpoint: ConnectedPoint,
        blocked_for: Duration,
    },
    /// A stream has been open past the leak threshold.
    Leaked {
        peer: PeerId,
        connection: ConnectionId,
        protocol: Option<StreamProtocol>,
        direction: Direction,
        age: Duration,
    },
}

#[derive(Debug)]
struct Stream {
    direction: Direction,
    protocol: Option<ProtocolIndex>,
    opened: Instant,
}

#[derive(Debug)]
struct Connection {
    peer: PeerId,
    endpoint: ConnectedPoint,
    id: Option<ConnectionId>,
    stats: ScopeStats,
    streams: BTreeMap<StreamKey, Stream>,
    blocked_since: Option<Instant>,
    starvation_reported: bool,
    /// Streams before this one were judged for leaks already.
    leak_cursor: StreamKey,
}

#[derive(Debug, Default)]
struct Peer {
    stats: ScopeStats,
    connections: usize,
    protocols: HashMap<ProtocolIndex, ScopeStats>,
}

#[derive(Debug)]
struct Protocol {
    name: StreamProtocol,
    /// Its [`Scope::Protocol`] limit, looked up once.
    limit: Limit,
    stats: ScopeStats,
}

/// The accounting of every wrapped connection of one node.
#[derive(Debug)]
pub(crate) struct Ledger {
    config: Config,
    node: ScopeStats,
    connections: HashMap<MuxerId, Connection>,
    peers: HashMap<PeerId, Peer>,
    protocols: Vec<Protocol>,
    protocol_index: HashMap<Box<str>, ProtocolIndex>,
    next_muxer: u64,
    next_stream: u64,
    refusals: VecDeque<Refusal>,
    dropped_events: u64,
    /// No decision is due before this; it may be early, never late.
    next_deadline: Option<Instant>,
    /// A refusal was queued or the deadline moved earlier since the
    /// behaviour last looked.
    wake: bool,
}

impl Ledger {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            config,
            node: ScopeStats::default(),
            connections: HashMap::new(),
            peers: HashMap::new(),
            protocols: Vec::new(),
            protocol_index: HashMap::new(),
            next_muxer: 0,
            next_stream: 0,
            refusals: VecDeque::new(),
            dropped_events: 0,
            next_deadline: None,
            wake: false,
        }
    }

    /// Whether the behaviour has something new to look at; clears it.
    pub(crate) fn take_wake(&mut self) -> bool {
        std::mem::take(&mut self.wake)
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// A muxer was created in the transport for `peer` at `endpoint`.
    pub(crate) fn add_connection(&mut self, peer: PeerId, endpoint: ConnectedPoint) -> MuxerId {
        let id = MuxerId(self.next_muxer);
        self.next_muxer += 1;
        self.connections.insert(
            id,
            Connection {
                peer,
                endpoint,
                id: None,
                stats: ScopeStats::default(),
                streams: BTreeMap::new(),
                blocked_since: None,
                starvation_reported: false,
                leak_cursor: StreamKey(0),
            },
        );
        self.peers.entry(peer).or_default().connections += 1;
        id
    }

    /// The swarm established `connection` to `peer` at `endpoint`: ties it
    /// to the oldest muxer of that peer and endpoint not tied yet. `false`
    /// when there is none (the transport is not wrapped).
    pub(crate) fn claim(
        &mut self,
        peer: PeerId,
        endpoint: &ConnectedPoint,
        connection: ConnectionId,
    ) -> bool {
        let oldest = self
            .connections
            .iter_mut()
            .filter(|(_, c)| c.id.is_none() && c.peer == peer && c.endpoint == *endpoint)
            .min_by_key(|(id, _)| **id);
        match oldest {
            Some((_, c)) => {
                c.id = Some(connection);
                true
            }
            None => false,
        }
    }

    /// The muxer was dropped: its streams are gone with it.
    pub(crate) fn remove_connection(&mut self, muxer: MuxerId) {
        let Some(connection) = self.connections.remove(&muxer) else {
            return;
        };
        for stream in connection.streams.values() {
            Self::count_close(
                &mut self.node,
                &mut self.peers,
                &mut self.protocols,
                connection.peer,
                stream,
            );
        }
        if let Entry::Occupied(mut peer) = self.peers.entry(connection.peer) {
            peer.get_mut().connections -= 1;
            if peer.get().connections == 0 {
                peer.remove();
            }
        }
    }

    /// Whether an outbound stream on `muxer` would be refused now: checked
    /// before the muxer is asked for one, so that a refused open costs the
    /// transport nothing. Counts and queues the refusal.
    pub(crate) fn refuse_outbound(&mut self, muxer: MuxerId) -> Option<LimitExceeded> {
        let connection = self.connections.get(&muxer)?;
        let refusal = self.check_open(connection, Direction::Outbound)?;
        self.count_refusal(muxer, Direction::Outbound, refusal.clone());
        Some(refusal)
    }

    /// A stream was opened on `muxer` at `now`, unless a limit refuses it
    /// (counted and queued).
    pub(crate) fn open_stream(
        &mut self,
        muxer: MuxerId,
        direction: Direction,
        now: Instant,
    ) -> Result<StreamKey, LimitExceeded> {
        let Some(connection) = self.connections.get(&muxer) else {
            // The muxer outlived its entry: never the case, but never a panic.
            return Ok(self.new_stream_key());
        };
        if let Some(refusal) = self.check_open(connection, direction) {
            self.count_refusal(muxer, direction, refusal.clone());
            return Err(refusal);
        }
        let key = self.new_stream_key();
        let connection = self.connections.get_mut(&muxer).expect("checked above");
        let peer = self.peers.entry(connection.peer).or_default();
        for stats in [&mut self.node, &mut peer.stats, &mut connection.stats] {
            let stats = stats.direction_mut(direction);
            stats.open += 1;
            stats.opened += 1;
        }
        connection.streams.insert(
            key,
            Stream {
                direction,
                protocol: None,
                opened: now,
            },
        );
        if let Some(threshold) = self.config.leak_threshold {
            self.lower_deadline(now + threshold);
        }
        Ok(key)
    }

    /// The stream negotiated `protocol`; refused (and removed, counted,
    /// queued) when a protocol scope is full.
    pub(crate) fn attribute(
        &mut self,
        muxer: MuxerId,
        key: StreamKey,
        protocol: &[u8],
    ) -> Result<(), LimitExceeded> {
        let Some(index) = self.intern(protocol) else {
            return Ok(());
        };
        let Some((peer_id, direction)) = self
            .connections
            .get(&muxer)
            .and_then(|c| Some((c.peer, c.streams.get(&key)?.direction)))
        else {
            return Ok(());
        };
        let per_peer_open = self
            .peers
            .get(&peer_id)
            .and_then(|p| p.protocols.get(&index))
            .map_or(0, |s| s.direction(direction).open);
        let protocol = &self.protocols[index];
        let checks = [
            (
                Scope::ProtocolPerPeer,
                per_peer_open,
                self.config.protocol_per_peer,
            ),
            (
                Scope::Protocol,
                protocol.stats.direction(direction).open,
                protocol.limit,
            ),
        ];
        let refusal = checks.into_iter().find_map(|(scope, open, limit)| {
            let limit = limit.get(direction)?;
            (open >= limit).then(|| LimitExceeded {
                scope,
                direction,
                limit,
                protocol: Some(protocol.name.clone()),
            })
        });
        let connection = self.connections.get_mut(&muxer).expect("found above");
        let peer = self.peers.entry(peer_id).or_default();
        if let Some(refusal) = refusal {
            let stream = connection.streams.remove(&key).expect("found above");
            connection.stats.direction_mut(direction).open -= 1;
            Self::count_close(
                &mut self.node,
                &mut self.peers,
                &mut self.protocols,
                peer_id,
                &stream,
            );
            let peer = self.peers.entry(peer_id).or_default();
            let per_peer = peer.protocols.entry(index).or_default();
            for stats in [per_peer, &mut self.protocols[index].stats] {
                stats.direction_mut(direction).refused += 1;
            }
            self.count_refusal(muxer, direction, refusal.clone());
            return Err(refusal);
        }
        if let Some(stream) = connection.streams.get_mut(&key) {
            stream.protocol = Some(index);
        }
        let per_peer = peer.protocols.entry(index).or_default();
        for stats in [per_peer, &mut self.protocols[index].stats] {
            let stats = stats.direction_mut(direction);
            stats.open += 1;
            stats.opened += 1;
        }
        Ok(())
    }

    /// The stream was dropped.
    pub(crate) fn close_stream(&mut self, muxer: MuxerId, key: StreamKey) {
        let Some(connection) = self.connections.get_mut(&muxer) else {
            return;
        };
        let Some(stream) = connection.streams.remove(&key) else {
            return;
        };
        connection.stats.direction_mut(stream.direction).open -= 1;
        let peer = connection.peer;
        Self::count_close(
            &mut self.node,
            &mut self.peers,
            &mut self.protocols,
            peer,
            &stream,
        );
    }

    /// An outbound open on `muxer` has been waiting since `since`.
    pub(crate) fn outbound_blocked(&mut self, muxer: MuxerId, since: Instant) {
        if let Some(connection) = self.connections.get_mut(&muxer) {
            connection.blocked_since = Some(since);
            connection.starvation_reported = false;
            let deadline = since + self.config.starvation_threshold;
            self.lower_deadline(deadline);
        }
    }

    /// The open on `muxer` completed, or was given up.
    pub(crate) fn outbound_unblocked(&mut self, muxer: MuxerId) {
        if let Some(connection) = self.connections.get_mut(&muxer) {
            connection.blocked_since = None;
        }
    }

    /// When [`Ledger::decide`] is next due, if ever.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.next_deadline
    }

    /// Starvation and leaks due at `now`, each reported once.
    pub(crate) fn decide(&mut self, now: Instant) -> Vec<Decision> {
        let mut decisions = Vec::new();
        let mut next: Option<Instant> = None;
        let mut wake_at = |at: Instant| next = Some(next.map_or(at, |n| n.min(at)));
        let starvation = self.config.starvation_threshold;
        for connection in self.connections.values_mut() {
            // Not tied to a swarm connection yet: judged once it is.
            let Some(id) = connection.id else {
                if connection.blocked_since.is_some() || !connection.streams.is_empty() {
                    wake_at(now + starvation);
                }
                continue;
            };
            if let (Some(since), false) = (connection.blocked_since, connection.starvation_reported)
            {
                if since + starvation <= now {
                    connection.starvation_reported = true;
                    decisions.push(Decision::Starved {
                        peer: connection.peer,
                        connection: id,
                        endpoint: connection.endpoint.clone(),
                        blocked_for: now - since,
                    });
                } else {
                    wake_at(since + starvation);
                }
            }
            let Some(leak) = self.config.leak_threshold else {
                continue;
            };
            for (key, stream) in connection.streams.range(connection.leak_cursor..) {
                if stream.opened + leak > now {
                    wake_at(stream.opened + leak);
                    break;
                }
                connection.leak_cursor = StreamKey(key.0 + 1);
                decisions.push(Decision::Leaked {
                    peer: connection.peer,
                    connection: id,
                    protocol: stream.protocol.map(|i| self.protocols[i].name.clone()),
                    direction: stream.direction,
                    age: now - stream.opened,
                });
            }
        }
        self.next_deadline = next;
        decisions
    }

    /// The refusals queued since the last call.
    pub(crate) fn take_refusals(&mut self) -> impl Iterator<Item = Refusal> + '_ {
        self.refusals.drain(..)
    }

    /// Every scope's counts at `now`.
    pub(crate) fn snapshot(&self, now: Instant) -> Snapshot {
        let mut snapshot = Snapshot {
            node: self.node,
            dropped_events: self.dropped_events,
            ..Snapshot::default()
        };
        for (&peer_id, peer) in &self.peers {
            snapshot.peers.insert(peer_id, peer.stats);
            for (&index, stats) in &peer.protocols {
                snapshot
                    .protocols_per_peer
                    .insert((peer_id, self.protocols[index].name.clone()), *stats);
            }
        }
        for protocol in &self.protocols {
            snapshot
                .protocols
                .insert(protocol.name.clone(), protocol.stats);
        }
        for connection in self.connections.values() {
            let mut stats = connection.stats;
            for stream in connection.streams.values() {
                let age = now.saturating_duration_since(stream.opened);
                stats.note_age(age);
                snapshot.node.note_age(age);
                if let Some(peer) = snapshot.peers.get_mut(&connection.peer) {
                    peer.note_age(age);
                }
                if let Some(index) = stream.protocol {
                    let name = &self.protocols[index].name;
                    if let Some(protocol) = snapshot.protocols.get_mut(name) {
                        protocol.note_age(age);
                    }
                    if let Some(per_peer) = snapshot
                        .protocols_per_peer
                        .get_mut(&(connection.peer, name.clone()))
                    {
                        per_peer.note_age(age);
                    }
                }
            }
            if let Some(id) = connection.id {
                snapshot.connections.insert(
                    id,
                    ConnectionStats {
                        peer: connection.peer,
                        streams: stats,
                        outbound_blocked_for: connection
                            .blocked_since
                            .map(|since| now.saturating_duration_since(since)),
                    },
                );
            }
        }
        snapshot
    }

    fn new_stream_key(&mut self) -> StreamKey {
        let key = StreamKey(self.next_stream);
        self.next_stream += 1;
        key
    }

    fn lower_deadline(&mut self, at: Instant) {
        if self.next_deadline.is_none_or(|d| at < d) {
            self.next_deadline = Some(at);
            self.wake = true;
        }
    }

    /// The first of connection, peer and node whose limit a new stream would exceed.
    fn check_open(&self, connection: &Connection, direction: Direction) -> Option<LimitExceeded> {
        let peer = self.peers.get(&connection.peer);
        let scopes = [
            (Scope::Connection, Some(&connection.stats)),
            (Scope::Peer, peer.map(|p| &p.stats)),
            (Scope::Node, Some(&self.node)),
        ];
        scopes.into_iter().find_map(|(scope, stats)| {
            let limit = self.config.limit(scope, None).get(direction)?;
            let open = stats.map_or(0, |s| s.direction(direction).open);
            (open >= limit).then_some(LimitExceeded {
                scope,
                direction,
                limit,
                protocol: None,
            })
        })
    }

    /// Counts a refusal in the connection, its peer and the node, and queues it.
    fn count_refusal(
        &mut self,
        muxer: MuxerId,
        direction: Direction,
        error: LimitExceeded,
    ) {
        let Some(connection) = self.connections.get_mut(&muxer) else {
            return;
        };
        let peer = self.peers.entry(connection.peer).or_default();
        for stats in [&mut self.node, &mut peer.stats, &mut connection.stats] {
            stats.direction_mut(direction).refused += 1;
        }
        if self.refusals.len() == MAX_QUEUED_REFUSALS {
            self.refusals.pop_front();
            self.dropped_events += 1;
        }
        self.wake = true;
        self.refusals.push_back(Refusal {
            peer: connection.peer,
            connection: connection.id,
            error,
        });
    }

    /// Takes a closed stream off its peer, its protocol scopes and the node
    /// (its connection is the caller's).
    fn count_close(
        node: &mut ScopeStats,
        peers: &mut HashMap<PeerId, Peer>,
        protocols: &mut [Protocol],
        peer_id: PeerId,
        stream: &Stream,
    ) {
        let direction = stream.direction;
        node.direction_mut(direction).open -= 1;
        let Some(peer) = peers.get_mut(&peer_id) else {
            return;
        };
        peer.stats.direction_mut(direction).open -= 1;
        if let Some(index) = stream.protocol {
            protocols[index].stats.direction_mut(direction).open -= 1;
            if let Some(per_peer) = peer.protocols.get_mut(&index) {
                per_peer.direction_mut(direction).open -= 1;
            }
        }
    }

    /// The index of `protocol`, added if new and there is room; `None` for
    /// a name that is not a protocol.
    fn intern(&mut self, protocol: &[u8]) -> Option<ProtocolIndex> {
        let name = std::str::from_utf8(protocol).ok()?;
        if let Some(&index) = self.protocol_index.get(name) {
            return Some(index);
        }
        if self.protocols.len() == MAX_PROTOCOLS {
            return None;
        }
        let name = StreamProtocol::try_from_owned(name.to_owned()).ok()?;
        let index = self.protocols.len();
        self.protocol_index.insert(name.as_ref().into(), index);
        self.protocols.push(Protocol {
            limit: self.config.limit(Scope::Protocol, Some(&name)),
            name,
            stats: ScopeStats::default(),
        });
        Some(index)
    }
}
