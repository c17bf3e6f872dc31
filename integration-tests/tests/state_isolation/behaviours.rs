//! The behaviours people run, through a peer's restart: gossipsub in both
//! directions, request-response and identify, each beside the plain stack's
//! failure in the same test.
//!
//! The survivor runs gossipsub, the request-response echo and identify (with
//! state-isolation around them, or plain); the peer runs them in a child
//! process, is SIGKILLed, restarted with the same key on the same port, and
//! dials back. Plain, the survivor's gossipsub takes the new connection for a
//! second one of the old run and never greets it: the restarted peer never
//! learns the survivor's subscription, and nothing flows.

use std::time::Instant;

use libp2p::{
    gossipsub, identify,
    request_response::{self, OutboundRequestId},
    swarm::{NetworkBehaviour, Swarm, SwarmEvent},
    Multiaddr,
};
use testkit::{GossipBehaviour, GossipEvent, UdpProxy};

use super::*;

/// How long each side publishes after the restart, one message per side every [`PACE`].
const PUBLISHING: Duration = Duration::from_secs(2);
const PACE: Duration = Duration::from_millis(50);
/// The first message each way must be delivered within this of the new connection.
const FIRST_DELIVERY: Duration = Duration::from_secs(1);

/// The survivor's application.
#[derive(NetworkBehaviour)]
#[behaviour(to_swarm = "AppEvent")]
struct App {
    gossip: GossipBehaviour,
    identify: identify::Behaviour,
}

#[derive(Debug)]
enum AppEvent {
    Gossip(GossipEvent),
    Identify(Box<identify::Event>),
}

impl From<GossipEvent> for AppEvent {
    fn from(e: GossipEvent) -> Self {
        Self::Gossip(e)
    }
}

impl From<identify::Event> for AppEvent {
    fn from(e: identify::Event) -> Self {
        Self::Identify(Box::new(e))
    }
}

impl App {
    fn new(key: &libp2p::identity::Keypair) -> Self {
        Self {
            gossip: GossipBehaviour::with_request_timeout(key, Duration::from_secs(3)),
            identify: identify::Behaviour::new(identify::Config::new(
                "/testkit/1.0.0".to_owned(),
                key.public(),
            )),
        }
    }
}

/// The survivor's stack, plain or with the policy, seen the same way.
trait Survivor: NetworkBehaviour<ToSwarm: Send + std::fmt::Debug> + Send + 'static {
    fn app(&mut self) -> &mut App;
    fn app_event(event: &Self::ToSwarm) -> Option<&AppEvent>;
    /// Whether the application's behaviours know `connection` and no other of `peer`.
    fn sees_only(&self, peer: &PeerId, connection: ConnectionId) -> Option<bool>;
}

impl Survivor for App {
    fn app(&mut self) -> &mut App {
        self
    }
    fn app_event(event: &AppEvent) -> Option<&AppEvent> {
        Some(event)
    }
    fn sees_only(&self, _: &PeerId, _: ConnectionId) -> Option<bool> {
        None
    }
}

impl Survivor for state_isolation::Behaviour<App> {
    fn app(&mut self) -> &mut App {
        self.inner_mut()
    }
    fn app_event(event: &state_isolation::Event<AppEvent>) -> Option<&AppEvent> {
        match event {
            state_isolation::Event::Behaviour(e) => Some(e),
            _ => None,
        }
    }
    fn sees_only(&self, peer: &PeerId, connection: ConnectionId) -> Option<bool> {
        Some(self.current_connections(peer) == vec![connection])
    }
}

async fn survivor<B: Survivor>(
    transport: TransportKind,
    behaviour: impl FnOnce(&libp2p::identity::Keypair) -> B,
) -> Node<B> {
    Node::spawn(NodeConfig::new(transport), behaviour)
        .await
        .unwrap()
}

/// The survivor with the policy and its handshake, as a user should run them.
async fn isolated_survivor(transport: TransportKind) -> Node<state_isolation::Behaviour<App>> {
    handshaking(transport, state_isolation::Handshake::new(), App::new).await
}

/// The restarted peer announces its incarnation: a new one each run.
fn gossip_child(transport: TransportKind, seed: u64) -> ChildSpec {
    ChildSpec::new(transport, seed)
        .with_gossip()
        .with_state_isolation()
}

fn publish(swarm: &mut Swarm<impl Survivor>, text: String) -> Result<(), gossipsub::PublishError> {
    swarm
        .behaviour_mut()
        .app()
        .gossip
        .publish(text.as_bytes())
        .map(|_| ())
}

/// What the survivor heard until gossip message `last` (or the deadline).
#[derive(Default)]
struct Heard {
    /// Gossip messages, in order.
    gossip: Vec<String>,
    /// identify's reports: on which connection, with which listen addresses.
    identified: Vec<(ConnectionId, Vec<Multiaddr>)>,
}

