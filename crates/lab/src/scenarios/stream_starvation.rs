//! `stream-starvation`: failure 2, a peer that hands back no stream credit.

use std::time::{Duration, Instant};

use either::Either;
use futures::StreamExt;
use libp2p::{PeerId, StreamProtocol};
use libp2p_stream::Control;
use testkit::{Node, NodeConfig, TransportKind};
use transport_policies::Policies;

use super::{pair::CONNECT, Arm, Context, RunError, Sample, Scenario, Unit};
use crate::{
    stack::{self, policy_config},
    timeline::{self, Kind},
};

/// The application's protocol: the remote accepts its streams and keeps them.
const HOLD: StreamProtocol = StreamProtocol::new("/policy-lab/hold/1.0.0");

/// Streams the remote lets the node open on one QUIC connection.
const REMOTE_STREAM_LIMIT: u32 = 2;

/// Past the first 10 s stream timeout, so a plain run that gets a stream on
/// its second try would show; none does.
const CAP: Duration = Duration::from_secs(15);

/// See the module docs.
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "stream-starvation",
    description: "The remote lets a QUIC connection open 2 streams and holds every stream it \
                  accepts; the node opens 2, then its application wants a third and retries \
                  each time an attempt fails (failure 2). Plain: each attempt waits the 10 s \
                  stream timeout on the starved connection. Policy arm: the facade's bundle \
                  with stream-quota's defaults (starvation after 2 s, recycling on: a fresh \
                  connection first, then the starved one closed).",
    metric: "time until the application's new stream opens",
    unit: Unit::Millis,
    cap: Some(CAP),
    parallel: super::all_at_once,
    requires: super::nothing,
    run: |arm, ctx| Box::pin(run(arm, ctx)),
};

/// The node: an application that opens raw streams, with the policies around
/// it on the policy arm.
type Local = Either<libp2p_stream::Behaviour, Policies<libp2p_stream::Behaviour>>;

async fn run(arm: Arm, _: Context) -> Result<Sample, RunError> {
    let remote = Node::spawn(
        NodeConfig::new(TransportKind::Quic).with_quic_max_concurrent_streams(REMOTE_STREAM_LIMIT),
        |_| libp2p_stream::Behaviour::new(),
    )
    .await?;
    let mut incoming = remote
        .with(|s| s.behaviour().new_control().accept(HOLD))
        .await
        .map_err(|e| RunError::new(format!("accept: {e}")))?;
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some((_, stream)) = incoming.next().await {
            held.push(stream);
        }
    });

    let (config, layers) = stack::node_config(arm, TransportKind::Quic);
    let mut local: Node<Local> = Node::spawn_observed(
        config,
        move |_| match arm {
            Arm::Plain => Either::Left(libp2p_stream::Behaviour::new()),
            Arm::Policy => Either::Right(
                Policies::new(libp2p_stream::Behaviour::new(), policy_config(None, layers))
                    .expect("the lab's policy config is valid"),
            ),
        },
        timeline::observer("node"),
    )
    .await?;
    let peer = remote.peer_id();
    local.connect(peer, remote.addr().clone(), CONNECT).await?;
    let mut control = local
        .with(|s| match s.behaviour() {
            Either::Left(app) => app.new_control(),
            Either::Right(policies) => policies.app().new_control(),
        })
        .await;

    // The remote's credit on this connection, spent on streams it keeps.
    let mut held = Vec::new();
    for _ in 0..REMOTE_STREAM_LIMIT {
        held.push(open(&mut control, peer, CONNECT).await.map_err(|e| {
            RunError::new(format!("opening a held stream: {e}"))
        })?);
    }
    let start = Instant::now();
    timeline::mark(
        "remote",
        Kind::Fault,
        "its stream credit is spent: the node holds 2 streams and wants a third",
    );
    let took = loop {
        let Some(left) = CAP.checked_sub(start.elapsed()) else {
            timeline::mark("run", Kind::Capped, "the cap passed: no third stream");
            break None;
        };
        // A failed attempt (the stream timeout, or the starved connection
        // closed under it) is retried at once, as an application would.
        if open(&mut control, peer, left).await.is_ok() {
            timeline::mark("node", Kind::Success, "the third stream opened");
            break Some(start.elapsed());
        }
    };
    holder.abort();
    drop((held, local, remote));
    Ok(Sample::time(took, CAP))
}

/// One stream of [`HOLD`] to `peer`, or why not within `within`.
async fn open(
    control: &mut Control,
    peer: PeerId,
    within: Duration,
) -> Result<libp2p::Stream, String> {
    match tokio::time::timeout(within, control.open_stream(peer, HOLD)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no stream within {within:?}")),
    }
}
