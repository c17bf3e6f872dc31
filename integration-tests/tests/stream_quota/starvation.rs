//! A remote that hands back no QUIC stream credit starves the third stream;
//! the policy reports it long before the swarm's 10 s stream timeout, and
//! with recycling on replaces the connection, so the application's next
//! stream opens.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use libp2p::swarm::SwarmEvent;
use stream_quota::Event;
use tokio::task::JoinHandle;

use super::*;

const THRESHOLD: Duration = Duration::from_millis(500);
/// Far enough below the swarm's 10 s stream timeout to tell them apart.
const WELL_BEFORE_TIMEOUT: Duration = Duration::from_secs(5);

/// Streams the remote's application holds open.
pub(super) type Held = Arc<Mutex<Vec<Stream>>>;

/// A remote that lets a peer open two streams per QUIC connection, and
/// holds every inbound alpha stream until told to let go.
pub(super) async fn stingy_remote() -> (CountedNode, Held) {
    let config = NodeConfig::new(TransportKind::Quic).with_quic_max_concurrent_streams(2);
    let Member {
        node, mut alpha, ..
    } = member_with(config, Config::default()).await;
    let held = Held::default();
    let holder = held.clone();
    tokio::spawn(async move {
        while let Some((_, stream)) = alpha.next().await {
            holder.lock().unwrap().push(stream);
        }
    });
    (node, held)
}

/// Opens two streams to `remote` (its whole credit) and a third in the
/// background; returns the two, the third's task, and when it was asked for.
async fn starve(
    local: &mut Member,
    remote: PeerId,
) -> (
    Vec<Stream>,
    JoinHandle<Result<Stream, libp2p_stream::OpenStreamError>>,
    Instant,
) {
    let held = vec![
        local.open(remote, ALPHA).await,
        local.open(remote, ALPHA).await,
    ];
    let mut control = local.control.clone();
    let asked = Instant::now();
    let third = tokio::spawn(async move { control.open_stream(remote, ALPHA).await });
    (held, third, asked)
}

/// Waits for the starvation report; checks it came for `connection`, after
/// the threshold and well before the stream timeout.
async fn wait_starved(
    local: &mut Member,
    remote: PeerId,
    connection: ConnectionId,
    asked: Instant,
) {
    let (starved, blocked_for) = local
        .wait_quota(WELL_BEFORE_TIMEOUT, "Starved", |e| match e {
            Event::Starved {
                peer,
                connection,
                blocked_for,
            } if *peer == remote => Some((*connection, *blocked_for)),
            _ => None,
        })
        .await;
    let waited = asked.elapsed();
    assert_eq!(starved, connection);
    assert!(blocked_for >= THRESHOLD, "reported after {blocked_for:?}");
    assert!(
        blocked_for <= waited,
        "{blocked_for:?} blocked, {waited:?} since the open"
    );
    assert!(
        waited < WELL_BEFORE_TIMEOUT,
        "reported {waited:?} after the open"
    );
}

#[tokio::test]
async fn a_starved_connection_is_reported_and_recycled() {
    let (remote, _held_by_remote) = stingy_remote().await;
    let remote_id = remote.peer_id();
    let mut local = member(Config::default().with_starvation_threshold(THRESHOLD)).await;
    let starved = local
        .node
        .connect(remote_id, remote.addr().clone(), CONNECT)
        .await
        .unwrap();

    let (_held, third, asked) = starve(&mut local, remote_id).await;
    wait_starved(&mut local, remote_id, starved, asked).await;

    // A fresh connection first, then the starved one closed.
    let (mut recycled, mut closed) = (None, false);
    let (recycled_starved, replacement) = local
        .node
        .wait_for(
            SOON,
            "Recycled and the starved connection closed",
            |event| {
                match event {
                    SwarmEvent::Behaviour(CountedEvent::Quota(Event::Recycled {
                        peer,
                        starved,
                        replacement,
                    })) if *peer == remote_id => recycled = Some((*starved, *replacement)),
                    SwarmEvent::ConnectionClosed { connection_id, .. }
                        if *connection_id == starved =>
                    {
                        closed = true;
                    }
                    _ => {}
                }
                recycled.filter(|_| closed)
            },
        )
        .await
        .unwrap();
    assert_eq!(recycled_starved, starved);
    assert_ne!(replacement, starved);

    // The open stuck on the starved connection failed with it, well before
    // the stream timeout; the application's next one opens on the replacement.
    let stuck = tokio::time::timeout(SOON, third).await.unwrap().unwrap();
    assert!(stuck.is_err(), "the starved open went through");
    let _next = local.open(remote_id, ALPHA).await;
    assert!(asked.elapsed() < Duration::from_secs(10));
    let snapshot = local.quota.snapshot();
    assert!(!snapshot.connections.contains_key(&starved));
    assert_eq!(snapshot.connections.len(), 1);
    let on_replacement = &snapshot.connections[&replacement];
    assert_eq!(on_replacement.peer, remote_id);
    assert_eq!(
        (
            on_replacement.streams.outbound.open,
            on_replacement.streams.outbound.opened
        ),
        (1, 1)
    );
    assert_eq!(on_replacement.outbound_blocked_for, None);
}

