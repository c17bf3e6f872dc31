//! The pure core: which incarnation of each peer is current, and which
//! connections that makes stale. Swarm facts and time go in; judgements come
//! out. No I/O, no clock.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use libp2p_core::ConnectedPoint;
use libp2p_identity::PeerId;
use libp2p_swarm::ConnectionId;

use crate::{Epoch, Incarnation};

mod peers;

use peers::Peers;

/// Where a connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// Established; its incarnation is not known yet.
    Pending,
    /// From the peer's current incarnation.
    Current,
    /// From an incarnation the peer has been seen to replace: closed, or closing.
    Stale,
    /// The peer does not speak the exchange on it; never judged.
    Unsupported,
}

/// What this node knows of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The remote peer.
    pub peer: PeerId,
    /// Where the connection stands.
    pub status: Status,
    /// The remote's incarnation on it, once announced.
    pub incarnation: Option<Incarnation>,
    /// The epoch of that incarnation on this node.
    pub epoch: Option<Epoch>,
    /// When it was established.
    pub established: Instant,
}

/// A new incarnation of a peer replaced its older ones.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Replacement {
    /// The peer.
    pub peer: PeerId,
    /// Its incarnation until now.
    pub previous: Incarnation,
    /// Its new incarnation.
    pub current: Incarnation,
    /// The new incarnation's epoch.
    pub epoch: Epoch,
    /// The connection that announced the new incarnation.
    pub connection: ConnectionId,
    /// The older incarnations' connections, closed for it.
    pub closed: Vec<ConnectionId>,
    /// From the new connection's establishment to its announcement, which is
    /// when the old connections are closed.
    pub after: Duration,
}

/// The core's answer to an announced incarnation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Judgement {
    /// Nothing changes: an unknown connection or a second announcement.
    Ignored,
    /// The connection belongs to the peer's current incarnation, which may
    /// have just become known.
    Current,
    /// A new incarnation: close the connections it lists.
    Replaced(Replacement),
    /// The connection announced an incarnation the peer already replaced:
    /// close it.
    Stale {
        peer: PeerId,
        incarnation: Incarnation,
    },
}

struct Connection {
    /// Its peer's place in [`Registry::peers`].
    peer: usize,
    /// Where it goes, once the swarm reported it established.
    endpoint: Option<ConnectedPoint>,
    status: Status,
    incarnation: Option<Incarnation>,
    epoch: Option<Epoch>,
    established: Instant,
}

#[derive(Default)]
struct Peer {
    current: Option<(Incarnation, Epoch)>,
    /// Replaced incarnations, oldest first, at most `max_retired`.
    retired: VecDeque<Incarnation>,
    /// Its connections in the order they were established.
    connections: Vec<ConnectionId>,
}

/// The incarnations of connected peers and the status of their connections.
///
/// Memory is one entry per open connection and one per connected peer, the
/// latter holding at most `max_retired` replaced incarnations; a peer's entry
/// goes with its last connection.
pub(crate) struct Registry {
    /// Boxed: a map's spare slots then cost a pointer each, not a connection.
    connections: HashMap<ConnectionId, Box<Connection>>,
    peers: Peers<Peer>,
    /// How many of `connections` are stale. Usually none: then `is_stale`,
    /// asked for every event the wrapped behaviour sends or receives,
    /// answers without a lookup.
    stale: usize,
    next_epoch: u64,
    max_retired: usize,
}

impl Registry {
    pub(crate) fn new(max_retired: usize) -> Self {
        Self {
            connections: HashMap::new(),
            peers: Peers::default(),
            stale: 0,
            next_epoch: 0,
            max_retired,
        }
    }

    pub(crate) fn on_established(&mut self, peer: PeerId, connection: ConnectionId, now: Instant) {
        let at = self.peers.insert(peer);
        if let Some((_, p)) = self.peers.at_mut(at) {
            p.connections.push(connection);
        }
        self.connections.insert(
            connection,
            Box::new(Connection {
                peer: at,
                endpoint: None,
                status: Status::Pending,
                incarnation: None,
                epoch: None,
                established: now,
            }),
        );
    }

    /// The swarm reported `connection` established at `endpoint` (or moved
    /// it there).
    pub(crate) fn set_endpoint(&mut self, connection: ConnectionId, endpoint: ConnectedPoint) {
        if let Some(c) = self.connections.get_mut(&connection) {
            c.endpoint = Some(endpoint);
        }
    }

    /// Where `connection` goes, once the swarm reported it established.
    pub(crate) fn endpoint(&self, connection: ConnectionId) -> Option<&ConnectedPoint> {
        self.connections.get(&connection)?.endpoint.as_ref()
    }

