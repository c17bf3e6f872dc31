//! A node in a child process, so that it can crash.
//!
//! SIGKILL ends the process without a word on the wire: no QUIC
//! CONNECTION_CLOSE, no SCTP abort, no DTLS alert. The child runs the
//! `testkit-node` binary with a [`PlainBehaviour`](crate::PlainBehaviour) and
//! prints one line, `listening <multiaddr>`, once it listens; asked `table` on
//! its standard input, it answers `table <peer id>...` with its Kademlia
//! routing table; asked `dial <multiaddr>`, it dials. It can be started again
//! with the same key on the same port. With Kademlia it adds the listen
//! addresses identify reports of peers that speak Kademlia, as rust-libp2p
//! applications do. With state-isolation it announces its incarnation (a new
//! one each start) on every connection, as a restarted policy node would.

use std::{io, path::PathBuf, process::Stdio, sync::OnceLock, time::Duration};

use libp2p::{
    swarm::{behaviour::toggle::Toggle, NetworkBehaviour},
    Multiaddr, PeerId,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};

use crate::{keypair_from_seed, socket_addr, TransportKind};

/// The line prefix by which the child announces its address.
pub const LISTENING: &str = "listening ";
/// The command a child answers with its Kademlia routing table.
pub const TABLE: &str = "table";
/// The command that makes a child dial the address that follows.
pub const DIAL: &str = "dial ";
/// The command that makes a child publish the text that follows on the gossip topic;
/// it answers `published <text> ok` or `published <text> err <error>`.
pub const PUBLISH: &str = "publish ";
/// The answer to [`PUBLISH`].
pub const PUBLISHED: &str = "published ";
/// The line prefix by which a gossip child reports a message it received.
pub const GOSSIP: &str = "gossip ";
/// The environment variable that names the node binary, when it is not beside the running one.
pub const NODE_BIN_ENV: &str = "TESTKIT_NODE_BIN";

const NODE_BIN: &str = "testkit-node";
const STARTUP_DEADLINE: Duration = Duration::from_secs(20);
/// How long a same-port restart retries while the old socket is released.
const REBIND_DEADLINE: Duration = Duration::from_secs(5);

/// What a child node runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSpec {
    /// Its transport.
    pub transport: TransportKind,
    /// The seed of its identity (see [`keypair_from_seed`]).
    pub key_seed: u64,
    /// Its listen port, `0` for a free one.
    pub port: u16,
    /// Whether it runs Kademlia in server mode.
    pub kad: bool,
    /// Addresses (with `/p2p`) it adds to Kademlia and bootstraps from at start.
    pub bootstrap: Vec<Multiaddr>,
    /// Whether it runs the state-isolation policy.
    pub state_isolation: bool,
    /// Where it remembers its peers, with Kademlia inside rebootstrap, which
    /// dials them when it starts again (`None`: plain Kademlia).
    pub peer_memory: Option<PathBuf>,
    /// Whether it runs gossipsub and the request-response echo
    /// ([`GossipBehaviour`](crate::GossipBehaviour)).
    pub gossip: bool,
}

impl ChildSpec {
    /// A plain node (echo, ping, identify) on a free port.
    pub fn new(transport: TransportKind, key_seed: u64) -> Self {
        Self {
            transport,
            key_seed,
            port: 0,
            kad: false,
            bootstrap: Vec::new(),
            state_isolation: false,
            gossip: false,
            peer_memory: None,
        }
    }

    /// Runs its Kademlia (see [`ChildSpec::with_kad`]) inside rebootstrap,
    /// remembering its peers in the file `path` and dialing them when it
    /// starts again, as a restarted policy node would.
    pub fn with_peer_memory(mut self, path: impl Into<PathBuf>) -> Self {
        self.peer_memory = Some(path.into());
        self
    }

