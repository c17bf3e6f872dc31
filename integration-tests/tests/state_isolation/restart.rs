//! A peer in a child process crashes (SIGKILL) and comes back with the same key
//! as a new incarnation: its old connection, which neither transport would
//! close for a long while (QUIC: the idle timeout; native WebRTC: never), is
//! closed the moment the new connection's incarnation is known.

use std::time::Instant;

use libp2p::swarm::SwarmEvent;
use testkit::UdpProxy;

use super::*;

/// How a measured replacement went.
struct Replaced {
    old: ConnectionId,
    new: ConnectionId,
}

/// Connects `child` to `node` on `first`, crashes and restarts it, reconnects
/// it on `second`, and waits for the policy to replace the old connection.
async fn crash_and_reconnect(
    node: &mut IsolatedNode,
    child: &mut ChildNode,
    first: &libp2p::Multiaddr,
    second: &libp2p::Multiaddr,
) -> Replaced {
    let peer = child.peer_id();
    let (_old_path, old) = node.accept_from(child, first, CONNECT).await.unwrap();
    let before = wait_status(node, old, Status::Current).await;

    child.kill().await.unwrap();
    child.restart().await.unwrap();
    let (_new_path, new) = node.accept_from(child, second, CONNECT).await.unwrap();
    let established_at = Instant::now();

    let (mut replacement, mut closed_at) = (None, None);
    node.wait_for(
        CONNECT,
        "Replaced, and the old connection closed",
        |event| {
            match event {
                SwarmEvent::Behaviour(state_isolation::Event::Replaced(r)) => {
                    replacement = Some(r.clone())
                }
                SwarmEvent::ConnectionClosed { connection_id, .. } if *connection_id == old => {
                    closed_at = Some(Instant::now());
                }
                _ => {}
            }
            (replacement.is_some() && closed_at.is_some()).then_some(())
        },
    )
    .await
    .unwrap();

    let replacement = replacement.unwrap();
    assert_eq!(replacement.peer, peer);
    assert_eq!(replacement.connection, new);
    assert_eq!(
        replacement.closed,
        vec![old],
        "exactly the old run's connection is closed"
    );
    assert_eq!(Some(replacement.previous), before.incarnation);
    assert_ne!(replacement.current, replacement.previous);
    assert!(Some(replacement.epoch) > before.epoch);
    let new_to_old_closed = closed_at.unwrap() - established_at;
    println!(
        "old connection closed {new_to_old_closed:?} after the new one was established \
         (incarnation known {:?} after it)",
        replacement.after
    );
    // Both transports would keep it for 10 s or more (QUIC) or for ever (WebRTC).
    assert!(
        new_to_old_closed < Duration::from_secs(2),
        "{new_to_old_closed:?}"
    );
    Replaced { old, new }
}

/// A request through the wrapper right after the replacement lands on the new connection.
async fn request_lands_on_the_new_connection(
    node: &mut IsolatedNode,
    peer: PeerId,
    replaced: &Replaced,
) {
    let peer_view = node
        .with(move |s| s.behaviour().current_connections(&peer))
        .await;
    assert_eq!(peer_view, vec![replaced.new]);
    let echo = echo_any(node, peer).await;
    assert!(echo.result.is_ok(), "{:?}", echo.result);
    assert_eq!(echo.connection, Some(replaced.new));
    assert_ne!(echo.connection, Some(replaced.old));
}

#[tokio::test]
async fn quic_restart_closes_the_old_connection_as_the_new_run_appears() {
    init();
    let mut node = isolating_node(TransportKind::Quic).await;
    let mut child = isolating_child(TransportKind::Quic, 51).await;
    let addr = node.addr().clone();
    let replaced = crash_and_reconnect(&mut node, &mut child, &addr, &addr).await;
    request_lands_on_the_new_connection(&mut node, child.peer_id(), &replaced).await;
}

#[tokio::test]
async fn webrtc_restart_closes_the_old_connection_that_would_never_close() {
    init();
    let mut node = isolating_node(TransportKind::WebRtc).await;
    let mut child = isolating_child(TransportKind::WebRtc, 52).await;
    // The first run comes through a proxy, the second directly: the WebRTC
    // listener routes a source address it knows to that address's connection,
    // so a run that came back from the same address could not connect at all
    // until the old connection was gone (conn-prune's case). Here it comes
    // back from a new address, as through a new NAT mapping.
    let proxy = UdpProxy::start(testkit::socket_addr(node.addr()).unwrap())
        .await
        .unwrap();
    let (first, second) = (proxy.proxied(node.addr()), node.addr().clone());
    let replaced = crash_and_reconnect(&mut node, &mut child, &first, &second).await;
    request_lands_on_the_new_connection(&mut node, child.peer_id(), &replaced).await;
}
