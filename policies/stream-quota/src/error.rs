//! Why a starved connection could not be recycled.

use std::{error::Error, fmt, io, sync::Arc};

use libp2p_core::{transport::TransportError, Multiaddr};
use libp2p_identity::PeerId;
use libp2p_swarm::DialError;

/// Why the fresh connection that was to replace a starved one could not be
/// made ([`crate::Event::RecycleFailed`]): the swarm's [`DialError`], variant
/// for variant.
///
/// A behaviour is only lent the swarm's `DialError` (in
/// `FromSwarm::DialFailure`), and it is not `Clone`: what it holds by value
/// is copied here, and the errors inside it (a behaviour's reason for a
/// denial, the transport's I/O errors) are kept as [`CapturedError`]s, with
/// their messages, their chain of sources and their [`io::ErrorKind`]. The
/// `DialError` itself, to downcast a denial's cause to its type, reaches the
/// application as the swarm's `SwarmEvent::OutgoingConnectionError` for the
/// connection `RecycleFailed` names as `dial`, if the swarm got as far as
/// dialing; a dial it stopped before (no address, a behaviour's denial
/// before dialing) it reports to behaviours only, and this is all there is
/// of it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RecycleError {
    /// No address to dial: the starved connection was inbound, and no
    /// behaviour knows an address of the peer.
    NoAddresses,
    /// The address reached this node itself.
    LocalPeerId {
        /// The address dialed.
        address: Multiaddr,
    },
    /// The address answered as another peer.
    WrongPeerId {
        /// The peer that answered.
        obtained: PeerId,
        /// The address dialed.
        address: Multiaddr,
    },
    /// The swarm aborted the dial.
    Aborted,
    /// A behaviour denied the new connection (a connection limit, a block
    /// list, ...).
    Denied {
        /// The behaviour's reason: [`Error::source`] of this error.
        cause: CapturedError,
    },
    /// Every address failed in the transport, each with its error.
    Transport(Vec<(Multiaddr, TransportError<CapturedError>)>),
}

impl From<&DialError> for RecycleError {
    fn from(error: &DialError) -> Self {
        match error {
            DialError::NoAddresses => Self::NoAddresses,
            DialError::LocalPeerId { address } => Self::LocalPeerId {
                address: address.clone(),
            },
            DialError::WrongPeerId { obtained, address } => Self::WrongPeerId {
                obtained: *obtained,
                address: address.clone(),
            },
            // A recycling dial's condition is `PeerCondition::Always`, which
            // never stops it; any other dial the swarm called off is aborted.
            DialError::Aborted | DialError::DialPeerConditionFalse(_) => Self::Aborted,
            DialError::Denied { cause } => Self::Denied {
                // `ConnectionDenied` only wraps the behaviour's reason.
                cause: match cause.source() {
                    Some(reason) => CapturedError::capture(reason),
                    None => CapturedError::capture(cause),
                },
            },
            DialError::Transport(errors) => Self::Transport(
                errors
                    .iter()
                    .map(|(address, error)| {
                        let error = match error {
                            TransportError::MultiaddrNotSupported(a) => {
                                TransportError::MultiaddrNotSupported(a.clone())
                            }
                            TransportError::Other(e) => {
                                TransportError::Other(CapturedError::capture(e))
                            }
                        };
                        (address.clone(), error)
                    })
                    .collect(),
            ),
        }
    }
}

impl fmt::Display for RecycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoAddresses => f.write_str("no address of the peer to dial"),
            Self::LocalPeerId { address } => write!(f, "{address} is this node's own address"),
            Self::WrongPeerId { obtained, address } => {
                write!(f, "{address} answered as another peer, {obtained}")
            }
            Self::Aborted => f.write_str("the dial was aborted"),
            Self::Denied { .. } => f.write_str("a behaviour denied the connection"),
            Self::Transport(errors) => {
                // As the swarm's `DialError` shows it: each address with its
                // error's whole chain, since there is no one source.
                f.write_str("every address failed: [")?;
                for (i, (address, error)) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "({address}")?;
                    match error {
                        TransportError::MultiaddrNotSupported(_) => {
                            f.write_str(": the transport does not support it")?
                        }
                        TransportError::Other(e) => write_chain(f, e)?,
                    }
                    f.write_str(")")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl Error for RecycleError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Denied { cause } => Some(cause),
            _ => None,
        }
    }
}

fn write_chain(f: &mut fmt::Formatter<'_>, error: &dyn Error) -> fmt::Result {
    write!(f, ": {error}")?;
    match error.source() {
        Some(source) => write_chain(f, source),
        None => Ok(()),
    }
}

