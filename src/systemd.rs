//! systemd integration through `sd_notify`: READY, STATUS, health-gated WATCHDOG, RELOADING,
//! STOPPING. Every call is a no-op outside systemd (no `NOTIFY_SOCKET`), so the daemon runs
//! the same way from a shell, a test or a unit.

use sd_notify::NotifyState;
use std::time::{Duration, Instant};

/// Tells systemd the daemon is up (store open, model loaded, listener bound).
pub fn notify_ready(status_line: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status_line)]);
}

/// Updates the one-line status shown by `systemctl status gozcu`.
pub fn notify_status(status_line: &str) {
    send(&[NotifyState::Status(status_line)]);
}

/// Starts a reload (`Type=notify-reload` requires MONOTONIC_USEC with RELOADING=1).
pub fn notify_reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

pub fn notify_stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

pub fn notify_watchdog() {
    send(&[NotifyState::Watchdog]);
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        // Losing a notification must not take the daemon down; systemd will notice on its own
        // (start timeout or watchdog) if this keeps failing.
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

/// How often to send WATCHDOG=1: half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3) advises.
/// None when systemd did not enable the watchdog for this process.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}

/// Progress report of one worker thread (camera capture loop or detector worker).
#[derive(Debug, Clone)]
pub struct WorkerProgress {
    /// e.g. "camera cam-1" or "detector 0".
    pub name: String,
    /// Last time the worker's loop came around.
    pub last_progress: Instant,
}

/// The health gate for the watchdog: every worker must have made progress within
/// `max_stall`. A camera that is retrying still loops (its poll and backoff waits are
/// bounded), so only a hung ioctl or NPU call trips this. Returns the stalled worker names.
pub fn stalled_workers(
    now: Instant,
    workers: &[WorkerProgress],
    max_stall: Duration,
) -> Vec<String> {
    workers
        .iter()
        .filter(|w| now.saturating_duration_since(w.last_progress) > max_stall)
        .map(|w| w.name.clone())
        .collect()
}

/// The STATUS= line: cameras online/total, detector, clients.
pub fn status_line(online: usize, total: usize, detector: &str, clients: usize) -> String {
    format!("cameras {online}/{total} online; detector {detector}; {clients} clients")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalled_workers_names_only_the_stuck_ones() {
        let now = Instant::now();
        let workers = vec![
            WorkerProgress {
                name: "camera a".into(),
                last_progress: now - Duration::from_secs(1),
            },
            WorkerProgress {
                name: "detector 0".into(),
                last_progress: now - Duration::from_secs(40),
            },
        ];
        assert_eq!(
            stalled_workers(now, &workers, Duration::from_secs(20)),
            vec!["detector 0"]
        );
        assert!(stalled_workers(now, &workers, Duration::from_secs(60)).is_empty());
    }

    #[test]
    fn status_line_reads_well() {
        assert_eq!(
            status_line(2, 3, "cpu yolox_nano.onnx", 4),
            "cameras 2/3 online; detector cpu yolox_nano.onnx; 4 clients"
        );
    }
}
