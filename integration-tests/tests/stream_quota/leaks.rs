//! A stream held open past the leak threshold is reported once, on both
//! sides, with its protocol and direction.

use stream_quota::{Direction, Event};

use super::*;

const LEAK: Duration = Duration::from_millis(300);

/// Waits for the leak report of a stream with `peer`; returns its
/// connection, protocol, direction and age.
async fn wait_leaked(
    member: &mut Member,
    remote: PeerId,
) -> (ConnectionId, Option<StreamProtocol>, Direction, Duration) {
    member
        .wait_quota(SOON, "Leaked", |e| match e {
            Event::Leaked {
                peer,
                connection,
                protocol,
                direction,
                age,
            } if *peer == remote => Some((*connection, protocol.clone(), *direction, *age)),
            _ => None,
        })
        .await
}

#[tokio::test]
async fn a_leaked_stream_is_reported_on_both_sides() {
    let config = Config::default().with_leak_threshold(Some(LEAK));
    let mut opener = member(config.clone()).await;
    let mut acceptor = member(config).await;
    let (opener_id, acceptor_id) = (opener.peer_id(), acceptor.peer_id());
    let (on_opener, on_acceptor) = connect(&mut opener, &mut acceptor).await;

    // Both applications hold the stream and forget it.
    let _opened = opener.open(acceptor_id, BETA).await;
    let _accepted = acceptor.accept(BETA).await;

    let (connection, protocol, direction, age) = wait_leaked(&mut opener, acceptor_id).await;
    assert_eq!(
        (connection, protocol, direction),
        (on_opener, Some(BETA), Direction::Outbound)
    );
    assert!(age >= LEAK, "reported at {age:?}");
    let (connection, protocol, direction, age) = wait_leaked(&mut acceptor, opener_id).await;
    assert_eq!(
        (connection, protocol, direction),
        (on_acceptor, Some(BETA), Direction::Inbound)
    );
    assert!(age >= LEAK, "reported at {age:?}");

    // Once: the stream stays open and is not reported again.
    opener
        .node
        .expect_none(LEAK * 2, "a second leak report", |event| match event {
            libp2p::swarm::SwarmEvent::Behaviour(CountedEvent::Quota(e @ Event::Leaked { .. })) => {
                Some(e.clone())
            }
            _ => None,
        })
        .await
        .unwrap();
    let oldest = opener.quota.snapshot().connections[&on_opener]
        .streams
        .oldest_open;
    assert!(oldest.is_some_and(|o| o >= LEAK * 3), "{oldest:?}");
}
