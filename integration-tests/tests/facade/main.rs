//! Every policy in one swarm, through the `transport-policies` facade, on
//! QUIC and on WebRTC-direct: they do not fight. A healthy connection stays
//! up under probes, every stream of it counted (stream-quota); a restarted
//! peer's old connection goes at once (state-isolation); a silent path is
//! pruned (conn-prune); the node, alone after the prune, rejoins the DHT
//! (rebootstrap). On QUIC, a peer that hands back no stream credit starves a
//! connection, and stream-quota recycles it beside the other three.

use std::time::Duration;

use futures::StreamExt;
use libp2p::{
    kad::{self, store::MemoryStore},
    swarm::ConnectionId,
    PeerId,
};
use testkit::{
    echo::{self, Target},
    ChildNode, ChildSpec, Node, NodeConfig, PlainBehaviour, PlainEvent, TransportKind, UdpProxy,
};
use transport_policies::{
    conn_prune, rebootstrap,
    stream_quota::{self, Quota},
    Config, Policies,
};

mod abuse;

const CONNECT: Duration = Duration::from_secs(10);
/// Healthy probe rounds to sit through before any fault.
const HEALTHY_ROUNDS: u64 = 10;

type Bundle = Policies<PlainBehaviour>;
type Event = transport_policies::Event<PlainEvent>;

/// Every policy on; conn-prune probes both transports every 500 ms, and
/// stream-quota calls a 500 ms wait for a stream starvation, so that the
/// test takes seconds. `bootstrap`: rebootstrap's bootstrap peers.
async fn bundle_node(transport: TransportKind, bootstrap: Vec<libp2p::Multiaddr>) -> Node<Bundle> {
    let prune = conn_prune::Config::default()
        .with_probe_interval(
            conn_prune::Transport::WebRtc,
            Some(Duration::from_millis(500)),
        )
        .with_probe_interval(
            conn_prune::Transport::Quic,
            Some(Duration::from_millis(500)),
        )
        .with_probe_timeout(Duration::from_millis(300), Duration::from_secs(2));
    let quota = Quota::new(
        stream_quota::Config::default().with_starvation_threshold(Duration::from_millis(500)),
    )
    .unwrap();
    let config = Config::default()
        .with_prune(Some(prune))
        .with_stream_quota(Some(quota.clone()))
        .with_rebootstrap(Some(
            rebootstrap::Config::default().with_bootstrap_addresses(bootstrap),
        ));
    let node = NodeConfig::new(transport).with_transport_layer(move |t| quota.transport(t));
    Node::spawn(node, move |key| {
        let peer = key.public().to_peer_id();
        let mut kad = kad::Behaviour::new(peer, MemoryStore::new(peer));
        kad.set_mode(Some(kad::Mode::Server));
        Policies::with_kad(PlainBehaviour::new(key), kad, config).expect("a valid bundle")
    })
    .await
    .unwrap()
}

fn pruned(event: &Event) -> Option<ConnectionId> {
    match event {
        Event::Prune(conn_prune::Event::Pruned { connection, .. }) => Some(*connection),
        _ => None,
    }
}

async fn send_echo(node: &mut Node<Bundle>, peer: PeerId, target: Target) -> echo::RequestId {
    node.with(move |s| s.behaviour_mut().app_mut().echo.send(peer, target))
        .await
}

async fn echo_lands_on(node: &mut Node<Bundle>, peer: PeerId) -> Option<ConnectionId> {
    let id = send_echo(node, peer, Target::Any).await;
    let echo = node
        .wait_behaviour(CONNECT, "echo", |event| match event {
            Event::App(PlainEvent::Echo(e)) if e.id == id => Some(e.clone()),
            _ => None,
        })
        .await
        .unwrap();
    assert!(echo.result.is_ok(), "{:?}", echo.result);
    echo.connection
}

