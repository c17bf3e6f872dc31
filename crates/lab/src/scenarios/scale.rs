//! `scale`: one server holding N connections, idle; what each costs it, and
//! whether it keeps them.
//!
//! The server runs in the lab's process, its QUIC endpoint on 127.0.0.1:
//! the testkit's plain application with Kademlia (ping, identify, echo,
//! Kademlia in server mode); on the policy arm the same protocols inside the
//! facade's QUIC DHT server preset with stream-quota under the transport
//! ([`node_config`](crate::stack::node_config)), Kademlia given to
//! rebootstrap as a user does. Each arm's server is its own swarm type, not
//! a [`LabBehaviour`](crate::stack::LabBehaviour): that is an `Either` of
//! the application and the bundle, whose per-connection handler and events
//! are as large as the bundle's (as a `LabBehaviour` the plain server took
//! about 17 KiB a connection more at N = 1,000); and the policy arm's
//! application has no empty Kademlia slot, which cost each connection
//! 1.4 KiB of peak heap at N = 2,000 that no user pays. The clients are the
//! testkit's (`testkit::clients`): plain nodes with ping and identify, each
//! its own key and its own QUIC endpoint, one connection each, up to
//! [`PER_PROCESS`] swarms in each of a few child processes, so that none of
//! their cost lands in the lab's process.
//!
//! The lab's process is then the server and an idle runner: its RSS
//! (`/proc/self/status`) before the clients dial, subtracted from its RSS at
//! the end of the idle window, is what the connections cost it (and so is
//! the heap in use, glibc's count of bytes allocated); its CPU time
//! (`/proc/self/stat`, utime + stime) over the window is the server's idle
//! cost. Every client process stays alive to the end, so each connection the
//! server lost is a false prune.
//!
//! How many clients: `POLICY_LAB_SCALE_CONNECTIONS` (default
//! [`DEFAULT_CONNECTIONS`]); the window: `POLICY_LAB_SCALE_WINDOW`, in
//! seconds (default 30). The lab's `--nodes` is the DHT scenarios' network
//! size, 4 to 128, so it is not reused.

use std::time::{Duration, Instant};

use testkit::clients::{ClientStatus, Clients, ClientsSpec};

use super::{
    env_number,
    server::{counts, heap_in_use_kib, status_kib, trim_heap, Server, ServerStats, Usage},
    Arm, Context, RunError, Sample, Scenario, Unit,
};

/// Connections when `POLICY_LAB_SCALE_CONNECTIONS` is not set: past
/// stream-quota's 512-stream protocol limit, within a short default lab run.
const DEFAULT_CONNECTIONS: usize = 1000;
/// The variable that sets how many clients connect.
const CONNECTIONS_ENV: &str = "POLICY_LAB_SCALE_CONNECTIONS";
/// The most clients the scenario starts.
const MAX_CONNECTIONS: usize = 50_000;
/// The variable that sets the idle window, in seconds.
const WINDOW_ENV: &str = "POLICY_LAB_SCALE_WINDOW";
/// The idle window when `POLICY_LAB_SCALE_WINDOW` is not set: two ping
/// intervals (15 s), six conn-prune probe intervals.
const DEFAULT_WINDOW: Duration = Duration::from_secs(30);
/// The longest window: the whole run must end within the runner's 3 minutes.
const MAX_WINDOW: Duration = Duration::from_secs(60);
/// Clients in one child process, at most.
const PER_PROCESS: usize = 2500;
/// How long the clients have to connect, all of them.
const CONNECT_DEADLINE: Duration = Duration::from_secs(90);
/// Once every client is connected, before the window: identify exchanged,
/// the first pings and probes answered (or refused).
const SETTLE: Duration = Duration::from_secs(5);
/// Before the RSS baseline: the previous run's connections wound down.
const QUIET: Duration = Duration::from_secs(2);
/// The longest wait, past [`QUIET`], for the heap to stop shrinking before
/// the baseline.
const MAX_QUIET: Duration = Duration::from_secs(30);
/// The heap counts as settled when a second gives back less than this.
const SETTLED_KIB: u64 = 1024;
/// How often the connect phase looks at the clients' reports.
const POLL: Duration = Duration::from_millis(200);
/// How often the connect phase says how far it got, on stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(15);

/// See the module docs.
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "scale",
    description: "One server over QUIC on 127.0.0.1 (ping, identify, echo, Kademlia in server \
                  mode) in the lab's process; N plain clients (ping and identify), each its own \
                  key and QUIC endpoint, one connection each, in child processes (up to 2,500 \
                  swarms each); N from POLICY_LAB_SCALE_CONNECTIONS, default 1,000. Once every \
                  client is connected and 5 s settled, an idle window (POLICY_LAB_SCALE_WINDOW \
                  s, default 30): the server process's CPU over it (utime + stime, \
                  /proc/self/stat), in ms per minute, is the metric; per run, stderr gets the connections held, \
                  the extra RSS and heap in use per connection, the connections the server closed (every client \
                  is alive: each one a false prune; conn-prune's Pruned events), the streams \
                  stream-quota refused by protocol, and the pings that failed. Runs one at a \
                  time. Policy arm: the facade's QUIC DHT server preset (conn-prune probing \
                  QUIC every 5 s, state-isolation, rebootstrap) and stream-quota at its \
                  defaults under the transport.",
    metric: "server CPU per minute idle with N connections (600 = 1 % of a core)",
    unit: Unit::Millis,
    cap: None,
    parallel: super::one_at_a_time,
    requires,
    run: |arm, ctx| Box::pin(run(arm, ctx)),
};

