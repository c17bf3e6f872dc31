//! One connection's probe timing, free of I/O: when the next probe starts,
//! how long it waits, and when it is judged unanswered. Its handler drives it
//! with one timer and reports what happened; the [`crate::monitor::Monitor`]
//! alone decides what an outcome means for the connection.
//!
//! The schedule lives here, beside the connection, so that a scheduled probe
//! costs the swarm nothing: no `NotifyHandler` (which makes the swarm look the
//! connection up among all of its peers) and no event until the probe ends.

use std::{
    num::NonZeroU32,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use crate::{
    config::{self, Config},
    event::Trigger,
    rtt::RttEstimator,
    Transport,
};

/// How many connections of one behaviour are probed on a schedule. Each
/// prober counts itself while it lives, so that it can space its probes by
/// the node-wide rate with one atomic read, without asking the behaviour.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scheduled(Arc<AtomicUsize>);

impl Scheduled {
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    fn join(&self) -> Member {
        self.0.fetch_add(1, Ordering::Relaxed);
        Member(self.clone())
    }
}

/// One prober's place in [`Scheduled`], given back when it is dropped.
#[derive(Debug)]
struct Member(Scheduled);

impl Drop for Member {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Identifies one probe of one connection (the handler's count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ProbeId(pub(crate) u32);

/// What the handler must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send a probe: a ping on the kept stream, or a new stream.
    Start { probe: ProbeId, trigger: Trigger },
    /// `probe` got no answer by its deadline, judged `late_by` after the
    /// deadline (how late this connection's task ran). Its stream is left to
    /// answer late.
    Expired {
        probe: ProbeId,
        trigger: Trigger,
        late_by: Duration,
    },
}

#[derive(Debug, Clone, Copy)]
struct Current {
    probe: ProbeId,
    trigger: Trigger,
    deadline: Instant,
}

/// The probe timing of one connection.
#[derive(Debug)]
pub(crate) struct Prober {
    /// The configured interval, and this prober's place among the
    /// connections that share the node-wide rate.
    interval: Option<(Duration, Member)>,
    /// Never zero: `Config::validate` refuses it (a 4-byte option).
    max_rate: Option<NonZeroU32>,
    /// From how many scheduled connections the schedule reaches the
    /// transport's own idle timeout and is skipped.
    /// (`u32::MAX`: never; a `u32` keeps the prober small).
    skipped_from: u32,
    jitter: f64,
    min_timeout: Duration,
    max_timeout: Duration,
    min_gap: Duration,
    rng: SplitMix64,
    rtt: RttEstimator,
    /// The next probe to start, once no probe waits for its deadline.
    next: Option<(Instant, Trigger)>,
    /// The latest probe, until it is answered, fails or expires.
    current: Option<Current>,
    last_start: Option<Instant>,
    /// Late answers since the last answer in time: each doubles the timeout.
    backoff: u8,
    started: u32,
}

impl Prober {
    /// A connection of `transport`, established `now`, among the `scheduled`
    /// connections of its behaviour; `seed` drives its jitter.
    pub(crate) fn new(
        config: &Config,
        transport: Transport,
        scheduled: &Scheduled,
        seed: u64,
        now: Instant,
    ) -> Self {
        let mut prober = Self {
            interval: config
                .probe_interval(transport)
                .map(|interval| (interval, scheduled.join())),
            max_rate: config.max_scheduled_probe_rate.and_then(NonZeroU32::new),
            skipped_from: config
                .probe_interval(transport)
                .map_or(u32::MAX, |interval| {
                    let from = config::skipped_from(
                        interval,
                        config.max_scheduled_probe_rate,
                        config.idle_timeout(transport),
                    );
                    u32::try_from(from).unwrap_or(u32::MAX)
                }),
            jitter: config.jitter,
            min_timeout: config.min_probe_timeout,
            max_timeout: config.max_probe_timeout,
            min_gap: config.min_probe_gap,
            rng: SplitMix64(seed),
            rtt: RttEstimator::default(),
            next: None,
            current: None,
            last_start: None,
            backoff: 0,
            started: 0,
        };
        prober.reschedule(now);
        prober
    }

    /// The longest a probe waits for its answer.
    pub(crate) fn max_timeout(&self) -> Duration {
        self.max_timeout
    }

    /// Probes started so far.
    pub(crate) fn started(&self) -> u32 {
        self.started
    }

    /// The behaviour asks for a probe (a suspicion, a newer duplicate, a
    /// retry after a miss): as soon as the minimum gap allows.
    pub(crate) fn request(&mut self, trigger: Trigger, now: Instant) {
        // A probe waiting for its deadline will answer or expire: that is the
        // verdict asked for, and a second probe would only add load.
        if self.current.is_some() {
            return;
        }
        let earliest = self
            .last_start
            .map_or(now, |last| (last + self.min_gap).max(now));
        if self.next.is_none_or(|(at, _)| earliest < at) {
            self.next = Some((earliest, trigger));
        }
    }

    /// When [`Self::poll`] has something to do.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match self.current {
            Some(current) => Some(current.deadline),
            None => self.next.map(|(at, _)| at),
        }
    }

    /// The next step due at `now`, if any; call until `None`.
    pub(crate) fn poll(&mut self, now: Instant) -> Option<Step> {
        if let Some(current) = self.current {
            if current.deadline > now {
                return None;
            }
            self.current = None;
            // The schedule goes on; a miss makes the behaviour ask for a retry at once.
            self.reschedule(now);
            return Some(Step::Expired {
                probe: current.probe,
                trigger: current.trigger,
                late_by: now - current.deadline,
            });
        }
        let (_, trigger) = self.next.filter(|(at, _)| *at <= now)?;
        self.next = None;
        if trigger == Trigger::Schedule && self.stretched_to_idle_timeout() {
            // The transport closes a silent connection before such a probe
            // could tell; look again one stretched interval on.
            self.reschedule(now);
            return None;
        }
        let probe = ProbeId(self.started);
        self.started = self.started.wrapping_add(1);
        self.last_start = Some(now);
        self.current = Some(Current {
            probe,
            trigger,
            deadline: now + self.timeout_now(),
        });
        Some(Step::Start { probe, trigger })
    }

    /// `probe` was answered, `rtt` after it started if that is a round trip;
    /// a late answer (after [`Step::Expired`]) included. Returns the RTT
    /// sample it gave, if any.
    ///
    /// Only an answer in time is a sample. One that comes after its deadline
    /// may have waited on this node (a task stalled, a socket read late) as
    /// much as on the path, so, as TCP does with a retransmitted segment
    /// (Karn's rule), it teaches no RTT; it doubles the timeout instead,
    /// until an answer comes in time. A slow path is still learnt, a stall
    /// is not mistaken for one.
    pub(crate) fn on_answer(
        &mut self,
        probe: ProbeId,
        rtt: Option<Duration>,
        now: Instant,
    ) -> Option<Duration> {
        let in_time = self
            .current
            .is_some_and(|c| c.probe == probe && now <= c.deadline);
        let sample = if in_time {
            self.backoff = 0;
            rtt.inspect(|rtt| self.rtt.on_sample(*rtt))
        } else {
            // Past 2^8 the maximum timeout bounds it anyway.
            self.backoff = (self.backoff + 1).min(8);
            None
        };
        self.end(probe, now);
        sample
    }

    /// `probe` failed without telling anything of the remote: it is retried
    /// as the schedule allows, not at once (a local refusal would refuse a
    /// retry at once just as well).
    pub(crate) fn on_failed(&mut self, probe: ProbeId, now: Instant) {
        self.end(probe, now);
    }

    fn end(&mut self, probe: ProbeId, now: Instant) {
        if self.current.is_some_and(|c| c.probe == probe) {
            self.current = None;
            self.reschedule(now);
        }
    }

    fn reschedule(&mut self, now: Instant) {
        self.next = self.interval.as_ref().map(|(interval, member)| {
            let rate = self.max_rate.map(NonZeroU32::get);
            let interval = config::spread(*interval, rate, member.0.get());
            (
                now + jittered(&mut self.rng, self.jitter, interval),
                Trigger::Schedule,
            )
        });
    }

    /// Whether the node-wide rate stretches this connection's schedule to
    /// the transport's own idle timeout.
    fn stretched_to_idle_timeout(&self) -> bool {
        self.interval
            .as_ref()
            .is_some_and(|(_, member)| member.0.get() >= self.skipped_from as usize)
    }

    /// The wait for an answer to a new probe, as the RTT measured so far and
    /// any backoff set it.
    pub(crate) fn timeout_now(&self) -> Duration {
        let timeout = self.rtt.timeout(self.min_timeout, self.max_timeout);
        (timeout * (1 << self.backoff)).min(self.max_timeout)
    }
}

