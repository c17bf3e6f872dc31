//! stream-quota's muxer layer against the plain muxer on real QUIC over
//! loopback: streams per second and bytes per second, wrapped / plain.
//!
//! Two pairs of QUIC nodes on 127.0.0.1, set up once: *plain* (no layer) and
//! *wrapped* (both nodes' transports wrapped with `Quota::transport`, a
//! `stream_quota::Behaviour` in both swarms, `Config::default()`). Every
//! round measures each metric on both pairs back to back, plain first in
//! even rounds and wrapped first in odd ones, so that machine drift hits both
//! arms alike:
//!
//! - **streams/s**: for a fixed window, N workers each loop: open a stream
//!   (`libp2p_stream::Control::open_stream`: a fresh QUIC stream and its
//!   multistream-select negotiation), write 32 bytes and finish, read the
//!   echo to its end, close. Run with 1 and with 16 streams in flight; only
//!   exchanges completed within the window count.
//! - **bytes/s**: one stream carries 64 MiB in 64 KiB writes to a peer that
//!   reads it all and answers with the byte count; timed from the open to
//!   the answer.
//!
//! Per metric: each arm's median over the rounds, the ratio of the medians
//! (the issue's target: at least 0.97) and the lowest and highest per-round
//! ratio. All four nodes and the measuring tasks share one thread (a
//! current-thread runtime, as the lab's overhead scenario does), so the
//! figure is what the layer costs on one core rather than how the scheduler
//! spread the work over the machine's cores. Each figure is also given per
//! second of that thread's CPU time (`/proc/thread-self/schedstat`), which
//! leaves out the time other processes held the core: on a shared machine
//! those ratios scatter far less than the wall-clock ones.
//!
//! ```sh
//! cargo bench -p libp2p-stream-quota --bench throughput                   # 10 rounds, about 50 s
//! cargo bench -p libp2p-stream-quota --bench throughput -- --rounds 20
//! cargo bench -p libp2p-stream-quota --bench throughput -- --quick        # smoke run, a few seconds
//! ```
//!
//! Variants, to look for where a cost comes from: `--muxer-only` (the wrapped
//! arm's transports wrapped but no `stream_quota::Behaviour` in its swarms:
//! the muxer layer alone, without the swarm's cost of one more behaviour),
//! `--unlimited` (the wrapped arm with `Config::unlimited()`), `--testkit-layer` (the wrapped transport
//! built through testkit's `with_transport_layer`, which wraps the already
//! boxed QUIC muxer: boxed twice), `--multi-thread` (a multi-thread runtime),
//! `--aa` (both arms plain: the noise floor of the ratio).

use std::{
    any::Any,
    error::Error,
    fmt,
    process::ExitCode,
    time::{Duration, Instant},
};

use futures::{AsyncReadExt as _, AsyncWriteExt as _, StreamExt as _};
use libp2p::{
    quic,
    swarm::{self, NetworkBehaviour},
    Multiaddr, PeerId, Stream, StreamProtocol, Swarm,
};
use libp2p_stream::Control;
use stream_quota::{Config, Quota};
use testkit::{Node, NodeConfig, TransportKind};

type BoxError = Box<dyn Error + Send + Sync>;

const ECHO: StreamProtocol = StreamProtocol::new("/stream-quota-bench/echo/1");
const BULK: StreamProtocol = StreamProtocol::new("/stream-quota-bench/bulk/1");
/// What each echo exchange sends, and gets back.
const MESSAGE: &[u8; 32] = b"stream-quota throughput bench..\n";
/// The bulk stream's write size.
const CHUNK: usize = 64 * 1024;
/// Connecting a pair.
const CONNECT: Duration = Duration::from_secs(10);
/// One echo exchange, or one bulk transfer, on a healthy loopback connection.
const OPERATION: Duration = Duration::from_secs(30);
/// Streams in flight for the streams/s metric.
const IN_FLIGHT: [usize; 2] = [1, 16];