async fn survivor_received<B: Survivor>(node: &mut Node<B>, last: &str) -> Heard {
    let mut heard = Heard::default();
    let _ = node
        .wait_for(CONNECT, "the last gossip message", |event| {
            let SwarmEvent::Behaviour(event) = event else {
                return None;
            };
            match B::app_event(event)? {
                AppEvent::Gossip(GossipEvent::Gossipsub(event)) => {
                    let gossipsub::Event::Message { message, .. } = event.as_ref() else {
                        return None;
                    };
                    let text = String::from_utf8_lossy(&message.data).into_owned();
                    let done = text == last;
                    heard.gossip.push(text);
                    done.then_some(())
                }
                AppEvent::Identify(event) => {
                    if let identify::Event::Received {
                        connection_id,
                        info,
                        ..
                    } = event.as_ref()
                    {
                        heard
                            .identified
                            .push((*connection_id, info.listen_addrs.clone()));
                    }
                    None
                }
                _ => None,
            }
        })
        .await;
    heard
}

/// Gossip works both ways on the first connection. Generous: under load a
/// WebRTC-direct connection takes a while to carry its first streams.
async fn warm_up<B: Survivor>(node: &mut Node<B>, child: &mut ChildNode) {
    let deadline = Instant::now() + 3 * CONNECT;
    for i in 0.. {
        assert!(
            Instant::now() < deadline,
            "gossip never flowed before the restart"
        );
        let text = format!("warm-{i}");
        let sent = node.with(move |s| publish(s, text).is_ok()).await;
        if sent
            && child
                .wait_gossip(&format!("warm-{i}"), PACE * 4)
                .await
                .unwrap()
        {
            break;
        }
    }
    for i in 0.. {
        assert!(
            Instant::now() < deadline,
            "gossip never flowed before the restart"
        );
        let text = format!("warmb-{i}");
        if child.publish(&text).await.unwrap().is_ok() {
            let got = survivor_received(node, &text).await;
            if got.gossip.contains(&text) {
                break;
            }
        }
        tokio::time::sleep(PACE).await;
    }
}

/// One publish: when, whether it returned `Ok`, and (for the survivor)
/// whether its application saw only the new connection then.
struct Publish {
    text: String,
    at: Duration,
    result: Result<(), String>,
    after_release: Option<bool>,
}

struct Run {
    survivor: Vec<Publish>,
    restarted: Vec<Publish>,
    /// Texts each side received.
    at_restarted: Vec<String>,
    at_survivor: Vec<String>,
    /// identify's reports at the survivor after the restart.
    identified: Vec<(ConnectionId, Vec<Multiaddr>)>,
}

impl Run {
    fn first_delivery(publishes: &[Publish], received: &[String]) -> Option<Duration> {
        publishes
            .iter()
            .find(|p| received.contains(&p.text))
            .map(|p| p.at)
    }
}

/// Crashes and restarts `child`, reconnects it, then both publish every
/// [`PACE`] for [`PUBLISHING`].
async fn restart_and_publish<B: Survivor>(
    node: &mut Node<B>,
    child: &mut ChildNode,
    first: &Multiaddr,
    second: &Multiaddr,
) -> (ConnectionId, Run) {
    let peer = child.peer_id();
    let (_old_path, _old) = node.accept_from(child, first, CONNECT).await.unwrap();
    warm_up(node, child).await;

    child.kill().await.unwrap();
    child.restart().await.unwrap();
    let (_new_path, new) = node.accept_from(child, second, CONNECT).await.unwrap();
    let up = Instant::now();

    let (mut survivor, mut restarted) = (Vec::new(), Vec::new());
    let mut pace = tokio::time::interval(PACE);
    let mut i = 0;
    while up.elapsed() < PUBLISHING {
        pace.tick().await;
        let text = format!("a-{i}");
        let (result, after_release) = node
            .with({
                let text = text.clone();
                move |s| {
                    let after = s.behaviour().sees_only(&peer, new);
                    (publish(s, text).map_err(|e| e.to_string()), after)
                }
            })
            .await;
        survivor.push(Publish {
            text,
            at: up.elapsed(),
            result,
            after_release,
        });
        let text = format!("b-{i}");
        let result = child.publish(&text).await.unwrap();
        restarted.push(Publish {
            text,
            at: up.elapsed(),
            result,
            after_release: None,
        });
        i += 1;
    }
    // A last message each way, once everything before it had time to arrive.
    let last = format!("a-{}", i - 1);
    let at_restarted = child.received_gossip_until(&last, CONNECT).await.unwrap();
    let last = format!("b-{}", i - 1);
    let heard = survivor_received(node, &last).await;
    (
        new,
        Run {
            survivor,
            restarted,
            at_restarted,
            at_survivor: heard.gossip,
            identified: heard.identified,
        },
    )
}

