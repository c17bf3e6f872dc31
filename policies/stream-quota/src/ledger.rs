//! The pure core: every stream of every wrapped connection, the limits, and
//! the starvation and leak decisions. Time is passed in; nothing here does
//! I/O, so the tests are exact.
//!
//! Memory: per connection one entry plus one per open stream (a few dozen
//! bytes each) and one per protocol it used; per connected peer one entry
//! plus one per protocol it used;
//! per protocol one entry, and at most [`MAX_PROTOCOLS`] of them, taken only
//! by protocols this node agreed to (it proposed them, or accepted them), so a
//! remote cannot grow any of this beyond the limits.
//!
//! Whether a stream is admitted is decided in one place,
//! [`admission::admit`]; this module gathers its counts and limits, and
//! counts what it decided.
//!
//! Every stream passes through here three or four times, so the hot paths
//! hash nothing a remote chose: a connection finds its peer by slot, and the
//! maps keyed by our own ids and agreed protocol names use [`IdHasher`].
//!
//! Nothing walks every connection or peer but [`Ledger::snapshot`], which a
//! caller asks for: tying a muxer to its connection looks it up by peer and
//! endpoint ([`Ledger::claim`]), and the starvation and leak checks are
//! deadlines in one ordered set, so [`Ledger::decide`] visits only the
//! connections due (and the streams it reports). Every event costs O(1) or
//! O(log n) in the number of connections.

use std::{
    collections::{hash_map::Entry, BTreeSet, HashMap, VecDeque},
    hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState},
    time::{Duration, Instant},
};

use hashbrown::HashTable;
use libp2p_core::ConnectedPoint;
use libp2p_identity::PeerId;
use libp2p_swarm::{ConnectionId, StreamProtocol};

use crate::{
    admission::{self, Stage, Tiers},
    snapshot::{ConnectionStats, DirectionStats, ScopeStats},
    Config, Direction, Limit, LimitExceeded, Snapshot,
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

/// A fast hasher for keys the node chose itself (muxer ids, protocol names
/// it agreed to), where SipHash's flooding resistance buys nothing.
#[derive(Debug, Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A stream admitted by [`Ledger::open_stream`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Opened {
    pub(crate) key: StreamKey,
    /// Streams of its direction [`admission::admit`] would still admit at
    /// [`Stage::Open`] after this one, as far as this connection alone
    /// changes the counts: its room less this stream.
    pub(crate) headroom: u32,
}

/// What [`Ledger::gauges`] reads.
#[cfg(feature = "metrics")]
#[derive(Debug, Clone)]
pub(crate) struct Gauges {
    pub(crate) node: ScopeStats,
    pub(crate) protocols: Vec<(StreamProtocol, ScopeStats)>,
    pub(crate) blocked_connections: usize,
}

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

/// A connection's open streams in the order they opened. Keys only grow, so
/// a stream is found by binary search; streams mostly close oldest first, so
/// removal moves little. It grows one stream at a time: most connections
/// hold one or two streams for long (ping's, identify's), and a doubling
/// list would keep room for four.
#[derive(Debug, Default)]
struct OpenStreams(VecDeque<(StreamKey, Stream)>);

impl OpenStreams {
    fn push(&mut self, key: StreamKey, stream: Stream) {
        self.0.reserve_exact(1);
        self.0.push_back((key, stream));
    }

    fn position(&self, key: StreamKey) -> Option<usize> {
        self.0.binary_search_by_key(&key, |(k, _)| *k).ok()
    }

    fn get_mut(&mut self, key: StreamKey) -> Option<&mut Stream> {
        let at = self.position(key)?;
        Some(&mut self.0[at].1)
    }

    fn remove(&mut self, key: StreamKey) -> Option<Stream> {
        let at = self.position(key)?;
        self.0.remove(at).map(|(_, stream)| stream)
    }

    fn values(&self) -> impl Iterator<Item = &Stream> {
        self.0.iter().map(|(_, stream)| stream)
    }

    /// Streams from `key` on, oldest first.
    fn from(&self, key: StreamKey) -> impl Iterator<Item = &(StreamKey, Stream)> {
        let at = self.0.partition_point(|(k, _)| *k < key);
        self.0.range(at..)
    }
}

/// A scope's counts as the ledger keeps them: its [`ScopeStats`] but the
/// oldest stream's age, which a snapshot reads off the open streams.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    inbound: DirectionStats,
    outbound: DirectionStats,
}

impl Counts {
    fn direction(&self, direction: Direction) -> &DirectionStats {
        match direction {
            Direction::Inbound => &self.inbound,
            Direction::Outbound => &self.outbound,
        }
    }

    fn direction_mut(&mut self, direction: Direction) -> &mut DirectionStats {
        match direction {
            Direction::Inbound => &mut self.inbound,
            Direction::Outbound => &mut self.outbound,
        }
    }

    fn stats(self) -> ScopeStats {
        ScopeStats {
            inbound: self.inbound,
            outbound: self.outbound,
            oldest_open: None,
        }
    }
}

/// One scope's counts per protocol, for a connection or a peer: a handful
/// of protocols each, so a list, grown one entry at a time (every
/// connection and peer has one, and a doubling list would keep room for
/// protocols most never use).
#[derive(Debug, Default)]
struct PerProtocol(Vec<(ProtocolIndex, Counts)>);