/// The clients' binary is there (under `cargo run`, built once now).
fn requires() -> Result<(), String> {
    testkit::clients::clients_binary()
        .map(|_| ())
        .map_err(|e| format!("no testkit-clients binary: {e}"))
}

/// A soft limit of `/proc/self/limits`, e.g. "Max open files".
fn soft_limit(name: &str) -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// Ports the kernel hands out to sockets bound to port 0.
fn ephemeral_ports() -> Option<usize> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut bounds = range.split_whitespace().map(|p| p.parse::<usize>().ok());
    let (low, high) = (bounds.next()??, bounds.next()??);
    Some(high.saturating_sub(low) + 1)
}

async fn run(arm: Arm, ctx: Context) -> Result<Sample, RunError> {
    let n = env_number(
        CONNECTIONS_ENV,
        DEFAULT_CONNECTIONS as u64,
        1,
        MAX_CONNECTIONS as u64,
    )? as usize;
    let window = Duration::from_secs(env_number(
        WINDOW_ENV,
        DEFAULT_WINDOW.as_secs(),
        1,
        MAX_WINDOW.as_secs(),
    )?);
    // Each client is a UDP socket of its own: an open file in its process,
    // a port from the ephemeral range.
    let files = soft_limit("Max open files").unwrap_or(1024) as usize;
    let per_process = PER_PROCESS.min(files.saturating_sub(64));
    if per_process < 16 {
        return Err(RunError::new(format!(
            "the open-file limit is {files}; raise it (ulimit -n)"
        )));
    }
    if let Some(ports) = ephemeral_ports().filter(|&p| p < n + 100) {
        return Err(RunError::new(format!(
            "{n} clients need {n} UDP ports; the ephemeral range \
             (/proc/sys/net/ipv4/ip_local_port_range) has {ports}"
        )));
    }

    let (server, addr) = Server::start(arm).await?;
    tokio::time::sleep(QUIET).await;
    settle_heap().await;
    trim_heap();
    let before = Usage::now()?;

    // The clients, in processes of equal size.
    let processes = n.div_ceil(per_process);
    let first_seed = ctx.key_seeds(n);
    let mut clients = Vec::with_capacity(processes);
    let mut assigned = 0;
    for p in 0..processes {
        let count = (n - assigned) / (processes - p);
        let spec = ClientsSpec::new(addr.clone(), count, first_seed + assigned as u64);
        clients.push(Clients::spawn(&spec)?);
        assigned += count;
    }
    let started = Instant::now();
    let status = |clients: &[Clients]| clients.iter().map(Clients::status).sum::<ClientStatus>();
    let mut next_progress = started + PROGRESS_EVERY;
    loop {
        for c in &mut clients {
            c.check_alive().map_err(RunError::new)?;
        }
        let now = status(&clients);
        if now.settled() >= n || started.elapsed() > CONNECT_DEADLINE {
            break;
        }
        if Instant::now() >= next_progress {
            eprintln!(
                "  scale {arm:<6} connecting: {} of {n} connected, the server holds {}",
                now.connected,
                server.stats().established
            );
            next_progress += PROGRESS_EVERY;
        }
        tokio::time::sleep(POLL).await;
    }
    let connect_took = started.elapsed();
    let connected = Usage::now()?;

    tokio::time::sleep(SETTLE).await;
    let window_start = Usage::now()?;
    let stats_start = server.stats();
    tokio::time::sleep(window).await;
    let end = Usage::now()?;
    let stats = server.stats();
    for c in &mut clients {
        c.check_alive().map_err(RunError::new)?;
    }
    let seen = status(&clients);
    let clients_rss: u64 = clients
        .iter()
        .filter_map(|c| c.pid())
        .filter_map(|pid| status_kib(&pid.to_string(), "VmRSS").ok())
        .sum();
    // The clients first, so that the server does not see them go.
    for c in &mut clients {
        let _ = c.kill().await;
    }
    drop(server);

    let cpu_per_second = (end.cpu - window_start.cpu).as_secs_f64() / window.as_secs_f64();
    let report = Report {
        arm,
        n,
        processes,
        connect_took,
        connect_cpu: connected.cpu - before.cpu,
        extra_rss_kib: end.rss_kib.saturating_sub(before.rss_kib),
        extra_anon_kib: end.anon_kib.saturating_sub(before.anon_kib),
        extra_heap_kib: end.heap_kib.zip(before.heap_kib).map(|(e, b)| e as i64 - b as i64),
        cpu_per_second,
        window,
        closed_in_window: stats.closed_total() - stats_start.closed_total(),
        stats,
        clients: seen,
        clients_rss_kib: clients_rss,
    };
    eprint!("{report}");
    // Per minute: the table shows whole units, and 1 % of a core is 600 ms.
    Ok(Sample::measured(cpu_per_second * 60_000.0))
}

