//! `webrtc-close-one-of-two`: failure 1 as go-libp2p 0.36.1 met it, a
//! dialer closes one of its two connections and the listener misses it.

use std::time::{Duration, Instant};

use testkit::TransportKind;

use super::{pair, Arm, Context, RunError, Sample, Scenario, Unit};
use crate::timeline::{self, Kind};

/// Plain libp2p-webrtc never closes it unless a stream is opened on it; the
/// policy arm's worst case is about one 6 s probe interval.
const CAP: Duration = Duration::from_secs(15);

/// See the module docs.
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "webrtc-close-one-of-two",
    description: "A dialer holds two WebRTC-direct connections to one listener, the second \
                  through a fault-free proxy (the listener's UDP mux binds a remote address \
                  to one connection), and closes the first; both run the arm's stack, no \
                  application stream is opened (failure 1, go-libp2p 0.36.1). Policy arm: \
                  the facade's bundle at its defaults (conn-prune probing WebRTC every 5 s, \
                  state-isolation); the listener's probes find the closed connection.",
    metric: "time until the listener closes its side",
    unit: Unit::Millis,
    cap: Some(CAP),
    parallel: super::all_at_once,
    requires: super::nothing,
    run: |arm, ctx| Box::pin(run(arm, ctx)),
};

async fn run(arm: Arm, _: Context) -> Result<Sample, RunError> {
    let mut listener = pair::lab_node(TransportKind::WebRtc, arm, "listener").await?;
    let mut dialer = pair::lab_node(TransportKind::WebRtc, arm, "dialer").await?;
    let (peer, dialer_id) = (listener.peer_id(), dialer.peer_id());

    let first = dialer
        .connect(peer, listener.addr().clone(), pair::CONNECT)
        .await?;
    // The first connection the dialer makes is the first the listener accepts.
    let closed_side = listener.wait_established(dialer_id, pair::CONNECT).await?;
    let (_second_path, _second) = dialer
        .connect_through_proxy(peer, listener.addr(), pair::CONNECT)
        .await?;
    listener.wait_established(dialer_id, pair::CONNECT).await?;
    pair::ready(&mut listener, arm, dialer_id, closed_side).await?;

    if !dialer.with(move |s| s.close_connection(first)).await {
        return Err(RunError::new(
            "the dialer's first connection was gone before the close",
        ));
    }
    let closed = Instant::now();
    timeline::mark("dialer", Kind::Fault, "closes its first connection");
    Ok(pair::time_to_close(&mut listener, closed_side, closed, CAP).await)
}