impl PerProtocol {
    /// Its counts of `index`, added if new.
    fn get_mut(&mut self, index: ProtocolIndex) -> &mut Counts {
        let at = match self.0.iter().position(|(i, _)| *i == index) {
            Some(at) => at,
            None => {
                self.0.reserve_exact(1);
                self.0.push((index, Counts::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[at].1
    }

    fn iter(&self) -> impl Iterator<Item = &(ProtocolIndex, Counts)> {
        self.0.iter()
    }
}

/// One wrapped muxer. Its peer is named once, in its [`Peer`]: a connection
/// keeps the slot.
#[derive(Debug)]
struct Connection {
    /// Its peer's index in [`Ledger::peers`].
    peer_slot: usize,
    endpoint: ConnectedPoint,
    id: Option<ConnectionId>,
    stats: Counts,
    /// Per protocol its streams used.
    protocols: PerProtocol,
    streams: OpenStreams,
    blocked_since: Option<Instant>,
    starvation_reported: bool,
    /// Its starvation check in [`Ledger::due`], if one is set.
    starvation_due: Option<Instant>,
    /// Streams before this one were judged for leaks already.
    leak_cursor: StreamKey,
    /// Its leak check in [`Ledger::due`], if one is set: at or before the
    /// first stream from `leak_cursor` on becomes a leak (early when that
    /// stream closed since, never late).
    leak_due: Option<Instant>,
}

/// What a deadline in [`Ledger::due`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Check {
    /// Whether the connection's blocked outbound open is starvation.
    Starvation,
    /// Which of the connection's streams are leaks.
    Leak,
}

#[derive(Debug)]
struct Peer {
    id: PeerId,
    stats: Counts,
    connections: usize,
    /// Per protocol it used.
    protocols: PerProtocol,
}

#[derive(Debug)]
struct Protocol {
    name: StreamProtocol,
    /// Its limits at [`Stage::Negotiated`], looked up once.
    limits: Tiers<Limit>,
    stats: Counts,
}

/// The accounting of every wrapped connection of one node.
#[derive(Debug)]
pub(crate) struct Ledger {
    config: Config,
    /// The limits at [`Stage::Open`], looked up once.
    open_limits: Tiers<Limit>,
    node: Counts,
    /// Boxed: a map's spare slots then cost a pointer each, not a connection.
    connections: IdMap<MuxerId, Box<Connection>>,
    /// The muxers not tied to a swarm connection yet, by peer and endpoint,
    /// oldest first: what [`Ledger::claim`] looks up.
    untied: HashMap<(PeerId, ConnectedPoint), VecDeque<MuxerId>>,
    /// Connected peers, by slot; `None` is a free slot.
    peers: Vec<Option<Peer>>,
    free_peer_slots: Vec<usize>,
    /// The slot of each connected peer, found by the hash of its id and
    /// checked against the id in the slot: a map keyed by `PeerId` would
    /// keep a second copy of every id, and room for more.
    peer_slots: HashTable<usize>,
    /// Keyed per node: peers choose their ids.
    peer_hasher: RandomState,
    protocols: Vec<Protocol>,
    protocol_index: IdMap<Box<str>, ProtocolIndex>,
    /// The protocol attributed last.
    last_protocol: Option<ProtocolIndex>,
    next_muxer: u64,
    next_stream: u64,
    refusals: VecDeque<Refusal>,
    dropped_events: u64,
    /// Every connection's pending checks, soonest first; each connection has
    /// at most one of each [`Check`] here (its `starvation_due`, `leak_due`).
    /// No decision is due before the first; it may be early, never late.
    due: BTreeSet<(Instant, MuxerId, Check)>,
    /// Connections with an outbound open blocked now.
    blocked: usize,
    /// A refusal was queued or the deadline moved earlier since the
    /// behaviour last looked.
    wake: bool,
    /// Entries [`Ledger::claim`] and [`Ledger::decide`] looked at: what the
    /// cost tests count.
    #[cfg(test)]
    pub(crate) scanned: u64,
}

impl Ledger {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            open_limits: config.stage_limits(Stage::Open, None),
            config,
            node: Counts::default(),
            connections: IdMap::default(),
            untied: HashMap::new(),
            peers: Vec::new(),
            free_peer_slots: Vec::new(),
            peer_slots: HashTable::new(),
            peer_hasher: RandomState::new(),
            protocols: Vec::new(),
            protocol_index: IdMap::default(),
            last_protocol: None,
            next_muxer: 0,
            next_stream: 0,
            refusals: VecDeque::new(),
            dropped_events: 0,
            due: BTreeSet::new(),
            blocked: 0,
            wake: false,
            #[cfg(test)]
            scanned: 0,
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
        let hash = self.peer_hasher.hash_one(peer);
        let peers = &self.peers;
        let found = (self.peer_slots).find(hash, |&slot| slot_holds(peers, slot, &peer));
        let peer_slot = match found {
            Some(&slot) => slot,
            None => {
                let entry = Some(Peer {
                    id: peer,
                    stats: Counts::default(),
                    connections: 0,
                    protocols: PerProtocol::default(),
                });
                let slot = match self.free_peer_slots.pop() {
                    Some(slot) => {
                        self.peers[slot] = entry;
                        slot
                    }
                    None => {
                        self.peers.push(entry);
                        self.peers.len() - 1
                    }
                };
                let (peers, hasher) = (&self.peers, &self.peer_hasher);
                // Every slot in the index holds its peer (freed as it goes).
                (self.peer_slots).insert_unique(hash, slot, |&slot| {
                    let peer = peers.get(slot).and_then(Option::as_ref);
                    peer.map_or(0, |p| hasher.hash_one(p.id))
                });
                slot
            }
        };
        self.peer_mut(peer_slot).connections += 1;
        // Muxer ids only grow: pushed at the back, the oldest is in front.
        (self.untied.entry((peer, endpoint.clone())))
            .or_default()
            .push_back(id);
        self.connections.insert(
            id,
            Box::new(Connection {
                peer_slot,
                endpoint,
                id: None,
                stats: Counts::default(),
                protocols: PerProtocol::default(),
                streams: OpenStreams::default(),
                blocked_since: None,
                starvation_reported: false,
                starvation_due: None,
                leak_cursor: StreamKey(0),
                leak_due: None,
            }),
        );
        id
    }

    /// The swarm established `connection` to `peer` at `endpoint`: ties it
    /// to the oldest muxer of that peer and endpoint not tied yet. `false`
    /// when there is none (the transport is not wrapped).
    ///
    /// O(1): one lookup by peer and endpoint. The checks due while it was
    /// untied (its starvation, its leaks) are set again now that it can be
    /// named.
    pub(crate) fn claim(
        &mut self,
        peer: PeerId,
        endpoint: &ConnectedPoint,
        connection: ConnectionId,
    ) -> bool {
        let Entry::Occupied(mut untied) = self.untied.entry((peer, endpoint.clone())) else {
            return false;
        };
        let muxer = untied.get_mut().pop_front().expect("no empty entries");
        if untied.get().is_empty() {
            untied.remove();
        }
        #[cfg(test)]
        {
            self.scanned += 1;
        }
        let Some(c) = self.connections.get_mut(&muxer) else {
            return false;
        };
        c.id = Some(connection);
        if let (Some(since), false) = (c.blocked_since, c.starvation_reported) {
            let at = since + self.config.starvation_threshold;
            self.wake |= schedule(
                &mut self.due,
                muxer,
                Check::Starvation,
                &mut c.starvation_due,
                Some(at),
            );
        }
        if let Some(leak) = self.config.leak_threshold {
            let first = c.streams.from(c.leak_cursor).next();
            let at = first.map(|(_, stream)| stream.opened + leak);
            self.wake |= schedule(&mut self.due, muxer, Check::Leak, &mut c.leak_due, at);
        }
        true
    }

    /// The peers with a connection, who share the node-wide scopes.
    fn peers_connected(&self) -> u32 {
        u32::try_from(self.peer_slots.len()).unwrap_or(u32::MAX)
    }

    /// The muxer was dropped: its streams are gone with it.
    pub(crate) fn remove_connection(&mut self, muxer: MuxerId) {
        let Some(mut connection) = self.connections.remove(&muxer) else {
            return;
        };
        for stream in connection.streams.values() {
            self.count_close(connection.peer_slot, stream);
        }
        for (check, due) in [
            (Check::Starvation, &mut connection.starvation_due),
            (Check::Leak, &mut connection.leak_due),
        ] {
            schedule(&mut self.due, muxer, check, due, None);
        }
        if connection.blocked_since.is_some() {
            self.blocked -= 1;
        }
        let peer_id = self.peer(connection.peer_slot).id;
        if connection.id.is_none() {
            if let Entry::Occupied(mut untied) = (self.untied).entry((peer_id, connection.endpoint))
            {
                untied.get_mut().retain(|m| *m != muxer);
                if untied.get().is_empty() {
                    untied.remove();
                }
            }
        }
        let peer = self.peer_mut(connection.peer_slot);
        peer.connections -= 1;
        if peer.connections == 0 {
            let slot = connection.peer_slot;
            let hash = self.peer_hasher.hash_one(peer_id);
            if let Ok(entry) = self.peer_slots.find_entry(hash, |&s| s == slot) {
                entry.remove();
            }
            self.peers[slot] = None;
            self.free_peer_slots.push(slot);
        }
    }

    /// Whether an outbound stream on `muxer` would be admitted now, checked
    /// before the muxer is asked for one so that a refused open costs the
    /// transport nothing: its room at [`Stage::Open`] (at least 1), or the
    /// refusal, counted and queued.
    pub(crate) fn admit_outbound(&mut self, muxer: MuxerId) -> Result<u32, LimitExceeded> {
        let peers = self.peers_connected();
        let Some(connection) = self.connections.get(&muxer) else {
            return Ok(u32::MAX);
        };
        let peer = self.peer(connection.peer_slot);
        let direction = Direction::Outbound;
        let open = open_counts(&connection.stats, &peer.stats, &self.node, direction);
        admission::admit(Stage::Open, direction, open, self.open_limits, peers, None).inspect_err(
            |refusal| {
                self.count_refusal(muxer, direction, refusal.clone());
            },
        )
    }

    /// A stream was opened on `muxer` at `now`, unless a limit refuses it
    /// (counted and queued).
    pub(crate) fn open_stream(
        &mut self,
        muxer: MuxerId,
        direction: Direction,
        now: Instant,
    ) -> Result<Opened, LimitExceeded> {
        let key = StreamKey(self.next_stream);
        let peers = self.peers_connected();
        let Some(connection) = self.connections.get_mut(&muxer) else {
            // The muxer outlived its entry: never the case, but never a panic.
            self.next_stream += 1;
            return Ok(Opened {
                key,
                headroom: u32::MAX,
            });
        };
        let peer = self.peers[connection.peer_slot]
            .as_mut()
            .expect("a connection's peer has a slot");
        let open = open_counts(&connection.stats, &peer.stats, &self.node, direction);
        let headroom =
            match admission::admit(Stage::Open, direction, open, self.open_limits, peers, None) {
                Ok(room) => room - 1,
                Err(refusal) => {
                    self.count_refusal(muxer, direction, refusal.clone());
                    return Err(refusal);
                }
            };
        self.next_stream += 1;
        for stats in [&mut self.node, &mut peer.stats, &mut connection.stats] {
            let stats = stats.direction_mut(direction);
            stats.open += 1;
            stats.opened += 1;
        }
        connection.streams.push(
            key,
            Stream {
                direction,
                protocol: None,
                opened: now,
            },
        );
        // A connection's streams are judged oldest first: a check is set
        // already for an older one, unless this is the first.
        if let (Some(threshold), None) = (self.config.leak_threshold, connection.leak_due) {
            let at = Some(now + threshold);
            self.wake |= schedule(
                &mut self.due,
                muxer,
                Check::Leak,
                &mut connection.leak_due,
                at,
            );
        }
        Ok(Opened { key, headroom })
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
        let peers = self.peers_connected();
        let Some(connection) = self.connections.get_mut(&muxer) else {
            return Ok(());
        };
        let Some(stream) = connection.streams.get_mut(key) else {
            return Ok(());
        };
        let direction = stream.direction;
        let peer = self.peers[connection.peer_slot]
            .as_mut()
            .expect("a connection's peer has a slot");
        let protocol = &mut self.protocols[index];
        let scopes = [
            connection.protocols.get_mut(index),
            peer.protocols.get_mut(index),
            &mut protocol.stats,
        ];
        let [on_connection, for_peer, on_node] =
            scopes.each_ref().map(|s| s.direction(direction).open);
        let open = Tiers {
            connection: on_connection,
            peer: for_peer,
            node: on_node,
        };
        let judged = admission::admit(
            Stage::Negotiated,
            direction,
            open,
            protocol.limits,
            peers,
            Some(&protocol.name),
        );
        if let Err(refusal) = judged {
            for stats in scopes {
                stats.direction_mut(direction).refused += 1;
            }
            let stream = connection.streams.remove(key).expect("found above");
            connection.stats.direction_mut(direction).open -= 1;
            let peer_slot = connection.peer_slot;
            self.count_close(peer_slot, &stream);
            self.count_refusal(muxer, direction, refusal.clone());
            return Err(refusal);
        }
        for stats in scopes {
            let stats = stats.direction_mut(direction);
            stats.open += 1;
            stats.opened += 1;
        }
        stream.protocol = Some(index);
        Ok(())
    }

    /// The stream was dropped.
    pub(crate) fn close_stream(&mut self, muxer: MuxerId, key: StreamKey) {
        let Some(connection) = self.connections.get_mut(&muxer) else {
            return;
        };
        let Some(stream) = connection.streams.remove(key) else {
            return;
        };
        connection.stats.direction_mut(stream.direction).open -= 1;
        if let Some(index) = stream.protocol {
            (connection.protocols.get_mut(index))
                .direction_mut(stream.direction)
                .open -= 1;
        }
        let peer_slot = connection.peer_slot;
        self.count_close(peer_slot, &stream);
    }

    /// An outbound open on `muxer` has been waiting since `since`.
    pub(crate) fn outbound_blocked(&mut self, muxer: MuxerId, since: Instant) {
        if let Some(connection) = self.connections.get_mut(&muxer) {
            if connection.blocked_since.is_none() {
                self.blocked += 1;
            }
            connection.blocked_since = Some(since);
            connection.starvation_reported = false;
            let at = Some(since + self.config.starvation_threshold);
            let due = &mut connection.starvation_due;
            self.wake |= schedule(&mut self.due, muxer, Check::Starvation, due, at);
        }
    }

    /// The open on `muxer` completed, or was given up.
    pub(crate) fn outbound_unblocked(&mut self, muxer: MuxerId) {
        if let Some(connection) = self.connections.get_mut(&muxer) {
            if connection.blocked_since.take().is_some() {
                self.blocked -= 1;
            }
            let due = &mut connection.starvation_due;
            schedule(&mut self.due, muxer, Check::Starvation, due, None);
        }
    }

    /// When [`Ledger::decide`] is next due, if ever: O(log n).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.due.first().map(|(at, _, _)| *at)
    }

    /// Starvation and leaks due at `now`, each reported once. Visits only
    /// the checks due, and of a connection's streams those it reports and
    /// the next one: O(log n) per check.
    pub(crate) fn decide(&mut self, now: Instant) -> Vec<Decision> {
        let mut decisions = Vec::new();
        let mut scanned = 0;
        while let Some(&(at, muxer, check)) = self.due.first() {
            if at > now {
                break;
            }
            self.due.pop_first();
            scanned += 1;
            let Some(connection) = self.connections.get_mut(&muxer) else {
                continue;
            };
            match check {
                Check::Starvation => connection.starvation_due = None,
                Check::Leak => connection.leak_due = None,
            }
            // Not tied to a swarm connection yet: checked again once it is.
            let Some(id) = connection.id else {
                continue;
            };
            match check {
                Check::Starvation => {
                    let Some(since) = connection.blocked_since else {
                        continue;
                    };
                    if !connection.starvation_reported {
                        connection.starvation_reported = true;
                        decisions.push(Decision::Starved {
                            peer: peer_id(&self.peers, connection.peer_slot),
                            connection: id,
                            endpoint: connection.endpoint.clone(),
                            blocked_for: now - since,
                        });
                    }
                }
                Check::Leak => {
                    let Some(leak) = self.config.leak_threshold else {
                        continue;
                    };
                    let mut next = None;
                    for (key, stream) in connection.streams.from(connection.leak_cursor) {
                        scanned += 1;
                        if stream.opened + leak > now {
                            next = Some(stream.opened + leak);
                            break;
                        }
                        connection.leak_cursor = StreamKey(key.0 + 1);
                        decisions.push(Decision::Leaked {
                            peer: peer_id(&self.peers, connection.peer_slot),
                            connection: id,
                            protocol: stream.protocol.map(|i| self.protocols[i].name.clone()),
                            direction: stream.direction,
                            age: now - stream.opened,
                        });
                    }
                    // Later than every check left: no wake needed.
                    schedule(&mut self.due, muxer, check, &mut connection.leak_due, next);
                }
            }
        }
        #[cfg(test)]
        {
            self.scanned += scanned;
        }
        let _ = scanned;
        decisions
    }

    /// What a metrics scrape reads, without a [`Snapshot`]'s maps of every
    /// peer and connection: the node's counts, each protocol's (the oldest
    /// open stream's age in the node's only), and the connections blocked now.
    #[cfg(feature = "metrics")]
    pub(crate) fn gauges(&self, now: Instant) -> Gauges {
        let mut node = self.node.stats();
        for connection in self.connections.values() {
            for stream in connection.streams.values() {
                node.note_age(now.saturating_duration_since(stream.opened));
            }
        }
        Gauges {
            node,
            protocols: (self.protocols.iter())
                .map(|p| (p.name.clone(), p.stats.stats()))
                .collect(),
            blocked_connections: self.blocked,
        }
    }

    /// The refusals queued since the last call.
    pub(crate) fn take_refusals(&mut self) -> impl Iterator<Item = Refusal> + '_ {
        self.refusals.drain(..)
    }

