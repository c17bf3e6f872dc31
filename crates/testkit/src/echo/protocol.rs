//! The wire format: the dialer writes a payload and closes its write side; the
//! listener echoes what it read and closes.

use std::{io, time::Duration};

use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::{Stream, StreamProtocol};

/// The echo protocol's name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/testkit/echo/1.0.0");

/// The largest payload either side reads; a longer one is refused, so a peer
/// cannot make us buffer without bound.
pub const MAX_PAYLOAD: usize = 1024;

/// How long the listener serves one stream before dropping it.
pub(crate) const SERVE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) async fn send(mut stream: Stream, payload: Vec<u8>) -> io::Result<()> {
    stream.write_all(&payload).await?;
    stream.close().await?;
    let echoed = read_bounded(&mut stream).await?;
    if echoed != payload {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "echoed payload differs from the one sent",
        ));
    }
    Ok(())
}

pub(crate) async fn serve(mut stream: Stream) -> io::Result<()> {
    let payload = read_bounded(&mut stream).await?;
    stream.write_all(&payload).await?;
    stream.close().await
}

async fn read_bounded(stream: &mut Stream) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    // One byte more than allowed tells an over-long payload from one at the limit.
    stream
        .take(MAX_PAYLOAD as u64 + 1)
        .read_to_end(&mut buf)
        .await?;
    if buf.len() > MAX_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "echo payload over the limit",
        ));
    }
    Ok(buf)
}
