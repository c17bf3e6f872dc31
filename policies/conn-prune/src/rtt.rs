//! A smoothed RTT and its variation, as TCP keeps them (RFC 6298).

use std::time::Duration;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RttEstimator {
    smoothed: Option<Duration>,
    variation: Duration,
}

impl RttEstimator {
    pub(crate) fn on_sample(&mut self, sample: Duration) {
        match self.smoothed {
            None => {
                self.smoothed = Some(sample);
                self.variation = sample / 2;
            }
            Some(smoothed) => {
                let deviation = smoothed.abs_diff(sample);
                self.variation = (self.variation * 3 + deviation) / 4;
                self.smoothed = Some((smoothed * 7 + sample) / 8);
            }
        }
    }

    pub(crate) fn smoothed(&self) -> Option<Duration> {
        self.smoothed
    }

    /// How long to wait for an answer: three smoothed RTTs (a probe takes one
    /// to three round trips, by transport) plus four variations, within
    /// bounds; the upper bound until the first sample.
    pub(crate) fn timeout(&self, min: Duration, max: Duration) -> Duration {
        match self.smoothed {
            None => max,
            Some(smoothed) => (smoothed * 3 + self.variation * 4).clamp(min, max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn waits_the_maximum_before_the_first_sample() {
        assert_eq!(RttEstimator::default().timeout(MIN, MAX), MAX);
    }

    #[test]
    fn follows_the_samples_within_bounds() {
        let mut rtt = RttEstimator::default();
        rtt.on_sample(ms(100));
        // 3 * 100 + 4 * 50
        assert_eq!(rtt.timeout(MIN, MAX), ms(500));
        for _ in 0..50 {
            rtt.on_sample(ms(100));
        }
        let steady = rtt.timeout(MIN, MAX);
        assert!(steady >= ms(300) && steady < ms(310), "{steady:?}");

        rtt.on_sample(ms(2000));
        assert!(
            rtt.timeout(MIN, MAX) > steady,
            "a slow answer lengthens the timeout"
        );

        let mut fast = RttEstimator::default();
        fast.on_sample(Duration::from_micros(10));
        assert_eq!(fast.timeout(MIN, MAX), MIN);

        let mut slow = RttEstimator::default();
        slow.on_sample(Duration::from_secs(10));
        assert_eq!(slow.timeout(MIN, MAX), MAX);
    }
}
