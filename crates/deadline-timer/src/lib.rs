//! One timer for a pure state machine's next deadline.
//!
//! The policies keep their decisions in plain structs that take the current
//! `Instant` and say when they next need it (`poll_timeout`), as quinn-proto
//! does. A behaviour polls a [`DeadlineTimer`] with that deadline: it re-arms
//! a `futures-timer` delay only when the deadline moves, and is ready once it
//! has passed. No runtime is assumed.

use std::{
    task::{Context, Poll},
    time::Instant,
};

use futures::FutureExt;
use futures_timer::Delay;

/// A timer that follows a moving deadline.
#[derive(Debug, Default)]
pub struct DeadlineTimer {
    armed: Option<(Instant, Delay)>,
}

impl DeadlineTimer {
    /// A timer with nothing armed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ready with the current time once `deadline` has passed; pending, with
    /// the task woken at the deadline, before it; pending for ever when there
    /// is no deadline.
    pub fn poll(&mut self, deadline: Option<Instant>, cx: &mut Context<'_>) -> Poll<Instant> {
        let Some(deadline) = deadline else {
            self.armed = None;
            return Poll::Pending;
        };
        // Armed for this deadline already: the delay alone says whether it
        // passed, without a clock read on every poll.
        if let Some((armed, delay)) = &mut self.armed {
            if *armed == deadline {
                return match delay.poll_unpin(cx) {
                    Poll::Ready(()) => {
                        self.armed = None;
                        Poll::Ready(Instant::now())
                    }
                    Poll::Pending => Poll::Pending,
                };
            }
        }
        let now = Instant::now();
        if deadline <= now {
            self.armed = None;
            return Poll::Ready(now);
        }
        let (_, delay) = match &mut self.armed {
            Some(armed) if armed.0 == deadline => armed,
            armed => armed.insert((deadline, Delay::new(deadline - now))),
        };
        match delay.poll_unpin(cx) {
            Poll::Ready(()) => {
                self.armed = None;
                Poll::Ready(Instant::now())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::{executor::block_on, future::poll_fn, task::noop_waker_ref};

    use super::*;

    #[test]
    fn a_passed_deadline_is_ready_at_once() {
        let mut timer = DeadlineTimer::new();
        let mut cx = Context::from_waker(noop_waker_ref());
        let past = Instant::now() - Duration::from_millis(1);
        assert!(timer.poll(Some(past), &mut cx).is_ready());
    }

    #[test]
    fn no_deadline_never_fires() {
        let mut timer = DeadlineTimer::new();
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(timer.poll(None, &mut cx).is_pending());
    }

    #[test]
    fn fires_at_the_deadline_not_before_and_follows_a_moved_one() {
        let mut timer = DeadlineTimer::new();
        let far = Instant::now() + Duration::from_secs(3600);
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(timer.poll(Some(far), &mut cx).is_pending());

        // The deadline moves closer: the timer follows it.
        let near = Instant::now() + Duration::from_millis(20);
        let fired = block_on(poll_fn(|cx| timer.poll(Some(near), cx)));
        assert!(fired >= near);
    }
}
