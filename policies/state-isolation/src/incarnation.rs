//! What tells one run of a peer's process from the next.

use std::fmt;

/// One run of a node's process: a random id drawn when the node starts.
///
/// A peer that restarts with the same key keeps its [`PeerId`](libp2p_identity::PeerId)
/// but draws a new incarnation, so the two runs' connections can be told apart.
/// 128 random bits make two runs drawing the same id a non-event.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Incarnation(u128);

impl Incarnation {
    /// Draws a new incarnation.
    pub fn random() -> Self {
        loop {
            let id: u128 = rand::random();
            // Zero is reserved as invalid on the wire.
            if id != 0 {
                return Self(id);
            }
        }
    }

    /// The incarnation with this id, `None` for zero (never valid on the wire).
    pub fn from_u128(id: u128) -> Option<Self> {
        (id != 0).then_some(Self(id))
    }

    /// Its id.
    pub fn as_u128(self) -> u128 {
        self.0
    }
}

impl fmt::Debug for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Incarnation({self})")
    }
}

impl fmt::Display for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The first 8 hex digits tell runs apart in logs, as a short git hash does.
        write!(f, "{:08x}", self.0 >> 96)
    }
}

/// The order in which this node came to know a peer's incarnations: a later
/// epoch is a newer incarnation.
///
/// Epochs are counted node-wide from 0 and never reused while the node runs,
/// so two connections with the same epoch belong to the same run of their peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(pub(crate) u64);

impl Epoch {
    /// Its number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
