//! A server in the lab's process for the scenarios that measure what a
//! node pays (`scale`, `abuse`): its swarm on a task of its own, its events
//! counted ([`ServerStats`]), what its policies keep asked for on demand
//! ([`NodeState`]), and the process's resident set and CPU time ([`Usage`]).

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use libp2p::{
    identify,
    identity::Keypair,
    ping,
    swarm::{NetworkBehaviour, SwarmEvent},
    Multiaddr, Swarm,
};
use testkit::{echo, NodeConfig, PlainBehaviour, PlainEvent, TransportKind};
use tokio::sync::{mpsc, oneshot};
use transport_policies::{conn_prune, state_isolation, stream_quota, Policies};

use super::{Arm, RunError};
use crate::stack;

/// `/proc/<pid>/stat`'s clock ticks per second (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// What the server saw, from its start.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerStats {
    /// Connections open now.
    pub(crate) established: usize,
    /// The most open at once.
    pub(crate) peak: usize,
    /// Connections closed, by cause.
    pub(crate) closed: BTreeMap<String, usize>,
    /// Inbound connections whose handshake failed.
    pub(crate) incoming_errors: usize,
    /// conn-prune's verdicts, by reason.
    pub(crate) pruned: BTreeMap<String, usize>,
    /// conn-prune's suspicions (a probe unanswered).
    pub(crate) suspected: usize,
    /// conn-prune's reports that this node was too busy to judge.
    pub(crate) overloaded: usize,
    /// Connections state-isolation closed.
    pub(crate) isolation_closed: usize,
    /// Streams stream-quota refused, by protocol, direction and limit.
    pub(crate) refused: BTreeMap<String, usize>,
    /// The server's own pings that failed, by failure.
    pub(crate) ping_failures: BTreeMap<String, usize>,
}

impl ServerStats {
    pub(crate) fn closed_total(&self) -> usize {
        self.closed.values().sum()
    }

    pub(crate) fn pruned_total(&self) -> usize {
        self.pruned.values().sum()
    }

    pub(crate) fn refused_total(&self) -> usize {
        self.refused.values().sum()
    }

    fn on_event<E>(&mut self, event: SwarmEvent<E>, record: fn(&mut Self, E)) {
        match event {
            SwarmEvent::ConnectionEstablished { .. } => {
                self.established += 1;
                self.peak = self.peak.max(self.established);
            }
            SwarmEvent::ConnectionClosed { cause, .. } => {
                self.established = self.established.saturating_sub(1);
                let cause = match cause {
                    None => "closed by this node".to_owned(),
                    Some(e) => e.to_string(),
                };
                *self.closed.entry(cause).or_default() += 1;
            }
            SwarmEvent::IncomingConnectionError { .. } => self.incoming_errors += 1,
            SwarmEvent::Behaviour(event) => record(self, event),
            _ => {}
        }
    }

    /// The plain arm's server's events.
    fn on_app(&mut self, event: PlainEvent) {
        if let PlainEvent::Ping(ping::Event {
            result: Err(failure),
            ..
        }) = event
        {
            let failure = match failure {
                ping::Failure::Timeout => "timeout".to_owned(),
                ping::Failure::Unsupported => "unsupported".to_owned(),
                ping::Failure::Other { error } => error.to_string(),
            };
            *self.ping_failures.entry(failure).or_default() += 1;
        }
    }

    /// The policy arm's server's events.
    fn on_bundle(&mut self, event: transport_policies::Event<PlainEvent>) {
        match event {
            transport_policies::Event::App(event) => self.on_app(event),
            transport_policies::Event::Prune(event) => match event {
                conn_prune::Event::Pruned { reason, .. } => {
                    let reason = match reason {
                        conn_prune::Reason::Unresponsive => "unresponsive".to_owned(),
                        conn_prune::Reason::ProbeFailed(e) => format!("probe failed: {e}"),
                        other => format!("{other:?}"),
                    };
                    *self.pruned.entry(reason).or_default() += 1;
                }
                conn_prune::Event::Suspected { .. } => self.suspected += 1,
                conn_prune::Event::Overloaded { .. } => self.overloaded += 1,
                _ => {}
            },
            transport_policies::Event::Quota(stream_quota::Event::Refused { error, .. }) => {
                let protocol = error
                    .protocol
                    .as_ref()
                    .map_or("(before negotiation)".to_owned(), ToString::to_string);
                let key = format!(
                    "{protocol} {} ({} limit {})",
                    error.direction, error.scope, error.limit
                );
                *self.refused.entry(key).or_default() += 1;
            }
            transport_policies::Event::Isolation(state_isolation::Event::Replaced(replacement)) => {
                self.isolation_closed += replacement.closed.len();
            }
            transport_policies::Event::Isolation(state_isolation::Event::Stale { .. }) => {
                self.isolation_closed += 1;
            }
            _ => {}
        }
    }
}

