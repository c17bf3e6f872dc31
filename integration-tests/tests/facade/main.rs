//! Every policy in one swarm, through the `transport-policies` facade, on
//! QUIC and on WebRTC-direct: they do not fight. A healthy connection stays
//! up under probes; a restarted peer's old connection goes at once
//! (state-isolation); a silent path is pruned (conn-prune); the node, alone
//! after the prune, rejoins the DHT (rebootstrap).

use std::time::Duration;

use libp2p::{
    kad::{self, store::MemoryStore},
    swarm::ConnectionId,
    PeerId,
};
use testkit::{
    echo::Target, ChildNode, ChildSpec, Node, NodeConfig, PlainBehaviour, PlainEvent,
    TransportKind, UdpProxy,
};
use transport_policies::{
    conn_prune, rebootstrap, state_isolation, Config, Policies, ProtectedEvent,
};

const CONNECT: Duration = Duration::from_secs(10);
/// Healthy probe rounds to sit through before any fault.
const HEALTHY_ROUNDS: u64 = 10;

type Bundle = Policies<PlainBehaviour>;
type Event = transport_policies::Event<PlainBehaviour>;

/// Every policy on; conn-prune probes both transports every 500 ms so that the
/// test takes seconds.
async fn bundle_node(transport: TransportKind, bootstrap: libp2p::Multiaddr) -> Node<Bundle> {
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
    let config = Config::default()
        .with_prune(Some(prune))
        .with_rebootstrap(Some(
            rebootstrap::Config::default().with_bootstrap_addresses(vec![bootstrap]),
        ));
    Node::spawn(NodeConfig::new(transport), move |key| {
        let peer = key.public().to_peer_id();
        let mut kad = kad::Behaviour::new(peer, MemoryStore::new(peer));
        kad.set_mode(Some(kad::Mode::Server));
        Policies::new(PlainBehaviour::new(key), Some(kad), config).expect("a valid bundle")
    })
    .await
    .unwrap()
}

fn pruned(event: &Event) -> Option<ConnectionId> {
    match event {
        state_isolation::Event::Behaviour(ProtectedEvent::Prune(conn_prune::Event::Pruned {
            connection,
            ..
        })) => Some(*connection),
        _ => None,
    }
}

async fn echo_lands_on(node: &mut Node<Bundle>, peer: PeerId) -> Option<ConnectionId> {
    let id = node
        .with(move |s| s.behaviour_mut().app_mut().echo.send(peer, Target::Any))
        .await;
    let echo = node
        .wait_behaviour(CONNECT, "echo", |event| match event {
            state_isolation::Event::Behaviour(ProtectedEvent::App(PlainEvent::Echo(e)))
                if e.id == id =>
            {
                Some(e.clone())
            }
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
    let mut x = bundle_node(transport, peer_node.addr().clone()).await;

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
        .with(move |s| s.behaviour().policy().and_then(|p| p.connection(first)))
        .await
        .map(|info| info.status);
    assert_eq!(status, Some(state_isolation::Status::Current));
    let before = x
        .with(move |s| s.behaviour().policy().map(|p| p.current_connections(&peer)))
        .await
        .unwrap();
    let served_on = echo_lands_on(&mut x, peer).await.unwrap();
    assert!(before.contains(&served_on));

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
        let policy = s.behaviour().policy()?;
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
                    .policy()
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

#[tokio::test]
async fn every_policy_in_one_quic_swarm() {
    policies_do_not_fight(TransportKind::Quic).await;
}

#[tokio::test]
async fn every_policy_in_one_webrtc_swarm() {
    policies_do_not_fight(TransportKind::WebRtc).await;
}
