//! Hostile peers: a flood of connections, a flood of streams, garbage on
//! every protocol. Each is a raw libp2p-quic connection below any swarm, so
//! it writes what it likes and answers nothing.
//!
//! An [`Attack`] runs in the calling process ([`attack`]), or in a child
//! process of its own ([`Abuser`], the `testkit-abuse` binary) when what it
//! costs must not land in the process whose memory is measured. The child
//! prints one line, `done connections=C dial_errors=D streams=S
//! stream_errors=E bytes=B` ([`Outcome`]), and exits.

use std::{
    future::poll_fn,
    io,
    path::PathBuf,
    process::Stdio,
    sync::{Arc, OnceLock},
    time::Duration,
};

use futures::{AsyncWriteExt, FutureExt};
use libp2p::{
    core::{
        muxing::StreamMuxerExt,
        transport::{DialOpts, PortUse},
        Endpoint, Transport as _,
    },
    identity::Keypair,
    quic, Multiaddr,
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::Semaphore,
    task::JoinSet,
};

/// The environment variable that names the abuse binary, when it is not beside the running one.
pub const ABUSE_BIN_ENV: &str = "TESTKIT_ABUSE_BIN";
/// The line prefix of an abuse process's report.
pub const DONE: &str = "done ";

const ABUSE_BIN: &str = "testkit-abuse";
/// A QUIC handshake, or a stream credit, takes at most this long.
const STEP: Duration = Duration::from_secs(10);
/// A connection's close, sent before the connection goes.
const CLOSE: Duration = Duration::from_secs(1);
/// Handshakes in flight at once: past it, the flood goes as fast as the
/// node under attack completes them.
const DIALS_IN_FLIGHT: usize = 512;
/// Garbage goes out in writes of this size.
const CHUNK: usize = 16 * 1024;

/// One abuse of a node, by one identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attack {
    /// `rate` connections a second for `duration`, each held for `hold` and
    /// then closed; nothing is ever sent on them.
    Connections {
        /// New connections a second.
        rate: u32,
        /// How long the flood lasts.
        duration: Duration,
        /// How long each connection stays.
        hold: Duration,
    },
    /// `streams` streams spread over `connections` connections, each
    /// proposing `protocol` (multistream-select, nothing after it), all held
    /// for `hold` and then closed with their connections.
    Streams {
        /// Connections the streams are spread over.
        connections: usize,
        /// Streams in all.
        streams: usize,
        /// The protocol each stream proposes.
        protocol: String,
        /// How long they are held once all are open.
        hold: Duration,
    },
    /// `bytes` of garbage on one stream per protocol of `protocols` (each
    /// proposed first, the garbage written without waiting for the answer),
    /// on a stream that is garbage from its first byte (what a reader of
    /// multistream-select sees), and on the first stream of a second
    /// connection (what a node reads before it reports a connection of a
    /// peer it is already connected to).
    Garbage {
        /// Garbage on each stream.
        bytes: usize,
        /// The protocols proposed.
        protocols: Vec<String>,
    },
}

/// What an attack did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Connections established.
    pub connections: u64,
    /// Dials that failed or timed out.
    pub dial_errors: u64,
    /// Streams opened.
    pub streams: u64,
    /// Streams that could not be opened (no credit in time) or were reset
    /// before their bytes went out.
    pub stream_errors: u64,
    /// Garbage bytes the node's side took.
    pub bytes: u64,
}

impl Outcome {
    fn add(&mut self, other: Outcome) {
        self.connections += other.connections;
        self.dial_errors += other.dial_errors;
        self.streams += other.streams;
        self.stream_errors += other.stream_errors;
        self.bytes += other.bytes;
    }

    /// The report line, without its prefix.
    pub fn to_line(&self) -> String {
        format!(
            "connections={} dial_errors={} streams={} stream_errors={} bytes={}",
            self.connections, self.dial_errors, self.streams, self.stream_errors, self.bytes
        )
    }

    /// Parses what [`Outcome::to_line`] wrote.
    pub fn from_line(line: &str) -> Result<Self, String> {
        let mut outcome = Self::default();
        for field in line.split_whitespace() {
            let (key, value) = field
                .split_once('=')
                .ok_or(format!("bad field {field:?}"))?;
            let value: u64 = value.parse().map_err(|e| format!("{key}: {e}"))?;
            match key {
                "connections" => outcome.connections = value,
                "dial_errors" => outcome.dial_errors = value,
                "streams" => outcome.streams = value,
                "stream_errors" => outcome.stream_errors = value,
                "bytes" => outcome.bytes = value,
                other => return Err(format!("unknown field {other:?}")),
            }
        }
        Ok(outcome)
    }
}