async fn policies_do_not_fight(transport: TransportKind) {
    testkit::init_tracing();
    let mut peer_node = ChildNode::spawn(
        ChildSpec::new(transport, 90 + transport as u64)
            .with_kad(Vec::new())
            .with_state_isolation(),
    )
    .await
    .unwrap();
    let peer = peer_node.peer_id();
    let mut x = bundle_node(transport, vec![peer_node.addr().clone()]).await;

    // rebootstrap joins through the bootstrap peer at start. The peer dials
    // too, on a second path: now and then a WebRTC connect never opens its
    // data channel (rust-libp2p issue 3223), and one path is enough.
    let start_path = UdpProxy::start(testkit::socket_addr(x.addr()).unwrap())
        .await
        .unwrap();
    peer_node.dial(&start_path.proxied(x.addr())).await.unwrap();
    let first = x.wait_established(peer, CONNECT).await.unwrap();
    // In the DHT: the peer is a live entry of X's table (with the peer's
    // own dial X may never count as degraded, so no `Rejoined` is due).
    x.wait_until(CONNECT, "the peer in X's table", move |s| {
        in_table(s, peer).then_some(())
    })
    .await
    .unwrap();

    // Healthy: probed, answered, never pruned or replaced; requests served.
    x.wait_until(CONNECT + CONNECT, "healthy probe rounds", move |s| {
        s.behaviour()
            .prune()
            .and_then(|p| p.stats(first))
            .filter(|stats| stats.probes_answered >= HEALTHY_ROUNDS)
    })
    .await
    .unwrap();
    let status = x
        .with(move |s| s.behaviour().isolation().and_then(|p| p.connection(first)))
        .await
        .map(|info| info.status);
    assert_eq!(status, Some(state_isolation::Status::Current));
    let before = x
        .with(move |s| {
            s.behaviour()
                .isolation()
                .map(|p| p.current_connections(&peer))
        })
        .await
        .unwrap();
    let served_on = echo_lands_on(&mut x, peer).await.unwrap();
    assert!(before.contains(&served_on));
    // stream-quota counted the other policies' and the application's streams
    // on that connection, and saw nothing to refuse or call starved.
    let snapshot = x
        .with(|s| s.behaviour().quota().map(stream_quota::Behaviour::snapshot))
        .await
        .unwrap();
    // The peer does not speak conn-prune: its probes count, unattributed.
    let on_first = snapshot.connections[&first].streams;
    assert!(on_first.outbound.opened >= HEALTHY_ROUNDS, "{on_first:?}");
    // X's echo went out; Kademlia's requests went whichever way the two
    // nodes happened to query each other.
    let echoes = snapshot.protocols_per_peer[&(peer, echo::PROTOCOL)];
    assert!(echoes.outbound.opened >= 1, "{echoes:?}");
    let dht = snapshot.protocols_per_peer[&(peer, kad::PROTOCOL_NAME)];
    assert!(dht.inbound.opened + dht.outbound.opened >= 1, "{dht:?}");
    assert_eq!(
        snapshot.node.inbound.refused + snapshot.node.outbound.refused,
        0
    );
    assert!(snapshot.connections[&first].outbound_blocked_for.is_none());

    // The peer crashes and comes back through a proxy (a new path, which
    // WebRTC needs, and one the test can cut): the old connection goes at once.
    peer_node.kill().await.unwrap();
    peer_node.restart().await.unwrap();
    let path = UdpProxy::start(testkit::socket_addr(x.addr()).unwrap())
        .await
        .unwrap();
    let (retry_path, second) = x
        .accept_from(&mut peer_node, &path.proxied(x.addr()), CONNECT)
        .await
        .unwrap();
    let proxy = retry_path.unwrap_or(path);
    // Every connection of the old run goes: at once, by state-isolation, as
    // the new run announces itself; or by conn-prune first, when the
    // reconnect needed a retry (longer than conn-prune's detection here).
    let old_run = before.clone();
    x.wait_until(CONNECT, "the old run's connections closed", move |s| {
        let policy = s.behaviour().isolation()?;
        old_run
            .iter()
            .all(|c| {
                policy
                    .connection(*c)
                    .is_none_or(|info| info.status == state_isolation::Status::Stale)
            })
            .then_some(())
    })
    .await
    .unwrap();
    let served_on = echo_lands_on(&mut x, peer).await.unwrap();
    assert!(
        !before.contains(&served_on),
        "served on a replaced connection"
    );

    // The path goes silent: conn-prune prunes the connection, and rebootstrap,
    // left alone, dials the bootstrap address and rejoins.
    x.wait_until(CONNECT, "the new connection probed", move |s| {
        s.behaviour()
            .prune()
            .and_then(|p| p.stats(second))
            .filter(|stats| stats.probes_answered >= 2)
    })
    .await
    .unwrap();
    proxy.cut();
    x.wait_behaviour(CONNECT, "Pruned", |event| {
        (pruned(event) == Some(second)).then_some(())
    })
    .await
    .unwrap();
    match transport {
        TransportKind::WebRtc => {
            // The old connection's ICE keepalives reached the restarted peer
            // before it was closed, and libp2p-webrtc's listener then drops
            // every later dial from this node's socket for as long as it runs
            // (docs/state-isolation.md, "WebRTC-direct"): no re-dial can get
            // through. rebootstrap's part is to notice and dial.
            x.wait_until(CONNECT, "rebootstrap dialing", move |s| {
                let stats = s.behaviour().rebootstrap()?.stats();
                (stats.degraded && stats.dials > 0).then_some(())
            })
            .await
            .unwrap();
        }
        _ => {
            x.wait_until(CONNECT + CONNECT, "back in the DHT", move |s| {
                let live = s
                    .behaviour()
                    .isolation()
                    .is_some_and(|p| !p.current_connections(&peer).is_empty());
                (live && in_table(s, peer)).then_some(())
            })
            .await
            .unwrap();
            let served_on = echo_lands_on(&mut x, peer).await.unwrap();
            assert_ne!(served_on, second, "served on the pruned connection");
        }
    }
}

