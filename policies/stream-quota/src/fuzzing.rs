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
