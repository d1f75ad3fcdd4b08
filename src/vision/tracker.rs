//! Multi-object tracker (SORT-like, pure): follows detections across frames so one person
//! walking through the scene is one track, not one object per frame.
//!
//! Each track predicts its box with a constant velocity; detections are matched greedily by
//! IoU with the prediction (same label only), then the leftovers by centre distance scaled
//! by the box size (for fast movers and boxes that jump after a short occlusion). A track is
//! confirmed after >= 2 hits with a median score >= `confirm_score`, and lost once unseen
//! for `lost_after` by at least [`MIN_MISSES`] detection passes. Time is a monotonic
//! `Duration` passed in, so tests simulate it.

use crate::detect::Detection;
use std::time::Duration;

/// Scores kept per track for the median (recent ones: a long visit stays bounded).
const SCORE_HISTORY: usize = 64;
/// More tracks than this are not created (a flood of detections cannot grow memory).
const MAX_TRACKS: usize = 128;
/// Prediction stops extrapolating after this long unseen: a person who stopped behind a
/// pillar is more likely near where they vanished than far along their old path.
const MAX_PREDICT_S: f32 = 1.5;
/// Detection passes that must miss a track before time alone may end it. On a loaded board
/// inference can take longer than `lost_after`; a person must not become a new event merely
/// because the detector was too slow to look twice. One looked-at frame without the person
/// is allowed (a missed detection), the second ends the visit.
const MIN_MISSES: u32 = 2;
/// Unseen this many times `lost_after`, a track is lost however few passes ran (the
/// detector failing or stopping must not keep a visit open forever).
const LOST_REGARDLESS_FACTOR: u32 = 2;
/// Velocity smoothing: weight of the newest measurement.
const VELOCITY_GAIN: f32 = 0.5;

/// Tracker settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerConfig {
    /// Smallest IoU between prediction and detection for an IoU match.
    pub iou_threshold: f32,
    /// Largest centre distance for the fallback match, in box diagonals.
    pub max_centroid_dist: f32,
    /// Hits needed before a track may be confirmed.
    pub confirm_hits: u32,
    /// Median score needed for confirmation.
    pub confirm_score: f32,
    /// A track unseen this long is lost.
    pub lost_after: Duration,
}

impl TrackerConfig {
    pub fn new(confirm_score: f32, lost_after: Duration) -> Self {
        Self {
            iou_threshold: 0.3,
            max_centroid_dist: 1.0,
            confirm_hits: 2,
            confirm_score,
            lost_after,
        }
    }
}

/// One followed object.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// Unique per tracker, increasing.
    pub id: u64,
    pub class_id: usize,
    pub label: String,
    /// Last observed box, source pixels.
    pub bbox: [f32; 4],
    /// Score of the last observation.
    pub score: f32,
    /// Highest score seen.
    pub best_score: f32,
    pub hits: u32,
    pub first_seen: Duration,
    pub last_seen: Duration,
    /// Detection passes since `last_seen` that did not match this track.
    pub misses: u32,
    pub confirmed: bool,
    /// Box change per second ([x1, y1, x2, y2]).
    velocity: [f32; 4],
    scores: Vec<f32>,
}

impl Track {
    /// Box expected at `now`.
    pub fn predicted(&self, now: Duration) -> [f32; 4] {
        let dt = now
            .saturating_sub(self.last_seen)
            .as_secs_f32()
            .min(MAX_PREDICT_S);
        let mut b = self.bbox;
        for (v, d) in b.iter_mut().zip(self.velocity) {
            *v += d * dt;
        }
        b
    }

    /// Median of the recent scores.
    pub fn median_score(&self) -> f32 {
        median(&self.scores)
    }

    fn observe(&mut self, det: &Detection, now: Duration) {
        let dt = now.saturating_sub(self.last_seen).as_secs_f32();
        if dt > 0.0 {
            for i in 0..4 {
                let v = (det.bbox[i] - self.bbox[i]) / dt;
                self.velocity[i] += VELOCITY_GAIN * (v - self.velocity[i]);
            }
        }
        self.bbox = det.bbox;
        self.score = det.score;
        self.best_score = self.best_score.max(det.score);
        self.hits = self.hits.saturating_add(1);
        self.last_seen = now;
        self.misses = 0;
        if self.scores.len() == SCORE_HISTORY {
            self.scores.remove(0);
        }
        self.scores.push(det.score);
    }
}

/// What one `update` did, by track id and detection index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackUpdate {
    /// (track id, index into the detections) for every observed track, new ones included.
    pub observed: Vec<(u64, usize)>,
    /// Tracks confirmed by this update.
    pub confirmed: Vec<u64>,
    /// Tracks lost before matching (unseen for `lost_after`).
    pub lost: Vec<Track>,
}