/// The policy arm's application: the plain server's protocols but Kademlia,
/// which rebootstrap holds. A [`PlainBehaviour`] without Kademlia would keep
/// Kademlia's empty slot in every connection's handler (480 B, which the
/// swarm's connection task reserves about three times over): a cost of the
/// lab's types, not of the policies, and one an application that gives its
/// Kademlia to rebootstrap does not have.
#[derive(NetworkBehaviour)]
#[behaviour(to_swarm = "PlainEvent")]
struct ServerApp {
    echo: echo::Behaviour,
    ping: ping::Behaviour,
    identify: identify::Behaviour,
}

impl ServerApp {
    fn new(key: &Keypair) -> Self {
        let PlainBehaviour {
            echo,
            ping,
            identify,
            ..
        } = PlainBehaviour::new(key);
        Self {
            echo,
            ping,
            identify,
        }
    }
}

/// The server's task, aborted when dropped: the swarm goes with it.
pub(crate) struct Server {
    task: tokio::task::JoinHandle<()>,
    stats: Arc<Mutex<ServerStats>>,
    asks: mpsc::UnboundedSender<oneshot::Sender<NodeState>>,
}

impl Server {
    /// Drives `swarm`, its behaviour's events counted by `record`; `state`
    /// reads what [`Server::state`] asks for.
    fn run<B>(
        mut swarm: Swarm<B>,
        record: fn(&mut ServerStats, B::ToSwarm),
        state: fn(&Swarm<B>) -> NodeState,
    ) -> Self
    where
        B: NetworkBehaviour + Send + 'static,
        B::ToSwarm: Send,
    {
        let stats = Arc::new(Mutex::new(ServerStats::default()));
        let shared = stats.clone();
        let (asks, mut asked) = mpsc::unbounded_channel::<oneshot::Sender<NodeState>>();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    event = swarm.select_next_some() => shared
                        .lock()
                        .expect("no panic holds it")
                        .on_event(event, record),
                    Some(reply) = asked.recv() => {
                        let _ = reply.send(state(&swarm));
                    }
                }
            }
        });
        Self { task, stats, asks }
    }

    /// The server on `arm`, listening; its dialable address.
    pub(crate) async fn start(arm: Arm) -> Result<(Self, Multiaddr), RunError> {
        let transport = TransportKind::Quic;
        Ok(match arm {
            // The plain application alone (see the module docs: a
            // `LabBehaviour` would size its connections like the bundle's).
            Arm::Plain => {
                let config = NodeConfig::new(transport);
                let mut swarm = config.build(PlainBehaviour::with_kad);
                let addr = testkit::listen(&mut swarm, transport, 0).await?;
                (
                    Self::run(swarm, ServerStats::on_app, NodeState::plain),
                    addr,
                )
            }
            // The bundle alone, as a user deploys it, for the same reason.
            Arm::Policy => {
                let (config, layers) = stack::node_config(arm, transport);
                let mut swarm = config.build(move |key| {
                    Policies::with_kad(
                        ServerApp::new(key),
                        stack::server_kad(key),
                        stack::policy_config(Some(Vec::new()), layers),
                    )
                    .expect("an empty bootstrap list has no address to reject")
                });
                let addr = testkit::listen(&mut swarm, transport, 0).await?;
                (
                    Self::run(swarm, ServerStats::on_bundle, NodeState::policy),
                    addr,
                )
            }
        })
    }

    /// Its events counted so far.
    pub(crate) fn stats(&self) -> ServerStats {
        self.stats.lock().expect("no panic holds it").clone()
    }

    /// Its connections and what its policies keep, now.
    pub(crate) async fn state(&self) -> Result<NodeState, RunError> {
        let (reply, answer) = oneshot::channel();
        self.asks
            .send(reply)
            .map_err(|_| RunError::new("the server's task ended"))?;
        answer
            .await
            .map_err(|_| RunError::new("the server's task ended"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// This process's resident set and CPU time so far.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usage {
    /// `VmRSS`.
    pub(crate) rss_kib: u64,
    /// `RssAnon`: the part that is not pages of files (the executable's
    /// code, touched for the first time as a run takes a new path).
    pub(crate) anon_kib: u64,
    /// Bytes the allocator has handed out and not had back, in KiB, where
    /// glibc says ([`heap_in_use_kib`]).
    pub(crate) heap_kib: Option<u64>,
    pub(crate) cpu: Duration,
}

impl Usage {
    pub(crate) fn now() -> Result<Self, RunError> {
        Ok(Self {
            rss_kib: status_kib("self", "VmRSS")?,
            anon_kib: status_kib("self", "RssAnon")?,
            heap_kib: heap_in_use_kib(),
            cpu: cpu_time("self")?,
        })
    }
}

/// The `field` of `/proc/<pid>/status`, in KiB.
pub(crate) fn status_kib(pid: &str, field: &str) -> Result<u64, RunError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| RunError::new(format!("no {field} in /proc/{pid}/status")))
}

