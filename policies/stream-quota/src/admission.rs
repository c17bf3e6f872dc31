//! The admission rule, the one place a stream is let in or refused.
//!
//! A stream is judged twice:
//!
//! - [`Stage::Open`], when the muxer hands it out (or, outbound, before the
//!   muxer is asked for it): in its [`Scope::Connection`], its
//!   [`Scope::Peer`] and the [`Scope::Node`];
//! - [`Stage::Negotiated`], when multistream-select agreed on its protocol:
//!   in that protocol on its connection ([`Scope::ProtocolPerConnection`]),
//!   for its peer ([`Scope::ProtocolPerPeer`]) and on the node
//!   ([`Scope::Protocol`]).
//!
//! Each stage checks three [`Tiers`] of the same shape: a connection's, a
//! peer's and the node's. The rule, per stage and direction: **a stream is
//! admitted when each of the three holds fewer open streams of its
//! direction than its limit** (no limit: always fewer). Otherwise the
//! narrowest full one refuses it, and [`LimitExceeded`] names it.
//!
//! The node's tier (the node, or one protocol on the node) is shared by
//! every peer, so it also keeps room for peers below their fair share: of a
//! limit `L` of 16 or more, `L / 8` is reserved, and a peer's share is `L`
//! over the peers connected and one more to come (`⌈L / (peers + 1)⌉`).
//! Past `L - L / 8` open streams, only a peer holding fewer than its share,
//! and fewer than the slots still free after its own, is admitted, up to
//! `L`: a peer new to the kept room takes at most half of it. So peers that
//! open and hold all the streams they can leave room for others (no stream
//! is ever taken back): each of them that came once the shared part was
//! full halves what is left, so `log2(L / 8) + 1` of those fill it. A limit
//! sized as streams per connection × connections still admits every
//! connection's streams, when there are at least as many connections as
//! streams per connection.
//!
//! [`admit`] also says how much room is left: how many more streams of that
//! direction all three would admit, this one included. The muxer caches the
//! room its outbound opens have at [`Stage::Open`] so that it asks the ledger
//! only when it runs out; the cache is this function's answer, not a second
//! rule. The ledger gathers the counts and limits and acts on the answer;
//! nothing else decides.

use libp2p_swarm::StreamProtocol;

use crate::{Direction, Limit, LimitExceeded, Scope};

/// Where in its life a stream is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// The stream exists; its protocol is not known yet.
    Open,
    /// The stream agreed on a protocol.
    Negotiated,
}

impl Stage {
    /// The scopes this stage checks.
    pub(crate) const fn scopes(self) -> Tiers<Scope> {
        match self {
            Stage::Open => Tiers {
                connection: Scope::Connection,
                peer: Scope::Peer,
                node: Scope::Node,
            },
            Stage::Negotiated => Tiers {
                connection: Scope::ProtocolPerConnection,
                peer: Scope::ProtocolPerPeer,
                node: Scope::Protocol,
            },
        }
    }
}

/// One value for each of the three scopes a stage checks, narrowest first:
/// the stream's connection, its peer, the node (at [`Stage::Negotiated`],
/// each narrowed to the stream's protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Tiers<T> {
    pub(crate) connection: T,
    pub(crate) peer: T,
    pub(crate) node: T,
}

