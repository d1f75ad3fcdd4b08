//! Event lifecycle with simulated time: tracker + lifecycle driven by synthetic detections,
//! and motion-only events driven by the real motion detector.

mod events_common;

use events_common::{T0, at};
use gozcu::config::{DetectorConfig, EventsConfig, MotionConfig};
use gozcu::detect::Detection;
use gozcu::events::{EventLifecycle, EventOutput, rfc3339};
use gozcu::server::protocol::{EventData, Phase};
use gozcu::vision::GrayImage;
use gozcu::vision::motion::{MotionDetector, MotionResult};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

const FRAME: (u32, u32) = (1280, 720);
const FPS: f64 = 5.0;

fn lifecycle_with(ids: u64, events: EventsConfig) -> EventLifecycle {
    EventLifecycle::new(
        "cam-1",
        "Front door",
        &events,
        &DetectorConfig::default(),
        Arc::new(AtomicU64::new(ids)),
    )
}

fn lifecycle() -> EventLifecycle {
    lifecycle_with(0, EventsConfig::default())
}

fn person(score: f32, x: f32, y: f32) -> Detection {
    Detection {
        class_id: 0,
        label: "person".to_string(),
        score,
        bbox: [x, y, x + 80.0, y + 200.0],
    }
}

/// Scores that wobble like a real detector's (0.74..0.88).
fn wobble(i: usize) -> f32 {
    [0.78, 0.84, 0.74, 0.88, 0.81, 0.79, 0.86][i % 7]
}

/// Collects every output; `messages` are the events that would be stored.
#[derive(Default)]
struct Log {
    outputs: Vec<EventOutput>,
}

impl Log {
    fn add(&mut self, outs: Vec<EventOutput>) {
        self.outputs.extend(outs);
    }

    fn messages(&self) -> Vec<&EventData> {
        self.outputs
            .iter()
            .filter_map(|o| o.event.as_ref())
            .collect()
    }

    fn phase(&self, p: Phase) -> Vec<&EventData> {
        self.messages()
            .into_iter()
            .filter(|e| e.phase == p)
            .collect()
    }

    fn snapshot_requests(&self) -> usize {
        self.outputs.iter().filter(|o| o.snapshot.is_some()).count()
    }
}

/// The detector looks once a second from `from` for `secs` seconds and sees nobody (what
/// the pipeline does after people leave: it keeps detecting while tracks exist).
fn nobody_seen_for(lc: &mut EventLifecycle, log: &mut Log, from: f64, secs: u32) {
    for s in 1..=secs {
        log.add(lc.on_detections(at(from + f64::from(s)), &[], FRAME));
    }
}

#[test]
fn person_crossing_is_one_event_start_to_end() {
    let mut lc = lifecycle_with(41, EventsConfig::default());
    let mut log = Log::default();
    // 40 frames at 5 fps (8 s), left to right across 1280 px.
    for i in 0..40 {
        let t = i as f64 / FPS;
        let d = person(wobble(i), 30.0 * i as f32, 300.0);
        log.add(lc.on_detections(at(t), &[d], FRAME));
    }
    assert!(lc.is_tracking());
    let last_seen = 39.0 / FPS;
    nobody_seen_for(&mut lc, &mut log, last_seen, 10);
    assert!(!lc.is_tracking());
    assert_eq!(lc.open_events(), 0);

    let starts = log.phase(Phase::Start);
    let ends = log.phase(Phase::End);
    let updates = log.phase(Phase::Update);
    assert_eq!(starts.len(), 1, "{:?}", log.messages());
    assert_eq!(ends.len(), 1);
    assert!(
        updates.len() <= 2,
        "rate limited to one per 5 s: {updates:?}"
    );

    let (s, e) = (starts[0], ends[0]);
    assert_eq!(s.id, "evt-42", "ids continue from the seed");
    assert_eq!(e.id, s.id);
    assert!(updates.iter().all(|u| u.id == s.id));
    assert_eq!(s.event_type, "person");
    assert_eq!(
        (s.camera_id.as_str(), s.camera_name.as_str()),
        ("cam-1", "Front door")
    );
    assert_eq!(s.seq, 0, "the store assigns seq");
    // The visit starts when the person was first seen, not when confirmed.
    assert_eq!(s.timestamp, rfc3339(T0));
    assert_eq!(s.end_timestamp, None);
    let end_at = T0 + Duration::from_secs_f64(last_seen);
    assert_eq!(e.end_timestamp.as_deref(), Some(rfc3339(end_at).as_str()));
    assert_eq!(e.timestamp, s.timestamp);
    assert_eq!(e.confidence, 0.88, "best score of the visit");
    assert_eq!(
        e.snapshot_url.as_deref(),
        Some("/api/events/evt-42/snapshot.jpg")
    );
    assert_eq!(e.end_reason, None);
    let b = e.bbox.unwrap();
    assert!(b.iter().all(|v| (0.0..=1.0).contains(v)) && b[0] < b[2] && b[1] < b[3]);

    // The start asks for a snapshot of its frame, and so does each better frame (few).
    assert!(log.outputs[0].snapshot.is_some());
    assert_eq!(log.outputs[0].snapshot.as_ref().unwrap().event_id, "evt-42");
    let snaps = log.snapshot_requests();
    assert!((1..=4).contains(&snaps), "{snaps} snapshot encodes");

    // Updates are 5 s apart at least, and come after the start.
    let mut last = s.timestamp.clone();
    for o in &log.outputs {
        if let Some(ev) = &o.event {
            assert!(ev.timestamp >= last);
            last = ev.timestamp.clone();
        }
    }
}

