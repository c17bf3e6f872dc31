//! The policy's decisions, free of I/O: the node's health, its connections
//! and Kademlia's bootstrap results, with the current time, in; actions out.

use std::{
    collections::{HashSet, VecDeque},
    time::Instant,
};

use libp2p_core::Multiaddr;
use libp2p_identity::PeerId;
use rand::{rngs::SmallRng, seq::SliceRandom, SeedableRng};

use crate::{backoff, source::peer_of, Config, Degradation, Event};

/// What the behaviour sees of the node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Health {
    pub(crate) connected_peers: usize,
    /// Routing-table entries of connected peers.
    pub(crate) live_entries: usize,
}

/// What the behaviour must do.
// `Report` is as large as `Event`; actions are few and short-lived.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Action {
    /// Add these bootstrap addresses to Kademlia's table.
    AddAddresses(Vec<(PeerId, Multiaddr)>),
    /// Dial a bootstrap peer, unless connected or dialing already.
    Dial {
        peer: PeerId,
        addresses: Vec<Multiaddr>,
    },
    /// Run a Kademlia bootstrap (a self-lookup, then a bucket refresh), and
    /// a lookup whose answer confirms the node is back: for the key of
    /// `confirm_through`, a connected bootstrap peer, which is its own closest
    /// peer and answers in one round trip; for a random key when none is.
    Bootstrap { confirm_through: Option<PeerId> },
    /// Ask the bootstrap source for a fresh list.
    FetchSource,
    /// Tell the application.
    Report(Event),
}

/// Counters of the policy's work, for tests and dashboards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryStats {
    /// Whether the node counts as degraded now.
    pub degraded: bool,
    /// Recovery attempts made, in all.
    pub attempts: u64,
    /// Bootstrap peers dialed, in all.
    pub dials: u64,
    /// Times the node rejoined.
    pub rejoins: u64,
}

#[derive(Debug)]
struct Episode {
    since: Instant,
    attempts: u32,
    /// When the last attempt was made.
    last_attempt: Instant,
    next_attempt: Instant,
    /// A bootstrap and its confirming lookup are running.
    bootstrapping: bool,
    /// The running lookup goes through a peer connected during this
    /// recovery; one through an older connection may be stuck on it.
    confirming_fresh: bool,
    lookup_succeeded: bool,
}

pub(crate) struct Recovery {
    config: Config,
    has_source: bool,
    /// Bootstrap peers and their addresses, from the config and the source.
    bootstrap: Vec<(PeerId, Vec<Multiaddr>)>,
    connected_bootstrap: HashSet<PeerId>,
    /// Bootstrap peers with a dial of ours in flight: not dialed again
    /// until it ends, so that a dial the swarm would drop is never counted.
    dialing: HashSet<PeerId>,
    health: Health,
    episode: Option<Episode>,
    stats: RecoveryStats,
    actions: VecDeque<Action>,
    rng: SmallRng,
}

impl Recovery {
    /// `config` must be valid; `seed` drives the shuffling and the jitter.
    pub(crate) fn new(config: Config, seed: u64) -> Self {
        let mut recovery = Self {
            has_source: config.source.is_some(),
            bootstrap: Vec::new(),
            connected_bootstrap: HashSet::new(),
            dialing: HashSet::new(),
            health: Health::default(),
            episode: None,
            stats: RecoveryStats::default(),
            actions: VecDeque::new(),
            rng: SmallRng::seed_from_u64(seed),
            config,
        };
        recovery.set_bootstrap(recovery.config.addresses.clone());
        recovery
    }

    /// Replaces the bootstrap addresses learnt from the source, keeping the configured ones.
    pub(crate) fn set_bootstrap(&mut self, from_source: Vec<Multiaddr>) {
        let mut bootstrap: Vec<(PeerId, Vec<Multiaddr>)> = Vec::new();
        for addr in self.config.addresses.iter().chain(&from_source) {
            let Some(peer) = peer_of(addr) else {
                continue;
            };
            match bootstrap.iter_mut().find(|(p, _)| *p == peer) {
                Some((_, addrs)) if !addrs.contains(addr) => addrs.push(addr.clone()),
                Some(_) => {}
                None => bootstrap.push((peer, vec![addr.clone()])),
            }
        }
        self.bootstrap = bootstrap;
    }

    pub(crate) fn bootstrap_addresses(&self) -> Vec<(PeerId, Multiaddr)> {
        self.bootstrap
            .iter()
            .flat_map(|(peer, addrs)| addrs.iter().map(|a| (*peer, a.clone())))
            .collect()
    }

