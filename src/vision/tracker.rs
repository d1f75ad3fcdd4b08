//! Multi-object tracker (SORT-like, pure): follows detections across frames so one person
//! walking through the scene is one track, not one object per frame.
//!
//! Each track predicts its box with a constant velocity; tracks and detections (same label
//! only) are paired by one optimal assignment (Kuhn-Munkres, `pathfinding`) over the pairs
//! that overlap enough or whose centres are close for the box size (as far as a person
//! walks in the time unseen, while at most one pass missed the track): as many pairs as
//! possible, then the nearest (see `associate` for why not greedily). A track is
//! confirmed after >= 2 hits with a median score >= `confirm_score`, and lost once unseen
//! for `lost_after` by at least [`MIN_MISSES`] detection passes. Time is a monotonic
//! `Duration` passed in, so tests simulate it.

use crate::detect::Detection;
use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;
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
/// Unseen at least this long, a track seen twice is compared at its predicted box. Sooner,
/// at its last box: over a frame or two, box jitter (amplified into the velocity by the
/// short interval) moves the prediction more than the person moved.
const TRUST_PREDICTION_AFTER: Duration = Duration::from_millis(400);
/// How far a walking person gets per second, in diagonals of their box (1.4 m/s against a
/// box about 1.8 m tall). Between two sparse detection passes (an overloaded detector, one
/// pass a second or less) a person may walk further than the centre-distance gate; while at
/// most one pass has missed the track, the gate widens to this reach over the time unseen.
/// After more misses it does not: the person is more likely gone than walking unseen (at a
/// full detection rate the gate is therefore the same as without this).
const WALK_DIAGONALS_PER_S: f32 = 0.8;
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

    /// Pairs tracks with detections (indices), as one assignment over the whole frame:
    /// as many pairs as the gates allow, then the nearest. Matching greedily, nearest pair
    /// first, fails when detections are sparse (an overloaded detector, several cameras on
    /// one NPU): people in a queue move about their own spacing between two passes, a new
    /// track takes the neighbour of its person, and that person becomes a new event on
    /// every pass (PETS 2009 at one pass a second: up to 15 events for 7 people).
    ///
    /// A pair passes the gates when the boxes overlap by `iou_threshold`, or when their
    /// centres are within `max_centroid_dist` diagonals of the track's box (or the walking
    /// reach, [`WALK_DIAGONALS_PER_S`]) and their areas within 3x. A track seen twice and
    /// unseen for [`TRUST_PREDICTION_AFTER`] is compared at its predicted box; otherwise (a
    /// new track's velocity is unknown, a recent one's is mostly jitter) at its last box.
    /// Cost: distance in diagonals minus the overlap.
    fn associate(&self, now: Duration, detections: &[Detection]) -> Vec<(usize, usize)> {
        let (n, m) = (self.tracks.len(), detections.len());
        if n == 0 || m == 0 {
            return Vec::new();
        }
        // Integer weights for the solver (it maximises): a gated pair is always worth more
        // than leaving its track unmatched (weight 0), a pair outside the gates never is.
        const SCALE: f32 = 1000.0;
        const PAIR: i64 = 1_000_000;
        let mut weights = Matrix::new(n, m + n, 0i64);
        for (ti, t) in self.tracks.iter().enumerate() {
            let unseen = now.saturating_sub(t.last_seen);
            let reference = if t.hits >= 2 && unseen >= TRUST_PREDICTION_AFTER {
                t.predicted(now)
            } else {
                t.bbox
            };
            let diag = diagonal(&t.bbox).max(1.0);
            let reach = if t.misses < MIN_MISSES {
                let walked = WALK_DIAGONALS_PER_S * unseen.as_secs_f32();
                self.cfg.max_centroid_dist.max(walked)
            } else {
                self.cfg.max_centroid_dist
            };
            for (di, d) in detections.iter().enumerate() {
                weights[(ti, di)] = -PAIR;
                if d.label != t.label {
                    continue;
                }
                let overlap = iou(&reference, &d.bbox);
                let dist = centre_dist(&reference, &d.bbox) / diag;
                let ratio = area(&d.bbox) / area(&t.bbox).max(1.0);
                let near = dist <= reach && (1.0 / 3.0..=3.0).contains(&ratio);
                if overlap >= self.cfg.iou_threshold || near {
                    let cost = ((dist - overlap) * SCALE) as i64;
                    weights[(ti, di)] = PAIR - cost;
                }
            }
        }
        let (_, columns) = kuhn_munkres(&weights);
        columns
            .into_iter()
            .enumerate()
            .filter(|&(ti, di)| di < m && weights[(ti, di)] > 0)
            .collect()
    }

    /// Feeds the detections of one frame taken at `now`.
    pub fn update(&mut self, now: Duration, detections: &[Detection]) -> TrackUpdate {
        let mut out = TrackUpdate {
            lost: self.expire(now),
            ..TrackUpdate::default()
        };
        let mut track_used = vec![false; self.tracks.len()];
        let mut det_used = vec![false; detections.len()];
        for (ti, di) in self.associate(now, detections) {
            track_used[ti] = true;
            det_used[di] = true;
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

    /// A 30x90 person box centred at x = `cx`.
    fn person_at(cx: f32) -> Detection {
        det("person", 0.9, [cx - 15.0, 100.0, cx + 15.0, 190.0])
    }

    #[test]
    fn a_queue_moving_more_than_its_spacing_between_passes_keeps_its_tracks() {
        // Two people enter one behind the other, 40 px apart, and walk 60 px before the
        // next pass. Nearest first, the back track takes the front person's old place and
        // the front person (100 px from the back track: beyond one diagonal) becomes new.
        let mut tr = tracker();
        tr.update(s(0.0), &[person_at(140.0), person_at(100.0)]);
        let ids: Vec<u64> = tr.tracks().iter().map(|t| t.id).collect();
        let upd = tr.update(s(1.0), &[person_at(200.0), person_at(160.0)]);
        assert_eq!(tr.tracks().len(), 2, "no new track: {:?}", tr.tracks());
        assert_eq!(upd.observed.len(), 2);
        // Each keeps its person: the one that was in front is still in front.
        let x_of = |id: u64| tr.track(id).map(|t| (t.bbox[0] + t.bbox[2]) / 2.0);
        assert_eq!(x_of(ids[0]), Some(200.0));
        assert_eq!(x_of(ids[1]), Some(160.0));
    }

    #[test]
    fn a_person_missed_by_one_sparse_pass_is_found_where_walking_took_them() {
        // Passes every 1.4 s; the person (30x90 box, diagonal ~95 px) is missed once and
        // has walked 180 px (~1.9 diagonals) by the pass after: 2.8 s at walking reach.
        let mut tr = tracker();
        tr.update(s(0.0), &[person_at(100.0)]);
        tr.update(s(1.4), &[]);
        tr.update(s(2.8), &[person_at(280.0)]);
        assert_eq!(tr.tracks().len(), 1, "the same visit: {:?}", tr.tracks());
        assert_eq!(tr.tracks()[0].hits, 2);
    }

    #[test]
    fn after_two_missed_passes_the_reach_does_not_widen() {
        // At seven passes a second, missed by every pass for 2.8 s: someone 180 px away is
        // more likely a newcomer than the same person walking unseen.
        let mut tr = tracker();
        tr.update(s(0.0), &[person_at(100.0)]);
        for i in 1..20 {
            tr.update(s(f64::from(i) / 7.0), &[]);
        }
        tr.update(s(2.8), &[person_at(280.0)]);
        assert_eq!(tr.tracks().len(), 2, "{:?}", tr.tracks());
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
