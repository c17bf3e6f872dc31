//! Many plain client nodes in one child process, for a node that must hold
//! thousands of connections.
//!
//! A [`Clients`] process runs [`ClientsSpec::count`] swarms, each with its
//! own identity (consecutive key seeds), its own QUIC endpoint (a UDP socket
//! of its own: a client does not listen, so libp2p-quic gives it a dialer
//! endpoint), running ping and identify at their defaults.
//! Each dials the server once: a failed dial (a handshake that timed out on a
//! busy machine) is tried again, up to [`DIAL_ATTEMPTS`] times; a connection
//! that was established and then closed is never re-dialed, so what the
//! server closed stays closed. Every swarm runs until the process ends.
//!
//! The process reports on its standard output, whenever a figure changed
//! (at most every 250 ms), one line
//! `status established=E connected=C closed=X dial_errors=D gave_up=G
//! ping_ok=P ping_timeout=T ping_unsupported=U ping_other=O`
//! ([`ClientStatus`]); it exits when its standard input closes, so that it
//! never outlives the parent.

use std::{
    io,
    path::PathBuf,
    process::Stdio,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, OnceLock,
    },
    time::Duration,
};

use futures::StreamExt;
use libp2p::{
    identify,
    identity::Keypair,
    ping,
    swarm::{NetworkBehaviour, SwarmEvent},
    Multiaddr,
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, ChildStdin, Command},
    sync::{watch, Semaphore},
};

use crate::{keypair_from_seed, NodeConfig, TransportKind};

/// The environment variable that names the clients binary, when it is not beside the running one.
pub const CLIENTS_BIN_ENV: &str = "TESTKIT_CLIENTS_BIN";
/// The line prefix of a clients process's report.
pub const STATUS: &str = "status ";
/// Dials a client makes before it gives up on connecting.
pub const DIAL_ATTEMPTS: usize = 5;

const CLIENTS_BIN: &str = "testkit-clients";
/// Between a failed dial and the next.
const REDIAL_AFTER: Duration = Duration::from_secs(1);
/// How often the process looks at its counters to report them.
const REPORT_EVERY: Duration = Duration::from_millis(250);

/// What a clients process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientsSpec {
    /// The server's full address, with `/p2p`.
    pub server: Multiaddr,
    /// How many clients, one swarm and one connection each.
    pub count: usize,
    /// The key seed of the first client (see [`keypair_from_seed`]); the
    /// others take the seeds after it.
    pub first_seed: u64,
    /// Dials in flight at once in this process: a bound on the handshakes
    /// that the server and the machine take at once.
    pub dials_in_flight: usize,
}

impl ClientsSpec {
    /// `count` clients of `server`, with 32 dials in flight.
    pub fn new(server: Multiaddr, count: usize, first_seed: u64) -> Self {
        Self {
            server,
            count,
            first_seed,
            dials_in_flight: 32,
        }
    }

    /// The command-line arguments of `testkit-clients` for this spec.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--server".to_owned(),
            self.server.to_string(),
            "--count".to_owned(),
            self.count.to_string(),
            "--first-seed".to_owned(),
            self.first_seed.to_string(),
            "--dials-in-flight".to_owned(),
            self.dials_in_flight.to_string(),
        ]
    }

    /// Parses what [`ClientsSpec::to_args`] wrote.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let (mut server, mut count, mut first_seed, mut in_flight) = (None, None, None, None);
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let value = args.next().ok_or(format!("{flag} needs a value"))?;
            let number = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
            match flag.as_str() {
                "--server" => {
                    server = Some(value.parse().map_err(|e| format!("--server: {e}"))?);
                }
                "--count" => count = Some(number(&value)? as usize),
                "--first-seed" => first_seed = Some(number(&value)?),
                "--dials-in-flight" => in_flight = Some(number(&value)? as usize),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        let server = server.ok_or("--server is needed")?;
        let mut spec = Self::new(
            server,
            count.ok_or("--count is needed")?,
            first_seed.unwrap_or(0),
        );
        if let Some(n) = in_flight {
            spec.dials_in_flight = n.max(1);
        }
        Ok(spec)
    }
}

/// What a clients process last reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStatus {
    /// Clients connected to the server now.
    pub established: usize,
    /// Clients that connected at some point.
    pub connected: usize,
    /// Connections that closed after they were established (the client
    /// never closes one: the server or the transport did).
    pub closed: usize,
    /// Dials that failed (each retried until [`DIAL_ATTEMPTS`]).
    pub dial_errors: usize,
    /// Clients that never connected: every one of their dials failed.
    pub gave_up: usize,
    /// Pings the clients sent that were answered.
    pub ping_ok: usize,
    /// Pings the clients sent that timed out.
    pub ping_timeout: usize,
    /// Connections on which a client's ping found the protocol unsupported
    /// (a refused stream looks like that to libp2p-ping).
    pub ping_unsupported: usize,
    /// Pings that failed otherwise.
    pub ping_other: usize,
}