const USAGE: &str = "\
usage: cargo bench -p libp2p-stream-quota --bench throughput -- [options]
  --rounds N        rounds, each arm measured once per metric per round (default 10)
  --quick           smoke run: 2 rounds, 0.2 s windows, 8 MiB bulk transfers
  --muxer-only      wrapped arm without stream_quota::Behaviour: the muxer layer alone
  --unlimited       wrapped arm with Config::unlimited() instead of Config::default()
  --testkit-layer   wrap through testkit's NodeConfig::with_transport_layer (muxer boxed twice)
  --multi-thread    multi-thread tokio runtime instead of one thread
  --aa              both arms plain (an A/A run: the noise floor of the ratio)";

#[derive(Debug, Clone)]
struct Options {
    rounds: usize,
    window: Duration,
    bulk_bytes: u64,
    warm_up: Duration,
    muxer_only: bool,
    unlimited: bool,
    testkit_layer: bool,
    multi_thread: bool,
    aa: bool,
    /// The arguments as given, for the closing "command:" line.
    args: Vec<String>,
}

impl Options {
    fn parse(args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut options = Options {
            rounds: 10,
            window: Duration::from_secs(1),
            bulk_bytes: 64 * 1024 * 1024,
            warm_up: Duration::from_millis(300),
            muxer_only: false,
            unlimited: false,
            testkit_layer: false,
            multi_thread: false,
            aa: false,
            args: Vec::new(),
        };
        let mut rounds = None;
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                // cargo bench passes it to every bench binary.
                "--bench" => continue,
                "--rounds" => {
                    let n = args.next().ok_or("--rounds needs a number")?;
                    match n.parse::<usize>() {
                        Ok(n) if n > 0 => rounds = Some(n),
                        _ => return Err(format!("--rounds {n}: not a positive number")),
                    }
                    options.args.extend([arg, n]);
                    continue;
                }
                "--quick" => {
                    options.rounds = 2;
                    options.window = Duration::from_millis(200);
                    options.bulk_bytes = 8 * 1024 * 1024;
                    options.warm_up = Duration::from_millis(100);
                }
                "--muxer-only" => options.muxer_only = true,
                "--unlimited" => options.unlimited = true,
                "--testkit-layer" => options.testkit_layer = true,
                "--multi-thread" => options.multi_thread = true,
                "--aa" => options.aa = true,
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown argument {other:?}")),
            }
            options.args.push(arg);
        }
        if let Some(n) = rounds {
            options.rounds = n;
        }
        Ok(options)
    }

    fn command(&self) -> String {
        let mut command = "cargo bench -p libp2p-stream-quota --bench throughput".to_owned();
        if !self.args.is_empty() {
            command.push_str(" -- ");
            command.push_str(&self.args.join(" "));
        }
        command
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arm {
    Plain,
    Wrapped,
}

impl fmt::Display for Arm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Plain => "plain",
            Self::Wrapped => "wrapped",
        })
    }
}

/// The wrapped arm's behaviour: the streams, and the policy's behaviour
/// tying the ledger's muxers to the swarm's connections.
#[derive(NetworkBehaviour)]
struct Wrapped {
    stream: libp2p_stream::Behaviour,
    quota: stream_quota::Behaviour,
}

/// One running node: its handle (kept to keep it running), its stream
/// control and, on the wrapped arm, its ledger.
struct Started {
    _node: Box<dyn Any>,
    peer: PeerId,
    addr: Multiaddr,
    control: Control,
    quota: Option<Quota>,
}

/// A client and a server, connected; the server echoes and sinks streams.
struct Pair {
    arm: Arm,
    control: Control,
    server: PeerId,
    client_quota: Option<Quota>,
    server_quota: Option<Quota>,
    _client: Started,
    _server: Started,
}

fn swarm_config() -> swarm::Config {
    // As testkit's nodes: no idle timer closing the pair between rounds.
    swarm::Config::with_tokio_executor().with_idle_connection_timeout(Duration::from_secs(3600))
}

