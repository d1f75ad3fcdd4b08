//! Decoder tests against hand-computed tensors.

use super::*;
use crate::detect::labels::Labels;

fn f32t(dims: &[usize], data: Vec<f32>) -> RawTensor {
    assert_eq!(dims.iter().product::<usize>(), data.len());
    RawTensor {
        dims: dims.to_vec(),
        data: TensorData::F32(data),
    }
}

/// Quantizes exactly-representable values (tests pick values on the grid).
fn quantize(t: &RawTensor, zero_point: i32, scale: f32) -> RawTensor {
    let TensorData::F32(d) = &t.data else {
        panic!("float tensor expected")
    };
    let data = d
        .iter()
        .map(|&x| {
            let q = (x / scale).round() as i32 + zero_point;
            i8::try_from(q).unwrap()
        })
        .collect();
    RawTensor {
        dims: t.dims.clone(),
        data: TensorData::I8 {
            data,
            zero_point,
            scale,
        },
    }
}

/// Float tensor holding exactly what `quantize` would dequantize to.
fn dequantized(t: &RawTensor) -> RawTensor {
    let TensorData::I8 {
        data,
        zero_point,
        scale,
    } = &t.data
    else {
        panic!("int8 tensor expected")
    };
    f32t(
        &t.dims,
        data.iter()
            .map(|&q| (i32::from(q) - zero_point) as f32 * scale)
            .collect(),
    )
}

fn lb(scale: f32) -> Letterbox {
    Letterbox {
        scale,
        pad_x: 0.0,
        pad_y: 0.0,
        src_width: 100,
        src_height: 100,
    }
}

fn assert_box(actual: [f32; 4], expected: [f32; 4]) {
    for i in 0..4 {
        assert!(
            (actual[i] - expected[i]).abs() < 1e-3,
            "box {actual:?} != {expected:?}"
        );
    }
}

fn decoder(family: ModelFamily, w: u32, h: u32) -> Decoder {
    Decoder::new(family, DecodeParams::new(w, h), Labels::coco())
}

// ---------- YOLOX ----------

/// 32x32 input: grids 4x4 (s8), 2x2 (s16), 1x1 (s32) = 21 rows of 5 + 2 classes.
fn yolox_tensor() -> RawTensor {
    let k = 7;
    let mut d = vec![0f32; 21 * k];
    for r in 0..21 {
        d[r * k + 4] = 0.1; // objectness below threshold everywhere...
    }
    // ...except row 16 + 3 = stride 16, cell (1, 1).
    let r = 19 * k;
    d[r..r + k].copy_from_slice(&[0.5, 0.25, 2f32.ln(), 0.0, 0.8, 0.3, 0.9]);
    f32t(&[1, 21, 7], d)
}

#[test]
fn yolox_grid_decode() {
    let dets = decoder(ModelFamily::Yolox, 32, 32)
        .decode(&[yolox_tensor()], &lb(0.5))
        .unwrap();
    assert_eq!(dets.len(), 1);
    let d = &dets[0];
    assert_eq!((d.class_id, d.label.as_str()), (1, "bicycle"));
    assert!((d.score - 0.72).abs() < 1e-6);
    // cx = (0.5 + 1) * 16 = 24, cy = 20, w = 32, h = 16 -> [8, 12, 40, 28] / 0.5
    assert_box(d.bbox, [16.0, 24.0, 80.0, 56.0]);
}

#[test]
fn yolox_int8_equals_float() {
    let q = quantize(&yolox_tensor(), -3, 1.0 / 64.0);
    let f = dequantized(&q);
    let dq = decoder(ModelFamily::Yolox, 32, 32);
    let a = dq.decode(&[q], &lb(1.0)).unwrap();
    let b = dq.decode(&[f], &lb(1.0)).unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a, b);
}

// ---------- YOLOv8 split head ----------

const BINS: usize = 16;

/// One branch: box [1,64,g,g], cls [1,3,g,g], sum [1,1,g,g]; objects = (cell, class, score,
/// distances l,t,r,b as whole bins).
fn v8_branch(g: usize, objects: &[(usize, usize, f32, [usize; 4])]) -> Vec<RawTensor> {
    let hw = g * g;
    let classes = 3;
    let mut bx = vec![-100f32; 4 * BINS * hw];
    let mut cls = vec![0.0f32; classes * hw];
    for &(cell, c, score, dist) in objects {
        for (side, &bin) in dist.iter().enumerate() {
            bx[(side * BINS + bin) * hw + cell] = 0.0;
        }
        cls[c * hw + cell] = score;
    }
    let sum: Vec<f32> = (0..hw)
        .map(|cell| (0..classes).map(|c| cls[c * hw + cell]).sum())
        .collect();
    vec![
        f32t(&[1, 4 * BINS, g, g], bx),
        f32t(&[1, classes, g, g], cls),
        f32t(&[1, 1, g, g], sum),
    ]
}