#[tokio::test]
async fn without_recycling_starvation_is_reported_and_the_connection_kept() {
    let (remote, held_by_remote) = stingy_remote().await;
    let remote_id = remote.peer_id();
    let config = Config::default()
        .with_starvation_threshold(THRESHOLD)
        .with_recycling(false);
    let mut local = member(config).await;
    let starved = local
        .node
        .connect(remote_id, remote.addr().clone(), CONNECT)
        .await
        .unwrap();

    let (held, third, asked) = starve(&mut local, remote_id).await;
    wait_starved(&mut local, remote_id, starved, asked).await;
    local
        .node
        .expect_none(
            Duration::from_secs(1),
            "a recycling dial, a close, or a second report",
            |event| match event {
                SwarmEvent::Dialing { .. }
                | SwarmEvent::ConnectionEstablished { .. }
                | SwarmEvent::ConnectionClosed { .. }
                | SwarmEvent::Behaviour(CountedEvent::Quota(_)) => Some(format!("{event:?}")),
                _ => None,
            },
        )
        .await
        .unwrap();
    let snapshot = local.quota.snapshot();
    assert_eq!(snapshot.connections.len(), 1);
    let blocked_for = snapshot.connections[&starved].outbound_blocked_for;
    assert!(
        blocked_for.is_some_and(|b| b >= THRESHOLD),
        "the open is still blocked: {blocked_for:?}"
    );

    // The kept connection still works: once both sides let go of the two
    // streams, the credit comes back and the stuck open completes on it.
    held_by_remote.lock().unwrap().clear();
    drop(held);
    let third = tokio::time::timeout(SOON, third)
        .await
        .expect("the open completes once credit is back")
        .unwrap();
    let _third = third.unwrap_or_else(|e| panic!("the third open failed: {e}"));
    let on_starved = local.quota.snapshot().connections[&starved];
    assert_eq!(
        (
            on_starved.streams.outbound.open,
            on_starved.streams.outbound.opened
        ),
        (1, 3)
    );
    assert_eq!(on_starved.outbound_blocked_for, None);
}

#[tokio::test]
async fn a_starved_connection_with_no_address_to_redial_is_kept_and_the_reason_reported() {
    let (mut remote, _held_by_remote) = stingy_remote().await;
    let remote_id = remote.peer_id();
    let mut local = member(Config::default().with_starvation_threshold(THRESHOLD)).await;
    // The remote dials: the local node knows no address of it to redial.
    remote
        .connect(local.peer_id(), local.node.addr().clone(), CONNECT)
        .await
        .unwrap();
    let starved = local
        .node
        .wait_established(remote_id, CONNECT)
        .await
        .unwrap();

    let (_held, _third, asked) = starve(&mut local, remote_id).await;
    wait_starved(&mut local, remote_id, starved, asked).await;

    // The swarm stops a dial with no address before it starts, and tells
    // only the behaviours: the policy's event is the application's one
    // account of it, typed.
    let (kept, dial, error) = local
        .wait_quota(SOON, "RecycleFailed", |event| match event {
            Event::RecycleFailed {
                peer,
                starved,
                dial,
                error,
            } if *peer == remote_id => Some((*starved, *dial, error.clone())),
            _ => None,
        })
        .await;
    assert_eq!(kept, starved);
    assert_ne!(dial, starved);
    assert!(
        matches!(error, stream_quota::RecycleError::NoAddresses),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "no address of the peer to dial");
    // Nothing else happened to the starved connection.
    let snapshot = local.quota.snapshot();
    assert_eq!(snapshot.connections.len(), 1);
    assert!(snapshot.connections.contains_key(&starved));
}