fn report(arm: &str, run: &Run) {
    let ok = |p: &[Publish]| p.iter().filter(|p| p.result.is_ok()).count();
    let lost = |p: &[Publish], received: &[String]| {
        p.iter()
            .filter(|p| p.result.is_ok() && !received.contains(&p.text))
            .count()
    };
    println!(
        "{arm}: survivor -> restarted: first delivery {:?}, {} of {} publishes Ok, {} Ok ones lost; \
         restarted -> survivor: first delivery {:?}, {} of {} Ok, {} Ok ones lost",
        Run::first_delivery(&run.survivor, &run.at_restarted),
        ok(&run.survivor),
        run.survivor.len(),
        lost(&run.survivor, &run.at_restarted),
        Run::first_delivery(&run.restarted, &run.at_survivor),
        ok(&run.restarted),
        run.restarted.len(),
        lost(&run.restarted, &run.at_survivor),
    );
}

/// With the policy: both directions deliver within [`FIRST_DELIVERY`];
/// from the moment the swarm reported the new connection, the survivor's
/// application sees only it, and no publish that returned `Ok` is lost;
/// after the restarted peer's first delivery, it never again finds nobody
/// subscribed.
fn assert_healed(run: &Run) {
    let first = Run::first_delivery(&run.survivor, &run.at_restarted);
    assert!(
        first.is_some_and(|t| t < FIRST_DELIVERY),
        "survivor -> restarted: first delivery {first:?}"
    );
    let first = Run::first_delivery(&run.restarted, &run.at_survivor);
    assert!(
        first.is_some_and(|t| t < FIRST_DELIVERY),
        "restarted -> survivor: first delivery {first:?}"
    );
    for p in &run.survivor {
        assert_eq!(
            p.after_release,
            Some(true),
            "{}: the application saw more than the new connection",
            p.text
        );
        if p.result.is_ok() {
            assert!(
                run.at_restarted.contains(&p.text),
                "{} returned Ok after the new connection was up, and was lost",
                p.text
            );
        }
    }
    let first_delivered = run
        .restarted
        .iter()
        .position(|p| run.at_survivor.contains(&p.text))
        .expect("asserted above");
    for p in &run.restarted[first_delivered..] {
        assert!(p.result.is_ok(), "{}: {:?}", p.text, p.result);
        assert!(run.at_survivor.contains(&p.text), "{} was lost", p.text);
    }
}

/// Plain: the restarted peer never learns the survivor's subscription, so
/// none of its publishes goes anywhere.
fn assert_broken(run: &Run) {
    assert!(
        run.restarted.iter().all(|p| p
            .result
            .as_ref()
            .is_err_and(|e| e.contains("NoPeersSubscribedToTopic") || e.contains("no peers"))),
        "plain: the restarted peer found a subscriber: {:?}",
        run.restarted.iter().map(|p| &p.result).collect::<Vec<_>>()
    );
    assert!(run.at_survivor.iter().all(|t| !t.starts_with("b-")));
}

/// The addresses the peer's two runs dial the survivor at. On WebRTC the
/// first run comes through a proxy (kept alive by the caller), as in
/// `restart.rs`: the listener would route the restarted run's packets, from
/// the same source address, to the dead connection.
async fn restart_paths(
    transport: TransportKind,
    node_addr: &Multiaddr,
) -> (Option<UdpProxy>, Multiaddr, Multiaddr) {
    match transport {
        TransportKind::WebRtc => {
            let proxy = UdpProxy::start(testkit::socket_addr(node_addr).unwrap())
                .await
                .unwrap();
            let first = proxy.proxied(node_addr);
            (Some(proxy), first, node_addr.clone())
        }
        _ => (None, node_addr.clone(), node_addr.clone()),
    }
}

async fn gossip_restart(transport: TransportKind, seed: u64) {
    let mut plain = survivor(transport, App::new).await;
    let mut child = ChildNode::spawn(gossip_child(transport, seed))
        .await
        .unwrap();
    let (_proxy, first, second) = restart_paths(transport, plain.addr()).await;
    let (_, run) = restart_and_publish(&mut plain, &mut child, &first, &second).await;
    report("plain", &run);
    assert_broken(&run);
    drop(child);

    let mut isolated = isolated_survivor(transport).await;
    let mut child = ChildNode::spawn(gossip_child(transport, seed + 1))
        .await
        .unwrap();
    let (_proxy, first, second) = restart_paths(transport, isolated.addr()).await;
    let (new, run) = restart_and_publish(&mut isolated, &mut child, &first, &second).await;
    report("state-isolation", &run);
    assert_healed(&run);
    assert_identified(&run, &child, new);
}

