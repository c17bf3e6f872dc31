//! What stream-quota's starvation detection relies on in libp2p-swarm, pinned.
//!
//! The muxer wrapper cannot see a handler's stream request; it infers one
//! from the order in which libp2p-swarm's connection task calls the muxer
//! (docs/stream-quota.md, "Starvation"): `poll` on every pass, then
//! `poll_outbound` on every pass while a request waits, and no
//! `poll_outbound` while none does. A swarm release that changed that would
//! break starvation detection without a word; this test records the calls
//! the swarm makes on a real QUIC connection through a wait for stream
//! credit, and fails if the order changed.

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use libp2p::core::{
    muxing::{StreamMuxer, StreamMuxerBox, StreamMuxerEvent},
    transport::Transport,
};

use super::*;

/// One call the swarm made on the muxer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Poll,
    /// `poll_outbound`, and whether it gave a stream.
    Outbound {
        ready: bool,
    },
}

type Calls = Arc<Mutex<Vec<Call>>>;

/// The outermost muxer layer: records what the swarm calls, passes all through.
struct Recorder {
    inner: StreamMuxerBox,
    calls: Calls,
}

impl StreamMuxer for Recorder {
    type Substream = <StreamMuxerBox as StreamMuxer>::Substream;
    type Error = <StreamMuxerBox as StreamMuxer>::Error;

    fn poll_inbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        Pin::new(&mut self.inner).poll_inbound(cx)
    }

    fn poll_outbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let result = Pin::new(&mut self.inner).poll_outbound(cx);
        let ready = result.is_ready();
        self.calls.lock().unwrap().push(Call::Outbound { ready });
        result
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        self.calls.lock().unwrap().push(Call::Poll);
        Pin::new(&mut self.inner).poll(cx)
    }
}

/// A stream the remote opens to this node, and its accepted end: a pass of
/// this node's connection task.
async fn stream_from(
    remote: &mut libp2p_stream::Control,
    local: PeerId,
    inbound: &mut libp2p_stream::IncomingStreams,
) -> (Stream, Stream) {
    let opened = tokio::time::timeout(SOON, remote.open_stream(local, BETA))
        .await
        .expect("an inbound open within SOON")
        .unwrap();
    let (_, accepted) = tokio::time::timeout(SOON, inbound.next())
        .await
        .expect("an inbound stream within SOON")
        .unwrap();
    (opened, accepted)
}

#[tokio::test]
async fn the_swarm_polls_the_muxer_in_the_order_starvation_detection_reads() {
    // A remote that grants two concurrent streams, and holds them.
    let (remote, held) = super::starvation::stingy_remote().await;
    let remote_id = remote.peer_id();

    let calls = Calls::default();
    let recorded = calls.clone();
    let Member {
        mut node,
        mut control,
        beta: mut inbound,
        ..
    } = member_wrapped(
        NodeConfig::new(TransportKind::Quic),
        Config::default(),
        move |t| {
            let calls = recorded.clone();
            Transport::map(t, move |(peer, muxer), _| {
                let recorder = Recorder {
                    inner: muxer,
                    calls: calls.clone(),
                };
                (peer, StreamMuxerBox::new(recorder))
            })
            .boxed()
        },
    )
    .await;
    node.connect(remote_id, remote.addr().clone(), CONNECT)
        .await
        .unwrap();

    // The remote's whole credit, then a third open that waits for it.
    let _first = tokio::time::timeout(SOON, control.open_stream(remote_id, ALPHA))
        .await
        .expect("the first open within SOON")
        .unwrap();
    let second = tokio::time::timeout(SOON, control.open_stream(remote_id, ALPHA))
        .await
        .expect("the second open within SOON")
        .unwrap();
    let mut third_control = control.clone();
    let third = tokio::spawn(async move { third_control.open_stream(remote_id, ALPHA).await });
    // The wait is seen: a `poll_outbound` that gave nothing, then passes.
    let waiting = |calls: &Calls| {
        let calls = calls.lock().unwrap();
        let Some(start) = calls
            .iter()
            .rposition(|c| *c == Call::Outbound { ready: true })
        else {
            return false;
        };
        calls[start + 1..]
            .iter()
            .filter(|c| **c == Call::Outbound { ready: false })
            .count()
            >= 1
    };
    let deadline = tokio::time::Instant::now() + SOON;
    while !waiting(&calls) {
        assert!(tokio::time::Instant::now() < deadline, "no wait seen");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let wait_start = calls.lock().unwrap().len();
    // Passes of the connection's task while the open waits: the remote
    // opens streams to this node (its credit this way is not exhausted).
    let mut remote_control = remote.with(|s| s.behaviour().stream.new_control()).await;
    let local_id = node.peer_id();
    let mut kept = Vec::new();
    for _ in 0..3 {
        kept.push(stream_from(&mut remote_control, local_id, &mut inbound).await);
    }
    // Credit comes back: the remote lets one go, the open completes.
    drop(second);
    held.lock().unwrap().clear();
    let _third = tokio::time::timeout(SOON, third)
        .await
        .expect("the third stream opens once credit returns")
        .unwrap()
        .unwrap();
    // Passes with nothing waiting: more streams from the remote.
    for _ in 0..2 {
        kept.push(stream_from(&mut remote_control, local_id, &mut inbound).await);
    }

    let calls = calls.lock().unwrap().clone();
    let grant = wait_start
        + calls[wait_start..]
            .iter()
            .position(|c| *c == Call::Outbound { ready: true })
            .expect("the waiting open was granted");
    // While the request waits, every pass that polls the muxer also polls
    // for the outbound stream: no two `poll`s without a `poll_outbound`.
    let waiting = &calls[wait_start..grant];
    for pair in waiting.windows(2) {
        assert!(
            !(pair[0] == Call::Poll && pair[1] == Call::Poll),
            "two polls with no poll_outbound while an open waited: {waiting:?}"
        );
    }
    let passes = waiting.iter().filter(|c| **c == Call::Poll).count();
    assert!(passes >= 3, "too few passes to tell: {waiting:?}");
    // Nothing waits after the grant: no `poll_outbound` at all, and the
    // muxer is still polled.
    let after = &calls[grant + 1..];
    assert!(
        !after.iter().any(|c| matches!(c, Call::Outbound { .. })),
        "poll_outbound with no open waiting: {after:?}"
    );
    assert!(after.contains(&Call::Poll), "{after:?}");
}
