//! A real browser peer: js-libp2p in headless Chromium dials our node over
//! WebRTC-direct, with conn-prune and state-isolation on.
//!
//! The page (`integration-tests/browser/`, bundled with esbuild) dials the
//! node's multiaddr, runs `/testkit/echo/1.0.0` and serves it back; the driver
//! (`browser/driver.mjs`, playwright-core on Debian's `/usr/bin/chromium`)
//! serves the page on 127.0.0.1, reports the page's state and obeys commands.
//! The checks: a live tab is never pruned over twenty probe rounds and more;
//! a SIGKILLed browser is pruned within conn-prune's bound; a normal close by
//! the page is closed on our side within a probe interval, a closed tab
//! within the bound; a reload (new js node, same or new peer id) works at
//! once and its old connection goes. Two interop faults of rust-libp2p 0.57
//! with js-libp2p are pinned down as they are: no FIN_ACK (`fin_ack.rs`), and
//! what it does to js-libp2p's default connection monitor (`monitor.rs`).
//!
//! `.ci/setup browser` installs Chromium and the npm packages and builds the page;
//! elsewhere the tests build it if `dist/` is missing or stale, and fail if
//! Chromium or Node.js is missing, unless `TRANSPORT_POLICIES_SKIP_BROWSER=1`.
//! The prune-after-kill figures: `cargo test -p integration-tests --test
//! browser -- --ignored --nocapture prune_after_kill_figures`.

mod close;
mod driver;
mod fin_ack;
mod kill;
mod live;
mod monitor;
mod page;
mod reload;
mod report;

use std::time::{Duration, Instant};

use conn_prune::{Config, Transport};
use libp2p::{
    swarm::{ConnectionId, NetworkBehaviour, SwarmEvent},
    PeerId,
};
use state_isolation::Status;
use testkit::{
    echo::{self, Target},
    Node, NodeConfig, PlainBehaviour, PlainEvent, TransportKind,
};

use driver::{Browser, PageOptions};

/// Chromium start, page load and the first WebRTC-direct connect.
const CONNECT: Duration = Duration::from_secs(30);
/// One echo, either way (the swarm's stream timeout is 10 s).
const ECHO: Duration = Duration::from_secs(20);

/// Our node: its plain protocols wrapped by state-isolation, conn-prune beside them.
#[derive(NetworkBehaviour)]
struct Policies {
    isolated: state_isolation::Behaviour<PlainBehaviour>,
    prune: conn_prune::Behaviour,
}

type PolicyNode = Node<Policies>;

async fn policy_node(config: Config) -> PolicyNode {
    Node::spawn(NodeConfig::new(TransportKind::WebRtc), move |key| {
        Policies {
            isolated: state_isolation::Behaviour::wrap(
                PlainBehaviour::new(key),
                state_isolation::Config::default(),
            )
            .expect("a valid state-isolation config"),
            prune: conn_prune::Behaviour::new(config).expect("a valid conn-prune config"),
        }
    })
    .await
    .unwrap()
}

/// conn-prune's detection bound for WebRTC under `config`.
fn bound(config: &Config) -> Duration {
    config
        .detection_bound(Transport::WebRtc)
        .expect("WebRTC is probed on a schedule")
}

/// A browser on the node, its first echo done: the page's peer id and our connection to it.
async fn connect_browser(
    node: &mut PolicyNode,
    dir: &std::path::Path,
    options: PageOptions,
) -> (Browser, PeerId, ConnectionId) {
    let mut browser = Browser::launch(dir, node.addr(), options).await;
    let state = browser
        .wait_state(CONNECT, "the page's first echo", |s| {
            s.echoes_ok() >= 1 || s.echo_failures() >= 1
        })
        .await;
    assert_eq!(state.echoes_ok(), 1, "first echo: {}", state.json);
    let peer = state.peer_id().expect("the page reports its peer id");
    let connection = node.wait_established(peer, CONNECT).await.unwrap();
    (browser, peer, connection)
}