/// The tracker for one camera.
#[derive(Debug)]
pub struct Tracker {
    cfg: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Self {
        Self {
            cfg,
            tracks: Vec::new(),
            next_id: 1,
        }
    }

    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    pub fn track(&self, id: u64) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }

    /// Removes and returns lost tracks: unseen for `lost_after` at `now` and missed by at
    /// least [`MIN_MISSES`] detection passes, or unseen for [`LOST_REGARDLESS_FACTOR`] times
    /// `lost_after`.
    pub fn expire(&mut self, now: Duration) -> Vec<Track> {
        let lost_after = self.cfg.lost_after;
        let mut lost = Vec::new();
        self.tracks.retain(|t| {
            let unseen = now.saturating_sub(t.last_seen);
            let is_lost = unseen >= lost_after
                && (t.misses >= MIN_MISSES || unseen >= lost_after * LOST_REGARDLESS_FACTOR);
            if is_lost {
                lost.push(t.clone());
                false
            } else {
                true
            }
        });
        lost
    }

    /// Removes every track (shutdown, camera removal) and returns them.
    pub fn clear(&mut self) -> Vec<Track> {
        std::mem::take(&mut self.tracks)
    }

    /// Feeds the detections of one frame taken at `now`.
    pub fn update(&mut self, now: Duration, detections: &[Detection]) -> TrackUpdate {
        let mut out = TrackUpdate {
            lost: self.expire(now),
            ..TrackUpdate::default()
        };
        let predicted: Vec<[f32; 4]> = self.tracks.iter().map(|t| t.predicted(now)).collect();
        let mut track_used = vec![false; self.tracks.len()];
        let mut det_used = vec![false; detections.len()];
        let mut pairs: Vec<(usize, usize)> = Vec::new();

        // Pass 1: IoU with the prediction, best first.
        let mut cands: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, t) in self.tracks.iter().enumerate() {
            for (di, d) in detections.iter().enumerate() {
                if d.label != t.label {
                    continue;
                }
                let iou = iou(&predicted[ti], &d.bbox).max(iou(&t.bbox, &d.bbox));
                if iou >= self.cfg.iou_threshold {
                    cands.push((iou, ti, di));
                }
            }
        }
        cands.sort_by(|a, b| b.0.total_cmp(&a.0));
        take_greedy(&cands, &mut track_used, &mut det_used, &mut pairs);

        // Pass 2: centre distance (in diagonals of the track's box), nearest first; boxes
        // of very different size are not the same object.
        cands.clear();
        for (ti, t) in self.tracks.iter().enumerate() {
            if track_used[ti] {
                continue;
            }
            let diag = diagonal(&t.bbox).max(1.0);
            for (di, d) in detections.iter().enumerate() {
                if det_used[di] || d.label != t.label {
                    continue;
                }
                let ratio = area(&d.bbox) / area(&t.bbox).max(1.0);
                if !(1.0 / 3.0..=3.0).contains(&ratio) {
                    continue;
                }
                let dist =
                    centre_dist(&predicted[ti], &d.bbox).min(centre_dist(&t.bbox, &d.bbox)) / diag;
                if dist <= self.cfg.max_centroid_dist {
                    // Negated so the shared greedy pass takes the nearest first.
                    cands.push((-dist, ti, di));
                }
            }
        }
        cands.sort_by(|a, b| b.0.total_cmp(&a.0));
        take_greedy(&cands, &mut track_used, &mut det_used, &mut pairs);

        for &(ti, di) in &pairs {
            let t = &mut self.tracks[ti];
            t.observe(&detections[di], now);
            out.observed.push((t.id, di));
        }
        for (t, _) in self
            .tracks
            .iter_mut()
            .zip(&track_used)
            .filter(|(_, used)| !**used)
        {
            t.misses = t.misses.saturating_add(1);
        }
        for (di, d) in detections.iter().enumerate() {
            if det_used[di] || self.tracks.len() >= MAX_TRACKS {
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            self.tracks.push(Track {
                id,
                class_id: d.class_id,
                label: d.label.clone(),
                bbox: d.bbox,
                score: d.score,
                best_score: d.score,
                hits: 1,
                first_seen: now,
                last_seen: now,
                misses: 0,
                confirmed: false,
                velocity: [0.0; 4],
                scores: vec![d.score],
            });
            out.observed.push((id, di));
        }
        for t in &mut self.tracks {
            if !t.confirmed
                && t.last_seen == now
                && t.hits >= self.cfg.confirm_hits
                && t.median_score() >= self.cfg.confirm_score
            {
                t.confirmed = true;
                out.confirmed.push(t.id);
            }
        }
        out
    }
}

fn take_greedy(
    cands: &[(f32, usize, usize)],
    track_used: &mut [bool],
    det_used: &mut [bool],
    pairs: &mut Vec<(usize, usize)>,
) {
    for &(_, ti, di) in cands {
        if !track_used[ti] && !det_used[di] {
            track_used[ti] = true;
            det_used[di] = true;
            pairs.push((ti, di));
        }
    }
}

fn median(v: &[f32]) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    let m = s.len() / 2;
    if s.len().is_multiple_of(2) {
        (s[m - 1] + s[m]) / 2.0
    } else {
        s[m]
    }
}

fn area(b: &[f32; 4]) -> f32 {
    (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0)
}

fn diagonal(b: &[f32; 4]) -> f32 {
    (b[2] - b[0]).hypot(b[3] - b[1])
}