    /// The node's health, measured now: degrades it, or confirms it rejoined.
    pub(crate) fn on_health(&mut self, health: Health, now: Instant) {
        self.health = health;
        let under_connected = health.connected_peers < self.config.min_connected_peers;
        let depleted = health.live_entries < self.config.min_live_entries;
        match &self.episode {
            None if under_connected => self.degrade(Degradation::UnderConnected, now),
            None if depleted => self.degrade(Degradation::TableDepleted, now),
            Some(episode) if episode.lookup_succeeded && !under_connected && !depleted => {
                let episode = self.episode.take().expect("matched Some");
                self.stats.rejoins += 1;
                self.stats.degraded = false;
                tracing::info!(after = ?now - episode.since, "rejoined the DHT");
                self.actions.push_back(Action::Report(Event::Rejoined {
                    after: now.saturating_duration_since(episode.since),
                    attempts: episode.attempts,
                    connected_peers: health.connected_peers,
                    live_entries: health.live_entries,
                }));
            }
            _ => {}
        }
    }

    pub(crate) fn on_connected(&mut self, peer: PeerId) {
        if !self.is_bootstrap(peer) {
            return;
        }
        self.dialing.remove(&peer);
        self.connected_bootstrap.insert(peer);
        self.bootstrap_if_degraded(Some(peer));
    }

    /// A dial of ours to `peer` ended without a connection; `happened` is
    /// false when the swarm dropped it unsent (a dial to the peer already
    /// in flight, someone else's), so it is not counted.
    pub(crate) fn on_dial_failed(&mut self, peer: PeerId, happened: bool) {
        if self.dialing.remove(&peer) && !happened {
            self.stats.dials = self.stats.dials.saturating_sub(1);
        }
    }

    /// A peer's last connection closed; `lost` if it failed (timeout, reset)
    /// rather than closed cleanly.
    pub(crate) fn on_disconnected(&mut self, peer: PeerId, lost: bool, now: Instant) {
        if !self.connected_bootstrap.remove(&peer) {
            return;
        }
        if lost {
            self.degrade(Degradation::BootstrapPeerLost(peer), now);
        }
    }

    /// A Kademlia bootstrap found no known peers, or its query failed.
    pub(crate) fn on_bootstrap_failed(&mut self, now: Instant) {
        self.degrade(Degradation::BootstrapFailed, now);
    }

    /// The confirming lookup finished, having heard from `found` peers.
    pub(crate) fn on_lookup(&mut self, found: usize, now: Instant) {
        let Some(episode) = &mut self.episode else {
            return;
        };
        episode.bootstrapping = false;
        if found > 0 {
            episode.lookup_succeeded = true;
            self.on_health(self.health, now);
        }
    }

    /// The node listens again after it had no address: the network may be
    /// back, so a recovery in progress retries as soon as its backoff
    /// allows: the shortest delay after the last attempt, not the jittered
    /// one. Never sooner, so that an address that comes and goes cannot
    /// make more dials than [`Config::max_dials_within`] says.
    pub(crate) fn on_listen_addr_after_none(&mut self, now: Instant) {
        let Some(episode) = &mut self.episode else {
            return;
        };
        let earliest =
            episode.last_attempt + backoff::shortest_delay(&self.config, episode.attempts);
        episode.next_attempt = episode.next_attempt.min(earliest.max(now));
        self.handle_timeout(now);
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.episode.as_ref().is_some_and(|e| e.next_attempt <= now) {
            self.attempt(now);
        }
    }

