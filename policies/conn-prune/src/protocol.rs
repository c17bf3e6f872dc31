//! The probe protocol: a stream that negotiates `/conn-prune/probe/1.0.0`
//! and closes. Nothing is written on it.
//!
//! Multistream-select (V1, the swarm's default) waits for the remote's answer
//! before a stream counts as negotiated, so a negotiated probe is a round trip
//! the remote took part in; a remote that lacks the protocol answers "not
//! supported", which proves it alive just as well.

use std::time::Duration;

use futures::{future, AsyncWriteExt, FutureExt};
use libp2p_swarm::{Stream, StreamProtocol};

/// The probe protocol's name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/conn-prune/probe/1.0.0");

/// How long either side spends closing a probe stream before it drops it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Closes a probe stream gracefully, so the negotiation's last bytes reach
/// the remote, without reading what the remote may have sent.
pub(crate) async fn close(mut stream: Stream) {
    let close = stream.close().boxed();
    // Either outcome ends the probe; a failure here says nothing the negotiation did not.
    let _ = future::select(close, futures_timer::Delay::new(CLOSE_TIMEOUT)).await;
}
