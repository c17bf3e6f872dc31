//! The summary of one arm's runs: median, min, max, and how many were capped.

use crate::scenarios::Sample;

/// One arm's samples, summarised. Capped runs count as the cap.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The median; the mean of the two middle samples for an even count.
    pub median: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
    /// How many runs did not recover within the cap.
    pub capped: usize,
    /// Every sample's value, in run order.
    pub samples: Vec<f64>,
    /// Which samples, in run order, are capped runs.
    pub capped_runs: Vec<bool>,
    /// The samples sorted, capped ones last among equal values.
    sorted: Vec<Sample>,
}

impl Summary {
    /// Summarises `samples`, given in run order. `None` if there are none.
    pub fn new(samples: &[Sample]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        // A capped run did not finish: it ranks after a measured one of the same value.
        sorted.sort_by(|a, b| a.value.total_cmp(&b.value).then(a.capped.cmp(&b.capped)));
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2].value
        } else {
            (sorted[n / 2 - 1].value + sorted[n / 2].value) / 2.0
        };
        Some(Self {
            median,
            min: sorted[0].value,
            max: sorted[n - 1].value,
            capped: samples.iter().filter(|s| s.capped).count(),
            samples: samples.iter().map(|s| s.value).collect(),
            capped_runs: samples.iter().map(|s| s.capped).collect(),
            sorted,
        })
    }

    /// Whether the median is only a bound: a capped run is among the
    /// samples it is taken from, so the true median is at least this.
    pub fn median_capped(&self) -> bool {
        self.sorted[self.sorted.len() / 2].capped
    }

    /// Whether the minimum is a capped run (then every run is).
    pub fn min_capped(&self) -> bool {
        self.sorted[0].capped
    }

    /// Whether the maximum is a capped run.
    pub fn max_capped(&self) -> bool {
        self.sorted[self.sorted.len() - 1].capped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(samples: &[Sample]) -> Summary {
        Summary::new(samples).unwrap()
    }

    #[test]
    fn odd_count_takes_the_middle_sample() {
        let s = summary(&[
            Sample::measured(30.0),
            Sample::measured(10.0),
            Sample::measured(20.0),
        ]);
        assert_eq!((s.median, s.min, s.max, s.capped), (20.0, 10.0, 30.0, 0));
        assert_eq!(s.samples, vec![30.0, 10.0, 20.0], "run order is kept");
        assert!(!s.median_capped());
    }

    #[test]
    fn even_count_takes_the_mean_of_the_middle_two() {
        let s = summary(&[
            Sample::measured(4.0),
            Sample::measured(1.0),
            Sample::measured(3.0),
            Sample::measured(2.0),
        ]);
        assert_eq!(s.median, 2.5);
        assert_eq!((s.min, s.max), (1.0, 4.0));
    }

    #[test]
    fn capped_runs_count_as_the_cap_and_are_counted() {
        let s = summary(&[
            Sample::capped(15000.0),
            Sample::measured(900.0),
            Sample::capped(15000.0),
        ]);
        assert_eq!(s.capped, 2);
        assert_eq!((s.median, s.min, s.max), (15000.0, 900.0, 15000.0));
        assert!(s.median_capped());
        assert!(!s.min_capped());
        assert!(s.max_capped());
    }

    #[test]
    fn an_even_median_with_a_capped_upper_middle_is_a_bound() {
        let s = summary(&[
            Sample::measured(100.0),
            Sample::measured(200.0),
            Sample::capped(1000.0),
            Sample::capped(1000.0),
        ]);
        assert_eq!(s.median, 600.0);
        assert!(s.median_capped());

        let s = summary(&[
            Sample::measured(100.0),
            Sample::measured(200.0),
            Sample::measured(300.0),
            Sample::capped(1000.0),
        ]);
        assert_eq!(s.median, 250.0);
        assert!(!s.median_capped());
    }

    #[test]
    fn a_measured_value_equal_to_the_cap_ranks_first() {
        let s = summary(&[Sample::capped(50.0), Sample::measured(50.0)]);
        assert!(!s.min_capped());
        assert!(s.max_capped());
    }

    #[test]
    fn every_run_capped() {
        let s = summary(&[Sample::capped(20.0); 3]);
        assert_eq!((s.median, s.min, s.max, s.capped), (20.0, 20.0, 20.0, 3));
        assert!(s.min_capped() && s.median_capped() && s.max_capped());
    }

    #[test]
    fn no_samples_no_summary() {
        assert_eq!(Summary::new(&[]), None);
    }
}
