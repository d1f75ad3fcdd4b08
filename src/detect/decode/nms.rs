//! Class-aware greedy non-maximum suppression, as the reference pipeline does it: highest
//! score first; a box is dropped when a kept box of the SAME class overlaps it by more than
//! the IoU threshold (boxes of different classes never suppress each other).

use super::Candidate;

/// Intersection over union of two [x1, y1, x2, y2] boxes; the 1e-9 in the denominator is the
/// reference's, so degenerate boxes give 0 rather than NaN.
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area_a = (a[2] - a[0]) * (a[3] - a[1]);
    let area_b = (b[2] - b[0]) * (b[3] - b[1]);
    inter / (area_a + area_b - inter + 1e-9)
}

/// Keeps the best-scoring boxes; returns them best first. Only the `max_candidates`
/// highest-scoring inputs are considered (NMS is quadratic).
pub fn nms(mut cands: Vec<Candidate>, iou_threshold: f32, max_candidates: usize) -> Vec<Candidate> {
    // Stable sort: equal scores keep their decode order, so output is deterministic.
    cands.sort_by(|a, b| b.score.total_cmp(&a.score));
    cands.truncate(max_candidates);
    let mut kept: Vec<Candidate> = Vec::new();
    for c in cands {
        let suppressed = kept
            .iter()
            .any(|k| k.class_id == c.class_id && iou(&k.bbox, &c.bbox) > iou_threshold);
        if !suppressed {
            kept.push(c);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(class_id: usize, score: f32, bbox: [f32; 4]) -> Candidate {
        Candidate {
            class_id,
            score,
            bbox,
        }
    }

    #[test]
    fn iou_basics() {
        let a = [0.0, 0.0, 2.0, 2.0];
        assert!((iou(&a, &a) - 1.0).abs() < 1e-6);
        assert_eq!(iou(&a, &[3.0, 3.0, 4.0, 4.0]), 0.0);
        // Half of a inside b: inter 2, union 4.
        assert!((iou(&a, &[0.0, 0.0, 2.0, 1.0]) - 0.5).abs() < 1e-6);
        // Degenerate boxes do not produce NaN.
        assert_eq!(iou(&[1.0, 1.0, 1.0, 1.0], &[1.0, 1.0, 1.0, 1.0]), 0.0);
    }

    #[test]
    fn same_class_overlap_is_suppressed_best_kept() {
        let out = nms(
            vec![
                c(0, 0.6, [0.0, 0.0, 10.0, 10.0]),
                c(0, 0.9, [1.0, 0.0, 11.0, 10.0]),
            ],
            0.45,
            100,
        );
        assert_eq!(out, vec![c(0, 0.9, [1.0, 0.0, 11.0, 10.0])]);
    }

    #[test]
    fn different_class_overlap_is_kept() {
        let out = nms(
            vec![
                c(0, 0.6, [0.0, 0.0, 10.0, 10.0]),
                c(1, 0.9, [0.0, 0.0, 10.0, 10.0]),
            ],
            0.45,
            100,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].class_id, 1);
        assert_eq!(out[1].class_id, 0);
    }

    #[test]
    fn iou_threshold_edge() {
        // IoU exactly 0.5 (inter 2, union 4): kept at threshold 0.5 (suppression needs
        // strictly more), suppressed at 0.49.
        let boxes = vec![
            c(0, 0.9, [0.0, 0.0, 2.0, 2.0]),
            c(0, 0.8, [0.0, 0.0, 2.0, 1.0]),
        ];
        assert_eq!(nms(boxes.clone(), 0.5, 100).len(), 2);
        assert_eq!(nms(boxes, 0.49, 100).len(), 1);
    }

    #[test]
    fn suppressed_box_does_not_suppress_others() {
        // B overlaps A (suppressed); C overlaps only B: C must survive.
        let out = nms(
            vec![
                c(0, 0.9, [0.0, 0.0, 10.0, 10.0]),
                c(0, 0.8, [4.0, 0.0, 14.0, 10.0]),
                c(0, 0.7, [9.0, 0.0, 19.0, 10.0]),
            ],
            0.3,
            100,
        );
        let scores: Vec<f32> = out.iter().map(|k| k.score).collect();
        assert_eq!(scores, vec![0.9, 0.7]);
    }

    #[test]
    fn candidate_cap_keeps_best() {
        let cands: Vec<Candidate> = (0..10)
            .map(|i| c(i, i as f32 / 10.0, [0.0, 0.0, 1.0, 1.0]))
            .collect();
        let out = nms(cands, 0.45, 3);
        let ids: Vec<usize> = out.iter().map(|k| k.class_id).collect();
        assert_eq!(ids, vec![9, 8, 7]);
    }
}
