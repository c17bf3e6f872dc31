//! The probe protocol, `/conn-prune/probe/1.0.0`.
//!
//! The prober negotiates a stream and keeps it: each later probe is an
//! 8-byte ping on it, echoed by the remote, as `libp2p-ping` does. Opening the
//! stream is a probe too: multistream-select (V1, the swarm's default) waits
//! for the remote's answer before a stream counts as negotiated, so a
//! negotiated stream is a round trip the remote took part in; a remote that
//! lacks the protocol answers "not supported", which proves it alive just as
//! well, and is probed by a new negotiation each time.

use std::{io, time::Duration};

use futures::{future, AsyncReadExt, AsyncWriteExt, FutureExt};
use libp2p_swarm::{Stream, StreamProtocol};

/// The probe protocol's name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/conn-prune/probe/1.0.0");

/// A ping's size.
const PING_SIZE: usize = 8;

/// How long either side spends closing a probe stream before it drops it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends one ping on `stream` and waits for its echo.
pub(crate) async fn ping(mut stream: Stream) -> io::Result<Stream> {
    let payload: [u8; PING_SIZE] = rand::random();
    stream.write_all(&payload).await?;
    stream.flush().await?;
    let mut echo = [0u8; PING_SIZE];
    stream.read_exact(&mut echo).await?;
    if echo != payload {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "probe echo differs from the ping",
        ));
    }
    Ok(stream)
}

/// Echoes pings on `stream` until it ends, or until `allow` refuses one.
pub(crate) async fn serve(mut stream: Stream, mut allow: impl FnMut() -> bool) -> io::Result<()> {
    let mut ping = [0u8; PING_SIZE];
    loop {
        match stream.read_exact(&mut ping).await {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        if !allow() {
            return Err(io::Error::other("inbound pings over the budget"));
        }
        stream.write_all(&ping).await?;
        stream.flush().await?;
    }
}

/// Closes a probe stream gracefully, without reading what the remote may have sent.
pub(crate) async fn close(mut stream: Stream) {
    let close = stream.close().boxed();
    // Either outcome ends the stream; a failure here says nothing new.
    let _ = future::select(close, futures_timer::Delay::new(CLOSE_TIMEOUT)).await;
}