/// Builds a node of `arm`, listens on 127.0.0.1 and, with `dial`, connects it.
async fn start(
    arm: Arm,
    options: &Options,
    dial: Option<(PeerId, Multiaddr)>,
) -> Result<Started, BoxError> {
    let stream = libp2p_stream::Behaviour::new();
    let control = stream.new_control();
    let config = NodeConfig::new(TransportKind::Quic);
    match arm {
        Arm::Plain => {
            // testkit's QUIC transport: quic::tokio::Transport, muxer boxed once.
            let swarm = config.build(move |_| stream);
            run(swarm, control, None, dial).await
        }
        Arm::Wrapped => {
            let quota_config = if options.unlimited {
                Config::unlimited()
            } else {
                Config::default()
            };
            let quota = Quota::new(quota_config)?;
            if options.muxer_only {
                let swarm = wrapped_swarm(config, &quota, options, stream);
                return run(swarm, control, Some(quota), dial).await;
            }
            let behaviour = Wrapped {
                stream,
                quota: stream_quota::Behaviour::new(&quota),
            };
            let swarm = wrapped_swarm(config, &quota, options, behaviour);
            run(swarm, control, Some(quota), dial).await
        }
    }
}

/// A swarm of `behaviour` whose transport's muxers `quota` wraps.
fn wrapped_swarm<B: NetworkBehaviour>(
    config: NodeConfig,
    quota: &Quota,
    options: &Options,
    behaviour: B,
) -> Swarm<B> {
    if options.testkit_layer {
        let layer = quota.clone();
        return config
            .with_transport_layer(move |t| layer.transport(t))
            .build(move |_| behaviour);
    }
    // As the crate docs show it: the QUIC transport wrapped directly.
    testkit::install_crypto_provider();
    let transport = quic::tokio::Transport::new(quic::Config::new(&config.keypair));
    Swarm::new(
        quota.transport(transport),
        behaviour,
        config.keypair.public().to_peer_id(),
        swarm_config(),
    )
}

async fn run<B>(
    mut swarm: Swarm<B>,
    control: Control,
    quota: Option<Quota>,
    dial: Option<(PeerId, Multiaddr)>,
) -> Result<Started, BoxError>
where
    B: NetworkBehaviour + Send + 'static,
    B::ToSwarm: Send + fmt::Debug,
{
    let addr = testkit::listen(&mut swarm, TransportKind::Quic, 0).await?;
    let mut node = Node::run(swarm, addr.clone());
    if let Some((peer, to)) = dial {
        node.connect(peer, to, CONNECT).await?;
    }
    Ok(Started {
        peer: node.peer_id(),
        _node: Box::new(node),
        addr,
        control,
        quota,
    })
}

/// A pair built as `built`, measured as the `arm` arm.
async fn pair(built: Arm, arm: Arm, options: &Options) -> Result<Pair, BoxError> {
    let mut server = start(built, options, None).await?;
    serve(&mut server.control)?;
    let client = start(built, options, Some((server.peer, server.addr.clone()))).await?;
    Ok(Pair {
        arm,
        control: client.control.clone(),
        server: server.peer,
        client_quota: client.quota.clone(),
        server_quota: server.quota.clone(),
        _client: client,
        _server: server,
    })
}

/// Serves both protocols on `control`'s node, a task per stream.
fn serve(control: &mut Control) -> Result<(), BoxError> {
    let mut echoes = control.accept(ECHO)?;
    let mut bulks = control.accept(BULK)?;
    tokio::spawn(async move {
        while let Some((_, stream)) = echoes.next().await {
            // A failure shows on the client's side of the stream.
            tokio::spawn(async move {
                let _ = serve_echo(stream).await;
            });
        }
    });
    tokio::spawn(async move {
        while let Some((_, stream)) = bulks.next().await {
            tokio::spawn(async move {
                let _ = serve_bulk(stream).await;
            });
        }
    });
    Ok(())
}

async fn serve_echo(mut stream: Stream) -> std::io::Result<()> {
    let mut message = Vec::with_capacity(MESSAGE.len());
    (&mut stream).take(1024).read_to_end(&mut message).await?;
    stream.write_all(&message).await?;
    stream.close().await
}