    pub(crate) fn endpoint_mut(&mut self, connection: ConnectionId) -> Option<&mut ConnectedPoint> {
        self.connections.get_mut(&connection)?.endpoint.as_mut()
    }

    pub(crate) fn on_closed(&mut self, connection: ConnectionId) {
        let Some(closed) = self.connections.remove(&connection) else {
            return;
        };
        if closed.status == Status::Stale {
            self.stale -= 1;
        }
        let Some((_, peer)) = self.peers.at_mut(closed.peer) else {
            return;
        };
        peer.connections.retain(|c| *c != connection);
        if peer.connections.is_empty() {
            self.peers.remove_at(closed.peer);
        }
    }

    /// The remote refused the exchange on `connection`.
    pub(crate) fn on_unsupported(&mut self, connection: ConnectionId) {
        if let Some(c) = self.connections.get_mut(&connection) {
            if c.status == Status::Pending {
                c.status = Status::Unsupported;
            }
        }
    }

    /// The remote announced `incarnation` on `connection`.
    pub(crate) fn on_incarnation(
        &mut self,
        connection: ConnectionId,
        incarnation: Incarnation,
        now: Instant,
    ) -> Judgement {
        let Some(c) = self.connections.get(&connection) else {
            return Judgement::Ignored;
        };
        if !matches!(c.status, Status::Pending | Status::Unsupported) {
            return Judgement::Ignored;
        }
        let (at, established) = (c.peer, c.established);
        let Some((&peer_id, peer)) = self.peers.at_mut(at) else {
            return Judgement::Ignored;
        };

        if peer.retired.contains(&incarnation) {
            // Only a run the peer already replaced announces this: never let
            // it become current again, or two live runs sharing one key
            // would close each other's connections in turn.
            self.set(connection, Status::Stale, incarnation, None);
            return Judgement::Stale {
                peer: peer_id,
                incarnation,
            };
        }
        match peer.current {
            Some((current, epoch)) if current == incarnation => {
                // A duplicate of the current run (simultaneous dials, a
                // second path): not a restart.
                self.set(connection, Status::Current, incarnation, Some(epoch));
                Judgement::Current
            }
            None => {
                let epoch = self.next_epoch();
                let (_, peer) = self.peers.at_mut(at).expect("found above");
                peer.current = Some((incarnation, epoch));
                self.set(connection, Status::Current, incarnation, Some(epoch));
                Judgement::Current
            }
            Some((previous, _)) => {
                let epoch = self.next_epoch();
                let (_, peer) = self.peers.at_mut(at).expect("found above");
                peer.current = Some((incarnation, epoch));
                if peer.retired.len() == self.max_retired {
                    peer.retired.pop_front();
                }
                peer.retired.push_back(previous);
                let closed: Vec<ConnectionId> = peer
                    .connections
                    .iter()
                    .copied()
                    .filter(|c| self.connections[c].status == Status::Current)
                    .collect();
                for c in &closed {
                    self.connections
                        .get_mut(c)
                        .expect("a peer's connections are registered")
                        .status = Status::Stale;
                }
                self.stale += closed.len();
                self.set(connection, Status::Current, incarnation, Some(epoch));
                Judgement::Replaced(Replacement {
                    peer: peer_id,
                    previous,
                    current: incarnation,
                    epoch,
                    connection,
                    closed,
                    after: now.saturating_duration_since(established),
                })
            }
        }
    }

    pub(crate) fn info(&self, connection: ConnectionId) -> Option<ConnectionInfo> {
        let c = self.connections.get(&connection)?;
        let (&peer, _) = self.peers.at(c.peer)?;
        Some(ConnectionInfo {
            peer,
            status: c.status,
            incarnation: c.incarnation,
            epoch: c.epoch,
            established: c.established,
        })
    }

    /// Connections it holds a record of: every established one, until it closes.
    pub(crate) fn len(&self) -> usize {
        self.connections.len()
    }

