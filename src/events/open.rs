//! One open event: its best frame, snapshot state, update rate limit, and the messages it
//! produces. Shared by object events (one per track) and motion events.

use super::{EventOutput, SnapshotRequest, rfc3339, round4, snapshot_url};
use crate::server::protocol::{EventData, Phase};
use std::time::Duration;
use time::OffsetDateTime;

/// A best frame must beat the previous one by this much: scores jitter by a few hundredths
/// from frame to frame, and every new best frame costs a JPEG encode.
pub(super) const MIN_IMPROVEMENT: f32 = 0.02;

#[derive(Debug, Clone)]
pub(super) struct OpenEvent {
    pub id: String,
    pub camera_id: String,
    pub camera_name: String,
    pub event_type: String,
    pub start_wall: OffsetDateTime,
    /// Highest score seen during the visit.
    pub confidence: f32,
    /// Score of the best frame (the one whose box and snapshot the event shows).
    pub best_frame_score: f32,
    pub bbox: [f64; 4],
    /// A snapshot file exists, or is being written for the request just made.
    pub has_snapshot: bool,
    /// `has_snapshot` before the last request, restored if that request fails.
    pub had_snapshot: bool,
    pub last_emit: Duration,
    /// Something worth an update message changed since the last message.
    pub dirty: bool,
}

/// What a new event needs to know at its start.
pub(super) struct StartInfo {
    pub id: String,
    pub camera_id: String,
    pub camera_name: String,
    pub event_type: String,
    pub start_wall: OffsetDateTime,
    pub confidence: f32,
    pub frame_score: f32,
    pub bbox: [f64; 4],
}

impl OpenEvent {
    /// Opens the event and returns it with its start message (and a snapshot request
    /// when snapshots are on: the current frame is the best so far by definition).
    pub fn start(info: StartInfo, now: Duration, snapshots: bool) -> (Self, EventOutput) {
        let mut ev = OpenEvent {
            id: info.id,
            camera_id: info.camera_id,
            camera_name: info.camera_name,
            event_type: info.event_type,
            start_wall: info.start_wall,
            confidence: info.confidence,
            best_frame_score: info.frame_score,
            bbox: info.bbox,
            has_snapshot: false,
            had_snapshot: false,
            last_emit: now,
            dirty: false,
        };
        let snapshot = snapshots.then(|| ev.request_snapshot());
        let out = EventOutput {
            event: Some(ev.message(Phase::Start, None, None)),
            snapshot,
        };
        (ev, out)
    }

    /// A new observation in the current frame: `confidence` feeds the event's confidence,
    /// `frame_score` ranks frames (the detection score; for motion, the moving area).
    /// Returns a snapshot request when this frame becomes the best frame.
    pub fn observe(
        &mut self,
        confidence: f32,
        frame_score: f32,
        bbox: [f64; 4],
        snapshots: bool,
    ) -> Option<SnapshotRequest> {
        self.confidence = self.confidence.max(confidence);
        let score = frame_score;
        if score < self.best_frame_score + MIN_IMPROVEMENT {
            return None;
        }
        self.best_frame_score = score;
        self.bbox = bbox;
        self.dirty = true;
        snapshots.then(|| self.request_snapshot())
    }

    /// The update message, when something changed and `update_interval` has passed since
    /// the last message.
    pub fn due_update(&mut self, now: Duration, update_interval: Duration) -> Option<EventData> {
        if !self.dirty || now.saturating_sub(self.last_emit) < update_interval {
            return None;
        }
        self.dirty = false;
        self.last_emit = now;
        Some(self.message(Phase::Update, None, None))
    }

    /// The end message; `end` is when the object was last seen.
    pub fn end(&self, end: OffsetDateTime, reason: Option<&str>) -> EventData {
        self.message(Phase::End, Some(end), reason)
    }

    /// The caller could not store the requested snapshot: returns the URL that is still
    /// valid (an earlier snapshot's), if any.
    pub fn snapshot_failed(&mut self) -> Option<String> {
        self.has_snapshot = self.had_snapshot;
        self.has_snapshot.then(|| snapshot_url(&self.id))
    }

    fn request_snapshot(&mut self) -> SnapshotRequest {
        self.had_snapshot = self.has_snapshot;
        self.has_snapshot = true;
        SnapshotRequest {
            event_id: self.id.clone(),
            bbox: self.bbox,
            score: round4(f64::from(self.best_frame_score)),
        }
    }

    fn message(
        &self,
        phase: Phase,
        end: Option<OffsetDateTime>,
        reason: Option<&str>,
    ) -> EventData {
        EventData {
            id: self.id.clone(),
            camera_id: self.camera_id.clone(),
            event_type: self.event_type.clone(),
            timestamp: rfc3339(self.start_wall),
            confidence: round4(f64::from(self.confidence)),
            seq: 0,
            phase,
            camera_name: self.camera_name.clone(),
            // The visit cannot end before it started, whatever the wall clock did.
            end_timestamp: end.map(|e| rfc3339(e.max(self.start_wall))),
            bbox: Some(self.bbox),
            snapshot_url: self.has_snapshot.then(|| snapshot_url(&self.id)),
            end_reason: reason.map(str::to_string),
        }
    }
}
