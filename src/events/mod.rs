//! Events: turns tracked detections (or, without a detector, motion) into one event per
//! visit with phases start / update / end (DESIGN.md §3). Pure: the pipeline passes time
//! and detections in and gets event messages and snapshot requests out; it stores them
//! (store first, then broadcast) and encodes snapshots from the current frame on request.
//!
//! - `lifecycle.rs`: `EventLifecycle`, the per-camera state machine.
//! - `open.rs`: one open event and the messages it produces.
//! - this file: the values crossing the boundary (`EventTime`, `EventOutput`,
//!   `SnapshotRequest`) and the detection filter.

mod lifecycle;
mod open;

pub use lifecycle::EventLifecycle;

use crate::detect::Detection;
use crate::server::protocol::EventData;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// When something happened: monotonic time for durations (immune to NTP steps, which are
/// common on boards without an RTC) and wall time for the timestamps in messages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventTime {
    /// Since any fixed origin (e.g. the daemon's start `Instant`).
    pub mono: Duration,
    pub wall: OffsetDateTime,
}

impl EventTime {
    pub fn new(mono: Duration, wall: OffsetDateTime) -> Self {
        Self { mono, wall }
    }

    /// Now, with `mono` measured from `origin`.
    pub fn now(origin: std::time::Instant) -> Self {
        Self {
            mono: origin.elapsed(),
            wall: OffsetDateTime::now_utc(),
        }
    }

    /// The wall time at an earlier monotonic instant `mono` (same clock offset as now).
    pub fn wall_at(&self, mono: Duration) -> OffsetDateTime {
        let back = self.mono.saturating_sub(mono);
        time::Duration::try_from(back)
            .ok()
            .and_then(|d| self.wall.checked_sub(d))
            .unwrap_or(self.wall)
    }
}

/// "Encode the current frame as the snapshot of event `event_id`": the frame passed with
/// this call is that event's new best frame.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotRequest {
    pub event_id: String,
    /// Normalized [x1, y1, x2, y2] of the object in this frame (stored beside the JPEG).
    pub bbox: [f64; 4],
    /// What made this the best frame: the detection score (for motion events, the
    /// fraction of the frame covered by the moving area).
    pub score: f64,
}

/// One result of a lifecycle call.
///
/// Handle in order: when `snapshot` is set, encode the current frame and store it first;
/// if that fails, call [`EventLifecycle::snapshot_failed`] and put its answer into
/// `event.snapshot_url`. Then, when `event` is set, store it (the store assigns `seq`)
/// and broadcast it. `event` is `None` when only the best frame changed and the update
/// message is held back by `update_interval_s` (it follows on a later call).
#[derive(Debug, Clone, PartialEq)]
pub struct EventOutput {
    pub event: Option<EventData>,
    pub snapshot: Option<SnapshotRequest>,
}

/// Which detections may create events (`detector.labels`, `min_score`, `min_area`).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionFilter {
    /// Empty: every label.
    pub labels: Vec<String>,
    pub min_score: f32,
    /// Smallest box area as a fraction of the frame.
    pub min_area: f32,
}

impl DetectionFilter {
    pub fn from_config(cfg: &crate::config::DetectorConfig) -> Self {
        Self {
            labels: cfg.labels.clone(),
            min_score: cfg.min_score,
            min_area: cfg.min_area,
        }
    }

    /// The detections that count, boxes clipped to the frame.
    pub fn apply(&self, detections: &[Detection], frame: (u32, u32)) -> Vec<Detection> {
        let (fw, fh) = (frame.0 as f32, frame.1 as f32);
        let frame_area = (fw * fh).max(1.0);
        detections
            .iter()
            .filter(|d| d.score >= self.min_score && d.score.is_finite())
            .filter(|d| self.labels.is_empty() || self.labels.contains(&d.label))
            .filter_map(|d| {
                let b = [
                    d.bbox[0].clamp(0.0, fw),
                    d.bbox[1].clamp(0.0, fh),
                    d.bbox[2].clamp(0.0, fw),
                    d.bbox[3].clamp(0.0, fh),
                ];
                let area = (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0);
                (area > 0.0 && area / frame_area >= self.min_area).then(|| Detection {
                    bbox: b,
                    ..d.clone()
                })
            })
            .collect()
    }
}

/// RFC 3339 UTC with milliseconds, the protocol's timestamp format.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .truncate_to_millisecond()
        .format(&Rfc3339)
        // Only years outside 0..=9999 fail; a clock that wrong is reported as the epoch.
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

/// URL path of an event's snapshot (served by the server's REST routes).
pub fn snapshot_url(event_id: &str) -> String {
    format!("/api/events/{event_id}/snapshot.jpg")
}

/// Rounds to 4 decimal places (scores and normalized coordinates in messages).
pub fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// Normalizes a source-pixel box to 0..1, rounded to 4 places.
pub fn normalize_box(b: &[f32; 4], frame: (u32, u32)) -> [f64; 4] {
    let (fw, fh) = (f64::from(frame.0.max(1)), f64::from(frame.1.max(1)));
    [
        round4((f64::from(b[0]) / fw).clamp(0.0, 1.0)),
        round4((f64::from(b[1]) / fh).clamp(0.0, 1.0)),
        round4((f64::from(b[2]) / fw).clamp(0.0, 1.0)),
        round4((f64::from(b[3]) / fh).clamp(0.0, 1.0)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn det(label: &str, score: f32, bbox: [f32; 4]) -> Detection {
        Detection {
            class_id: 0,
            label: label.to_string(),
            score,
            bbox,
        }
    }

    #[test]
    fn filter_by_label_score_area_and_clips() {
        let f = DetectionFilter {
            labels: vec!["person".into()],
            min_score: 0.5,
            min_area: 0.01,
        };
        let dets = [
            det("person", 0.9, [-10.0, 10.0, 50.0, 90.0]),
            det("person", 0.4, [0.0, 0.0, 50.0, 50.0]),
            det("car", 0.9, [0.0, 0.0, 50.0, 50.0]),
            det("person", 0.9, [0.0, 0.0, 5.0, 5.0]),
            det("person", 0.9, [150.0, 150.0, 160.0, 160.0]),
        ];
        let kept = f.apply(&dets, (100, 100));
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].bbox, [0.0, 10.0, 50.0, 90.0]);
        let all = DetectionFilter {
            labels: vec![],
            ..f
        };
        assert_eq!(all.apply(&dets, (100, 100)).len(), 2);
    }

    #[test]
    fn timestamps_are_utc_millis() {
        let t = datetime!(2024-05-01 12:30:00.123456 +03:00);
        assert_eq!(rfc3339(t), "2024-05-01T09:30:00.123Z");
        assert_eq!(
            rfc3339(datetime!(2024-05-01 0:00 UTC)),
            "2024-05-01T00:00:00Z"
        );
    }

    #[test]
    fn wall_at_goes_back_by_the_monotonic_difference() {
        let now = EventTime::new(Duration::from_secs(100), datetime!(2024-05-01 12:00:10 UTC));
        assert_eq!(
            now.wall_at(Duration::from_secs(90)),
            datetime!(2024-05-01 12:00:00 UTC)
        );
        assert_eq!(now.wall_at(Duration::from_secs(200)), now.wall);
    }

    #[test]
    fn normalizes_and_rounds() {
        assert_eq!(
            normalize_box(&[76.8, 0.0, 768.0, 288.3], (768, 576)),
            [0.1, 0.0, 1.0, 0.5005]
        );
    }
}
