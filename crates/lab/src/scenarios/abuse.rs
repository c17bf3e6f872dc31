//! `abuse`: hostile peers against one server, beside an honest one; what
//! the server's memory does, before, during and after.
//!
//! The server is `scale`'s ([`Server`]: the testkit's application with
//! Kademlia in the lab's process, on the policy arm inside the facade's QUIC
//! DHT server preset with stream-quota and state-isolation's handshake in
//! the transport). An honest plain peer, in the lab's process too, sends it
//! an echo request every [`HONEST_EVERY`] throughout. Then three attacks,
//! one after the other, each from a `testkit-abuse` child process (so that
//! none of its cost lands in the measured process), each a raw QUIC peer
//! that answers nothing:
//!
//! 1. **connections**: one identity opens [`CONNECTION_RATE`] connections a
//!    second for [`CONNECTION_FLOOD`], each held [`CONNECTION_HOLD`] (past
//!    the handshake's 2 s bound, so that each reaches the swarm) and then
//!    closed;
//! 2. **streams**: [`STREAMS`] streams over [`STREAM_CONNECTIONS`]
//!    connections, each proposing echo and sending nothing after, held
//!    [`STREAM_HOLD`];
//! 3. **garbage**: [`GARBAGE`] bytes on a stream of every protocol the server
//!    speaks (each proposed first), on a stream that is garbage from its
//!    first byte (what stream-quota's reader and the swarm's
//!    multistream-select read), and on the first stream of a second
//!    connection (what the handshake reads before the swarm sees the
//!    connection).
//!
//! For each: the server's anonymous RSS over its baseline at the peak (sampled
//! every [`SAMPLE_EVERY`]), once the attacker's connections are gone, and
//! after `malloc_trim` (what is still allocated); the honest peer's requests
//! served during it; what the policies keep afterwards against their baseline
//! (one honest connection). The metric is the highest peak of the three.

use std::{collections::BTreeMap, time::Duration};

use libp2p::StreamProtocol;
use testkit::{
    abuse::{Abuser, Attack, Outcome},
    echo::{self, Served, Steady},
};
use transport_policies::{conn_prune, state_isolation};

use super::{
    server::{counts, trim_heap, NodeState, Server, Usage},
    Arm, Context, RunError, Sample, Scenario, Unit,
};

/// The connection flood's rate, a second.
const CONNECTION_RATE: u32 = 1000;
/// How long it lasts.
const CONNECTION_FLOOD: Duration = Duration::from_secs(5);
/// How long each of its connections stays.
const CONNECTION_HOLD: Duration = Duration::from_secs(3);
/// Streams of the stream flood.
const STREAMS: usize = 10_000;
/// The connections they are spread over: 200 each, within the 256 streams
/// libp2p-quic lets a peer open at once.
const STREAM_CONNECTIONS: usize = 50;
/// How long the streams are held.
const STREAM_HOLD: Duration = Duration::from_secs(3);
/// Garbage on each stream of the garbage attack.
const GARBAGE: usize = 1 << 20;
/// Between two requests of the honest peer.
const HONEST_EVERY: Duration = Duration::from_millis(20);
/// How often the server's RSS is read during an attack.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// Before the baseline, and after an attacker's connections are gone.
const SETTLE: Duration = Duration::from_secs(3);
/// How long the attacker's connections may take to go once it is done:
/// closed by it, or on the plain arm at the latest by QUIC's idle timeout.
const WIND_DOWN: Duration = Duration::from_secs(20);
const CONNECT: Duration = Duration::from_secs(10);

/// See the module docs.
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "abuse",
    description: "One server over QUIC on 127.0.0.1 (scale's: ping, identify, echo, Kademlia in \
                  server mode) beside an honest plain peer sending an echo request every 20 ms, \
                  against three attacks in turn, each a raw QUIC peer in a child process that \
                  answers nothing: 1,000 connections a second for 5 s from one identity, each \
                  held 3 s; 10,000 streams over 50 connections, each proposing echo and held 3 s; \
                  1 MiB of garbage on a stream of every protocol the server speaks, on a stream \
                  that is garbage from its first byte, and on the first stream of a second \
                  connection. Per attack, stderr gets the server's anonymous RSS over its baseline \
                  at the peak, after the attacker's connections are gone and after malloc_trim, \
                  the honest requests served during it, and what the policies keep afterwards. \
                  Runs one at a time. Policy arm: the facade's QUIC DHT server preset and \
                  stream-quota and state-isolation's handshake under the transport, at their \
                  defaults.",
    metric: "server RSS over its baseline at the peak of the worst attack",
    unit: Unit::Kibibytes,
    cap: None,
    parallel: super::one_at_a_time,
    requires,
    run: |arm, ctx| Box::pin(run(arm, ctx)),
};

fn requires() -> Result<(), String> {
    testkit::abuse::abuse_binary()
        .map(|_| ())
        .map_err(|e| format!("no testkit-abuse binary: {e}"))
}

