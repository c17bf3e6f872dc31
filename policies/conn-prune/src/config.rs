//! What the policy probes, how often, and when it gives up on a connection.

use std::{fmt, time::Duration};

use libp2p_core::{multiaddr::Protocol, Multiaddr};

/// The transport of a connection, as its address tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// WebRTC-direct or WebRTC: no close signal reaches rust-libp2p.
    WebRtc,
    /// QUIC: a silent path is noticed at the idle timeout (about 12 s by default).
    Quic,
    /// TCP: the kernel notices, eventually.
    Tcp,
    /// Anything else (relayed, memory, websocket, ...).
    Other,
}

impl Transport {
    /// Classifies a connection by its remote or dialed address.
    pub fn of(addr: &Multiaddr) -> Self {
        let mut transport = Self::Other;
        for protocol in addr.iter() {
            match protocol {
                Protocol::P2pCircuit => return Self::Other,
                Protocol::WebRTCDirect | Protocol::WebRTC => transport = Self::WebRtc,
                Protocol::QuicV1 | Protocol::Quic => transport = Self::Quic,
                Protocol::Tcp(_) if transport == Self::Other => transport = Self::Tcp,
                Protocol::Ws(_) | Protocol::Wss(_) => transport = Self::Other,
                _ => {}
            }
        }
        transport
    }

    fn index(self) -> usize {
        match self {
            Self::WebRtc => 0,
            Self::Quic => 1,
            Self::Tcp => 2,
            Self::Other => 3,
        }
    }
}

/// Scheduled probes a second, node-wide, by default. A probe to a peer
/// without the policy costs the node 200 to 400 µs of CPU in all (a QUIC
/// stream, a negotiation, the connection's task woken, its timers; measured
/// in the lab's `scale`), so 100 a second keep conn-prune's probing at about
/// 4 % of a core however many connections the node holds, where 10,000
/// connections probed every 5 s took 40 %. Up to 500 connections probed
/// every 5 s fit in it unchanged.
pub const DEFAULT_MAX_SCHEDULED_PROBE_RATE: u32 = 100;

/// The policy's configuration. Build it with `Config::default()` and the
/// `with_*` methods; `Behaviour::new` checks it.
///
/// | setting | default | trades |
/// |---|---|---|
/// | probe interval, WebRTC | 5 s | detection time against probe traffic |
/// | probe interval, QUIC, TCP, other | none | the transport detects these itself, more slowly |
/// | jitter | 0.2 | spreads probes of many connections apart |
/// | probe timeout | 1 s to 5 s, adapted to the RTT | detection time against false alarms on slow paths |
/// | strikes | 3 | detection time against false alarms under loss |
/// | minimum gap between probes | 100 ms | how fast triggers (`suspect`, duplicates) can probe |
/// | probe newer-connection duplicates | on | a second connection to a peer probes the older ones at once |
/// | inbound probes per connection | 8 per second, burst 16 | what a peer can make this node serve |
/// | scheduled probes, node-wide | 100 per second | detection time on a node with many connections against its CPU |
/// | the transport's own idle timeout, QUIC | 10 s (libp2p-quic's) | scheduled probes the rate puts further apart are skipped: QUIC closes first |
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub(crate) intervals: [Option<Duration>; 4],
    pub(crate) jitter: f64,
    pub(crate) min_probe_timeout: Duration,
    pub(crate) max_probe_timeout: Duration,
    pub(crate) max_strikes: u32,
    pub(crate) min_probe_gap: Duration,
    pub(crate) probe_older_duplicates: bool,
    pub(crate) inbound_probes_per_second: u32,
    pub(crate) inbound_probe_burst: u32,
    pub(crate) max_scheduled_probe_rate: Option<u32>,
    pub(crate) idle_timeouts: [Option<Duration>; 4],
}

impl Default for Config {
    fn default() -> Self {
        Self {
            intervals: [Some(Duration::from_secs(5)), None, None, None],
            jitter: 0.2,
            min_probe_timeout: Duration::from_secs(1),
            max_probe_timeout: Duration::from_secs(5),
            max_strikes: 3,
            min_probe_gap: Duration::from_millis(100),
            probe_older_duplicates: true,
            inbound_probes_per_second: 8,
            inbound_probe_burst: 16,
            max_scheduled_probe_rate: Some(DEFAULT_MAX_SCHEDULED_PROBE_RATE),
            // libp2p-quic's default `max_idle_timeout`.
            idle_timeouts: [None, Some(Duration::from_secs(10)), None, None],
        }
    }
}

