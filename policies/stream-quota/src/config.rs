//! The policy's configuration.

use std::{collections::HashMap, fmt, time::Duration};

use libp2p_swarm::StreamProtocol;

use crate::{Limit, Scope};

/// Limits per scope and direction, the starvation and leak thresholds, and
/// whether a starved connection is recycled.
///
/// The default limits follow go-libp2p's resource manager (its base limits,
/// before scaling by memory) and, for a connection, QUIC's default stream
/// credit; see `docs/stream-quota.md` for the comparison with js-libp2p.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) node: Limit,
    pub(crate) peer: Limit,
    pub(crate) connection: Limit,
    pub(crate) protocol: Limit,
    pub(crate) protocol_per_peer: Limit,
    pub(crate) per_protocol: HashMap<StreamProtocol, Limit>,
    pub(crate) starvation_threshold: Duration,
    pub(crate) recycle_starved: bool,
    pub(crate) leak_threshold: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            node: Limit::new(1024, 2048),
            peer: Limit::new(256, 512),
            connection: Limit::new(256, 256),
            protocol: Limit::new(512, 2048),
            protocol_per_peer: Limit::new(64, 128),
            per_protocol: HashMap::new(),
            starvation_threshold: Duration::from_secs(2),
            recycle_starved: true,
            leak_threshold: None,
        }
    }
}

impl Config {
    /// No limits at all: accounting, starvation and leak reports only.
    pub fn unlimited() -> Self {
        Self {
            node: Limit::unlimited(),
            peer: Limit::unlimited(),
            connection: Limit::unlimited(),
            protocol: Limit::unlimited(),
            protocol_per_peer: Limit::unlimited(),
            ..Self::default()
        }
    }

    /// Sets the limit of `scope`. For [`Scope::Protocol`] and
    /// [`Scope::ProtocolPerPeer`] it applies to each protocol on its own;
    /// [`Config::with_protocol_limit`] sets one protocol's.
    pub fn with_limit(mut self, scope: Scope, limit: Limit) -> Self {
        *match scope {
            Scope::Node => &mut self.node,
            Scope::Peer => &mut self.peer,
            Scope::Connection => &mut self.connection,
            Scope::Protocol => &mut self.protocol,
            Scope::ProtocolPerPeer => &mut self.protocol_per_peer,
        } = limit;
        self
    }

    /// Sets the [`Scope::Protocol`] limit of `protocol`, in place of the
    /// limit every other protocol has, as js-libp2p's per-protocol
    /// `maxInboundStreams` / `maxOutboundStreams` do.
    pub fn with_protocol_limit(mut self, protocol: StreamProtocol, limit: Limit) -> Self {
        self.per_protocol.insert(protocol, limit);
        self
    }

    /// How long an outbound stream open may stay blocked on an otherwise
    /// working connection before it counts as starvation (2 s by default,
    /// well under the swarm's 10 s stream timeout).
    pub fn with_starvation_threshold(mut self, threshold: Duration) -> Self {
        self.starvation_threshold = threshold;
        self
    }

    /// Whether a starved connection is replaced: a fresh connection to the
    /// peer first, then the starved one closed (on by default).
    pub fn with_recycling(mut self, recycle: bool) -> Self {
        self.recycle_starved = recycle;
        self
    }

    /// Reports each stream open longer than `threshold` once, as a leak
    /// (off by default: ping, gossipsub and other protocols keep a stream
    /// for the connection's lifetime).
    pub fn with_leak_threshold(mut self, threshold: Option<Duration>) -> Self {
        self.leak_threshold = threshold;
        self
    }

    /// The limit of `scope` for `protocol` (ignored by the other scopes).
    pub fn limit(&self, scope: Scope, protocol: Option<&StreamProtocol>) -> Limit {
        match scope {
            Scope::Node => self.node,
            Scope::Peer => self.peer,
            Scope::Connection => self.connection,
            Scope::Protocol => protocol
                .and_then(|p| self.per_protocol.get(p).copied())
                .unwrap_or(self.protocol),
            Scope::ProtocolPerPeer => self.protocol_per_peer,
        }
    }

    /// The configured starvation threshold.
    pub fn starvation_threshold(&self) -> Duration {
        self.starvation_threshold
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.starvation_threshold.is_zero() {
            return Err(ConfigError::ZeroStarvationThreshold);
        }
        if self.leak_threshold.is_some_and(|t| t.is_zero()) {
            return Err(ConfigError::ZeroLeakThreshold);
        }
        Ok(())
    }
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// Every blocked open would be starvation at once.
    ZeroStarvationThreshold,
    /// Every stream would be a leak at once.
    ZeroLeakThreshold,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroStarvationThreshold => {
                f.write_str("the starvation threshold must be above zero")
            }
            Self::ZeroLeakThreshold => f.write_str("the leak threshold must be above zero"),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_thresholds_are_refused() {
        let zero = Duration::ZERO;
        assert_eq!(
            Config::default().with_starvation_threshold(zero).validate(),
            Err(ConfigError::ZeroStarvationThreshold)
        );
        assert_eq!(
            Config::default().with_leak_threshold(Some(zero)).validate(),
            Err(ConfigError::ZeroLeakThreshold)
        );
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn a_protocols_own_limit_replaces_the_default_for_it_only() {
        let echo = StreamProtocol::new("/echo/1");
        let other = StreamProtocol::new("/other/1");
        let config = Config::default().with_protocol_limit(echo.clone(), Limit::new(2, 3));
        assert_eq!(config.limit(Scope::Protocol, Some(&echo)), Limit::new(2, 3));
        assert_eq!(
            config.limit(Scope::Protocol, Some(&other)),
            Limit::new(512, 2048)
        );
        assert_eq!(
            config.limit(Scope::ProtocolPerPeer, Some(&echo)),
            Limit::new(64, 128)
        );
    }
}
