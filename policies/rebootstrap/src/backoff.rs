//! Jittered exponential backoff between recovery attempts.

use std::time::Duration;

use rand::{Rng, RngExt};

use crate::Config;

/// The delay before attempt `attempt` (the first retry is attempt 1):
/// `initial` doubled per attempt up to `max`, shortened by a random fraction
/// of up to `jitter` so that nodes that lost the same peers spread out.
pub(crate) fn delay(config: &Config, attempt: u32, rng: &mut impl Rng) -> Duration {
    let full = full_delay(config, attempt);
    if config.backoff_jitter == 0.0 {
        return full;
    }
    full.mul_f64(1.0 - rng.random_range(0.0..=config.backoff_jitter))
}

/// The shortest delay [`delay`] can return for `attempt`.
pub(crate) fn shortest_delay(config: &Config, attempt: u32) -> Duration {
    full_delay(config, attempt).mul_f64(1.0 - config.backoff_jitter)
}

fn full_delay(config: &Config, attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(31);
    config
        .backoff_initial
        .saturating_mul(1 << doublings)
        .min(config.backoff_max)
}

#[cfg(test)]
mod tests {
    use rand::{rngs::SmallRng, SeedableRng};

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn doubles_up_to_the_ceiling() {
        let config = Config::default().with_backoff(ms(500), ms(4000), 0.0);
        let mut rng = SmallRng::seed_from_u64(1);
        let delays: Vec<_> = (1..=6).map(|a| delay(&config, a, &mut rng)).collect();
        assert_eq!(
            delays,
            [ms(500), ms(1000), ms(2000), ms(4000), ms(4000), ms(4000)]
        );
        assert_eq!(delay(&config, u32::MAX, &mut rng), ms(4000));
    }

    #[test]
    fn jitter_only_shortens_within_its_fraction() {
        let config = Config::default().with_backoff(ms(1000), ms(1000), 0.5);
        let mut rng = SmallRng::seed_from_u64(2);
        let delays: Vec<_> = (0..500).map(|_| delay(&config, 1, &mut rng)).collect();
        assert!(delays.iter().all(|d| *d >= ms(500) && *d <= ms(1000)));
        assert_eq!(shortest_delay(&config, 1), ms(500));
        let spread = *delays.iter().max().unwrap() - *delays.iter().min().unwrap();
        assert!(spread > ms(300), "{spread:?}");
    }
}
