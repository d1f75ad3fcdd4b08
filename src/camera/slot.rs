//! The latest-frame mailbox between a camera thread and its worker (DESIGN.md §2): never a
//! queue. A newer frame replaces one the worker has not taken yet, and the replacement is
//! counted as a skip, so a slow worker always sees the freshest frame and memory stays flat.

use super::Frame;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Inner {
    frame: Option<Frame>,
    closed: bool,
}

/// Single-slot mailbox shared by one producer and one consumer.
#[derive(Default)]
pub struct LatestFrame {
    inner: Mutex<Inner>,
    ready: Condvar,
    skipped: AtomicU64,
    corrupt: AtomicU64,
}

impl LatestFrame {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves only a frame slot behind; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `frame`, replacing (and counting as skipped) one not yet taken. Ignored after
    /// `close()`.
    pub fn put(&self, frame: Frame) {
        let mut g = self.lock();
        if g.closed {
            return;
        }
        if g.frame.replace(frame).is_some() {
            self.skipped.fetch_add(1, Ordering::Relaxed);
        }
        drop(g);
        self.ready.notify_one();
    }

    /// Takes the frame, waiting up to `timeout` for one. `None` on timeout or once closed.
    pub fn take_timeout(&self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        let mut g = self.lock();
        loop {
            if let Some(f) = g.frame.take() {
                return Some(f);
            }
            if g.closed {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            g = match self.ready.wait_timeout(g, left) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }

    /// Frames replaced before the worker took them.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Counts a frame the worker could not decode (corrupt MJPEG), for the camera's status.
    pub fn add_corrupt(&self, n: u64) {
        self.corrupt.fetch_add(n, Ordering::Relaxed);
    }

    /// Frames counted as corrupt by the worker.
    pub fn corrupt(&self) -> u64 {
        self.corrupt.load(Ordering::Relaxed)
    }

    /// Wakes every waiter; later `put`s are dropped and `take_timeout` returns what is left,
    /// then `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::{PixelFormat, Plane};
    use std::sync::Arc;
    use std::time::SystemTime;

    fn frame(seq: u64) -> Frame {
        Frame {
            format: PixelFormat::Gray,
            width: 1,
            height: 1,
            planes: vec![Plane {
                data: vec![0],
                stride: 1,
            }],
            timestamp: SystemTime::now(),
            sequence: seq,
        }
    }

    #[test]
    fn newer_frame_replaces_and_counts_a_skip() {
        let slot = LatestFrame::new();
        slot.put(frame(1));
        slot.put(frame(2));
        slot.put(frame(3));
        assert_eq!(slot.skipped(), 2);
        assert_eq!(
            slot.take_timeout(Duration::ZERO).map(|f| f.sequence),
            Some(3)
        );
        assert!(slot.take_timeout(Duration::from_millis(10)).is_none());
        slot.put(frame(4));
        assert_eq!(slot.skipped(), 2, "a taken frame is not a skip");
    }

    #[test]
    fn take_waits_for_a_producer() {
        let slot = Arc::new(LatestFrame::new());
        let producer = {
            let slot = slot.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                slot.put(frame(7));
            })
        };
        let got = slot.take_timeout(Duration::from_secs(5));
        assert_eq!(got.map(|f| f.sequence), Some(7));
        producer.join().unwrap();
    }

    #[test]
    fn close_wakes_waiters_and_drops_later_frames() {
        let slot = Arc::new(LatestFrame::new());
        let waiter = {
            let slot = slot.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                (slot.take_timeout(Duration::from_secs(10)), t.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(30));
        slot.close();
        let (got, waited) = waiter.join().unwrap();
        assert!(got.is_none());
        assert!(waited < Duration::from_secs(5));
        slot.put(frame(1));
        assert!(slot.take_timeout(Duration::ZERO).is_none());
        assert!(slot.is_closed());
    }

    #[test]
    fn corrupt_counter() {
        let slot = LatestFrame::new();
        slot.add_corrupt(2);
        slot.add_corrupt(1);
        assert_eq!(slot.corrupt(), 3);
    }
}
