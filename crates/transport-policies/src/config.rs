//! Which policies run, with what settings, and presets for common deployments.

use std::{fmt, time::Duration};

use libp2p_core::Multiaddr;

/// Which policies a [`crate::Policies`] bundle runs; `None` switches one off.
#[derive(Clone)]
pub struct Config {
    pub(crate) prune: Option<conn_prune::Config>,
    pub(crate) isolation: Option<state_isolation::Config>,
    pub(crate) handshake: Option<state_isolation::Handshake>,
    pub(crate) quota: Option<stream_quota::Quota>,
    pub(crate) rebootstrap: Option<rebootstrap::Config>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("prune", &self.prune)
            .field("isolation", &self.isolation)
            .field("handshake", &self.handshake)
            .field(
                "quota",
                &self.quota.as_ref().map(stream_quota::Quota::config),
            )
            .field("rebootstrap", &self.rebootstrap.as_ref().map(|_| "on"))
            .finish()
    }
}

impl Default for Config {
    /// conn-prune and state-isolation at their defaults; no DHT, and no
    /// stream-quota until its [`stream_quota::Quota`] is given
    /// ([`Config::with_stream_quota`]).
    fn default() -> Self {
        Self {
            prune: Some(conn_prune::Config::default()),
            isolation: Some(state_isolation::Config::default()),
            handshake: None,
            quota: None,
            rebootstrap: None,
        }
    }
}

impl Config {
    /// Every policy off: the bundle is the application's behaviour alone.
    pub fn none() -> Self {
        Self {
            prune: None,
            isolation: None,
            handshake: None,
            quota: None,
            rebootstrap: None,
        }
    }

    /// A node browsers reach over WebRTC-direct: tabs close, crash and sleep
    /// without a word, and reload as new nodes. conn-prune probes WebRTC every
    /// 5 s (dead tabs gone within its detection bound, about 5 to 8 s);
    /// state-isolation closes a reloaded tab's old connection when the page
    /// keeps its key and speaks the exchange.
    pub fn browser_facing_webrtc() -> Self {
        Self::default()
    }

    /// A Kademlia server on QUIC: conn-prune also probes QUIC every 5 s, so a
    /// crashed peer is noticed in seconds rather than at QUIC's idle timeout
    /// (up to 1,000 connections; past that the node-wide probe rate would
    /// space the probes to QUIC's own 10 s, so they are skipped and QUIC's
    /// idle timeout is the bound);
    /// state-isolation closes a restarted peer's old connection at once;
    /// rebootstrap re-dials `bootstrap` (addresses with `/p2p`) whenever the
    /// node loses its peers.
    pub fn quic_dht_server(bootstrap: Vec<Multiaddr>) -> Self {
        Self {
            prune: Some(
                conn_prune::Config::default()
                    .with_probe_interval(conn_prune::Transport::Quic, Some(Duration::from_secs(5))),
            ),
            isolation: Some(state_isolation::Config::default()),
            handshake: None,
            quota: None,
            rebootstrap: Some(rebootstrap::Config::default().with_bootstrap_addresses(bootstrap)),
        }
    }

    /// conn-prune with `config`, or off.
    pub fn with_prune(mut self, config: Option<conn_prune::Config>) -> Self {
        self.prune = config;
        self
    }

    /// state-isolation with `config`, or off.
    pub fn with_isolation(mut self, config: Option<state_isolation::Config>) -> Self {
        self.isolation = config;
        self
    }

    /// state-isolation's exchange also in the transport, through
    /// `handshake`, or not (the default). The same `Handshake` must wrap the
    /// swarm's transport ([`state_isolation::Handshake::transport`]); then a
    /// restarted peer's new connection reaches the swarm with its
    /// incarnation known, and no publish or request of the application's
    /// goes to the old run once the swarm reported the new connection. Has
    /// no effect while state-isolation is off.
    pub fn with_handshake(mut self, handshake: Option<state_isolation::Handshake>) -> Self {
        self.handshake = handshake;
        self
    }

    /// stream-quota reading `quota`, or off. The same `Quota` must wrap the
    /// swarm's transport ([`stream_quota::Quota::transport`]): that layer
    /// sees the streams, the behaviour reports and recycles.
    pub fn with_stream_quota(mut self, quota: Option<stream_quota::Quota>) -> Self {
        self.quota = quota;
        self
    }

    /// rebootstrap with `config`, or off; on, it needs the Kademlia behaviour
    /// it wraps (see [`crate::Policies::with_kad`]).
    pub fn with_rebootstrap(mut self, config: Option<rebootstrap::Config>) -> Self {
        self.rebootstrap = config;
        self
    }
}

/// A bundle that cannot be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// conn-prune's configuration is invalid.
    Prune(conn_prune::ConfigError),
    /// state-isolation's configuration is invalid.
    Isolation(state_isolation::ConfigError),
    /// rebootstrap's configuration is invalid.
    Rebootstrap(rebootstrap::ConfigError),
    /// rebootstrap is on but no Kademlia behaviour was given
    /// ([`crate::Policies::with_kad`]).
    RebootstrapWithoutKad,
    /// A Kademlia behaviour was given but rebootstrap is off: put Kademlia
    /// in the application's behaviour instead.
    KadWithoutRebootstrap,
    /// stream-quota is on but its [`stream_quota::Quota`] wraps no
    /// transport: wrap the swarm's transport with
    /// [`stream_quota::Quota::transport`] before building the bundle.
    StreamQuotaNotInTransport,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Prune(e) => write!(f, "conn-prune: {e}"),
            Self::Isolation(e) => write!(f, "state-isolation: {e}"),
            Self::Rebootstrap(e) => write!(f, "rebootstrap: {e}"),
            Self::RebootstrapWithoutKad => {
                write!(f, "rebootstrap is on but no Kademlia behaviour was given")
            }
            Self::KadWithoutRebootstrap => {
                write!(f, "a Kademlia behaviour was given but rebootstrap is off")
            }
            Self::StreamQuotaNotInTransport => write!(
                f,
                "stream-quota is on but its quota wraps no transport (Quota::transport)"
            ),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Prune(e) => Some(e),
            Self::Isolation(e) => Some(e),
            Self::Rebootstrap(e) => Some(e),
            Self::RebootstrapWithoutKad
            | Self::KadWithoutRebootstrap
            | Self::StreamQuotaNotInTransport => None,
        }
    }
}
