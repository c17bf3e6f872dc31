//! The realistic counterpart of `overhead_count`: what the policies cost
//! an application that does real work on one connection, counted in
//! instructions.
//!
//! Two nodes over QUIC on one current-thread runtime, each running
//! gossipsub (signed messages, default configuration), a request-response
//! echo, identify, ping and Kademlia in server mode. A round is, all three
//! at once on the one connection:
//!
//! - the client publishes a 1 KiB gossipsub message, delivered to the
//!   server;
//! - the client sends a 16 KiB request-response request, answered with
//!   the same 16 KiB;
//! - the client runs a Kademlia `get_closest_peers` query for a random key.
//!
//! After a warm-up, exactly `rounds` rounds run one after the other inside
//! [`measured`], the one function to count:
//!
//! ```sh
//! CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
//!     cargo build --release -p policy-lab --example realistic_count
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='realistic_count::measured' \
//!     target/release/examples/realistic_count all 1000
//! ```
//!
//! Instructions per round: the `Ir` total over `rounds`.
//!
//! Usage: `realistic_count <stack> [rounds (1000)] [warm-up rounds (200)]`,
//! where `<stack>` is `plain` (the application alone), `all` (the lab's
//! policy arm: the facade's QUIC DHT server preset, stream-quota and
//! state-isolation's handshake under the transport) or `off` (the facade's
//! bundle with every policy off).

mod count;

use std::{process::ExitCode, time::Instant};

use count::Error;
use tokio::runtime::Runtime;

use either::Either;
use futures::StreamExt;
use libp2p::{
    gossipsub, identify,
    identity::Keypair,
    kad::{self, store::MemoryStore},
    multiaddr::Protocol,
    ping,
    request_response::{self, OutboundRequestId},
    swarm::{behaviour::toggle::Toggle, NetworkBehaviour, SwarmEvent},
    Multiaddr, PeerId, Swarm,
};
use policy_lab::{
    scenarios::Arm,
    stack::{self, Layers},
};
use testkit::{GossipBehaviour, GossipEvent, TransportKind};
use transport_policies::{Config, Policies};

/// A gossipsub message's size.
const GOSSIP_BYTES: usize = 1024;
/// A request's size, and its response's.
const REQUEST_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stack {
    Plain,
    All,
    Off,
}

impl Stack {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "plain" => Self::Plain,
            "all" => Self::All,
            "off" => Self::Off,
            _ => return None,
        })
    }

    fn behaviour(self, key: &Keypair, bootstrap: Vec<Multiaddr>, layers: Option<Layers>) -> Node {
        let node = match self {
            Self::Plain => Either::Left(App::with_kad(key, bootstrap)),
            Self::All => Either::Right(
                Policies::with_kad(
                    App::new(key, None),
                    stack::server_kad(key),
                    stack::policy_config(Some(bootstrap), layers),
                )
                .expect("testkit addresses end in /p2p"),
            ),
            Self::Off => {
                let app = App::with_kad(key, bootstrap);
                Either::Right(Policies::new(app, Config::none()).expect("valid config"))
            }
        };
        Node { node }
    }
}

/// The application: what a typical node runs.
#[derive(NetworkBehaviour)]
#[behaviour(to_swarm = "AppEvent")]
struct App {
    gossip: GossipBehaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    // The application's own on the plain and off stacks; rebootstrap's on `all`.
    kad: Toggle<kad::Behaviour<MemoryStore>>,
}

impl App {
    /// With Kademlia of its own, knowing `bootstrap`.
    fn with_kad(key: &Keypair, bootstrap: Vec<Multiaddr>) -> Self {
        let mut kad = stack::server_kad(key);
        for addr in bootstrap {
            if let Some(Protocol::P2p(peer)) = addr.iter().last() {
                kad.add_address(&peer, addr);
            }
        }
        Self::new(key, Some(kad))
    }

    fn new(key: &Keypair, kad: Option<kad::Behaviour<MemoryStore>>) -> Self {
        Self {
            gossip: GossipBehaviour::new(key),
            identify: identify::Behaviour::new(identify::Config::new(
                "/realistic/1.0.0".to_owned(),
                key.public(),
            )),
            ping: ping::Behaviour::default(),
            kad: Toggle::from(kad),
        }
    }
}