impl Config {
    /// A configuration that detects a dead connection in well under a second
    /// on a fast path, at the price of four probes a second per connection,
    /// however many connections there are (no node-wide probe rate).
    pub fn aggressive() -> Self {
        let interval = Some(Duration::from_millis(250));
        Self {
            intervals: [interval, interval, interval, interval],
            min_probe_timeout: Duration::from_millis(150),
            max_probe_timeout: Duration::from_secs(2),
            max_strikes: 2,
            min_probe_gap: Duration::from_millis(20),
            max_scheduled_probe_rate: None,
            ..Self::default()
        }
    }

    /// Probes connections of `transport` every `interval`, or only on a
    /// trigger when `None`.
    pub fn with_probe_interval(mut self, transport: Transport, interval: Option<Duration>) -> Self {
        self.intervals[transport.index()] = interval;
        self
    }

    /// Spreads each interval by up to `fraction` (0 to 1) either way.
    pub fn with_jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// Bounds the probe timeout, which otherwise follows the measured RTT.
    /// Until a connection's first answer its probes wait for `max`.
    pub fn with_probe_timeout(mut self, min: Duration, max: Duration) -> Self {
        self.min_probe_timeout = min;
        self.max_probe_timeout = max;
        self
    }

    /// Prunes a connection after `strikes` unanswered probes in a row.
    pub fn with_max_strikes(mut self, strikes: u32) -> Self {
        self.max_strikes = strikes;
        self
    }

    /// Never starts two probes on one connection closer together than `gap`.
    pub fn with_min_probe_gap(mut self, gap: Duration) -> Self {
        self.min_probe_gap = gap;
        self
    }

    /// Whether a new connection to a peer makes the older ones be probed at once.
    pub fn with_probe_older_duplicates(mut self, enabled: bool) -> Self {
        self.probe_older_duplicates = enabled;
        self
    }

    /// Serves at most `per_second` inbound probes per connection on average,
    /// `burst` at once; the rest are refused.
    pub fn with_inbound_probe_limit(mut self, per_second: u32, burst: u32) -> Self {
        self.inbound_probes_per_second = per_second;
        self.inbound_probe_burst = burst;
        self
    }

    /// Spends at most `per_second` scheduled probes a second across all
    /// connections, on average, or any number when `None`. With more
    /// probed connections than `per_second` × interval, each is probed every
    /// connections / `per_second` instead of every interval: detection slows
    /// in proportion (see [`Self::probe_interval_at`]) and the node's cost
    /// stays flat. Probes that a trigger asks for (a suspicion, a newer
    /// duplicate, the retries after a miss) do not count and are never put off.
    pub fn with_max_scheduled_probe_rate(mut self, per_second: Option<u32>) -> Self {
        self.max_scheduled_probe_rate = per_second;
        self
    }

    /// The longest `transport` itself takes to close a connection that
    /// hears nothing, or `None` if it may never (the default for all but
    /// QUIC, whose default is libp2p-quic's `max_idle_timeout`, 10 s; set
    /// yours if you changed it). A connection whose scheduled probes the
    /// node-wide rate puts at least this far apart is not probed on its
    /// schedule: no such probe could notice a death before the transport
    /// does, and each would cost the node a stream. It is still probed on a
    /// trigger (a suspicion, a newer duplicate), and on schedule again once
    /// the node holds fewer connections.
    pub fn with_transport_idle_timeout(
        mut self,
        transport: Transport,
        timeout: Option<Duration>,
    ) -> Self {
        self.idle_timeouts[transport.index()] = timeout;
        self
    }

    pub(crate) fn idle_timeout(&self, transport: Transport) -> Option<Duration> {
        self.idle_timeouts[transport.index()]
    }

    /// The probe interval for `transport`, if it is probed on a schedule.
    pub fn probe_interval(&self, transport: Transport) -> Option<Duration> {
        self.intervals[transport.index()]
    }

    /// The probe interval for `transport` on a node whose `connections` are
    /// probed on a schedule: the configured interval, stretched as the
    /// node-wide scheduled probe rate requires; `None` when it is not probed
    /// on a schedule at that size (no interval, or one stretched to the
    /// transport's own idle timeout, [`Self::with_transport_idle_timeout`]).
    pub fn probe_interval_at(&self, transport: Transport, connections: usize) -> Option<Duration> {
        let interval = self.probe_interval(transport)?;
        let skipped_from = skipped_from(
            interval,
            self.max_scheduled_probe_rate,
            self.idle_timeout(transport),
        );
        (connections < skipped_from)
            .then(|| spread(interval, self.max_scheduled_probe_rate, connections))
    }

