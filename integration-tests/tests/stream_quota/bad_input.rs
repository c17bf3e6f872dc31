//! A peer that writes what it likes on raw QUIC streams, below any swarm:
//! malformed multistream-select bytes never upset the accounting, a flood
//! of streams meets the connection's limit, with the victim's ledger back
//! at zero once the attacker is gone, and greedy peers holding all the
//! streams the node-wide limit lets them leave room for an honest one.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use futures::{future::poll_fn, AsyncReadExt, AsyncWriteExt};
use libp2p::{
    core::{
        muxing::StreamMuxerExt,
        transport::{DialOpts, PortUse},
        Endpoint, Transport as _,
    },
    identity::Keypair,
    quic, Multiaddr,
};
use stream_quota::{Direction, Limit, Scope};
use testkit::abuse::frame;

use super::*;

/// A QUIC connection made without a swarm: streams are opened on its muxer
/// directly and carry whatever the test writes, no negotiation.
struct Raw {
    peer_id: PeerId,
    connection: quic::Connection,
    /// Kept so that nothing of the dialing side goes before the connection.
    _transport: quic::tokio::Transport,
}

impl Raw {
    async fn connect(to: &Multiaddr) -> Self {
        testkit::install_crypto_provider();
        let key = Keypair::generate_ed25519();
        let mut transport = quic::tokio::Transport::new(quic::Config::new(&key));
        let dial = transport
            .dial(
                to.clone(),
                DialOpts {
                    role: Endpoint::Dialer,
                    port_use: PortUse::New,
                },
            )
            .unwrap();
        let (_, connection) = tokio::time::timeout(CONNECT, dial)
            .await
            .expect("the QUIC handshake completes")
            .unwrap();
        Self {
            peer_id: key.public().to_peer_id(),
            connection,
            _transport: transport,
        }
    }

    async fn open(&mut self) -> quic::Stream {
        tokio::time::timeout(SOON, poll_fn(|cx| self.connection.poll_outbound_unpin(cx)))
            .await
            .expect("stream credit")
            .unwrap()
    }

    /// Closes the connection, as an attacker that goes away does.
    async fn close(mut self) {
        let _ =
            tokio::time::timeout(SOON, poll_fn(|cx| self.connection.poll_close_unpin(cx))).await;
    }
}

const HEADER: &[u8] = b"/multistream/1.0.0\n";

/// The victim's counts on `connection`: (opened, open, refused) inbound.
fn inbound_on(snapshot: &Snapshot, connection: ConnectionId) -> (u64, u32, u64) {
    snapshot
        .connections
        .get(&connection)
        .map_or((0, 0, 0), |c| {
            let i = c.streams.inbound;
            (i.opened, i.open, i.refused)
        })
}