#[test]
fn update_messages_respect_the_interval() {
    let mut lc = lifecycle();
    let mut log = Log::default();
    // Score rising every frame: a better frame each time, but updates only every 5 s.
    let mut update_times = Vec::new();
    for i in 0..60 {
        let t = i as f64 / FPS;
        let score = 0.7 + 0.25 * i as f32 / 60.0;
        let outs = lc.on_detections(at(t), &[person(score, 400.0, 200.0)], FRAME);
        for o in &outs {
            if o.event.as_ref().is_some_and(|e| e.phase == Phase::Update) {
                update_times.push(t);
            }
        }
        log.add(outs);
    }
    assert!(!update_times.is_empty());
    assert!(update_times.len() <= 3, "{update_times:?}");
    // Start at t=0.2 (second hit), so updates at >= 5.2, then >= 10.2 ...
    let mut prev = 0.2;
    for t in &update_times {
        assert!(t - prev >= 5.0 - 1e-9, "{update_times:?}");
        prev = *t;
    }
    // Snapshots follow the best frame between held-back updates (no message with them).
    assert!(
        log.outputs
            .iter()
            .any(|o| o.event.is_none() && o.snapshot.is_some())
    );
}

#[test]
fn short_occlusion_keeps_one_event() {
    let mut lc = lifecycle();
    let mut log = Log::default();
    // Walks for 4 s, hidden for 3 s (< end_after_s = 5), walks on along the same line.
    for i in 0..20 {
        log.add(lc.on_detections(
            at(i as f64 / FPS),
            &[person(0.8, 20.0 * i as f32, 300.0)],
            FRAME,
        ));
    }
    for i in 20..35 {
        log.add(lc.on_detections(at(i as f64 / FPS), &[], FRAME));
    }
    for i in 35..55 {
        log.add(lc.on_detections(
            at(i as f64 / FPS),
            &[person(0.8, 20.0 * i as f32, 300.0)],
            FRAME,
        ));
    }
    nobody_seen_for(&mut lc, &mut log, 54.0 / FPS, 8);
    assert_eq!(log.phase(Phase::Start).len(), 1, "{:?}", log.messages());
    assert_eq!(log.phase(Phase::End).len(), 1);
}

#[test]
fn long_absence_splits_into_two_events() {
    let mut lc = lifecycle();
    let mut log = Log::default();
    for i in 0..20 {
        log.add(lc.on_detections(at(i as f64 / FPS), &[person(0.8, 500.0, 300.0)], FRAME));
    }
    // Gone for 7 s with ticks, then back at the same place.
    nobody_seen_for(&mut lc, &mut log, 19.0 / FPS, 7);
    let back = 19.0 / FPS + 7.0;
    for i in 0..20 {
        log.add(lc.on_detections(
            at(back + i as f64 / FPS),
            &[person(0.8, 500.0, 300.0)],
            FRAME,
        ));
    }
    nobody_seen_for(&mut lc, &mut log, back + 19.0 / FPS, 8);
    let starts = log.phase(Phase::Start);
    let ends = log.phase(Phase::End);
    assert_eq!((starts.len(), ends.len()), (2, 2), "{:?}", log.messages());
    assert_ne!(starts[0].id, starts[1].id);
    // The first ends (at its last sighting) before the second starts.
    assert_eq!(ends[0].id, starts[0].id);
    assert!(ends[0].end_timestamp.as_ref().unwrap() < &starts[1].timestamp);
}