impl Attack {
    /// The command-line arguments of `testkit-abuse` for `target` and this attack.
    pub fn to_args(&self, target: &Multiaddr) -> Vec<String> {
        let millis = |d: &Duration| d.as_millis().to_string();
        let mut args = vec![target.to_string()];
        match self {
            Self::Connections {
                rate,
                duration,
                hold,
            } => args.extend([
                "connections".to_owned(),
                rate.to_string(),
                millis(duration),
                millis(hold),
            ]),
            Self::Streams {
                connections,
                streams,
                protocol,
                hold,
            } => args.extend([
                "streams".to_owned(),
                connections.to_string(),
                streams.to_string(),
                protocol.clone(),
                millis(hold),
            ]),
            Self::Garbage { bytes, protocols } => {
                args.extend(["garbage".to_owned(), bytes.to_string()]);
                args.extend(protocols.iter().cloned());
            }
        }
        args
    }

    /// Parses what [`Attack::to_args`] wrote: the target and the attack.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<(Multiaddr, Self), String> {
        let args: Vec<String> = args.into_iter().collect();
        let arg = |i: usize| args.get(i).ok_or(format!("argument {i} is missing"));
        let number = |i: usize| -> Result<u64, String> {
            arg(i)?
                .parse()
                .map_err(|e| format!("argument {i} ({:?}): {e}", args[i]))
        };
        let target = arg(0)?.parse().map_err(|e| format!("the target: {e}"))?;
        let attack = match arg(1)?.as_str() {
            "connections" => Self::Connections {
                rate: u32::try_from(number(2)?).map_err(|e| e.to_string())?,
                duration: Duration::from_millis(number(3)?),
                hold: Duration::from_millis(number(4)?),
            },
            "streams" => Self::Streams {
                connections: number(2)? as usize,
                streams: number(3)? as usize,
                protocol: arg(4)?.clone(),
                hold: Duration::from_millis(number(5)?),
            },
            "garbage" => Self::Garbage {
                bytes: number(2)? as usize,
                protocols: args[3..].to_vec(),
            },
            other => return Err(format!("unknown attack {other:?}")),
        };
        Ok((target, attack))
    }
}

/// Runs `attack` against the node at `target` (its address with `/p2p`)
/// from this process, and says what it did. Every connection it made is
/// closed when it returns.
pub async fn attack(target: &Multiaddr, attack: &Attack) -> io::Result<Outcome> {
    crate::install_crypto_provider();
    let mut raw = Dialer::new();
    match attack {
        Attack::Connections {
            rate,
            duration,
            hold,
        } => raw.flood_connections(target, *rate, *duration, *hold).await,
        Attack::Streams {
            connections,
            streams,
            protocol,
            hold,
        } => {
            raw.flood_streams(target, *connections, *streams, protocol, *hold)
                .await
        }
        Attack::Garbage { bytes, protocols } => raw.garbage(target, *bytes, protocols).await,
    }
}

/// One identity's QUIC endpoint, dialing as often as it is told.
struct Dialer {
    transport: quic::tokio::Transport,
}

impl Dialer {
    fn new() -> Self {
        let key = Keypair::generate_ed25519();
        Self {
            transport: quic::tokio::Transport::new(quic::Config::new(&key)),
        }
    }

    /// A dial, to be awaited anywhere.
    fn dial(
        &mut self,
        target: &Multiaddr,
    ) -> io::Result<impl std::future::Future<Output = Option<quic::Connection>> + Send + 'static>
    {
        let opts = DialOpts {
            role: Endpoint::Dialer,
            port_use: PortUse::New,
        };
        let dial = self
            .transport
            .dial(target.clone(), opts)
            .map_err(io::Error::other)?;
        Ok(async move {
            match tokio::time::timeout(STEP, dial).await {
                Ok(Ok((_, connection))) => Some(connection),
                _ => None,
            }
        })
    }

    async fn connect(
        &mut self,
        target: &Multiaddr,
        outcome: &mut Outcome,
    ) -> Option<quic::Connection> {
        let connection = self.dial(target).ok()?.await;
        match connection {
            Some(_) => outcome.connections += 1,
            None => outcome.dial_errors += 1,
        }
        connection
    }

