//! `quic-restart`: failure 4, a peer restarts with the same key and port.

use std::time::{Duration, Instant};

use libp2p::PeerId;
use testkit::{echo, ChildNode, ChildSpec, PlainEvent, TransportKind};

use super::{pair, Arm, Context, RunError, Sample, Scenario, Unit};
use crate::{
    stack::LabEvent,
    timeline::{self, Kind},
};

/// Plain QUIC keeps the old connection 10 to 13.5 s, and a request that
/// lands on it waits the 10 s stream timeout; one run in three took 30 s.
const CAP: Duration = Duration::from_secs(30);

/// See the module docs.
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "quic-restart",
    description: "A node in a child process, connected to an in-process survivor over QUIC, is \
                  SIGKILLed, restarted with the same key on the same port, and dials the \
                  survivor again; the survivor keeps sending echo requests with \
                  NotifyHandler::Any, each as soon as the last failed (failure 4). Policy arm: \
                  the facade's bundle on the survivor (state-isolation, conn-prune probing \
                  QUIC every 5 s), state-isolation on the restarted node.",
    metric: "time from the restart until a request to it succeeds",
    unit: Unit::Millis,
    cap: Some(CAP),
    parallel: super::all_at_once,
    requires: super::nothing,
    run: |arm, ctx| Box::pin(run(arm, ctx)),
};

async fn run(arm: Arm, ctx: Context) -> Result<Sample, RunError> {
    let mut spec = ChildSpec::new(TransportKind::Quic, ctx.key_seeds(1));
    if arm == Arm::Policy {
        spec = spec.with_state_isolation();
    }
    let mut remote = ChildNode::spawn(spec).await?;
    let mut survivor = pair::lab_node(TransportKind::Quic, arm, "survivor").await?;
    let peer = remote.peer_id();
    remote.dial(survivor.addr()).await?;
    let connection = survivor.wait_established(peer, pair::CONNECT).await?;
    pair::ready(&mut survivor, arm, peer, connection).await?;

    remote.kill().await?;
    timeline::mark("remote", Kind::Fault, "SIGKILLed");
    remote.restart().await?;
    let restarted = Instant::now();
    timeline::mark("remote", Kind::Fault, "restarted, dials the survivor");
    remote.dial(survivor.addr()).await?;
    Ok(Sample::time(
        first_success(&mut survivor, peer, restarted, CAP).await,
        CAP,
    ))
}

/// Sends echo requests to `peer` on any connection, one after the other,
/// until one succeeds; its time from `since`, `None` past the cap.
async fn first_success(
    survivor: &mut pair::LabNode,
    peer: PeerId,
    since: Instant,
    cap: Duration,
) -> Option<Duration> {
    let capped = || {
        timeline::mark("run", Kind::Capped, "the cap passed: no echo answered");
        None
    };
    loop {
        let Some(left) = cap.checked_sub(since.elapsed()) else {
            return capped();
        };
        let id = survivor
            .with(move |s| {
                s.behaviour_mut()
                    .app_mut()
                    .echo
                    .send(peer, echo::Target::Any)
            })
            .await;
        let Ok(outcome) = survivor
            .wait_behaviour(left, "echo outcome", |event| match event {
                LabEvent::App(PlainEvent::Echo(e)) if e.id == id => Some(e.result.is_ok()),
                _ => None,
            })
            .await
        else {
            return capped();
        };
        if outcome {
            timeline::mark("survivor", Kind::Success, "an echo to the peer answered");
            return Some(since.elapsed());
        }
    }
}
