//! The scenarios: each one failure of the design, run on real transports.
//!
//! A scenario is a [`Scenario`] value in a file of its own that knows how to
//! run once on one [`Arm`] and say what it measured. Adding one takes that
//! file and one line in the `registry!` list at the bottom of this module:
//!
//! ```ignore
//! // src/scenarios/quic_restart.rs
//! use super::{Arm, Context, RunError, Sample, Scenario, Unit};
//!
//! pub(crate) const SCENARIO: Scenario = Scenario {
//!     name: "quic-restart",
//!     description: "...",
//!     metric: "time until a request to it succeeds",
//!     unit: Unit::Millis,
//!     cap: Some(std::time::Duration::from_secs(20)),
//!     parallel: super::all_at_once,
//!     requires: super::nothing,
//!     run: |arm, ctx| Box::pin(run(arm, ctx)),
//! };
//!
//! async fn run(arm: Arm, ctx: Context) -> Result<Sample, RunError> { ... }
//! ```

mod dht;
mod pair;
mod server;

use std::{
    fmt,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use futures::future::BoxFuture;

/// Which stack a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arm {
    /// Plain rust-libp2p: what an application has today.
    Plain,
    /// The same application with the policies composed in
    /// (the facade's bundle, [`crate::stack::Bundle`]).
    Policy,
}

impl Arm {
    /// Both arms, plain first.
    pub const BOTH: [Arm; 2] = [Self::Plain, Self::Policy];

    /// The arm's name in progress lines and JSON keys.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Policy => "policy",
        }
    }
}

impl fmt::Display for Arm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The unit of a scenario's metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Milliseconds; lower is better.
    Millis,
    /// Requests per second; higher is better.
    RequestsPerSecond,
    /// Kibibytes of memory; lower is better.
    Kibibytes,
}

impl Unit {
    /// The unit as the table and the JSON lines write it.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Millis => "ms",
            Self::RequestsPerSecond => "req/s",
            Self::Kibibytes => "KiB",
        }
    }
}

/// What one run measured, in its scenario's [`Unit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// The value; for a capped run, the cap.
    pub value: f64,
    /// Whether the run did not recover within the cap. It is counted as the
    /// cap, never dropped: dropping it would flatter the arm that failed.
    pub capped: bool,
}

impl Sample {
    /// A value measured in full.
    pub fn measured(value: f64) -> Self {
        Self {
            value,
            capped: false,
        }
    }

    /// A run that had not recovered when the cap ran out.
    pub fn capped(cap: f64) -> Self {
        Self {
            value: cap,
            capped: true,
        }
    }

    /// A time from the fault, or the cap if recovery did not come in time.
    pub fn time(took: Option<Duration>, cap: Duration) -> Self {
        match took {
            Some(took) if took <= cap => Self::measured(millis(took)),
            _ => Self::capped(millis(cap)),
        }
    }
}

/// `d` in milliseconds, the unit of every time metric.
pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Why a run could not measure: its setup failed (a connect, a child
/// process). Not a failure to recover, which is a capped [`Sample`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunError(String);

impl RunError {
    /// An error saying `what`.
    pub fn new(what: impl Into<String>) -> Self {
        Self(what.into())
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// Not `std::error::Error` itself, so that `?` turns any error into one.
impl<E: std::error::Error> From<E> for RunError {
    fn from(e: E) -> Self {
        Self(e.to_string())
    }
}

/// What every run of one lab invocation shares.
#[derive(Debug, Clone)]
pub struct Context {
    /// Nodes in a DHT scenario, the measured node included.
    pub nodes: usize,
    next_seed: Arc<AtomicU64>,
}

impl Context {
    /// A context for DHT networks of `nodes` nodes.
    pub fn new(nodes: usize) -> Self {
        Self {
            nodes,
            // Far from the seeds the tests and benches use, though a clash
            // would be harmless: every run has its own nodes.
            next_seed: Arc::new(AtomicU64::new(1 << 32)),
        }
    }

    /// Reserves `n` key seeds for child nodes and returns the first: runs in
    /// flight at once never share a peer id.
    pub fn key_seeds(&self, n: usize) -> u64 {
        self.next_seed.fetch_add(n as u64, Ordering::Relaxed)
    }
}

/// A run in progress.
pub type RunFuture = BoxFuture<'static, Result<Sample, RunError>>;

/// One failure, run on one arm at a time. See the [module docs](self).
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Its name on the command line, in the table and in the JSON lines.
    pub name: &'static str,
    /// What happens, which failure of the design it reproduces, and the
    /// policy configuration of its policy arm.
    pub description: &'static str,
    /// What is measured.
    pub metric: &'static str,
    /// The metric's unit.
    pub unit: Unit,
    /// A run that has not recovered by then counts as this, marked capped.
    pub cap: Option<Duration>,
    /// How many runs may be in flight at once: runs whose time is spent
    /// waiting for timers can overlap, a throughput measurement cannot.
    pub parallel: fn(&Context) -> usize,
    /// What the machine must offer (root, a tool), or why the scenario is skipped.
    pub requires: fn() -> Result<(), String>,
    /// Runs it once on `arm`.
    pub run: fn(Arm, Context) -> RunFuture,
}

/// Scenarios are told apart by name, which the registry keeps unique.
impl PartialEq for Scenario {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Scenario {}

/// For [`Scenario::parallel`]: every run of both arms at once, for
/// scenarios whose time is spent waiting on timers (probe intervals,
/// timeouts, caps), so that overlapping runs do not change what they measure.
pub fn all_at_once(_: &Context) -> usize {
    usize::MAX
}

/// For [`Scenario::parallel`]: one run at a time, arms alternating, for
/// measurements that need the machine to themselves.
pub fn one_at_a_time(_: &Context) -> usize {
    1
}

/// A number from the environment, or `default`.
pub(crate) fn env_number(name: &str, default: u64, min: u64, max: u64) -> Result<u64, RunError> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(value) => value
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                RunError::new(format!(
                    "{name} takes a number from {min} to {max}, not {value:?}"
                ))
            }),
    }
}

/// For [`Scenario::requires`]: nothing.
pub fn nothing() -> Result<(), String> {
    Ok(())
}

/// Finds a scenario by name.
pub fn find(name: &str) -> Option<&'static Scenario> {
    ALL.iter().copied().find(|s| s.name == name)
}

/// The scenario registry: one module per scenario, each exposing `SCENARIO`.
macro_rules! registry {
    ($($module:ident),+ $(,)?) => {
        $(mod $module;)+

        /// Every scenario, in the order the lab runs them.
        pub static ALL: &[&Scenario] = &[$(&$module::SCENARIO),+];
    };
}

registry! {
    webrtc_silent_drop,
    webrtc_kill,
    webrtc_close_one_of_two,
    quic_silent_drop,
    quic_restart,
    gossip_restart,
    stream_starvation,
    dht_peers_restart,
    dht_peers_restart_plain_peers,
    dht_network_loss,
    overhead,
    scale,
    abuse,
}