async fn serve_bulk(mut stream: Stream) -> std::io::Result<()> {
    let mut buf = vec![0; CHUNK];
    let mut total = 0u64;
    loop {
        match stream.read(&mut buf).await? {
            0 => break,
            n => total += n as u64,
        }
    }
    stream.write_all(&total.to_be_bytes()).await?;
    stream.close().await
}

/// One echo exchange on a new stream.
async fn echo_once(control: &mut Control, peer: PeerId) -> Result<(), BoxError> {
    let mut stream = control.open_stream(peer, ECHO).await?;
    stream.write_all(MESSAGE).await?;
    stream.close().await?;
    let mut echo = Vec::with_capacity(MESSAGE.len());
    (&mut stream).take(1024).read_to_end(&mut echo).await?;
    if echo != MESSAGE {
        return Err(format!("the echo differs: {} bytes back", echo.len()).into());
    }
    Ok(())
}

/// A figure measured both ways: per second of wall-clock time, and per
/// second of the bench thread's CPU time (one-thread runtime only).
#[derive(Debug, Clone, Copy)]
struct Rate {
    wall: f64,
    cpu: Option<f64>,
}

/// How long this thread has run on a CPU (`/proc/thread-self/schedstat`,
/// nanoseconds): unlike wall-clock time, it does not grow while other
/// processes have the core. `None` where the file is missing.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn cpu_rate(work: f64, from: Option<Duration>, to: Option<Duration>) -> Option<f64> {
    let spent = to?.checked_sub(from?)?;
    (!spent.is_zero()).then(|| work / spent.as_secs_f64())
}

/// Echo exchanges completed per second within `window`, `in_flight` at a time.
async fn streams_per_second(
    pair: &Pair,
    in_flight: usize,
    window: Duration,
    cpu_clock: bool,
) -> Result<Rate, BoxError> {
    let cpu_clock = move || cpu_clock.then(thread_cpu).flatten();
    let deadline = Instant::now() + window;
    let cpu_start = cpu_clock();
    // The thread's CPU time at the deadline, before the exchanges still in
    // flight then (not counted) complete.
    let cpu_end = tokio::spawn(async move {
        tokio::time::sleep_until(deadline.into()).await;
        cpu_clock()
    });
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (mut control, peer) = (pair.control.clone(), pair.server);
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    match tokio::time::timeout(OPERATION, echo_once(&mut control, peer)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Err(e),
                        Err(_) => {
                            return Err(format!("an echo exchange took over {OPERATION:?}").into())
                        }
                    }
                    if Instant::now() <= deadline {
                        done += 1;
                    }
                }
                Ok::<_, BoxError>(done)
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.await??;
    }
    let cpu_end = cpu_end.await?;
    if total == 0 {
        return Err("no echo exchange completed within the window".into());
    }
    Ok(Rate {
        wall: total as f64 / window.as_secs_f64(),
        cpu: cpu_rate(total as f64, cpu_start, cpu_end),
    })
}

/// Bytes per second of one stream carrying `bytes` to a reading peer.
async fn bytes_per_second(pair: &Pair, bytes: u64, cpu_clock: bool) -> Result<Rate, BoxError> {
    let (mut control, peer) = (pair.control.clone(), pair.server);
    let cpu_clock = move || cpu_clock.then(thread_cpu).flatten();
    let cpu_start = cpu_clock();
    let transfer = async move {
        let started = Instant::now();
        let mut stream = control.open_stream(peer, BULK).await?;
        let chunk = vec![0xa5; CHUNK];
        let mut sent = 0u64;
        while sent < bytes {
            let n = (bytes - sent).min(CHUNK as u64) as usize;
            stream.write_all(&chunk[..n]).await?;
            sent += n as u64;
        }
        stream.close().await?;
        let mut ack = [0; 8];
        stream.read_exact(&mut ack).await?;
        let took = started.elapsed();
        let cpu_end = cpu_clock();
        let received = u64::from_be_bytes(ack);
        if received != bytes {
            return Err(format!("the peer read {received} of {bytes} bytes").into());
        }
        Ok::<_, BoxError>((took, cpu_end))
    };
    let (took, cpu_end) = tokio::time::timeout(OPERATION, transfer)
        .await
        .map_err(|_| format!("the bulk transfer took over {OPERATION:?}"))??;
    Ok(Rate {
        wall: bytes as f64 / took.as_secs_f64(),
        cpu: cpu_rate(bytes as f64, cpu_start, cpu_end),
    })
}

