//! The policy's decisions, free of I/O: swarm events and the current time
//! in, actions out. The behaviour and its handlers only translate.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use libp2p_identity::PeerId;
use libp2p_swarm::ConnectionId;
use rand::{rngs::SmallRng, RngExt, SeedableRng};

use crate::{
    config::{Config, Transport},
    event::{Event, Evidence, Reason, Trigger},
    rtt::RttEstimator,
};

/// What the policy knows of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Probes sent on it.
    pub probes_sent: u64,
    /// Probes it answered, late ones included.
    pub probes_answered: u64,
    /// Probes missed since its last answer.
    pub missed_in_a_row: u32,
    /// The smoothed probe round-trip time, once it has answered.
    pub rtt: Option<Duration>,
}

/// Identifies one probe on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ProbeId(pub(crate) u64);

/// What a probe learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProbeOutcome {
    /// The remote answered (negotiated the probe protocol, or refused it),
    /// `rtt` after the stream was requested.
    Answered { rtt: Duration },
    /// The stream was not opened within the handler's timeout.
    Unanswered,
    /// The stream failed.
    Failed(String),
}

/// What the behaviour must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Open a probe stream on the connection; give up after `timeout`.
    Probe {
        peer: PeerId,
        connection: ConnectionId,
        probe: ProbeId,
        timeout: Duration,
    },
    /// Close the connection.
    Close {
        peer: PeerId,
        connection: ConnectionId,
    },
    /// Tell the application.
    Report(Event),
}

#[derive(Debug)]
struct InFlight {
    probe: ProbeId,
    deadline: Instant,
    trigger: Trigger,
}

#[derive(Debug)]
struct Monitored {
    peer: PeerId,
    interval: Option<Duration>,
    rtt: RttEstimator,
    last_alive: Instant,
    last_probe: Option<Instant>,
    next_probe: Option<(Instant, Trigger)>,
    in_flight: Option<InFlight>,
    missed: u32,
    sent: u64,
    answered: u64,
    /// What started the current run of misses.
    suspicion: Option<Trigger>,
    pruned: bool,
}

impl Monitored {
    fn evidence(&self, now: Instant, trigger: Trigger) -> Evidence {
        Evidence {
            missed_probes: self.missed,
            rtt: self.rtt.smoothed(),
            silent_for: now.saturating_duration_since(self.last_alive),
            trigger,
        }
    }

