//! `webrtc-kill`: failure 1, the remote of a WebRTC-direct connection crashes.

use std::time::{Duration, Instant};

use testkit::{ChildNode, ChildSpec, TransportKind};

use super::{pair, Arm, Context, RunError, Sample, Scenario, Unit};
use crate::timeline::{self, Kind};

/// Plain WebRTC-direct never closes it; the policy arm's worst case is about 9.5 s.
const CAP: Duration = Duration::from_secs(15);

/// See the module docs.
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "webrtc-kill",
    description: "A node in a child process (the testkit's plain node), connected to over \
                  WebRTC-direct by an in-process survivor running the arm's stack, is \
                  SIGKILLed: no close reaches the wire (failure 1). Policy arm: the facade's \
                  bundle at its defaults (conn-prune probing WebRTC every 5 s, \
                  state-isolation) on the survivor.",
    metric: "time until the survivor closes it",
    unit: Unit::Millis,
    cap: Some(CAP),
    parallel: super::all_at_once,
    requires: super::nothing,
    run: |arm, ctx| Box::pin(run(arm, ctx)),
};

async fn run(arm: Arm, ctx: Context) -> Result<Sample, RunError> {
    let mut remote =
        ChildNode::spawn(ChildSpec::new(TransportKind::WebRtc, ctx.key_seeds(1))).await?;
    let mut survivor = pair::lab_node(TransportKind::WebRtc, arm, "survivor").await?;
    let peer = remote.peer_id();
    let connection = survivor
        .connect(peer, remote.addr().clone(), pair::CONNECT)
        .await?;
    pair::ready(&mut survivor, arm, peer, connection).await?;

    remote.kill().await?;
    let killed = Instant::now();
    timeline::mark("remote", Kind::Fault, "SIGKILLed");
    Ok(pair::time_to_close(&mut survivor, connection, killed, CAP).await)
}
