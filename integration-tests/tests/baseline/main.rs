//! The failures of plain rust-libp2p 0.57 that the policies cure, reproduced on
//! real connections: the "before" pictures. Each test asserts the failure
//! itself, so it fails the day the stack stops failing this way.

mod quic;
mod webrtc;

use std::time::{Duration, Instant};

use libp2p::{
    swarm::{ConnectionId, SwarmEvent},
    PeerId,
};
use testkit::{echo, Node, PlainBehaviour};

/// Time to set up a connection on loopback.
const CONNECT: Duration = Duration::from_secs(10);
/// The swarm's default stream timeout: an open on a dead connection fails after this.
const STREAM_TIMEOUT: Duration = Duration::from_secs(10);

type PlainNode = Node<PlainBehaviour>;

/// Sends an echo on `connection` and waits for its outcome, failing the test on
/// a `ConnectionClosed` of that connection meanwhile. Returns the outcome and
/// how long it took.
async fn echo_on(
    node: &mut PlainNode,
    peer: PeerId,
    connection: ConnectionId,
    within: Duration,
) -> (Result<Duration, echo::EchoError>, Duration) {
    let started = Instant::now();
    let id = node
        .with(move |s| {
            s.behaviour_mut()
                .echo
                .send(peer, echo::Target::Connection(connection))
        })
        .await;
    let result = node
        .wait_for(within, "echo outcome", |event| match event {
            SwarmEvent::Behaviour(testkit::PlainEvent::Echo(e)) if e.id == id => {
                Some(Ok(e.result.clone()))
            }
            SwarmEvent::ConnectionClosed {
                connection_id,
                cause,
                ..
            } if *connection_id == connection => Some(Err(format!("{cause:?}"))),
            _ => None,
        })
        .await
        .expect("the echo completes or fails in time")
        .unwrap_or_else(|cause| panic!("connection closed during the echo: {cause}"));
    (result, started.elapsed())
}

/// Asserts that no `ConnectionClosed` for `connection` comes within `window`.
async fn assert_stays_open(node: &mut PlainNode, connection: ConnectionId, window: Duration) {
    node.expect_none(window, "ConnectionClosed", |event| match event {
        SwarmEvent::ConnectionClosed {
            connection_id,
            cause,
            ..
        } if *connection_id == connection => Some(format!("{cause:?}")),
        _ => None,
    })
    .await
    .unwrap();
}

async fn is_connected(node: &PlainNode, peer: PeerId) -> bool {
    node.with(move |s| s.is_connected(&peer)).await
}

fn init() {
    testkit::init_tracing();
}