    fn wakeup(&self) -> Option<Instant> {
        let deadline = self.in_flight.as_ref().map(|p| p.deadline);
        let probe = self.next_probe.map(|(at, _)| at);
        match (deadline, probe) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Every monitored connection and the actions decided for them.
pub(crate) struct Monitor {
    config: Config,
    connections: HashMap<ConnectionId, Monitored>,
    actions: VecDeque<Action>,
    rng: SmallRng,
    next_probe_id: u64,
}

impl Monitor {
    /// `config` must be valid; `seed` drives the jitter.
    pub(crate) fn new(config: Config, seed: u64) -> Self {
        Self {
            config,
            connections: HashMap::new(),
            actions: VecDeque::new(),
            rng: SmallRng::seed_from_u64(seed),
            next_probe_id: 0,
        }
    }

    pub(crate) fn on_established(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        transport: Transport,
        now: Instant,
    ) {
        let interval = self.config.probe_interval(transport);
        let next_probe = interval.map(|i| {
            (
                now + jittered(&mut self.rng, self.config.jitter, i),
                Trigger::Schedule,
            )
        });
        if self.config.probe_older_duplicates {
            let older: Vec<ConnectionId> = self
                .connections
                .iter()
                .filter(|(_, m)| m.peer == peer)
                .map(|(id, _)| *id)
                .collect();
            for id in older {
                self.trigger(id, Trigger::NewerConnection, now);
            }
        }
        self.connections.insert(
            connection,
            Monitored {
                peer,
                interval,
                rtt: RttEstimator::default(),
                last_alive: now,
                last_probe: None,
                next_probe,
                in_flight: None,
                missed: 0,
                sent: 0,
                answered: 0,
                suspicion: None,
                pruned: false,
            },
        );
    }

    /// The connection closed, with `error` if it failed.
    pub(crate) fn on_closed(
        &mut self,
        connection: ConnectionId,
        error: Option<String>,
        now: Instant,
    ) {
        let Some(monitored) = self.connections.remove(&connection) else {
            return;
        };
        if monitored.pruned {
            return;
        }
        if let (Some(probe), Some(error)) = (&monitored.in_flight, error) {
            self.actions.push_back(Action::Report(Event::Pruned {
                peer: monitored.peer,
                connection,
                reason: Reason::ProbeFailed(error),
                evidence: monitored.evidence(now, probe.trigger),
            }));
        }
    }

    /// Probes `connection` as soon as the minimum gap allows. Returns whether it is monitored.
    pub(crate) fn suspect(&mut self, connection: ConnectionId, now: Instant) -> bool {
        self.trigger(connection, Trigger::Suspect, now)
    }

    pub(crate) fn on_probe_outcome(
        &mut self,
        connection: ConnectionId,
        probe: ProbeId,
        outcome: ProbeOutcome,
        now: Instant,
    ) {
        let Some(monitored) = self.connections.get_mut(&connection) else {
            return;
        };
        if monitored.pruned {
            return;
        }
        let current = monitored
            .in_flight
            .as_ref()
            .is_some_and(|p| p.probe == probe);
        match outcome {
            // A late answer to a probe already counted as missed still proves the remote alive.
            ProbeOutcome::Answered { rtt } => {
                monitored.rtt.on_sample(rtt);
                monitored.answered += 1;
                if current {
                    monitored.in_flight = None;
                }
                if monitored.missed > 0 {
                    let trigger = monitored.suspicion.unwrap_or(Trigger::Schedule);
                    self.actions.push_back(Action::Report(Event::Recovered {
                        peer: monitored.peer,
                        connection,
                        evidence: monitored.evidence(now, trigger),
                    }));
                }
                monitored.last_alive = now;
                monitored.missed = 0;
                monitored.suspicion = None;
                if monitored.in_flight.is_none() {
                    monitored.next_probe = monitored.interval.map(|i| {
                        (
                            now + jittered(&mut self.rng, self.config.jitter, i),
                            Trigger::Schedule,
                        )
                    });
                }
            }
            ProbeOutcome::Unanswered | ProbeOutcome::Failed(_) if current => {
                self.miss(connection, now);
            }
            // Outcomes of probes already counted as missed.
            ProbeOutcome::Unanswered | ProbeOutcome::Failed(_) => {}
        }
    }

    /// Acts on every deadline and probe time up to `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<ConnectionId> = self
            .connections
            .iter()
            .filter(|(_, m)| m.wakeup().is_some_and(|at| at <= now))
            .map(|(id, _)| *id)
            .collect();
        for connection in due {
            let monitored = &self.connections[&connection];
            if monitored
                .in_flight
                .as_ref()
                .is_some_and(|p| p.deadline <= now)
            {
                self.miss(connection, now);
            }
            let monitored = &self.connections[&connection];
            if monitored.in_flight.is_none() {
                if let Some((at, trigger)) = monitored.next_probe {
                    if at <= now {
                        self.send_probe(connection, trigger, now);
                    }
                }
            }
        }
    }

    /// When `handle_timeout` must next be called.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.connections
            .values()
            .filter_map(Monitored::wakeup)
            .min()
    }

