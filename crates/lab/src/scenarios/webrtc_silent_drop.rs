//! `webrtc-silent-drop`: failure 1, a WebRTC-direct path that goes silent.

use std::time::Duration;

use testkit::TransportKind;

use super::{pair, Arm, Context, RunError, Sample, Scenario, Unit};

/// Plain WebRTC-direct never closes it; the policy arm's worst case is
/// about 9.5 s (a 6 s jittered interval, then three 1 s probe timeouts).
const CAP: Duration = Duration::from_secs(15);

/// See the module docs.
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "webrtc-silent-drop",
    description: "A WebRTC-direct connection through the UDP proxy, both ends running the \
                  arm's stack; the proxy blackholes both directions (failure 1: native WebRTC \
                  reports no dead remote). Policy arm: the facade's bundle at its defaults \
                  (conn-prune probing WebRTC every 5 s, state-isolation).",
    metric: "time until the dialer closes it",
    unit: Unit::Millis,
    cap: Some(CAP),
    parallel: super::all_at_once,
    requires: super::nothing,
    run: |arm, ctx| Box::pin(run(arm, ctx)),
};

async fn run(arm: Arm, _: Context) -> Result<Sample, RunError> {
    pair::silent_drop(TransportKind::WebRtc, arm, CAP).await
}
