//! The policy's configuration.

use std::{collections::HashMap, fmt, time::Duration};

use libp2p_swarm::StreamProtocol;

use crate::{
    admission::{Stage, Tiers},
    Limit, Scope,
};

/// Limits per scope and direction, the starvation and leak thresholds, and
/// whether a starved connection is recycled.
///
/// The default limits are per connection, and per protocol on each
/// connection: a node holding any number of connections, to any number of
/// peers or many to one, each with the ordinary streams of ping, identify,
/// Kademlia or gossipsub open, never reaches one. The scopes that many
/// connections share (the peer's and the node's, [`Scope::Peer`],
/// [`Scope::ProtocolPerPeer`], [`Scope::Node`], [`Scope::Protocol`]) have
/// no limit unless one is set, beside a limit on those connections: see
/// `docs/stream-quota.md` ("Sizing a node limit") and
/// [`Limit::for_connections`].
///
/// | scope | inbound | outbound |
/// |---|---|---|
/// | [`Scope::Connection`] | 256 | 256 |
/// | [`Scope::ProtocolPerConnection`] | 128 | 128 |
/// | [`Scope::Peer`] | none | none |
/// | [`Scope::ProtocolPerPeer`] | none | none |
/// | [`Scope::Node`] | none | none |
/// | [`Scope::Protocol`] | none | none |
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) node: Limit,
    pub(crate) peer: Limit,
    pub(crate) connection: Limit,
    pub(crate) protocol: Limit,
    pub(crate) protocol_per_peer: Limit,
    pub(crate) protocol_per_connection: Limit,
    /// One protocol's own limits, in place of the scope's for every other.
    pub(crate) per_protocol: HashMap<StreamProtocol, ProtocolLimits>,
    pub(crate) starvation_threshold: Duration,
    pub(crate) recycle_starved: bool,
    pub(crate) leak_threshold: Option<Duration>,
}

/// One protocol's own limits, where set.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProtocolLimits {
    node: Option<Limit>,
    per_connection: Option<Limit>,
}

/// QUIC's own stream credit per connection in libp2p-quic
/// (`max_concurrent_stream_limit`).
const CONNECTION: Limit = Limit::new(256, 256);
/// Above the most any standard rust-libp2p protocol keeps open on one
/// connection (request-response allows itself 100 concurrent streams,
/// Kademlia 32 each way, ping, identify and gossipsub one or two), so the
/// protocol's own cap decides first; half a connection's credit, so one
/// protocol cannot take all of it.
const PROTOCOL_PER_CONNECTION: Limit = Limit::new(128, 128);

impl Default for Config {
    fn default() -> Self {
        Self {
            // Shared by connections whose number nothing bounds by default
            // (rust-libp2p limits neither a node's nor a peer's): any limit
            // here is reached by one ordinary stream per connection.
            node: Limit::unlimited(),
            peer: Limit::unlimited(),
            connection: CONNECTION,
            protocol: Limit::unlimited(),
            protocol_per_peer: Limit::unlimited(),
            protocol_per_connection: PROTOCOL_PER_CONNECTION,
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
            protocol_per_connection: Limit::unlimited(),
            ..Self::default()
        }
    }

    /// Sets the limit of `scope`. For the protocol scopes
    /// ([`Scope::Protocol`], [`Scope::ProtocolPerPeer`],
    /// [`Scope::ProtocolPerConnection`]) it applies to each protocol on its
    /// own; [`Config::with_protocol_limit`] and
    /// [`Config::with_protocol_limit_per_connection`] set one protocol's.
    pub fn with_limit(mut self, scope: Scope, limit: Limit) -> Self {
        *match scope {
            Scope::Node => &mut self.node,
            Scope::Peer => &mut self.peer,
            Scope::Connection => &mut self.connection,
            Scope::Protocol => &mut self.protocol,
            Scope::ProtocolPerPeer => &mut self.protocol_per_peer,
            Scope::ProtocolPerConnection => &mut self.protocol_per_connection,
        } = limit;
        self
    }

    /// Sets the [`Scope::Protocol`] limit of `protocol`, its open streams
    /// over the whole node, in place of the limit every other protocol has
    /// (none by default).
    pub fn with_protocol_limit(mut self, protocol: StreamProtocol, limit: Limit) -> Self {
        self.per_protocol.entry(protocol).or_default().node = Some(limit);
        self
    }