/// Waits, up to [`MAX_QUIET`], until the heap in use stops shrinking: what
/// the previous run's connections and tasks still hold when this run's
/// baseline is taken would make this run's connections look cheaper.
async fn settle_heap() {
    let Some(mut last) = heap_in_use_kib() else {
        return;
    };
    let (start, first) = (Instant::now(), last);
    while start.elapsed() < MAX_QUIET {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = heap_in_use_kib().unwrap_or(last);
        if now + SETTLED_KIB > last {
            break;
        }
        last = now;
    }
    if last < first {
        eprintln!(
            "  scale: the heap gave back {:.1} MiB in {:.0} s before the baseline",
            (first - last) as f64 / 1024.0,
            start.elapsed().as_secs_f64()
        );
    }
}

/// One run's figures, as stderr gets them.
struct Report {
    arm: Arm,
    n: usize,
    processes: usize,
    connect_took: Duration,
    connect_cpu: Duration,
    extra_rss_kib: u64,
    extra_anon_kib: u64,
    /// Heap in use at the end less before; `None` off glibc.
    extra_heap_kib: Option<i64>,
    cpu_per_second: f64,
    window: Duration,
    stats: ServerStats,
    closed_in_window: usize,
    clients: ClientStatus,
    clients_rss_kib: u64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            arm,
            n,
            stats,
            clients,
            ..
        } = self;
        let held = stats.established;
        let per = |count: usize| self.extra_anon_kib as f64 / count.max(1) as f64;
        writeln!(
            f,
            "  scale {arm:<6} N={n}: the server holds {held} (peak {}); clients connected {}, \
             gave up {}, still dialing {}, still connected {}; connecting took {:.1} s and \
             {:.1} s of server CPU",
            stats.peak,
            clients.connected,
            clients.gave_up,
            n.saturating_sub(clients.settled()),
            clients.established,
            self.connect_took.as_secs_f64(),
            self.connect_cpu.as_secs_f64(),
        )?;
        writeln!(
            f,
            "    server: extra RSS {:.1} MiB, anonymous {:.1} MiB: {:.1} KiB per connection \
             asked ({:.1} per held); idle CPU {:.1} % of a core over {} s",
            self.extra_rss_kib as f64 / 1024.0,
            self.extra_anon_kib as f64 / 1024.0,
            per(*n),
            per(held),
            self.cpu_per_second * 100.0,
            self.window.as_secs(),
        )?;
        if let Some(heap) = self.extra_heap_kib {
            writeln!(
                f,
                "    server heap in use: {:+.1} MiB, {:+.2} KiB per connection held",
                heap as f64 / 1024.0,
                heap as f64 / held.max(1) as f64,
            )?;
        }
        writeln!(
            f,
            "    false prunes: {} connections closed by the server, {} in the window ({}); \
             conn-prune pruned {} ({}), suspected {}, overloaded {}; state-isolation closed {}",
            stats.closed_total(),
            self.closed_in_window,
            counts(&stats.closed),
            stats.pruned_total(),
            counts(&stats.pruned),
            stats.suspected,
            stats.overloaded,
            stats.isolation_closed,
        )?;
        writeln!(
            f,
            "    streams refused: {} ({}); server pings failed: {}; client pings: {} ok, {} \
             timed out, {} unsupported, {} failed otherwise; handshakes failed: {} at the \
             server, {} dials at the clients",
            stats.refused_total(),
            counts(&stats.refused),
            counts(&stats.ping_failures),
            clients.ping_ok,
            clients.ping_timeout,
            clients.ping_unsupported,
            clients.ping_other,
            stats.incoming_errors,
            clients.dial_errors,
        )?;
        writeln!(
            f,
            "    clients: {} processes, {:.0} MiB RSS together",
            self.processes,
            self.clients_rss_kib as f64 / 1024.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_figures_read() {
        let usage = Usage::now().expect("/proc/self is readable");
        assert!(usage.rss_kib > 0);
        assert!(soft_limit("Max open files").is_some());
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn the_heap_in_use_counts_what_is_held() {
        let before = heap_in_use_kib().expect("glibc");
        let held = vec![1u8; 16 << 20];
        let during = heap_in_use_kib().expect("glibc");
        drop(std::hint::black_box(held));
        // Other tests allocate and free meanwhile: 4 MiB of margin.
        assert!(during >= before + 12 * 1024, "{before} KiB, then {during} KiB");
    }
}
