//! Scopes, directions, limits, and the error a refused stream carries.

use std::{fmt, io};

use libp2p_swarm::StreamProtocol;

/// Which way a stream was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The remote opened it.
    Inbound,
    /// We opened it.
    Outbound,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        })
    }
}

/// A set of streams a limit counts: go-libp2p's resource manager's scopes,
/// and js-libp2p's per protocol per connection.
///
/// A stream counts in its connection, its peer and the node from the moment it
/// is opened, and in its protocol, its protocol-per-peer and its
/// protocol-per-connection once it negotiated one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every stream of the node.
    Node,
    /// Every stream to one peer, over all its connections.
    Peer,
    /// Every stream of one connection.
    Connection,
    /// Every stream of one protocol, over all peers.
    Protocol,
    /// Every stream of one protocol to one peer.
    ProtocolPerPeer,
    /// Every stream of one protocol on one connection (js-libp2p's
    /// `maxInboundStreams` / `maxOutboundStreams`).
    ProtocolPerConnection,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Node => "node",
            Self::Peer => "peer",
            Self::Connection => "connection",
            Self::Protocol => "protocol",
            Self::ProtocolPerPeer => "protocol-per-peer",
            Self::ProtocolPerConnection => "protocol-per-connection",
        })
    }
}

/// How many streams a scope may hold open at once, per direction; `None` is
/// no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limit {
    /// Open inbound streams.
    pub inbound: Option<u32>,
    /// Open outbound streams.
    pub outbound: Option<u32>,
}

impl Limit {
    /// At most `inbound` and `outbound` open streams.
    pub const fn new(inbound: u32, outbound: u32) -> Self {
        Self {
            inbound: Some(inbound),
            outbound: Some(outbound),
        }
    }

    /// No limit in either direction.
    pub const fn unlimited() -> Self {
        Self {
            inbound: None,
            outbound: None,
        }
    }

    /// `self` for each of `n` (saturating): a wider scope's limit sized to
    /// hold `n` narrower ones full. For a node scope, which keeps room for
    /// peers below their fair share, [`Self::for_connections`] adds that
    /// room. No limit stays no limit.
    pub const fn times(self, n: u32) -> Self {
        const fn scale(limit: Option<u32>, n: u32) -> Option<u32> {
            match limit {
                Some(limit) => Some(limit.saturating_mul(n)),
                None => None,
            }
        }
        Self {
            inbound: scale(self.inbound, n),
            outbound: scale(self.outbound, n),
        }
    }

    /// A node-wide limit for `connections` that each hold up to `self`:
    /// [`Self::times`], and an eighth on top of that for the room the node
    /// scopes keep for peers below their fair share, so that those
    /// connections are never refused for it (see `docs/stream-quota.md`,
    /// "Sizing a node limit").
    pub const fn for_connections(self, connections: u32) -> Self {
        const fn scale(limit: Option<u32>, n: u32) -> Option<u32> {
            match limit {
                Some(limit) => {
                    let held = limit as u64 * n as u64;
                    let with_room = (held * 8).div_ceil(7);
                    Some(if with_room > u32::MAX as u64 {
                        u32::MAX
                    } else {
                        with_room as u32
                    })
                }
                None => None,
            }
        }
        Self {
            inbound: scale(self.inbound, connections),
            outbound: scale(self.outbound, connections),
        }
    }

    /// The limit for `direction`.
    #[inline]
    pub fn get(&self, direction: Direction) -> Option<u32> {
        match direction {
            Direction::Inbound => self.inbound,
            Direction::Outbound => self.outbound,
        }
    }
}

/// Why a stream was refused: the limit it would have exceeded.
///
/// An outbound stream's opener gets it as the inner error of the
/// [`io::Error`] its negotiation failed with (for a handler,
/// `StreamUpgradeError::Io`; for `libp2p-stream`, `OpenStreamError::Io`):
/// [`LimitExceeded::from_io`] finds it there.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimitExceeded {
    /// The scope whose limit was reached.
    pub scope: Scope,
    /// The stream's direction.
    pub direction: Direction,
    /// The limit: that many streams of this direction were open already.
    pub limit: u32,
    /// The stream's protocol, when the refusal came after negotiation.
    pub protocol: Option<StreamProtocol>,
    /// Set when a node-wide scope refused a peer that holds its fair share
    /// or more while the scope is past `limit` (its limit less the room kept
    /// for peers below their share): that share.
    pub share: Option<u32>,
}

impl LimitExceeded {
    /// The `LimitExceeded` inside `error`, if that is why it failed.
    pub fn from_io(error: &io::Error) -> Option<&LimitExceeded> {
        error.get_ref()?.downcast_ref()
    }
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} stream refused: the {} limit of {} open {} streams",
            self.direction, self.scope, self.limit, self.direction
        )?;
        if let Some(protocol) = &self.protocol {
            write!(f, " ({protocol})")?;
        }
        f.write_str(" is reached")?;
        if let Some(share) = self.share {
            write!(
                f,
                ", and this peer holds its fair share of {share} or more (the rest is kept for peers below theirs)"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for LimitExceeded {}

impl From<LimitExceeded> for io::Error {
    fn from(error: LimitExceeded) -> Self {
        io::Error::other(error)
    }
}
