//! The negotiation reader, for the fuzz targets in `fuzz/`. Not part of the
//! API: it exists only with the `fuzzing` feature.

use crate::negotiation::{Negotiation, Outcome, Role, MAX_MESSAGE_LEN};

/// Bytes one side of a stream carried: written by us, or read.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// Written by us (else read from the remote).
    pub written: bool,
    /// The bytes.
    pub bytes: &'a [u8],
}

/// What a negotiation settled: `None` still pending, `Some(Some(protocol))`
/// agreed, `Some(None)` given up.
pub type Settled = Option<Option<Vec<u8>>>;

/// Feeds `steps` to the reader of a stream we opened (`listener` false) or
/// the remote opened, until it settles, checking its bounds on the way.
pub fn negotiate(listener: bool, steps: &[Step<'_>]) -> Settled {
    let role = if listener {
        Role::Listener
    } else {
        Role::Dialer
    };
    let mut negotiation = Negotiation::new(role);
    for step in steps {
        let outcome = if step.written {
            negotiation.on_written(step.bytes)
        } else {
            negotiation.on_read(step.bytes)
        };
        match outcome {
            Outcome::Pending => {}
            Outcome::Agreed => {
                let protocol = negotiation.agreed();
                assert!(!protocol.is_empty(), "agreed on an empty protocol");
                assert!(
                    protocol.len() <= MAX_MESSAGE_LEN,
                    "a protocol past the bound"
                );
                return Some(Some(protocol.to_vec()));
            }
            Outcome::GaveUp => return Some(None),
        }
    }
    None
}

/// Runs the ledger through the scenario `data` describes, against a model
/// that only lists the open streams; panics if an invariant breaks.
///
/// The first six bytes set small limits, one per scope; the rest are
/// operations: a connection of one of three peers added (and claimed) or
/// removed, a stream opened either way, a stream negotiating one of three
/// protocols, a stream closed. After each operation:
///
/// - every open count in the ledger's snapshot, per node, peer, connection,
///   protocol, protocol per peer and protocol per connection, equals the
///   model's count of its streams;
/// - no count exceeds its scope's limit: admission never lets one past;
/// - a refusal names a scope the model shows full.
pub fn check_ledger(data: &[u8]) {
    use std::time::Instant;

    use libp2p_core::{transport::PortUse, ConnectedPoint, Endpoint, Multiaddr};
    use libp2p_identity::PeerId;
    use libp2p_swarm::{ConnectionId, StreamProtocol};

    use crate::{
        ledger::{Ledger, MuxerId, StreamKey},
        Config, Direction, Limit, Scope,
    };

    struct Open {
        connection: usize,
        key: StreamKey,
        direction: Direction,
        protocol: Option<usize>,
    }
    struct Live {
        id: ConnectionId,
        muxer: MuxerId,
        peer: usize,
    }

    let mut bytes = data.iter().copied();
    let mut next = || bytes.next();
    let mut small = |most: u8| -> Option<Limit> {
        let (inbound, outbound) = (next()?, next()?);
        Some(Limit::new(
            u32::from(inbound % most) + 1,
            u32::from(outbound % most) + 1,
        ))
    };
    let Some(limits) = (|| {
        Some([
            (Scope::Connection, small(4)?),
            (Scope::Peer, small(6)?),
            (Scope::Node, small(40)?),
            (Scope::ProtocolPerConnection, small(3)?),
            (Scope::ProtocolPerPeer, small(4)?),
            (Scope::Protocol, small(24)?),
        ])
    })() else {
        return;
    };
    let config = limits
        .iter()
        .fold(Config::unlimited(), |c, (scope, limit)| {
            c.with_limit(*scope, *limit)
        });
    let limit_of = |scope: Scope| limits.iter().find(|(s, _)| *s == scope).unwrap().1;
    let protocols: Vec<StreamProtocol> = ["/p/0", "/p/1", "/p/2"]
        .into_iter()
        .map(StreamProtocol::new)
        .collect();
    let peers: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
    let now = Instant::now();
    let mut ledger = Ledger::new(config);
    let mut live: Vec<Option<Live>> = Vec::new();
    let mut open: Vec<Open> = Vec::new();

    // The model's count of open streams of `direction` that `select` keeps.
    let count = |open: &[Open], direction: Direction, select: &dyn Fn(&Open) -> bool| {
        open.iter()
            .filter(|s| s.direction == direction && select(s))
            .count() as u32
    };

    // A refusal: its scope holds exactly its limit, or, refused for a fair
    // share, at least the shared part while the peer holds its share.
    let fair_or_full = |open: &[Open],
                        direction: Direction,
                        scope: &dyn Fn(&Open) -> bool,
                        peer: &dyn Fn(&Open) -> bool,
                        refused: &crate::LimitExceeded| {
        let n = count(open, direction, scope);
        match refused.share {
            None => assert_eq!(n, refused.limit, "{refused:?}"),
            Some(share) => {
                assert!(n >= refused.limit, "{refused:?}: {n} open");
                assert!(count(open, direction, peer) >= share, "{refused:?}");
            }
        }
    };

    while let Some(op) = bytes.next() {
        let arg = bytes.next().unwrap_or(0);
        let direction = if arg & 0x80 == 0 {
            Direction::Inbound
        } else {
            Direction::Outbound
        };
        let alive: Vec<usize> = (0..live.len()).filter(|&i| live[i].is_some()).collect();
        match op % 6 {
            0 | 1 if live.len() < 8 => {
                let peer = usize::from(arg) % peers.len();
                let endpoint = ConnectedPoint::Dialer {
                    address: Multiaddr::empty()
                        .with(libp2p_core::multiaddr::Protocol::Memory(live.len() as u64)),
                    role_override: Endpoint::Dialer,
                    port_use: PortUse::New,
                };
                let muxer = ledger.add_connection(peers[peer], endpoint.clone());
                let id = ConnectionId::new_unchecked(live.len());
                assert!(ledger.claim(peers[peer], &endpoint, id));
                live.push(Some(Live { id, muxer, peer }));
            }
            2 if !alive.is_empty() => {
                let i = alive[usize::from(arg) % alive.len()];
                let gone = live[i].take().expect("alive");
                ledger.remove_connection(gone.muxer);
                open.retain(|s| s.connection != i);
            }
            3 if !alive.is_empty() => {
                let i = alive[usize::from(arg & 0x7f) % alive.len()];
                let (muxer, peer) = live[i].as_ref().map(|l| (l.muxer, l.peer)).expect("alive");
                match ledger.open_stream(muxer, direction, now) {
                    Ok(opened) => open.push(Open {
                        connection: i,
                        key: opened.key,
                        direction,
                        protocol: None,
                    }),
                    Err(refused) => {
                        let on = |s: &Open| match refused.scope {
                            Scope::Connection => s.connection == i,
                            Scope::Peer => {
                                live[s.connection].as_ref().is_some_and(|l| l.peer == peer)
                            }
                            _ => true,
                        };
                        assert!(
                            matches!(refused.scope, Scope::Connection | Scope::Peer | Scope::Node),
                            "refused at open by {:?}",
                            refused.scope
                        );
                        let of_peer =
                            |s: &Open| live[s.connection].as_ref().is_some_and(|l| l.peer == peer);
                        fair_or_full(&open, direction, &on, &of_peer, &refused);
                        if refused.share.is_none() {
                            assert_eq!(limit_of(refused.scope).get(direction), Some(refused.limit));
                        }
                    }
                }
            }
            4 => {
                let unnamed: Vec<usize> = (0..open.len())
                    .filter(|&s| open[s].protocol.is_none())
                    .collect();
                if unnamed.is_empty() {
                    continue;
                }
                let s = unnamed[usize::from(arg) % unnamed.len()];
                let protocol = usize::from(arg >> 4) % protocols.len();
                let (i, key, direction) = (open[s].connection, open[s].key, open[s].direction);
                let Live { muxer, peer, .. } = *live[i].as_ref().expect("alive");
                match ledger.attribute(muxer, key, protocols[protocol].as_ref().as_bytes()) {
                    Ok(()) => open[s].protocol = Some(protocol),
                    Err(refused) => {
                        open.remove(s);
                        let on = |o: &Open| {
                            o.protocol == Some(protocol)
                                && match refused.scope {
                                    Scope::ProtocolPerConnection => o.connection == i,
                                    Scope::ProtocolPerPeer => {
                                        live[o.connection].as_ref().is_some_and(|l| l.peer == peer)
                                    }
                                    _ => true,
                                }
                        };
                        assert!(
                            matches!(
                                refused.scope,
                                Scope::ProtocolPerConnection
                                    | Scope::ProtocolPerPeer
                                    | Scope::Protocol
                            ),
                            "refused at negotiation by {:?}",
                            refused.scope
                        );
                        let of_peer_protocol = |o: &Open| {
                            o.protocol == Some(protocol)
                                && live[o.connection].as_ref().is_some_and(|l| l.peer == peer)
                        };
                        fair_or_full(&open, direction, &on, &of_peer_protocol, &refused);
                    }
                }
            }
            5 if !open.is_empty() => {
                let s = usize::from(arg) % open.len();
                let stream = open.remove(s);
                let muxer = live[stream.connection].as_ref().expect("alive").muxer;
                ledger.close_stream(muxer, stream.key);
            }
            _ => {}
        }

        let snapshot = ledger.snapshot(now);
        for direction in [Direction::Inbound, Direction::Outbound] {
            let got = |stats: Option<&crate::ScopeStats>| {
                stats.map_or(0, |s| match direction {
                    Direction::Inbound => s.inbound.open,
                    Direction::Outbound => s.outbound.open,
                })
            };
            let within = |scope: Scope, n: u32| {
                let limit = limit_of(scope).get(direction).expect("all set");
                assert!(
                    n <= limit,
                    "{scope:?} {direction:?}: {n} open, limit {limit}"
                );
            };
            let node = count(&open, direction, &|_| true);
            assert_eq!(got(Some(&snapshot.node)), node, "node {direction:?}");
            within(Scope::Node, node);
            for (p, peer) in peers.iter().enumerate() {
                let of_peer = |s: &Open| live[s.connection].as_ref().is_some_and(|l| l.peer == p);
                let n = count(&open, direction, &of_peer);
                assert_eq!(got(snapshot.peers.get(peer)), n, "peer {p} {direction:?}");
                within(Scope::Peer, n);
                for (q, name) in protocols.iter().enumerate() {
                    let n = count(&open, direction, &|s| of_peer(s) && s.protocol == Some(q));
                    let stats = snapshot.protocols_per_peer.get(&(*peer, name.clone()));
                    assert_eq!(got(stats), n, "peer {p} protocol {q} {direction:?}");
                    within(Scope::ProtocolPerPeer, n);
                }
            }
            for (i, l) in live.iter().enumerate() {
                let Some(l) = l else { continue };
                let n = count(&open, direction, &|s| s.connection == i);
                let stats = snapshot.connections.get(&l.id).map(|c| &c.streams);
                assert_eq!(got(stats), n, "connection {i} {direction:?}");
                within(Scope::Connection, n);
                for (q, name) in protocols.iter().enumerate() {
                    let n = count(&open, direction, &|s| {
                        s.connection == i && s.protocol == Some(q)
                    });
                    let stats = snapshot.protocols_per_connection.get(&(l.id, name.clone()));
                    assert_eq!(got(stats), n, "connection {i} protocol {q} {direction:?}");
                    within(Scope::ProtocolPerConnection, n);
                }
            }
            for (q, name) in protocols.iter().enumerate() {
                let n = count(&open, direction, &|s| s.protocol == Some(q));
                assert_eq!(
                    got(snapshot.protocols.get(name)),
                    n,
                    "protocol {q} {direction:?}"
                );
                within(Scope::Protocol, n);
            }
        }
    }
}