fn centre_dist(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let (ax, ay) = ((a[0] + a[2]) / 2.0, (a[1] + a[3]) / 2.0);
    let (bx, by) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
    (ax - bx).hypot(ay - by)
}

/// Intersection over union of two [x1, y1, x2, y2] boxes.
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(label: &str, score: f32, bbox: [f32; 4]) -> Detection {
        Detection {
            class_id: if label == "person" { 0 } else { 2 },
            label: label.to_string(),
            score,
            bbox,
        }
    }

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    fn tracker() -> Tracker {
        Tracker::new(TrackerConfig::new(0.7, Duration::from_secs(5)))
    }

    #[test]
    fn iou_of_known_boxes() {
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[0.0, 0.0, 10.0, 10.0]), 1.0);
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[20.0, 0.0, 30.0, 10.0]), 0.0);
        let v = iou(&[0.0, 0.0, 10.0, 10.0], &[5.0, 0.0, 15.0, 10.0]);
        assert!((v - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&[0.9, 0.1, 0.5]), 0.5);
        assert_eq!(median(&[0.9, 0.1, 0.5, 0.7]), 0.6);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn confirms_on_second_hit_and_keeps_id() {
        let mut t = tracker();
        let u = t.update(s(0.0), &[det("person", 0.8, [100.0, 100.0, 140.0, 200.0])]);
        assert_eq!(u.observed, vec![(1, 0)]);
        assert!(u.confirmed.is_empty());
        let u = t.update(s(0.2), &[det("person", 0.8, [104.0, 100.0, 144.0, 200.0])]);
        assert_eq!(u.observed, vec![(1, 0)]);
        assert_eq!(u.confirmed, vec![1]);
        let u = t.update(s(0.4), &[det("person", 0.8, [108.0, 100.0, 148.0, 200.0])]);
        assert!(u.confirmed.is_empty(), "confirmed only once");
        assert_eq!(t.tracks()[0].hits, 3);
    }

    #[test]
    fn labels_do_not_mix() {
        let mut t = tracker();
        t.update(s(0.0), &[det("person", 0.8, [100.0, 100.0, 140.0, 200.0])]);
        let u = t.update(s(0.2), &[det("car", 0.8, [100.0, 100.0, 140.0, 200.0])]);
        assert_eq!(u.observed, vec![(2, 0)], "the car gets its own track");
        assert_eq!(t.tracks().len(), 2);
    }

    #[test]
    fn fast_mover_matched_by_prediction_and_centre() {
        let mut t = tracker();
        // 40 px wide box moving 50 px per frame: no IoU with the last box from frame 3 on,
        // but the prediction follows it.
        for i in 0..10 {
            let x = 50.0 * i as f32;
            t.update(
                s(i as f64 * 0.2),
                &[det("person", 0.8, [x, 100.0, x + 40.0, 200.0])],
            );
        }
        assert_eq!(t.tracks().len(), 1);
        assert_eq!(t.tracks()[0].hits, 10);
    }

    #[test]
    fn lost_after_timeout_exactly() {
        let mut t = tracker();
        t.update(s(0.0), &[det("person", 0.8, [0.0, 0.0, 10.0, 20.0])]);
        t.update(s(1.0), &[]);
        t.update(s(2.0), &[]);
        assert!(t.expire(s(4.99)).is_empty());
        let lost = t.expire(s(5.0));
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].last_seen, s(0.0));
        assert!(t.tracks().is_empty());
    }

    #[test]
    fn a_slow_detector_does_not_end_a_visit_it_had_no_time_to_look_at() {
        let mut t = tracker();
        let walker = |x: f32| [det("person", 0.8, [x, 100.0, x + 40.0, 200.0])];
        t.update(s(0.0), &walker(0.0));
        // The next pass comes 6 s later (inference on a loaded board) and misses the person
        // once: still the same visit.
        t.update(s(6.0), &[]);
        assert!(t.expire(s(6.0)).is_empty(), "one miss does not end a visit");
        t.update(s(9.0), &walker(30.0));
        assert_eq!(t.tracks().len(), 1);
        assert_eq!(t.tracks()[0].hits, 2);
        // Two passes without the person end it once `lost_after` has passed.
        t.update(s(10.0), &[]);
        t.update(s(11.0), &[]);
        assert!(t.expire(s(13.99)).is_empty());
        assert_eq!(t.expire(s(14.0)).len(), 1);
    }

    #[test]
    fn a_stopped_detector_ends_visits_after_twice_lost_after() {
        let mut t = tracker();
        t.update(s(0.0), &[det("person", 0.8, [0.0, 0.0, 10.0, 20.0])]);
        assert!(t.expire(s(9.99)).is_empty());
        assert_eq!(t.expire(s(10.0)).len(), 1);
    }

    #[test]
    fn low_median_never_confirms() {
        let mut t = tracker();
        for i in 0..10 {
            let u = t.update(
                s(i as f64 * 0.2),
                &[det("person", 0.55, [0.0, 0.0, 40.0, 90.0])],
            );
            assert!(u.confirmed.is_empty());
        }
        assert_eq!(t.tracks()[0].median_score(), 0.55);
    }
}
