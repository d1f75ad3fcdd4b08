//! YOLOv8 / YOLO11 in the Rockchip model-zoo split-head form: per stride, a DFL box tensor
//! [1, 4 * bins, H, W] (bins = 16), class scores [1, classes, H, W] (already sigmoid) and,
//! optionally, their sum [1, 1, H, W] (a cheap "anything here?" filter). Outputs are grouped
//! by grid size; within a group the order is box, classes, sum (the model zoo's order).
//! Box sides (left, top, right, bottom) are the expectation of a softmax over the bins, in
//! grid units: x1 = (gx + 0.5 - left) * s, x2 = (gx + 0.5 + right) * s.

use super::{Candidate, DecodeParams, View, stride_of};

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Branch {
    stride: usize,
    gw: usize,
    gh: usize,
    box_ix: usize,
    cls_ix: usize,
    sum_ix: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Plan {
    bins: usize,
    classes: usize,
    branches: Vec<Branch>,
}

pub(super) fn plan(dims: &[Vec<usize>], w: usize, h: usize) -> Result<Plan, String> {
    if dims.len() < 2 {
        return Err(format!(
            "yolov8 (split head) expects 2 or 3 outputs per stride ([1, 64, H, W] box, \
             [1, classes, H, W] scores, optional [1, 1, H, W] score sum), got {} output(s)",
            dims.len()
        ));
    }
    // Group output indices by grid size, keeping their order.
    let mut groups: Vec<((usize, usize), Vec<usize>)> = Vec::new();
    for (i, d) in dims.iter().enumerate() {
        let [1, _, gh, gw] = d.as_slice() else {
            return Err(format!(
                "yolov8 (split head) expects 4-D outputs [1, C, H, W]; output {i} is {d:?}"
            ));
        };
        match groups.iter_mut().find(|(k, _)| *k == (*gh, *gw)) {
            Some((_, v)) => v.push(i),
            None => groups.push(((*gh, *gw), vec![i])),
        }
    }
    let mut branches = Vec::new();
    let (mut bins, mut classes) = (0, 0);
    for ((gh, gw), ix) in groups {
        let stride = stride_of(w, h, gw, gh)
            .ok_or_else(|| format!("a {gw}x{gh} output grid does not divide the {w}x{h} input"))?;
        let (box_ix, cls_ix, sum_ix) = match ix.as_slice() {
            [b, c] => (*b, *c, None),
            [b, c, s] if dims[*s][1] == 1 => (*b, *c, Some(*s)),
            _ => {
                return Err(format!(
                    "yolov8 (split head) expects box, scores and optional score-sum outputs \
                     for the {gw}x{gh} grid, got {} outputs",
                    ix.len()
                ));
            }
        };
        let (bc, cc) = (dims[box_ix][1], dims[cls_ix][1]);
        if bc % 4 != 0 || bc < 8 {
            return Err(format!(
                "yolov8 box output for the {gw}x{gh} grid has {bc} channels; expected 4 x bins (64)"
            ));
        }
        if (bins, classes) == (0, 0) {
            (bins, classes) = (bc / 4, cc);
        } else if (bins, classes) != (bc / 4, cc) {
            return Err("yolov8 outputs disagree on bins or class count across strides".into());
        }
        branches.push(Branch {
            stride,
            gw,
            gh,
            box_ix,
            cls_ix,
            sum_ix,
        });
    }
    branches.sort_by_key(|b| b.stride);
    Ok(Plan {
        bins,
        classes,
        branches,
    })
}

pub(super) fn decode(plan: &Plan, views: &[View<'_>], p: &DecodeParams) -> Vec<Candidate> {
    let conf = p.score_threshold;
    let mut out = Vec::new();
    let mut probs = vec![0f32; plan.bins];
    for b in &plan.branches {
        let hw = b.gw * b.gh;
        let (bx, cls) = (views[b.box_ix], views[b.cls_ix]);
        let cls_thr = cls.raw_threshold(conf);
        let sum = b.sum_ix.map(|i| (views[i], views[i].raw_threshold(conf)));
        let sf = b.stride as f32;
        for cell in 0..hw {
            // The sum of class scores bounds the best one: skip empty cells early.
            if let Some((sv, st)) = sum
                && !sv.passes(cell, st)
            {
                continue;
            }
            let (mut best, mut best_c) = (f32::NEG_INFINITY, 0);
            for c in 0..plan.classes {
                let i = c * hw + cell;
                if cls.passes(i, cls_thr) {
                    let x = cls.get(i);
                    if x > best {
                        best = x;
                        best_c = c;
                    }
                }
            }
            if best <= conf {
                continue;
            }
            let mut d = [0f32; 4];
            for (side, dist) in d.iter_mut().enumerate() {
                for (j, pr) in probs.iter_mut().enumerate() {
                    *pr = bx.get((side * plan.bins + j) * hw + cell);
                }
                *dist = dfl_expectation(&mut probs);
            }
            let ax = (cell % b.gw) as f32 + 0.5;
            let ay = (cell / b.gw) as f32 + 0.5;
            out.push(Candidate {
                class_id: best_c,
                score: best,
                bbox: [
                    (ax - d[0]) * sf,
                    (ay - d[1]) * sf,
                    (ax + d[2]) * sf,
                    (ay + d[3]) * sf,
                ],
            });
        }
    }
    out
}

/// Softmax over the bins (in place), then the expected bin index.
pub(super) fn dfl_expectation(logits: &mut [f32]) -> f32 {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut total = 0.0;
    for x in logits.iter_mut() {
        *x = (*x - m).exp();
        total += *x;
    }
    if total <= 0.0 || !total.is_finite() {
        return 0.0;
    }
    logits
        .iter()
        .enumerate()
        .map(|(j, e)| j as f32 * e)
        .sum::<f32>()
        / total
}