impl ClientStatus {
    /// Clients that are done connecting, one way or the other.
    pub fn settled(&self) -> usize {
        self.connected + self.gave_up
    }

    /// The report line, without [`STATUS`].
    pub fn to_line(&self) -> String {
        format!(
            "established={} connected={} closed={} dial_errors={} gave_up={} ping_ok={} \
             ping_timeout={} ping_unsupported={} ping_other={}",
            self.established,
            self.connected,
            self.closed,
            self.dial_errors,
            self.gave_up,
            self.ping_ok,
            self.ping_timeout,
            self.ping_unsupported,
            self.ping_other
        )
    }

    /// Parses what [`ClientStatus::to_line`] wrote; unknown keys are ignored.
    pub fn from_line(line: &str) -> Result<Self, String> {
        let mut status = Self::default();
        for pair in line.split_whitespace() {
            let (key, value) = pair.split_once('=').ok_or(format!("bad field {pair:?}"))?;
            let value: usize = value.parse().map_err(|e| format!("{key}: {e}"))?;
            let field = match key {
                "established" => &mut status.established,
                "connected" => &mut status.connected,
                "closed" => &mut status.closed,
                "dial_errors" => &mut status.dial_errors,
                "gave_up" => &mut status.gave_up,
                "ping_ok" => &mut status.ping_ok,
                "ping_timeout" => &mut status.ping_timeout,
                "ping_unsupported" => &mut status.ping_unsupported,
                "ping_other" => &mut status.ping_other,
                _ => continue,
            };
            *field = value;
        }
        Ok(status)
    }
}

impl std::ops::Add for ClientStatus {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            established: self.established + other.established,
            connected: self.connected + other.connected,
            closed: self.closed + other.closed,
            dial_errors: self.dial_errors + other.dial_errors,
            gave_up: self.gave_up + other.gave_up,
            ping_ok: self.ping_ok + other.ping_ok,
            ping_timeout: self.ping_timeout + other.ping_timeout,
            ping_unsupported: self.ping_unsupported + other.ping_unsupported,
            ping_other: self.ping_other + other.ping_other,
        }
    }
}

impl std::iter::Sum for ClientStatus {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), |a, b| a + b)
    }
}

/// A running clients process. Dropping it kills the process.
pub struct Clients {
    child: Child,
    // Held so that the process's input stays open: it exits when it closes.
    _stdin: ChildStdin,
    status: watch::Receiver<ClientStatus>,
}

impl Clients {
    /// Starts a clients process; it starts dialing at once.
    pub fn spawn(spec: &ClientsSpec) -> io::Result<Self> {
        let mut child = Command::new(clients_binary()?)
            .args(spec.to_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (report, status) = watch::channel(ClientStatus::default());
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match line.strip_prefix(STATUS).map(ClientStatus::from_line) {
                    Some(Ok(status)) => {
                        let _ = report.send(status);
                    }
                    Some(Err(e)) => tracing::warn!("testkit-clients: bad status line: {e}"),
                    None => {}
                }
            }
        });
        Ok(Self {
            child,
            _stdin: stdin,
            status,
        })
    }

    /// What it reported last.
    pub fn status(&self) -> ClientStatus {
        *self.status.borrow()
    }

    /// Whether the process still runs; an error says how it ended.
    pub fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("a clients process exited: {status}")),
            Err(e) => Err(format!("a clients process: {e}")),
        }
    }

    /// The process's id, to read its `/proc` figures.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Kills it with SIGKILL and reaps it.
    pub async fn kill(&mut self) -> io::Result<()> {
        self.child.kill().await
    }
}

/// What a client runs: ping and identify, at their defaults (identify's
/// protocol version the testkit's, as [`crate::PlainBehaviour`] has it).
#[derive(NetworkBehaviour)]
struct ClientBehaviour {
    ping: ping::Behaviour,
    identify: identify::Behaviour,
}

impl ClientBehaviour {
    fn new(keypair: &Keypair) -> Self {
        Self {
            ping: ping::Behaviour::default(),
            identify: identify::Behaviour::new(identify::Config::new(
                "/testkit/1.0.0".to_owned(),
                keypair.public(),
            )),
        }
    }
}

/// Finds the `testkit-clients` binary: `$TESTKIT_CLIENTS_BIN` if set; else the
/// one beside the running executable if it is newer than the testkit's
/// sources; else, under cargo (`cargo run` sets `CARGO`), built once for this
/// process with the running executable's profile.
pub fn clients_binary() -> io::Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    crate::binary::find(CLIENTS_BIN, CLIENTS_BIN_ENV, &BUILT)
}