    /// Runs gossipsub (subscribed to [`crate::gossip::TOPIC`]) and the
    /// request-response echo too.
    pub fn with_gossip(mut self) -> Self {
        self.gossip = true;
        self
    }

    /// Runs the state-isolation policy too.
    pub fn with_state_isolation(mut self) -> Self {
        self.state_isolation = true;
        self
    }

    /// Runs Kademlia too, bootstrapping from `bootstrap`.
    pub fn with_kad(mut self, bootstrap: Vec<Multiaddr>) -> Self {
        self.kad = true;
        self.bootstrap = bootstrap;
        self
    }

    /// The peer id the child will have.
    pub fn peer_id(&self) -> PeerId {
        keypair_from_seed(self.key_seed).public().to_peer_id()
    }

    /// The command-line arguments of `testkit-node` for this spec.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "--transport".to_owned(),
            self.transport.to_string(),
            "--key-seed".to_owned(),
            self.key_seed.to_string(),
            "--port".to_owned(),
            self.port.to_string(),
        ];
        if self.kad {
            args.push("--kad".to_owned());
        }
        for addr in &self.bootstrap {
            args.push("--bootstrap".to_owned());
            args.push(addr.to_string());
        }
        if self.state_isolation {
            args.push("--state-isolation".to_owned());
        }
        if self.gossip {
            args.push("--gossip".to_owned());
        }
        if let Some(path) = &self.peer_memory {
            args.push("--peer-memory".to_owned());
            args.push(path.display().to_string());
        }
        args
    }

    /// Parses what [`ChildSpec::to_args`] wrote.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut spec = Self::new(TransportKind::Quic, 0);
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--transport" => spec.transport = value()?.parse()?,
                "--key-seed" => {
                    spec.key_seed = value()?.parse().map_err(|e| format!("--key-seed: {e}"))?
                }
                "--port" => spec.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
                "--kad" => spec.kad = true,
                "--state-isolation" => spec.state_isolation = true,
                "--gossip" => spec.gossip = true,
                "--peer-memory" => spec.peer_memory = Some(value()?.into()),
                "--bootstrap" => spec
                    .bootstrap
                    .push(value()?.parse().map_err(|e| format!("--bootstrap: {e}"))?),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(spec)
    }
}

/// A running child-process node.
pub struct ChildNode {
    spec: ChildSpec,
    process: Running,
    addr: Multiaddr,
}

struct Running {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Lines read while looking for another kind, oldest first.
    unclaimed: std::collections::VecDeque<String>,
}

impl Running {
    async fn send(&mut self, command: &str) -> io::Result<()> {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await?;
        self.stdin.flush().await
    }

    /// The next line that starts with `prefix` (without it), read within
    /// `deadline`; `None` if none came. Other lines are kept for later.
    async fn line_with(&mut self, prefix: &str, deadline: Duration) -> io::Result<Option<String>> {
        if let Some(i) = self.unclaimed.iter().position(|l| l.starts_with(prefix)) {
            let line = self.unclaimed.remove(i).expect("found above");
            return Ok(Some(line[prefix.len()..].to_owned()));
        }
        let Self {
            stdout, unclaimed, ..
        } = self;
        let read = async {
            while let Some(line) = stdout.next_line().await? {
                if let Some(rest) = line.strip_prefix(prefix) {
                    return Ok(rest.to_owned());
                }
                unclaimed.push_back(line);
            }
            Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "child node exited",
            ))
        };
        match tokio::time::timeout(deadline, read).await {
            Ok(line) => line.map(Some),
            Err(_) => Ok(None),
        }
    }
}

impl ChildNode {
    /// Starts a child node and waits until it listens.
    pub async fn spawn(spec: ChildSpec) -> io::Result<Self> {
        let (process, addr) = start(&spec).await?;
        Ok(Self {
            spec,
            process,
            addr,
        })
    }