#[derive(Debug, Clone, Copy)]
enum Metric {
    Streams(usize),
    Bytes,
}

impl Metric {
    fn all() -> Vec<Metric> {
        IN_FLIGHT
            .iter()
            .map(|&n| Metric::Streams(n))
            .chain([Metric::Bytes])
            .collect()
    }

    fn label(self, options: &Options) -> String {
        match self {
            Metric::Streams(n) => format!("streams/s, {n} in flight"),
            Metric::Bytes => format!(
                "bytes/s, {} MiB in 64 KiB writes",
                options.bulk_bytes / (1024 * 1024)
            ),
        }
    }

    fn short(self) -> String {
        match self {
            Metric::Streams(n) => format!("streams x{n}"),
            Metric::Bytes => "bytes".to_owned(),
        }
    }

    fn value(self, value: f64) -> String {
        match self {
            Metric::Streams(_) => format!("{value:.0}"),
            Metric::Bytes => format!("{:.1} MiB/s", value / (1024.0 * 1024.0)),
        }
    }

    async fn measure(
        self,
        pair: &Pair,
        window: Duration,
        bytes: u64,
        cpu_clock: bool,
    ) -> Result<Rate, BoxError> {
        let measured = match self {
            Metric::Streams(n) => streams_per_second(pair, n, window, cpu_clock).await,
            Metric::Bytes => bytes_per_second(pair, bytes, cpu_clock).await,
        };
        measured.map_err(|e| format!("{} arm, {:?}: {e}", pair.arm, self).into())
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// One table: per metric, each arm's median, the ratio of the medians and
/// the range of the per-round ratios, of the figure `pick` takes.
fn table(
    title: &str,
    metrics: &[Metric],
    results: &[Vec<(Rate, Rate)>],
    options: &Options,
    pick: impl Fn(&Rate) -> Option<f64>,
) {
    println!("{title}:");
    println!(
        "  {:<36} {:>14} {:>14} {:>7} {:>13}",
        "metric", "plain median", "wrapped median", "ratio", "round ratios"
    );
    for (metric, rounds) in metrics.iter().zip(results) {
        let pairs: Vec<(f64, f64)> = rounds
            .iter()
            .filter_map(|(p, w)| pick(p).zip(pick(w)))
            .collect();
        if pairs.is_empty() {
            continue;
        }
        let plain: Vec<f64> = pairs.iter().map(|r| r.0).collect();
        let wrapped: Vec<f64> = pairs.iter().map(|r| r.1).collect();
        let (min, max) = pairs
            .iter()
            .map(|r| r.1 / r.0)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
                (lo.min(r), hi.max(r))
            });
        let (p, w) = (median(&plain), median(&wrapped));
        println!(
            "  {:<36} {:>14} {:>14} {:>7.3} {:>13}",
            metric.label(options),
            metric.value(p),
            metric.value(w),
            w / p,
            format!("{min:.3}..{max:.3}")
        );
    }
}

