//! One connection's probe timing, free of I/O: when the next probe starts,
//! how long it waits, and when it is judged unanswered. Its handler drives it
//! with one timer and reports what happened; the [`crate::monitor::Monitor`]
//! alone decides what an outcome means for the connection.
//!
//! The schedule lives here, beside the connection, so that a scheduled probe
//! costs the swarm nothing: no `NotifyHandler` (which makes the swarm look the
//! connection up among all of its peers) and no event until the probe ends.

use std::time::{Duration, Instant};

use rand::{rngs::SmallRng, RngExt, SeedableRng};

use crate::{config::Config, event::Trigger, rtt::RttEstimator, Transport};

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
    interval: Option<Duration>,
    jitter: f64,
    min_timeout: Duration,
    max_timeout: Duration,
    min_gap: Duration,
    rng: SmallRng,
    rtt: RttEstimator,
    /// The next probe to start, once no probe waits for its deadline.
    next: Option<(Instant, Trigger)>,
    /// The latest probe, until it is answered, fails or expires.
    current: Option<Current>,
    last_start: Option<Instant>,
    started: u32,
}

impl Prober {
    /// A connection of `transport`, established `now`; `seed` drives its jitter.
    pub(crate) fn new(config: &Config, transport: Transport, seed: u64, now: Instant) -> Self {
        let mut prober = Self {
            interval: config.probe_interval(transport),
            jitter: config.jitter,
            min_timeout: config.min_probe_timeout,
            max_timeout: config.max_probe_timeout,
            min_gap: config.min_probe_gap,
            rng: SmallRng::seed_from_u64(seed),
            rtt: RttEstimator::default(),
            next: None,
            current: None,
            last_start: None,
            started: 0,
        };
        prober.reschedule(now);
        prober
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
        let probe = ProbeId(self.started);
        self.started = self.started.wrapping_add(1);
        self.last_start = Some(now);
        self.current = Some(Current {
            probe,
            trigger,
            deadline: now + self.rtt.timeout(self.min_timeout, self.max_timeout),
        });
        Some(Step::Start { probe, trigger })
    }

    /// `probe` was answered, `rtt` after it started if that is a round trip;
    /// a late answer (after [`Step::Expired`]) included.
    pub(crate) fn on_answer(&mut self, probe: ProbeId, rtt: Option<Duration>, now: Instant) {
        if let Some(rtt) = rtt {
            self.rtt.on_sample(rtt);
        }
        self.end(probe, now);
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
        self.next = self.interval.map(|i| {
            (
                now + jittered(&mut self.rng, self.jitter, i),
                Trigger::Schedule,
            )
        });
    }

    /// The wait for an answer to a new probe, as the RTT measured so far sets it.
    #[cfg(test)]
    pub(crate) fn timeout(&self) -> Duration {
        self.rtt.timeout(self.min_timeout, self.max_timeout)
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
        let mut webrtc = Prober::new(&config(), Transport::WebRtc, 1, t0);
        let quic = Prober::new(&config(), Transport::Quic, 1, t0);
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
    fn jitter_spreads_probes_within_its_bounds() {
        let t0 = Instant::now();
        let config = config().with_jitter(0.2);
        let firsts: Vec<Duration> = (0..200)
            .map(|seed| {
                Prober::new(&config, Transport::WebRtc, seed, t0)
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
        let mut p = Prober::new(&config(), Transport::WebRtc, 1, t0);
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
        // A late answer teaches the RTT and changes nothing else.
        p.on_answer(ProbeId(1), Some(ms(1500)), second + ms(1500));
        assert!(p.timeout() > MIN_TIMEOUT);
        assert_eq!(
            p.poll_timeout(),
            Some(second + MIN_TIMEOUT + ms(300) + INTERVAL)
        );
    }

    #[test]
    fn the_timeout_follows_the_rtt() {
        let t0 = Instant::now();
        let mut p = Prober::new(&config(), Transport::WebRtc, 1, t0);
        for i in 0..20 {
            let at = p.poll_timeout().unwrap();
            assert_eq!(steps(&mut p, at), vec![start(i, Trigger::Schedule)]);
            p.on_answer(ProbeId(i), Some(ms(600)), at + ms(600));
        }
        // 600 ms RTT: about 3 RTTs, not the 1 s minimum.
        let timeout = p.timeout();
        assert!(timeout > ms(1700) && timeout < MAX_TIMEOUT, "{timeout:?}");
    }

    #[test]
    fn requests_start_at_once_but_never_closer_than_the_gap_and_coalesce() {
        let t0 = Instant::now();
        let mut p = Prober::new(&config(), Transport::Tcp, 1, t0);
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
        let mut p = Prober::new(&config(), Transport::WebRtc, 1, t0);
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
        let mut p = Prober::new(&config(), Transport::WebRtc, 1, t0);
        steps(&mut p, t0 + INTERVAL);
        p.on_failed(ProbeId(0), t0 + INTERVAL + ms(1));
        // Not at once: one interval later, like any probe.
        assert_eq!(p.poll_timeout(), Some(t0 + INTERVAL * 2 + ms(1)));
        // An outcome of a probe no longer waiting changes nothing.
        p.on_failed(ProbeId(0), t0 + INTERVAL + ms(2));
        assert_eq!(p.poll_timeout(), Some(t0 + INTERVAL * 2 + ms(1)));
    }
}