/// Whether a stream of `direction` is admitted at `stage`, given the
/// streams of that direction open now in each scope (`open`), the scopes'
/// limits and how many `peers` share the node; `protocol` is the stream's,
/// named in a refusal.
///
/// `Ok(room)`: admitted, and `room` (at least 1) streams of `direction`
/// would be, this one included, before one of the three scopes is full
/// (`u32::MAX` when none is limited). `Err`: the narrowest full scope.
#[inline]
pub(crate) fn admit(
    stage: Stage,
    direction: Direction,
    open: Tiers<u32>,
    limits: Tiers<Limit>,
    peers: u32,
    protocol: Option<&StreamProtocol>,
) -> Result<u32, LimitExceeded> {
    let scopes = stage.scopes();
    let refused = |scope, limit, share| LimitExceeded {
        scope,
        direction,
        limit,
        protocol: protocol.cloned(),
        share,
    };
    let mut room = u32::MAX;
    for (scope, open, limit) in [
        (scopes.connection, open.connection, limits.connection),
        (scopes.peer, open.peer, limits.peer),
    ] {
        let Some(limit) = limit.get(direction) else {
            continue;
        };
        if open >= limit {
            return Err(refused(scope, limit, None));
        }
        room = room.min(limit - open);
    }
    if let Some(limit) = limits.node.get(direction) {
        if open.node >= limit {
            return Err(refused(scopes.node, limit, None));
        }
        let shared = limit - reserve(limit);
        let share = limit.div_ceil(peers.saturating_add(1));
        // Anyone's streams below the shared part. Past it, a peer's own
        // while it holds fewer than its share and fewer than the slots left
        // after them: each stream it takes adds one to what it holds and
        // removes one from what is free.
        let anyone = shared.saturating_sub(open.node);
        let free_after_own = (limit - open.node).saturating_sub(open.peer);
        let below_share = share
            .saturating_sub(open.peer)
            .min(free_after_own.div_ceil(2));
        let node_room = anyone.max(below_share);
        if node_room == 0 {
            return Err(refused(scopes.node, shared, Some(share)));
        }
        room = room.min(node_room);
    }
    Ok(room)
}

