//! The policy's decision core against a model, for the fuzz targets in
//! `fuzz/`. Not part of the API: it exists only with the `fuzzing` feature.
//!
//! [`check`] reads a scenario from bytes (a preset, up to 24 connections to
//! up to eight peers, each live, dying at some moment, or answering every
//! probe late; `suspect` calls), runs the core and one
//! prober per connection through it as the behaviour and the handlers do,
//! with every timer handled when due, and panics when an invariant breaks:
//!
//! - a connection that answers (in time, or late but before its next probe
//!   expires) is never pruned;
//! - a connection whose peer died is pruned within
//!   [`Config::detection_bound`] of the death, unless the node reported
//!   itself overloaded meanwhile;
//! - a connection is closed at most once, and only while established;
//! - the core's count of silent connections is what its records say.

use std::time::{Duration, Instant};

use libp2p_identity::PeerId;
use libp2p_swarm::ConnectionId;

use crate::{
    event::Event,
    monitor::{Action, Monitor, ProbeOutcome},
    prober::{ProbeId, Prober, Scheduled, Step},
    Config, Transport,
};

/// How a connection's peer behaves.
#[derive(Debug, Clone, Copy)]
enum Peer {
    /// Answers every probe `rtt` after it starts.
    Live { rtt: Duration },
    /// Answers like a live peer until `at`, then never.
    Dies { rtt: Duration, at: Instant },
    /// Answers every probe `late_by` after its deadline.
    Late { late_by: Duration },
}

struct Connection {
    id: ConnectionId,
    peer: Peer,
    prober: Prober,
    open: bool,
    pruned_at: Option<Instant>,
}

struct Answer {
    at: Instant,
    connection: usize,
    probe: ProbeId,
    trigger: crate::event::Trigger,
    rtt: Duration,
}

/// Reads the scenario's bytes; past their end, zeros.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let Some((first, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        *first
    }

    fn millis(&mut self, max: u64) -> Duration {
        let n = u64::from(u16::from_le_bytes([self.byte(), self.byte()]));
        Duration::from_millis(n % (max + 1))
    }
}