    /// Every scope's counts at `now`.
    pub(crate) fn snapshot(&self, now: Instant) -> Snapshot {
        let mut snapshot = Snapshot {
            node: self.node.stats(),
            dropped_events: self.dropped_events,
            ..Snapshot::default()
        };
        for peer in self.peers.iter().flatten() {
            snapshot.peers.insert(peer.id, peer.stats.stats());
            for (index, counts) in peer.protocols.iter() {
                snapshot.protocols_per_peer.insert(
                    (peer.id, self.protocols[*index].name.clone()),
                    counts.stats(),
                );
            }
        }
        for protocol in &self.protocols {
            snapshot
                .protocols
                .insert(protocol.name.clone(), protocol.stats.stats());
        }
        for connection in self.connections.values() {
            let peer_id = self.peer(connection.peer_slot).id;
            let mut stats = connection.stats.stats();
            let mut per_protocol: Vec<(ProtocolIndex, ScopeStats)> = match connection.id {
                Some(_) => (connection.protocols.iter())
                    .map(|(index, counts)| (*index, counts.stats()))
                    .collect(),
                None => Vec::new(),
            };
            for stream in connection.streams.values() {
                let age = now.saturating_duration_since(stream.opened);
                stats.note_age(age);
                snapshot.node.note_age(age);
                if let Some(peer) = snapshot.peers.get_mut(&peer_id) {
                    peer.note_age(age);
                }
                if let Some(index) = stream.protocol {
                    if let Some((_, stats)) = per_protocol.iter_mut().find(|(i, _)| *i == index) {
                        stats.note_age(age);
                    }
                    let name = &self.protocols[index].name;
                    if let Some(protocol) = snapshot.protocols.get_mut(name) {
                        protocol.note_age(age);
                    }
                    if let Some(per_peer) = snapshot
                        .protocols_per_peer
                        .get_mut(&(peer_id, name.clone()))
                    {
                        per_peer.note_age(age);
                    }
                }
            }
            if let Some(id) = connection.id {
                for (index, stats) in per_protocol {
                    snapshot
                        .protocols_per_connection
                        .insert((id, self.protocols[index].name.clone()), stats);
                }
                snapshot.connections.insert(
                    id,
                    ConnectionStats {
                        peer: peer_id,
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

    fn peer(&self, slot: usize) -> &Peer {
        peer(&self.peers, slot)
    }

    fn peer_mut(&mut self, slot: usize) -> &mut Peer {
        self.peers[slot]
            .as_mut()
            .expect("a connection's peer has a slot")
    }

    /// Counts a refusal in the connection, its peer and the node, and queues it.
    fn count_refusal(&mut self, muxer: MuxerId, direction: Direction, error: LimitExceeded) {
        let Some(connection) = self.connections.get_mut(&muxer) else {
            return;
        };
        let peer = self.peers[connection.peer_slot]
            .as_mut()
            .expect("a connection's peer has a slot");
        for stats in [&mut self.node, &mut peer.stats, &mut connection.stats] {
            stats.direction_mut(direction).refused += 1;
        }
        if self.refusals.len() == MAX_QUEUED_REFUSALS {
            self.refusals.pop_front();
            self.dropped_events += 1;
        }
        self.wake = true;
        self.refusals.push_back(Refusal {
            peer: peer.id,
            connection: connection.id,
            error,
        });
    }

    /// Takes a closed stream off its peer, its protocol scopes and the node
    /// (its connection is the caller's).
    fn count_close(&mut self, peer_slot: usize, stream: &Stream) {
        let direction = stream.direction;
        self.node.direction_mut(direction).open -= 1;
        let peer = self.peers[peer_slot]
            .as_mut()
            .expect("a connection's peer has a slot");
        peer.stats.direction_mut(direction).open -= 1;
        if let Some(index) = stream.protocol {
            self.protocols[index].stats.direction_mut(direction).open -= 1;
            peer.protocols.get_mut(index).direction_mut(direction).open -= 1;
        }
    }

    /// The index of `protocol`, added if new and there is room; `None` for
    /// a name that is not a protocol.
    fn intern(&mut self, protocol: &[u8]) -> Option<ProtocolIndex> {
        // Streams of one protocol tend to come in runs.
        if let Some(last) = self.last_protocol {
            if self.protocols[last].name.as_ref().as_bytes() == protocol {
                return Some(last);
            }
        }
        let index = self.intern_by_name(protocol)?;
        self.last_protocol = Some(index);
        Some(index)
    }

    fn intern_by_name(&mut self, protocol: &[u8]) -> Option<ProtocolIndex> {
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
            limits: self.config.stage_limits(Stage::Negotiated, Some(&name)),
            name,
            stats: Counts::default(),
        });
        Some(index)
    }
}

/// Moves `muxer`'s `check` in `due` from `*slot` to `at` (`None`: off).
/// `true` when it became the first deadline, which the behaviour must hear
/// of; a deadline removed or put later needs no wake (the behaviour's timer
/// may fire early, never late).
fn schedule(
    due: &mut BTreeSet<(Instant, MuxerId, Check)>,
    muxer: MuxerId,
    check: Check,
    slot: &mut Option<Instant>,
    at: Option<Instant>,
) -> bool {
    if *slot == at {
        return false;
    }
    if let Some(old) = slot.take() {
        due.remove(&(old, muxer, check));
    }
    let Some(at) = at else {
        return false;
    };
    *slot = Some(at);
    let first = due.first().is_none_or(|(first, _, _)| at < *first);
    due.insert((at, muxer, check));
    first
}

/// The open streams of `direction` in the scopes [`Stage::Open`] checks.
#[inline]
/// The peer in `slot`, which a connection's `peer_slot` always names.
fn peer(peers: &[Option<Peer>], slot: usize) -> &Peer {
    peers[slot]
        .as_ref()
        .expect("a connection's peer has a slot")
}

fn slot_holds(peers: &[Option<Peer>], slot: usize, id: &PeerId) -> bool {
    peers
        .get(slot)
        .and_then(Option::as_ref)
        .is_some_and(|p| p.id == *id)
}

fn peer_id(peers: &[Option<Peer>], slot: usize) -> PeerId {
    peer(peers, slot).id
}

fn open_counts(
    connection: &Counts,
    peer: &Counts,
    node: &Counts,
    direction: Direction,
) -> Tiers<u32> {
    Tiers {
        connection: connection.direction(direction).open,
        peer: peer.direction(direction).open,
        node: node.direction(direction).open,
    }
}

#[cfg(test)]
mod tests {
    use libp2p_core::{transport::PortUse, Endpoint};

    use super::*;
    use crate::{DirectionStats, Scope};

    const ECHO: &[u8] = b"/echo/1";
    const CHAT: &[u8] = b"/chat/1";

    fn dialer(port: u16) -> ConnectedPoint {
        ConnectedPoint::Dialer {
            address: format!("/ip4/127.0.0.1/udp/{port}/quic-v1")
                .parse()
                .unwrap(),
            role_override: Endpoint::Dialer,
            port_use: PortUse::Reuse,
        }
    }

    /// A ledger with one claimed connection to one peer.
    fn ledger_with(config: Config) -> (Ledger, PeerId, MuxerId, ConnectionId) {
        let mut ledger = Ledger::new(config);
        let peer = PeerId::random();
        let muxer = ledger.add_connection(peer, dialer(1));
        let id = ConnectionId::new_unchecked(1);
        assert!(ledger.claim(peer, &dialer(1), id));
        (ledger, peer, muxer, id)
    }

    fn open(ledger: &mut Ledger, muxer: MuxerId, direction: Direction, now: Instant) -> StreamKey {
        ledger
            .open_stream(muxer, direction, now)
            .expect("admitted")
            .key
    }

    #[test]
    fn every_scope_counts_open_and_cumulative_per_direction() {
        let (mut ledger, peer, muxer, id) = ledger_with(Config::default());
        let now = Instant::now();
        let a = open(&mut ledger, muxer, Direction::Inbound, now);
        let b = open(&mut ledger, muxer, Direction::Outbound, now);
        ledger.attribute(muxer, a, ECHO).unwrap();
        ledger.attribute(muxer, b, CHAT).unwrap();
        ledger.close_stream(muxer, a);

        let snapshot = ledger.snapshot(now);
        let expected_in = DirectionStats {
            open: 0,
            opened: 1,
            refused: 0,
        };
        let expected_out = DirectionStats {
            open: 1,
            opened: 1,
            refused: 0,
        };
        for stats in [
            snapshot.node,
            snapshot.peers[&peer],
            snapshot.connections[&id].streams,
        ] {
            assert_eq!((stats.inbound, stats.outbound), (expected_in, expected_out));
        }
        let echo = StreamProtocol::new("/echo/1");
        let chat = StreamProtocol::new("/chat/1");
        assert_eq!(snapshot.protocols[&echo].inbound, expected_in);
        assert_eq!(snapshot.protocols[&chat].outbound, expected_out);
        assert_eq!(
            snapshot.protocols_per_peer[&(peer, chat)].outbound,
            expected_out
        );
        // Closing twice, or a stream never known, changes nothing.
        ledger.close_stream(muxer, a);
        assert_eq!(ledger.snapshot(now).node.inbound, expected_in);
    }

    #[test]
    fn headroom_is_the_room_left_in_the_fullest_scope() {
        let config = Config::default()
            .with_limit(Scope::Connection, Limit::new(8, 3))
            .with_limit(Scope::Peer, Limit::new(8, 5));
        let (mut ledger, peer, muxer, _) = ledger_with(config);
        let other = ledger.add_connection(peer, dialer(2));
        let now = Instant::now();
        assert_eq!(ledger.admit_outbound(muxer), Ok(3));
        let opened = ledger.open_stream(muxer, Direction::Outbound, now).unwrap();
        assert_eq!(opened.headroom, 2);
        for _ in 0..3 {
            ledger.open_stream(other, Direction::Outbound, now).unwrap();
        }
        // The peer has one slot left, whatever the connection has.
        assert_eq!(ledger.admit_outbound(muxer), Ok(1));
        let opened = ledger.open_stream(muxer, Direction::Outbound, now).unwrap();
        assert_eq!(opened.headroom, 0);
        assert_eq!(
            ledger.admit_outbound(muxer).map_err(|r| r.scope),
            Err(Scope::Peer)
        );
    }

    #[test]
    fn the_narrowest_full_scope_refuses_and_every_scope_counts_it() {
        let config = Config::default()
            .with_limit(Scope::Connection, Limit::new(2, 8))
            .with_limit(Scope::Peer, Limit::new(3, 8));
        let (mut ledger, peer, first, id) = ledger_with(config);
        let second = ledger.add_connection(peer, dialer(2));
        let now = Instant::now();
        open(&mut ledger, first, Direction::Inbound, now);
        open(&mut ledger, first, Direction::Inbound, now);
        let refused = ledger
            .open_stream(first, Direction::Inbound, now)
            .unwrap_err();
        assert_eq!((refused.scope, refused.limit), (Scope::Connection, 2));
        // The other connection has room, the peer one more.
        open(&mut ledger, second, Direction::Inbound, now);
        let refused = ledger
            .open_stream(second, Direction::Inbound, now)
            .unwrap_err();
        assert_eq!((refused.scope, refused.limit), (Scope::Peer, 3));
        // Outbound is limited apart.
        open(&mut ledger, first, Direction::Outbound, now);

        let snapshot = ledger.snapshot(now);
        assert_eq!(
            snapshot.node.inbound,
            DirectionStats {
                open: 3,
                opened: 3,
                refused: 2
            }
        );
        assert_eq!(snapshot.connections[&id].streams.inbound.refused, 1);
        let refusals: Vec<_> = ledger.take_refusals().collect();
        assert_eq!(refusals.len(), 2);
        assert_eq!(refusals[0].connection, Some(id));
        assert_eq!(
            refusals[1].connection, None,
            "the second muxer is not claimed"
        );
        assert!(ledger.take_wake());
    }

    #[test]
    fn the_node_limit_spans_peers() {
        let config = Config::default().with_limit(Scope::Node, Limit::new(8, 1));
        let (mut ledger, _, muxer, _) = ledger_with(config);
        let other = ledger.add_connection(PeerId::random(), dialer(2));
        open(&mut ledger, muxer, Direction::Outbound, Instant::now());
        let refused = ledger.admit_outbound(other).expect_err("node full");
        assert_eq!(
            (refused.scope, refused.direction),
            (Scope::Node, Direction::Outbound)
        );
        assert_eq!(
            ledger.admit_outbound(muxer).map_err(|r| r.scope),
            Err(Scope::Node)
        );
    }

    #[test]
    fn a_full_protocol_scope_refuses_at_negotiation_and_frees_the_stream() {
        let echo = StreamProtocol::new("/echo/1");
        let config = Config::default()
            .with_protocol_limit(echo.clone(), Limit::new(1, 8))
            .with_limit(Scope::ProtocolPerPeer, Limit::new(8, 1));
        let (mut ledger, peer, muxer, id) = ledger_with(config);
        let now = Instant::now();
        let first = open(&mut ledger, muxer, Direction::Inbound, now);
        ledger.attribute(muxer, first, ECHO).unwrap();
        let second = open(&mut ledger, muxer, Direction::Inbound, now);
        let refused = ledger.attribute(muxer, second, ECHO).unwrap_err();
        assert_eq!(
            refused,
            LimitExceeded {
                scope: Scope::Protocol,
                direction: Direction::Inbound,
                limit: 1,
                protocol: Some(echo.clone()),
                share: None,
            }
        );
        // Other protocols are not limited by it.
        let chat = open(&mut ledger, muxer, Direction::Inbound, now);
        ledger.attribute(muxer, chat, CHAT).unwrap();
        // Per peer, outbound: one chat stream at most.
        let out = open(&mut ledger, muxer, Direction::Outbound, now);
        ledger.attribute(muxer, out, CHAT).unwrap();
        let out = open(&mut ledger, muxer, Direction::Outbound, now);
        let refused = ledger.attribute(muxer, out, CHAT).unwrap_err();
        assert_eq!(refused.scope, Scope::ProtocolPerPeer);

        let snapshot = ledger.snapshot(now);
        assert_eq!(
            snapshot.protocols[&echo].inbound,
            DirectionStats {
                open: 1,
                opened: 1,
                refused: 1
            }
        );
        assert_eq!(
            snapshot.protocols_per_peer[&(peer, echo.clone())]
                .inbound
                .refused,
            1
        );
        let connection = snapshot.connections[&id].streams;
        assert_eq!(
            connection.inbound,
            DirectionStats {
                open: 2,
                opened: 3,
                refused: 1
            }
        );
        assert_eq!(
            connection.outbound,
            DirectionStats {
                open: 1,
                opened: 2,
                refused: 1
            }
        );
        // The refused stream's drop is a no-op; the first one's frees the slot.
        ledger.close_stream(muxer, second);
        ledger.close_stream(muxer, first);
        let again = open(&mut ledger, muxer, Direction::Inbound, now);
        ledger.attribute(muxer, again, ECHO).unwrap();
    }

    /// The standard protocols a node holds one stream of per connection,
    /// each way (identify's push is one of them, as kad and gossipsub keep
    /// theirs).
    const STANDARD: [&[u8]; 4] = [
        b"/ipfs/ping/1.0.0",
        b"/ipfs/id/1.0.0",
        b"/ipfs/kad/1.0.0",
        b"/meshsub/1.1.0",
    ];

    /// `connections` connections, each to its own peer, each holding one
    /// inbound and one outbound stream of each standard protocol: every one
    /// admitted at open and at negotiation, and every count exact.
    /// `connections` connections, to a new peer each or all to one, each
    /// holding one stream of every standard protocol each way.
    fn hold_the_standard_streams(
        ledger: &mut Ledger,
        connections: u32,
        one_peer: bool,
        now: Instant,
    ) {
        let only = PeerId::random();
        for port in 0..connections {
            let peer = if one_peer { only } else { PeerId::random() };
            let muxer = ledger.add_connection(peer, dialer(port as u16));
            for protocol in STANDARD {
                for direction in [Direction::Inbound, Direction::Outbound] {
                    if direction == Direction::Outbound {
                        assert!(ledger.admit_outbound(muxer).is_ok());
                    }
                    let key = ledger
                        .open_stream(muxer, direction, now)
                        .unwrap_or_else(|e| panic!("connection {port}: {e}"))
                        .key;
                    ledger
                        .attribute(muxer, key, protocol)
                        .unwrap_or_else(|e| panic!("connection {port}: {e}"));
                }
            }
        }
        let snapshot = ledger.snapshot(now);
        let per_direction = |open: u32| DirectionStats {
            open,
            opened: u64::from(open),
            refused: 0,
        };
        let streams = connections * STANDARD.len() as u32;
        assert_eq!(snapshot.node.inbound, per_direction(streams));
        assert_eq!(snapshot.node.outbound, per_direction(streams));
        for protocol in STANDARD {
            let name =
                StreamProtocol::try_from_owned(String::from_utf8(protocol.to_vec()).unwrap())
                    .unwrap();
            let stats = snapshot.protocols[&name];
            assert_eq!(stats.inbound, per_direction(connections));
            assert_eq!(stats.outbound, per_direction(connections));
        }
        assert_eq!(ledger.take_refusals().count(), 0);
    }

    #[test]
    fn twenty_thousand_connections_holding_the_standard_streams_are_all_admitted_at_the_defaults() {
        let mut ledger = Ledger::new(Config::default());
        hold_the_standard_streams(&mut ledger, 20_000, false, Instant::now());
    }

    #[test]
    fn one_peers_many_connections_holding_the_standard_streams_are_all_admitted_at_the_defaults() {
        let mut ledger = Ledger::new(Config::default());
        hold_the_standard_streams(&mut ledger, 4_000, true, Instant::now());
    }

    #[test]
    fn a_node_limit_sized_for_the_connections_holds_all_their_streams() {
        const CONNECTIONS: u32 = 20_000;
        let per_connection = Limit::new(STANDARD.len() as u32, STANDARD.len() as u32);
        let config = Config::default()
            .with_limit(Scope::Node, per_connection.for_connections(CONNECTIONS))
            .with_limit(Scope::Protocol, Limit::new(1, 1).times(CONNECTIONS));
        let mut ledger = Ledger::new(config);
        let now = Instant::now();
        hold_the_standard_streams(&mut ledger, CONNECTIONS, false, now);
        // Each protocol's node limit is full: the next connection's stream
        // of one is one too many.
        let one_more = ledger.add_connection(PeerId::random(), dialer(1));
        let key = ledger
            .open_stream(one_more, Direction::Inbound, now)
            .expect("the node keeps room past what it was sized for")
            .key;
        let refused = ledger.attribute(one_more, key, STANDARD[0]).unwrap_err();
        assert_eq!(
            (refused.scope, refused.limit),
            (Scope::Protocol, CONNECTIONS)
        );
    }

    #[test]
    fn a_protocol_per_connection_limit_leaves_the_peers_other_connections_alone() {
        let echo = StreamProtocol::new("/echo/1");
        let config = Config::default()
            .with_limit(Scope::ProtocolPerConnection, Limit::new(1, 2))
            .with_protocol_limit_per_connection(StreamProtocol::new("/chat/1"), Limit::new(3, 3));
        let (mut ledger, peer, first, id) = ledger_with(config);
        let second = ledger.add_connection(peer, dialer(2));
        let now = Instant::now();
        let held = open(&mut ledger, first, Direction::Inbound, now);
        ledger.attribute(first, held, ECHO).unwrap();
        let extra = open(&mut ledger, first, Direction::Inbound, now);
        assert_eq!(
            ledger.attribute(first, extra, ECHO),
            Err(LimitExceeded {
                scope: Scope::ProtocolPerConnection,
                direction: Direction::Inbound,
                limit: 1,
                protocol: Some(echo.clone()),
                share: None,
            })
        );
        // The same peer's other connection, the other direction, and a
        // protocol with its own limit still have room.
        let elsewhere = open(&mut ledger, second, Direction::Inbound, now);
        ledger.attribute(second, elsewhere, ECHO).unwrap();
        for _ in 0..2 {
            let out = open(&mut ledger, first, Direction::Outbound, now);
            ledger.attribute(first, out, ECHO).unwrap();
        }
        for _ in 0..3 {
            let chat = open(&mut ledger, first, Direction::Inbound, now);
            ledger.attribute(first, chat, CHAT).unwrap();
        }

        let snapshot = ledger.snapshot(now);
        assert_eq!(
            snapshot.protocols_per_connection[&(id, echo.clone())].inbound,
            DirectionStats {
                open: 1,
                opened: 1,
                refused: 1
            }
        );
        assert_eq!(
            snapshot.protocols_per_connection[&(id, echo.clone())].outbound,
            DirectionStats {
                open: 2,
                opened: 2,
                refused: 0
            }
        );
        assert_eq!(
            snapshot.protocols_per_peer[&(peer, echo.clone())].inbound,
            DirectionStats {
                open: 2,
                opened: 2,
                refused: 1
            }
        );
        // The second muxer is not claimed, so it has no entry of its own.
        assert_eq!(snapshot.protocols_per_connection.len(), 2);
        // Closing the held stream frees its connection's slot.
        ledger.close_stream(first, held);
        let again = open(&mut ledger, first, Direction::Inbound, now);
        ledger.attribute(first, again, ECHO).unwrap();
        assert_eq!(
            ledger.snapshot(now).protocols_per_connection[&(id, echo)]
                .inbound
                .open,
            1
        );
    }

    #[test]
    fn names_that_are_not_protocols_and_protocols_past_the_table_stay_unattributed() {
        let (mut ledger, _, muxer, _) = ledger_with(Config::unlimited());
        let now = Instant::now();
        for name in [&b"no-slash"[..], &[0xff, 0xfe][..], b""] {
            let key = open(&mut ledger, muxer, Direction::Inbound, now);
            ledger.attribute(muxer, key, name).unwrap();
        }
        for i in 0..MAX_PROTOCOLS + 10 {
            let key = open(&mut ledger, muxer, Direction::Inbound, now);
            ledger
                .attribute(muxer, key, format!("/p/{i}").as_bytes())
                .unwrap();
        }
        let snapshot = ledger.snapshot(now);
        assert_eq!(snapshot.protocols.len(), MAX_PROTOCOLS);
        assert_eq!(snapshot.node.inbound.open as usize, MAX_PROTOCOLS + 13);
    }

    #[test]
    fn muxers_are_claimed_oldest_first_by_peer_and_endpoint() {
        let mut ledger = Ledger::new(Config::default());
        let peer = PeerId::random();
        let old = ledger.add_connection(peer, dialer(1));
        let new = ledger.add_connection(peer, dialer(1));
        let elsewhere = ledger.add_connection(peer, dialer(2));
        let (a, b) = (
            ConnectionId::new_unchecked(7),
            ConnectionId::new_unchecked(8),
        );
        assert!(ledger.claim(peer, &dialer(1), a));
        assert!(ledger.claim(peer, &dialer(1), b));
        assert!(!ledger.claim(peer, &dialer(1), ConnectionId::new_unchecked(9)));
        assert!(!ledger.claim(PeerId::random(), &dialer(2), ConnectionId::new_unchecked(9)));
        assert_eq!(ledger.connections[&old].id, Some(a));
        assert_eq!(ledger.connections[&new].id, Some(b));
        assert_eq!(ledger.connections[&elsewhere].id, None);
    }

    /// The numbers of connections the cost tests compare.
    const SCALES: [u32; 3] = [1_000, 10_000, 20_000];

    /// `n` muxers, each to its own peer at its own endpoint, not claimed.
    fn untied_connections(ledger: &mut Ledger, n: u32) -> Vec<(PeerId, MuxerId)> {
        (0..n)
            .map(|i| {
                let peer = PeerId::random();
                (peer, ledger.add_connection(peer, dialer(i as u16)))
            })
            .collect()
    }

    #[test]
    fn claiming_a_muxer_looks_at_one_entry_however_many_connections_there_are() {
        for n in SCALES {
            let mut ledger = Ledger::new(Config::default());
            let muxers = untied_connections(&mut ledger, n);
            let before = ledger.scanned;
            for (i, (peer, muxer)) in muxers.iter().enumerate() {
                let id = ConnectionId::new_unchecked(i);
                assert!(ledger.claim(*peer, &dialer(i as u16), id));
                assert_eq!(ledger.connections[muxer].id, Some(id));
            }
            assert_eq!(
                ledger.scanned - before,
                u64::from(n),
                "one entry a claim, at {n}"
            );
            assert!(ledger.untied.is_empty());
        }
    }

    #[test]
    fn a_due_check_looks_at_its_own_connection_only_however_many_connections_there_are() {
        let leak = Duration::from_secs(60);
        let starvation = Duration::from_secs(2);
        let config = Config::default()
            .with_leak_threshold(Some(leak))
            .with_starvation_threshold(starvation);
        let mut per_n = Vec::new();
        for n in SCALES {
            let mut ledger = Ledger::new(config.clone());
            let t0 = Instant::now();
            let muxers = untied_connections(&mut ledger, n);
            // Every connection holds a stream, one opened each millisecond,
            // and is blocked on an outbound open since it opened.
            for (i, (peer, muxer)) in muxers.iter().enumerate() {
                let opened = t0 + Duration::from_millis(i as u64);
                ledger
                    .open_stream(*muxer, Direction::Inbound, opened)
                    .unwrap();
                ledger.outbound_blocked(*muxer, opened);
                let id = ConnectionId::new_unchecked(i);
                assert!(ledger.claim(*peer, &dialer(i as u16), id));
            }
            // A check per connection and kind, none due yet: nothing is
            // looked at, however often it is asked.
            assert_eq!(ledger.due.len(), 2 * n as usize);
            let before = ledger.scanned;
            for _ in 0..1_000 {
                assert!(ledger.decide(t0 + Duration::from_millis(1)).is_empty());
                assert_eq!(ledger.next_deadline(), Some(t0 + starvation));
            }
            assert_eq!(ledger.scanned, before);

            // The first connection's starvation is due: its check alone.
            let before = ledger.scanned;
            let decisions = ledger.decide(t0 + starvation);
            assert!(matches!(
                decisions[..],
                [Decision::Starved { connection, .. }] if connection == ConnectionId::new_unchecked(0)
            ));
            let starved = ledger.scanned - before;
            // Its leak: one check, one stream reported, none left to wait for.
            let before = ledger.scanned;
            // By then every other connection is starved too.
            let decisions = ledger.decide(t0 + leak);
            assert_eq!(decisions.len(), n as usize);
            let leaked: Vec<_> = (decisions.iter())
                .filter(|d| matches!(d, Decision::Leaked { .. }))
                .collect();
            assert_eq!(leaked.len(), 1);
            let decided = ledger.scanned - before;
            // The rest of the work is one check per starved connection.
            let per_starved = decided - 2;
            assert_eq!(per_starved, (decisions.len() - 1) as u64);
            per_n.push((n, starved, decided - per_starved));

            // Unblocked and closed, every connection's checks go, each by
            // itself: the set is empty again.
            for (_, muxer) in &muxers {
                ledger.outbound_unblocked(*muxer);
                ledger.remove_connection(*muxer);
            }
            assert!(ledger.due.is_empty());
            assert_eq!(ledger.blocked, 0);
        }
        // The same work at every scale: one entry for a starvation, two
        // (its check, its stream) for a leak.
        for (n, starved, leaked) in per_n {
            assert_eq!((starved, leaked), (1, 2), "at {n} connections");
        }
    }

    #[test]
    fn checks_due_before_a_muxer_is_claimed_are_made_once_it_is() {
        let threshold = Duration::from_secs(2);
        let config = Config::default()
            .with_starvation_threshold(threshold)
            .with_leak_threshold(Some(threshold));
        let mut ledger = Ledger::new(config);
        let peer = PeerId::random();
        let muxer = ledger.add_connection(peer, dialer(1));
        let t0 = Instant::now();
        ledger.open_stream(muxer, Direction::Inbound, t0).unwrap();
        ledger.outbound_blocked(muxer, t0);
        assert_eq!(ledger.next_deadline(), Some(t0 + threshold));
        // Due, but not to be named yet: put off, not lost.
        assert!(ledger.decide(t0 + threshold).is_empty());
        assert_eq!(ledger.next_deadline(), None);
        ledger.take_wake();
        let id = ConnectionId::new_unchecked(3);
        assert!(ledger.claim(peer, &dialer(1), id));
        assert!(ledger.take_wake(), "the behaviour hears of the checks due");
        assert_eq!(ledger.next_deadline(), Some(t0 + threshold));
        let decisions = ledger.decide(t0 + threshold * 2);
        assert_eq!(decisions.len(), 2);
        assert!(decisions.iter().all(|d| match d {
            Decision::Starved { connection, .. } | Decision::Leaked { connection, .. } =>
                *connection == id,
        }));
        // A muxer dropped before it was claimed leaves no index entry.
        let gone = ledger.add_connection(peer, dialer(2));
        ledger.remove_connection(gone);
        assert!(ledger.untied.is_empty());
        assert!(!ledger.claim(peer, &dialer(2), ConnectionId::new_unchecked(4)));
    }

    #[test]
    fn a_dropped_muxer_takes_its_streams_and_its_peer_with_it() {
        let (mut ledger, peer, muxer, _) = ledger_with(Config::default());
        let now = Instant::now();
        let key = open(&mut ledger, muxer, Direction::Outbound, now);
        ledger.attribute(muxer, key, ECHO).unwrap();
        open(&mut ledger, muxer, Direction::Inbound, now);
        ledger.remove_connection(muxer);
        // A stream that outlives its connection closes into nothing.
        ledger.close_stream(muxer, key);
        let snapshot = ledger.snapshot(now);
        assert_eq!(snapshot.node.open(), 0);
        assert_eq!(
            snapshot.protocols[&StreamProtocol::new("/echo/1")].open(),
            0
        );
        assert!(!snapshot.peers.contains_key(&peer));
        assert!(snapshot.connections.is_empty());
        assert!(ledger.peer_slots.is_empty());
        assert!(ledger.peers.iter().all(Option::is_none));
    }

    #[test]
    fn starvation_is_reported_once_at_the_threshold_and_again_after_a_new_block() {
        let threshold = Duration::from_millis(500);
        let (mut ledger, peer, muxer, id) =
            ledger_with(Config::default().with_starvation_threshold(threshold));
        let t0 = Instant::now();
        ledger.outbound_blocked(muxer, t0);
        assert_eq!(ledger.next_deadline(), Some(t0 + threshold));
        assert!(ledger
            .decide(t0 + threshold - Duration::from_millis(1))
            .is_empty());
        let decisions = ledger.decide(t0 + threshold);
        assert_eq!(
            decisions,
            vec![Decision::Starved {
                peer,
                connection: id,
                endpoint: dialer(1),
                blocked_for: threshold,
            }]
        );
        assert!(ledger.decide(t0 + threshold * 4).is_empty());
        assert_eq!(ledger.next_deadline(), None);

        ledger.outbound_unblocked(muxer);
        let t1 = t0 + threshold * 5;
        ledger.outbound_blocked(muxer, t1);
        ledger.outbound_unblocked(muxer);
        assert!(
            ledger.decide(t1 + threshold).is_empty(),
            "the open completed"
        );
        ledger.outbound_blocked(muxer, t1);
        assert_eq!(ledger.decide(t1 + threshold).len(), 1);
    }

    #[test]
    fn each_stream_past_the_leak_threshold_is_reported_once_oldest_first() {
        let threshold = Duration::from_secs(5);
        let (mut ledger, _, muxer, id) =
            ledger_with(Config::default().with_leak_threshold(Some(threshold)));
        let t0 = Instant::now();
        let old = open(&mut ledger, muxer, Direction::Inbound, t0);
        ledger.attribute(muxer, old, ECHO).unwrap();
        let young = open(
            &mut ledger,
            muxer,
            Direction::Outbound,
            t0 + Duration::from_secs(1),
        );
        assert_eq!(ledger.next_deadline(), Some(t0 + threshold));

        let decisions = ledger.decide(t0 + threshold);
        assert_eq!(
            decisions,
            vec![Decision::Leaked {
                peer: ledger.peer(ledger.connections[&muxer].peer_slot).id,
                connection: id,
                protocol: Some(StreamProtocol::new("/echo/1")),
                direction: Direction::Inbound,
                age: threshold,
            }]
        );
        assert_eq!(ledger.next_deadline(), Some(t0 + Duration::from_secs(6)));
        ledger.close_stream(muxer, young);
        assert!(ledger.decide(t0 + Duration::from_secs(60)).is_empty());
        assert_eq!(ledger.next_deadline(), None);
        let snapshot = ledger.snapshot(t0 + Duration::from_secs(60));
        assert_eq!(snapshot.node.oldest_open, Some(Duration::from_secs(60)));
    }

    #[test]
    fn refusals_queued_for_a_behaviour_that_never_polls_are_bounded() {
        let config = Config::default().with_limit(Scope::Connection, Limit::new(0, 0));
        let (mut ledger, _, muxer, _) = ledger_with(config);
        let now = Instant::now();
        for _ in 0..MAX_QUEUED_REFUSALS + 500 {
            assert!(ledger.open_stream(muxer, Direction::Inbound, now).is_err());
        }
        assert_eq!(ledger.refusals.len(), MAX_QUEUED_REFUSALS);
        let snapshot = ledger.snapshot(now);
        assert_eq!(snapshot.dropped_events, 500);
        assert_eq!(
            snapshot.node.inbound.refused,
            MAX_QUEUED_REFUSALS as u64 + 500
        );
    }
}