/// Our node asks the page for an echo on `connection`, and waits for the outcome.
async fn echo_to_page(
    node: &mut PolicyNode,
    peer: PeerId,
    connection: ConnectionId,
) -> Result<Duration, echo::EchoError> {
    let id = node
        .with(move |s| {
            s.behaviour_mut()
                .isolated
                .inner_mut()
                .echo
                .send(peer, Target::Connection(connection))
        })
        .await;
    node.wait_behaviour(ECHO, "echo to the page", |event| match event {
        PoliciesEvent::Isolated(state_isolation::Event::Behaviour(PlainEvent::Echo(e)))
            if e.id == id =>
        {
            Some(e.result.clone())
        }
        _ => None,
    })
    .await
    .unwrap()
}

/// Waits until state-isolation has `connection` as `status`.
async fn wait_status(node: &PolicyNode, connection: ConnectionId, status: Status) {
    node.wait_until(ECHO, "state-isolation status", move |s| {
        s.behaviour()
            .isolated
            .connection(connection)
            .filter(|info| info.status == status)
            .map(|_| ())
    })
    .await
    .unwrap();
}

async fn stats(node: &PolicyNode, connection: ConnectionId) -> Option<conn_prune::ConnectionStats> {
    node.with(move |s| s.behaviour().prune.stats(connection))
        .await
}

/// Waits until `connection` has answered `n` probes, allowing `per_probe` each.
async fn wait_answered(node: &PolicyNode, connection: ConnectionId, n: u64, per_probe: Duration) {
    node.wait_until(per_probe * n as u32 + ECHO, "probes answered", move |s| {
        s.behaviour()
            .prune
            .stats(connection)
            .filter(|stats| stats.probes_answered >= n)
    })
    .await
    .unwrap();
}

/// How `connection` went on our side.
#[derive(Debug)]
struct Closed {
    /// conn-prune's event for it, if it pruned it.
    pruned: Option<(conn_prune::Reason, conn_prune::Evidence)>,
    /// The swarm's close cause.
    cause: Option<String>,
    /// From `since` to the `ConnectionClosed`.
    after: Duration,
}

impl Closed {
    /// Who closed it and why, for the test output.
    fn how(&self) -> String {
        match (&self.pruned, &self.cause) {
            (Some((reason, e)), _) => format!(
                "pruned by conn-prune after {} ms: {reason:?} ({:?}, {} missed, rtt {:?})",
                self.after.as_millis(),
                e.trigger,
                e.missed_probes,
                e.rtt
            ),
            (None, cause) => format!(
                "closed by the swarm after {} ms, cause {cause:?}",
                self.after.as_millis()
            ),
        }
    }
}

/// Waits until the swarm has closed `connection`, and takes conn-prune's
/// `Pruned` for it if it comes first or in the same batch of events.
async fn wait_closed(
    node: &mut PolicyNode,
    connection: ConnectionId,
    within: Duration,
    since: Instant,
) -> Closed {
    let mut pruned = None;
    let (cause, after) = node
        .wait_for(within, "ConnectionClosed", |event| match event {
            SwarmEvent::Behaviour(PoliciesEvent::Prune(conn_prune::Event::Pruned {
                connection: c,
                reason,
                evidence,
                ..
            })) if *c == connection => {
                pruned = Some((reason.clone(), *evidence));
                None
            }
            SwarmEvent::ConnectionClosed {
                connection_id,
                cause,
                ..
            } if *connection_id == connection => {
                Some((cause.as_ref().map(ToString::to_string), since.elapsed()))
            }
            _ => None,
        })
        .await
        .unwrap();
    if pruned.is_none() {
        // The policy reports in the same poll as its close; look a moment longer.
        pruned = node
            .wait_behaviour(Duration::from_millis(200), "Pruned", |event| match event {
                PoliciesEvent::Prune(conn_prune::Event::Pruned {
                    connection: c,
                    reason,
                    evidence,
                    ..
                }) if *c == connection => Some((reason.clone(), *evidence)),
                _ => None,
            })
            .await
            .ok();
    }
    Closed {
        pruned,
        cause,
        after,
    }
}

/// Fails on any prune or close within `window`.
async fn assert_kept(node: &mut PolicyNode, window: Duration) {
    node.expect_none(window, "a prune or close", |event| {
        matches!(
            event,
            SwarmEvent::Behaviour(PoliciesEvent::Prune(conn_prune::Event::Pruned { .. }))
                | SwarmEvent::ConnectionClosed { .. }
        )
        .then_some(())
    })
    .await
    .unwrap();
}

fn init() {
    testkit::init_tracing();
}