#[test]
fn two_people_at_once_are_two_events() {
    let mut lc = lifecycle();
    let mut log = Log::default();
    for i in 0..30 {
        let x = 10.0 * i as f32;
        let dets = [
            person(wobble(i), 100.0 + x, 300.0),
            person(wobble(i + 3), 1000.0 - x, 250.0),
        ];
        log.add(lc.on_detections(at(i as f64 / FPS), &dets, FRAME));
    }
    nobody_seen_for(&mut lc, &mut log, 29.0 / FPS, 6);
    let starts = log.phase(Phase::Start);
    let ends = log.phase(Phase::End);
    assert_eq!(starts.len(), 2, "{:?}", log.messages());
    assert_eq!(ends.len(), 2);
    assert_ne!(starts[0].id, starts[1].id);
    let mut started: Vec<_> = starts.iter().map(|e| e.id.clone()).collect();
    let mut ended: Vec<_> = ends.iter().map(|e| e.id.clone()).collect();
    started.sort();
    ended.sort();
    assert_eq!(started, ended);
}

#[test]
fn single_frame_false_positive_makes_no_event() {
    let mut lc = lifecycle();
    let mut log = Log::default();
    log.add(lc.on_detections(at(0.0), &[person(0.95, 300.0, 300.0)], FRAME));
    for i in 1..20 {
        log.add(lc.on_detections(at(i as f64 / FPS), &[], FRAME));
    }
    nobody_seen_for(&mut lc, &mut log, 19.0 / FPS, 6);
    assert!(log.outputs.is_empty(), "{:?}", log.messages());
    assert!(!lc.is_tracking());
}

#[test]
fn low_median_score_makes_no_event() {
    let mut lc = lifecycle();
    let mut log = Log::default();
    // Above min_score 0.5 (tracked), median below confirm_score 0.7, one spike to 0.9.
    for i in 0..30 {
        let score = if i == 10 { 0.9 } else { 0.6 };
        log.add(lc.on_detections(at(i as f64 / FPS), &[person(score, 600.0, 300.0)], FRAME));
    }
    nobody_seen_for(&mut lc, &mut log, 29.0 / FPS, 6);
    assert!(log.outputs.is_empty(), "{:?}", log.messages());
}

#[test]
fn other_labels_and_tiny_boxes_are_filtered() {
    let mut lc = lifecycle();
    let mut log = Log::default();
    for i in 0..10 {
        let car = Detection {
            class_id: 2,
            label: "car".to_string(),
            score: 0.9,
            bbox: [100.0, 100.0, 400.0, 300.0],
        };
        let tiny = Detection {
            bbox: [700.0, 300.0, 720.0, 330.0],
            ..person(0.9, 0.0, 0.0)
        };
        log.add(lc.on_detections(at(i as f64 / FPS), &[car, tiny], FRAME));
    }
    assert!(log.outputs.is_empty());
    assert!(!lc.is_tracking());
}

#[test]
fn close_all_ends_open_events_with_the_reason() {
    let mut lc = lifecycle();
    let mut log = Log::default();
    for i in 0..5 {
        log.add(lc.on_detections(at(i as f64 / FPS), &[person(0.8, 500.0, 300.0)], FRAME));
    }
    assert_eq!(lc.open_events(), 1);
    let outs = lc.close_all(at(2.0), "shutdown");
    assert_eq!(outs.len(), 1);
    let e = outs[0].event.as_ref().unwrap();
    assert_eq!(e.phase, Phase::End);
    assert_eq!(e.end_reason.as_deref(), Some("shutdown"));
    assert_eq!(
        e.end_timestamp.as_deref(),
        Some(rfc3339(T0 + Duration::from_millis(800)).as_str())
    );
    assert_eq!(lc.open_events(), 0);
    assert!(lc.tick(at(10.0)).is_empty(), "nothing left to end");
}

