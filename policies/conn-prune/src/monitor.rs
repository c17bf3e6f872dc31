//! The policy's decisions, free of I/O: swarm events, probe outcomes and the
//! current time in, actions out. The behaviour and its handlers only
//! translate; each handler's [`crate::prober::Prober`] keeps its connection's
//! probe schedule and deadlines, and this core judges what they report.
//!
//! Cost: one record per connection in a hash map, an index of connections by
//! peer (a chain through the records), and a heap of the few timers a
//! connection needs here (an on-demand probe to ask again). Nothing walks all
//! connections: an event touches its connection (and its peer's others), a
//! timer pops only what is due.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap, VecDeque},
    hash::{BuildHasher, RandomState},
    time::{Duration, Instant},
};

use hashbrown::HashTable;
use libp2p_identity::PeerId;
use libp2p_swarm::ConnectionId;
use rand::{rngs::SmallRng, RngExt, SeedableRng};

use crate::{
    config::{Config, Transport},
    event::{ConnectionFailure, Event, Evidence, Overload, Reason, Trigger},
    rtt::RttEstimator,
};

/// What the policy knows of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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

/// What a handler reports of a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProbeOutcome {
    /// Not an outcome: a new probe stream is being opened. Opening a stream
    /// is what makes a transport that knew the connection dead close it, so
    /// a close with an error meanwhile is the probe's finding.
    Opening,
    /// The remote answered: echoed a ping, negotiated the probe protocol or
    /// refused it (`rtt` after the probe started), or reset or ended the
    /// probe stream (`rtt: None`: a reset may come from any layer, at any
    /// speed, but only from a live remote). Late answers included.
    Answered { rtt: Option<Duration> },
    /// No answer by the probe's deadline, judged `late_by` after the
    /// deadline: the lateness of this connection's own task.
    Unanswered { late_by: Duration },
    /// The probe was never sent or could not be read: refused or failed on
    /// this side (a stream limit, the muxer), or the muxer did not grant a
    /// stream before the deadline. Evidence of nothing about the remote.
    Failed(String),
}