/// Whether `peer` is a live entry of X's Kademlia table.
fn in_table(x: &mut libp2p::Swarm<Bundle>, peer: PeerId) -> bool {
    let Some(dht) = x.behaviour_mut().rebootstrap_mut() else {
        return false;
    };
    dht.kad_mut().kbuckets().any(|bucket| {
        bucket.iter().any(|entry| {
            *entry.node.key.preimage() == peer && entry.status == kad::NodeStatus::Connected
        })
    })
}

/// A peer that accepts every echo stream and keeps it unread: two streams
/// spend its credit (QUIC limit 2). X's next echo waits for credit; with every
/// policy on, stream-quota reports the starvation and replaces the
/// connection, and the echo after that opens on the replacement.
#[tokio::test]
async fn a_starved_connection_is_recycled_beside_every_policy() {
    testkit::init_tracing();
    let holder = Node::spawn(
        NodeConfig::new(TransportKind::Quic).with_quic_max_concurrent_streams(2),
        |_| libp2p_stream::Behaviour::new(),
    )
    .await
    .unwrap();
    let mut incoming = holder
        .with(|s| s.behaviour().new_control().accept(echo::PROTOCOL))
        .await
        .unwrap();
    let keeper = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Some((_, stream)) = incoming.next().await {
            kept.push(stream);
        }
    });
    let peer = holder.peer_id();
    let mut x = bundle_node(TransportKind::Quic, Vec::new()).await;
    let starved = x
        .connect(peer, holder.addr().clone(), CONNECT)
        .await
        .unwrap();

    for _ in 0..2 {
        send_echo(&mut x, peer, Target::Connection(starved)).await;
    }
    // Both kept unread by the holder, whatever X does with its side: the
    // holder's credit is spent. (The probes and the incarnation exchange,
    // which the holder does not speak, are refused and free theirs.)
    x.wait_until(CONNECT, "two echo streams opened", move |s| {
        let snapshot = s.behaviour().quota()?.snapshot();
        let echo = snapshot.protocols_per_peer.get(&(peer, echo::PROTOCOL))?;
        (echo.outbound.opened == 2).then_some(())
    })
    .await
    .unwrap();
    send_echo(&mut x, peer, Target::Connection(starved)).await;
    let blocked_for = x
        .wait_behaviour(CONNECT, "Starved", |event| match event {
            Event::Quota(stream_quota::Event::Starved {
                connection,
                blocked_for,
                ..
            }) if *connection == starved => Some(*blocked_for),
            _ => None,
        })
        .await
        .unwrap();
    assert!(blocked_for >= Duration::from_millis(500), "{blocked_for:?}");
    let replacement = x
        .wait_behaviour(CONNECT, "Recycled", |event| match event {
            Event::Quota(stream_quota::Event::Recycled {
                starved: s,
                replacement,
                ..
            }) if *s == starved => Some(*replacement),
            _ => None,
        })
        .await
        .unwrap();
    // Made before broken: the replacement was up when the starved one closed.
    x.wait_until(CONNECT, "only the replacement left", move |s| {
        let live = s.behaviour().isolation()?.current_connections(&peer);
        (live == vec![replacement]).then_some(())
    })
    .await
    .unwrap();

    // The next echo opens its stream on the replacement, which has credit.
    send_echo(&mut x, peer, Target::Any).await;
    x.wait_until(CONNECT, "an echo stream on the replacement", move |s| {
        let snapshot = s.behaviour().quota()?.snapshot();
        let on_replacement = snapshot.connections.get(&replacement)?.streams.outbound;
        let echo = snapshot.protocols_per_peer.get(&(peer, echo::PROTOCOL))?;
        (on_replacement.opened >= 1 && echo.outbound.opened == 3).then_some(())
    })
    .await
    .unwrap();
    keeper.abort();
}

#[tokio::test]
async fn every_policy_in_one_quic_swarm() {
    policies_do_not_fight(TransportKind::Quic).await;
}

#[tokio::test]
async fn every_policy_in_one_webrtc_swarm() {
    policies_do_not_fight(TransportKind::WebRtc).await;
}