async fn bench(options: Options) -> Result<(), BoxError> {
    let plain = pair(Arm::Plain, Arm::Plain, &options)
        .await
        .map_err(|e| format!("setting up the plain pair: {e}"))?;
    let built = if options.aa { Arm::Plain } else { Arm::Wrapped };
    let wrapped = pair(built, Arm::Wrapped, &options)
        .await
        .map_err(|e| format!("setting up the wrapped pair: {e}"))?;
    let metrics = Metric::all();
    // Every node and task runs on this thread, so its CPU time is the work's.
    let cpu_clock = !options.multi_thread && thread_cpu().is_some();

    // Warm-up, not counted: allocator, QUIC congestion windows, interned protocols.
    for pair in [&plain, &wrapped] {
        for &metric in &metrics {
            metric
                .measure(pair, options.warm_up, options.bulk_bytes / 4, cpu_clock)
                .await?;
        }
    }

    let started = Instant::now();
    // Per metric, per round: (plain, wrapped).
    let mut results = vec![Vec::with_capacity(options.rounds); metrics.len()];
    for round in 0..options.rounds {
        let order = if round % 2 == 0 {
            [&plain, &wrapped]
        } else {
            [&wrapped, &plain]
        };
        let mut line = format!("round {:>2}, wrapped/plain:", round + 1);
        for (m, &metric) in metrics.iter().enumerate() {
            let (mut p, mut w) = (None, None);
            for pair in order {
                let value = metric
                    .measure(pair, options.window, options.bulk_bytes, cpu_clock)
                    .await?;
                match pair.arm {
                    Arm::Plain => p = Some(value),
                    Arm::Wrapped => w = Some(value),
                }
            }
            let (p, w) = p.zip(w).ok_or("an arm was not measured")?;
            results[m].push((p, w));
            line.push_str(&format!("  {} {:.3}", metric.short(), w.wall / p.wall));
            if let Some(ratio) = p.cpu.zip(w.cpu).map(|(p, w)| w / p) {
                line.push_str(&format!(" (cpu {ratio:.3})"));
            }
        }
        eprintln!("{line}");
    }
    let elapsed = started.elapsed();

    let layer = if options.aa {
        "plain as well (A/A)".to_owned()
    } else {
        let config = if options.unlimited {
            "Config::unlimited()"
        } else {
            "Config::default()"
        };
        let through = if options.testkit_layer {
            ", through testkit's transport layer"
        } else {
            ""
        };
        let behaviour = if options.muxer_only {
            ", no stream_quota::Behaviour (muxer layer alone)"
        } else {
            ", with stream_quota::Behaviour"
        };
        format!("{config}{through}{behaviour}")
    };
    let runtime = if options.multi_thread {
        "multi-thread runtime"
    } else {
        "one thread"
    };
    println!(
        "stream-quota muxer layer, QUIC on 127.0.0.1, {} rounds alternating arms ({runtime}, \
         {:.0} s), wrapped = {layer}",
        options.rounds,
        elapsed.as_secs_f64()
    );
    table(
        "per second of wall-clock time",
        &metrics,
        &results,
        &options,
        |r| Some(r.wall),
    );
    if cpu_clock {
        table(
            "per second of the bench thread's CPU time (other processes' load left out)",
            &metrics,
            &results,
            &options,
            |r| r.cpu,
        );
    }

    // The wrapped arm did go through the ledger, and the plain one did not.
    let counted = |quota: &Option<Quota>| quota.as_ref().map(Quota::snapshot);
    match (
        options.aa,
        counted(&wrapped.client_quota),
        counted(&wrapped.server_quota),
    ) {
        (true, None, None) => {}
        (false, Some(client), Some(server)) => {
            let refused = client.node.outbound.refused + server.node.inbound.refused;
            println!(
                "ledger: client counted {} outbound streams, server {} inbound, {refused} refused",
                client.node.outbound.opened, server.node.inbound.opened
            );
            if client.node.outbound.opened == 0 || server.node.inbound.opened == 0 {
                return Err("the wrapped arm's ledger counted no streams".into());
            }
        }
        (true, ..) => return Err("an A/A arm has a ledger".into()),
        (false, ..) => return Err("the wrapped arm has no ledger".into()),
    }
    if plain.client_quota.is_some() || plain.server_quota.is_some() {
        return Err("the plain arm has a ledger".into());
    }
    println!("command: {}", options.command());
    Ok(())
}

fn main() -> ExitCode {
    testkit::init_tracing();
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("throughput: {e}");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let runtime = if options.multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let result = match runtime {
        Ok(runtime) => runtime.block_on(bench(options)),
        Err(e) => Err(format!("starting the tokio runtime: {e}").into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("throughput: {e}");
            ExitCode::FAILURE
        }
    }
}