    /// The peers in the child's Kademlia routing table.
    pub async fn routing_table(&mut self) -> io::Result<Vec<PeerId>> {
        self.process.send(TABLE).await?;
        let peers = self
            .process
            .line_with(TABLE, STARTUP_DEADLINE)
            .await?
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "child node did not answer"))?;
        Ok(peers
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect())
    }

    /// Publishes `text` (no spaces) on the gossip topic; the error is
    /// gossipsub's, as text.
    pub async fn publish(&mut self, text: &str) -> io::Result<Result<(), String>> {
        self.process.send(&format!("{PUBLISH}{text}")).await?;
        let answer = self
            .process
            .line_with(&format!("{PUBLISHED}{text} "), STARTUP_DEADLINE)
            .await?
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "child node did not answer"))?;
        Ok(match answer.strip_prefix("err ") {
            Some(error) => Err(error.to_owned()),
            None => Ok(()),
        })
    }

    /// Every gossip message the child reports until `last` (included), or
    /// until `deadline` passes.
    pub async fn received_gossip_until(
        &mut self,
        last: &str,
        deadline: Duration,
    ) -> io::Result<Vec<String>> {
        let until = tokio::time::Instant::now() + deadline;
        let mut received = Vec::new();
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            match self.process.line_with(GOSSIP, left).await? {
                Some(got) => {
                    let done = got == last;
                    received.push(got);
                    if done {
                        return Ok(received);
                    }
                }
                None => return Ok(received),
            }
        }
    }

    /// Waits up to `deadline` for the child to report the gossip message
    /// `text`; whether it did.
    pub async fn wait_gossip(&mut self, text: &str, deadline: Duration) -> io::Result<bool> {
        let wanted = format!("{GOSSIP}{text}");
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            match self.process.line_with(GOSSIP, left).await? {
                Some(got) if format!("{GOSSIP}{got}") == wanted => return Ok(true),
                // Earlier messages, already reported or of no interest here.
                Some(_) => {}
                None => return Ok(false),
            }
        }
    }

    /// Makes it dial `addr` (not waiting for the connection).
    pub async fn dial(&mut self, addr: &Multiaddr) -> io::Result<()> {
        let stdin = &mut self.process.stdin;
        stdin
            .write_all(format!("{DIAL}{addr}\n").as_bytes())
            .await?;
        stdin.flush().await
    }

    /// Its peer id.
    pub fn peer_id(&self) -> PeerId {
        self.spec.peer_id()
    }

    /// Its full dialable address.
    pub fn addr(&self) -> &Multiaddr {
        &self.addr
    }

    /// Kills it with SIGKILL, a crash, and reaps it.
    pub async fn kill(&mut self) -> io::Result<()> {
        self.process.child.kill().await
    }

    /// Starts it again with the same key on the same port, after [`ChildNode::kill`].
    pub async fn restart(&mut self) -> io::Result<()> {
        let port = socket_addr(&self.addr).map_or(0, |a| a.port());
        let spec = ChildSpec {
            port,
            ..self.spec.clone()
        };
        let retry_until = tokio::time::Instant::now() + REBIND_DEADLINE;
        loop {
            match start(&spec).await {
                Ok((process, addr)) => {
                    self.process = process;
                    self.addr = addr;
                    return Ok(());
                }
                Err(e) if tokio::time::Instant::now() < retry_until => {
                    tracing::debug!("restart on port {port} failed, retrying: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

async fn start(spec: &ChildSpec) -> io::Result<(Running, Multiaddr)> {
    let mut child = Command::new(node_binary()?)
        .args(spec.to_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let stdin = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let announced = async {
        while let Some(line) = lines.next_line().await? {
            if let Some(addr) = line.strip_prefix(LISTENING) {
                return addr
                    .parse::<Multiaddr>()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "child node exited before it listened",
        ))
    };
    let addr = tokio::time::timeout(STARTUP_DEADLINE, announced)
        .await
        .map_err(|_| {
            io::Error::new(io::ErrorKind::TimedOut, "child node did not listen in time")
        })??;
    Ok((
        Running {
            child,
            stdin,
            stdout: lines,
            unclaimed: Default::default(),
        },
        addr,
    ))
}

/// Finds the `testkit-node` binary: `$TESTKIT_NODE_BIN` if set; else the one
/// beside the running executable if it is newer than the testkit's sources;
/// else, under cargo, built once for this process.
pub fn node_binary() -> io::Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    crate::binary::find(NODE_BIN, NODE_BIN_ENV, &BUILT)
}

/// The body of the `testkit-node` binary: runs the node `args` describe until killed.
pub async fn run_node(args: impl IntoIterator<Item = String>) -> Result<(), String> {
    use futures::StreamExt;

    let spec = ChildSpec::from_args(args)?;
    let config = crate::NodeConfig::new(spec.transport)
        .with_keypair(keypair_from_seed(spec.key_seed))
        .with_port(spec.port);
    let remembering = spec.kad && spec.peer_memory.is_some();
    let mut swarm = config.build(|key| ChildBehaviour {
        node: if spec.kad && !remembering {
            crate::PlainBehaviour::with_kad(key)
        } else {
            crate::PlainBehaviour::new(key)
        },
        dht: Toggle::from(spec.peer_memory.as_ref().filter(|_| spec.kad).map(|path| {
            let peer = key.public().to_peer_id();
            let mut kad =
                libp2p::kad::Behaviour::new(peer, libp2p::kad::store::MemoryStore::new(peer));
            kad.set_mode(Some(libp2p::kad::Mode::Server));
            let config = rebootstrap::Config::default()
                .with_bootstrap_addresses(spec.bootstrap.clone())
                .with_peer_memory(rebootstrap::FileMemory::new(path));
            rebootstrap::Behaviour::new(kad, config).expect("testkit addresses end in /p2p")
        })),
        gossip: Toggle::from(spec.gossip.then(|| crate::GossipBehaviour::new(key))),
        isolation: Toggle::from(spec.state_isolation.then(|| {
            state_isolation::Behaviour::new(state_isolation::Config::default())
                .expect("the default config is valid")
        })),
    });
    let addr = crate::listen(&mut swarm, spec.transport, spec.port)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(kad) = swarm.behaviour_mut().node.kad.as_mut() {
        for bootstrap in &spec.bootstrap {
            let Some(libp2p::multiaddr::Protocol::P2p(peer)) = bootstrap.iter().last() else {
                return Err(format!("bootstrap address {bootstrap} has no /p2p"));
            };
            kad.add_address(&peer, bootstrap.clone());
        }
        if !spec.bootstrap.is_empty() {
            // An empty table cannot happen here: the addresses were just added.
            let _ = kad.bootstrap();
        }
    }
    println!("{LISTENING}{addr}");
    let mut commands = Some(BufReader::new(tokio::io::stdin()).lines());
    loop {
        tokio::select! {
            event = swarm.select_next_some() => on_event(&mut swarm, event),
            line = next_command(&mut commands) => match line {
                Some(line) if line.trim() == TABLE => answer_table(&mut swarm),
                Some(line) if line.starts_with(DIAL) => dial(&mut swarm, &line[DIAL.len()..]),
                Some(line) if line.starts_with(PUBLISH) => publish(&mut swarm, &line[PUBLISH.len()..]),
                Some(other) => eprintln!("testkit-node: unknown command {other:?}"),
                // The parent closed our input: keep running, without commands.
                None => commands = None,
            },
        }
    }
}

async fn next_command(commands: &mut Option<Lines<BufReader<tokio::io::Stdin>>>) -> Option<String> {
    match commands {
        Some(lines) => lines.next_line().await.ok().flatten(),
        None => std::future::pending().await,
    }
}

/// What a child node runs: a plain node, and the policies its spec names.
#[derive(NetworkBehaviour)]
struct ChildBehaviour {
    node: crate::PlainBehaviour,
    /// Kademlia inside rebootstrap, when the child remembers its peers.
    dht: Toggle<rebootstrap::Behaviour>,
    gossip: Toggle<crate::GossipBehaviour>,
    isolation: Toggle<state_isolation::Behaviour>,
}

/// The child's Kademlia, plain or inside rebootstrap.
fn kad_of(
    behaviour: &mut ChildBehaviour,
) -> Option<&mut libp2p::kad::Behaviour<libp2p::kad::store::MemoryStore>> {
    match behaviour.dht.as_mut() {
        Some(dht) => Some(dht.kad_mut()),
        None => behaviour.node.kad.as_mut(),
    }
}

fn publish(swarm: &mut libp2p::Swarm<ChildBehaviour>, text: &str) {
    let text = text.trim();
    let result = match swarm.behaviour_mut().gossip.as_mut() {
        Some(gossip) => gossip
            .publish(text.as_bytes())
            .map(|_| ())
            .map_err(|e| e.to_string()),
        None => Err("gossip is off".to_owned()),
    };
    match result {
        Ok(()) => println!("{PUBLISHED}{text} ok"),
        Err(e) => println!("{PUBLISHED}{text} err {e}"),
    }
}

fn on_event(
    swarm: &mut libp2p::Swarm<ChildBehaviour>,
    event: libp2p::swarm::SwarmEvent<ChildBehaviourEvent>,
) {
    use libp2p::{gossipsub, request_response, swarm::SwarmEvent};

    let SwarmEvent::Behaviour(ChildBehaviourEvent::Gossip(event)) = event else {
        return learn_kad_addresses(swarm, event);
    };
    match event {
        crate::GossipEvent::Gossipsub(event) => {
            if let gossipsub::Event::Message { message, .. } = *event {
                println!("{GOSSIP}{}", String::from_utf8_lossy(&message.data));
            }
        }
        crate::GossipEvent::Echo(event) => {
            if let request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } = *event
            {
                if let Some(gossip) = swarm.behaviour_mut().gossip.as_mut() {
                    let _ = gossip.echo.send_response(channel, request);
                }
            }
        }
    }
}

fn dial(swarm: &mut libp2p::Swarm<ChildBehaviour>, addr: &str) {
    match addr.trim().parse::<Multiaddr>() {
        Ok(addr) => {
            if let Err(e) = swarm.dial(addr) {
                eprintln!("testkit-node: dial failed: {e}");
            }
        }
        Err(e) => eprintln!("testkit-node: bad address {addr:?}: {e}"),
    }
}

/// Adds to Kademlia the listen addresses identify reports of a peer that speaks it.
fn learn_kad_addresses(
    swarm: &mut libp2p::Swarm<ChildBehaviour>,
    event: libp2p::swarm::SwarmEvent<ChildBehaviourEvent>,
) {
    use libp2p::{identify, kad};

    let libp2p::swarm::SwarmEvent::Behaviour(ChildBehaviourEvent::Node(
        crate::PlainEvent::Identify(event),
    )) = event
    else {
        return;
    };
    let identify::Event::Received { peer_id, info, .. } = *event else {
        return;
    };
    let Some(kad) = kad_of(swarm.behaviour_mut()) else {
        return;
    };
    if info.protocols.contains(&kad::PROTOCOL_NAME) {
        for addr in info.listen_addrs {
            kad.add_address(&peer_id, addr);
        }
    }
}

fn answer_table(swarm: &mut libp2p::Swarm<ChildBehaviour>) {
    let mut peers = Vec::new();
    if let Some(kad) = kad_of(swarm.behaviour_mut()) {
        for bucket in kad.kbuckets() {
            peers.extend(
                bucket
                    .iter()
                    .map(|entry| entry.node.key.preimage().to_string()),
            );
        }
    }
    println!("{TABLE} {}", peers.join(" "));
}