#[derive(Debug)]
enum AppEvent {
    Gossip(GossipEvent),
    Kad(Box<kad::Event>),
    Other,
}

impl From<GossipEvent> for AppEvent {
    fn from(event: GossipEvent) -> Self {
        Self::Gossip(event)
    }
}

impl From<kad::Event> for AppEvent {
    fn from(event: kad::Event) -> Self {
        Self::Kad(Box::new(event))
    }
}

impl From<identify::Event> for AppEvent {
    fn from(_: identify::Event) -> Self {
        Self::Other
    }
}

impl From<ping::Event> for AppEvent {
    fn from(_: ping::Event) -> Self {
        Self::Other
    }
}

/// A node on either stack, as the lab's nodes are.
#[derive(NetworkBehaviour)]
#[behaviour(to_swarm = "AppEvent")]
struct Node {
    node: Either<App, Policies<App>>,
}

impl Node {
    fn app_mut(&mut self) -> &mut App {
        match &mut self.node {
            Either::Left(app) => app,
            Either::Right(bundle) => bundle.app_mut(),
        }
    }

    fn kad_mut(&mut self) -> &mut kad::Behaviour<MemoryStore> {
        let kad = match &mut self.node {
            Either::Left(app) => app.kad.as_mut(),
            // Without rebootstrap, Kademlia is the application's.
            Either::Right(bundle) => {
                if bundle.kad().is_some() {
                    bundle.kad_mut()
                } else {
                    bundle.app_mut().kad.as_mut()
                }
            }
        };
        kad.expect("every stack runs Kademlia")
    }
}

impl From<Either<AppEvent, transport_policies::Event<AppEvent>>> for AppEvent {
    fn from(event: Either<AppEvent, transport_policies::Event<AppEvent>>) -> Self {
        match event {
            Either::Left(event) | Either::Right(transport_policies::Event::App(event)) => event,
            Either::Right(transport_policies::Event::Kad(event)) => Self::Kad(Box::new(event)),
            Either::Right(_) => Self::Other,
        }
    }
}

fn main() -> ExitCode {
    count::main(
        "realistic_count",
        "plain|all|off",
        Stack::parse,
        (1000, 200),
        "warn,libp2p_kad=error,libp2p_gossipsub=error",
        run,
    )
}

fn run(runtime: &Runtime, stack: Stack, rounds: u64, warm_up: u64) -> Result<(), Error> {
    let mut pair = runtime.block_on(Pair::set_up(stack))?;
    runtime.block_on(pair.rounds(warm_up))?;
    let started = Instant::now();
    measured(runtime, &mut pair, rounds)?;
    let took = started.elapsed();
    println!(
        "{stack:?}: {rounds} rounds in {:.3} s ({:.0} rounds/s); connections held: client {}, server {}",
        took.as_secs_f64(),
        rounds as f64 / took.as_secs_f64(),
        pair.client.network_info().connection_counters().num_established(),
        pair.server.network_info().connection_counters().num_established(),
    );
    Ok(())
}

/// The measured phase: `rounds` rounds, both nodes' work included.
#[inline(never)]
fn measured(runtime: &Runtime, pair: &mut Pair, rounds: u64) -> Result<(), Error> {
    runtime.block_on(pair.rounds(rounds))
}

/// Both nodes, driven by one task.
struct Pair {
    server: Swarm<Node>,
    client: Swarm<Node>,
    server_id: PeerId,
}

/// What a round still waits for.
#[derive(Default)]
struct Round {
    delivered: bool,
    response: Option<OutboundRequestId>,
    query: Option<kad::QueryId>,
}

impl Round {
    fn done(&self) -> bool {
        self.delivered && self.response.is_none() && self.query.is_none()
    }
}