#[test]
fn failed_snapshot_is_not_referenced_later() {
    let mut lc = lifecycle();
    let mut outs = Vec::new();
    for i in 0..2 {
        outs.extend(lc.on_detections(at(i as f64 / FPS), &[person(0.8, 500.0, 300.0)], FRAME));
    }
    assert_eq!(outs.len(), 1);
    let req = outs[0].snapshot.clone().unwrap();
    assert_eq!(req.score, 0.8);
    // The store could not write it: no snapshot exists for this event.
    assert_eq!(lc.snapshot_failed(&req.event_id), None);
    assert_eq!(lc.snapshot_failed("evt-999"), None);
    let mut later = Vec::new();
    for i in 2..8 {
        later.extend(lc.on_detections(at(i as f64 / FPS), &[person(0.8, 500.0, 300.0)], FRAME));
    }
    for t in [8.0, 9.0, 10.0] {
        later.extend(lc.on_detections(at(t), &[], FRAME));
    }
    let end = later
        .iter()
        .filter_map(|o| o.event.as_ref())
        .find(|e| e.phase == Phase::End)
        .unwrap();
    assert_eq!(end.snapshot_url, None);

    // With snapshots off, nothing is requested and no URL is sent.
    let mut lc = lifecycle_with(
        0,
        EventsConfig {
            snapshots: false,
            ..EventsConfig::default()
        },
    );
    let mut log = Log::default();
    for i in 0..10 {
        log.add(lc.on_detections(
            at(i as f64 / FPS),
            &[person(0.7 + 0.02 * i as f32, 500.0, 300.0)],
            FRAME,
        ));
    }
    log.add(lc.tick(at(20.0)));
    assert_eq!(log.snapshot_requests(), 0);
    assert!(log.messages().iter().all(|e| e.snapshot_url.is_none()));
    assert_eq!(log.phase(Phase::End).len(), 1);
}

fn motion(regions: Vec<[f32; 4]>) -> MotionResult {
    MotionResult {
        motion: !regions.is_empty(),
        changed_fraction: if regions.is_empty() { 0.0 } else { 0.05 },
        regions,
    }
}

#[test]
fn motion_only_lifecycle() {
    let mut lc = lifecycle();
    let mut log = Log::default();
    // One flicker: no event.
    log.add(lc.on_motion_only(at(0.0), &motion(vec![[0.1, 0.1, 0.2, 0.3]])));
    for i in 1..10 {
        log.add(lc.on_motion_only(at(i as f64 / FPS), &motion(vec![])));
    }
    assert!(log.outputs.is_empty());
    // 3 s of motion at 5 fps starting at t=4: starts on the second frame.
    for i in 0..15 {
        let t = 4.0 + i as f64 / FPS;
        let x = 0.1 + 0.03 * i as f32;
        log.add(lc.on_motion_only(at(t), &motion(vec![[x, 0.2, x + 0.1, 0.6]])));
        if i == 1 {
            assert_eq!(log.phase(Phase::Start).len(), 1);
        }
    }
    let last_motion = 4.0 + 14.0 / FPS;
    for i in 1..40 {
        log.add(lc.on_motion_only(at(last_motion + i as f64 / FPS), &motion(vec![])));
    }
    let starts = log.phase(Phase::Start);
    let ends = log.phase(Phase::End);
    assert_eq!((starts.len(), ends.len()), (1, 1), "{:?}", log.messages());
    let (s, e) = (starts[0], ends[0]);
    assert_eq!(s.event_type, "motion");
    assert_eq!(s.confidence, 1.0);
    assert_eq!(s.timestamp, rfc3339(T0 + Duration::from_secs(4)));
    assert_eq!(
        s.bbox,
        Some([0.13, 0.2, 0.23, 0.6]),
        "the box of the starting frame"
    );
    assert_eq!(
        e.end_timestamp.as_deref(),
        Some(rfc3339(T0 + Duration::from_secs_f64(last_motion)).as_str())
    );
    assert!(log.outputs[0].snapshot.is_some());
}

#[test]
fn motion_events_from_the_real_motion_detector() {
    // No detector: synthetic frames through MotionDetector into the lifecycle.
    let (w, h) = (160u32, 120u32);
    let mut md = MotionDetector::new(&MotionConfig::default());
    let mut lc = lifecycle();
    let mut log = Log::default();
    let frame = |block_x: Option<u32>| {
        let mut data: Vec<u8> = (0..w * h).map(|i| (60 + (i % w) / 3) as u8).collect();
        if let Some(bx) = block_x {
            for y in 40..90 {
                for x in bx..(bx + 16).min(w) {
                    data[(y * w + x) as usize] = 220;
                }
            }
        }
        GrayImage {
            width: w,
            height: h,
            data,
        }
    };
    // 4 s empty, 4 s someone walking through, 10 s empty, at 10 fps.
    for i in 0..180u32 {
        let t = f64::from(i) / 10.0;
        let block = (40..80).contains(&i).then(|| (i - 40) * 3);
        let r = md
            .detect(&frame(block), Duration::from_secs_f64(t))
            .unwrap();
        log.add(lc.on_motion_only(at(t), &r));
    }
    let starts = log.phase(Phase::Start);
    let ends = log.phase(Phase::End);
    assert_eq!((starts.len(), ends.len()), (1, 1), "{:?}", log.messages());
    assert_eq!(starts[0].timestamp, rfc3339(T0 + Duration::from_secs(4)));
    assert_eq!(starts[0].event_type, "motion");
}
