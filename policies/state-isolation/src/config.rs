//! What the policy waits for and remembers.

use std::{fmt, time::Duration};

use crate::Handshake;

/// The configuration of [`crate::Behaviour`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub(crate) exchange_timeout: Duration,
    pub(crate) max_retired: usize,
    pub(crate) max_hold: Duration,
    pub(crate) handshake: Option<Handshake>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            exchange_timeout: Duration::from_secs(10),
            max_retired: 8,
            max_hold: Duration::from_secs(2),
            handshake: None,
        }
    }
}

impl Config {
    /// How long one side of the exchange may take, negotiation included
    /// (default 10 s, rust-libp2p's stream timeout). A connection whose
    /// remote says nothing in that time stays pending and is never judged.
    pub fn with_exchange_timeout(mut self, timeout: Duration) -> Self {
        self.exchange_timeout = timeout;
        self
    }

    /// How many replaced incarnations of a connected peer are remembered, so
    /// that a late connection of one is known stale (default 8).
    pub fn with_max_retired_incarnations(mut self, max: usize) -> Self {
        self.max_retired = max;
        self
    }

    /// How long a peer's additional connection may be held from the wrapped
    /// behaviour while its incarnation is awaited (default 2 s: several round
    /// trips of a slow path). The exchange takes about one round trip; a
    /// peer that says nothing in that time is shown as it is, and a restart
    /// it announces later still closes its old run, but the wrapped
    /// behaviour then saw the new connection as a second one.
    pub fn with_max_hold(mut self, bound: Duration) -> Self {
        self.max_hold = bound;
        self
    }

    /// The policy working with `handshake`, which wraps the swarm's
    /// transport ([`Handshake::transport`]): a connected peer's new
    /// connection then reaches the swarm with its incarnation known, and the
    /// policy announces the handshake's incarnation as the node's. Without
    /// it (the default), the policy holds such a connection from the wrapped
    /// behaviour until its incarnation arrives.
    pub fn with_handshake(mut self, handshake: Handshake) -> Self {
        self.handshake = Some(handshake);
        self
    }

    /// Checks that the configuration can work; [`crate::Behaviour::wrap`]
    /// does the same.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.exchange_timeout.is_zero() {
            return Err(ConfigError::ZeroExchangeTimeout);
        }
        if self.max_retired == 0 {
            return Err(ConfigError::NoRetiredIncarnations);
        }
        if self.max_hold.is_zero() {
            return Err(ConfigError::ZeroMaxHold);
        }
        Ok(())
    }
}

/// A [`Config`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The exchange timeout is zero: no exchange could complete.
    ZeroExchangeTimeout,
    /// No replaced incarnation is remembered: a replaced run's late
    /// connections would become current again.
    NoRetiredIncarnations,
    /// The hold bound is zero: a peer's additional connection would reach the
    /// wrapped behaviour before its incarnation could be known.
    ZeroMaxHold,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroExchangeTimeout => write!(f, "the exchange timeout must not be zero"),
            Self::NoRetiredIncarnations => {
                write!(f, "at least one replaced incarnation must be remembered")
            }
            Self::ZeroMaxHold => write!(f, "the hold bound must not be zero"),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_values_are_typed_errors() {
        assert_eq!(Config::default().validate(), Ok(()));
        assert_eq!(
            Config::default()
                .with_exchange_timeout(Duration::ZERO)
                .validate(),
            Err(ConfigError::ZeroExchangeTimeout)
        );
        assert_eq!(
            Config::default()
                .with_max_retired_incarnations(0)
                .validate(),
            Err(ConfigError::NoRetiredIncarnations)
        );
        assert_eq!(
            Config::default().with_max_hold(Duration::ZERO).validate(),
            Err(ConfigError::ZeroMaxHold)
        );
    }
}
