//! The testkit on real transports.

use std::time::Duration;

use libp2p::{multiaddr::Protocol, swarm::ConnectionId, PeerId};
use testkit::{
    echo, ChildNode, ChildSpec, Direction, Network, Node, NodeConfig, PlainBehaviour, PlainEvent,
    TransportKind,
};

const DEADLINE: Duration = Duration::from_secs(15);

async fn send_echo(
    node: &Node<PlainBehaviour>,
    peer: PeerId,
    connection: ConnectionId,
) -> echo::RequestId {
    node.with(move |s| {
        s.behaviour_mut()
            .echo
            .send(peer, echo::Target::Connection(connection))
    })
    .await
}

async fn echo_outcome(
    node: &mut Node<PlainBehaviour>,
    id: echo::RequestId,
    within: Duration,
) -> Result<Duration, echo::EchoError> {
    node.wait_behaviour(within, "echo outcome", |event| match event {
        PlainEvent::Echo(e) if e.id == id => Some(e.result.clone()),
        _ => None,
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn every_transport_connects_and_carries_streams() {
    testkit::init_tracing();
    for transport in TransportKind::ALL {
        let listener = Node::spawn(NodeConfig::new(transport), PlainBehaviour::new)
            .await
            .unwrap();
        let mut dialer = Node::spawn(NodeConfig::new(transport), PlainBehaviour::new)
            .await
            .unwrap();

        let addr = listener.addr();
        assert_eq!(addr.iter().last(), Some(Protocol::P2p(listener.peer_id())));
        let has_certhash = addr.iter().any(|p| matches!(p, Protocol::Certhash(_)));
        assert_eq!(has_certhash, transport == TransportKind::WebRtc, "{addr}");

        let peer = listener.peer_id();
        let connection = dialer.connect(peer, addr.clone(), DEADLINE).await.unwrap();
        let id = send_echo(&dialer, peer, connection).await;
        let rtt = echo_outcome(&mut dialer, id, DEADLINE).await;
        assert!(rtt.is_ok(), "{transport}: {rtt:?}");
    }
}

#[tokio::test]
async fn echo_to_an_unknown_connection_fails_at_once() {
    let mut node = Node::spawn(NodeConfig::new(TransportKind::Quic), PlainBehaviour::new)
        .await
        .unwrap();
    let id = node
        .with(|s| {
            s.behaviour_mut()
                .echo
                .send(PeerId::random(), echo::Target::Any)
        })
        .await;
    assert_eq!(
        echo_outcome(&mut node, id, DEADLINE).await,
        Err(echo::EchoError::NotConnected)
    );
}

#[tokio::test]
async fn proxy_cuts_and_restores_a_live_webrtc_connection() {
    testkit::init_tracing();
    let listener = Node::spawn(NodeConfig::new(TransportKind::WebRtc), PlainBehaviour::new)
        .await
        .unwrap();
    let mut dialer = Node::spawn(NodeConfig::new(TransportKind::WebRtc), PlainBehaviour::new)
        .await
        .unwrap();
    let peer = listener.peer_id();
    let (proxy, connection) = dialer
        .connect_through_proxy(peer, listener.addr(), DEADLINE)
        .await
        .unwrap();
    let id = send_echo(&dialer, peer, connection).await;
    assert!(echo_outcome(&mut dialer, id, DEADLINE).await.is_ok());
    for direction in Direction::BOTH {
        assert!(proxy.counts(direction).forwarded > 0, "{direction:?}");
    }

    proxy.cut();
    let during_cut = send_echo(&dialer, peer, connection).await;
    dialer
        .expect_none(
            Duration::from_millis(1500),
            "echo through a cut path",
            |event| match event {
                libp2p::swarm::SwarmEvent::Behaviour(PlainEvent::Echo(e)) if e.id == during_cut => {
                    Some(e.result.clone())
                }
                _ => None,
            },
        )
        .await
        .unwrap();
    assert!(proxy.counts(Direction::ToListener).dropped > 0);

    proxy.restore();
    // The echo sent during the cut completes once its packets are retransmitted.
    assert!(echo_outcome(&mut dialer, during_cut, DEADLINE)
        .await
        .is_ok());
}

#[tokio::test]
async fn child_node_is_killed_and_restarted_with_its_identity_and_port() {
    testkit::init_tracing();
    let mut child = ChildNode::spawn(ChildSpec::new(TransportKind::Quic, 7))
        .await
        .unwrap();
    let mut node = Node::spawn(NodeConfig::new(TransportKind::Quic), PlainBehaviour::new)
        .await
        .unwrap();
    let peer = child.peer_id();
    assert_eq!(peer, testkit::keypair_from_seed(7).public().to_peer_id());
    let first_addr = child.addr().clone();

    let first = node
        .connect(peer, first_addr.clone(), DEADLINE)
        .await
        .unwrap();
    let id = send_echo(&node, peer, first).await;
    assert!(echo_outcome(&mut node, id, DEADLINE).await.is_ok());

    child.kill().await.unwrap();
    child.restart().await.unwrap();
    assert_eq!(
        child.addr(),
        &first_addr,
        "same key and port give the same address"
    );

    let second = node
        .connect(peer, child.addr().clone(), DEADLINE)
        .await
        .unwrap();
    assert_ne!(first, second);
    let id = send_echo(&node, peer, second).await;
    assert!(echo_outcome(&mut node, id, DEADLINE).await.is_ok());
}

#[tokio::test]
async fn network_connects_every_node_to_the_hub() {
    let mut network = Network::spawn(4, TransportKind::Quic, PlainBehaviour::new)
        .await
        .unwrap();
    network.connect_star(0, DEADLINE).await.unwrap();
    let others: Vec<PeerId> = network.nodes()[1..].iter().map(Node::peer_id).collect();
    let hub_peers = network
        .node(0)
        .with(|s| s.connected_peers().copied().collect::<Vec<_>>())
        .await;
    for peer in others {
        assert!(hub_peers.contains(&peer));
    }
}

#[test]
fn child_spec_round_trips_through_its_arguments() {
    let bootstrap: libp2p::Multiaddr =
        format!("/ip4/127.0.0.1/udp/4001/quic-v1/p2p/{}", PeerId::random())
            .parse()
            .unwrap();
    let spec = ChildSpec::new(TransportKind::WebRtc, 99).with_kad(vec![bootstrap]);
    assert_eq!(ChildSpec::from_args(spec.to_args()), Ok(spec));
    assert!(ChildSpec::from_args(["--port".to_owned()]).is_err());
    assert!(ChildSpec::from_args(["--bogus".to_owned()]).is_err());
}