    /// Sets the [`Scope::ProtocolPerConnection`] limit of `protocol`, its
    /// open streams on each connection, in place of the limit every other
    /// protocol has, as js-libp2p's per-protocol `maxInboundStreams` /
    /// `maxOutboundStreams` do.
    pub fn with_protocol_limit_per_connection(
        mut self,
        protocol: StreamProtocol,
        limit: Limit,
    ) -> Self {
        self.per_protocol
            .entry(protocol)
            .or_default()
            .per_connection = Some(limit);
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

    /// The limit of `scope` for `protocol` (ignored by the scopes that are
    /// not a protocol's).
    pub fn limit(&self, scope: Scope, protocol: Option<&StreamProtocol>) -> Limit {
        let own = protocol.and_then(|p| self.per_protocol.get(p));
        match scope {
            Scope::Node => self.node,
            Scope::Peer => self.peer,
            Scope::Connection => self.connection,
            Scope::Protocol => own.and_then(|o| o.node).unwrap_or(self.protocol),
            Scope::ProtocolPerPeer => self.protocol_per_peer,
            Scope::ProtocolPerConnection => own
                .and_then(|o| o.per_connection)
                .unwrap_or(self.protocol_per_connection),
        }
    }

    /// The limits of the scopes `stage` checks, for a stream of `protocol`.
    pub(crate) fn stage_limits(
        &self,
        stage: Stage,
        protocol: Option<&StreamProtocol>,
    ) -> Tiers<Limit> {
        let scopes = stage.scopes();
        Tiers {
            connection: self.limit(scopes.connection, protocol),
            peer: self.limit(scopes.peer, protocol),
            node: self.limit(scopes.node, protocol),
        }
    }

    /// The configured starvation threshold.
    pub fn starvation_threshold(&self) -> Duration {
        self.starvation_threshold
    }

    /// Whether this configuration can work: [`Quota::new`](crate::Quota::new)
    /// checks it too.
    pub fn validate(&self) -> Result<(), ConfigError> {
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
        let config = Config::default()
            .with_protocol_limit(echo.clone(), Limit::new(2, 3))
            .with_protocol_limit_per_connection(echo.clone(), Limit::new(4, 5));
        assert_eq!(config.limit(Scope::Protocol, Some(&echo)), Limit::new(2, 3));
        assert_eq!(
            config.limit(Scope::ProtocolPerConnection, Some(&echo)),
            Limit::new(4, 5)
        );
        assert_eq!(
            config.limit(Scope::Protocol, Some(&other)),
            Limit::unlimited()
        );
        assert_eq!(
            config.limit(Scope::ProtocolPerConnection, Some(&other)),
            Limit::new(128, 128)
        );
        assert_eq!(
            config.limit(Scope::ProtocolPerPeer, Some(&echo)),
            Limit::unlimited()
        );
        // Setting one of a protocol's own limits leaves its other one alone.
        let only_node = Config::default().with_protocol_limit(echo.clone(), Limit::new(2, 3));
        assert_eq!(
            only_node.limit(Scope::ProtocolPerConnection, Some(&echo)),
            Limit::new(128, 128)
        );
    }

    #[test]
    fn the_defaults_limit_connections_and_leave_the_shared_scopes_open() {
        let config = Config::default();
        let limits: Vec<_> = [
            Scope::Connection,
            Scope::ProtocolPerConnection,
            Scope::Peer,
            Scope::ProtocolPerPeer,
            Scope::Node,
            Scope::Protocol,
        ]
        .into_iter()
        .map(|scope| config.limit(scope, None))
        .collect();
        assert_eq!(
            limits,
            [
                Limit::new(256, 256),
                Limit::new(128, 128),
                Limit::unlimited(),
                Limit::unlimited(),
                Limit::unlimited(),
                Limit::unlimited(),
            ]
        );
        let unlimited = Config::unlimited();
        for stage in [Stage::Open, Stage::Negotiated] {
            let none = Limit::unlimited();
            assert_eq!(
                unlimited.stage_limits(stage, None),
                Tiers {
                    connection: none,
                    peer: none,
                    node: none
                }
            );
        }
    }

    #[test]
    fn a_node_limit_sized_by_times_saturates_and_keeps_no_limit() {
        assert_eq!(
            Limit::new(16, 8).times(20_000),
            Limit::new(320_000, 160_000)
        );
        assert_eq!(
            Limit::new(u32::MAX / 2, 1).times(3),
            Limit::new(u32::MAX, 3)
        );
        assert_eq!(Limit::unlimited().times(5), Limit::unlimited());
        let half = Limit {
            inbound: Some(2),
            outbound: None,
        };
        assert_eq!(
            half.times(4),
            Limit {
                inbound: Some(8),
                outbound: None
            }
        );
    }
}