/// The attacks, in the order they run.
fn attacks() -> [(&'static str, Attack); 3] {
    let protocols: Vec<String> = [
        conn_prune::PROTOCOL,
        state_isolation::PROTOCOL,
        echo::PROTOCOL,
        StreamProtocol::new("/ipfs/ping/1.0.0"),
        StreamProtocol::new("/ipfs/id/1.0.0"),
        StreamProtocol::new("/ipfs/kad/1.0.0"),
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    [
        (
            "connections",
            Attack::Connections {
                rate: CONNECTION_RATE,
                duration: CONNECTION_FLOOD,
                hold: CONNECTION_HOLD,
            },
        ),
        (
            "streams",
            Attack::Streams {
                connections: STREAM_CONNECTIONS,
                streams: STREAMS,
                protocol: echo::PROTOCOL.to_string(),
                hold: STREAM_HOLD,
            },
        ),
        (
            "garbage",
            Attack::Garbage {
                bytes: GARBAGE,
                protocols,
            },
        ),
    ]
}

/// One attack's figures.
struct Phase {
    name: &'static str,
    outcome: Outcome,
    took: Duration,
    peak_kib: u64,
    after_kib: u64,
    trimmed_kib: u64,
    honest: Served,
    state: NodeState,
    closed: usize,
    /// conn-prune's verdicts during it, by reason.
    pruned: BTreeMap<String, usize>,
    /// stream-quota's refusals during it, by protocol, direction and limit.
    refused: BTreeMap<String, usize>,
}

/// What `now` counts beyond `before`, key by key.
fn grown(now: &BTreeMap<String, usize>, before: &BTreeMap<String, usize>) -> BTreeMap<String, usize> {
    now.iter()
        .map(|(key, n)| (key.clone(), n - before.get(key).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

async fn run(arm: Arm, _: Context) -> Result<Sample, RunError> {
    let (server, addr) = Server::start(arm).await?;
    let Some(libp2p::multiaddr::Protocol::P2p(server_id)) = addr.iter().last() else {
        return Err(RunError::new("the server's address has no /p2p"));
    };
    let honest = Steady::start(server_id, addr.clone(), HONEST_EVERY, CONNECT).await?;
    tokio::time::sleep(SETTLE).await;
    trim_heap();
    let baseline = Usage::now()?;
    let baseline_state = server.state().await?;

    let mut phases = Vec::new();
    for (name, attack) in attacks() {
        let honest_before = honest.served();
        let stats_before = server.stats();
        let started = tokio::time::Instant::now();
        let mut abuser = Abuser::spawn(&addr, &attack)?;
        let mut peak = baseline.anon_kib;
        while !abuser.is_done() {
            peak = peak.max(Usage::now()?.anon_kib);
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
        let outcome = abuser.finish().await?;
        let took = started.elapsed();
        // Its connections gone: the server holds the honest one alone.
        let deadline = tokio::time::Instant::now() + WIND_DOWN;
        while server.state().await?.connections > baseline_state.connections
            && tokio::time::Instant::now() < deadline
        {
            peak = peak.max(Usage::now()?.anon_kib);
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
        tokio::time::sleep(SETTLE).await;
        let after = Usage::now()?;
        let state = server.state().await?;
        let honest_after = honest.served();
        trim_heap();
        let trimmed = Usage::now()?;
        let stats = server.stats();
        phases.push(Phase {
            name,
            outcome,
            took,
            peak_kib: peak.saturating_sub(baseline.anon_kib),
            after_kib: after.anon_kib.saturating_sub(baseline.anon_kib),
            trimmed_kib: trimmed.anon_kib.saturating_sub(baseline.anon_kib),
            honest: honest_after.since(honest_before),
            state,
            closed: stats.closed_total() - stats_before.closed_total(),
            pruned: grown(&stats.pruned, &stats_before.pruned),
            refused: grown(&stats.refused, &stats_before.refused),
        });
    }
    let honest_closed = honest.served().disconnects;
    drop(honest);
    drop(server);

    eprintln!(
        "  abuse {arm:<6} baseline: anonymous RSS {:.1} MiB, {} connection{}",
        baseline.anon_kib as f64 / 1024.0,
        baseline_state.connections,
        if let Some(p) = baseline_state.policies {
            format!("; {p}")
        } else {
            String::new()
        }
    );
    for phase in &phases {
        eprint!("{}", Report(arm, phase));
    }
    if honest_closed > 0 {
        eprintln!("    the honest peer's connection closed {honest_closed} times");
    }
    let worst = phases.iter().map(|p| p.peak_kib).max().unwrap_or(0);
    Ok(Sample::measured(worst as f64))
}

struct Report<'a>(Arm, &'a Phase);

impl std::fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Report(arm, p) = self;
        let mib = |kib: u64| kib as f64 / 1024.0;
        let o = &p.outcome;
        writeln!(
            f,
            "  abuse {arm:<6} {}: {} connections ({} dials failed), {} streams ({} failed), \
             {:.1} MiB of garbage taken, in {:.1} s",
            p.name,
            o.connections,
            o.dial_errors,
            o.streams,
            o.stream_errors,
            mib(o.bytes / 1024),
            p.took.as_secs_f64()
        )?;
        writeln!(
            f,
            "    server RSS over baseline: {:.1} MiB at the peak, {:.1} MiB once the attacker \
             is gone, {:.1} MiB after malloc_trim; honest requests {} served, {} failed; the \
             server closed {} connections; conn-prune pruned {} ({}); stream-quota refused {} \
             streams ({})",
            mib(p.peak_kib),
            mib(p.after_kib),
            mib(p.trimmed_kib),
            p.honest.ok,
            p.honest.failed,
            p.closed,
            p.pruned.values().sum::<usize>(),
            counts(&p.pruned),
            p.refused.values().sum::<usize>(),
            counts(&p.refused),
        )?;
        match p.state.policies {
            Some(policies) => writeln!(
                f,
                "    after: {} connections; {policies}",
                p.state.connections
            ),
            None => writeln!(f, "    after: {} connections", p.state.connections),
        }
    }
}