/// identify, through the hold: the survivor learnt the new run's listen
/// address on the new connection.
fn assert_identified(run: &Run, child: &ChildNode, new: ConnectionId) {
    let port = testkit::socket_addr(child.addr()).unwrap().port();
    assert!(
        run.identified
            .iter()
            .any(|(connection, addrs)| *connection == new
                && addrs
                    .iter()
                    .any(|a| testkit::socket_addr(a).is_some_and(|s| s.port() == port))),
        "identify on the new connection: {:?}",
        run.identified
    );
}

#[tokio::test]
async fn gossipsub_flows_both_ways_after_a_quic_restart() {
    init();
    gossip_restart(TransportKind::Quic, 61).await;
}

#[tokio::test]
async fn gossipsub_flows_both_ways_after_a_webrtc_restart() {
    init();
    gossip_restart(TransportKind::WebRtc, 63).await;
}

/// Sends `count` echo requests and returns how many were answered.
async fn echo_requests<B: Survivor>(node: &mut Node<B>, peer: PeerId, count: usize) -> usize {
    let ids: Vec<OutboundRequestId> = node
        .with(move |s| {
            (0..count)
                .map(|i| {
                    s.behaviour_mut()
                        .app()
                        .gossip
                        .echo
                        .send_request(&peer, vec![i as u8; 16])
                })
                .collect()
        })
        .await;
    let (mut answered, mut done) = (0, 0);
    node.wait_for(CONNECT, "every echo outcome", |event| {
        let SwarmEvent::Behaviour(event) = event else {
            return None;
        };
        let Some(AppEvent::Gossip(GossipEvent::Echo(event))) = B::app_event(event) else {
            return None;
        };
        match event.as_ref() {
            request_response::Event::Message {
                message: request_response::Message::Response { request_id, .. },
                ..
            } if ids.contains(request_id) => {
                answered += 1;
                done += 1;
            }
            request_response::Event::OutboundFailure { request_id, .. }
                if ids.contains(request_id) =>
            {
                done += 1;
            }
            _ => {}
        }
        (done == count).then_some(())
    })
    .await
    .unwrap();
    answered
}

async fn request_response_restart(transport: TransportKind, seed: u64) {
    const REQUESTS: usize = 8;

    // Plain: requests go round robin over the old and the new connection;
    // those on the old one are lost.
    let mut plain = survivor(transport, App::new).await;
    let mut child = ChildNode::spawn(gossip_child(transport, seed))
        .await
        .unwrap();
    let (_proxy, first, second) = restart_paths(transport, plain.addr()).await;
    plain
        .accept_from(&mut child, &first, CONNECT)
        .await
        .unwrap();
    child.kill().await.unwrap();
    child.restart().await.unwrap();
    plain
        .accept_from(&mut child, &second, CONNECT)
        .await
        .unwrap();
    let answered = echo_requests(&mut plain, child.peer_id(), REQUESTS).await;
    println!("plain: {answered} of {REQUESTS} requests answered after the restart");
    assert!(answered < REQUESTS, "plain: every request was answered");
    drop(child);

    let mut isolated = isolated_survivor(transport).await;
    let mut child = ChildNode::spawn(gossip_child(transport, seed + 1))
        .await
        .unwrap();
    let peer = child.peer_id();
    let (_proxy, first, second) = restart_paths(transport, isolated.addr()).await;
    let (_old_path, old) = isolated
        .accept_from(&mut child, &first, CONNECT)
        .await
        .unwrap();
    // The old run has announced itself: its restart can be known.
    isolated
        .wait_until(CONNECT, "the old run's incarnation", move |s| {
            s.behaviour()
                .connection(old)
                .filter(|c| c.incarnation.is_some())
                .map(|_| ())
        })
        .await
        .unwrap();
    child.kill().await.unwrap();
    child.restart().await.unwrap();
    let (_new_path, new) = isolated
        .accept_from(&mut child, &second, CONNECT)
        .await
        .unwrap();
    // The handshake ran before the swarm reported the new connection: the
    // application already sees only it.
    let shown = isolated
        .with(move |s| s.behaviour().current_connections(&peer))
        .await;
    assert_eq!(shown, vec![new], "the old run {old:?} is still shown");
    let answered = echo_requests(&mut isolated, peer, REQUESTS).await;
    assert_eq!(
        answered, REQUESTS,
        "with the policy, every request is answered"
    );
}

#[tokio::test]
async fn request_response_after_a_quic_restart_is_answered_by_the_new_run() {
    init();
    request_response_restart(TransportKind::Quic, 65).await;
}

#[tokio::test]
async fn request_response_after_a_webrtc_restart_is_answered_by_the_new_run() {
    init();
    request_response_restart(TransportKind::WebRtc, 67).await;
}
