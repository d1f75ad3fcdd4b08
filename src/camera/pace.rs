//! Frame pacing for synthetic and replayed sources: frame `n` is due `n / fps` after the
//! first, like a real sensor. A consumer that falls behind loses the missed slots (the
//! sequence jumps), as a camera would drop them, instead of getting a burst.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Pacer {
    period: Duration,
    start: Option<Instant>,
    next: u64,
}

impl Pacer {
    pub fn new(fps: u32) -> Self {
        Pacer {
            period: Duration::from_nanos(1_000_000_000 / u64::from(fps.max(1))),
            start: None,
            next: 0,
        }
    }

    /// Restarts at slot 0 (on reopen).
    pub fn reset(&mut self) {
        self.start = None;
        self.next = 0;
    }

    fn due(&self, start: Instant, slot: u64) -> Instant {
        let nanos = u64::try_from(self.period.as_nanos()).unwrap_or(u64::MAX);
        start + Duration::from_nanos(nanos.saturating_mul(slot))
    }

    /// Sleeps until the next slot and returns its index, or `None` after `timeout` when the
    /// slot is further away than that.
    pub fn wait(&mut self, timeout: Duration) -> Option<u64> {
        let now = Instant::now();
        let start = *self.start.get_or_insert(now);
        let mut due = self.due(start, self.next);
        if now > due + self.period {
            let period = self.period.as_nanos().max(1);
            self.next = u64::try_from((now - start).as_nanos() / period).unwrap_or(u64::MAX);
            due = self.due(start, self.next);
        }
        if due > now + timeout {
            std::thread::sleep(timeout);
            return None;
        }
        std::thread::sleep(due.saturating_duration_since(now));
        let slot = self.next;
        self.next += 1;
        Some(slot)
    }
}