/// 64x64 input: stride 8 (8x8) and stride 16 (4x4).
fn v8_outputs() -> Vec<RawTensor> {
    // Stride 8, cell (3, 2) = 19: class 1, 0.875, sides 2,1,3,4.
    let mut out = v8_branch(8, &[(2 * 8 + 3, 1, 0.875, [2, 1, 3, 4])]);
    // Stride 16, cell (1, 1) = 5: class 2, 0.625, sides 1,1,1,1.
    out.extend(v8_branch(4, &[(5, 2, 0.625, [1, 1, 1, 1])]));
    out
}

#[test]
fn dfl_softmax_expectation() {
    // Softmax of [0, ln 3] = [0.25, 0.75] -> expectation 0.75.
    let mut l = [0.0, 3f32.ln()];
    assert!((yolov8::dfl_expectation(&mut l) - 0.75).abs() < 1e-6);
    // Two equal peaks at bins 1 and 3 -> 2.
    let mut l = [-100.0, 0.0, -100.0, 0.0];
    assert!((yolov8::dfl_expectation(&mut l) - 2.0).abs() < 1e-6);
}

#[test]
fn yolov8_split_head_decode() {
    let dets = decoder(ModelFamily::Yolov8, 64, 64)
        .decode(&v8_outputs(), &lb(0.5))
        .unwrap();
    assert_eq!(dets.len(), 2, "{dets:?}");
    // anchor (3.5, 2.5): [(3.5-2)*8, (2.5-1)*8, (3.5+3)*8, (2.5+4)*8] = [12, 12, 52, 52]
    assert_eq!(dets[0].class_id, 1);
    assert_eq!(dets[0].score, 0.875);
    assert_box(dets[0].bbox, [24.0, 24.0, 104.0, 104.0]);
    // anchor (1.5, 1.5) * 16 +- 16: [8, 8, 40, 40]
    assert_eq!(dets[1].class_id, 2);
    assert_eq!(dets[1].label, "car");
    assert_box(dets[1].bbox, [16.0, 16.0, 80.0, 80.0]);
}

#[test]
fn yolov8_without_score_sum_and_any_branch_order() {
    // Drop the sum tensors and put the stride-16 branch first: same result.
    let all = v8_outputs();
    let outs = vec![
        all[3].clone(),
        all[4].clone(),
        all[0].clone(),
        all[1].clone(),
    ];
    let dets = decoder(ModelFamily::Yolov8, 64, 64)
        .decode(&outs, &lb(1.0))
        .unwrap();
    assert_eq!(dets.len(), 2);
    assert_box(dets[0].bbox, [12.0, 12.0, 52.0, 52.0]);
    assert_box(dets[1].bbox, [8.0, 8.0, 40.0, 40.0]);
}

#[test]
fn yolov8_int8_equals_float() {
    // Box logits -100 / 0 with scale 1; scores on a 1/128 grid.
    let q: Vec<RawTensor> = v8_outputs()
        .iter()
        .map(|t| {
            if t.dims[1] == 4 * BINS {
                quantize(t, 0, 1.0)
            } else {
                quantize(t, -128, 1.0 / 128.0)
            }
        })
        .collect();
    let f: Vec<RawTensor> = q.iter().map(dequantized).collect();
    let d = decoder(ModelFamily::Yolov8, 64, 64);
    let a = d.decode(&q, &lb(1.0)).unwrap();
    let b = d.decode(&f, &lb(1.0)).unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(a, b);
}

// ---------- YOLOv5 ----------

/// 32x32 input, 2 classes (K = 7, 21 channels): grids 4x4, 2x2, 1x1. One object at stride 16,
/// anchor 1 (62x45), cell (1, 0): raw tx=ty=tw=th=0, objectness logit(0.8), class 1 logit(0.9).
fn v5_outputs(sigmoid_in_model: bool) -> Vec<RawTensor> {
    let k = 7;
    let background = if sigmoid_in_model { 0.0 } else { -10.0 };
    let mut outs = Vec::new();
    for g in [4usize, 2, 1] {
        let hw = g * g;
        let mut d = vec![background; 3 * k * hw];
        if g == 2 {
            let (a, cell) = (1, 1);
            let ch = |kk: usize| (a * k + kk) * hw + cell;
            let val = |p: f32| if sigmoid_in_model { p } else { logit(p) };
            for kk in 0..4 {
                d[ch(kk)] = val(0.5);
            }
            d[ch(4)] = val(0.8);
            d[ch(5)] = val(0.01);
            d[ch(6)] = val(0.9);
        }
        outs.push(f32t(&[1, 3 * k, g, g], d));
    }
    outs
}

