//! Pure per-connection rules: the camera filter, the message rate limit, the resume decision
//! and the cursor that keeps replayed and live events free of gaps and duplicates.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Which cameras' events a client wants. Empty means every camera.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CameraFilter {
    cameras: Vec<String>,
}

impl CameraFilter {
    pub fn new(cameras: Vec<String>) -> CameraFilter {
        CameraFilter { cameras }
    }

    pub fn allows(&self, camera_id: &str) -> bool {
        self.cameras.is_empty() || self.cameras.iter().any(|c| c == camera_id)
    }
}

/// Allows at most `max` messages in any window of one second.
#[derive(Debug)]
pub struct RateWindow {
    max: usize,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl RateWindow {
    pub fn new(max: usize) -> RateWindow {
        RateWindow {
            max,
            window: Duration::from_secs(1),
            recent: VecDeque::new(),
        }
    }

    /// Records a message at `now`; false when it is one too many.
    pub fn hit(&mut self, now: Instant) -> bool {
        while let Some(&first) = self.recent.front() {
            if now.saturating_duration_since(first) >= self.window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if self.recent.len() >= self.max {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

/// Why resuming was impossible; the client reloads history over REST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// Events after `since` were already removed by retention.
    TooOld,
    /// The client's `epoch` names another database.
    EpochMismatch,
    /// `since` is beyond the newest logged event: it came from another database.
    UnknownSeq,
    /// The event log could not be read.
    StorageError,
}

impl ResetReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ResetReason::TooOld => "too_old",
            ResetReason::EpochMismatch => "epoch_mismatch",
            ResetReason::UnknownSeq => "unknown_seq",
            ResetReason::StorageError => "storage_error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumePlan {
    /// Replay every logged message with seq > since.
    Replay,
    Reset(ResetReason),
}

/// Decides whether `since` can be resumed from the log whose seqs span `bounds`
/// (`None`: empty log). Must be called after subscribing to live events, so that anything
/// committed later arrives live.
pub fn plan_resume(
    since: i64,
    client_epoch: Option<&str>,
    epoch: &str,
    bounds: Option<(i64, i64)>,
) -> ResumePlan {
    if client_epoch.is_some_and(|e| e != epoch) {
        return ResumePlan::Reset(ResetReason::EpochMismatch);
    }
    match bounds {
        // Nothing logged: only "from the beginning" is still complete.
        None if since == 0 => ResumePlan::Replay,
        None => ResumePlan::Reset(ResetReason::TooOld),
        Some((_, max)) if since > max => ResumePlan::Reset(ResetReason::UnknownSeq),
        Some((min, _)) if since < min - 1 => ResumePlan::Reset(ResetReason::TooOld),
        Some(_) => ResumePlan::Replay,
    }
}

/// [`plan_resume`] over the event log (`log` bounds) together with the messages the hub holds
/// because the database could not commit them yet (`held` bounds), where every seq up to
/// `lost_through` that was dropped unstored makes an earlier `since` impossible to serve.
pub fn plan_resume_with_held(
    since: i64,
    client_epoch: Option<&str>,
    epoch: &str,
    log: Option<(i64, i64)>,
    held: Option<(i64, i64)>,
    lost_through: Option<i64>,
) -> ResumePlan {
    let bounds = match (log, held) {
        (Some((lo, hi)), Some((held_lo, held_hi))) => Some((lo.min(held_lo), hi.max(held_hi))),
        (log, held) => log.or(held),
    };
    match plan_resume(since, client_epoch, epoch, bounds) {
        ResumePlan::Replay if lost_through.is_some_and(|lost| since < lost) => {
            ResumePlan::Reset(ResetReason::TooOld)
        }
        plan => plan,
    }
}

/// The highest seq already handed to (or filtered out for) this client. Live messages at or
/// below it were replayed from the log and are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    last: i64,
}

impl Cursor {
    /// Every live message passes.
    pub fn live() -> Cursor {
        Cursor { last: i64::MIN }
    }

    /// Resume after `since`.
    pub fn after(since: i64) -> Cursor {
        Cursor { last: since }
    }

    pub fn last(&self) -> i64 {
        self.last
    }

    /// True (and advances) when `seq` has not been handled yet.
    pub fn admit(&mut self, seq: i64) -> bool {
        if seq > self.last {
            self.last = seq;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter() {
        assert!(CameraFilter::default().allows("x"));
        let f = CameraFilter::new(vec!["a".into(), "b".into()]);
        assert!(f.allows("a") && f.allows("b") && !f.allows("c"));
    }

    #[test]
    fn rate_window_allows_twenty_per_second() {
        let t0 = Instant::now();
        let mut r = RateWindow::new(20);
        for i in 0..20 {
            assert!(r.hit(t0 + Duration::from_millis(i * 10)), "message {i}");
        }
        assert!(!r.hit(t0 + Duration::from_millis(500)));
        // A second after the first message, one slot is free again.
        assert!(r.hit(t0 + Duration::from_millis(1000)));
        assert!(!r.hit(t0 + Duration::from_millis(1001)));
        // A steady 19/s never trips it.
        let mut r = RateWindow::new(20);
        for i in 0..200 {
            assert!(r.hit(t0 + Duration::from_millis(i * 53)));
        }
    }

    #[test]
    fn resume_decisions() {
        use ResetReason::*;
        use ResumePlan::*;
        assert_eq!(plan_resume(5, None, "e", Some((1, 10))), Replay);
        assert_eq!(plan_resume(10, None, "e", Some((1, 10))), Replay);
        assert_eq!(plan_resume(11, None, "e", Some((1, 10))), Reset(UnknownSeq));
        // min-1 is the oldest since that misses nothing.
        assert_eq!(plan_resume(4, None, "e", Some((5, 10))), Replay);
        assert_eq!(plan_resume(3, None, "e", Some((5, 10))), Reset(TooOld));
        assert_eq!(plan_resume(0, None, "e", None), Replay);
        assert_eq!(plan_resume(3, None, "e", None), Reset(TooOld));
        assert_eq!(plan_resume(5, Some("e"), "e", Some((1, 10))), Replay);
        assert_eq!(
            plan_resume(5, Some("other"), "e", Some((1, 10))),
            Reset(EpochMismatch)
        );
        assert_eq!(TooOld.as_str(), "too_old");
        assert_eq!(EpochMismatch.as_str(), "epoch_mismatch");
    }

    #[test]
    fn resume_decisions_with_held_messages() {
        use ResetReason::*;
        use ResumePlan::*;
        let plan =
            |since, log, held, lost| plan_resume_with_held(since, None, "e", log, held, lost);
        // Held messages extend the log: a since among them is known.
        assert_eq!(plan(12, Some((1, 10)), Some((11, 15)), None), Replay);
        assert_eq!(plan(15, Some((1, 10)), Some((11, 15)), None), Replay);
        assert_eq!(
            plan(16, Some((1, 10)), Some((11, 15)), None),
            Reset(UnknownSeq)
        );
        // Nothing committed yet in a new database.
        assert_eq!(plan(0, None, Some((1, 4)), None), Replay);
        assert_eq!(plan(3, None, Some((1, 4)), None), Replay);
        assert_eq!(plan(3, None, None, None), Reset(TooOld));
        // Message 12 was dropped unstored: only a since at or after it can be served.
        assert_eq!(
            plan(11, Some((1, 10)), Some((13, 15)), Some(12)),
            Reset(TooOld)
        );
        assert_eq!(plan(12, Some((1, 10)), Some((13, 15)), Some(12)), Replay);
        assert_eq!(plan(14, Some((1, 15)), None, Some(12)), Replay);
        // The epoch still comes first.
        assert_eq!(
            plan_resume_with_held(12, Some("x"), "e", Some((1, 10)), Some((11, 15)), None),
            Reset(EpochMismatch)
        );
    }

    #[test]
    fn cursor_skips_replayed() {
        let mut c = Cursor::after(4);
        assert!(!c.admit(3));
        assert!(!c.admit(4));
        assert!(c.admit(5));
        assert!(!c.admit(5));
        assert!(c.admit(9));
        assert_eq!(c.last(), 9);
        let mut live = Cursor::live();
        assert!(live.admit(0));
    }
}
