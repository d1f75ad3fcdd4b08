//! Decoding raw model outputs into detections (pure: no I/O, no runtime).
//!
//! Each family module turns output tensors into candidates in *input* pixels
//! (`yolox`, `yolov8` split-head, `yolov5` anchors); this file holds what they share: a view
//! over float or int8 tensors (int8 is thresholded in the quantized domain and only candidates
//! are dequantized), class-aware NMS (`nms`), and the letterbox undo to source pixels.
//! Boxes are NOT clipped to the image, so they match the reference pipeline exactly.

mod nms;
mod yolov5;
mod yolov8;
mod yolox;

pub use nms::{iou, nms};

use super::labels::Labels;
use super::{DetectError, Detection, Letterbox, RawTensor, TensorData};
use crate::config::ModelFamily;

/// A box before NMS, in input (letterboxed) pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub class_id: usize,
    pub score: f32,
    /// [x1, y1, x2, y2]
    pub bbox: [f32; 4],
}

/// Decoder settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeParams {
    /// Model input size (the letterbox canvas).
    pub input_width: u32,
    pub input_height: u32,
    /// Keep candidates whose score is strictly above this.
    pub score_threshold: f32,
    /// Same-class boxes overlapping more than this are suppressed.
    pub nms_iou: f32,
    /// At most this many candidates enter NMS (highest scores first); bounds the cost of a
    /// pathological frame.
    pub max_candidates: usize,
    /// At most this many detections are returned.
    pub max_detections: usize,
    /// YOLOv5 raw heads need a sigmoid; Rockchip model-zoo exports already include it.
    pub yolov5_sigmoid: bool,
}

impl DecodeParams {
    pub fn new(input_width: u32, input_height: u32) -> Self {
        Self {
            input_width,
            input_height,
            score_threshold: 0.25,
            nms_iou: 0.45,
            max_candidates: 4096,
            max_detections: 300,
            yolov5_sigmoid: true,
        }
    }
}

/// Family + params + labels: everything needed to turn outputs into detections.
#[derive(Debug, Clone)]
pub struct Decoder {
    pub family: ModelFamily,
    pub params: DecodeParams,
    pub labels: Labels,
}

impl Decoder {
    pub fn new(family: ModelFamily, params: DecodeParams, labels: Labels) -> Self {
        Self {
            family,
            params,
            labels,
        }
    }

    /// Checks output dimensions against the family (at load time, before any frame).
    pub fn check_outputs(&self, dims: &[Vec<usize>]) -> Result<(), DetectError> {
        check_outputs(self.family, dims, &self.params)
    }

    /// Outputs -> detections in source pixels, best first.
    pub fn decode(
        &self,
        outputs: &[RawTensor],
        letterbox: &Letterbox,
    ) -> Result<Vec<Detection>, DetectError> {
        let cands = decode_candidates(self.family, outputs, &self.params)?;
        let mut kept = nms(cands, self.params.nms_iou, self.params.max_candidates);
        kept.truncate(self.params.max_detections);
        Ok(kept
            .into_iter()
            .map(|c| Detection {
                class_id: c.class_id,
                label: self.labels.name(c.class_id),
                score: c.score,
                bbox: undo_letterbox(c.bbox, letterbox),
            })
            .collect())
    }
}

/// Name used in messages and config (`yolox`, `yolov8`, `yolov5`).
pub fn family_name(f: ModelFamily) -> &'static str {
    match f {
        ModelFamily::Yolox => "yolox",
        ModelFamily::Yolov8 => "yolov8",
        ModelFamily::Yolov5 => "yolov5",
    }
}

/// Shape check only: does `dims` fit `family` at this input size?
pub fn check_outputs(
    family: ModelFamily,
    dims: &[Vec<usize>],
    params: &DecodeParams,
) -> Result<(), DetectError> {
    let (w, h) = (params.input_width as usize, params.input_height as usize);
    let r = match family {
        ModelFamily::Yolox => yolox::plan(dims, w, h).map(|_| ()),
        ModelFamily::Yolov8 => yolov8::plan(dims, w, h).map(|_| ()),
        ModelFamily::Yolov5 => yolov5::plan(dims, w, h).map(|_| ()),
    };
    r.map_err(|reason| mismatch(family, dims, w, h, reason))
}

/// Outputs -> candidates above the score threshold, in input pixels (before NMS).
pub fn decode_candidates(
    family: ModelFamily,
    outputs: &[RawTensor],
    params: &DecodeParams,
) -> Result<Vec<Candidate>, DetectError> {
    let dims: Vec<Vec<usize>> = outputs.iter().map(|t| t.dims.clone()).collect();
    let (w, h) = (params.input_width as usize, params.input_height as usize);
    let views = outputs
        .iter()
        .map(View::new)
        .collect::<Result<Vec<_>, String>>()
        .map_err(|reason| mismatch(family, &dims, w, h, reason))?;
    let r = match family {
        ModelFamily::Yolox => yolox::plan(&dims, w, h).map(|p| yolox::decode(&p, &views, params)),
        ModelFamily::Yolov8 => {
            yolov8::plan(&dims, w, h).map(|p| yolov8::decode(&p, &views, params))
        }
        ModelFamily::Yolov5 => {
            yolov5::plan(&dims, w, h).map(|p| yolov5::decode(&p, &views, params))
        }
    };
    r.map_err(|reason| mismatch(family, &dims, w, h, reason))
}