    async fn flood_connections(
        &mut self,
        target: &Multiaddr,
        rate: u32,
        duration: Duration,
        hold: Duration,
    ) -> io::Result<Outcome> {
        let every = Duration::from_secs(1) / rate.max(1);
        let dials = Arc::new(Semaphore::new(DIALS_IN_FLIGHT));
        let mut tasks = JoinSet::new();
        let mut tick = tokio::time::interval(every);
        // Behind schedule (the node is slow to answer), it dials as fast as
        // handshakes free up, rather than in a burst.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let end = tokio::time::Instant::now() + duration;
        let mut outcome = Outcome::default();
        while tick.tick().await < end {
            let Ok(slot) = dials.clone().acquire_owned().await else {
                break;
            };
            let dial = self.dial(target)?;
            tasks.spawn(async move {
                let connection = dial.await;
                drop(slot);
                let Some(connection) = connection else {
                    return Outcome {
                        dial_errors: 1,
                        ..Outcome::default()
                    };
                };
                tokio::time::sleep(hold).await;
                close(connection).await;
                Outcome {
                    connections: 1,
                    ..Outcome::default()
                }
            });
            while let Some(done) = tasks.try_join_next() {
                outcome.add(done.unwrap_or_default());
            }
        }
        while let Some(done) = tasks.join_next().await {
            outcome.add(done.unwrap_or_default());
        }
        Ok(outcome)
    }

    async fn flood_streams(
        &mut self,
        target: &Multiaddr,
        connections: usize,
        streams: usize,
        protocol: &str,
        hold: Duration,
    ) -> io::Result<Outcome> {
        let mut outcome = Outcome::default();
        let mut open = Vec::with_capacity(connections);
        for _ in 0..connections.max(1) {
            if let Some(connection) = self.connect(target, &mut outcome).await {
                open.push(connection);
            }
        }
        let proposal = proposal(protocol);
        let mut held = Vec::with_capacity(streams);
        for i in 0..streams {
            let Some(connection) = (!open.is_empty()).then(|| i % open.len()) else {
                break;
            };
            match new_stream(&mut open[connection]).await {
                Some(mut stream) => {
                    outcome.streams += 1;
                    if stream.write_all(&proposal).await.is_err() {
                        outcome.stream_errors += 1;
                    }
                    held.push(stream);
                }
                None => outcome.stream_errors += 1,
            }
        }
        tokio::time::sleep(hold).await;
        drop(held);
        for connection in open {
            close(connection).await;
        }
        Ok(outcome)
    }

    async fn garbage(
        &mut self,
        target: &Multiaddr,
        bytes: usize,
        protocols: &[String],
    ) -> io::Result<Outcome> {
        let mut outcome = Outcome::default();
        let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
        let Some(mut first) = self.connect(target, &mut outcome).await else {
            return Ok(outcome);
        };
        let mut preludes: Vec<Vec<u8>> = protocols.iter().map(|p| proposal(p)).collect();
        // Garbage from the first byte.
        preludes.push(Vec::new());
        for prelude in &preludes {
            spew(&mut first, prelude, bytes, &mut noise, &mut outcome).await;
        }
        // A second connection of a peer the node already holds: its first
        // stream is read before the node reports the connection.
        if let Some(mut second) = self.connect(target, &mut outcome).await {
            spew(&mut second, &[], bytes, &mut noise, &mut outcome).await;
            close(second).await;
        }
        close(first).await;
        Ok(outcome)
    }
}

/// `prelude`, then `bytes` of noise, on a new stream of `connection`.
async fn spew(
    connection: &mut quic::Connection,
    prelude: &[u8],
    bytes: usize,
    noise: &mut Noise,
    outcome: &mut Outcome,
) {
    let Some(mut stream) = new_stream(connection).await else {
        outcome.stream_errors += 1;
        return;
    };
    outcome.streams += 1;
    let mut chunk = vec![0; CHUNK];
    let written = tokio::time::timeout(STEP, async {
        let mut written = 0u64;
        if stream.write_all(prelude).await.is_err() {
            return written;
        }
        let mut left = bytes;
        while left > 0 {
            let n = left.min(CHUNK);
            noise.fill(&mut chunk[..n]);
            if stream.write_all(&chunk[..n]).await.is_err() {
                break;
            }
            written += n as u64;
            left -= n;
        }
        let _ = stream.close().await;
        written
    })
    .await
    .unwrap_or(0);
    if written < bytes as u64 {
        outcome.stream_errors += 1;
    }
    outcome.bytes += written;
}

