//! Bad incarnation messages drop their stream only; no peer can judge
//! another's connections.

use futures::AsyncWriteExt;
use libp2p::swarm::SwarmEvent;
use libp2p_stream::Control;
use state_isolation::{ExchangeError, Incarnation, PROTOCOL};

use super::*;

/// A node that speaks only what a test writes by hand; `key_seed` fixes its key.
async fn stream_node(key_seed: Option<u64>) -> Node<libp2p_stream::Behaviour> {
    let mut config = NodeConfig::new(TransportKind::Quic);
    if let Some(seed) = key_seed {
        config = config.with_keypair(testkit::keypair_from_seed(seed));
    }
    Node::spawn(config, |_| libp2p_stream::Behaviour::new())
        .await
        .unwrap()
}

/// Writes `bytes` on a new exchange stream and closes it, without waiting
/// for the remote to read (it reads at most one byte past a message).
async fn send_raw(control: &mut Control, to: PeerId, bytes: Vec<u8>) {
    let mut stream = control.open_stream(to, PROTOCOL).await.unwrap();
    tokio::spawn(async move {
        let _ = stream.write_all(&bytes).await;
        let _ = stream.close().await;
    });
}

fn message(incarnation: Incarnation) -> Vec<u8> {
    let mut bytes = vec![1];
    bytes.extend_from_slice(&incarnation.as_u128().to_be_bytes());
    bytes
}

async fn wait_refused(node: &mut IsolatedNode, connection: ConnectionId) -> ExchangeError {
    node.wait_for(CONNECT, "Refused", |event| match event {
        SwarmEvent::Behaviour(state_isolation::Event::Refused {
            connection: c,
            error,
            ..
        }) if *c == connection => Some(format!("{error:?}")),
        SwarmEvent::ConnectionClosed { connection_id, .. } if *connection_id == connection => {
            panic!("the connection was closed")
        }
        _ => None,
    })
    .await
    .map(|debug| match debug.as_str() {
        "Oversized" => ExchangeError::Oversized,
        _ if debug.starts_with("Truncated") => ExchangeError::Truncated {
            len: debug
                .trim_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .unwrap(),
        },
        _ if debug.starts_with("UnknownVersion") => ExchangeError::UnknownVersion(
            debug
                .trim_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .unwrap(),
        ),
        other => panic!("unexpected refusal {other}"),
    })
    .unwrap()
}

#[tokio::test]
async fn malformed_messages_drop_their_stream_and_nothing_else() {
    init();
    let mut victim = isolating_node(TransportKind::Quic).await;
    let victim_id = victim.peer_id();
    let mut attacker = stream_node(None).await;
    attacker
        .connect(victim_id, victim.addr().clone(), CONNECT)
        .await
        .unwrap();
    let connection = victim
        .wait_established(attacker.peer_id(), CONNECT)
        .await
        .unwrap();
    // It serves no exchange of its own.
    wait_status(&victim, connection, Status::Unsupported).await;
    let mut control = attacker.with(|s| s.behaviour().new_control()).await;

    // One at a time: a stream arriving while another is read is dropped unread.
    send_raw(&mut control, victim_id, vec![0xAB; 1 << 20]).await;
    assert!(matches!(
        wait_refused(&mut victim, connection).await,
        ExchangeError::Oversized
    ));
    send_raw(&mut control, victim_id, vec![1, 2, 3, 4, 5]).await;
    assert!(matches!(
        wait_refused(&mut victim, connection).await,
        ExchangeError::Truncated { len: 5 }
    ));
    let mut wrong_version = message(Incarnation::random());
    wrong_version[0] = 0xff;
    send_raw(&mut control, victim_id, wrong_version).await;
    assert!(matches!(
        wait_refused(&mut victim, connection).await,
        ExchangeError::UnknownVersion(0xff)
    ));

    // Past three attempts a connection's streams are not read at all, good or bad.
    send_raw(&mut control, victim_id, message(Incarnation::random())).await;
    victim
        .expect_none(
            Duration::from_millis(500),
            "a judgement or a close",
            |event| match event {
                SwarmEvent::Behaviour(e) => Some(format!("{e:?}")),
                SwarmEvent::ConnectionClosed { .. } => Some("closed".to_owned()),
                _ => None,
            },
        )
        .await
        .unwrap();
    let info = victim
        .with(move |s| s.behaviour().connection(connection))
        .await
        .unwrap();
    assert_eq!((info.status, info.incarnation), (Status::Unsupported, None));
    let attacker_id = attacker.peer_id();
    assert!(victim.with(move |s| s.is_connected(&attacker_id)).await);
}

#[tokio::test]
async fn a_peer_cannot_judge_another_peers_connections() {
    init();
    let mut victim = isolating_node(TransportKind::Quic).await;
    let victim_id = victim.peer_id();
    let mut honest = isolating_node(TransportKind::Quic).await;
    let honest_id = honest.peer_id();
    let honest_incarnation = honest.with(|s| s.behaviour().local_incarnation()).await;
    honest
        .connect(victim_id, victim.addr().clone(), CONNECT)
        .await
        .unwrap();
    let honest_connection = victim.wait_established(honest_id, CONNECT).await.unwrap();
    let before = wait_status(&victim, honest_connection, Status::Current).await;

    // Two runs of one attacker key: the first claims the honest peer's
    // incarnation, the second announces another.
    let mut runs = Vec::new();
    let mut connections = Vec::new();
    for claim in [honest_incarnation, Incarnation::random()] {
        let mut run = stream_node(Some(77)).await;
        run.connect(victim_id, victim.addr().clone(), CONNECT)
            .await
            .unwrap();
        let connection = victim
            .wait_established(run.peer_id(), CONNECT)
            .await
            .unwrap();
        let mut control = run.with(|s| s.behaviour().new_control()).await;
        send_raw(&mut control, victim_id, message(claim)).await;
        connections.push(connection);
        runs.push(run);
    }
    let replacement = victim
        .wait_behaviour(CONNECT, "Replaced", |event| match event {
            state_isolation::Event::Replaced(r) => Some(r.clone()),
            _ => None,
        })
        .await
        .unwrap();
    // Only the attacker's own first connection went.
    assert_eq!(replacement.peer, runs[0].peer_id());
    assert_eq!(replacement.closed, vec![connections[0]]);
    assert_eq!(replacement.previous, honest_incarnation);
    let after = victim
        .with(move |s| s.behaviour().connection(honest_connection))
        .await
        .unwrap();
    assert_eq!(after, before);
    let current = victim
        .with(move |s| s.behaviour().incarnation_of(&honest_id))
        .await;
    assert_eq!(current.map(|(i, _)| i), Some(honest_incarnation));
    assert!(victim.with(move |s| s.is_connected(&honest_id)).await);
}
