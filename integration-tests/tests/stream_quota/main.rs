//! stream-quota on real QUIC connections: counts exact in every scope for the
//! streams of two behaviours in both directions, limits refusing exactly the
//! stream over them with a clear reason, a starved connection reported long
//! before the swarm's 10 s stream timeout and recycled, leaked streams
//! reported on both sides, and malformed negotiation bytes and stream floods
//! leaving the victim up with its ledger back at zero.
//!
//! The nodes run only the echo behaviour of the testkit's `PlainBehaviour`,
//! `libp2p-stream` and the policy: no ping or identify, whose streams come
//! and go on their own timers, so the ground truth of every stream is known.

mod accounting;
mod bad_input;
mod leaks;
mod limits;
mod starvation;
mod swarm_order;

use std::{collections::HashMap, time::Duration};

use futures::StreamExt;
use libp2p::{
    swarm::{ConnectionId, NetworkBehaviour},
    PeerId, Stream, StreamProtocol,
};
use libp2p_stream::{Control, IncomingStreams};
use stream_quota::{Config, Direction, LimitExceeded, Quota, Scope, ScopeStats, Snapshot};
use testkit::{
    echo::{self, Target},
    Node, NodeConfig, TransportKind,
};

const CONNECT: Duration = Duration::from_secs(10);
/// For what follows from one local action on loopback: an inbound stream
/// handed over, a ledger settling, a policy event.
const SOON: Duration = Duration::from_secs(5);

/// The application's own protocols, over `libp2p-stream`.
const ALPHA: StreamProtocol = StreamProtocol::new("/stream-quota-test/alpha/1");
const BETA: StreamProtocol = StreamProtocol::new("/stream-quota-test/beta/1");

/// Two behaviours that open streams, and the policy counting them.
#[derive(NetworkBehaviour)]
struct Counted {
    echo: echo::Behaviour,
    stream: libp2p_stream::Behaviour,
    quota: stream_quota::Behaviour,
}

type CountedNode = Node<Counted>;

/// A node, its ledger, and its `libp2p-stream` side: a control to open
/// streams and the inbound streams of [`ALPHA`] and [`BETA`].
struct Member {
    node: CountedNode,
    quota: Quota,
    control: Control,
    alpha: IncomingStreams,
    beta: IncomingStreams,
}

impl Member {
    fn peer_id(&self) -> PeerId {
        self.node.peer_id()
    }

    /// Opens a stream of `protocol` to `peer`; panics if that fails.
    async fn open(&mut self, peer: PeerId, protocol: StreamProtocol) -> Stream {
        self.try_open(peer, protocol.clone())
            .await
            .unwrap_or_else(|e| panic!("opening {protocol}: {e}"))
    }

    async fn try_open(
        &mut self,
        peer: PeerId,
        protocol: StreamProtocol,
    ) -> Result<Stream, libp2p_stream::OpenStreamError> {
        tokio::time::timeout(SOON, self.control.open_stream(peer, protocol))
            .await
            .expect("the open settles before the swarm's stream timeout")
    }

    /// The next inbound stream of `protocol` (one of [`ALPHA`] and [`BETA`]),
    /// and the peer that opened it.
    async fn accept(&mut self, protocol: StreamProtocol) -> (PeerId, Stream) {
        let incoming = if protocol == ALPHA {
            &mut self.alpha
        } else {
            &mut self.beta
        };
        tokio::time::timeout(SOON, incoming.next())
            .await
            .unwrap_or_else(|_| panic!("no inbound {protocol} stream within {SOON:?}"))
            .expect("libp2p-stream keeps handing over streams")
    }

    /// Sends an echo request to `peer` on `connection` and waits until it
    /// completed successfully.
    async fn echo(&mut self, peer: PeerId, connection: ConnectionId) {
        let id = self
            .node
            .with(move |s| {
                s.behaviour_mut()
                    .echo
                    .send(peer, Target::Connection(connection))
            })
            .await;
        let result = self
            .node
            .wait_behaviour(CONNECT, "echo outcome", |event| match event {
                CountedEvent::Echo(e) if e.id == id => Some(e.result.clone()),
                _ => None,
            })
            .await
            .unwrap();
        result.unwrap_or_else(|e| panic!("echo on {connection}: {e}"));
    }

    /// Waits for the first policy event for which `matches` returns `Some`.
    async fn wait_quota<T>(
        &mut self,
        within: Duration,
        what: &str,
        mut matches: impl FnMut(&stream_quota::Event) -> Option<T>,
    ) -> T {
        self.node
            .wait_behaviour(within, what, |event| match event {
                CountedEvent::Quota(e) => matches(e),
                _ => None,
            })
            .await
            .unwrap()
    }

    /// Waits for the next refusal the policy reports: the peer, the
    /// connection and the limit.
    async fn wait_refused(&mut self) -> (PeerId, Option<ConnectionId>, Exceeded) {
        self.wait_quota(SOON, "Refused", |e| match e {
            stream_quota::Event::Refused {
                peer,
                connection,
                error,
            } => Some((*peer, *connection, Exceeded::of(error))),
            _ => None,
        })
        .await
    }

