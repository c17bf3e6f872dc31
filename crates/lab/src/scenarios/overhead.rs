//! `overhead`: what the policies cost a busy, healthy connection.

use std::time::Duration;

use futures::StreamExt;
use libp2p::{
    swarm::{
        ConnectionId, SwarmEvent,
    },
    PeerId, Swarm,
};
use testkit::{echo, Node, PlainEvent, TransportKind};

use super::{Arm, Context, RunError, Sample, Scenario, Unit};
use crate::stack::{self, LabBehaviour, LabEvent};

/// Requests kept in flight: enough to keep the connection busy, under the
/// 16 inbound echo streams a testkit node serves at once per connection.
const IN_FLIGHT: usize = 8;
/// Before counting: the connection's and the stacks' start-up traffic
/// (identify, the Kademlia bootstrap) out of the window.
const WARM_UP: Duration = Duration::from_millis(500);
/// Requests are counted in this many windows of [`WINDOW`] each, and the
/// run's figure is its best window: whatever else the machine does only
/// ever slows a window down, so the best one is the closest to what the
/// stack itself allows (as `timeit` takes the fastest of its repeats).
const WINDOWS: u32 = 4;
/// One counting window.
const WINDOW: Duration = Duration::from_secs(1);
/// Setting up and draining, beyond the warm-up and the window.
const SETUP: Duration = Duration::from_secs(10);

/// See the module docs.
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "overhead",
    description: "Two Kademlia nodes on QUIC, both running the arm's stack; the client keeps \
                  8 echo requests (a new stream each, 8 bytes there and back) in flight on \
                  one connection; the best of four 1 s windows after a 0.5 s warm-up. Both \
                  nodes share one thread. Runs one at a time, arms \
                  alternating. Policy arm: every landed policy, the facade's QUIC DHT \
                  server preset (conn-prune with QUIC probed every 5 s, state-isolation, \
                  rebootstrap around Kademlia with the server as bootstrap peer).",
    metric: "echo requests per second, 8 in flight, best 1 s",
    unit: Unit::RequestsPerSecond,
    cap: None,
    parallel: super::one_at_a_time,
    requires: super::nothing,
    run: |arm, ctx| Box::pin(run(arm, ctx)),
};

async fn run(arm: Arm, _: Context) -> Result<Sample, RunError> {
    // Both nodes on one thread of their own: the figure is then what the
    // stacks cost on one core, not how the scheduler spread two nodes over
    // two cores shared with whatever else the machine runs, which varies by
    // several percent from run to run.
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(measure(arm))
    })
    .await?
}

async fn measure(arm: Arm) -> Result<Sample, RunError> {
    let (config, layers) = crate::stack::node_config(arm, TransportKind::Quic);
    let server = Node::spawn(config, move |key| {
        LabBehaviour::with_kad(arm, key, Vec::new(), layers)
    })
    .await?;
    let (peer, server_addr) = (server.peer_id(), server.addr().clone());

    // The client's swarm is driven here rather than on a `Node`'s task, so
    // that each reply sends the next request without a hop through a channel.
    let (config, layers) = crate::stack::node_config(arm, TransportKind::Quic);
    let bootstrap = vec![server_addr.clone()];
    let mut client =
        config.build(move |key| LabBehaviour::with_kad(arm, key, bootstrap, layers));
    testkit::listen(&mut client, config.transport, 0).await?;
    // On the policy arm rebootstrap may be dialing the server already (it
    // is the bootstrap peer): then its connection is the one measured.
    stack::dial_once(&mut client, peer, server_addr)?;
    if arm == Arm::Plain {
        // As applications do at start; rebootstrap does it on its own.
        if let Some(kad) = client.behaviour_mut().kad_mut() {
            let _ = kad.bootstrap();
        }
    }

    let measured = tokio::time::timeout(SETUP + WARM_UP + WINDOW * WINDOWS, async {
        let connection = established(&mut client, peer).await?;
        throughput(&mut client, peer, connection).await
    })
    .await
    .map_err(|_| RunError::new("the measurement did not finish in time"))??;
    drop(server);
    Ok(Sample::measured(measured))
}

/// Drives `client` until a connection to `peer` is established, and returns it.
async fn established(
    client: &mut Swarm<LabBehaviour>,
    peer: PeerId,
) -> Result<ConnectionId, RunError> {
    loop {
        match client.select_next_some().await {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                ..
            } if peer_id == peer => return Ok(connection_id),
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer_id),
                error,
                ..
            } if peer_id == peer => return Err(error.into()),
            _ => {}
        }
    }
}

/// Keeps [`IN_FLIGHT`] echo requests going on `connection` and returns the
/// completed requests per second of the best of [`WINDOWS`] windows after
/// the [`WARM_UP`].
async fn throughput(
    client: &mut Swarm<LabBehaviour>,
    peer: PeerId,
    connection: ConnectionId,
) -> Result<f64, RunError> {
    let send = |client: &mut Swarm<LabBehaviour>| {
        client
            .behaviour_mut()
            .app_mut()
            .echo
            .send(peer, echo::Target::Connection(connection));
    };
    for _ in 0..IN_FLIGHT {
        send(client);
    }
    let mut window_end = tokio::time::Instant::now() + WARM_UP;
    let mut counted: Option<u64> = None;
    let mut best = 0.0f64;
    for _ in 0..=WINDOWS {
        loop {
            let event = tokio::select! {
                event = client.select_next_some() => event,
                () = tokio::time::sleep_until(window_end) => break,
            };
            if let SwarmEvent::Behaviour(LabEvent::App(PlainEvent::Echo(e))) = event {
                e.result
                    .map_err(|e| RunError::new(format!("echo on a healthy connection: {e}")))?;
                counted = counted.map(|n| n + 1);
                send(client);
            }
        }
        // The first window is the warm-up, not counted.
        if let Some(n) = counted {
            best = best.max(n as f64 / WINDOW.as_secs_f64());
        }
        counted = Some(0);
        window_end += WINDOW;
    }
    Ok(best)
}
