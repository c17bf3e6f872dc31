//! The incarnation exchange: on every new connection each side opens one
//! stream, writes its incarnation in one 17-byte message and closes it.
//!
//! The message is a version byte (1) and the incarnation id, 16 bytes, big
//! endian, never zero. It is decoded strictly: any other length, version or a
//! zero id is an error, and the reader never takes more than one byte past
//! the message, so a peer cannot make it buffer more.

use std::{fmt, io, time::Duration};

use futures::{future, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use futures_timer::Delay;
use libp2p_swarm::StreamProtocol;

use crate::Incarnation;

/// The protocol of the incarnation exchange.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/state-isolation/incarnation/1.0.0");

const VERSION: u8 = 1;
/// The length of the one message.
pub(crate) const MESSAGE_LEN: usize = 17;

/// Why an incarnation message was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExchangeError {
    /// The stream ended before the whole message.
    Truncated {
        /// The bytes that came.
        len: usize,
    },
    /// More bytes followed the message.
    Oversized,
    /// A version this node does not know.
    UnknownVersion(u8),
    /// The id zero, which no incarnation has.
    ZeroId,
    /// The message did not come in time.
    Timeout,
    /// The stream failed.
    Io(io::Error),
}

impl fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { len } => {
                write!(f, "message truncated: {len} of {MESSAGE_LEN} bytes")
            }
            Self::Oversized => write!(f, "message longer than {MESSAGE_LEN} bytes"),
            Self::UnknownVersion(v) => write!(f, "unknown message version {v}"),
            Self::ZeroId => write!(f, "incarnation id zero"),
            Self::Timeout => write!(f, "no message in time"),
            Self::Io(e) => write!(f, "stream failed: {e}"),
        }
    }
}

impl std::error::Error for ExchangeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// The message that announces `incarnation`.
pub(crate) fn encode(incarnation: Incarnation) -> [u8; MESSAGE_LEN] {
    let mut message = [0; MESSAGE_LEN];
    message[0] = VERSION;
    message[1..].copy_from_slice(&incarnation.as_u128().to_be_bytes());
    message
}

/// Decodes the whole of what the remote wrote on the stream.
pub(crate) fn decode(bytes: &[u8]) -> Result<Incarnation, ExchangeError> {
    if bytes.len() < MESSAGE_LEN {
        return Err(ExchangeError::Truncated { len: bytes.len() });
    }
    if bytes.len() > MESSAGE_LEN {
        return Err(ExchangeError::Oversized);
    }
    if bytes[0] != VERSION {
        return Err(ExchangeError::UnknownVersion(bytes[0]));
    }
    let id = u128::from_be_bytes(bytes[1..].try_into().expect("16 bytes after the version"));
    Incarnation::from_u128(id).ok_or(ExchangeError::ZeroId)
}

/// Writes our incarnation and closes the stream.
pub(crate) async fn send(
    mut stream: impl AsyncWrite + Unpin,
    incarnation: Incarnation,
    timeout: Duration,
) -> Result<(), ExchangeError> {
    let write = async {
        stream.write_all(&encode(incarnation)).await?;
        stream.close().await
    };
    with_timeout(write, timeout).await
}

/// Reads the remote's incarnation: everything it writes until it closes, at
/// most one byte past a message.
pub(crate) async fn receive(
    stream: impl AsyncRead + Unpin,
    timeout: Duration,
) -> Result<Incarnation, ExchangeError> {
    let mut bytes = Vec::with_capacity(MESSAGE_LEN + 1);
    let mut limited = stream.take(MESSAGE_LEN as u64 + 1);
    with_timeout(limited.read_to_end(&mut bytes), timeout).await?;
    decode(&bytes)
}

async fn with_timeout<T>(
    io: impl std::future::Future<Output = io::Result<T>>,
    timeout: Duration,
) -> Result<T, ExchangeError> {
    futures::pin_mut!(io);
    match future::select(io, Delay::new(timeout).fuse()).await {
        future::Either::Left((result, _)) => result.map_err(ExchangeError::Io),
        future::Either::Right(_) => Err(ExchangeError::Timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_round_trips() {
        let incarnation = Incarnation::random();
        assert_eq!(decode(&encode(incarnation)).unwrap(), incarnation);
    }

    #[test]
    fn every_malformed_message_is_refused() {
        let good = encode(Incarnation::random());
        assert!(matches!(
            decode(&[]),
            Err(ExchangeError::Truncated { len: 0 })
        ));
        assert!(matches!(
            decode(&good[..16]),
            Err(ExchangeError::Truncated { len: 16 })
        ));
        let mut long = good.to_vec();
        long.push(0);
        assert!(matches!(decode(&long), Err(ExchangeError::Oversized)));
        let mut version = good;
        version[0] = 2;
        assert!(matches!(
            decode(&version),
            Err(ExchangeError::UnknownVersion(2))
        ));
        let mut zero = [0; MESSAGE_LEN];
        zero[0] = VERSION;
        assert!(matches!(decode(&zero), Err(ExchangeError::ZeroId)));
    }
}