#[test]
fn yolov5_anchor_decode() {
    let dets = decoder(ModelFamily::Yolov5, 32, 32)
        .decode(&v5_outputs(false), &lb(1.0))
        .unwrap();
    assert_eq!(dets.len(), 1, "{dets:?}");
    assert_eq!(dets[0].class_id, 1);
    assert!((dets[0].score - 0.72).abs() < 1e-5);
    // cx = (2*0.5 - 0.5 + 1) * 16 = 24, cy = 8, w = (2*0.5)^2 * 62, h = 45
    assert_box(dets[0].bbox, [-7.0, -14.5, 55.0, 30.5]);
}

#[test]
fn yolov5_presigmoided_export() {
    let mut d = decoder(ModelFamily::Yolov5, 32, 32);
    d.params.yolov5_sigmoid = false;
    let dets = d.decode(&v5_outputs(true), &lb(1.0)).unwrap();
    assert_eq!(dets.len(), 1);
    assert_box(dets[0].bbox, [-7.0, -14.5, 55.0, 30.5]);
}

#[test]
fn yolov5_int8_equals_float() {
    let mut d = decoder(ModelFamily::Yolov5, 32, 32);
    d.params.yolov5_sigmoid = false;
    let q: Vec<RawTensor> = v5_outputs(true)
        .iter()
        .map(|t| quantize(t, -128, 1.0 / 200.0))
        .collect();
    let f: Vec<RawTensor> = q.iter().map(dequantized).collect();
    let a = d.decode(&q, &lb(1.0)).unwrap();
    let b = d.decode(&f, &lb(1.0)).unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a, b);
}

// ---------- shape checks ----------

#[test]
fn yolox_model_as_yolov8_is_a_clear_mismatch() {
    let dims = vec![vec![1, 3549, 85]];
    let e = check_outputs(ModelFamily::Yolov8, &dims, &DecodeParams::new(416, 416)).unwrap_err();
    assert_eq!(e.reason_code(), "model_load_failed");
    let msg = e.to_string();
    assert!(
        msg.starts_with("model output does not match family yolov8: yolov8 (split head) expects"),
        "{msg}"
    );
    assert!(msg.contains("[1, 3549, 85]"), "{msg}");
    assert!(
        msg.contains("they look like a yolox model: set detector.family = \"yolox\""),
        "{msg}"
    );
}

#[test]
fn end_to_end_yolov8_export_is_rejected_for_yolox() {
    // Ultralytics' single-tensor [1, 84, 8400] export fits no supported layout.
    let dims = vec![vec![1, 84, 8400]];
    let e = check_outputs(ModelFamily::Yolox, &dims, &DecodeParams::new(640, 640)).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("yolox expects N = 8400 rows (strides 8, 16, 32 over 640x640), got 84"),
        "{msg}"
    );
    assert!(!msg.contains("look like"), "{msg}");
    assert!(
        msg.contains("none of the supported layouts (yolox, yolov8 with split outputs, yolov5) fits: set detector.model to"),
        "{msg}"
    );
}

#[test]
fn yolov5_outputs_recognised_in_hint() {
    let dims: Vec<Vec<usize>> = v5_outputs(false).iter().map(|t| t.dims.clone()).collect();
    let e = check_outputs(ModelFamily::Yolox, &dims, &DecodeParams::new(32, 32)).unwrap_err();
    assert!(
        e.to_string().contains("set detector.family = \"yolov5\""),
        "{e}"
    );
    assert!(check_outputs(ModelFamily::Yolov5, &dims, &DecodeParams::new(32, 32)).is_ok());
}

#[test]
fn wrong_data_length_is_reported() {
    let t = f32t(&[1, 21, 7], vec![0.0; 147]);
    let mut bad = t.clone();
    bad.data = TensorData::F32(vec![0.0; 10]);
    let e = decode_candidates(ModelFamily::Yolox, &[bad], &DecodeParams::new(32, 32)).unwrap_err();
    assert!(
        e.to_string()
            .contains("an output with dims [1, 21, 7] holds 10 values instead of 147"),
        "{e}"
    );
    assert!(decode_candidates(ModelFamily::Yolox, &[t], &DecodeParams::new(32, 32)).is_ok());
}

#[test]
fn letterbox_undo_does_not_clip() {
    let l = Letterbox {
        scale: 0.5,
        pad_x: 2.0,
        pad_y: 0.0,
        src_width: 10,
        src_height: 10,
    };
    assert_eq!(
        undo_letterbox([-2.0, -1.0, 30.0, 8.0], &l),
        [-8.0, -2.0, 56.0, 16.0]
    );
}

#[test]
fn int8_raw_threshold_is_conservative() {
    let data = [-128i8, -1, 0, 1, 127];
    let v = View::I8 {
        data: &data,
        zero_point: 0,
        scale: 0.01,
    };
    // Real values: -1.28, -0.01, 0, 0.01, 1.27. Everything >= 0.005 must pass.
    let thr = v.raw_threshold(0.005);
    let passing: Vec<usize> = (0..data.len()).filter(|&i| v.passes(i, thr)).collect();
    assert!(passing.contains(&3) && passing.contains(&4));
    assert!(!passing.contains(&0) && !passing.contains(&1));
}