/// What the behaviour must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Ask the connection's handler for a probe now (rare: scheduled probes
    /// need no message).
    Probe {
        peer: PeerId,
        connection: ConnectionId,
        trigger: Trigger,
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
struct Monitored {
    peer: PeerId,
    /// The next older connection to the same peer: the peer index is a chain
    /// from its newest connection (`Monitor::peers`) through these.
    older: Option<ConnectionId>,
    rtt: RttEstimator,
    last_alive: Instant,
    answered: u64,
    sent: u32,
    missed: u32,
    /// Bumped to cancel the connection's entry in the timer heap.
    timer: u32,
    /// The trigger of an on-demand probe that told nothing, to ask again.
    again: Option<Trigger>,
    /// Whether its handler probes it on a schedule.
    scheduled: bool,
    /// Whether its transport reports a close of its own (QUIC, TCP): then a
    /// close while a probe opens is the transport's news, not the probe's.
    closes_itself: bool,
    /// An on-demand probe was asked for and no outcome came since.
    requested: bool,
    /// A probe stream is being opened, for this trigger.
    opening: Option<Trigger>,
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
}

/// Connections missing probes at once that are still each judged on their
/// own, whatever the node's size: a few peers do fail together.
const MIN_MASS_SILENCE: usize = 8;

/// Whether this node runs its own loop on time, and so can judge its peers.
///
/// Two signals say it does not:
/// - **Its own timers run late.** The behaviour's timer (a heartbeat, at
///   least every `period`) and each handler's probe deadline: a timer
///   handled `lag` after it was due means the node ran nothing of ours for
///   `lag`, and an answer that arrived meanwhile may still be unread. The
///   heartbeat's period, half the minimum timeout, makes any stall long
///   enough to hide an answer from a probe's timeout show as a late
///   heartbeat. One timer late by more than `tolerance` (a quarter of the
///   minimum probe timeout) is enough.
/// - **Many connections miss at once while some answer late.** A node whose
///   socket is read late (its CPU saturated with thousands of connections)
///   runs its timers on time and still misses answers, on many connections
///   together. More than a tenth of the connections silent (at least
///   [`MIN_MASS_SILENCE`]) while a suspected connection answered late within
///   `hold` is that; a real mass death (peers restarting together) answers
///   nothing late, so it is judged as usual.
///
/// Either stops every verdict until `hold` (twice the maximum probe
/// timeout, longer than any probe waits) has passed with no timer late and
/// no suspected connection answering late.
#[derive(Debug)]
struct Load {
    period: Duration,
    tolerance: Duration,
    hold: Duration,
    heartbeat: Option<Instant>,
    overloaded_until: Option<Instant>,
    last_late_answer: Option<Instant>,
}

impl Load {
    fn new(config: &Config) -> Self {
        Self {
            period: config.min_probe_timeout / 2,
            tolerance: config.min_probe_timeout / 4,
            hold: config.max_probe_timeout * 2,
            heartbeat: None,
            overloaded_until: None,
            last_late_answer: None,
        }
    }

    fn overloaded(&self, now: Instant) -> bool {
        self.overloaded_until.is_some_and(|until| now < until)
    }

    /// Stops judging until `hold` from `now`; the event if it was on.
    fn hold(&mut self, cause: Overload, now: Instant) -> Option<Event> {
        let started = !self.overloaded(now);
        self.overloaded_until = Some(now + self.hold);
        if started {
            tracing::debug!(?cause, "this node is overloaded: judging stops");
            return Some(Event::Overloaded {
                cause,
                hold: self.hold,
            });
        }
        None
    }

    /// A timer of ours ran `lag` after it was due. Returns the event to
    /// report when judging stops.
    fn on_lag(&mut self, lag: Duration, now: Instant) -> Option<Event> {
        if lag <= self.tolerance {
            return None;
        }
        self.hold(Overload::LateTimer { late_by: lag }, now)
    }

    /// A connection that had missed probes answered.
    fn on_late_answer(&mut self, now: Instant) {
        self.last_late_answer = Some(now);
        if self.overloaded(now) {
            self.overloaded_until = Some(now + self.hold);
        }
    }

    /// A miss would make `silent` of `monitored` connections missing probes.
    /// Returns the event to report when judging stops; whether to judge the
    /// miss is then [`Self::overloaded`]'s to say.
    fn on_silence(&mut self, silent: usize, monitored: usize, now: Instant) -> Option<Event> {
        let many = silent > MIN_MASS_SILENCE.max(monitored / 10);
        let answering_late = self
            .last_late_answer
            .is_some_and(|at| now.saturating_duration_since(at) < self.hold);
        if many && answering_late {
            return self.hold(Overload::ManySilent { silent, monitored }, now);
        }
        None
    }
}

/// Every monitored connection and the actions decided for them.
pub(crate) struct Monitor {
    config: Config,
    /// Boxed: a map's spare slots then cost a pointer each, not a connection.
    connections: HashMap<ConnectionId, Box<Monitored>>,
    /// Each peer's newest connection; the others chain from it. Found by
    /// the hash of the peer's id and checked against the id its connection
    /// keeps: a map keyed by `PeerId` would keep a second copy of every id,
    /// and room for more.
    peers: HashTable<ConnectionId>,
    /// Keyed per node: peers choose their ids.
    peer_hasher: RandomState,
    /// Timers of connections: when to ask again for an on-demand probe that
    /// told nothing. Deleted lazily: an entry whose `timer` no longer matches
    /// its connection's is skipped.
    timers: BinaryHeap<Reverse<(Instant, ConnectionId, u32)>>,
    load: Load,
    /// Connections with a miss since their last answer, not yet pruned.
    silent: usize,
    actions: VecDeque<Action>,
    rng: SmallRng,
}

impl Monitor {
    /// `config` must be valid; `seed` drives the handlers' seeds.
    pub(crate) fn new(config: Config, seed: u64) -> Self {
        Self {
            load: Load::new(&config),
            config,
            connections: HashMap::new(),
            peers: HashTable::new(),
            peer_hasher: RandomState::new(),
            timers: BinaryHeap::new(),
            silent: 0,
            actions: VecDeque::new(),
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// A seed for a new handler's jitter.
    pub(crate) fn handler_seed(&mut self) -> u64 {
        self.rng.random()
    }

    pub(crate) fn on_established(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        transport: Transport,
        now: Instant,
    ) {
        let hash = self.peer_hasher.hash_one(peer);
        let connections = &self.connections;
        let newest = (self.peers).find_mut(hash, |id| {
            connections.get(id).is_some_and(|m| m.peer == peer)
        });
        let older = newest.map(|newest| std::mem::replace(newest, connection));
        if self.config.probe_older_duplicates {
            let mut next = older;
            while let Some(id) = next {
                next = self.connections.get(&id).and_then(|m| m.older);
                self.trigger(id, Trigger::NewerConnection);
            }
        }
        self.connections.insert(
            connection,
            Box::new(Monitored {
                peer,
                older,
                rtt: RttEstimator::default(),
                last_alive: now,
                answered: 0,
                sent: 0,
                missed: 0,
                timer: 0,
                again: None,
                scheduled: self.config.probe_interval(transport).is_some(),
                closes_itself: matches!(transport, Transport::Quic | Transport::Tcp),
                requested: false,
                opening: None,
                suspicion: None,
                pruned: false,
            }),
        );
        if older.is_none() {
            let (connections, hasher) = (&self.connections, &self.peer_hasher);
            // Every head has its entry (`unlink` runs as it goes).
            (self.peers).insert_unique(hash, connection, |id| {
                connections.get(id).map_or(0, |m| hasher.hash_one(m.peer))
            });
        }
        if self.load.heartbeat.is_none() {
            self.load.heartbeat = Some(now + self.load.period);
        }
    }

    /// The connection closed, with `error` if it failed.
    pub(crate) fn on_closed(
        &mut self,
        connection: ConnectionId,
        error: Option<ConnectionFailure>,
        now: Instant,
    ) {
        let Some(monitored) = self.connections.remove(&connection) else {
            return;
        };
        self.unlink(connection, &monitored);
        if monitored.missed > 0 && !monitored.pruned {
            self.silent -= 1;
        }
        if self.connections.is_empty() {
            self.load.heartbeat = None;
        }
        if monitored.pruned {
            return;
        }
        if monitored.closes_itself {
            return;
        }
        if let (Some(trigger), Some(error)) = (monitored.opening, error) {
            self.actions.push_back(Action::Report(Event::Pruned {
                peer: monitored.peer,
                connection,
                reason: Reason::ProbeFailed(error),
                evidence: monitored.evidence(now, monitored.suspicion.unwrap_or(trigger)),
            }));
        }
    }

    /// Removes `connection` from its peer's chain.
    fn unlink(&mut self, connection: ConnectionId, monitored: &Monitored) {
        let hash = self.peer_hasher.hash_one(monitored.peer);
        let connections = &self.connections;
        // `connection` is out of `connections` already: it names its head.
        let is_peers = |id: &ConnectionId| {
            *id == connection
                || connections
                    .get(id)
                    .is_some_and(|m| m.peer == monitored.peer)
        };
        let Ok(mut head) = self.peers.find_entry(hash, is_peers) else {
            return;
        };
        if *head.get() == connection {
            match monitored.older {
                Some(older) => *head.get_mut() = older,
                None => {
                    head.remove();
                }
            }
            return;
        }
        let mut at = *head.get();
        while let Some(m) = self.connections.get_mut(&at) {
            match m.older {
                Some(next) if next == connection => {
                    m.older = monitored.older;
                    return;
                }
                Some(next) => at = next,
                None => return,
            }
        }
    }

    /// Probes `connection` as soon as the minimum gap allows. Returns whether it is monitored.
    pub(crate) fn suspect(&mut self, connection: ConnectionId) -> bool {
        self.trigger(connection, Trigger::Suspect)
    }

    /// A handler's report on a probe of `connection`, started for `trigger`;
    /// `sent` counts the probes the handler started in all.
    pub(crate) fn on_probe_outcome(
        &mut self,
        connection: ConnectionId,
        trigger: Trigger,
        outcome: ProbeOutcome,
        sent: u32,
        now: Instant,
    ) {
        let (max_strikes, retry_after) = (self.config.max_strikes, self.config.max_probe_timeout);
        if let ProbeOutcome::Unanswered { late_by } = outcome {
            // The handler's deadline is a timer of this node too.
            if let Some(event) = self.load.on_lag(late_by, now) {
                self.actions.push_back(Action::Report(event));
            }
        }
        let monitored_connections = self.connections.len();
        let Some(monitored) = self.connections.get_mut(&connection) else {
            return;
        };
        if matches!(outcome, ProbeOutcome::Unanswered { .. })
            && monitored.missed == 0
            && !monitored.pruned
        {
            if let Some(event) = self
                .load
                .on_silence(self.silent + 1, monitored_connections, now)
            {
                self.actions.push_back(Action::Report(event));
            }
        }
        let overloaded = self.load.overloaded(now);
        monitored.sent = monitored.sent.max(sent);
        if monitored.pruned {
            return;
        }
        if outcome == ProbeOutcome::Opening {
            monitored.opening = Some(trigger);
            return;
        }
        monitored.opening = None;
        // Whatever the outcome, the probe asked for has run (or the one it
        // joined has): a new trigger may ask again.
        monitored.requested = false;
        let peer = monitored.peer;
        match outcome {
            ProbeOutcome::Opening => {}
            // A late answer to a probe already counted as missed still proves the remote alive.
            ProbeOutcome::Answered { rtt } => {
                if let Some(rtt) = rtt {
                    monitored.rtt.on_sample(rtt);
                }
                monitored.answered += 1;
                monitored.timer = monitored.timer.wrapping_add(1);
                if monitored.missed > 0 {
                    self.silent -= 1;
                    self.load.on_late_answer(now);
                    let trigger = monitored.suspicion.unwrap_or(Trigger::Schedule);
                    self.actions.push_back(Action::Report(Event::Recovered {
                        peer,
                        connection,
                        evidence: monitored.evidence(now, trigger),
                    }));
                }
                monitored.last_alive = now;
                monitored.missed = 0;
                monitored.suspicion = None;
            }
            // Judged while this node was not running us on time, or by a
            // deadline handled late: the answer may be unread. No verdict.
            ProbeOutcome::Unanswered { late_by } if overloaded || late_by > self.load.tolerance => {
                tracing::debug!(%peer, ?connection, ?late_by, "no verdict: this node is overloaded");
                Self::ask_again(
                    &mut self.timers,
                    connection,
                    monitored,
                    trigger,
                    now + retry_after,
                );
            }
            // The peer's silence: the one evidence against it.
            ProbeOutcome::Unanswered { .. } => {
                if monitored.missed == 0 {
                    self.silent += 1;
                }
                monitored.missed += 1;
                let trigger = *monitored.suspicion.get_or_insert(trigger);
                let evidence = monitored.evidence(now, trigger);
                if monitored.missed >= max_strikes {
                    monitored.pruned = true;
                    self.silent -= 1;
                    tracing::debug!(%peer, ?connection, ?evidence, "pruning an unresponsive connection");
                    self.actions.push_back(Action::Close { peer, connection });
                    self.actions.push_back(Action::Report(Event::Pruned {
                        peer,
                        connection,
                        reason: Reason::Unresponsive,
                        evidence,
                    }));
                } else {
                    self.actions.push_back(Action::Report(Event::Suspected {
                        peer,
                        connection,
                        evidence,
                    }));
                    // Retry at once (the handler keeps the minimum gap).
                    monitored.requested = true;
                    self.actions.push_back(Action::Probe {
                        peer,
                        connection,
                        trigger,
                    });
                }
            }
            // This node could not send the probe or read its answer: no
            // evidence either way, and no strike.
            ProbeOutcome::Failed(error) => {
                tracing::debug!(%peer, ?connection, %error, "a probe failed on this side: no verdict");
                Self::ask_again(
                    &mut self.timers,
                    connection,
                    monitored,
                    trigger,
                    now + retry_after,
                );
            }
        }
    }

    /// A probe that told nothing is asked for again later, unless the
    /// handler's schedule will probe anyway: a connection is never left
    /// unprobed because of one failure.
    fn ask_again(
        timers: &mut BinaryHeap<Reverse<(Instant, ConnectionId, u32)>>,
        connection: ConnectionId,
        monitored: &mut Monitored,
        trigger: Trigger,
        at: Instant,
    ) {
        // The handler's schedule probes again within an interval.
        if monitored.scheduled {
            return;
        }
        monitored.timer = monitored.timer.wrapping_add(1);
        monitored.again = Some(trigger);
        timers.push(Reverse((at, connection, monitored.timer)));
    }

    /// Acts on every timer due by `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if let Some(due) = self.load.heartbeat.filter(|due| *due <= now) {
            if let Some(event) = self.load.on_lag(now - due, now) {
                self.actions.push_back(Action::Report(event));
            }
            self.load.heartbeat = Some(now + self.load.period);
        }
        let retry_after = self.config.max_probe_timeout;
        while let Some(Reverse((at, connection, timer))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(monitored) = self.connections.get_mut(&connection) else {
                continue;
            };
            if monitored.timer != timer || monitored.pruned {
                continue;
            }
            if self.load.overloaded(now) {
                // Probing now would only be judged void: wait for the load to pass.
                self.timers
                    .push(Reverse((now + retry_after, connection, timer)));
                continue;
            }
            let Some(trigger) = monitored.again.take() else {
                continue;
            };
            self.trigger(connection, trigger);
        }
    }

    /// When `handle_timeout` must next be called.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let timer = self.timers.peek().map(|Reverse((at, _, _))| *at);
        match (self.load.heartbeat, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub(crate) fn stats(&self, connection: ConnectionId) -> Option<ConnectionStats> {
        let monitored = self.connections.get(&connection)?;
        Some(ConnectionStats {
            probes_sent: u64::from(monitored.sent),
            probes_answered: monitored.answered,
            missed_in_a_row: monitored.missed,
            rtt: monitored.rtt.smoothed(),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.connections.len()
    }

    /// The count of silent connections the core keeps.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn silent(&self) -> usize {
        self.silent
    }

    /// The silent connections, counted from the records.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn silent_by_records(&self) -> usize {
        self.connections
            .values()
            .filter(|m| m.missed > 0 && !m.pruned)
            .count()
    }

    /// Asks `connection`'s handler for a probe, unless one is asked for already.
    fn trigger(&mut self, connection: ConnectionId, trigger: Trigger) -> bool {
        let Some(monitored) = self.connections.get_mut(&connection) else {
            return false;
        };
        // A probe asked for will answer or miss; a pruned connection is on its way out.
        if monitored.pruned || monitored.requested {
            return true;
        }
        monitored.requested = true;
        // A probe asked for now makes a pending ask-again moot.
        monitored.timer = monitored.timer.wrapping_add(1);
        monitored.again = None;
        self.actions.push_back(Action::Probe {
            peer: monitored.peer,
            connection,
            trigger,
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prober::{Prober, Scheduled, Step};

    const MAX_TIMEOUT: Duration = Duration::from_secs(5);
    /// A quarter of the minimum timeout.
    const TOLERANCE: Duration = Duration::from_millis(250);
    /// Twice the maximum timeout.
    const HOLD: Duration = Duration::from_secs(10);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn config() -> Config {
        Config::default().with_jitter(0.0)
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

        fn at(&self, offset: Duration) -> Instant {
            self.start + offset
        }

        fn peer(&self, connection: ConnectionId) -> PeerId {
            self.peers[&connection]
        }

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

        fn outcome(
            &mut self,
            connection: ConnectionId,
            trigger: Trigger,
            outcome: ProbeOutcome,
            at: Duration,
        ) -> Vec<Action> {
            let now = self.at(at);
            self.monitor
                .on_probe_outcome(connection, trigger, outcome, 1, now);
            self.drain()
        }

        fn answer(&mut self, connection: ConnectionId, rtt: Duration, at: Duration) -> Vec<Action> {
            self.outcome(
                connection,
                Trigger::Schedule,
                ProbeOutcome::Answered { rtt: Some(rtt) },
                at,
            )
        }

        fn unanswered(&mut self, connection: ConnectionId, at: Duration) -> Vec<Action> {
            self.outcome(
                connection,
                Trigger::Schedule,
                ProbeOutcome::Unanswered {
                    late_by: Duration::ZERO,
                },
                at,
            )
        }

        /// Every timer up to `at`, each handled when due.
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
    }

    fn probes(actions: &[Action]) -> Vec<(ConnectionId, Trigger)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Probe {
                    connection,
                    trigger,
                    ..
                } => Some((*connection, *trigger)),
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
    fn an_answer_counts_and_sets_the_rtt() {
        let mut h = Harness::new(config());
        let c = h.establish(1, Transport::WebRtc, Duration::ZERO);
        assert!(h.answer(c, ms(3), ms(4003)).is_empty());
        assert_eq!(
            h.monitor.stats(c),
            Some(ConnectionStats {
                probes_sent: 1,
                probes_answered: 1,
                missed_in_a_row: 0,
                rtt: Some(ms(3)),
            })
        );
    }

    #[test]
    fn three_misses_prune_with_evidence_and_each_miss_asks_for_a_retry_at_once() {
        let mut h = Harness::new(config());
        let c = h.establish(1, Transport::WebRtc, Duration::ZERO);
        h.answer(c, ms(10), ms(4010));

        let actions = h.unanswered(c, ms(9010));
        assert_eq!(probes(&actions), vec![(c, Trigger::Schedule)]);
        assert_eq!(
            events(&actions),
            vec![&Event::Suspected {
                peer: h.peer(c),
                connection: c,
                evidence: Evidence {
                    missed_probes: 1,
                    rtt: Some(ms(10)),
                    silent_for: ms(5000),
                    trigger: Trigger::Schedule,
                },
            }]
        );
        // The retry is asked for once; the run of misses keeps its first trigger.
        assert!(!h.monitor.suspect(ConnectionId::new_unchecked(9)));
        assert!(h.monitor.suspect(c));
        assert!(h.drain().is_empty(), "a retry is asked for already");
        let actions = h.outcome(
            c,
            Trigger::Schedule,
            ProbeOutcome::Unanswered {
                late_by: Duration::ZERO,
            },
            ms(10_110),
        );
        assert_eq!(probes(&actions), vec![(c, Trigger::Schedule)]);

        let actions = h.unanswered(c, ms(11_210));
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
                    silent_for: ms(11_210 - 4010),
                    trigger: Trigger::Schedule,
                },
            }]
        );
        // Nothing more for a pruned connection, until and after it closes.
        assert!(h.answer(c, ms(1), ms(11_300)).is_empty());
        assert!(h.monitor.suspect(c));
        assert!(h.drain().is_empty());
        h.monitor.on_closed(c, None, h.at(ms(12_000)));
        assert!(h.drain().is_empty());
        assert_eq!(h.monitor.len(), 0);
        assert_eq!(
            h.monitor.poll_timeout(),
            None,
            "no heartbeat without connections"
        );
    }

    #[test]
    fn a_late_answer_is_a_recovery() {
        let mut h = Harness::new(config());
        let c = h.establish(1, Transport::WebRtc, Duration::ZERO);
        h.answer(c, ms(5), ms(4005));
        h.unanswered(c, ms(9005));
        let actions = h.outcome(
            c,
            Trigger::Schedule,
            ProbeOutcome::Answered { rtt: None },
            ms(9500),
        );
        assert_eq!(
            events(&actions),
            vec![&Event::Recovered {
                peer: h.peer(c),
                connection: c,
                evidence: Evidence {
                    missed_probes: 1,
                    rtt: Some(ms(5)),
                    silent_for: ms(5495),
                    trigger: Trigger::Schedule,
                },
            }]
        );
        let stats = h.monitor.stats(c).unwrap();
        assert_eq!((stats.missed_in_a_row, stats.probes_answered), (0, 2));
        // A reset (no RTT sample) leaves the RTT as it was.
        assert_eq!(stats.rtt, Some(ms(5)));
    }

    #[test]
    fn a_failed_probe_is_no_miss_and_a_scheduled_connection_waits_for_its_schedule() {
        let mut h = Harness::new(config());
        let c = h.establish(1, Transport::WebRtc, Duration::ZERO);
        for i in 0..10 {
            let actions = h.outcome(
                c,
                Trigger::Schedule,
                ProbeOutcome::Failed("outbound stream refused: the node limit".into()),
                ms(4000 * (i + 1)),
            );
            assert!(actions.is_empty(), "{actions:?}");
        }
        assert_eq!(h.monitor.stats(c).unwrap().missed_in_a_row, 0);
        // The handler's schedule probes again; the core has no timer for it.
        assert!(probes(&h.run_until(ms(100_000))).is_empty());
    }

    #[test]
    fn a_failed_on_demand_probe_is_asked_again_after_the_maximum_timeout() {
        let mut h = Harness::new(config());
        let c = h.establish(1, Transport::Quic, Duration::ZERO);
        assert!(h.monitor.suspect(c));
        assert_eq!(probes(&h.drain()), vec![(c, Trigger::Suspect)]);
        let actions = h.outcome(
            c,
            Trigger::Suspect,
            ProbeOutcome::Failed("refused".into()),
            ms(20),
        );
        assert!(actions.is_empty());
        assert!(probes(&h.run_until(ms(20) + MAX_TIMEOUT - ms(1))).is_empty());
        assert_eq!(
            probes(&h.run_until(ms(20) + MAX_TIMEOUT)),
            vec![(c, Trigger::Suspect)]
        );
        // Answered this time: nothing more is asked.
        h.outcome(
            c,
            Trigger::Suspect,
            ProbeOutcome::Answered { rtt: Some(ms(1)) },
            ms(5030),
        );
        assert!(probes(&h.run_until(ms(60_000))).is_empty());
    }

    #[test]
    fn an_answer_cancels_a_pending_ask_again() {
        let mut h = Harness::new(config());
        let c = h.establish(1, Transport::Quic, Duration::ZERO);
        h.monitor.suspect(c);
        h.drain();
        h.outcome(
            c,
            Trigger::Suspect,
            ProbeOutcome::Failed("x".into()),
            ms(20),
        );
        h.outcome(
            c,
            Trigger::Suspect,
            ProbeOutcome::Answered { rtt: Some(ms(1)) },
            ms(30),
        );
        assert!(probes(&h.run_until(ms(60_000))).is_empty());
    }

    #[test]
    fn a_deadline_judged_late_is_no_miss_and_stops_judging() {
        let mut h = Harness::new(config());
        let c = h.establish(1, Transport::WebRtc, Duration::ZERO);
        let d = h.establish(2, Transport::WebRtc, Duration::ZERO);
        h.answer(c, ms(7), ms(4007));
        h.answer(d, ms(7), ms(4007));
        // Judged at the tolerance: still a verdict.
        let actions = h.outcome(
            c,
            Trigger::Schedule,
            ProbeOutcome::Unanswered { late_by: TOLERANCE },
            ms(9007),
        );
        assert!(matches!(events(&actions)[..], [Event::Suspected { .. }]));
        // Judged 1 ms past it: the node was not running this connection; the answer may be unread.
        let actions = h.outcome(
            c,
            Trigger::Schedule,
            ProbeOutcome::Unanswered {
                late_by: TOLERANCE + ms(1),
            },
            ms(10_500),
        );
        assert_eq!(
            events(&actions),
            vec![&Event::Overloaded {
                cause: Overload::LateTimer {
                    late_by: TOLERANCE + ms(1)
                },
                hold: HOLD,
            }]
        );
        assert!(probes(&actions).is_empty());
        assert_eq!(h.monitor.stats(c).unwrap().missed_in_a_row, 1);
        // Meanwhile no deadline counts, even one judged on time, and the event is not repeated.
        for at in [10_600, 15_000, 20_499] {
            let actions = h.unanswered(d, ms(at));
            assert!(actions.is_empty(), "{actions:?}");
        }
        assert_eq!(h.monitor.stats(d).unwrap().missed_in_a_row, 0);
        // The hold passed without a late timer: judging resumes.
        let actions = h.unanswered(d, ms(20_500));
        assert!(matches!(events(&actions)[..], [Event::Suspected { .. }]));
    }

    /// 100 WebRTC connections, each answered once at 4 s.
    fn hundred_answered() -> (Harness, Vec<ConnectionId>) {
        let mut h = Harness::new(config());
        let connections: Vec<ConnectionId> = (0..100)
            .map(|i| h.establish(i, Transport::WebRtc, Duration::ZERO))
            .collect();
        for &c in &connections {
            h.answer(c, ms(7), ms(4000));
        }
        (h, connections)
    }

    fn pruned(actions: &[Action]) -> usize {
        actions
            .iter()
            .filter(|a| matches!(a, Action::Close { .. }))
            .count()
    }

    #[test]
    fn many_connections_silent_while_some_answer_late_stop_judging() {
        // A saturated node: its socket is read late, so probes on many
        // connections miss together and some answers come after the deadline.
        let (mut h, c) = hundred_answered();
        let mut actions = Vec::new();
        for (i, &connection) in c[..10].iter().enumerate() {
            actions.extend(h.unanswered(connection, ms(9000 + i as u64)));
        }
        // Ten of a hundred: each judged on its own.
        assert_eq!(events(&actions).len(), 10);
        assert!(events(&actions)
            .iter()
            .all(|e| matches!(e, Event::Suspected { .. })));
        // One of them answers late (nine silent); two more go silent.
        h.answer(c[0], ms(1200), ms(9100));
        actions = h.unanswered(c[10], ms(9200));
        assert!(matches!(events(&actions)[..], [Event::Suspected { .. }]));
        actions = h.unanswered(c[11], ms(9201));
        assert_eq!(
            events(&actions),
            vec![&Event::Overloaded {
                cause: Overload::ManySilent {
                    silent: 11,
                    monitored: 100,
                },
                hold: HOLD,
            }]
        );
        // Misses count for nothing while late answers go on, however long.
        let mut at = 9300;
        for round in 0..30 {
            for &connection in &c[1..40] {
                actions = h.unanswered(connection, ms(at));
                assert_eq!(pruned(&actions), 0, "round {round}");
                assert!(events(&actions).is_empty(), "{actions:?}");
                at += 10;
            }
            h.answer(c[40 + round], ms(900), ms(at));
        }
        assert_eq!(h.monitor.stats(c[1]).unwrap().missed_in_a_row, 1);
    }

    #[test]
    fn many_connections_dying_together_are_judged_as_usual() {
        // Half the peers restart at once: nothing answers late.
        let (mut h, c) = hundred_answered();
        let mut pruned_total = 0;
        for strike in 0..3u64 {
            for (i, &connection) in c[..50].iter().enumerate() {
                let actions = h.unanswered(connection, ms(9000 + strike * 1200 + i as u64));
                assert!(!events(&actions)
                    .iter()
                    .any(|e| matches!(e, Event::Overloaded { .. })));
                pruned_total += pruned(&actions);
            }
        }
        assert_eq!(pruned_total, 50);
        assert_eq!(h.monitor.silent(), 0);
        assert_eq!(h.monitor.silent_by_records(), 0);
    }

    #[test]
    fn a_late_heartbeat_stops_judging_and_a_later_one_extends_the_hold() {
        let mut h = Harness::new(config());
        let c = h.establish(1, Transport::WebRtc, Duration::ZERO);
        h.answer(c, ms(7), ms(400));
        // A heartbeat every half minimum timeout.
        assert_eq!(h.monitor.poll_timeout(), Some(h.at(ms(500))));
        h.monitor.handle_timeout(h.at(ms(500) + TOLERANCE));
        assert!(h.drain().is_empty(), "late by the tolerance: on time");
        let due = ms(750) + ms(500);
        assert_eq!(h.monitor.poll_timeout(), Some(h.at(due)));
        // The node ran nothing of ours for 9 s (a saturated CPU).
        let woke = due + ms(9000);
        h.monitor.handle_timeout(h.at(woke));
        assert_eq!(
            events(&h.drain()),
            vec![&Event::Overloaded {
                cause: Overload::LateTimer { late_by: ms(9000) },
                hold: HOLD,
            }]
        );
        // The answers it had not read: their deadlines are judged on time
        // by now, and count for nothing.
        assert!(h.unanswered(c, woke + ms(1)).is_empty());
        // Still late 5 s on: the hold runs from there, with no new event.
        h.monitor.handle_timeout(h.at(woke + ms(5000)));
        assert!(h.drain().is_empty());
        assert!(h.unanswered(c, woke + ms(5000) + HOLD - ms(1)).is_empty());
        let actions = h.unanswered(c, woke + ms(5000) + HOLD);
        assert!(matches!(events(&actions)[..], [Event::Suspected { .. }]));
    }

    #[test]
    fn an_ask_again_waits_for_the_load_to_pass() {
        let mut h = Harness::new(config());
        let c = h.establish(1, Transport::Quic, Duration::ZERO);
        h.monitor.suspect(c);
        h.drain();
        h.outcome(
            c,
            Trigger::Suspect,
            ProbeOutcome::Failed("x".into()),
            ms(20),
        );
        // Overloaded at 3 s, until 13 s.
        h.outcome(
            c,
            Trigger::Suspect,
            ProbeOutcome::Unanswered { late_by: ms(2000) },
            ms(3000),
        );
        h.drain();
        // The void probe is asked again at 8 s, while overloaded: put off
        // by the maximum timeout, to 13 s, when the hold ends.
        assert!(probes(&h.run_until(ms(12_999))).is_empty());
        assert_eq!(
            probes(&h.run_until(ms(13_000))),
            vec![(c, Trigger::Suspect)]
        );
    }

    #[test]
    fn a_newer_connection_gets_the_older_probed_at_once() {
        let mut h = Harness::new(config());
        let old = h.establish(1, Transport::Quic, Duration::ZERO);
        let peer = h.peer(old);
        assert!(h.drain().is_empty());
        let middle = h.establish_to(peer, 2, Transport::Quic, ms(500));
        assert_eq!(probes(&h.drain()), vec![(old, Trigger::NewerConnection)]);
        h.answer(old, ms(1), ms(501));
        let _other = h.establish(3, Transport::Quic, ms(502));
        assert!(
            h.drain().is_empty(),
            "another peer's connection leaves them alone"
        );

        let newest = h.establish_to(peer, 4, Transport::Quic, ms(600));
        let mut asked = probes(&h.drain());
        asked.sort_by_key(|(c, _)| *c);
        assert_eq!(
            asked,
            vec![
                (old, Trigger::NewerConnection),
                (middle, Trigger::NewerConnection)
            ]
        );
        // The middle one closes; the chain still reaches the oldest.
        h.answer(old, ms(1), ms(601));
        h.answer(middle, ms(1), ms(601));
        h.monitor.on_closed(middle, None, h.at(ms(700)));
        h.establish_to(peer, 5, Transport::Quic, ms(800));
        let mut asked = probes(&h.drain());
        asked.sort_by_key(|(c, _)| *c);
        assert_eq!(
            asked,
            vec![
                (old, Trigger::NewerConnection),
                (newest, Trigger::NewerConnection)
            ]
        );
        // Unanswered (the peer restarted): pruned with the trigger that started it.
        let mut actions = Vec::new();
        for at in [2000, 3000, 4000] {
            actions = h.outcome(
                old,
                Trigger::NewerConnection,
                ProbeOutcome::Unanswered {
                    late_by: Duration::ZERO,
                },
                ms(at),
            );
        }
        assert!(matches!(
            events(&actions)[..],
            [Event::Pruned {
                connection,
                evidence: Evidence { trigger: Trigger::NewerConnection, missed_probes: 3, .. },
                ..
            }] if *connection == old
        ));
        // Every connection closes: the index is empty.
        for id in [1, 3, 4, 5] {
            h.monitor
                .on_closed(ConnectionId::new_unchecked(id), None, h.at(ms(5000)));
        }
        assert!(h.monitor.peers.is_empty());
        assert_eq!(h.monitor.len(), 0);
    }

    #[test]
    fn duplicates_are_left_alone_when_configured_so() {
        let mut h = Harness::new(config().with_probe_older_duplicates(false));
        let first = h.establish(1, Transport::Quic, Duration::ZERO);
        h.establish_to(h.peer(first), 2, Transport::Quic, ms(1));
        assert!(h.run_until(ms(100_000)).is_empty());
    }

    #[test]
    fn suspect_asks_once_until_an_outcome() {
        let mut h = Harness::new(config());
        let c = h.establish(1, Transport::Tcp, Duration::ZERO);
        assert!(h.monitor.suspect(c));
        assert_eq!(probes(&h.drain()), vec![(c, Trigger::Suspect)]);
        assert!(h.monitor.suspect(c));
        assert!(h.drain().is_empty(), "coalesced");
        h.outcome(
            c,
            Trigger::Suspect,
            ProbeOutcome::Answered { rtt: Some(ms(1)) },
            ms(12),
        );
        assert!(h.monitor.suspect(c));
        assert_eq!(probes(&h.drain()), vec![(c, Trigger::Suspect)]);
    }

    #[test]
    fn a_connection_that_fails_while_a_probe_stream_opens_is_reported_pruned() {
        let mut h = Harness::new(config());
        let c = h.establish(1, Transport::WebRtc, Duration::ZERO);
        h.outcome(c, Trigger::Schedule, ProbeOutcome::Opening, ms(4000));
        let error = ConnectionFailure::Io {
            kind: std::io::ErrorKind::Other,
            message: "Sctp(ErrPayloadDataStateNotExist)".to_owned(),
        };
        h.monitor.on_closed(c, Some(error.clone()), h.at(ms(4001)));
        assert_eq!(
            events(&h.drain()),
            vec![&Event::Pruned {
                peer: h.peer(c),
                connection: c,
                reason: Reason::ProbeFailed(error),
                evidence: Evidence {
                    missed_probes: 0,
                    rtt: None,
                    silent_for: ms(4001),
                    trigger: Trigger::Schedule,
                },
            }]
        );
        // Failing once the stream opened, or with no probe out, is not the policy's doing.
        let d = h.establish(2, Transport::WebRtc, ms(5000));
        h.outcome(d, Trigger::Schedule, ProbeOutcome::Opening, ms(9000));
        h.answer(d, ms(2), ms(9002));
        h.monitor
            .on_closed(d, Some(ConnectionFailure::KeepAliveTimeout), h.at(ms(9003)));
        let e = h.establish(3, Transport::WebRtc, ms(5000));
        h.monitor
            .on_closed(e, Some(ConnectionFailure::KeepAliveTimeout), h.at(ms(5001)));
        assert!(h.drain().is_empty());
        // A clean close while opening is no verdict either.
        let f = h.establish(4, Transport::WebRtc, ms(5000));
        h.outcome(f, Trigger::Schedule, ProbeOutcome::Opening, ms(9000));
        h.monitor.on_closed(f, None, h.at(ms(9001)));
        assert!(h.drain().is_empty());
        // Nor a failure of a transport that reports its closes itself: a
        // QUIC peer that closed, or timed out, while a probe opened.
        let g = h.establish(5, Transport::Quic, ms(5000));
        h.outcome(g, Trigger::Schedule, ProbeOutcome::Opening, ms(9000));
        let closed = ConnectionFailure::Io {
            kind: std::io::ErrorKind::Other,
            message: "connection failed: closed by peer: 0".to_owned(),
        };
        h.monitor.on_closed(g, Some(closed), h.at(ms(9001)));
        assert!(h.drain().is_empty());
    }

    #[test]
    fn outcomes_of_unknown_connections_are_ignored() {
        let mut h = Harness::new(config());
        let c = ConnectionId::new_unchecked(1);
        assert!(h.unanswered(c, ms(1)).is_empty());
        h.monitor
            .on_closed(c, Some(ConnectionFailure::KeepAliveTimeout), h.at(ms(2)));
        assert!(h.drain().is_empty());
    }

    /// The core and a connection's prober together, as the behaviour and a
    /// handler run them, with every timer handled when due and nothing ever
    /// answering. Returns when the connection was pruned, from its start.
    fn dead_connection_pruned_after(config: &Config, seed: u64) -> Option<Duration> {
        let t0 = Instant::now();
        let mut monitor = Monitor::new(config.clone(), seed);
        let mut prober = Prober::new(config, Transport::WebRtc, &Scheduled::default(), seed, t0);
        let connection = ConnectionId::new_unchecked(1);
        monitor.on_established(PeerId::random(), connection, Transport::WebRtc, t0);
        let bound = config.detection_bound(Transport::WebRtc).unwrap();
        loop {
            let next = [monitor.poll_timeout(), prober.poll_timeout()]
                .into_iter()
                .flatten()
                .min()?;
            if next > t0 + bound * 2 {
                return None;
            }
            monitor.handle_timeout(next);
            while let Some(step) = prober.poll(next) {
                if let Step::Expired {
                    trigger, late_by, ..
                } = step
                {
                    let sent = prober.started();
                    let outcome = ProbeOutcome::Unanswered { late_by };
                    monitor.on_probe_outcome(connection, trigger, outcome, sent, next);
                }
            }
            while let Some(action) = monitor.poll_action() {
                match action {
                    Action::Probe { trigger, .. } => prober.request(trigger, next),
                    Action::Close { .. } => return Some(next - t0),
                    Action::Report(_) => {}
                }
            }
        }
    }

    #[test]
    fn a_dead_connection_is_pruned_within_the_detection_bound() {
        for config in [Config::default(), Config::aggressive()] {
            let bound = config.detection_bound(Transport::WebRtc).unwrap();
            for seed in 0..50 {
                let took = dead_connection_pruned_after(&config, seed);
                assert!(
                    took.is_some_and(|t| t <= bound),
                    "seed {seed}: pruned after {took:?}, bound {bound:?}"
                );
            }
        }
    }

    #[test]
    fn per_connection_state_is_small() {
        // The core's record and its peer index entry; the handler's prober.
        let record = std::mem::size_of::<(ConnectionId, Monitored)>();
        let index = std::mem::size_of::<(PeerId, ConnectionId)>();
        let prober = std::mem::size_of::<Prober>();
        let handler = std::mem::size_of::<crate::handler::Handler>();
        println!("record {record} B, peer index {index} B, prober {prober} B, handler {handler} B");
        assert!(record <= 200, "{record}");
        assert!(index <= 96, "{index}");
        assert!(prober <= 224, "{prober}");
    }

    /// What the core costs per connection at 1k, 10k and 20k connections:
    /// establishing them, a probe round (one handler report per connection,
    /// each followed by the behaviour's `poll_timeout`, as the swarm polls it
    /// after every event), a heartbeat, and a round of on-demand probes that
    /// failed and are asked again from the timer heap. Release build:
    ///
    /// ```sh
    /// cargo test --release -p libp2p-conn-prune --lib core_cost -- --ignored --nocapture
    /// ```
    #[test]
    #[ignore = "a measurement: run it in a release build"]
    fn core_cost_per_connection() {
        fn per(total: Duration, n: usize) -> f64 {
            total.as_secs_f64() * 1e9 / n as f64
        }
        for n in [1_000, 10_000, 20_000] {
            let mut monitor = Monitor::new(Config::default(), 1);
            let t0 = Instant::now();
            let ids: Vec<ConnectionId> = (0..n).map(ConnectionId::new_unchecked).collect();
            let clock = Instant::now();
            for id in &ids {
                monitor.on_established(PeerId::random(), *id, Transport::Quic, t0);
            }
            let establish = clock.elapsed();
            // PeerId::random() is most of that: time it alone.
            let clock = Instant::now();
            for _ in 0..n {
                std::hint::black_box(PeerId::random());
            }
            let establish = establish.saturating_sub(clock.elapsed());

            let rounds = 10;
            let clock = Instant::now();
            let mut deadlines = 0usize;
            for round in 0..rounds {
                let now = t0 + Duration::from_millis(100 * round);
                for id in &ids {
                    monitor.on_probe_outcome(
                        *id,
                        Trigger::Schedule,
                        ProbeOutcome::Answered {
                            rtt: Some(Duration::from_millis(7)),
                        },
                        round as u32 + 1,
                        now,
                    );
                    deadlines += usize::from(monitor.poll_timeout().is_some());
                }
            }
            let round = clock.elapsed() / rounds as u32;
            assert_eq!(deadlines, n * rounds as usize);

            let clock = Instant::now();
            monitor.handle_timeout(t0 + Duration::from_millis(500));
            let heartbeat = clock.elapsed();

            // As the behaviour calls them on every swarm poll.
            let reps = 1000;
            let clock = Instant::now();
            for _ in 0..reps {
                std::hint::black_box(monitor.poll_timeout());
                monitor.handle_timeout(t0 + Duration::from_millis(501));
            }
            let idle_poll = clock.elapsed() / reps;

            let now = t0 + Duration::from_secs(2);
            let clock = Instant::now();
            for id in &ids {
                monitor.suspect(*id);
                monitor.on_probe_outcome(
                    *id,
                    Trigger::Suspect,
                    ProbeOutcome::Failed("refused".into()),
                    20,
                    now,
                );
            }
            while monitor.poll_action().is_some() {}
            // Each timer when due (heartbeats included, so the node is not overloaded).
            while let Some(next) = monitor.poll_timeout().filter(|t| *t <= now + MAX_TIMEOUT) {
                monitor.handle_timeout(next);
            }
            let mut asked = 0;
            while monitor.poll_action().is_some() {
                asked += 1;
            }
            let on_demand = clock.elapsed();
            assert_eq!(asked, n);
            println!(
                "{n:>6} connections: per connection: establish {:>5.0} ns, probe report + \
                 poll_timeout {:>5.0} ns, failed on-demand probe asked again {:>5.0} ns; \
                 in all: heartbeat {:>5.0} ns, poll_timeout + handle_timeout with nothing due \
                 {:>4.0} ns",
                per(establish, n),
                per(round, n),
                per(on_demand, n),
                heartbeat.as_secs_f64() * 1e9,
                idle_poll.as_secs_f64() * 1e9,
            );
        }
    }
}