/// An error the swarm lent the behaviour, kept: its message, its
/// [`io::ErrorKind`] if it was an [`io::Error`], and its sources, each
/// kept the same way ([`Error::source`] walks them). Its type is not kept,
/// so it cannot be downcast; see [`RecycleError`] for where the original is.
/// Cheap to clone.
#[derive(Clone)]
pub struct CapturedError(Arc<Captured>);

struct Captured {
    message: Box<str>,
    kind: Option<io::ErrorKind>,
    source: Option<CapturedError>,
}

/// Sources kept, at most: a chain is a handful deep, never a cycle, but
/// nothing bounds it.
const MAX_DEPTH: usize = 16;

impl CapturedError {
    /// Keeps `error` and its sources.
    pub fn capture(error: &(dyn Error + 'static)) -> Self {
        Self::capture_at(error, 0)
    }

    fn capture_at(error: &(dyn Error + 'static), depth: usize) -> Self {
        let source = match error.source() {
            Some(source) if depth < MAX_DEPTH => Some(Self::capture_at(source, depth + 1)),
            _ => None,
        };
        Self(Arc::new(Captured {
            message: error.to_string().into(),
            kind: error.downcast_ref::<io::Error>().map(io::Error::kind),
            source,
        }))
    }

    /// Its [`io::ErrorKind`], if it was an [`io::Error`].
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        self.0.kind
    }
}

impl fmt::Display for CapturedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl fmt::Debug for CapturedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("CapturedError");
        debug.field("message", &self.0.message);
        if let Some(kind) = self.0.kind {
            debug.field("kind", &kind);
        }
        if let Some(source) = &self.0.source {
            debug.field("source", source);
        }
        debug.finish()
    }
}

impl Error for CapturedError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source.as_ref().map(|s| s as &(dyn Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use libp2p_swarm::ConnectionDenied;

    use super::*;

    #[derive(Debug)]
    struct Full;

    impl fmt::Display for Full {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("at most 1 connection")
        }
    }

    impl Error for Full {}

    #[derive(Debug)]
    struct Handshake(io::Error);

    impl fmt::Display for Handshake {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("handshake failed")
        }
    }

    impl Error for Handshake {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_denial_keeps_the_behaviours_reason_as_its_source() {
        let error = RecycleError::from(&DialError::Denied {
            cause: ConnectionDenied::new(Full),
        });
        assert!(matches!(error, RecycleError::Denied { .. }));
        assert_eq!(error.to_string(), "a behaviour denied the connection");
        let cause = error.source().expect("the reason");
        assert_eq!(cause.to_string(), "at most 1 connection");
        assert!(cause.source().is_none());
    }

    #[test]
    fn transport_errors_keep_their_chain_and_io_kind() {
        let address: Multiaddr = "/ip4/127.0.0.1/udp/1/quic-v1".parse().unwrap();
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "refused by peer");
        let dial = DialError::Transport(vec![
            (
                address.clone(),
                TransportError::Other(io::Error::other(Handshake(refused))),
            ),
            (
                address.clone(),
                TransportError::MultiaddrNotSupported(address.clone()),
            ),
        ]);
        let error = RecycleError::from(&dial);
        let RecycleError::Transport(errors) = &error else {
            panic!("{error:?}")
        };
        let TransportError::Other(first) = &errors[0].1 else {
            panic!("{errors:?}")
        };
        assert_eq!(first.io_kind(), Some(io::ErrorKind::Other));
        assert_eq!(first.to_string(), "handshake failed");
        let source = first.source().expect("the handshake's source");
        assert_eq!(source.to_string(), "refused by peer");
        let source = source.downcast_ref::<CapturedError>().unwrap();
        assert_eq!(source.io_kind(), Some(io::ErrorKind::ConnectionRefused));
        assert!(matches!(
            &errors[1].1,
            TransportError::MultiaddrNotSupported(a) if *a == address
        ));
        assert_eq!(
            error.to_string(),
            "every address failed: [(/ip4/127.0.0.1/udp/1/quic-v1: handshake failed: \
             refused by peer), (/ip4/127.0.0.1/udp/1/quic-v1: the transport does not \
             support it)]"
        );
        // A clone shares the capture.
        let clone = error.clone();
        assert_eq!(clone.to_string(), error.to_string());
    }

    #[test]
    fn variants_held_by_value_are_copied() {
        let address: Multiaddr = "/ip4/127.0.0.1/udp/1/quic-v1".parse().unwrap();
        let obtained = PeerId::random();
        let error = RecycleError::from(&DialError::WrongPeerId {
            obtained,
            address: address.clone(),
        });
        assert!(matches!(
            error,
            RecycleError::WrongPeerId { obtained: o, address: a } if o == obtained && a == address
        ));
        assert!(matches!(
            RecycleError::from(&DialError::NoAddresses),
            RecycleError::NoAddresses
        ));
        assert!(matches!(
            RecycleError::from(&DialError::Aborted),
            RecycleError::Aborted
        ));
    }
}
