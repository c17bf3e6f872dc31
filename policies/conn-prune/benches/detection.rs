//! conn-prune on real WebRTC-direct connections over loopback: how long a
//! blackholed connection lives on, at the default and the aggressive config,
//! and how many bytes the probes cost.
//!
//! ```sh
//! cargo bench -p libp2p-conn-prune --bench detection            # 10 runs each
//! cargo bench -p libp2p-conn-prune --bench detection -- --runs 20
//! ```

use std::time::{Duration, Instant};

use conn_prune::{Config, Transport};
use libp2p::swarm::{ConnectionId, NetworkBehaviour};
use testkit::{Direction, Node, NodeConfig, PlainBehaviour, TransportKind, UdpProxy};

const CONNECT: Duration = Duration::from_secs(10);
/// How long the probe traffic is measured, per arm.
const TRAFFIC_WINDOW: Duration = Duration::from_secs(40);

#[derive(NetworkBehaviour)]
struct Pruning {
    plain: PlainBehaviour,
    prune: conn_prune::Behaviour,
}

/// Who listens: a plain node, or one that runs the policy without probing
/// (it serves the dialer's pings; only the dialer's probes are measured).
#[derive(Clone, Copy)]
enum Listener {
    Plain,
    Serving,
}

/// A listener, a dialer with the policy through a proxy, and their connection.
/// The listener's handle is returned to keep it running.
async fn setup(
    config: Config,
    listener: Listener,
) -> (
    Box<dyn std::any::Any>,
    Node<Pruning>,
    UdpProxy,
    ConnectionId,
) {
    let (listener, peer, addr): (Box<dyn std::any::Any>, _, _) = match listener {
        Listener::Plain => {
            let node = Node::spawn(NodeConfig::new(TransportKind::WebRtc), PlainBehaviour::new)
                .await
                .expect("listener");
            let (peer, addr) = (node.peer_id(), node.addr().clone());
            (Box::new(node), peer, addr)
        }
        Listener::Serving => {
            let serving = Config::default().with_probe_interval(Transport::WebRtc, None);
            let node = pruning_node(serving).await;
            let (peer, addr) = (node.peer_id(), node.addr().clone());
            (Box::new(node), peer, addr)
        }
    };
    // A connect that fails is set up again and counted: this measures detection, not connects.
    for _ in 0..3 {
        let mut dialer = pruning_node(config.clone()).await;
        let proxy = UdpProxy::start(testkit::socket_addr(&addr).expect("udp"))
            .await
            .expect("proxy");
        match dialer.connect(peer, proxy.proxied(&addr), CONNECT).await {
            Ok(connection) => return (listener, dialer, proxy, connection),
            Err(e) => eprintln!("  connect failed, set up again: {e}"),
        }
    }
    panic!("three connects in a row failed");
}

async fn pruning_node(config: Config) -> Node<Pruning> {
    Node::spawn(NodeConfig::new(TransportKind::WebRtc), move |key| Pruning {
        plain: PlainBehaviour::new(key),
        prune: conn_prune::Behaviour::new(config).expect("valid config"),
    })
    .await
    .expect("node")
}

async fn answered(node: &Node<Pruning>, connection: ConnectionId) -> u64 {
    node.with(move |s| {
        s.behaviour()
            .prune
            .stats(connection)
            .map_or(0, |s| s.probes_answered)
    })
    .await
}

/// Time from cutting the path to the policy's `Pruned` event.
async fn detection_once(config: Config) -> Duration {
    let config_interval = config
        .probe_interval(Transport::WebRtc)
        .expect("WebRTC is probed on a schedule");
    let (_listener, mut dialer, proxy, connection) = setup(config, Listener::Serving).await;
    // A connection that has lived a while: the policy knows its RTT.
    dialer
        .wait_until(CONNECT * 3, "two probes answered", move |s| {
            s.behaviour()
                .prune
                .stats(connection)
                .filter(|stats| stats.probes_answered >= 2)
        })
        .await
        .expect("probes answered");
    // The path dies at a random moment of the probe cycle, not right after an answer.
    let interval = config_interval.mul_f64(rand::random::<f64>());
    tokio::time::sleep(interval).await;
    proxy.cut();
    let cut = Instant::now();
    dialer
        .wait_behaviour(Duration::from_secs(60), "Pruned", |event| match event {
            PruningEvent::Prune(conn_prune::Event::Pruned { connection: c, .. })
                if *c == connection =>
            {
                Some(())
            }
            _ => None,
        })
        .await
        .expect("pruned");
    cut.elapsed()
}

/// Bytes per second through the proxy, both ways, over the window, and the
/// probes answered meanwhile.
async fn traffic(config: Config, listener: Listener) -> (f64, u64) {
    let (_listener, dialer, proxy, connection) = setup(config, listener).await;
    // Leave the handshake's and identify's traffic out of the window.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let bytes = || -> u64 {
        Direction::BOTH
            .iter()
            .map(|d| proxy.counts(*d).forwarded_bytes)
            .sum()
    };
    let (bytes_before, answered_before) = (bytes(), answered(&dialer, connection).await);
    // Measuring traffic over a fixed window is the point here, not synchronisation.
    tokio::time::sleep(TRAFFIC_WINDOW).await;
    let probes = answered(&dialer, connection).await - answered_before;
    let rate = (bytes() - bytes_before) as f64 / TRAFFIC_WINDOW.as_secs_f64();
    (rate, probes)
}

fn summary(samples: &mut [Duration]) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "min {:>7.0} ms   median {:>7.0} ms   max {:>7.0} ms   ({} runs)",
        ms(samples[0]),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1]),
        samples.len()
    )
}

fn runs_from_args() -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(10)
}

#[tokio::main]
async fn main() {
    testkit::init_tracing();
    let runs = runs_from_args();
    let never = Config::default().with_probe_interval(Transport::WebRtc, None);

    for (name, config) in [
        ("default", Config::default()),
        ("aggressive", Config::aggressive()),
    ] {
        let bound = config
            .detection_bound(Transport::WebRtc)
            .expect("scheduled");
        let mut samples = Vec::with_capacity(runs);
        for run in 0..runs {
            let took = detection_once(config.clone()).await;
            eprintln!("  {name} run {}: {took:?}", run + 1);
            samples.push(took);
        }
        println!(
            "detection, blackholed WebRTC-direct, {name:<10} {}   bound {:.1} s",
            summary(&mut samples),
            bound.as_secs_f64()
        );
    }

    for (name, listener) in [
        (
            "a peer with the policy (pings on a kept stream)",
            Listener::Serving,
        ),
        ("a plain peer (a negotiation per probe)", Listener::Plain),
    ] {
        let (without, _) = traffic(never.clone(), listener).await;
        let (with, probes) = traffic(Config::default(), listener).await;
        let probe_rate = with - without;
        println!(
            "traffic, idle WebRTC-direct connection to {name}: {without:.0} B/s without probes, \
             {with:.0} B/s with the default config; probes {probe_rate:.0} B/s \
             ({probes} probes in {} s, {:.0} B each)",
            TRAFFIC_WINDOW.as_secs(),
            probe_rate * TRAFFIC_WINDOW.as_secs_f64() / probes.max(1) as f64
        );
    }
}
