//! state-isolation on real connections: the time from a restarted peer's new
//! connection to the close of its old one, over QUIC and WebRTC-direct.
//!
//! The peer is a child process running the policy; it is SIGKILLed, started
//! again with the same key and port, and dials back. The time is between the
//! swarm's `ConnectionEstablished` for the new connection and its
//! `ConnectionClosed` for the old one, as the swarm reports them. Without the
//! policy the old connection lives 10 to 13.5 s (QUIC) or for ever (WebRTC).
//!
//! ```sh
//! cargo bench -p libp2p-state-isolation --bench replacement              # 10 runs a transport
//! cargo bench -p libp2p-state-isolation --bench replacement -- --runs 20
//! ```

use std::time::{Duration, Instant};

use libp2p::swarm::SwarmEvent;
use testkit::{ChildNode, ChildSpec, Node, NodeConfig, PlainBehaviour, TransportKind, UdpProxy};

const CONNECT: Duration = Duration::from_secs(10);

type Isolated = state_isolation::Behaviour<PlainBehaviour>;

/// One crash and reconnect; the new-to-old-closed time, and the policy's own
/// figure (from the new connection to its incarnation).
async fn replacement_once(
    transport: TransportKind,
    seed: u64,
) -> Result<(Duration, Duration), Box<dyn std::error::Error>> {
    let mut node: Node<Isolated> = Node::spawn(NodeConfig::new(transport), |key| {
        state_isolation::Behaviour::wrap(
            PlainBehaviour::new(key),
            state_isolation::Config::default(),
        )
        .expect("valid config")
    })
    .await?;
    let mut child =
        ChildNode::spawn(ChildSpec::new(transport, seed).with_state_isolation()).await?;
    let peer = child.peer_id();
    // WebRTC: the first run through a proxy, so that the second, dialing
    // directly, comes from an address the listener has no connection for.
    let proxy = UdpProxy::start(testkit::socket_addr(node.addr()).ok_or("no UDP address")?).await?;
    let first = match transport {
        TransportKind::WebRtc => proxy.proxied(node.addr()),
        _ => node.addr().clone(),
    };
    child.dial(&first).await?;
    let old = node.wait_established(peer, CONNECT).await?;
    node.wait_until(CONNECT, "incarnation known", move |s| {
        s.behaviour().connection(old).and_then(|c| c.incarnation)
    })
    .await?;

    child.kill().await?;
    child.restart().await?;
    child.dial(&node.addr().clone()).await?;
    let (mut established, mut closed, mut after) = (None, None, None);
    node.wait_for(CONNECT, "replacement", |event| {
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if *peer_id == peer => {
                established = Some(Instant::now());
            }
            SwarmEvent::ConnectionClosed { connection_id, .. } if *connection_id == old => {
                closed = Some(Instant::now());
            }
            SwarmEvent::Behaviour(state_isolation::Event::Replaced(r)) => after = Some(r.after),
            _ => {}
        }
        (closed.is_some() && after.is_some()).then_some(())
    })
    .await?;
    Ok((
        closed.unwrap() - established.expect("new connection first"),
        after.unwrap(),
    ))
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    format!(
        "min {} / median {} / max {}",
        ms(samples[0]),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1])
    )
}

#[tokio::main]
async fn main() {
    testkit::init_tracing();
    let runs = std::env::args()
        .skip_while(|a| a != "--runs")
        .nth(1)
        .map_or(10, |n| n.parse::<usize>().expect("--runs N"));
    for transport in [TransportKind::Quic, TransportKind::WebRtc] {
        let (mut closes, mut known) = (Vec::new(), Vec::new());
        let (mut failed, mut seed) = (0, 500);
        while closes.len() < runs {
            seed += 1;
            match replacement_once(transport, seed).await {
                Ok((close, after)) => {
                    eprintln!(
                        "{transport} run {}: old closed {close:?} after the new connection",
                        closes.len() + 1
                    );
                    closes.push(close);
                    known.push(after);
                }
                // Counted and reported: this measures the replacement, not connects.
                Err(e) => {
                    failed += 1;
                    eprintln!("{transport}: a connect failed, run again: {e}");
                }
            }
        }
        if failed > 0 {
            println!("{transport}: {failed} reconnects failed and were run again");
        }
        println!(
            "{transport}, {runs} runs: new connection -> old closed: {}",
            summary(closes)
        );
        println!(
            "{transport}, {runs} runs: new connection -> incarnation known: {}",
            summary(known)
        );
    }
}
