//! `EventLifecycle`: the per-camera event state machine. Object events follow tracker
//! tracks (start on confirmation, update on a better frame at most every
//! `update_interval_s`, end when the track is unseen for `end_after_s`); motion events do
//! the same for "something moves" when no detector runs.

use super::open::{OpenEvent, StartInfo};
use super::{DetectionFilter, EventOutput, EventTime, normalize_box, round4};
use crate::config::{DetectorConfig, EventsConfig};
use crate::detect::Detection;
use crate::vision::motion::MotionResult;
use crate::vision::tracker::{Track, Tracker, TrackerConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Motion frames further apart than this do not count as the same run.
const MOTION_RUN_GAP: Duration = Duration::from_secs(1);
/// Motion frames in a run before a motion event starts (one frame is often a flicker).
const MOTION_START_FRAMES: u32 = 2;

/// Motion-only state (no detector).
#[derive(Debug, Default)]
struct MotionState {
    run_frames: u32,
    run_start: Duration,
    last_motion: Option<Duration>,
    open: Option<OpenEvent>,
}

/// Event state of one camera. Not shared: the camera worker owns it.
#[derive(Debug)]
pub struct EventLifecycle {
    camera_id: String,
    camera_name: String,
    end_after: Duration,
    update_interval: Duration,
    snapshots: bool,
    filter: DetectionFilter,
    tracker: Tracker,
    /// Open object events by track id.
    open: Vec<(u64, OpenEvent)>,
    motion: MotionState,
    ids: Arc<AtomicU64>,
}

fn secs(v: f64) -> Duration {
    Duration::try_from_secs_f64(v.max(0.0)).unwrap_or(Duration::MAX)
}

impl EventLifecycle {
    /// `ids` holds the last event number handed out (seed it with the store's last one);
    /// it is shared by all cameras so ids stay unique.
    pub fn new(
        camera_id: &str,
        camera_name: &str,
        events: &EventsConfig,
        detector: &DetectorConfig,
        ids: Arc<AtomicU64>,
    ) -> Self {
        let end_after = secs(events.end_after_s);
        Self {
            camera_id: camera_id.to_string(),
            camera_name: camera_name.to_string(),
            end_after,
            update_interval: secs(events.update_interval_s),
            snapshots: events.snapshots,
            filter: DetectionFilter::from_config(detector),
            tracker: Tracker::new(TrackerConfig::new(detector.confirm_score, end_after)),
            open: Vec::new(),
            motion: MotionState::default(),
            ids,
        }
    }

    /// True while objects are tracked: the pipeline keeps detecting even without motion.
    pub fn is_tracking(&self) -> bool {
        !self.tracker.tracks().is_empty()
    }

    /// Number of open (started, not ended) events.
    pub fn open_events(&self) -> usize {
        self.open.len() + usize::from(self.motion.open.is_some())
    }

    /// The tracker, for diagnostics.
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// Feeds the raw detections of one frame of size `frame` (width, height); they are
    /// filtered by `detector.labels`, `min_score` and `min_area` here. Call it also with an
    /// empty slice when the detector ran and found nothing.
    pub fn on_detections(
        &mut self,
        now: EventTime,
        detections: &[Detection],
        frame: (u32, u32),
    ) -> Vec<EventOutput> {
        let mut out = self.end_lost(now);
        let dets = self.filter.apply(detections, frame);
        let upd = self.tracker.update(now.mono, &dets);
        // `update` expires before matching; `end_lost` already did, so this is empty
        // unless the clock went backwards. Ends are ends either way.
        for t in upd.lost {
            out.extend(self.end_track(&t, now, None));
        }

        for id in &upd.confirmed {
            let Some(t) = self.tracker.track(*id) else {
                continue;
            };
            let Some(&(_, di)) = upd.observed.iter().find(|(tid, _)| tid == id) else {
                continue;
            };
            let d = &dets[di];
            let info = StartInfo {
                id: self.next_id(),
                camera_id: self.camera_id.clone(),
                camera_name: self.camera_name.clone(),
                event_type: t.label.clone(),
                start_wall: now.wall_at(t.first_seen),
                confidence: t.best_score,
                frame_score: d.score,
                bbox: normalize_box(&d.bbox, frame),
            };
            let (ev, o) = OpenEvent::start(info, now.mono, self.snapshots);
            self.open.push((*id, ev));
            out.push(o);
        }

        for &(tid, di) in &upd.observed {
            if upd.confirmed.contains(&tid) {
                continue;
            }
            let Some((_, ev)) = self.open.iter_mut().find(|(id, _)| *id == tid) else {
                continue;
            };
            let d = &dets[di];
            let snapshot = ev.observe(
                d.score,
                d.score,
                normalize_box(&d.bbox, frame),
                self.snapshots,
            );
            let event = ev.due_update(now.mono, self.update_interval);
            if event.is_some() || snapshot.is_some() {
                out.push(EventOutput { event, snapshot });
            }
        }
        out.extend(self.flush_updates(now));
        out
    }

    /// Feeds one motion result (no-detector mode): a run of >= 2 motion frames starts a
    /// `motion` event, no motion for `end_after_s` ends it.
    pub fn on_motion_only(&mut self, now: EventTime, motion: &MotionResult) -> Vec<EventOutput> {
        let mut out = self.end_motion_if_quiet(now);
        if !motion.motion {
            out.extend(self.flush_updates(now));
            return out;
        }
        let st = &mut self.motion;
        match st.last_motion {
            Some(last) if now.mono.saturating_sub(last) <= MOTION_RUN_GAP => {
                st.run_frames = st.run_frames.saturating_add(1)
            }
            _ => {
                st.run_frames = 1;
                st.run_start = now.mono;
            }
        }
        st.last_motion = Some(now.mono);
        let (bbox, area) = union_box(&motion.regions);
        if let Some(ev) = self.motion.open.as_mut() {
            let snapshot = ev.observe(1.0, area, bbox, self.snapshots);
            let event = ev.due_update(now.mono, self.update_interval);
            if event.is_some() || snapshot.is_some() {
                out.push(EventOutput { event, snapshot });
            }
        } else if self.motion.run_frames >= MOTION_START_FRAMES {
            let info = StartInfo {
                id: self.next_id(),
                camera_id: self.camera_id.clone(),
                camera_name: self.camera_name.clone(),
                event_type: "motion".to_string(),
                start_wall: now.wall_at(self.motion.run_start),
                // Motion has no classifier score; the event is certain that something moved.
                confidence: 1.0,
                frame_score: area,
                bbox,
            };
            let (ev, o) = OpenEvent::start(info, now.mono, self.snapshots);
            self.motion.open = Some(ev);
            out.push(o);
        }
        out
    }

    /// Time passes without frames (or without detector runs): ends what timed out and
    /// sends held-back updates. Call it about once a second.
    pub fn tick(&mut self, now: EventTime) -> Vec<EventOutput> {
        let mut out = self.end_lost(now);
        out.extend(self.end_motion_if_quiet(now));
        out.extend(self.flush_updates(now));
        out
    }

    /// Ends every open event now with `reason` (e.g. "shutdown", "camera_removed") and
    /// forgets all tracks.
    pub fn close_all(&mut self, now: EventTime, reason: &str) -> Vec<EventOutput> {
        let mut out = Vec::new();
        for t in self.tracker.clear() {
            if let Some(pos) = self.open.iter().position(|(id, _)| *id == t.id) {
                let (_, ev) = self.open.remove(pos);
                out.push(end_output(&ev, now.wall_at(t.last_seen), Some(reason)));
            }
        }
        // Open events whose track vanished some other way still get their end.
        for (_, ev) in self.open.drain(..) {
            out.push(end_output(&ev, now.wall, Some(reason)));
        }
        if let Some(ev) = self.motion.open.take() {
            let last = self.motion.last_motion.unwrap_or(now.mono);
            out.push(end_output(&ev, now.wall_at(last), Some(reason)));
        }
        self.motion = MotionState::default();
        out
    }

    /// The snapshot requested for `event_id` could not be stored: later messages must not
    /// point at it. Returns the snapshot URL still valid for the event (an earlier one), if
    /// any, for the message that carried the request.
    pub fn snapshot_failed(&mut self, event_id: &str) -> Option<String> {
        let ev = self
            .open
            .iter_mut()
            .map(|(_, ev)| ev)
            .chain(self.motion.open.as_mut())
            .find(|ev| ev.id == event_id)?;
        ev.snapshot_failed()
    }

    fn next_id(&self) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        format!("evt-{n}")
    }

    fn end_lost(&mut self, now: EventTime) -> Vec<EventOutput> {
        let lost = self.tracker.expire(now.mono);
        lost.iter()
            .filter_map(|t| self.end_track(t, now, None))
            .collect()
    }

    fn end_track(
        &mut self,
        t: &Track,
        now: EventTime,
        reason: Option<&str>,
    ) -> Option<EventOutput> {
        let pos = self.open.iter().position(|(id, _)| *id == t.id)?;
        let (_, ev) = self.open.remove(pos);
        Some(end_output(&ev, now.wall_at(t.last_seen), reason))
    }

    fn end_motion_if_quiet(&mut self, now: EventTime) -> Vec<EventOutput> {
        let Some(last) = self.motion.last_motion else {
            return Vec::new();
        };
        if now.mono.saturating_sub(last) < self.end_after {
            return Vec::new();
        }
        let ended = self.motion.open.take();
        self.motion = MotionState::default();
        ended
            .map(|ev| end_output(&ev, now.wall_at(last), None))
            .into_iter()
            .collect()
    }

    fn flush_updates(&mut self, now: EventTime) -> Vec<EventOutput> {
        let interval = self.update_interval;
        self.open
            .iter_mut()
            .map(|(_, ev)| ev)
            .chain(self.motion.open.as_mut())
            .filter_map(|ev| ev.due_update(now.mono, interval))
            .map(|e| EventOutput {
                event: Some(e),
                snapshot: None,
            })
            .collect()
    }
}

fn end_output(ev: &OpenEvent, end: time::OffsetDateTime, reason: Option<&str>) -> EventOutput {
    EventOutput {
        event: Some(ev.end(end, reason)),
        snapshot: None,
    }
}

/// Union of the motion regions (normalized, rounded) and its area fraction.
fn union_box(regions: &[[f32; 4]]) -> ([f64; 4], f32) {
    let mut it = regions.iter();
    let Some(first) = it.next() else {
        return ([0.0, 0.0, 1.0, 1.0], 0.0);
    };
    let mut u = *first;
    for r in it {
        u[0] = u[0].min(r[0]);
        u[1] = u[1].min(r[1]);
        u[2] = u[2].max(r[2]);
        u[3] = u[3].max(r[3]);
    }
    let area = ((u[2] - u[0]) * (u[3] - u[1])).clamp(0.0, 1.0);
    let b = u.map(|v| round4(f64::from(v.clamp(0.0, 1.0))));
    (b, area)
}