    /// When the next attempt is due, during a recovery.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.episode.as_ref().map(|e| e.next_attempt)
    }

    pub(crate) fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub(crate) fn stats(&self) -> RecoveryStats {
        self.stats
    }

    fn is_bootstrap(&self, peer: PeerId) -> bool {
        self.bootstrap.iter().any(|(p, _)| *p == peer)
    }

    fn degrade(&mut self, reason: Degradation, now: Instant) {
        if self.episode.is_some() {
            return;
        }
        tracing::info!(?reason, health = ?self.health, "degraded: rejoining the DHT");
        self.episode = Some(Episode {
            since: now,
            attempts: 0,
            last_attempt: now,
            next_attempt: now,
            bootstrapping: false,
            confirming_fresh: false,
            lookup_succeeded: false,
        });
        self.stats.degraded = true;
        self.actions.push_back(Action::Report(Event::Degraded {
            reason,
            connected_peers: self.health.connected_peers,
            live_entries: self.health.live_entries,
        }));
        if self.has_source {
            self.actions.push_back(Action::FetchSource);
        }
        self.attempt(now);
    }

    fn attempt(&mut self, now: Instant) {
        let Some(episode) = &mut self.episode else {
            return;
        };
        episode.attempts += 1;
        let attempt = episode.attempts;
        let next_in = backoff::delay(&self.config, attempt, &mut self.rng);
        episode.last_attempt = now;
        episode.next_attempt = now + next_in;
        self.stats.attempts += 1;

        self.actions
            .push_back(Action::AddAddresses(self.bootstrap_addresses()));
        let mut candidates: Vec<&(PeerId, Vec<Multiaddr>)> = self
            .bootstrap
            .iter()
            .filter(|(peer, _)| {
                !self.connected_bootstrap.contains(peer) && !self.dialing.contains(peer)
            })
            .collect();
        candidates.shuffle(&mut self.rng);
        candidates.truncate(
            self.config
                .max_parallel_dials
                .saturating_sub(self.dialing.len()),
        );
        let dialed = candidates.len();
        for (peer, addresses) in candidates {
            self.dialing.insert(*peer);
            self.actions.push_back(Action::Dial {
                peer: *peer,
                addresses: addresses.clone(),
            });
        }
        self.stats.dials += dialed as u64;
        self.actions.push_back(Action::Report(Event::Retrying {
            attempt,
            dialed,
            next_in,
        }));
        self.bootstrap_if_degraded(None);
    }

    /// Runs a Kademlia bootstrap and its confirming lookup if recovering and
    /// connected to anyone: at once if none runs, and again when a bootstrap
    /// peer connects afresh (`fresh`) while the running lookup went through
    /// a connection older than the recovery, which may be stale.
    fn bootstrap_if_degraded(&mut self, fresh: Option<PeerId>) {
        let connected = self.health.connected_peers > 0 || !self.connected_bootstrap.is_empty();
        let older = self.connected_bootstrap.iter().next().copied();
        let Some(episode) = &mut self.episode else {
            return;
        };
        if !connected || (episode.bootstrapping && (episode.confirming_fresh || fresh.is_none())) {
            return;
        }
        episode.bootstrapping = true;
        episode.confirming_fresh = fresh.is_some();
        self.actions.push_back(Action::Bootstrap {
            confirm_through: fresh.or(older),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use libp2p_core::multiaddr::Protocol;

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn bootstrap_peers(n: u16) -> Vec<Multiaddr> {
        (0..n)
            .map(|i| {
                format!("/ip4/127.0.0.1/udp/{}/quic-v1", 4000 + i)
                    .parse::<Multiaddr>()
                    .unwrap()
                    .with(Protocol::P2p(PeerId::random()))
            })
            .collect()
    }

    struct Harness {
        recovery: Recovery,
        start: Instant,
        peers: Vec<PeerId>,
    }

    impl Harness {
        fn new(config: Config) -> Self {
            let peers = config.addresses.iter().filter_map(peer_of).collect();
            Self {
                recovery: Recovery::new(config, 3),
                start: Instant::now(),
                peers,
            }
        }

        fn at(&self, offset: Duration) -> Instant {
            self.start + offset
        }

        fn drain(&mut self) -> Vec<Action> {
            std::iter::from_fn(|| self.recovery.poll_action()).collect()
        }

        /// Every dial in `actions` failed, as dials to dead peers do.
        fn fail_dials(&mut self, actions: &[Action]) {
            for action in actions {
                if let Action::Dial { peer, .. } = action {
                    self.recovery.on_dial_failed(*peer, true);
                }
            }
        }

        fn health(
            &mut self,
            connected_peers: usize,
            live_entries: usize,
            at: Duration,
        ) -> Vec<Action> {
            let now = self.at(at);
            self.recovery.on_health(
                Health {
                    connected_peers,
                    live_entries,
                },
                now,
            );
            self.drain()
        }
    }

    fn config() -> Config {
        Config::default().with_bootstrap_addresses(bootstrap_peers(3))
    }

    fn dials(actions: &[Action]) -> usize {
        actions
            .iter()
            .filter(|a| matches!(a, Action::Dial { .. }))
            .count()
    }

    fn has_bootstrap(actions: &[Action]) -> bool {
        actions
            .iter()
            .any(|a| matches!(a, Action::Bootstrap { .. }))
    }

    #[test]
    fn a_lonely_node_dials_its_bootstrap_peers_at_once() {
        let mut h = Harness::new(config());
        let actions = h.health(0, 0, Duration::ZERO);
        assert!(matches!(
            actions[0],
            Action::Report(Event::Degraded {
                reason: Degradation::UnderConnected,
                ..
            })
        ));
        assert!(matches!(&actions[1], Action::AddAddresses(a) if a.len() == 3));
        assert_eq!(dials(&actions), 2, "at most two parallel dials");
        assert!(matches!(
            actions.last(),
            Some(Action::Report(Event::Retrying {
                attempt: 1,
                dialed: 2,
                ..
            }))
        ));
        assert!(!has_bootstrap(&actions), "nobody to bootstrap from yet");
        assert_eq!(h.recovery.stats().dials, 2);
    }

    #[test]
    fn rejoins_once_a_bootstrap_succeeds_and_the_table_has_live_entries() {
        let mut h = Harness::new(config());
        h.health(0, 0, Duration::ZERO);
        h.recovery.on_connected(h.peers[0]);
        let actions = h.drain();
        assert!(actions.iter().any(|a| matches!(
            a,
            Action::Bootstrap { confirm_through: Some(p) } if *p == h.peers[0]
        )));
        // Another connection adds no second bootstrap while one runs.
        h.recovery.on_connected(h.peers[1]);
        assert!(!has_bootstrap(&h.drain()));

        // A lookup that heard from nobody proves nothing.
        h.recovery.health = Health {
            connected_peers: 2,
            live_entries: 2,
        };
        h.recovery.on_lookup(0, h.at(ms(200)));
        assert!(h.drain().is_empty());
        assert!(h.recovery.stats().degraded);
        // The next connection runs another.
        h.recovery.on_connected(h.peers[2]);
        assert!(has_bootstrap(&h.drain()));

        // The lookup found peers, but the table is still empty: not yet.
        h.recovery.health = Health {
            connected_peers: 2,
            live_entries: 0,
        };
        h.recovery.on_lookup(3, h.at(ms(300)));
        assert!(h.drain().is_empty());

        let actions = h.health(2, 5, ms(400));
        assert!(matches!(
            actions[..],
            [Action::Report(Event::Rejoined {
                after,
                attempts: 1,
                connected_peers: 2,
                live_entries: 5,
            })] if after == ms(400)
        ));
        assert!(!h.recovery.stats().degraded);
        assert_eq!(h.recovery.stats().rejoins, 1);
        assert!(h.health(2, 5, ms(1400)).is_empty(), "healthy: quiet");
        assert_eq!(h.recovery.poll_timeout(), None);
    }

    #[test]
    fn no_dial_storm_while_every_bootstrap_peer_is_dead() {
        let config = config();
        let minute = Duration::from_secs(60);
        let bound = config.max_dials_within(minute);
        let mut h = Harness::new(config);
        let actions = h.health(0, 0, Duration::ZERO);
        h.fail_dials(&actions);
        let mut attempt_times = vec![Duration::ZERO];
        while let Some(next) = h.recovery.poll_timeout() {
            let offset = next - h.start;
            if offset > minute {
                break;
            }
            h.recovery.handle_timeout(next);
            let actions = h.drain();
            h.fail_dials(&actions);
            attempt_times.push(offset);
        }
        let dials = h.recovery.stats().dials as usize;
        assert!(dials <= bound, "{dials} dials in a minute, bound {bound}");
        // Each attempt dials the two peers again; none is skipped.
        assert_eq!(dials, attempt_times.len() * 2);
        // The gaps grow to the ceiling and stay within it.
        let gaps: Vec<Duration> = attempt_times.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps.iter().all(|g| *g >= ms(250) && *g <= ms(4000)),
            "{gaps:?}"
        );
        assert!(
            gaps[gaps.len() - 5..].iter().all(|g| *g >= ms(2000)),
            "{gaps:?}"
        );
        // And it keeps trying: about one attempt per 3 s at the ceiling.
        assert!(attempt_times.len() >= 15, "{}", attempt_times.len());
    }

    #[test]
    fn the_default_dial_bound_is_what_the_docs_say() {
        let minute = Config::default().max_dials_within(Duration::from_secs(60));
        assert_eq!(minute, DOCUMENTED_DIALS_PER_MINUTE);
    }

    /// docs/rebootstrap.md states this figure.
    const DOCUMENTED_DIALS_PER_MINUTE: usize = 66;

    #[test]
    fn a_bootstrap_peer_lost_to_a_timeout_degrades_a_healthy_node() {
        let mut h = Harness::new(config());
        h.recovery.on_connected(h.peers[0]);
        assert!(h.health(3, 3, Duration::ZERO).is_empty());

        // A clean close is no reason.
        h.recovery.on_disconnected(h.peers[0], false, h.at(ms(10)));
        assert!(h.drain().is_empty());

        h.recovery.on_connected(h.peers[1]);
        h.recovery.on_disconnected(h.peers[1], true, h.at(ms(20)));
        let actions = h.drain();
        assert!(matches!(
            actions[0],
            Action::Report(Event::Degraded {
                reason: Degradation::BootstrapPeerLost(p),
                ..
            }) if p == h.peers[1]
        ));
        // Still connected to others: it bootstraps through them at once.
        assert!(has_bootstrap(&actions));

        // A peer that is not a bootstrap peer is not watched.
        let mut h = Harness::new(config());
        h.health(3, 3, Duration::ZERO);
        h.recovery
            .on_disconnected(PeerId::random(), true, h.at(ms(5)));
        assert!(h.drain().is_empty());
    }

    #[test]
    fn a_peer_connected_afresh_confirms_past_a_lookup_stuck_on_an_old_connection() {
        let mut h = Harness::new(config());
        h.recovery.on_connected(h.peers[0]);
        h.recovery.on_connected(h.peers[1]);
        h.health(2, 2, Duration::ZERO);
        // peers[1] restarted: its connection timed out; peers[0]'s may be just as stale.
        h.recovery.on_disconnected(h.peers[1], true, h.at(ms(10)));
        let actions = h.drain();
        assert!(actions.iter().any(|a| matches!(
            a,
            Action::Bootstrap { confirm_through: Some(p) } if *p == h.peers[0]
        )));
        // The redial reaches the restarted peer: confirm through it, at once.
        h.recovery.on_connected(h.peers[1]);
        let actions = h.drain();
        assert!(actions.iter().any(|a| matches!(
            a,
            Action::Bootstrap { confirm_through: Some(p) } if *p == h.peers[1]
        )));
        // Only once: a further fresh peer waits for that lookup.
        h.recovery.on_connected(h.peers[2]);
        assert!(!has_bootstrap(&h.drain()));
    }

    #[test]
    fn a_failed_bootstrap_degrades_a_healthy_node_and_is_retried() {
        let mut h = Harness::new(config());
        h.health(3, 3, Duration::ZERO);
        h.recovery.on_bootstrap_failed(h.at(ms(10)));
        let actions = h.drain();
        assert!(matches!(
            actions[0],
            Action::Report(Event::Degraded {
                reason: Degradation::BootstrapFailed,
                ..
            })
        ));
        assert!(has_bootstrap(&actions));
        // Its lookup hears from nobody: the next attempt runs another.
        h.recovery.on_lookup(0, h.at(ms(20)));
        let next = h.recovery.poll_timeout().unwrap();
        h.recovery.handle_timeout(next);
        assert!(has_bootstrap(&h.drain()));
    }

    #[test]
    fn a_dial_in_flight_is_not_repeated_and_a_dropped_one_is_not_counted() {
        let mut h = Harness::new(config());
        let first = h.health(0, 0, Duration::ZERO);
        assert_eq!(dials(&first), 2);
        // A QUIC dial to a stopped peer waits out its handshake: the next
        // attempt comes while both are in flight, and dials neither again.
        let next = h.recovery.poll_timeout().unwrap();
        h.recovery.handle_timeout(next);
        let second = h.drain();
        assert_eq!(dials(&second), 0);
        assert!(second.iter().any(|a| matches!(
            a,
            Action::Report(Event::Retrying {
                attempt: 2,
                dialed: 0,
                ..
            })
        )));
        assert_eq!(h.recovery.stats().dials, 2);
        // The swarm dropped one unsent (someone else's dial to that peer was
        // in flight): it did not happen. The other failed after it was sent.
        let dialed: Vec<PeerId> = first
            .iter()
            .filter_map(|a| match a {
                Action::Dial { peer, .. } => Some(*peer),
                _ => None,
            })
            .collect();
        h.recovery.on_dial_failed(dialed[0], false);
        h.recovery.on_dial_failed(dialed[1], true);
        assert_eq!(h.recovery.stats().dials, 1);
        // Nothing in flight: the next attempt dials both.
        let next = h.recovery.poll_timeout().unwrap();
        h.recovery.handle_timeout(next);
        assert_eq!(dials(&h.drain()), 2);
        assert_eq!(h.recovery.stats().dials, 3);
    }

    #[test]
    fn a_depleted_table_degrades_even_with_connections() {
        let mut h = Harness::new(config());
        let actions = h.health(4, 0, Duration::ZERO);
        assert!(matches!(
            actions[0],
            Action::Report(Event::Degraded {
                reason: Degradation::TableDepleted,
                ..
            })
        ));
    }

    #[test]
    fn a_listen_address_after_none_retries_as_soon_as_the_backoff_allows() {
        let mut h = Harness::new(config());
        let actions = h.health(0, 0, Duration::ZERO);
        h.fail_dials(&actions);
        // Far into the backoff.
        for _ in 0..10 {
            let next = h.recovery.poll_timeout().unwrap();
            h.recovery.handle_timeout(next);
            let actions = h.drain();
            h.fail_dials(&actions);
        }
        // The address comes back 2 s before the jittered next attempt: the
        // retry comes as soon as the backoff's shortest delay allows.
        let last = h.recovery.episode.as_ref().unwrap().last_attempt;
        let shortest = backoff::shortest_delay(&h.recovery.config, 11);
        let late = h.recovery.poll_timeout().unwrap() - h.start;
        let now = late - ms(2000);
        h.recovery.on_listen_addr_after_none(h.at(now));
        let earliest = (last + shortest).max(h.at(now));
        assert_eq!(h.recovery.poll_timeout(), Some(earliest));
        h.recovery.handle_timeout(earliest);
        let actions = h.drain();
        assert_eq!(dials(&actions), 2);
        // The twelfth attempt, not a second first one.
        assert!(matches!(
            actions.last(),
            Some(Action::Report(Event::Retrying { attempt: 12, .. }))
        ));

        // Healthy, a new listen address changes nothing.
        let mut h = Harness::new(config());
        h.health(3, 3, Duration::ZERO);
        h.recovery.on_listen_addr_after_none(h.at(ms(5)));
        assert!(h.drain().is_empty());
    }

    #[test]
    fn the_source_is_asked_at_each_degradation_and_its_list_merged() {
        struct Nothing;
        #[async_trait::async_trait]
        impl crate::BootstrapSource for Nothing {
            async fn bootstrap_addresses(&self) -> Result<Vec<Multiaddr>, crate::SourceError> {
                Ok(Vec::new())
            }
        }
        let mut h = Harness::new(config().with_source(Nothing));
        let actions = h.health(0, 0, Duration::ZERO);
        assert!(actions.iter().any(|a| matches!(a, Action::FetchSource)));

        let extra = bootstrap_peers(2);
        h.recovery.set_bootstrap(extra.clone());
        assert_eq!(
            h.recovery.bootstrap_addresses().len(),
            5,
            "configured and fetched"
        );
        let without_peer: Multiaddr = "/ip4/127.0.0.1/udp/1/quic-v1".parse().unwrap();
        h.recovery.set_bootstrap(vec![without_peer]);
        assert_eq!(
            h.recovery.bootstrap_addresses().len(),
            3,
            "addresses without /p2p are ignored"
        );
    }

    #[test]
    fn invalid_configs_are_typed_errors() {
        use crate::ConfigError;
        let no_peer: Multiaddr = "/ip4/127.0.0.1/udp/1/quic-v1".parse().unwrap();
        let cases = [
            (
                Config::default().with_bootstrap_addresses([no_peer.clone()]),
                ConfigError::MissingPeerId(no_peer),
            ),
            (
                Config::default().with_backoff(Duration::ZERO, ms(1), 0.1),
                ConfigError::ZeroBackoff,
            ),
            (
                Config::default().with_backoff(ms(2), ms(1), 0.1),
                ConfigError::BackoffBoundsInverted {
                    initial: ms(2),
                    max: ms(1),
                },
            ),
            (
                Config::default().with_backoff(ms(1), ms(2), 1.0),
                ConfigError::JitterOutOfRange(1.0),
            ),
            (
                Config::default().with_max_parallel_dials(0),
                ConfigError::ZeroParallelDials,
            ),
            (
                Config::default().with_check_interval(Duration::ZERO),
                ConfigError::ZeroCheckInterval,
            ),
        ];
        for (config, error) in cases {
            assert_eq!(config.validate(), Err(error));
        }
        assert_eq!(Config::default().validate(), Ok(()));
    }
}
