//! A token bucket, with time passed in: how many inbound probes a connection serves.

use std::time::Instant;

#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenBucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(per_second: u32, burst: u32, now: Instant) -> Self {
        Self {
            per_second: f64::from(per_second),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            updated: now,
        }
    }

    /// A full bucket of the same rate and burst.
    pub(crate) fn refilled(&self, now: Instant) -> Self {
        Self {
            tokens: self.burst,
            updated: now,
            ..*self
        }
    }

    fn tokens_at(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        (self.tokens + elapsed * self.per_second).min(self.burst)
    }

    /// Whether a token could be taken at `now`.
    pub(crate) fn has_token(&self, now: Instant) -> bool {
        self.tokens_at(now) >= 1.0
    }

    /// [`Self::has_token`] at the time `now` returns, which is only asked
    /// when the bucket holds less than a token: tokens never drop with time,
    /// so a whole one now is a whole one then. Spares the clock on a hot path.
    pub(crate) fn has_token_by(&self, now: impl FnOnce() -> Instant) -> bool {
        self.tokens >= 1.0 || self.has_token(now())
    }

    /// Takes a token if there is one.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        self.tokens = self.tokens_at(now);
        self.updated = now.max(self.updated);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn serves_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(4, 8, start);
        assert_eq!((0..20).filter(|_| bucket.try_take(start)).count(), 8);
        assert!(!bucket.has_token(start));

        let later = start + Duration::from_millis(500);
        assert!(bucket.has_token(later));
        assert_eq!((0..20).filter(|_| bucket.try_take(later)).count(), 2);

        // Refills to the burst, never beyond.
        let much_later = start + Duration::from_secs(3600);
        assert_eq!((0..20).filter(|_| bucket.try_take(much_later)).count(), 8);
    }

    #[test]
    fn a_whole_token_is_known_without_the_clock() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(4, 2, start);
        assert!(bucket.has_token_by(|| unreachable!("a full bucket needs no clock")));
        assert!(bucket.try_take(start));
        assert!(bucket.has_token_by(|| unreachable!("a whole token is left")));
        assert!(bucket.try_take(start));
        assert!(!bucket.has_token_by(|| start));
        assert!(bucket.has_token_by(|| start + Duration::from_millis(250)));
    }

    #[test]
    fn time_going_backwards_does_not_mint_tokens() {
        let start = Instant::now() + Duration::from_secs(10);
        let mut bucket = TokenBucket::new(1, 1, start);
        assert!(bucket.try_take(start));
        assert!(!bucket.try_take(start - Duration::from_secs(5)));
        assert!(!bucket.try_take(start));
    }
}