/// The process's counters, shared by its clients.
#[derive(Default)]
struct Counters {
    established: AtomicUsize,
    connected: AtomicUsize,
    closed: AtomicUsize,
    dial_errors: AtomicUsize,
    gave_up: AtomicUsize,
    ping_ok: AtomicUsize,
    ping_timeout: AtomicUsize,
    ping_unsupported: AtomicUsize,
    ping_other: AtomicUsize,
}

impl Counters {
    fn status(&self) -> ClientStatus {
        let get = |n: &AtomicUsize| n.load(Ordering::Relaxed);
        ClientStatus {
            established: get(&self.established),
            connected: get(&self.connected),
            closed: get(&self.closed),
            dial_errors: get(&self.dial_errors),
            gave_up: get(&self.gave_up),
            ping_ok: get(&self.ping_ok),
            ping_timeout: get(&self.ping_timeout),
            ping_unsupported: get(&self.ping_unsupported),
            ping_other: get(&self.ping_other),
        }
    }
}

fn bump(n: &AtomicUsize) {
    n.fetch_add(1, Ordering::Relaxed);
}

/// The body of the `testkit-clients` binary: runs the clients `args`
/// describe until its standard input closes.
pub async fn run_clients(args: impl IntoIterator<Item = String>) -> Result<(), String> {
    let spec = ClientsSpec::from_args(args)?;
    let counters = Arc::new(Counters::default());
    let dials = Arc::new(Semaphore::new(spec.dials_in_flight));
    for i in 0..spec.count {
        tokio::spawn(client(
            spec.first_seed + i as u64,
            spec.server.clone(),
            counters.clone(),
            dials.clone(),
        ));
    }
    let report = async {
        let mut last = None;
        loop {
            let status = counters.status();
            if last != Some(status) {
                println!("{STATUS}{}", status.to_line());
                last = Some(status);
            }
            tokio::time::sleep(REPORT_EVERY).await;
        }
    };
    let mut input = BufReader::new(tokio::io::stdin()).lines();
    let parent_gone = async { while let Ok(Some(_)) = input.next_line().await {} };
    tokio::select! {
        () = report => {}
        () = parent_gone => {}
    }
    Ok(())
}

/// One client: dials the server until connected (or [`DIAL_ATTEMPTS`]
/// failed), then answers and sends pings until the process ends.
async fn client(seed: u64, server: Multiaddr, counters: Arc<Counters>, dials: Arc<Semaphore>) {
    let config = NodeConfig::new(TransportKind::Quic).with_keypair(keypair_from_seed(seed));
    let mut swarm = config.build(ClientBehaviour::new);
    let mut connected = false;
    for attempt in 1..=DIAL_ATTEMPTS {
        let Ok(slot) = dials.acquire().await else {
            return;
        };
        if swarm.dial(server.clone()).is_err() {
            bump(&counters.dial_errors);
            continue;
        }
        connected = loop {
            match swarm.select_next_some().await {
                SwarmEvent::ConnectionEstablished { .. } => break true,
                SwarmEvent::OutgoingConnectionError { .. } => break false,
                _ => {}
            }
        };
        drop(slot);
        if connected {
            bump(&counters.connected);
            bump(&counters.established);
            break;
        }
        bump(&counters.dial_errors);
        if attempt < DIAL_ATTEMPTS {
            tokio::time::sleep(REDIAL_AFTER).await;
        }
    }
    if !connected {
        bump(&counters.gave_up);
    }
    // Alive to the end, connected or not: a client the server dropped is
    // still there, and never dials again.
    loop {
        match swarm.select_next_some().await {
            SwarmEvent::ConnectionClosed { .. } => {
                counters.established.fetch_sub(1, Ordering::Relaxed);
                bump(&counters.closed);
            }
            SwarmEvent::Behaviour(ClientBehaviourEvent::Ping(ping::Event { result, .. })) => {
                bump(match result {
                    Ok(_) => &counters.ping_ok,
                    Err(ping::Failure::Timeout) => &counters.ping_timeout,
                    Err(ping::Failure::Unsupported) => &counters.ping_unsupported,
                    Err(ping::Failure::Other { .. }) => &counters.ping_other,
                });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_and_status_lines_read_back() {
        let server: Multiaddr = "/ip4/127.0.0.1/udp/4001/quic-v1".parse().unwrap();
        let spec = ClientsSpec::new(server, 2500, 1 << 33);
        assert_eq!(ClientsSpec::from_args(spec.to_args()), Ok(spec));
        let status = ClientStatus {
            established: 3,
            connected: 4,
            closed: 1,
            ping_unsupported: 2,
            ..Default::default()
        };
        assert_eq!(ClientStatus::from_line(&status.to_line()), Ok(status));
        assert_eq!((status + status).connected, 8);
    }
}