/// utime + stime of `/proc/<pid>/stat`.
pub(crate) fn cpu_time(pid: &str) -> Result<Duration, RunError> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name, which may hold spaces, in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // Field 3 (state) is fields[0]; utime is field 14, stime field 15.
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => Ok(Duration::from_secs_f64(
            (user + system) as f64 / TICKS_PER_SECOND,
        )),
        _ => Err(RunError::new(format!("unreadable /proc/{pid}/stat"))),
    }
}

/// Hands the heap's free pages back to the system (glibc keeps what a
/// previous run freed, and would serve this run's allocations from it
/// without the RSS growing: the second arm's connections would look free).
pub(crate) fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's malloc_trim takes the padding to leave at the top
        // of the heap and only returns free memory to the system; it is
        // thread-safe (it locks each arena).
        unsafe {
            malloc_trim(0);
        }
    }
}

/// The heap in use, in KiB: glibc's `mallinfo2`, summed over its arenas
/// (`uordblks`, chunks in use, plus `hblkhd`, mapped blocks): what is
/// allocated, resident or not, where the RSS is what is resident. `None`
/// off glibc.
// On glibc it is always `Some`; the `Option` is for the other targets.
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn heap_in_use_kib() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        /// glibc's `struct mallinfo2`: ten `size_t`s.
        #[repr(C)]
        struct MallInfo2 {
            arena: usize,
            ordblks: usize,
            smblks: usize,
            hblks: usize,
            hblkhd: usize,
            usmblks: usize,
            fsmblks: usize,
            uordblks: usize,
            fordblks: usize,
            keepcost: usize,
        }
        extern "C" {
            fn mallinfo2() -> MallInfo2;
        }
        // SAFETY: mallinfo2 (glibc 2.33 and later) takes no argument and
        // returns the struct by value; it locks each arena while it reads it.
        let info = unsafe { mallinfo2() };
        Some(((info.uordblks + info.hblkhd) / 1024) as u64)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

/// `a: 3, b: 1`, or `none`.
pub(crate) fn counts(map: &BTreeMap<String, usize>) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    let mut out = String::new();
    for (key, n) in map {
        if !out.is_empty() {
            out.push_str(", ");
        }
        let _ = write!(out, "{key}: {n}");
    }
    out
}

/// What the server holds now: its connections, and on the policy arm what
/// each policy keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeState {
    /// Connections the swarm holds.
    pub(crate) connections: u32,
    /// The policies', on the policy arm.
    pub(crate) policies: Option<PolicyState>,
}

/// What the policies keep: the records that grow with connections, peers
/// and streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PolicyState {
    /// conn-prune's monitored connections.
    pub(crate) monitored: usize,
    /// stream-quota's ledger: connections, peers and protocols it keeps
    /// counts for, and the streams it counts open.
    pub(crate) ledger_connections: usize,
    pub(crate) ledger_peers: usize,
    pub(crate) ledger_protocols: usize,
    pub(crate) ledger_open_streams: u32,
    /// state-isolation's records of connections.
    pub(crate) isolation_tracked: usize,
}

impl NodeState {
    fn plain(swarm: &Swarm<PlainBehaviour>) -> Self {
        Self {
            connections: swarm.network_info().connection_counters().num_connections(),
            policies: None,
        }
    }

    fn policy(swarm: &Swarm<Policies<ServerApp>>) -> Self {
        let bundle = swarm.behaviour();
        let ledger = bundle.quota().map(|q| q.snapshot());
        let policies = Some(PolicyState {
            monitored: bundle.prune().map_or(0, |p| p.monitored_connections()),
            ledger_connections: ledger.as_ref().map_or(0, |l| l.connections.len()),
            ledger_peers: ledger.as_ref().map_or(0, |l| l.peers.len()),
            ledger_protocols: ledger.as_ref().map_or(0, |l| l.protocols.len()),
            ledger_open_streams: ledger
                .as_ref()
                .map_or(0, |l| l.node.inbound.open + l.node.outbound.open),
            isolation_tracked: bundle.isolation().map_or(0, |i| i.tracked_connections()),
        });
        Self {
            connections: swarm.network_info().connection_counters().num_connections(),
            policies,
        }
    }
}

impl std::fmt::Display for PolicyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "conn-prune monitors {}; stream-quota's ledger {} connections, {} peers, {} \
             protocols, {} streams open; state-isolation tracks {}",
            self.monitored,
            self.ledger_connections,
            self.ledger_peers,
            self.ledger_protocols,
            self.ledger_open_streams,
            self.isolation_tracked
        )
    }
}