    pub(crate) fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub(crate) fn stats(&self, connection: ConnectionId) -> Option<ConnectionStats> {
        let monitored = self.connections.get(&connection)?;
        Some(ConnectionStats {
            probes_sent: monitored.sent,
            probes_answered: monitored.answered,
            missed_in_a_row: monitored.missed,
            rtt: monitored.rtt.smoothed(),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.connections.len()
    }

    fn trigger(&mut self, connection: ConnectionId, trigger: Trigger, now: Instant) -> bool {
        let gap = self.config.min_probe_gap;
        let Some(monitored) = self.connections.get_mut(&connection) else {
            return false;
        };
        // A probe in flight will answer or miss; a pruned connection is on its way out.
        if monitored.pruned || monitored.in_flight.is_some() {
            return true;
        }
        let earliest = monitored
            .last_probe
            .map_or(now, |last| (last + gap).max(now));
        if monitored.next_probe.is_none_or(|(at, _)| earliest < at) {
            monitored.next_probe = Some((earliest, trigger));
        }
        true
    }

    fn send_probe(&mut self, connection: ConnectionId, trigger: Trigger, now: Instant) {
        let probe = ProbeId(self.next_probe_id);
        self.next_probe_id += 1;
        let (min, max) = (self.config.min_probe_timeout, self.config.max_probe_timeout);
        let monitored = self
            .connections
            .get_mut(&connection)
            .expect("called for a monitored connection");
        let trigger = monitored.suspicion.unwrap_or(trigger);
        monitored.in_flight = Some(InFlight {
            probe,
            deadline: now + monitored.rtt.timeout(min, max),
            trigger,
        });
        monitored.last_probe = Some(now);
        monitored.next_probe = None;
        monitored.sent += 1;
        self.actions.push_back(Action::Probe {
            peer: monitored.peer,
            connection,
            probe,
            // Longer than the deadline, so a late answer still arrives and teaches the RTT.
            timeout: max * 2,
        });
    }

    fn miss(&mut self, connection: ConnectionId, now: Instant) {
        let (max_strikes, gap) = (self.config.max_strikes, self.config.min_probe_gap);
        let monitored = self
            .connections
            .get_mut(&connection)
            .expect("called for a monitored connection");
        let Some(probe) = monitored.in_flight.take() else {
            return;
        };
        monitored.missed += 1;
        let trigger = *monitored.suspicion.get_or_insert(probe.trigger);
        let evidence = monitored.evidence(now, trigger);
        let peer = monitored.peer;
        if monitored.missed >= max_strikes {
            monitored.pruned = true;
            monitored.next_probe = None;
            tracing::debug!(%peer, ?connection, ?evidence, "pruning an unresponsive connection");
            self.actions.push_back(Action::Close { peer, connection });
            self.actions.push_back(Action::Report(Event::Pruned {
                peer,
                connection,
                reason: Reason::Unresponsive,
                evidence,
            }));
        } else {
            let retry = monitored
                .last_probe
                .map_or(now, |last| (last + gap).max(now));
            monitored.next_probe = Some((retry, trigger));
            self.actions.push_back(Action::Report(Event::Suspected {
                peer,
                connection,
                evidence,
            }));
        }
    }
}

/// `interval` stretched or shrunk by up to `jitter` (a fraction) either way.
fn jittered(rng: &mut SmallRng, jitter: f64, interval: Duration) -> Duration {
    if jitter == 0.0 {
        return interval;
    }
    interval.mul_f64(1.0 + rng.random_range(-jitter..=jitter))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(4);
    const MIN_TIMEOUT: Duration = Duration::from_secs(1);
    const MAX_TIMEOUT: Duration = Duration::from_secs(5);
    const GAP: Duration = Duration::from_millis(100);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Defaults with a 4 s WebRTC interval and no jitter, so that every time is exact.
    fn config() -> Config {
        Config::default()
            .with_jitter(0.0)
            .with_probe_interval(Transport::WebRtc, Some(INTERVAL))
    }

    struct Harness {
        monitor: Monitor,
        start: Instant,
        peers: HashMap<ConnectionId, PeerId>,
    }

    impl Harness {
        fn new(config: Config) -> Self {
            Self {
                monitor: Monitor::new(config, 7),
                start: Instant::now(),
                peers: HashMap::new(),
            }
        }

        fn peer(&self, connection: ConnectionId) -> PeerId {
            self.peers[&connection]
        }

        fn at(&self, offset: Duration) -> Instant {
            self.start + offset
        }

        /// A connection to a peer of its own.
        fn establish(&mut self, id: usize, transport: Transport, at: Duration) -> ConnectionId {
            self.establish_to(PeerId::random(), id, transport, at)
        }

        fn establish_to(
            &mut self,
            peer: PeerId,
            id: usize,
            transport: Transport,
            at: Duration,
        ) -> ConnectionId {
            let connection = ConnectionId::new_unchecked(id);
            self.peers.insert(connection, peer);
            self.monitor
                .on_established(peer, connection, transport, self.at(at));
            connection
        }

        /// Runs timeouts up to `at`, in order, and returns every action taken.
        fn run_until(&mut self, at: Duration) -> Vec<Action> {
            let end = self.at(at);
            let mut actions = self.drain();
            while let Some(next) = self.monitor.poll_timeout().filter(|t| *t <= end) {
                self.monitor.handle_timeout(next);
                actions.extend(self.drain());
            }
            actions
        }

        fn drain(&mut self) -> Vec<Action> {
            std::iter::from_fn(|| self.monitor.poll_action()).collect()
        }

        fn answer(
            &mut self,
            connection: ConnectionId,
            probe: ProbeId,
            rtt: Duration,
            at: Duration,
        ) {
            let now = self.at(at);
            self.monitor
                .on_probe_outcome(connection, probe, ProbeOutcome::Answered { rtt }, now);
        }
    }

    fn probes(actions: &[Action]) -> Vec<(ConnectionId, ProbeId)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Probe {
                    connection, probe, ..
                } => Some((*connection, *probe)),
                _ => None,
            })
            .collect()
    }

    fn events(actions: &[Action]) -> Vec<&Event> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Report(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn webrtc_is_probed_on_schedule_and_quic_is_not_by_default() {
        let mut h = Harness::new(config());
        let webrtc = h.establish(1, Transport::WebRtc, Duration::ZERO);
        let _quic = h.establish(2, Transport::Quic, Duration::ZERO);
        assert_eq!(h.monitor.poll_timeout(), Some(h.at(INTERVAL)));

        assert!(h.run_until(INTERVAL - ms(1)).is_empty());
        let actions = h.run_until(INTERVAL);
        assert_eq!(probes(&actions), vec![(webrtc, ProbeId(0))]);

        // Answered: the next probe comes one interval after the answer.
        h.answer(webrtc, ProbeId(0), ms(3), INTERVAL + ms(3));
        assert_eq!(
            h.monitor.stats(webrtc),
            Some(ConnectionStats {
                probes_sent: 1,
                probes_answered: 1,
                missed_in_a_row: 0,
                rtt: Some(ms(3)),
            })
        );
        assert_eq!(h.monitor.poll_timeout(), Some(h.at(INTERVAL * 2 + ms(3))));
        // Unanswered from then on: the scheduled probe and two retries, then the prune.
        let actions = h.run_until(INTERVAL * 10);
        assert_eq!(probes(&actions).len(), 3);
        assert!(actions.contains(&Action::Close {
            peer: h.peer(webrtc),
            connection: webrtc
        }));
    }

    #[test]
    fn jitter_spreads_probes_within_its_bounds() {
        let mut h = Harness::new(config().with_jitter(0.2));
        for id in 0..200 {
            h.establish(id, Transport::WebRtc, Duration::ZERO);
        }
        let mut first_probes = Vec::new();
        while let Some(next) = h.monitor.poll_timeout() {
            if next > h.at(INTERVAL * 2) {
                break;
            }
            h.monitor.handle_timeout(next);
            if !probes(&h.drain()).is_empty() {
                first_probes.push(next - h.start);
            }
            // Leave every probe unanswered: its deadline is after the window.
            if first_probes.len() == 200 {
                break;
            }
        }
        let (lo, hi) = (INTERVAL.mul_f64(0.8), INTERVAL.mul_f64(1.2));
        assert!(first_probes.iter().all(|t| *t >= lo && *t <= hi));
        let spread = *first_probes.iter().max().unwrap() - *first_probes.iter().min().unwrap();
        assert!(spread > INTERVAL / 4, "probes not spread: {spread:?}");
    }

    #[test]
    fn three_misses_prune_with_evidence_and_retries_go_out_at_once() {
        let mut h = Harness::new(config());
        let c = h.establish(1, Transport::WebRtc, Duration::ZERO);
        let actions = h.run_until(INTERVAL);
        let (_, first) = probes(&actions)[0];
        h.answer(c, first, ms(10), INTERVAL + ms(10));

        // The connection dies now; the next probe goes out one interval later.
        let second_at = INTERVAL * 2 + ms(10);
        let actions = h.run_until(second_at);
        assert_eq!(probes(&actions).len(), 1);

        // With a 10 ms RTT the timeout is the 1 s minimum: a miss every second,
        // each followed by a new probe at once.
        let actions = h.run_until(second_at + MIN_TIMEOUT);
        assert_eq!(probes(&actions).len(), 1);
        assert!(matches!(
            events(&actions)[..],
            [Event::Suspected {
                evidence: Evidence {
                    missed_probes: 1,
                    ..
                },
                ..
            }]
        ));
        let actions = h.run_until(second_at + MIN_TIMEOUT * 2);
        assert_eq!(probes(&actions).len(), 1);

        let actions = h.run_until(second_at + MIN_TIMEOUT * 3);
        assert!(actions.contains(&Action::Close {
            peer: h.peer(c),
            connection: c
        }));
        assert_eq!(
            events(&actions),
            vec![&Event::Pruned {
                peer: h.peer(c),
                connection: c,
                reason: Reason::Unresponsive,
                evidence: Evidence {
                    missed_probes: 3,
                    rtt: Some(ms(10)),
                    silent_for: second_at + MIN_TIMEOUT * 3 - (INTERVAL + ms(10)),
                    trigger: Trigger::Schedule,
                },
            }]
        );
        // Nothing more for a pruned connection, until and after it closes.
        assert!(h.run_until(INTERVAL * 100).is_empty());
        h.monitor.on_closed(c, None, h.at(INTERVAL * 100));
        assert!(h.drain().is_empty());
        assert_eq!(h.monitor.len(), 0);
    }

    #[test]
    fn before_any_answer_a_probe_waits_the_maximum_timeout() {
        let mut h = Harness::new(config());
        let _c = h.establish(1, Transport::WebRtc, Duration::ZERO);
        h.run_until(INTERVAL);
        assert!(h.run_until(INTERVAL + MAX_TIMEOUT - ms(1)).is_empty());
        let actions = h.run_until(INTERVAL + MAX_TIMEOUT);
        assert!(matches!(events(&actions)[..], [Event::Suspected { .. }]));
    }

    #[test]
    fn the_timeout_follows_the_rtt() {
        let mut h = Harness::new(config());
        let c = h.establish(1, Transport::WebRtc, Duration::ZERO);
        let mut now = Duration::ZERO;
        for _ in 0..20 {
            let next = h.monitor.poll_timeout().unwrap() - h.start;
            let actions = h.run_until(next);
            let (_, probe) = probes(&actions)[0];
            now = next + ms(600);
            h.answer(c, probe, ms(600), now);
        }
        // 600 ms RTT: the deadline is about 3 RTTs after the probe, not the 1 s minimum.
        let next = h.monitor.poll_timeout().unwrap() - h.start;
        assert_eq!(next, now + INTERVAL);
        h.run_until(next);
        assert!(h.run_until(next + ms(1700)).is_empty(), "missed too early");
        assert!(!h.run_until(next + MAX_TIMEOUT).is_empty());
    }

    #[test]
    fn one_slow_answer_is_not_death() {
        let mut h = Harness::new(config());
        let c = h.establish(1, Transport::WebRtc, Duration::ZERO);
        let actions = h.run_until(INTERVAL);
        let (_, first) = probes(&actions)[0];
        h.answer(c, first, ms(5), INTERVAL + ms(5));

        let second_at = INTERVAL * 2 + ms(5);
        let actions = h.run_until(second_at);
        let (_, slow) = probes(&actions)[0];
        // Missed once, and a retry goes out.
        let actions = h.run_until(second_at + MIN_TIMEOUT);
        assert!(matches!(events(&actions)[..], [Event::Suspected { .. }]));
        let (_, retry) = probes(&actions)[0];
        // The slow probe's late answer proves the connection alive.
        h.answer(c, slow, ms(1500), second_at + ms(1500));
        let actions = h.drain();
        assert!(matches!(
            events(&actions)[..],
            [Event::Recovered {
                evidence: Evidence {
                    missed_probes: 1,
                    ..
                },
                ..
            }]
        ));
        // The retry in flight answers too: back on the schedule, no prune.
        let answered = second_at + ms(1505);
        h.answer(c, retry, ms(5), answered);
        assert!(h.drain().is_empty());
        assert_eq!(h.monitor.poll_timeout(), Some(h.at(answered + INTERVAL)));
    }

    #[test]
    fn a_failed_probe_is_a_miss_at_once() {
        let mut h = Harness::new(config());
        let c = h.establish(1, Transport::WebRtc, Duration::ZERO);
        let actions = h.run_until(INTERVAL);
        let (_, probe) = probes(&actions)[0];
        h.monitor.on_probe_outcome(
            c,
            probe,
            ProbeOutcome::Failed("stream reset".into()),
            h.at(INTERVAL + ms(2)),
        );
        let actions = h.run_until(INTERVAL + ms(2) + GAP);
        assert!(matches!(events(&actions)[..], [Event::Suspected { .. }]));
        assert_eq!(probes(&actions).len(), 1, "retried after the minimum gap");
    }

    #[test]
    fn a_newer_connection_gets_the_older_probed_at_once() {
        let mut h = Harness::new(config());
        let old = h.establish(1, Transport::Quic, Duration::ZERO);
        assert_eq!(
            h.monitor.poll_timeout(),
            None,
            "QUIC is not probed on a schedule"
        );

        let new = h.establish_to(h.peer(old), 2, Transport::Quic, ms(500));
        let actions = h.run_until(ms(500));
        assert_eq!(probes(&actions), vec![(old, ProbeId(0))]);

        // Unanswered (the peer restarted): pruned after three timeouts.
        let actions = h.run_until(ms(500) + MAX_TIMEOUT * 3);
        let pruned = events(&actions)
            .into_iter()
            .find(|e| matches!(e, Event::Pruned { .. }))
            .expect("pruned");
        assert!(matches!(
            pruned,
            Event::Pruned {
                connection,
                evidence: Evidence { trigger: Trigger::NewerConnection, missed_probes: 3, .. },
                ..
            } if *connection == old
        ));
        assert!(
            probes(&actions).iter().all(|(c, _)| *c == old),
            "the new one is left alone"
        );
        let _ = new;
    }

    #[test]
    fn duplicates_are_left_alone_when_configured_so() {
        let mut h = Harness::new(config().with_probe_older_duplicates(false));
        let first = h.establish(1, Transport::Quic, Duration::ZERO);
        h.establish_to(h.peer(first), 2, Transport::Quic, ms(1));
        assert!(h.run_until(INTERVAL * 10).is_empty());
    }

    #[test]
    fn suspect_probes_at_once_but_never_faster_than_the_gap() {
        let mut h = Harness::new(config());
        let c = h.establish(1, Transport::Tcp, Duration::ZERO);
        assert!(h.monitor.suspect(c, h.at(ms(10))));
        let actions = h.run_until(ms(10));
        let (_, probe) = probes(&actions)[0];

        // While that probe is in flight, more suspicion adds no probe.
        assert!(h.monitor.suspect(c, h.at(ms(11))));
        assert!(h.run_until(ms(12)).is_empty());

        h.answer(c, probe, ms(2), ms(12));
        assert!(h.monitor.suspect(c, h.at(ms(13))));
        assert!(h.run_until(ms(10) + GAP - ms(1)).is_empty(), "rate-limited");
        assert_eq!(probes(&h.run_until(ms(10) + GAP)).len(), 1);

        assert!(!h
            .monitor
            .suspect(ConnectionId::new_unchecked(99), h.at(ms(20))));
    }

    #[test]
    fn a_connection_closed_mid_probe_is_forgotten() {
        let mut h = Harness::new(config());
        let c = h.establish(1, Transport::WebRtc, Duration::ZERO);
        let actions = h.run_until(INTERVAL);
        let (_, probe) = probes(&actions)[0];

        h.monitor.on_closed(c, None, h.at(INTERVAL + ms(1)));
        assert!(
            h.drain().is_empty(),
            "a clean close while probing is no verdict"
        );
        h.answer(c, probe, ms(1), INTERVAL + ms(2));
        h.monitor
            .on_probe_outcome(c, probe, ProbeOutcome::Unanswered, h.at(INTERVAL * 2));
        assert!(h.run_until(INTERVAL * 10).is_empty());
        assert_eq!(h.monitor.poll_timeout(), None);
        assert_eq!(h.monitor.len(), 0);
    }

    #[test]
    fn a_connection_that_fails_under_a_probe_is_reported_pruned() {
        let mut h = Harness::new(config());
        let c = h.establish(1, Transport::WebRtc, Duration::ZERO);
        h.run_until(INTERVAL);
        let error = "Sctp(ErrPayloadDataStateNotExist)".to_owned();
        h.monitor
            .on_closed(c, Some(error.clone()), h.at(INTERVAL + ms(1)));
        assert_eq!(
            events(&h.drain()),
            vec![&Event::Pruned {
                peer: h.peer(c),
                connection: c,
                reason: Reason::ProbeFailed(error),
                evidence: Evidence {
                    missed_probes: 0,
                    rtt: None,
                    silent_for: INTERVAL + ms(1),
                    trigger: Trigger::Schedule,
                },
            }]
        );
        // Failing while no probe is out is not the policy's doing.
        let d = h.establish(2, Transport::WebRtc, INTERVAL * 2);
        h.monitor
            .on_closed(d, Some("reset".into()), h.at(INTERVAL * 2 + ms(1)));
        assert!(h.drain().is_empty());
    }

    #[test]
    fn a_dead_connection_is_pruned_within_the_detection_bound() {
        for config in [Config::default(), Config::aggressive()] {
            for seed in 0..50 {
                let mut h = Harness::new(config.clone());
                h.monitor = Monitor::new(config.clone(), seed);
                let c = h.establish(1, Transport::WebRtc, Duration::ZERO);
                // Dead from the start: nothing ever answers.
                let bound = config.detection_bound(Transport::WebRtc).unwrap();
                let actions = h.run_until(bound);
                assert!(
                    actions.contains(&Action::Close {
                        peer: h.peer(c),
                        connection: c
                    }),
                    "seed {seed}: not pruned within {bound:?}"
                );
            }
        }
    }
}