    /// Waits until `check` holds for the ledger, and returns the snapshot it held for.
    async fn wait_ledger(
        &self,
        within: Duration,
        what: &str,
        check: impl Fn(&Snapshot) -> bool + Clone + Send + 'static,
    ) -> Snapshot {
        let quota = self.quota.clone();
        let found = self
            .node
            .wait_until(within, what, move |_| {
                let snapshot = quota.snapshot();
                check(&snapshot).then_some(snapshot)
            })
            .await;
        found.unwrap_or_else(|e| panic!("{e}; the ledger: {:#?}", self.quota.snapshot()))
    }
}

/// A QUIC node counted by a policy with `config`.
async fn member(config: Config) -> Member {
    member_with(NodeConfig::new(TransportKind::Quic), config).await
}

/// A node built from `node_config`, counted by a policy with `config`.
async fn member_with(node_config: NodeConfig, config: Config) -> Member {
    member_wrapped(node_config, config, |t| t).await
}

type Muxed = libp2p::core::transport::Boxed<(PeerId, libp2p::core::muxing::StreamMuxerBox)>;

/// [`member_with`], with `outer` around stream-quota's transport layer:
/// what the swarm sees of the muxer.
async fn member_wrapped(
    node_config: NodeConfig,
    config: Config,
    outer: impl Fn(Muxed) -> Muxed + Send + Sync + 'static,
) -> Member {
    init();
    let quota = Quota::new(config).expect("a valid config");
    let layer = quota.clone();
    let behaviour = quota.clone();
    let node = Node::spawn(
        node_config.with_transport_layer(move |t| outer(layer.transport(t))),
        move |_| Counted {
            echo: echo::Behaviour::default(),
            stream: libp2p_stream::Behaviour::new(),
            quota: stream_quota::Behaviour::new(&behaviour),
        },
    )
    .await
    .unwrap();
    let mut control = node.with(|s| s.behaviour().stream.new_control()).await;
    let alpha = control.accept(ALPHA).unwrap();
    let beta = control.accept(BETA).unwrap();
    Member {
        node,
        quota,
        control,
        alpha,
        beta,
    }
}

/// `dialer` connects to `listener`; returns the connection's id on each side.
async fn connect(dialer: &mut Member, listener: &mut Member) -> (ConnectionId, ConnectionId) {
    let on_dialer = dialer
        .node
        .connect(listener.peer_id(), listener.node.addr().clone(), CONNECT)
        .await
        .unwrap();
    let on_listener = listener
        .node
        .wait_established(dialer.peer_id(), CONNECT)
        .await
        .unwrap();
    (on_dialer, on_listener)
}

/// A [`LimitExceeded`] as compared (it is `#[non_exhaustive]`, so it is read,
/// not built): the scope, direction, limit and protocol it names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Exceeded {
    scope: Scope,
    direction: Direction,
    limit: u32,
    protocol: Option<StreamProtocol>,
}

impl Exceeded {
    fn of(error: &LimitExceeded) -> Self {
        Self {
            scope: error.scope,
            direction: error.direction,
            limit: error.limit,
            protocol: error.protocol.clone(),
        }
    }
}

/// One scope's counts as compared: per direction (open, opened, refused),
/// and whether an oldest open stream is shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    inbound: (u32, u64, u64),
    outbound: (u32, u64, u64),
    has_oldest: bool,
}

impl Counts {
    fn of(stats: &ScopeStats) -> Self {
        let d = |s: &stream_quota::DirectionStats| (s.open, s.opened, s.refused);
        Self {
            inbound: d(&stats.inbound),
            outbound: d(&stats.outbound),
            has_oldest: stats.oldest_open.is_some(),
        }
    }
}

/// A snapshot's counts, every scope, in a form to compare with the truth.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Ledger {
    node: Counts,
    peers: HashMap<PeerId, Counts>,
    connections: HashMap<ConnectionId, (PeerId, Counts)>,
    protocols: HashMap<StreamProtocol, Counts>,
    protocols_per_peer: HashMap<(PeerId, StreamProtocol), Counts>,
    protocols_per_connection: HashMap<(ConnectionId, StreamProtocol), Counts>,
    dropped_events: u64,
}

impl Ledger {
    fn of(snapshot: &Snapshot) -> Self {
        Self {
            node: Counts::of(&snapshot.node),
            peers: snapshot
                .peers
                .iter()
                .map(|(p, s)| (*p, Counts::of(s)))
                .collect(),
            connections: snapshot
                .connections
                .iter()
                .map(|(c, s)| (*c, (s.peer, Counts::of(&s.streams))))
                .collect(),
            protocols: snapshot
                .protocols
                .iter()
                .map(|(p, s)| (p.clone(), Counts::of(s)))
                .collect(),
            protocols_per_peer: snapshot
                .protocols_per_peer
                .iter()
                .map(|(k, s)| (k.clone(), Counts::of(s)))
                .collect(),
            protocols_per_connection: snapshot
                .protocols_per_connection
                .iter()
                .map(|(k, s)| (k.clone(), Counts::of(s)))
                .collect(),
            dropped_events: snapshot.dropped_events,
        }
    }
}

fn init() {
    testkit::init_tracing();
}
