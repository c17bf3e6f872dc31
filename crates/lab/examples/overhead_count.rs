//! The `overhead` scenario's pair run for a fixed number of requests, to
//! count instructions rather than time them (the lab's requests per second
//! move by several percent on a busy machine; instruction counts do not).
//!
//! Sets up the scenario's server and client (two Kademlia nodes on QUIC on
//! one current-thread runtime, the client keeping 8 echo requests in
//! flight on one connection, a new stream each, 8 bytes there and back),
//! warms up, then runs exactly `requests` echo requests inside
//! [`measured`], the one function to count:
//!
//! ```sh
//! CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
//!     cargo build --release -p policy-lab --example overhead_count
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='overhead_count::measured' \
//!     target/release/examples/overhead_count all 5000
//! ```
//!
//! Instructions per request: the `Ir` total over `requests`.
//!
//! Usage: `overhead_count <stack> [requests (5000)] [warm-up requests (2000)]`,
//! where `<stack>` is `plain` (the plain arm), `all` (the policy arm, as the
//! lab runs it), `prune`, `isolation`, `rebootstrap` or `quota` (the bundle
//! with only that policy on, as the policy arm configures it) or `off` (the
//! bundle with every policy off). Kademlia runs on every stack: inside
//! rebootstrap when it is on, else as the application's.

mod count;

use std::{process::ExitCode, time::Instant};

use count::Error;
use tokio::runtime::Runtime;

use futures::StreamExt;
use libp2p::{
    identity::Keypair,
    kad,
    multiaddr::Protocol,
    swarm::{ConnectionId, SwarmEvent},
    Multiaddr, PeerId, Swarm,
};
use policy_lab::{
    scenarios::Arm,
    stack::{self, Bundle, LabBehaviour, LabEvent, Layers},
};
use testkit::{echo, Node, NodeConfig, PlainBehaviour, PlainEvent, TransportKind};
use transport_policies::{conn_prune, rebootstrap, state_isolation, Config};

/// As in the scenario.
const IN_FLIGHT: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stack {
    Plain,
    All,
    Prune,
    Isolation,
    Rebootstrap,
    Quota,
    Off,
}

impl Stack {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "plain" => Self::Plain,
            "all" => Self::All,
            "prune" => Self::Prune,
            "isolation" => Self::Isolation,
            "rebootstrap" => Self::Rebootstrap,
            "quota" => Self::Quota,
            "off" => Self::Off,
            _ => return None,
        })
    }

    /// The node's swarm settings, and the layers under its transport when it
    /// runs stream-quota.
    fn node_config(self) -> (NodeConfig, Option<Layers>) {
        match self {
            Self::Plain => stack::node_config(Arm::Plain, TransportKind::Quic),
            Self::All | Self::Quota => stack::node_config(Arm::Policy, TransportKind::Quic),
            _ => (NodeConfig::new(TransportKind::Quic), None),
        }
    }

    /// The node's behaviour, a Kademlia server that knows `bootstrap`.
    fn behaviour(
        self,
        key: &Keypair,
        bootstrap: Vec<Multiaddr>,
        layers: Option<Layers>,
    ) -> LabBehaviour {
        let config = match self {
            Self::Plain => return LabBehaviour::with_kad(Arm::Plain, key, bootstrap, None),
            Self::All => return LabBehaviour::with_kad(Arm::Policy, key, bootstrap, layers),
            Self::Prune => {
                Config::none().with_prune(Some(conn_prune::Config::default().with_probe_interval(
                    conn_prune::Transport::Quic,
                    Some(stack::QUIC_PROBE_INTERVAL),
                )))
            }
            Self::Isolation => {
                Config::none().with_isolation(Some(state_isolation::Config::default()))
            }
            Self::Rebootstrap => {
                let config = rebootstrap::Config::default().with_bootstrap_addresses(bootstrap);
                let bundle = Bundle::with_kad(
                    PlainBehaviour::new(key),
                    stack::server_kad(key),
                    Config::none().with_rebootstrap(Some(config)),
                )
                .expect("testkit addresses end in /p2p");
                return LabBehaviour::from_bundle(bundle);
            }
            Self::Quota => Config::none().with_stream_quota(layers.map(|l| l.quota)),
            Self::Off => Config::none(),
        };
        // rebootstrap off: Kademlia is the application's, as on the plain arm.
        let mut app = PlainBehaviour::with_kad(key);
        add_addresses(app.kad.as_mut().expect("with_kad runs Kademlia"), bootstrap);
        LabBehaviour::from_bundle(Bundle::new(app, config).expect("valid config"))
    }
}