#[tokio::test]
async fn malformed_negotiation_bytes_never_upset_the_accounting() {
    let mut victim = member(Config::default()).await;
    let victim_id = victim.peer_id();
    let mut raw = Raw::connect(victim.node.addr()).await;
    let connection = victim
        .node
        .wait_established(raw.peer_id, CONNECT)
        .await
        .unwrap();

    let mut huge_name = b"/".to_vec();
    huge_name.extend(std::iter::repeat_n(b'x', 16_000));
    huge_name.push(b'\n');
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("nothing at all", Vec::new()),
        ("garbage", (0..=255u8).rev().cycle().take(4096).collect()),
        ("a three-byte varint length", vec![0x80, 0x80, 0x01, b'/']),
        ("a huge varint length", vec![0xff; 10]),
        ("a zero-length frame", vec![0x00]),
        ("a frame cut short", [&[100][..], b"/multi"].concat()),
        ("a header without newline", frame(b"/multistream/1.0.0")),
        (
            "a huge protocol name",
            [frame(HEADER), frame(&huge_name)].concat(),
        ),
        (
            "a protocol name that is not UTF-8",
            [frame(HEADER), frame(b"/\xff\xfe\xfd\n")].concat(),
        ),
        (
            "a protocol without a slash",
            [frame(HEADER), frame(b"echo\n")].concat(),
        ),
        (
            "ls, then garbage",
            [frame(HEADER), frame(b"ls\n"), vec![0xff; 64]].concat(),
        ),
        (
            "na from the dialer",
            [frame(HEADER), frame(b"na\n")].concat(),
        ),
        (
            "echo agreed, then a payload over its limit",
            [
                frame(HEADER),
                frame(format!("{}\n", echo::PROTOCOL).as_bytes()),
                vec![0xab; echo::MAX_PAYLOAD * 4],
            ]
            .concat(),
        ),
    ];
    // Each case twice: read to the end as a peer waiting for an answer
    // would, and dropped at once (which stops the victim's writes).
    let total = 2 * cases.len() as u64;
    let mut opened = 0;
    for (case, bytes) in cases {
        for read_answer in [true, false] {
            let mut stream = raw.open().await;
            // The victim may refuse before all is written (a stopped stream).
            let _ = stream.write_all(&bytes).await;
            let _ = stream.close().await;
            if read_answer {
                let mut answer = Vec::new();
                let read = stream.read_to_end(&mut answer);
                let _ = tokio::time::timeout(SOON, read)
                    .await
                    .unwrap_or_else(|_| panic!("{case}: the victim neither answers nor ends"));
            }
            drop(stream);
            opened += 1;
            victim
                .wait_ledger(SOON, case, move |s| {
                    inbound_on(s, connection) == (opened, 0, 0)
                })
                .await;
        }
    }

    // Still up, still counting, and serving a well-behaved peer.
    let mut honest = member(Config::default()).await;
    connect(&mut honest, &mut victim).await;
    let _stream = honest.open(victim_id, ALPHA).await;
    let _accepted = victim.accept(ALPHA).await;
    let snapshot = victim.quota.snapshot();
    assert_eq!(inbound_on(&snapshot, connection), (total, 0, 0));
    assert_eq!(snapshot.node.inbound.open, 1);
    assert_eq!(snapshot.node.inbound.opened, total + 1);
    // Only protocols the victim agreed to are tracked: echo and alpha.
    let mut protocols: Vec<_> = snapshot.protocols.keys().cloned().collect();
    protocols.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
    assert_eq!(protocols, vec![ALPHA, echo::PROTOCOL]);
}

#[tokio::test]
async fn a_stream_flood_meets_the_connection_limit() {
    const LIMIT: u32 = 8;
    const FLOOD: u64 = 200;
    const CHURN: u64 = 400;
    let config = Config::default().with_limit(Scope::Connection, Limit::new(LIMIT, LIMIT));
    let mut victim = member(config).await;
    let mut raw = Raw::connect(victim.node.addr()).await;
    let attacker = raw.peer_id;
    let connection = victim
        .node
        .wait_established(attacker, CONNECT)
        .await
        .unwrap();

    // Watches the victim's ledger through the whole flood.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (quota, done) = (victim.quota.clone(), done.clone());
        tokio::spawn(async move {
            let mut most = 0;
            let mut samples = 0u64;
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            while !done.load(Ordering::Acquire) {
                let snapshot = quota.snapshot();
                most = most.max(snapshot.node.inbound.open);
                most = most.max(inbound_on(&snapshot, connection).1);
                samples += 1;
                tick.tick().await;
            }
            (most, samples)
        })
    };

    // As fast as it can: every stream proposes echo and stays open.
    let mut streams = Vec::new();
    let proposal = [
        frame(HEADER),
        frame(format!("{}\n", echo::PROTOCOL).as_bytes()),
    ]
    .concat();
    for _ in 0..FLOOD {
        let mut stream = raw.open().await;
        let _ = stream.write_all(&proposal).await;
        streams.push(stream);
    }
    let snapshot = victim
        .wait_ledger(SOON, "every stream admitted or refused", move |s| {
            let (opened, _, refused) = inbound_on(s, connection);
            opened + refused == FLOOD
        })
        .await;
    // The admitted ones are held by the attacker, so exactly the limit.
    assert_eq!(
        inbound_on(&snapshot, connection),
        (u64::from(LIMIT), LIMIT, FLOOD - u64::from(LIMIT))
    );
    assert_eq!(snapshot.node.inbound.refused, FLOOD - u64::from(LIMIT));
    assert_eq!(
        victim.wait_refused().await,
        (
            attacker,
            Some(connection),
            Exceeded {
                scope: Scope::Connection,
                direction: Direction::Inbound,
                limit: LIMIT,
                protocol: None,
            }
        )
    );

    // It lets go and churns: streams opened, written, closed and dropped
    // as fast as it can, more of them than the 256 QUIC lets be open at
    // once. Every one is admitted or refused, and every admitted one is
    // closed again.
    drop(streams);
    for _ in 0..CHURN {
        let mut stream = raw.open().await;
        let _ = stream.write_all(&proposal).await;
        let _ = stream.close().await;
    }
    let snapshot = victim
        .wait_ledger(SOON, "every churned stream settled", move |s| {
            let (opened, open, refused) = inbound_on(s, connection);
            opened + refused == FLOOD + CHURN && open == 0
        })
        .await;
    done.store(true, Ordering::Release);
    let (most, samples) = watcher.await.unwrap();
    assert!(samples > 0);
    assert!(most <= LIMIT, "{most} inbound streams open at once");
    let (opened, _, refused) = inbound_on(&snapshot, connection);

    // The attacker goes away: nothing of it is left but the totals.
    raw.close().await;
    victim.node.wait_closed(connection, SOON).await.unwrap();
    let snapshot = victim
        .wait_ledger(SOON, "the attacker's connection gone", move |s| {
            s.connections.is_empty()
        })
        .await;
    assert_eq!(
        (snapshot.node.inbound.open, snapshot.node.outbound.open),
        (0, 0)
    );
    assert!(snapshot.peers.is_empty());
    assert_eq!(
        (snapshot.node.inbound.opened, snapshot.node.inbound.refused),
        (opened, refused)
    );
    assert_eq!(snapshot.dropped_events, 0);
    assert!(snapshot.protocols.len() <= 1, "{:?}", snapshot.protocols);
}

