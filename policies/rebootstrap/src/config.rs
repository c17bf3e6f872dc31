//! Who to rejoin through, when, and how often to retry.

use std::{fmt, sync::Arc, time::Duration};

use libp2p_core::Multiaddr;

use crate::{
    memory::PeerMemory,
    source::{peer_of, BootstrapSource},
};

/// The policy's configuration: `Config::default()` and the `with_*` methods;
/// `Behaviour::new` checks it.
///
/// | setting | default | trades |
/// |---|---|---|
/// | bootstrap addresses | none | the peers to rejoin through (or a [`BootstrapSource`]) |
/// | fewest connected peers | 1 | below it the node counts as degraded |
/// | fewest live routing-table entries | 1 | entries of connected peers; below it, degraded |
/// | backoff | 500 ms doubling to 4 s, jittered down by up to half | rejoin time after the network returns against dials while it is away |
/// | parallel dials | 2 (as go-libp2p-kad-dht) | speed against load on the bootstrap peers |
/// | health check | every 1 s | how soon a depleted table is noticed |
/// | peer memory | none | the peers of the last run, dialed at start (a [`PeerMemory`]) |
/// | remembered peers | 32 | dials at start against how many old peers hear of a restart |
#[derive(Clone)]
pub struct Config {
    pub(crate) addresses: Vec<Multiaddr>,
    pub(crate) source: Option<Arc<dyn BootstrapSource>>,
    pub(crate) min_connected_peers: usize,
    pub(crate) min_live_entries: usize,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) backoff_jitter: f64,
    pub(crate) max_parallel_dials: usize,
    pub(crate) check_interval: Duration,
    pub(crate) memory: Option<Arc<dyn PeerMemory>>,
    pub(crate) max_remembered: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addresses: Vec::new(),
            source: None,
            min_connected_peers: 1,
            min_live_entries: 1,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(4),
            backoff_jitter: 0.5,
            max_parallel_dials: 2,
            check_interval: Duration::from_secs(1),
            memory: None,
            max_remembered: 32,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("addresses", &self.addresses)
            .field(
                "source",
                &self.source.as_ref().map(|_| "dyn BootstrapSource"),
            )
            .field("memory", &self.memory.as_ref().map(|_| "dyn PeerMemory"))
            .field("max_remembered", &self.max_remembered)
            .field("min_connected_peers", &self.min_connected_peers)
            .field("min_live_entries", &self.min_live_entries)
            .field("backoff_initial", &self.backoff_initial)
            .field("backoff_max", &self.backoff_max)
            .field("backoff_jitter", &self.backoff_jitter)
            .field("max_parallel_dials", &self.max_parallel_dials)
            .field("check_interval", &self.check_interval)
            .finish()
    }
}

impl Config {
    /// Adds bootstrap peers; each address must end in `/p2p/<peer id>`.
    pub fn with_bootstrap_addresses(
        mut self,
        addresses: impl IntoIterator<Item = Multiaddr>,
    ) -> Self {
        self.addresses.extend(addresses);
        self
    }

    /// Takes bootstrap peers from `source` too.
    pub fn with_source(mut self, source: impl BootstrapSource) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The node counts as degraded with fewer than `peers` connected peers,
    /// or fewer than `entries` routing-table entries of connected peers.
    pub fn with_thresholds(mut self, peers: usize, entries: usize) -> Self {
        self.min_connected_peers = peers;
        self.min_live_entries = entries;
        self
    }

    /// Retries after `initial`, doubling up to `max`, each delay shortened
    /// by a random fraction of up to `jitter` (0 to 1).
    pub fn with_backoff(mut self, initial: Duration, max: Duration, jitter: f64) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max;
        self.backoff_jitter = jitter;
        self
    }

    /// Dials at most `dials` bootstrap peers per attempt.
    pub fn with_max_parallel_dials(mut self, dials: usize) -> Self {
        self.max_parallel_dials = dials;
        self
    }

    /// Checks the node's health every `interval`.
    pub fn with_check_interval(mut self, interval: Duration) -> Self {
        self.check_interval = interval;
        self
    }

    /// At most how many dials the policy makes within `window` while no
    /// bootstrap peer answers: attempts at the shortest delays the backoff
    /// allows, `max_parallel_dials` each.
    pub fn max_dials_within(&self, window: Duration) -> usize {
        let mut elapsed = Duration::ZERO;
        let mut attempts = 1;
        for attempt in 1.. {
            elapsed += crate::backoff::shortest_delay(self, attempt);
            if elapsed > window {
                break;
            }
            attempts += 1;
        }
        attempts * self.max_parallel_dials
    }

    /// Keeps the peers this node is connected to in `memory`, and dials
    /// the ones it remembers when the policy starts: after a restart, each of
    /// them hears from the new run at once (with state-isolation, it then
    /// closes its connection to the old run), bootstrap peer or not. See
    /// [`crate::FileMemory`] for one kept in a file.
    pub fn with_peer_memory(mut self, memory: impl PeerMemory) -> Self {
        self.memory = Some(Arc::new(memory));
        self
    }

    /// How many peers the memory keeps, closest first, and so how many
    /// dials a start costs at most (default 32).
    pub fn with_max_remembered_peers(mut self, max: usize) -> Self {
        self.max_remembered = max;
        self
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(addr) = self.addresses.iter().find(|a| peer_of(a).is_none()) {
            return Err(ConfigError::MissingPeerId(addr.clone()));
        }
        if self.backoff_initial.is_zero() {
            return Err(ConfigError::ZeroBackoff);
        }
        if self.backoff_initial > self.backoff_max {
            return Err(ConfigError::BackoffBoundsInverted {
                initial: self.backoff_initial,
                max: self.backoff_max,
            });
        }
        if !(0.0..1.0).contains(&self.backoff_jitter) {
            return Err(ConfigError::JitterOutOfRange(self.backoff_jitter));
        }
        if self.max_parallel_dials == 0 {
            return Err(ConfigError::ZeroParallelDials);
        }
        if self.check_interval.is_zero() {
            return Err(ConfigError::ZeroCheckInterval);
        }
        Ok(())
    }
}

/// A configuration value out of range.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A bootstrap address without `/p2p/<peer id>`.
    MissingPeerId(Multiaddr),
    /// A first backoff delay of zero would dial without pause.
    ZeroBackoff,
    /// A first backoff delay above the ceiling.
    BackoffBoundsInverted {
        /// The first delay given.
        initial: Duration,
        /// The ceiling given.
        max: Duration,
    },
    /// A jitter fraction outside `0..1`.
    JitterOutOfRange(f64),
    /// Zero parallel dials would never dial.
    ZeroParallelDials,
    /// A health check interval of zero.
    ZeroCheckInterval,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingPeerId(addr) => {
                write!(f, "bootstrap address {addr} has no /p2p/<peer id>")
            }
            Self::ZeroBackoff => f.write_str("the first backoff delay must be above zero"),
            Self::BackoffBoundsInverted { initial, max } => {
                write!(
                    f,
                    "first backoff delay {initial:?} is above the ceiling {max:?}"
                )
            }
            Self::JitterOutOfRange(j) => write!(f, "jitter {j} is outside 0..1"),
            Self::ZeroParallelDials => f.write_str("parallel dials must be at least 1"),
            Self::ZeroCheckInterval => f.write_str("the health check interval must be above zero"),
        }
    }
}

impl std::error::Error for ConfigError {}