/// Runs the scenario `data` describes; panics if an invariant breaks.
pub fn check(data: &[u8]) {
    let mut bytes = Bytes(data);
    let interval = Duration::from_millis(250 + 250 * u64::from(bytes.byte() % 20));
    let config = match bytes.byte() % 3 {
        0 => Config::default(),
        1 => Config::aggressive(),
        _ => Config::default().with_max_strikes(2),
    }
    .with_probe_interval(Transport::WebRtc, Some(interval));
    let bound = config
        .detection_bound(Transport::WebRtc)
        .expect("probed on a schedule");
    let min_timeout = config.min_probe_timeout;
    let t0 = Instant::now();
    let seed = u64::from(bytes.byte());
    let mut monitor = Monitor::new(config.clone(), seed);
    let scheduled = Scheduled::default();
    let peers: Vec<PeerId> = (0..8).map(|_| PeerId::random()).collect();

    // Past 8 silent at once, the mass-silence rule comes into play; a
    // shared moment of death makes many silent together.
    let count = 1 + usize::from(bytes.byte() % 24);
    let mass_death = (bytes.byte() % 2 == 1).then(|| t0 + bytes.millis(60_000));
    let mut connections: Vec<Connection> = (0..count)
        .map(|i| {
            // A live peer's RTT is well within the minimum timeout, as on
            // any path the timeout was configured for.
            let rtt = bytes.millis(min_timeout.as_millis() as u64 / 3);
            let peer = match bytes.byte() % 4 {
                0 | 1 => Peer::Live { rtt },
                2 => Peer::Dies {
                    rtt,
                    at: mass_death.unwrap_or_else(|| t0 + bytes.millis(60_000)),
                },
                _ => Peer::Late {
                    late_by: bytes.millis(min_timeout.as_millis() as u64 / 2),
                },
            };
            let id = ConnectionId::new_unchecked(i);
            monitor.on_established(
                peers[usize::from(bytes.byte() % 8)],
                id,
                Transport::WebRtc,
                t0,
            );
            Connection {
                id,
                peer,
                prober: Prober::new(&config, Transport::WebRtc, &scheduled, seed + i as u64, t0),
                open: true,
                pruned_at: None,
            }
        })
        .collect();
    // Moments the application suspects a connection.
    let mut suspicions: Vec<(Instant, usize)> = (0..usize::from(bytes.byte() % 8))
        .map(|_| (t0 + bytes.millis(60_000), usize::from(bytes.byte()) % count))
        .collect();
    suspicions.sort_by_key(|(at, _)| *at);
    suspicions.reverse();

    let end = t0 + Duration::from_secs(60) + bound * 2;
    let mut answers: Vec<Answer> = Vec::new();
    let mut overloaded_at: Option<Instant> = None;
    let mut now = t0;
    loop {
        // Everything due now, in the order the tasks would run it.
        monitor.handle_timeout(now);
        while suspicions.last().is_some_and(|(at, _)| *at <= now) {
            let (_, c) = suspicions.pop().expect("checked");
            monitor.suspect(connections[c].id);
        }
        answers.sort_by_key(|a| std::cmp::Reverse(a.at));
        while answers.last().is_some_and(|a| a.at <= now) {
            let answer = answers.pop().expect("checked");
            let c = &mut connections[answer.connection];
            if !c.open {
                continue;
            }
            let rtt = c.prober.on_answer(answer.probe, Some(answer.rtt), now);
            let sent = c.prober.started();
            monitor.on_probe_outcome(
                c.id,
                answer.trigger,
                ProbeOutcome::Answered { rtt },
                sent,
                now,
            );
        }
        for (index, c) in connections.iter_mut().enumerate() {
            while c.open {
                let Some(step) = c.prober.poll(now) else {
                    break;
                };
                match step {
                    Step::Start { probe, trigger } => {
                        let deadline = c.prober.poll_timeout().expect("a probe waits");
                        let answer = match c.peer {
                            Peer::Live { rtt } => Some(rtt),
                            Peer::Dies { rtt, at } => (now + rtt < at).then_some(rtt),
                            Peer::Late { late_by } => Some(deadline - now + late_by),
                        };
                        if let Some(rtt) = answer {
                            answers.push(Answer {
                                at: now + rtt,
                                connection: index,
                                probe,
                                trigger,
                                rtt,
                            });
                        }
                    }
                    Step::Expired {
                        trigger, late_by, ..
                    } => {
                        let sent = c.prober.started();
                        let outcome = ProbeOutcome::Unanswered { late_by };
                        monitor.on_probe_outcome(c.id, trigger, outcome, sent, now);
                    }
                }
            }
        }
        while let Some(action) = monitor.poll_action() {
            match action {
                Action::Probe {
                    connection,
                    trigger,
                    ..
                } => {
                    let i = index(&connections, connection);
                    let c = &mut connections[i];
                    assert!(c.open, "a probe asked of a closed connection");
                    c.prober.request(trigger, now);
                }
                Action::Close { connection, .. } => {
                    let i = index(&connections, connection);
                    let c = &mut connections[i];
                    assert!(c.open, "{connection:?} closed twice");
                    assert!(
                        matches!(c.peer, Peer::Dies { at, .. } if at <= now),
                        "{:?} pruned at {:?}: its peer answers ({:?})",
                        connection,
                        now - t0,
                        c.peer
                    );
                    c.open = false;
                    c.pruned_at = Some(now);
                    monitor.on_closed(connection, None, now);
                }
                Action::Report(Event::Overloaded { .. }) => {
                    overloaded_at.get_or_insert(now);
                }
                Action::Report(_) => {}
            }
        }
        assert_eq!(monitor.silent(), monitor.silent_by_records());

        let next = [
            monitor.poll_timeout(),
            answers.iter().map(|a| a.at).min(),
            suspicions.last().map(|(at, _)| *at),
        ]
        .into_iter()
        .chain(
            connections
                .iter()
                .filter(|c| c.open)
                .map(|c| c.prober.poll_timeout()),
        )
        .flatten()
        .min();
        match next {
            Some(next) if next <= end => now = next.max(now),
            _ => break,
        }
    }

    for c in &connections {
        let Peer::Dies { at, .. } = c.peer else {
            continue;
        };
        if overloaded_at.is_some() {
            continue;
        }
        let pruned = c
            .pruned_at
            .unwrap_or_else(|| panic!("{:?} died at {:?} and was never pruned", c.id, at - t0));
        assert!(
            pruned - at <= bound,
            "{:?} pruned {:?} after its death, bound {bound:?}",
            c.id,
            pruned - at
        );
    }
}

fn index(connections: &[Connection], connection: ConnectionId) -> usize {
    connections
        .iter()
        .position(|c| c.id == connection)
        .expect("an action for a connection of the model")
}

#[cfg(test)]
mod tests {
    use rand::{rngs::SmallRng, RngExt, SeedableRng};

    #[test]
    fn the_model_holds_on_random_scenarios() {
        let mut rng = SmallRng::seed_from_u64(20);
        for _ in 0..300 {
            let len = rng.random_range(0..200);
            let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            super::check(&data);
        }
    }
}
