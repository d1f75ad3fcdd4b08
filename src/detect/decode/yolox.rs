//! YOLOX head: one output [1, N, 5 + classes], rows = grid cells of strides 8, 16, 32 in that
//! order, row-major within a stride. Columns: dx, dy, log w, log h, objectness, class scores
//! (objectness and classes already sigmoid-activated, as the official export produces).
//! cx = (dx + gx) * s, w = exp(log w) * s; score = objectness * best class score.

use super::{Candidate, DecodeParams, View};

const STRIDES: [usize; 3] = [8, 16, 32];

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Plan {
    /// Values per row (5 + classes).
    k: usize,
    /// (stride, grid width, grid height, first row)
    grids: Vec<(usize, usize, usize, usize)>,
}

pub(super) fn plan(dims: &[Vec<usize>], w: usize, h: usize) -> Result<Plan, String> {
    let [d] = dims else {
        return Err(format!(
            "yolox expects one output [1, N, 5 + classes], got {} outputs",
            dims.len()
        ));
    };
    let (n, k) = match d.as_slice() {
        [1, n, k] => (*n, *k),
        _ => return Err("yolox expects one output of shape [1, N, 5 + classes]".to_string()),
    };
    if !w.is_multiple_of(32) || !h.is_multiple_of(32) {
        return Err(format!(
            "yolox needs an input size divisible by 32, not {w}x{h}"
        ));
    }
    let mut grids = Vec::new();
    let mut rows = 0;
    for s in STRIDES {
        grids.push((s, w / s, h / s, rows));
        rows += (w / s) * (h / s);
    }
    if n != rows {
        return Err(format!(
            "yolox expects N = {rows} rows (strides 8, 16, 32 over {w}x{h}), got {n}"
        ));
    }
    if k < 6 {
        return Err(format!("yolox expects at least 6 values per row, got {k}"));
    }
    Ok(Plan { k, grids })
}

pub(super) fn decode(plan: &Plan, views: &[View<'_>], p: &DecodeParams) -> Vec<Candidate> {
    let Some(v) = views.first() else {
        return Vec::new();
    };
    let conf = p.score_threshold;
    // score = obj * cls <= obj, so a cell whose objectness is not above the threshold can be
    // skipped before its 80 class scores are read (and, for int8, before dequantizing).
    let obj_thr = v.raw_threshold(conf);
    let k = plan.k;
    let mut out = Vec::new();
    for &(s, gw, gh, first) in &plan.grids {
        let sf = s as f32;
        for cell in 0..gw * gh {
            let base = (first + cell) * k;
            if !v.passes(base + 4, obj_thr) {
                continue;
            }
            let obj = v.get(base + 4);
            if obj <= conf {
                continue;
            }
            let (mut best, mut best_c) = (f32::NEG_INFINITY, 0);
            for c in 0..k - 5 {
                let x = v.get(base + 5 + c);
                if x > best {
                    best = x;
                    best_c = c;
                }
            }
            let score = obj * best;
            if score <= conf {
                continue;
            }
            let (gx, gy) = ((cell % gw) as f32, (cell / gw) as f32);
            let cx = (v.get(base) + gx) * sf;
            let cy = (v.get(base + 1) + gy) * sf;
            let bw = v.get(base + 2).exp() * sf;
            let bh = v.get(base + 3).exp() * sf;
            out.push(Candidate {
                class_id: best_c,
                score,
                bbox: [cx - bw / 2.0, cy - bh / 2.0, cx + bw / 2.0, cy + bh / 2.0],
            });
        }
    }
    out
}
