//! The recovery core against its dial bound, for the fuzz targets in
//! `fuzz/`. Not part of the API: it exists only with the `fuzzing` feature.
//!
//! [`check`] reads a scenario from bytes: a backoff and a number of
//! bootstrap peers, all of them dead, and then events in time order (health
//! checks finding the node alone, bootstrap failures, dials failing some
//! time after they were made, some dropped unsent by the swarm, and the
//! node's listen address coming back after none). The core handles every
//! attempt when due. It panics when the dials in any window exceed
//! [`Config::max_dials_within`] for that window.

use std::time::{Duration, Instant};

use libp2p_core::{multiaddr::Protocol, Multiaddr};
use libp2p_identity::PeerId;

use crate::{
    recovery::{Action, Health, Recovery},
    Config,
};

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

/// Runs the scenario `data` describes; panics if the dial bound breaks.
pub fn check(data: &[u8]) {
    let mut bytes = Bytes(data);
    let peers = 1 + usize::from(bytes.byte() % 8);
    let addresses: Vec<Multiaddr> = (0..peers)
        .map(|i| {
            Multiaddr::empty()
                .with(Protocol::Ip4([127, 0, 0, 1].into()))
                .with(Protocol::Udp(4000 + i as u16))
                .with(Protocol::QuicV1)
                .with(Protocol::P2p(PeerId::random()))
        })
        .collect();
    let initial = Duration::from_millis(100 + 100 * u64::from(bytes.byte() % 10));
    let max = initial * (1 + u32::from(bytes.byte() % 16));
    let jitter = f64::from(bytes.byte() % 10) / 10.0;
    let config = Config::default()
        .with_bootstrap_addresses(addresses)
        .with_backoff(initial, max, jitter)
        .with_max_parallel_dials(1 + usize::from(bytes.byte() % 4));
    let t0 = Instant::now();
    let mut recovery = Recovery::new(config.clone(), u64::from(bytes.byte()));
    let alone = Health {
        connected_peers: 0,
        live_entries: 0,
    };

    // The scenario's own events, in time order.
    let mut events: Vec<(Instant, u8)> = (0..usize::from(bytes.byte() % 32))
        .map(|_| (t0 + bytes.millis(120_000), bytes.byte()))
        .collect();
    events.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    let failure_delay = bytes.millis(6_000);
    let dropped_every = 1 + usize::from(bytes.byte() % 8);

    let end = t0 + Duration::from_secs(120);
    let mut dials: Vec<Instant> = Vec::new();
    let mut failing: Vec<(Instant, PeerId, bool)> = Vec::new();
    let mut now = t0;
    recovery.on_health(alone, now);
    loop {
        while events.last().is_some_and(|(at, _)| *at <= now) {
            let (_, kind) = events.pop().expect("checked");
            match kind % 3 {
                0 => recovery.on_health(alone, now),
                1 => recovery.on_bootstrap_failed(now),
                _ => recovery.on_listen_addr_after_none(now),
            }
        }
        failing.sort_by_key(|(at, _, _)| std::cmp::Reverse(*at));
        while failing.last().is_some_and(|(at, _, _)| *at <= now) {
            let (_, peer, happened) = failing.pop().expect("checked");
            recovery.on_dial_failed(peer, happened);
        }
        if recovery.poll_timeout().is_some_and(|at| at <= now) {
            recovery.handle_timeout(now);
        }
        while let Some(action) = recovery.poll_action() {
            match action {
                Action::Dial { peer, .. } => {
                    dials.push(now);
                    let happened = !dials.len().is_multiple_of(dropped_every);
                    let after = if happened {
                        failure_delay
                    } else {
                        Duration::ZERO
                    };
                    failing.push((now + after, peer, happened));
                }
                // Kademlia's bootstrap finds nobody: its lookup hears from none.
                Action::Bootstrap { .. } => recovery.on_lookup(0, now),
                _ => {}
            }
        }
        let next = [
            recovery.poll_timeout(),
            events.last().map(|(at, _)| *at),
            failing.iter().map(|(at, _, _)| *at).min(),
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            Some(next) if next <= end => now = next.max(now),
            _ => break,
        }
    }

    for window in [1, 5, 20, 60].map(Duration::from_secs) {
        let bound = config.max_dials_within(window);
        for (i, start) in dials.iter().enumerate() {
            let within = dials[i..]
                .iter()
                .take_while(|at| **at < *start + window)
                .count();
            assert!(
                within <= bound,
                "{within} dials within {window:?} from {:?}, bound {bound}",
                *start - t0
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{rngs::SmallRng, RngExt, SeedableRng};

    #[test]
    fn the_dial_bound_holds_on_random_scenarios() {
        let mut rng = SmallRng::seed_from_u64(21);
        for _ in 0..300 {
            let len = rng.random_range(0..120);
            let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            super::check(&data);
        }
    }
}