#[tokio::test]
async fn greedy_peers_holding_the_node_limit_leave_room_for_an_honest_one() {
    const NODE: u32 = 256;
    const GREEDY: usize = 4;
    /// Each tries for this many, under its connection's per-protocol 128.
    const EACH: u64 = 100;
    const REQUESTS: usize = 100;
    let config = Config::default().with_limit(Scope::Node, Limit::new(NODE, NODE));
    let mut victim = member(config).await;
    let victim_id = victim.peer_id();
    let mut honest = member(Config::default()).await;
    connect(&mut honest, &mut victim).await;

    // One after another, each greedy peer opens streams, as many as it is
    // let, and holds them in negotiation: a header and no proposal, which
    // the victim's swarm waits on for its 10 s upgrade timeout (up to 128
    // a connection), and the ledger counts open meanwhile.
    let proposal = frame(HEADER);
    let mut greedy = Vec::new();
    for g in 0..GREEDY {
        let mut raw = Raw::connect(victim.node.addr()).await;
        victim
            .node
            .wait_established(raw.peer_id, CONNECT)
            .await
            .unwrap();
        let mut held = Vec::new();
        for _ in 0..EACH {
            let mut stream = raw.open().await;
            let _ = stream.write_all(&proposal).await;
            held.push(stream);
        }
        let tried = EACH * (g as u64 + 1);
        victim
            .wait_ledger(SOON, "every greedy stream admitted or refused", move |s| {
                s.node.inbound.opened + s.node.inbound.refused >= tried
            })
            .await;
        greedy.push((raw, held));
    }
    let snapshot = victim.quota.snapshot();
    let held_by_greedy = snapshot.node.inbound.open;
    println!(
        "greedy peers hold {held_by_greedy} of {NODE}; refused {}",
        snapshot.node.inbound.refused
    );
    assert!(held_by_greedy < NODE, "the greedy took every slot");
    assert!(
        snapshot.node.inbound.refused > 0,
        "nobody was greedy enough"
    );

    // The honest peer's streams, one at a time, while the greedy hold theirs.
    let mut served = 0;
    for _ in 0..REQUESTS {
        if let Ok(stream) = honest.try_open(victim_id, ALPHA).await {
            let (_, accepted) = victim.accept(ALPHA).await;
            drop((stream, accepted));
            served += 1;
        }
    }
    println!("honest: {served} of {REQUESTS} served");
    assert_eq!(served, REQUESTS, "the honest peer was locked out");
    drop(greedy);
}