/// `interval` stretched or shrunk by up to `jitter` (a fraction) either way.
fn jittered(rng: &mut SplitMix64, jitter: f64, interval: Duration) -> Duration {
    if jitter == 0.0 {
        return interval;
    }
    interval.mul_f64(1.0 + jitter * rng.next_signed_unit())
}

/// SplitMix64: a schedule's jitter needs spread, not strength, and its
/// state is one word where `SmallRng`'s is four, in every connection.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn next_signed_unit(&mut self) -> f64 {
        // The top 53 bits: every value an f64 in [0, 1) can take evenly.
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit * 2.0 - 1.0
    }
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

    fn steps(prober: &mut Prober, now: Instant) -> Vec<Step> {
        std::iter::from_fn(|| prober.poll(now)).collect()
    }

    fn start(probe: u32, trigger: Trigger) -> Step {
        Step::Start {
            probe: ProbeId(probe),
            trigger,
        }
    }

    #[test]
    fn webrtc_is_probed_on_schedule_and_quic_is_not_by_default() {
        let t0 = Instant::now();
        let mut webrtc = Prober::new(&config(), Transport::WebRtc, &Scheduled::default(), 1, t0);
        let quic = Prober::new(&config(), Transport::Quic, &Scheduled::default(), 1, t0);
        assert_eq!(quic.poll_timeout(), None);
        assert_eq!(webrtc.poll_timeout(), Some(t0 + INTERVAL));
        assert!(steps(&mut webrtc, t0 + INTERVAL - ms(1)).is_empty());
        assert_eq!(
            steps(&mut webrtc, t0 + INTERVAL),
            vec![start(0, Trigger::Schedule)]
        );
        // Before any answer, a probe waits the maximum timeout.
        assert_eq!(webrtc.poll_timeout(), Some(t0 + INTERVAL + MAX_TIMEOUT));

        // Answered: the next probe comes one interval after the answer.
        let answered = t0 + INTERVAL + ms(3);
        webrtc.on_answer(ProbeId(0), Some(ms(3)), answered);
        assert_eq!(webrtc.poll_timeout(), Some(answered + INTERVAL));
        assert_eq!(webrtc.started(), 1);
    }

    #[test]
    fn probers_space_their_schedule_by_the_node_wide_rate() {
        let t0 = Instant::now();
        let config = config().with_max_scheduled_probe_rate(Some(2));
        let scheduled = Scheduled::default();
        // 8 connections at 4 s fit in 2 probes a second; the ninth does not.
        let probers: Vec<Prober> = (0..9)
            .map(|seed| Prober::new(&config, Transport::WebRtc, &scheduled, seed, t0))
            .collect();
        assert_eq!(scheduled.get(), 9);
        assert!(probers[..8]
            .iter()
            .all(|p| p.poll_timeout() == Some(t0 + INTERVAL)));
        assert_eq!(probers[8].poll_timeout(), Some(t0 + ms(4500)));
        // Unprobed transports do not count; dropped probers give their place back.
        let tcp = Prober::new(&config, Transport::Tcp, &scheduled, 9, t0);
        assert_eq!(scheduled.get(), 9);
        drop(tcp);
        drop(probers);
        assert_eq!(scheduled.get(), 0);
    }

    #[test]
    fn a_schedule_stretched_to_the_transports_idle_timeout_is_skipped_until_it_shrinks() {
        let t0 = Instant::now();
        // 4 s QUIC probes, 1 a second node-wide, QUIC's own close within 10 s.
        let config = config()
            .with_probe_interval(Transport::Quic, Some(INTERVAL))
            .with_max_scheduled_probe_rate(Some(1))
            .with_transport_idle_timeout(Transport::Quic, Some(ms(10_000)));
        let scheduled = Scheduled::default();
        let mut probers: Vec<Prober> = (0..10)
            .map(|seed| Prober::new(&config, Transport::Quic, &scheduled, seed, t0))
            .collect();
        // Ten connections at one probe a second: every 10 s, no sooner than
        // QUIC closes a silent one itself.
        let last = &mut probers[9];
        let due = t0 + ms(10_000);
        assert_eq!(last.poll_timeout(), Some(due));
        assert!(steps(last, due).is_empty(), "a probe QUIC beats");
        assert_eq!(last.poll_timeout(), Some(due + ms(10_000)));
        assert_eq!(last.started(), 0);
        // A trigger still probes.
        last.request(Trigger::Suspect, due + ms(1));
        assert_eq!(steps(last, due + ms(1)), vec![start(0, Trigger::Suspect)]);
        // With fewer connections the schedule fits again.
        probers.truncate(5);
        let mut one = probers.remove(1);
        let next = one.poll_timeout().unwrap();
        assert_eq!(steps(&mut one, next), vec![start(0, Trigger::Schedule)]);
        assert_eq!(
            config.probe_interval_at(Transport::Quic, 10),
            None,
            "the config says so too"
        );
        assert_eq!(
            config.probe_interval_at(Transport::Quic, 9),
            Some(ms(9_000))
        );
    }

    #[test]
    fn jitter_spreads_probes_within_its_bounds() {
        let t0 = Instant::now();
        let config = config().with_jitter(0.2);
        let firsts: Vec<Duration> = (0..200)
            .map(|seed| {
                Prober::new(&config, Transport::WebRtc, &Scheduled::default(), seed, t0)
                    .poll_timeout()
                    .unwrap()
                    - t0
            })
            .collect();
        let (lo, hi) = (INTERVAL.mul_f64(0.8), INTERVAL.mul_f64(1.2));
        assert!(firsts.iter().all(|t| *t >= lo && *t <= hi));
        let spread = *firsts.iter().max().unwrap() - *firsts.iter().min().unwrap();
        assert!(spread > INTERVAL / 4, "probes not spread: {spread:?}");
    }

    #[test]
    fn an_unanswered_probe_expires_at_its_deadline_with_the_lateness_of_the_judgement() {
        let t0 = Instant::now();
        let mut p = Prober::new(&config(), Transport::WebRtc, &Scheduled::default(), 1, t0);
        steps(&mut p, t0 + INTERVAL);
        p.on_answer(ProbeId(0), Some(ms(10)), t0 + INTERVAL + ms(10));
        let second = t0 + INTERVAL * 2 + ms(10);
        assert_eq!(steps(&mut p, second), vec![start(1, Trigger::Schedule)]);
        // A 10 ms RTT: the 1 s minimum timeout.
        assert_eq!(p.poll_timeout(), Some(second + MIN_TIMEOUT));
        // Judged 300 ms after the deadline: the lateness says so.
        assert_eq!(
            steps(&mut p, second + MIN_TIMEOUT + ms(300)),
            vec![Step::Expired {
                probe: ProbeId(1),
                trigger: Trigger::Schedule,
                late_by: ms(300),
            }]
        );
        // The schedule goes on from the judgement.
        assert_eq!(
            p.poll_timeout(),
            Some(second + MIN_TIMEOUT + ms(300) + INTERVAL)
        );
        // A late answer teaches no RTT (it may have waited on this node):
        // it doubles the timeout, and changes nothing else.
        assert_eq!(
            p.on_answer(ProbeId(1), Some(ms(1500)), second + ms(1500)),
            None
        );
        assert_eq!(p.timeout_now(), MIN_TIMEOUT * 2);
        assert_eq!(
            p.poll_timeout(),
            Some(second + MIN_TIMEOUT + ms(300) + INTERVAL)
        );
    }

    #[test]
    fn an_answer_read_after_its_deadline_is_no_sample_even_before_it_was_judged() {
        // The node stalled 3 s just after a probe went out: the answer and
        // the deadline are handled in the same late pass, answer first.
        let t0 = Instant::now();
        let mut p = Prober::new(&config(), Transport::WebRtc, &Scheduled::default(), 1, t0);
        steps(&mut p, t0 + INTERVAL);
        assert_eq!(
            p.on_answer(ProbeId(0), Some(ms(2)), t0 + INTERVAL + ms(2)),
            Some(ms(2))
        );
        let sent = t0 + INTERVAL * 2 + ms(2);
        steps(&mut p, sent);
        assert_eq!(p.timeout_now(), MIN_TIMEOUT);
        assert_eq!(
            p.on_answer(ProbeId(1), Some(ms(3000)), sent + ms(3000)),
            None
        );
        assert!(
            steps(&mut p, sent + ms(3000)).is_empty(),
            "answered: no expiry"
        );
        assert_eq!(p.timeout_now(), MIN_TIMEOUT * 2);
        // The next answer in time: the backoff ends, the RTT was never inflated.
        let third = p.poll_timeout().unwrap();
        steps(&mut p, third);
        assert_eq!(
            p.on_answer(ProbeId(2), Some(ms(2)), third + ms(2)),
            Some(ms(2))
        );
        assert_eq!(p.timeout_now(), MIN_TIMEOUT);
    }

    #[test]
    fn a_slow_path_is_learnt_through_the_backoff() {
        // The RTT jumps from 2 ms to 1.5 s: late answers double the timeout
        // until answers come in time, and then teach the RTT.
        let t0 = Instant::now();
        let mut p = Prober::new(&config(), Transport::WebRtc, &Scheduled::default(), 1, t0);
        let at = p.poll_timeout().unwrap();
        steps(&mut p, at);
        p.on_answer(ProbeId(0), Some(ms(2)), at + ms(2));
        let mut samples = Vec::new();
        for i in 1..6 {
            let at = p.poll_timeout().unwrap();
            steps(&mut p, at);
            let deadline = p.poll_timeout().unwrap();
            if deadline >= at + ms(1500) {
                samples.push(p.on_answer(ProbeId(i), Some(ms(1500)), at + ms(1500)));
            } else {
                assert!(matches!(
                    steps(&mut p, deadline)[..],
                    [Step::Expired { .. }]
                ));
                samples.push(p.on_answer(ProbeId(i), Some(ms(1500)), at + ms(1500)));
            }
        }
        assert_eq!(samples[0], None);
        assert!(
            samples[1..].iter().all(|s| *s == Some(ms(1500))),
            "{samples:?}"
        );
        assert!(p.timeout_now() > ms(1500));
    }

    #[test]
    fn the_timeout_follows_the_rtt() {
        let t0 = Instant::now();
        let mut p = Prober::new(&config(), Transport::WebRtc, &Scheduled::default(), 1, t0);
        for i in 0..20 {
            let at = p.poll_timeout().unwrap();
            assert_eq!(steps(&mut p, at), vec![start(i, Trigger::Schedule)]);
            p.on_answer(ProbeId(i), Some(ms(600)), at + ms(600));
        }
        // 600 ms RTT: about 3 RTTs, not the 1 s minimum.
        let timeout = p.timeout_now();
        assert!(timeout > ms(1700) && timeout < MAX_TIMEOUT, "{timeout:?}");
    }

    #[test]
    fn requests_start_at_once_but_never_closer_than_the_gap_and_coalesce() {
        let t0 = Instant::now();
        let mut p = Prober::new(&config(), Transport::Tcp, &Scheduled::default(), 1, t0);
        p.request(Trigger::Suspect, t0 + ms(10));
        assert_eq!(steps(&mut p, t0 + ms(10)), vec![start(0, Trigger::Suspect)]);
        // While that probe waits, another request adds nothing.
        p.request(Trigger::NewerConnection, t0 + ms(11));
        assert_eq!(p.poll_timeout(), Some(t0 + ms(10) + MAX_TIMEOUT));

        p.on_answer(ProbeId(0), Some(ms(2)), t0 + ms(12));
        assert_eq!(p.poll_timeout(), None, "no schedule on TCP by default");
        p.request(Trigger::Suspect, t0 + ms(13));
        assert_eq!(p.poll_timeout(), Some(t0 + ms(10) + GAP), "rate-limited");
        assert_eq!(
            steps(&mut p, t0 + ms(10) + GAP),
            vec![start(1, Trigger::Suspect)]
        );
    }

    #[test]
    fn a_request_comes_before_a_later_scheduled_probe() {
        let t0 = Instant::now();
        let mut p = Prober::new(&config(), Transport::WebRtc, &Scheduled::default(), 1, t0);
        p.request(Trigger::NewerConnection, t0 + ms(5));
        assert_eq!(p.poll_timeout(), Some(t0 + ms(5)));
        assert_eq!(
            steps(&mut p, t0 + ms(5)),
            vec![start(0, Trigger::NewerConnection)]
        );
    }

    #[test]
    fn a_failed_probe_is_retried_as_the_schedule_allows() {
        let t0 = Instant::now();
        let mut p = Prober::new(&config(), Transport::WebRtc, &Scheduled::default(), 1, t0);
        steps(&mut p, t0 + INTERVAL);
        p.on_failed(ProbeId(0), t0 + INTERVAL + ms(1));
        // Not at once: one interval later, like any probe.
        assert_eq!(p.poll_timeout(), Some(t0 + INTERVAL * 2 + ms(1)));
        // An outcome of a probe no longer waiting changes nothing.
        p.on_failed(ProbeId(0), t0 + INTERVAL + ms(2));
        assert_eq!(p.poll_timeout(), Some(t0 + INTERVAL * 2 + ms(1)));
    }
}