    /// How many connections are stale, as the registry counts them.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn stale_count(&self) -> usize {
        self.stale
    }

    pub(crate) fn is_stale(&self, connection: ConnectionId) -> bool {
        self.stale > 0
            && self
                .connections
                .get(&connection)
                .is_some_and(|c| c.status == Status::Stale)
    }

    /// The peer's connections that are not stale, newest first.
    pub(crate) fn live_connections(
        &self,
        peer: &PeerId,
    ) -> impl Iterator<Item = ConnectionId> + '_ {
        self.peers
            .get(peer)
            .into_iter()
            .flat_map(|p| p.connections.iter().rev())
            .copied()
            .filter(|c| !self.is_stale(*c))
    }

    /// Whether the peer has any connection, stale ones included.
    pub(crate) fn is_connected(&self, peer: &PeerId) -> bool {
        self.peers.contains(peer)
    }

    /// The peer's current incarnation and its epoch.
    pub(crate) fn incarnation_of(&self, peer: &PeerId) -> Option<(Incarnation, Epoch)> {
        self.peers.get(peer).and_then(|p| p.current)
    }

    fn next_epoch(&mut self) -> Epoch {
        let epoch = Epoch(self.next_epoch);
        self.next_epoch += 1;
        epoch
    }

    fn set(
        &mut self,
        connection: ConnectionId,
        status: Status,
        incarnation: Incarnation,
        epoch: Option<Epoch>,
    ) {
        let c = self
            .connections
            .get_mut(&connection)
            .expect("checked by the caller");
        // Never called on a stale connection (the callers judge only pending
        // and unsupported ones), so only a change to stale counts.
        if status == Status::Stale && c.status != Status::Stale {
            self.stale += 1;
        }
        c.status = status;
        c.incarnation = Some(incarnation);
        // A replaced incarnation seen again has no epoch of its own here.
        c.epoch = epoch;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    struct Fixture {
        registry: Registry,
        t0: Instant,
        peer: PeerId,
        next_id: usize,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                registry: Registry::new(2),
                t0: Instant::now(),
                peer: PeerId::random(),
                next_id: 1000,
            }
        }

        fn connect(&mut self, at_ms: u64) -> ConnectionId {
            self.next_id += 1;
            let id = ConnectionId::new_unchecked(self.next_id);
            self.registry
                .on_established(self.peer, id, self.t0 + Duration::from_millis(at_ms));
            id
        }

        fn announce(&mut self, c: ConnectionId, i: Incarnation, at_ms: u64) -> Judgement {
            self.registry
                .on_incarnation(c, i, self.t0 + Duration::from_millis(at_ms))
        }

        fn status(&self, c: ConnectionId) -> Status {
            self.assert_stale_count();
            self.registry.info(c).unwrap().status
        }

        /// The count behind `is_stale`'s fast path follows the statuses.
        fn assert_stale_count(&self) {
            let stale = (self.registry.connections.values())
                .filter(|c| c.status == Status::Stale)
                .count();
            assert_eq!(self.registry.stale, stale);
        }
    }

    #[test]
    fn stale_connections_are_counted_until_they_close() {
        let mut f = Fixture::new();
        let (old, restarted) = (Incarnation::random(), Incarnation::random());
        let a = f.connect(0);
        f.announce(a, old, 1);
        assert!(!f.registry.is_stale(a));
        let new = f.connect(10);
        f.announce(new, restarted, 11);
        let late = f.connect(12);
        assert_eq!(
            f.announce(late, old, 13),
            Judgement::Stale {
                peer: f.peer,
                incarnation: old
            }
        );
        f.assert_stale_count();
        assert_eq!(f.registry.stale, 2);
        assert!(f.registry.is_stale(a) && f.registry.is_stale(late));
        assert!(!f.registry.is_stale(new));
        f.registry.on_closed(a);
        f.registry.on_closed(late);
        f.assert_stale_count();
        assert_eq!(f.registry.stale, 0);
        assert!(!f.registry.is_stale(new));
    }

    #[test]
    fn the_first_incarnation_becomes_current() {
        let mut f = Fixture::new();
        let c = f.connect(0);
        assert_eq!(f.status(c), Status::Pending);
        let i = Incarnation::random();
        assert_eq!(f.announce(c, i, 3), Judgement::Current);
        let info = f.registry.info(c).unwrap();
        assert_eq!(
            (info.status, info.incarnation, info.epoch),
            (Status::Current, Some(i), Some(Epoch(0)))
        );
        assert_eq!(f.registry.incarnation_of(&f.peer), Some((i, Epoch(0))));
    }

    #[test]
    fn a_new_incarnation_closes_every_connection_of_the_old_one_at_once() {
        let mut f = Fixture::new();
        let (old, restarted) = (Incarnation::random(), Incarnation::random());
        let a = f.connect(0);
        let b = f.connect(1);
        f.announce(a, old, 2);
        f.announce(b, old, 3);
        let new = f.connect(10_000);
        let Judgement::Replaced(r) = f.announce(new, restarted, 10_004) else {
            panic!("a new incarnation replaces the old");
        };
        assert_eq!(r.closed, vec![a, b]);
        assert_eq!((r.previous, r.current, r.epoch), (old, restarted, Epoch(1)));
        assert_eq!(r.after, 4 * MS);
        assert_eq!(
            (f.status(a), f.status(b), f.status(new)),
            (Status::Stale, Status::Stale, Status::Current)
        );
        assert_eq!(
            f.registry.live_connections(&f.peer).collect::<Vec<_>>(),
            vec![new]
        );
    }

    #[test]
    fn duplicates_of_one_incarnation_are_not_a_restart() {
        let mut f = Fixture::new();
        let i = Incarnation::random();
        let a = f.connect(0);
        let b = f.connect(0);
        assert_eq!(f.announce(b, i, 1), Judgement::Current);
        assert_eq!(f.announce(a, i, 2), Judgement::Current);
        assert_eq!(
            (f.status(a), f.status(b)),
            (Status::Current, Status::Current)
        );
        assert_eq!(
            f.registry.info(a).unwrap().epoch,
            f.registry.info(b).unwrap().epoch
        );
    }

    #[test]
    fn a_replaced_incarnation_never_comes_back() {
        let mut f = Fixture::new();
        let (first, second) = (Incarnation::random(), Incarnation::random());
        let a = f.connect(0);
        f.announce(a, first, 1);
        let b = f.connect(5);
        f.announce(b, second, 6);
        // A late connection of the first run: stale, and the second stays current.
        let late = f.connect(7);
        assert_eq!(
            f.announce(late, first, 8),
            Judgement::Stale {
                peer: f.peer,
                incarnation: first
            }
        );
        assert_eq!(f.status(b), Status::Current);
        assert_eq!(f.registry.incarnation_of(&f.peer).unwrap().0, second);
        assert_eq!(f.registry.info(late).unwrap().epoch, None);
    }

    #[test]
    fn an_old_connection_announcing_late_is_judged_when_it_announces() {
        let mut f = Fixture::new();
        let (old, new) = (Incarnation::random(), Incarnation::random());
        let a = f.connect(0);
        let b = f.connect(1);
        f.announce(a, old, 2);
        let c = f.connect(3);
        let Judgement::Replaced(r) = f.announce(c, new, 4) else {
            panic!()
        };
        // b had not announced: left alone until it does.
        assert_eq!(r.closed, vec![a]);
        assert_eq!(f.status(b), Status::Pending);
        assert!(matches!(f.announce(b, old, 5), Judgement::Stale { .. }));
    }

    #[test]
    fn a_peer_without_the_protocol_is_never_judged() {
        let mut f = Fixture::new();
        let a = f.connect(0);
        let b = f.connect(1);
        f.registry.on_unsupported(a);
        f.registry.on_unsupported(b);
        assert_eq!(
            (f.status(a), f.status(b)),
            (Status::Unsupported, Status::Unsupported)
        );
        assert_eq!(
            f.registry.live_connections(&f.peer).collect::<Vec<_>>(),
            vec![b, a]
        );
        // Nor are its unjudged connections closed when it starts speaking it.
        let c = f.connect(2);
        f.announce(c, Incarnation::random(), 3);
        let d = f.connect(4);
        let Judgement::Replaced(r) = f.announce(d, Incarnation::random(), 5) else {
            panic!()
        };
        assert_eq!(r.closed, vec![c]);
        assert_eq!(f.status(a), Status::Unsupported);
    }

    #[test]
    fn a_second_announcement_on_a_connection_changes_nothing() {
        let mut f = Fixture::new();
        let a = f.connect(0);
        let i = Incarnation::random();
        f.announce(a, i, 1);
        assert_eq!(f.announce(a, Incarnation::random(), 2), Judgement::Ignored);
        assert_eq!(f.registry.incarnation_of(&f.peer).unwrap().0, i);
        assert_eq!(
            f.registry
                .on_incarnation(ConnectionId::new_unchecked(1), i, f.t0),
            Judgement::Ignored
        );
    }

    #[test]
    fn peers_are_judged_apart() {
        let mut f = Fixture::new();
        let a = f.connect(0);
        f.announce(a, Incarnation::random(), 1);
        let other = PeerId::random();
        for n in 0..5 {
            let c = ConnectionId::new_unchecked(10 + n);
            f.registry.on_established(other, c, f.t0);
            f.registry.on_incarnation(c, Incarnation::random(), f.t0);
        }
        assert_eq!(f.status(a), Status::Current);
    }

    #[test]
    fn memory_is_bounded_by_open_connections_and_max_retired() {
        let mut f = Fixture::new();
        let keep = f.connect(0);
        f.registry.on_unsupported(keep);
        for n in 1..100 {
            let c = f.connect(n);
            f.announce(c, Incarnation::random(), n);
            f.registry.on_closed(c);
        }
        assert_eq!(f.registry.connections.len(), 1);
        assert_eq!(f.registry.peers.get(&f.peer).unwrap().retired.len(), 2);
        f.registry.on_closed(keep);
        assert!(f.registry.peers.is_empty());
        assert!(f.registry.connections.is_empty());
    }
}