impl Pair {
    async fn set_up(stack: Stack) -> Result<Self, Error> {
        let build = |bootstrap: Vec<Multiaddr>| {
            let (config, layers) = match stack {
                Stack::Plain => stack::node_config(Arm::Plain, TransportKind::Quic),
                Stack::All => stack::node_config(Arm::Policy, TransportKind::Quic),
                Stack::Off => stack::node_config(Arm::Plain, TransportKind::Quic),
            };
            let swarm = config.build(move |key| stack.behaviour(key, bootstrap, layers));
            (swarm, config.transport)
        };
        let (mut server, transport) = build(Vec::new());
        let server_addr = testkit::listen(&mut server, transport, 0).await?;
        let server_id = *server.local_peer_id();
        let (mut client, transport) = build(vec![server_addr.clone()]);
        testkit::listen(&mut client, transport, 0).await?;
        // As `overhead_count` dials: rebootstrap, on `all`, dials the same
        // bootstrap peer, and one connection is what is measured.
        stack::dial_once(&mut client, server_id, server_addr)?;
        let mut pair = Self {
            server,
            client,
            server_id,
        };
        // Ready once the client knows the server is on the topic.
        loop {
            let (event, from_client) = pair.next().await;
            if let (true, SwarmEvent::Behaviour(AppEvent::Gossip(GossipEvent::Gossipsub(event)))) =
                (from_client, &event)
            {
                if let gossipsub::Event::Subscribed { peer_id, .. } = **event {
                    if peer_id == server_id {
                        return Ok(pair);
                    }
                }
            }
            if let SwarmEvent::OutgoingConnectionError { error, .. } = event {
                return Err(error.into());
            }
        }
    }

    /// The next event of either node, and whether it is the client's; the
    /// server answers requests as they come.
    async fn next(&mut self) -> (SwarmEvent<AppEvent>, bool) {
        loop {
            tokio::select! {
                event = self.client.select_next_some() => return (event, true),
                event = self.server.select_next_some() => match event {
                    SwarmEvent::Behaviour(AppEvent::Gossip(GossipEvent::Echo(event))) => {
                        match *event {
                            request_response::Event::Message {
                                message: request_response::Message::Request { request, channel, .. },
                                ..
                            } => {
                                let echo = &mut self.server.behaviour_mut().app_mut().gossip.echo;
                                let _ = echo.send_response(channel, request);
                            }
                            event => {
                                let event = AppEvent::Gossip(GossipEvent::Echo(Box::new(event)));
                                return (SwarmEvent::Behaviour(event), false);
                            }
                        }
                    }
                    event => return (event, false),
                },
            }
        }
    }

    /// Runs `n` rounds, one after the other.
    async fn rounds(&mut self, n: u64) -> Result<(), Error> {
        for i in 0..n {
            let behaviour = self.client.behaviour_mut();
            let app = behaviour.app_mut();
            let mut gossip = vec![0u8; GOSSIP_BYTES];
            gossip[..8].copy_from_slice(&i.to_be_bytes());
            app.gossip.publish(&gossip)?;
            let request = app
                .gossip
                .echo
                .send_request(&self.server_id, vec![7; REQUEST_BYTES]);
            let query = behaviour.kad_mut().get_closest_peers(PeerId::random());
            let mut round = Round {
                delivered: false,
                response: Some(request),
                query: Some(query),
            };
            while !round.done() {
                let (event, from_client) = self.next().await;
                let SwarmEvent::Behaviour(event) = event else {
                    continue;
                };
                match (event, from_client) {
                    (AppEvent::Gossip(GossipEvent::Gossipsub(event)), false) => {
                        if let gossipsub::Event::Message { .. } = *event {
                            round.delivered = true;
                        }
                    }
                    (AppEvent::Gossip(GossipEvent::Echo(event)), true) => match *event {
                        request_response::Event::Message {
                            message: request_response::Message::Response { request_id, .. },
                            ..
                        } if Some(request_id) == round.response => round.response = None,
                        request_response::Event::OutboundFailure { error, .. } => {
                            return Err(error.into())
                        }
                        _ => {}
                    },
                    (AppEvent::Kad(event), true) => {
                        if let kad::Event::OutboundQueryProgressed { id, step, .. } = *event {
                            if Some(id) == round.query && step.last {
                                round.query = None;
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}