/// The room a node-wide limit keeps for peers below their fair share.
const fn reserve(limit: u32) -> u32 {
    // A small limit is a deliberate count, not a pool to share.
    if limit < 16 {
        0
    } else {
        limit / 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IN: Direction = Direction::Inbound;
    const OUT: Direction = Direction::Outbound;

    fn tiers<T: Copy>(connection: T, peer: T, node: T) -> Tiers<T> {
        Tiers {
            connection,
            peer,
            node,
        }
    }

    fn refused(stage: Stage, open: Tiers<u32>, limits: Tiers<Limit>) -> (Scope, u32) {
        let error = admit(stage, IN, open, limits, 1, None).unwrap_err();
        (error.scope, error.limit)
    }

    #[test]
    fn no_limit_admits_anything_with_unbounded_room() {
        let none = tiers(Limit::unlimited(), Limit::unlimited(), Limit::unlimited());
        let open = tiers(u32::MAX, u32::MAX, u32::MAX);
        for stage in [Stage::Open, Stage::Negotiated] {
            for direction in [IN, OUT] {
                assert_eq!(admit(stage, direction, open, none, 1, None), Ok(u32::MAX));
            }
        }
    }

    #[test]
    fn room_is_the_least_left_in_any_limited_scope_this_stream_included() {
        let limits = tiers(Limit::new(8, 8), Limit::new(5, 5), Limit::unlimited());
        assert_eq!(
            admit(Stage::Open, IN, tiers(0, 0, 1000), limits, 1, None),
            Ok(5)
        );
        assert_eq!(
            admit(Stage::Open, IN, tiers(6, 2, 0), limits, 1, None),
            Ok(2)
        );
        // The last free slot: room 1.
        assert_eq!(
            admit(Stage::Open, IN, tiers(7, 4, 0), limits, 1, None),
            Ok(1)
        );
    }

    #[test]
    fn a_scope_at_its_limit_refuses_below_it_admits() {
        let limits = tiers(Limit::new(2, 9), Limit::new(9, 9), Limit::new(9, 9));
        assert!(admit(Stage::Open, IN, tiers(1, 1, 1), limits, 1, None).is_ok());
        assert_eq!(
            refused(Stage::Open, tiers(2, 2, 2), limits),
            (Scope::Connection, 2)
        );
        // Above the limit (a limit lowered under open streams) refuses too.
        assert_eq!(
            refused(Stage::Open, tiers(3, 3, 3), limits),
            (Scope::Connection, 2)
        );
    }

    #[test]
    fn the_narrowest_full_scope_is_named() {
        let limits = tiers(Limit::new(1, 1), Limit::new(1, 1), Limit::new(1, 1));
        let full = tiers(1, 1, 1);
        assert_eq!(refused(Stage::Open, full, limits), (Scope::Connection, 1));
        assert_eq!(
            refused(Stage::Open, tiers(0, 1, 1), limits),
            (Scope::Peer, 1)
        );
        assert_eq!(
            refused(Stage::Open, tiers(0, 0, 1), limits),
            (Scope::Node, 1)
        );
        assert_eq!(
            refused(Stage::Negotiated, full, limits),
            (Scope::ProtocolPerConnection, 1)
        );
        assert_eq!(
            refused(Stage::Negotiated, tiers(0, 1, 1), limits),
            (Scope::ProtocolPerPeer, 1)
        );
        assert_eq!(
            refused(Stage::Negotiated, tiers(0, 0, 1), limits),
            (Scope::Protocol, 1)
        );
    }

    #[test]
    fn directions_are_judged_apart() {
        let limits = tiers(Limit::new(0, 3), Limit::unlimited(), Limit::unlimited());
        assert_eq!(
            admit(Stage::Open, OUT, tiers(2, 0, 0), limits, 1, None),
            Ok(1)
        );
        let error = admit(Stage::Open, IN, tiers(0, 0, 0), limits, 1, None).unwrap_err();
        assert_eq!((error.direction, error.limit), (IN, 0));
        // One direction limited, the other not.
        let inbound_only = tiers(
            Limit {
                inbound: Some(1),
                outbound: None,
            },
            Limit::unlimited(),
            Limit::unlimited(),
        );
        assert_eq!(
            admit(Stage::Open, OUT, tiers(7, 0, 0), inbound_only, 1, None),
            Ok(u32::MAX)
        );
        assert!(admit(Stage::Open, IN, tiers(1, 0, 0), inbound_only, 1, None).is_err());
    }

    #[test]
    fn a_refusal_carries_the_direction_and_protocol() {
        let ping = StreamProtocol::new("/ipfs/ping/1.0.0");
        let limits = tiers(Limit::new(1, 1), Limit::unlimited(), Limit::unlimited());
        assert_eq!(
            admit(
                Stage::Negotiated,
                OUT,
                tiers(1, 1, 1),
                limits,
                1,
                Some(&ping)
            ),
            Err(LimitExceeded {
                scope: Scope::ProtocolPerConnection,
                direction: OUT,
                limit: 1,
                protocol: Some(ping),
                share: None,
            })
        );
    }

    #[test]
    fn past_the_shared_part_only_a_peer_below_its_share_is_admitted() {
        // 256 on the node, 32 of it kept; 4 peers and one to come: 52 each.
        let limits = tiers(Limit::unlimited(), Limit::unlimited(), Limit::new(256, 256));
        let at = |peer, node| admit(Stage::Open, IN, tiers(0, peer, node), limits, 4, None);
        // Below the shared part anyone is admitted, a greedy peer too.
        assert_eq!(at(200, 100), Ok(124));
        // Past it, a peer at its share is refused, naming the share...
        let refused = at(52, 224).unwrap_err();
        assert_eq!(
            (refused.scope, refused.limit, refused.share),
            (Scope::Node, 224, Some(52))
        );
        // ...and one below it is admitted into the kept room, to half of it,
        assert_eq!(at(0, 224), Ok(16));
        assert_eq!(at(3, 248), Ok(3));
        // never to more than the slots left after its own.
        assert!(at(20, 240).is_err());
        // Full is full, for everyone.
        let full = at(0, 256).unwrap_err();
        assert_eq!((full.limit, full.share), (256, None));
    }

    #[test]
    fn greedy_peers_coming_in_turn_leave_room_for_the_next() {
        // Each greedy peer comes in turn and opens until refused; then an
        // honest one comes.
        let limits = tiers(Limit::unlimited(), Limit::unlimited(), Limit::new(256, 256));
        let mut held = [0u32; 5];
        let mut node = 0;
        for (peers, held) in (1..).zip(held.iter_mut()) {
            while admit(Stage::Open, IN, tiers(0, *held, node), limits, peers, None).is_ok() {
                *held += 1;
                node += 1;
            }
        }
        // The first takes the shared part, each next one half of what is left.
        assert_eq!(held, [224, 16, 8, 4, 2], "{held:?}");
        // Streams one at a time (open, then closed) still find room.
        assert!(admit(Stage::Open, IN, tiers(0, 0, node), limits, 6, None).is_ok());
    }
}
