//! Limits refuse exactly the stream that would exceed them, with a reason
//! the opener can read, and leave every other stream alone.

use futures::FutureExt;
use libp2p_stream::OpenStreamError;
use stream_quota::{Direction, Limit, LimitExceeded, Scope};

use super::*;

/// The [`LimitExceeded`] inside an open's error.
fn limit_exceeded(error: &OpenStreamError) -> Exceeded {
    match error {
        OpenStreamError::Io(io) => Exceeded::of(
            LimitExceeded::from_io(io).unwrap_or_else(|| panic!("no LimitExceeded in {io:?}")),
        ),
        other => panic!("not an I/O error: {other:?}"),
    }
}

/// The opener's error carries `expected` and names its limit in `words`, and
/// the opener reported the same refusal for `peer` on `connection`.
async fn assert_refused_open(
    opener: &mut Member,
    error: &OpenStreamError,
    expected: Exceeded,
    words: &str,
    peer: PeerId,
    connection: ConnectionId,
) {
    assert_eq!(limit_exceeded(error), expected);
    assert!(
        error.to_string().contains(words),
        "the error names the scope: {error}"
    );
    assert_eq!(
        opener.wait_refused().await,
        (peer, Some(connection), expected)
    );
}

#[tokio::test]
async fn an_inbound_protocol_limit_refuses_the_stream_over_it_and_no_other() {
    let limit = Limit {
        inbound: Some(2),
        outbound: None,
    };
    let mut listener = member(Config::default().with_protocol_limit(ALPHA, limit)).await;
    let mut dialer = member(Config::default()).await;
    let (listener_id, dialer_id) = (listener.peer_id(), dialer.peer_id());
    let (on_dialer, on_listener) = connect(&mut dialer, &mut listener).await;

    let mut opened = Vec::new();
    let mut accepted = Vec::new();
    for _ in 0..2 {
        opened.push(dialer.open(listener_id, ALPHA).await);
        accepted.push(listener.accept(ALPHA).await.1);
    }
    let error = dialer
        .try_open(listener_id, ALPHA)
        .await
        .expect_err("a third alpha stream is over the listener's limit");
    // The listener dropped the stream when it was about to confirm alpha;
    // on QUIC that is a clean end of stream after its header (the dialer had
    // written all it had), which multistream-select reports as a protocol
    // not supported. The reason is the listener's to report.
    assert!(
        matches!(&error, OpenStreamError::UnsupportedProtocol(p) if *p == ALPHA),
        "{error:?}"
    );
    assert_eq!(
        listener.wait_refused().await,
        (
            dialer_id,
            Some(on_listener),
            Exceeded {
                scope: Scope::Protocol,
                direction: Direction::Inbound,
                limit: 2,
                protocol: Some(ALPHA),
            }
        )
    );
    // Refused during its negotiation: the application never saw it.
    assert!(listener.alpha.next().now_or_never().is_none());
    let snapshot = listener.quota.snapshot();
    let alpha = snapshot.protocols[&ALPHA].inbound;
    assert_eq!((alpha.open, alpha.opened, alpha.refused), (2, 2, 1));
    // Admitted by the connection, peer and node, then refused by its protocol.
    let node = snapshot.node.inbound;
    assert_eq!((node.open, node.opened, node.refused), (2, 3, 1));
    // The dialer's end was dropped with its failed negotiation.
    let dialer_node = dialer.quota.snapshot().node.outbound;
    assert_eq!((dialer_node.open, dialer_node.opened), (2, 3));

    // Other protocols are not limited by alpha's limit.
    let mut betas = Vec::new();
    for _ in 0..3 {
        betas.push(dialer.open(listener_id, BETA).await);
        betas.push(listener.accept(BETA).await.1);
    }
    dialer.echo(listener_id, on_dialer).await;
    let beta = listener.quota.snapshot().protocols[&BETA].inbound;
    assert_eq!((beta.open, beta.refused), (3, 0));

    // One alpha stream dropped by the listener's application frees its slot.
    drop(accepted.pop());
    assert_eq!(listener.quota.snapshot().protocols[&ALPHA].inbound.open, 1);
    drop(opened.pop());
    opened.push(dialer.open(listener_id, ALPHA).await);
    accepted.push(listener.accept(ALPHA).await.1);
    let alpha = listener.quota.snapshot().protocols[&ALPHA].inbound;
    assert_eq!((alpha.open, alpha.opened, alpha.refused), (2, 3, 1));
}

#[tokio::test]
async fn an_outbound_protocol_limit_fails_the_open_with_the_reason() {
    let limit = Limit {
        inbound: None,
        outbound: Some(1),
    };
    let mut opener = member(Config::default().with_protocol_limit(ALPHA, limit)).await;
    let mut remote = member(Config::default()).await;
    let remote_id = remote.peer_id();
    let (on_opener, _) = connect(&mut opener, &mut remote).await;

    let _first = opener.open(remote_id, ALPHA).await;
    let error = opener
        .try_open(remote_id, ALPHA)
        .await
        .expect_err("a second alpha stream is over the opener's limit");
    let expected = Exceeded {
        scope: Scope::Protocol,
        direction: Direction::Outbound,
        limit: 1,
        protocol: Some(ALPHA),
    };
    assert_refused_open(
        &mut opener,
        &error,
        expected,
        "protocol limit of 1",
        remote_id,
        on_opener,
    )
    .await;
    let alpha = opener.quota.snapshot().protocols[&ALPHA].outbound;
    assert_eq!((alpha.open, alpha.opened, alpha.refused), (1, 1, 1));

    // Another protocol still opens.
    let _beta = opener.open(remote_id, BETA).await;
}

#[tokio::test]
async fn an_outbound_connection_limit_fails_the_open_before_the_muxer_opens_it() {
    let limit = Limit {
        inbound: None,
        outbound: Some(1),
    };
    let mut opener = member(Config::default().with_limit(Scope::Connection, limit)).await;
    let mut remote = member(Config::default()).await;
    let remote_id = remote.peer_id();
    let (on_opener, on_remote) = connect(&mut opener, &mut remote).await;

    let first = opener.open(remote_id, BETA).await;
    let accepted = remote.accept(BETA).await;
    let error = opener
        .try_open(remote_id, ALPHA)
        .await
        .expect_err("a second stream is over the connection's limit");
    let expected = Exceeded {
        scope: Scope::Connection,
        direction: Direction::Outbound,
        limit: 1,
        protocol: None,
    };
    assert_refused_open(
        &mut opener,
        &error,
        expected,
        "connection limit of 1",
        remote_id,
        on_opener,
    )
    .await;
    let snapshot = opener.quota.snapshot();
    let outbound = snapshot.connections[&on_opener].streams.outbound;
    assert_eq!(
        (outbound.open, outbound.opened, outbound.refused),
        (1, 1, 1)
    );
    assert!(!snapshot.protocols.contains_key(&ALPHA));

    // Never opened on the wire: once the first stream is gone the next one
    // opens, and the remote, which would have been handed a lower-numbered
    // QUIC stream first, has seen two streams, not three.
    drop((first, accepted));
    let _next = opener.open(remote_id, BETA).await;
    let _accepted = remote.accept(BETA).await;
    let inbound = remote.quota.snapshot().connections[&on_remote]
        .streams
        .inbound;
    assert_eq!((inbound.open, inbound.opened), (1, 2));
    let outbound = opener.quota.snapshot().connections[&on_opener]
        .streams
        .outbound;
    assert_eq!(
        (outbound.open, outbound.opened, outbound.refused),
        (1, 2, 1)
    );
}