    /// The longest time from a connection's death to its pruning, for a
    /// connection probed on a schedule: an interval with its jitter, then
    /// `max_strikes` probe timeouts (the longest, as before any answer).
    /// It holds while this node runs on time and its scheduled probes fit
    /// in the node-wide rate (use [`Self::detection_bound_at`] past that): an
    /// overloaded node stops judging (`Event::Overloaded`), so it prunes
    /// later rather than wrongly.
    pub fn detection_bound(&self, transport: Transport) -> Option<Duration> {
        self.detection_bound_at(transport, 0)
    }

    /// [`Self::detection_bound`] on a node whose `connections` are probed on
    /// a schedule; `None` where they are not (at that size, the transport's
    /// own idle timeout is the bound, [`Self::with_transport_idle_timeout`]).
    pub fn detection_bound_at(&self, transport: Transport, connections: usize) -> Option<Duration> {
        let interval = self.probe_interval_at(transport, connections)?;
        Some(
            interval.mul_f64(1.0 + self.jitter)
                + (self.max_probe_timeout + self.min_probe_gap) * self.max_strikes,
        )
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.intervals.iter().flatten().any(Duration::is_zero) {
            return Err(ConfigError::ZeroInterval);
        }
        if self.idle_timeouts.iter().flatten().any(Duration::is_zero) {
            return Err(ConfigError::ZeroIdleTimeout);
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(ConfigError::JitterOutOfRange(self.jitter));
        }
        if self.min_probe_timeout.is_zero() {
            return Err(ConfigError::ZeroProbeTimeout);
        }
        if self.min_probe_timeout > self.max_probe_timeout {
            return Err(ConfigError::ProbeTimeoutBoundsInverted {
                min: self.min_probe_timeout,
                max: self.max_probe_timeout,
            });
        }
        if self.max_strikes == 0 {
            return Err(ConfigError::ZeroStrikes);
        }
        if self.inbound_probes_per_second == 0 || self.inbound_probe_burst == 0 {
            return Err(ConfigError::ZeroInboundProbeLimit);
        }
        if self.max_scheduled_probe_rate == Some(0) {
            return Err(ConfigError::ZeroScheduledProbeRate);
        }
        Ok(())
    }
}

/// `interval`, or longer so that `connections` probed every so often
/// start at most `per_second` probes a second together.
pub(crate) fn spread(interval: Duration, per_second: Option<u32>, connections: usize) -> Duration {
    match per_second {
        Some(rate) if rate > 0 => {
            let needed = Duration::from_secs_f64(connections as f64 / f64::from(rate));
            interval.max(needed)
        }
        _ => interval,
    }
}

/// How many connections probed on a schedule stretch `interval` to the
/// transport's `idle_timeout` (`usize::MAX`: never).
pub(crate) fn skipped_from(
    interval: Duration,
    per_second: Option<u32>,
    idle_timeout: Option<Duration>,
) -> usize {
    let Some(timeout) = idle_timeout else {
        return usize::MAX;
    };
    if interval >= timeout {
        return 0;
    }
    match per_second {
        // The first count whose spread reaches the timeout.
        Some(rate) if rate > 0 => {
            let n = (timeout.as_secs_f64() * f64::from(rate)).ceil() as usize;
            (n.saturating_sub(1)..=n.saturating_add(1))
                .find(|&n| spread(interval, per_second, n) >= timeout)
                .unwrap_or(n)
        }
        _ => usize::MAX,
    }
}