fn add_addresses(kad: &mut kad::Behaviour<kad::store::MemoryStore>, addrs: Vec<Multiaddr>) {
    for addr in addrs {
        if let Some(Protocol::P2p(peer)) = addr.iter().last() {
            kad.add_address(&peer, addr);
        }
    }
}

fn main() -> ExitCode {
    count::main(
        "overhead_count",
        "plain|all|prune|isolation|rebootstrap|quota|off",
        Stack::parse,
        (5000, 2000),
        // As the lab runs.
        "warn,libp2p_kad=error",
        run,
    )
}

fn run(runtime: &Runtime, stack: Stack, requests: u64, warm_up: u64) -> Result<(), Error> {
    let (_server, mut pair) = runtime.block_on(set_up(stack))?;
    pair.send_all();
    runtime.block_on(pair.echo(warm_up))?;
    let started = Instant::now();
    measured(runtime, &mut pair, requests)?;
    let took = started.elapsed();
    println!(
        "{stack:?}: {requests} requests in {:.3} s ({:.0} req/s)",
        took.as_secs_f64(),
        requests as f64 / took.as_secs_f64()
    );
    Ok(())
}

/// The measured phase: `requests` echo requests, both nodes' work included
/// (the server's task runs on this runtime, inside `block_on`).
#[inline(never)]
fn measured(runtime: &Runtime, pair: &mut Pair, requests: u64) -> Result<(), Error> {
    runtime.block_on(pair.echo(requests))
}

/// The client's side of the pair.
struct Pair {
    client: Swarm<LabBehaviour>,
    peer: PeerId,
    connection: ConnectionId,
}

async fn set_up(stack: Stack) -> Result<(Node<LabBehaviour>, Pair), Error> {
    let (config, layers) = stack.node_config();
    let server = Node::spawn(config, move |key| stack.behaviour(key, Vec::new(), layers)).await?;
    let (peer, server_addr) = (server.peer_id(), server.addr().clone());

    let (config, layers) = stack.node_config();
    let bootstrap = vec![server_addr.clone()];
    let mut client = config.build(move |key| stack.behaviour(key, bootstrap, layers));
    testkit::listen(&mut client, config.transport, 0).await?;
    stack::dial_once(&mut client, peer, server_addr)?;
    // As the plain arm does; rebootstrap bootstraps on its own.
    if stack != Stack::Rebootstrap && stack != Stack::All {
        if let Some(kad) = client.behaviour_mut().app_mut().kad.as_mut() {
            let _ = kad.bootstrap();
        }
    }
    let connection = loop {
        match client.select_next_some().await {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                ..
            } if peer_id == peer => break connection_id,
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(p),
                error,
                ..
            } if p == peer => return Err(error.into()),
            _ => {}
        }
    };
    Ok((
        server,
        Pair {
            client,
            peer,
            connection,
        },
    ))
}

impl Pair {
    fn send(&mut self) {
        let (peer, connection) = (self.peer, self.connection);
        self.client
            .behaviour_mut()
            .app_mut()
            .echo
            .send(peer, echo::Target::Connection(connection));
    }

    fn send_all(&mut self) {
        for _ in 0..IN_FLIGHT {
            self.send();
        }
    }

    /// Drives the client until `n` more requests completed, each replaced by
    /// a new one, as the scenario does.
    async fn echo(&mut self, n: u64) -> Result<(), Error> {
        let mut done = 0;
        while done < n {
            if let SwarmEvent::Behaviour(LabEvent::App(PlainEvent::Echo(e))) =
                self.client.select_next_some().await
            {
                e.result?;
                done += 1;
                self.send();
            }
        }
        Ok(())
    }
}
