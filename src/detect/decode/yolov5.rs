//! YOLOv5 anchor head: three outputs [1, 3 * (5 + classes), H, W] (strides 8, 16, 32), channel
//! a * (5 + classes) + k for anchor a. Values go through a sigmoid (raw heads) unless the
//! export already applied it (`DecodeParams::yolov5_sigmoid = false`, Rockchip model zoo).
//! cx = (2 sx - 0.5 + gx) * s, w = (2 sw)^2 * anchor_w; score = objectness * class score.

use super::{Candidate, DecodeParams, RawThreshold, View, logit, sigmoid, stride_of};

/// Standard YOLOv5 anchors (input pixels), for strides 8, 16, 32.
pub const ANCHORS: [[(f32, f32); 3]; 3] = [
    [(10.0, 13.0), (16.0, 30.0), (33.0, 23.0)],
    [(30.0, 61.0), (62.0, 45.0), (59.0, 119.0)],
    [(116.0, 90.0), (156.0, 198.0), (373.0, 326.0)],
];

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Plan {
    /// 5 + classes
    k: usize,
    /// (output index, stride, grid width, grid height), smallest stride first.
    branches: Vec<(usize, usize, usize, usize)>,
}

pub(super) fn plan(dims: &[Vec<usize>], w: usize, h: usize) -> Result<Plan, String> {
    if dims.len() != ANCHORS.len() {
        return Err(format!(
            "yolov5 expects 3 outputs [1, 3 x (5 + classes), H, W], got {}",
            dims.len()
        ));
    }
    let mut branches = Vec::new();
    let mut k = 0;
    for (i, d) in dims.iter().enumerate() {
        let [1, c, gh, gw] = d.as_slice() else {
            return Err(format!(
                "yolov5 expects 4-D outputs [1, 3 x (5 + classes), H, W]; output {i} is {d:?}"
            ));
        };
        if c % 3 != 0 || c / 3 < 6 {
            return Err(format!(
                "yolov5 output {i} has {c} channels; expected 3 x (5 + classes), e.g. 255"
            ));
        }
        if k != 0 && k != c / 3 {
            return Err("yolov5 outputs disagree on the class count".to_string());
        }
        k = c / 3;
        let s = stride_of(w, h, *gw, *gh)
            .ok_or_else(|| format!("a {gw}x{gh} output grid does not divide the {w}x{h} input"))?;
        branches.push((i, s, *gw, *gh));
    }
    branches.sort_by_key(|b| b.1);
    if branches.windows(2).any(|p| p[0].1 == p[1].1) {
        return Err("yolov5 outputs must have three different grid sizes".to_string());
    }
    Ok(Plan { k, branches })
}

pub(super) fn decode(plan: &Plan, views: &[View<'_>], p: &DecodeParams) -> Vec<Candidate> {
    let conf = p.score_threshold;
    let act = |x: f32| if p.yolov5_sigmoid { sigmoid(x) } else { x };
    let k = plan.k;
    let mut out = Vec::new();
    for (rank, &(ix, s, gw, gh)) in plan.branches.iter().enumerate() {
        let v = views[ix];
        let hw = gw * gh;
        let sf = s as f32;
        // Threshold objectness before the activation: sigmoid is monotonic.
        let obj_thr: RawThreshold = if p.yolov5_sigmoid {
            v.raw_threshold(logit(conf))
        } else {
            v.raw_threshold(conf)
        };
        for (a, &(aw, ah)) in ANCHORS[rank].iter().enumerate() {
            let ch = |kk: usize, cell: usize| (a * k + kk) * hw + cell;
            for cell in 0..hw {
                if !v.passes(ch(4, cell), obj_thr) {
                    continue;
                }
                let obj = act(v.get(ch(4, cell)));
                if obj <= conf {
                    continue;
                }
                let (mut best, mut best_c) = (f32::NEG_INFINITY, 0);
                for c in 0..k - 5 {
                    let x = v.get(ch(5 + c, cell));
                    if x > best {
                        best = x;
                        best_c = c;
                    }
                }
                let score = obj * act(best);
                if score <= conf {
                    continue;
                }
                let (gx, gy) = ((cell % gw) as f32, (cell / gw) as f32);
                let cx = (act(v.get(ch(0, cell))) * 2.0 - 0.5 + gx) * sf;
                let cy = (act(v.get(ch(1, cell))) * 2.0 - 0.5 + gy) * sf;
                let bw = (act(v.get(ch(2, cell))) * 2.0).powi(2) * aw;
                let bh = (act(v.get(ch(3, cell))) * 2.0).powi(2) * ah;
                out.push(Candidate {
                    class_id: best_c,
                    score,
                    bbox: [cx - bw / 2.0, cy - bh / 2.0, cx + bw / 2.0, cy + bh / 2.0],
                });
            }
        }
    }
    out
}