/// A configuration value out of range.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A probe interval of zero.
    ZeroInterval,
    /// A jitter fraction outside `0..1`.
    JitterOutOfRange(f64),
    /// A minimum probe timeout of zero.
    ZeroProbeTimeout,
    /// A minimum probe timeout above the maximum.
    ProbeTimeoutBoundsInverted {
        /// The minimum given.
        min: Duration,
        /// The maximum given.
        max: Duration,
    },
    /// Zero strikes would prune before any probe.
    ZeroStrikes,
    /// An inbound probe rate or burst of zero would refuse every probe.
    ZeroInboundProbeLimit,
    /// A node-wide scheduled probe rate of zero would never probe.
    ZeroScheduledProbeRate,
    /// A transport's idle timeout of zero would skip every scheduled probe.
    ZeroIdleTimeout,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroInterval => f.write_str("a probe interval must be above zero"),
            Self::JitterOutOfRange(j) => write!(f, "jitter {j} is outside 0..1"),
            Self::ZeroProbeTimeout => f.write_str("the minimum probe timeout must be above zero"),
            Self::ProbeTimeoutBoundsInverted { min, max } => {
                write!(
                    f,
                    "minimum probe timeout {min:?} is above the maximum {max:?}"
                )
            }
            Self::ZeroStrikes => f.write_str("max strikes must be at least 1"),
            Self::ZeroInboundProbeLimit => {
                f.write_str("the inbound probe rate and burst must be at least 1")
            }
            Self::ZeroScheduledProbeRate => f.write_str(
                "the node-wide scheduled probe rate must be at least 1, or none for no limit",
            ),
            Self::ZeroIdleTimeout => {
                f.write_str("a transport's idle timeout must be above zero, or none if it has none")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_are_told_by_their_address() {
        let cases = [
            ("/ip4/127.0.0.1/udp/1/webrtc-direct", Transport::WebRtc),
            ("/ip4/127.0.0.1/udp/1/quic-v1", Transport::Quic),
            ("/ip4/127.0.0.1/tcp/1", Transport::Tcp),
            ("/ip4/127.0.0.1/tcp/1/ws", Transport::Other),
            ("/ip4/127.0.0.1/udp/1/quic-v1/p2p-circuit", Transport::Other),
            ("/memory/5", Transport::Other),
        ];
        for (addr, transport) in cases {
            assert_eq!(Transport::of(&addr.parse().unwrap()), transport, "{addr}");
        }
    }

    #[test]
    fn defaults_and_presets_are_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
        assert_eq!(Config::aggressive().validate(), Ok(()));
        assert!(Config::default().probe_interval(Transport::Quic).is_none());
        assert!(
            Config::default()
                .detection_bound(Transport::WebRtc)
                .unwrap()
                <= Duration::from_secs(25)
        );
    }

    #[test]
    fn the_node_wide_rate_stretches_intervals_past_what_fits_in_it() {
        let config = Config::default()
            .with_probe_interval(Transport::Quic, Some(Duration::from_secs(5)))
            .with_transport_idle_timeout(Transport::Quic, None)
            .with_max_scheduled_probe_rate(Some(100));
        let at = |n| config.probe_interval_at(Transport::Quic, n).unwrap();
        assert_eq!(at(0), Duration::from_secs(5));
        assert_eq!(at(500), Duration::from_secs(5));
        assert_eq!(at(1000), Duration::from_secs(10));
        assert_eq!(at(20_000), Duration::from_secs(200));
        assert!(
            config.detection_bound_at(Transport::Quic, 20_000).unwrap()
                > config.detection_bound(Transport::Quic).unwrap()
        );
        let unlimited = config.with_max_scheduled_probe_rate(None);
        assert_eq!(
            unlimited.probe_interval_at(Transport::Quic, 20_000),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            Config::default().probe_interval_at(Transport::Quic, 9),
            None
        );
    }

    #[test]
    fn invalid_values_are_typed_errors() {
        let d = Duration::from_secs;
        let cases = [
            (
                Config::default().with_probe_interval(Transport::Quic, Some(Duration::ZERO)),
                ConfigError::ZeroInterval,
            ),
            (
                Config::default().with_jitter(1.0),
                ConfigError::JitterOutOfRange(1.0),
            ),
            (
                Config::default().with_jitter(-0.1),
                ConfigError::JitterOutOfRange(-0.1),
            ),
            (
                Config::default().with_probe_timeout(Duration::ZERO, d(1)),
                ConfigError::ZeroProbeTimeout,
            ),
            (
                Config::default().with_probe_timeout(d(2), d(1)),
                ConfigError::ProbeTimeoutBoundsInverted {
                    min: d(2),
                    max: d(1),
                },
            ),
            (
                Config::default().with_max_strikes(0),
                ConfigError::ZeroStrikes,
            ),
            (
                Config::default().with_inbound_probe_limit(0, 4),
                ConfigError::ZeroInboundProbeLimit,
            ),
            (
                Config::default().with_max_scheduled_probe_rate(Some(0)),
                ConfigError::ZeroScheduledProbeRate,
            ),
            (
                Config::default()
                    .with_transport_idle_timeout(Transport::Quic, Some(Duration::ZERO)),
                ConfigError::ZeroIdleTimeout,
            ),
        ];
        for (config, error) in cases {
            assert_eq!(config.validate(), Err(error));
        }
    }
}
