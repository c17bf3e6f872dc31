//! `quic-silent-drop`: a QUIC path that goes silent, which QUIC itself
//! notices only at its idle timeout (the detection half of failure 4).

use std::time::Duration;

use testkit::TransportKind;

use super::{pair, Arm, Context, RunError, Sample, Scenario, Unit};

/// Plain QUIC closes it 10 to 14.5 s after the cut; the cap leaves room above that.
const CAP: Duration = Duration::from_secs(20);

/// See the module docs.
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "quic-silent-drop",
    description: "A QUIC connection through the UDP proxy, both ends running the arm's \
                  stack; the proxy blackholes both directions. Plain QUIC closes it at its \
                  idle timeout. Policy arm: the facade's bundle at its defaults \
                  (conn-prune's, state-isolation's) with QUIC probed every 5 s.",
    metric: "time until the dialer closes it",
    unit: Unit::Millis,
    cap: Some(CAP),
    parallel: super::all_at_once,
    requires: super::nothing,
    run: |arm, ctx| Box::pin(run(arm, ctx)),
};

async fn run(arm: Arm, _: Context) -> Result<Sample, RunError> {
    pair::silent_drop(TransportKind::Quic, arm, CAP).await
}