async fn new_stream(connection: &mut quic::Connection) -> Option<quic::Stream> {
    tokio::time::timeout(STEP, poll_fn(|cx| connection.poll_outbound_unpin(cx)))
        .await
        .ok()?
        .ok()
}

/// Closes `connection` as a peer that leaves does, so that the node sees it go.
async fn close(mut connection: quic::Connection) {
    let _ = tokio::time::timeout(CLOSE, poll_fn(|cx| connection.poll_close_unpin(cx))).await;
}

/// The multistream-select header and a proposal of `protocol`, framed.
fn proposal(protocol: &str) -> Vec<u8> {
    [
        frame(b"/multistream/1.0.0\n"),
        frame(format!("{protocol}\n").as_bytes()),
    ]
    .concat()
}

/// `message` behind its unsigned-varint length, as multistream-select
/// frames it.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 2);
    let mut len = message.len();
    while len >= 0x80 {
        out.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(message);
    out
}

/// xorshift64: garbage that is the same on every run.
struct Noise(u64);

impl Noise {
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            chunk.copy_from_slice(&self.0.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// An attack running in a child process. Dropping it kills the process.
pub struct Abuser {
    child: Child,
}

impl Abuser {
    /// Starts `attack` against `target` in a `testkit-abuse` process.
    pub fn spawn(target: &Multiaddr, attack: &Attack) -> io::Result<Self> {
        let child = Command::new(abuse_binary()?)
            .args(attack.to_args(target))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        Ok(Self { child })
    }

    /// The process's id, to read its `/proc` figures.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether the attack is over (the process exited).
    pub fn is_done(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the attack to end and reads what it did.
    pub async fn finish(mut self) -> io::Result<Outcome> {
        let stdout = self.child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let mut outcome = None;
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix(DONE) {
                outcome = Some(Outcome::from_line(rest).map_err(io::Error::other)?);
            }
        }
        let status = self.child.wait().await?;
        match outcome {
            Some(outcome) if status.success() => Ok(outcome),
            _ => Err(io::Error::other(format!(
                "testkit-abuse ended {status} without its report"
            ))),
        }
    }
}

/// The body of the `testkit-abuse` binary: the attack `args` describe,
/// then its report line.
pub async fn run_abuse(args: impl IntoIterator<Item = String>) -> Result<(), String> {
    let (target, what) = Attack::from_args(args)?;
    let outcome = attack(&target, &what)
        .map(|r| r.map_err(|e| e.to_string()))
        .await?;
    println!("{DONE}{}", outcome.to_line());
    Ok(())
}

/// Finds the `testkit-abuse` binary, as [`crate::clients::clients_binary`]
/// finds its own (`$TESTKIT_ABUSE_BIN` first).
pub fn abuse_binary() -> io::Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    crate::binary::find(ABUSE_BIN, ABUSE_BIN_ENV, &BUILT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attacks_and_outcomes_read_back() {
        let target: Multiaddr = "/ip4/127.0.0.1/udp/4001/quic-v1".parse().unwrap();
        for attack in [
            Attack::Connections {
                rate: 1000,
                duration: Duration::from_secs(5),
                hold: Duration::from_millis(2500),
            },
            Attack::Streams {
                connections: 40,
                streams: 10_000,
                protocol: "/echo/1".to_owned(),
                hold: Duration::from_secs(1),
            },
            Attack::Garbage {
                bytes: 1 << 20,
                protocols: vec!["/a/1".to_owned(), "/b/1".to_owned()],
            },
        ] {
            assert_eq!(
                Attack::from_args(attack.to_args(&target)),
                Ok((target.clone(), attack))
            );
        }
        let outcome = Outcome {
            connections: 3,
            streams: 7,
            bytes: 1 << 20,
            ..Outcome::default()
        };
        assert_eq!(Outcome::from_line(&outcome.to_line()), Ok(outcome));
    }

    #[test]
    fn a_long_length_takes_two_varint_bytes() {
        assert_eq!(frame(&[0; 200])[..2], [0xC8, 0x01]);
        assert_eq!(frame(b"ab\n"), b"\x03ab\n");
    }
}
