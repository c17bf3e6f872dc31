//! `dht-peers-restart-plain-peers`: `dht-peers-restart` with X's peers plain,
//! so that X's policies are on their own.

use super::Scenario;

/// See the module docs.
pub(crate) const SCENARIO: Scenario = super::dht_peers_restart::PLAIN_PEERS;