/// Input pixels -> source pixels (not clipped).
pub fn undo_letterbox(b: [f32; 4], lb: &Letterbox) -> [f32; 4] {
    let s = if lb.scale > 0.0 { lb.scale } else { 1.0 };
    [
        (b[0] - lb.pad_x) / s,
        (b[1] - lb.pad_y) / s,
        (b[2] - lb.pad_x) / s,
        (b[3] - lb.pad_y) / s,
    ]
}

fn mismatch(
    family: ModelFamily,
    dims: &[Vec<usize>],
    w: usize,
    h: usize,
    reason: String,
) -> DetectError {
    let shapes: Vec<String> = dims.iter().map(|d| format!("{d:?}")).collect();
    let mut reason = format!(
        "{reason}; the model's outputs are [{}] for a {w}x{h} input",
        shapes.join(", ")
    );
    match guess_family(dims, w, h) {
        Some(hint) if hint != family_name(family) => reason.push_str(&format!(
            "; they look like a {hint} model: set detector.family = \"{hint}\""
        )),
        Some(_) => {}
        // Not a layout any family has: changing the family will not help, the model will.
        None => reason.push_str(
            "; none of the supported layouts (yolox, yolov8 with split outputs, yolov5) fits: \
             set detector.model to a detection model exported in one of them (see \
             docs/configuration.md, \"Models\")",
        ),
    }
    DetectError::ShapeMismatch {
        family: family_name(family).to_string(),
        reason,
    }
}

/// Which family's layout these outputs fit, if any (for the mismatch hint).
pub fn guess_family(dims: &[Vec<usize>], w: usize, h: usize) -> Option<&'static str> {
    if yolox::plan(dims, w, h).is_ok() {
        Some("yolox")
    } else if yolov8::plan(dims, w, h).is_ok() {
        Some("yolov8")
    } else if yolov5::plan(dims, w, h).is_ok() {
        Some("yolov5")
    } else {
        None
    }
}

/// Read access to a float or int8 tensor.
#[derive(Debug, Clone, Copy)]
pub(crate) enum View<'a> {
    F32(&'a [f32]),
    I8 {
        data: &'a [i8],
        zero_point: i32,
        scale: f32,
    },
}

/// A threshold in a tensor's own domain (float, or quantized int8).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RawThreshold {
    F32(f32),
    I8(i32),
}

impl<'a> View<'a> {
    fn new(t: &'a RawTensor) -> Result<Self, String> {
        let n: usize = t.dims.iter().product();
        let (len, v) = match &t.data {
            TensorData::F32(d) => (d.len(), View::F32(d)),
            TensorData::I8 {
                data,
                zero_point,
                scale,
            } => (
                data.len(),
                View::I8 {
                    data,
                    zero_point: *zero_point,
                    scale: *scale,
                },
            ),
        };
        if len != n {
            return Err(format!(
                "an output with dims {:?} holds {len} values instead of {n}",
                t.dims
            ));
        }
        Ok(v)
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> f32 {
        match *self {
            View::F32(d) => d[i],
            View::I8 {
                data,
                zero_point,
                scale,
            } => (i32::from(data[i]) - zero_point) as f32 * scale,
        }
    }

    /// A raw threshold that every element whose real value is >= `t` passes (it may let a
    /// few slightly smaller ones through: callers re-check in float).
    pub(crate) fn raw_threshold(&self, t: f32) -> RawThreshold {
        match *self {
            View::F32(_) => RawThreshold::F32(t),
            View::I8 {
                zero_point, scale, ..
            } => {
                let q = (zero_point as f32 + t / scale).floor();
                if scale > 0.0 && q.is_finite() {
                    RawThreshold::I8(q.clamp(-1.0e9, 1.0e9) as i32)
                } else {
                    RawThreshold::I8(i32::MIN)
                }
            }
        }
    }

    #[inline]
    pub(crate) fn passes(&self, i: usize, thr: RawThreshold) -> bool {
        match (*self, thr) {
            (View::F32(d), RawThreshold::F32(t)) => d[i] >= t,
            (View::I8 { data, .. }, RawThreshold::I8(q)) => i32::from(data[i]) >= q,
            _ => true,
        }
    }
}

/// Logistic function.
#[inline]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Inverse of the logistic function, for thresholding pre-sigmoid values.
pub(crate) fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-7, 1.0 - 1e-7);
    (p / (1.0 - p)).ln()
}

/// Spatial stride of a `gh x gw` grid over a `w x h` input, if it divides evenly.
pub(crate) fn stride_of(w: usize, h: usize, gw: usize, gh: usize) -> Option<usize> {
    if gw == 0 || gh == 0 || !w.is_multiple_of(gw) || !h.is_multiple_of(gh) || w / gw != h / gh {
        None
    } else {
        Some(w / gw)
    }
}

#[cfg(test)]
mod tests;
