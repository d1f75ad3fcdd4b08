//! Object detection: backends produce raw output tensors for a prepared input; decoding
//! (decode.rs) is separate and pure.

/// Channel order the model expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

/// Memory layout of the input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Nchw,
    Nhwc,
}

/// Element type of the input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputType {
    U8,
    F32,
}

/// What a backend wants as input. Preprocessing (vision/convert.rs) produces exactly this.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub width: u32,
    pub height: u32,
    pub channels: ChannelOrder,
    pub layout: Layout,
    pub dtype: InputType,
    /// Value of the letterbox padding (114 for YOLOX / Ultralytics models).
    pub pad_value: u8,
}

impl InputSpec {
    /// What each family's usual export expects: YOLOX 416x416 BGR 0..255 floats (the official
    /// export); YOLOv8/v5 640x640 RGB. Values are always produced as 0..255; a backend whose
    /// model wants 0..1 scales them itself (`cpu::CpuOptions::input_scale`; RKNN models carry the
    /// normalisation in the converted model).
    pub fn family_default(family: crate::config::ModelFamily) -> InputSpec {
        use crate::config::ModelFamily;
        let (size, channels) = match family {
            ModelFamily::Yolox => (416, ChannelOrder::Bgr),
            ModelFamily::Yolov8 | ModelFamily::Yolov5 => (640, ChannelOrder::Rgb),
        };
        InputSpec {
            width: size,
            height: size,
            channels,
            layout: Layout::Nchw,
            dtype: InputType::F32,
            pad_value: 114,
        }
    }
}

/// Element data of a raw output tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    /// Affine-quantized int8: real = (q - zero_point) * scale.
    I8 {
        data: Vec<i8>,
        zero_point: i32,
        scale: f32,
    },
}

/// One output tensor as the runtime returned it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    pub dims: Vec<usize>,
    pub data: TensorData,
}

/// How the letterboxed input maps back to the source image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Scale applied to the source (input = source * scale).
    pub scale: f32,
    /// Offset of the placed image inside the input (0,0 for top-left placement).
    pub pad_x: f32,
    pub pad_y: f32,
    pub src_width: u32,
    pub src_height: u32,
}

/// One detection in source-image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub class_id: usize,
    pub label: String,
    pub score: f32,
    /// [x1, y1, x2, y2] in source pixels.
    pub bbox: [f32; 4],
}

/// A model instance owned by one worker thread. `Send` so it can be moved there; never shared.
pub trait Detector: Send {
    fn input_spec(&self) -> &InputSpec;
    /// Runs the model on an input prepared to `input_spec()` (u8 bytes or f32 values as
    /// little-endian in `input` according to the spec's dtype).
    fn infer(&mut self, input: &PreparedInput) -> Result<Vec<RawTensor>, DetectError>;
    /// "cpu" / "rknn".
    fn backend_name(&self) -> &'static str;
    /// Dimensions of the model's outputs, when the runtime knows them before the first run;
    /// used to check the model against `detector.family` at load time.
    fn output_dims(&self) -> Option<Vec<Vec<usize>>> {
        None
    }
}

/// A preprocessed input tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum PreparedInput {
    U8(Vec<u8>),
    F32(Vec<f32>),
}

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error(
        "model file {path} not found; set detector.model to an ONNX or RKNN model (see docs/configuration.md)"
    )]
    NoModel { path: String },
    #[error("model {path} failed to load: {reason}")]
    ModelLoad { path: String, reason: String },
    #[error("NPU unavailable: {0}")]
    NpuUnavailable(String),
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("model output does not match family {family}: {reason}")]
    ShapeMismatch { family: String, reason: String },
    #[error(
        "labels file {path} unusable: {reason}; give one class name per line in model output order, or leave detector.labels_file empty for the COCO names"
    )]
    Labels { path: String, reason: String },
    #[error("detection is disabled (detector.backend = \"none\")")]
    Disabled,
    #[error(
        "the {backend} detector backend is not built into this gozcu; rebuild it with the cargo feature `{feature}` (cargo build --features {feature}), or set detector.backend = \"none\""
    )]
    BackendNotBuilt {
        backend: &'static str,
        feature: &'static str,
    },
}

impl DetectError {
    /// The `ai.reason` value for status.
    pub fn reason_code(&self) -> &'static str {
        match self {
            DetectError::NoModel { .. } => "no_model",
            DetectError::ModelLoad { .. }
            | DetectError::ShapeMismatch { .. }
            | DetectError::Labels { .. } => "model_load_failed",
            DetectError::Disabled => "disabled",
            DetectError::NpuUnavailable(_) => "npu_unavailable",
            DetectError::Inference(_) => "inference_failed",
            DetectError::BackendNotBuilt { .. } => "backend_not_built",
        }
    }
}

pub mod cli;
#[cfg(feature = "cpu")]
pub mod cpu;
pub mod decode;
pub mod labels;
pub mod pool;
#[cfg(feature = "rknn")]
pub mod rknn;

/// What status reports about the loaded detector (`ai.backend`, `ai.model`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiInfo {
    /// "cpu" / "rknn".
    pub backend: String,
    /// File name of the model in use.
    pub model: String,
    /// Set when `backend = "auto"` fell back to the CPU: why the NPU model was not used.
    pub fallback: Option<Fallback>,
}

/// Why `auto` runs on the CPU instead of the NPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// The NPU error's reason code (`npu_unavailable`, `model_load_failed`, `no_model`).
    pub reason: &'static str,
    /// The NPU error's message.
    pub message: String,
}

impl AiInfo {
    /// Backend name + the model's file name, no fallback.
    pub fn new(backend: &str, path: &std::path::Path) -> Self {
        AiInfo {
            backend: backend.to_string(),
            model: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string()),
            fallback: None,
        }
    }
}

/// Chooses and loads the backend for `cfg` and starts its pool.
///
/// - `none`: `Err(Disabled)` (reason `disabled`).
/// - `cpu`: tract on `detector.model` (or `detector.cpu_model` when `model` is an `.rknn`).
/// - `auto`: an `.rknn` model goes to the NPU (feature `rknn`), falling back to
///   `detector.cpu_model` on the CPU when the NPU model cannot be used (no NPU, model rejected
///   or missing; `AiInfo::fallback` says why); anything else runs on the CPU.
/// - `rknn`: the NPU only.
///
/// A missing model gives `NoModel` (reason `no_model`), a broken one `ModelLoad`
/// (`model_load_failed`), a model that does not fit `detector.family` `ShapeMismatch`.
pub fn load_detector(
    cfg: &crate::config::DetectorConfig,
) -> Result<(pool::DetectorPool, AiInfo), DetectError> {
    use crate::config::Backend;
    let labels = labels::Labels::from_config(&cfg.labels_file)?;
    let spec = InputSpec::family_default(cfg.family);
    let mut params = decode::DecodeParams::new(spec.width, spec.height);
    params.score_threshold = cfg.min_score;
    params.nms_iou = cfg.nms_iou;
    let decoder = decode::Decoder::new(cfg.family, params, labels);
    let is_rknn = |p: &std::path::Path| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("rknn"))
    };
    let cpu_model = if is_rknn(&cfg.model) && !cfg.cpu_model.as_os_str().is_empty() {
        cfg.cpu_model.clone()
    } else {
        cfg.model.clone()
    };
    match cfg.backend {
        Backend::None => Err(DetectError::Disabled),
        Backend::Rknn => load_rknn(cfg, decoder),
        Backend::Auto if is_rknn(&cfg.model) => match load_rknn(cfg, decoder.clone()) {
            Err(e) if !cfg.cpu_model.as_os_str().is_empty() => {
                tracing::warn!(reason = e.reason_code(), error = %e,
                    cpu_model = %cfg.cpu_model.display(),
                    "NPU model not usable; running detector.cpu_model on the CPU");
                let (pool, mut info) = load_cpu(&cfg.cpu_model, cfg, decoder)?;
                info.fallback = Some(Fallback {
                    reason: e.reason_code(),
                    message: e.to_string(),
                });
                Ok((pool, info))
            }
            other => other,
        },
        Backend::Auto | Backend::Cpu => {
            if is_rknn(&cpu_model) {
                return Err(DetectError::ModelLoad {
                    path: cpu_model.display().to_string(),
                    reason: "the CPU backend needs an ONNX model; set detector.cpu_model to \
                             one, or use backend = \"rknn\" on a board with an NPU"
                        .to_string(),
                });
            }
            load_cpu(&cpu_model, cfg, decoder)
        }
    }
}

#[cfg(not(feature = "cpu"))]
fn load_cpu(
    _path: &std::path::Path,
    _cfg: &crate::config::DetectorConfig,
    _decoder: decode::Decoder,
) -> Result<(pool::DetectorPool, AiInfo), DetectError> {
    Err(DetectError::BackendNotBuilt {
        backend: "cpu",
        feature: "cpu",
    })
}

#[cfg(feature = "cpu")]
fn load_cpu(
    path: &std::path::Path,
    cfg: &crate::config::DetectorConfig,
    decoder: decode::Decoder,
) -> Result<(pool::DetectorPool, AiInfo), DetectError> {
    if !path.is_file() {
        return Err(DetectError::NoModel {
            path: path.display().to_string(),
        });
    }
    let opts = cpu::CpuOptions::new(cfg.family, cfg.threads.max(1));
    let owned = path.to_path_buf();
    let factory: pool::Factory = std::sync::Arc::new(move |_| {
        cpu::CpuDetector::load(&owned, &opts).map(|d| Box::new(d) as Box<dyn Detector>)
    });
    // One CPU worker: `threads` parallelises inside an inference; a second model instance
    // would only compete for the same cores.
    let pool = pool::DetectorPool::start(1, factory, decoder)?;
    Ok((pool, AiInfo::new("cpu", path)))
}

#[cfg(not(feature = "rknn"))]
fn load_rknn(
    _cfg: &crate::config::DetectorConfig,
    _decoder: decode::Decoder,
) -> Result<(pool::DetectorPool, AiInfo), DetectError> {
    Err(DetectError::NpuUnavailable(
        "built without the rknn feature; rebuild with `--features rknn` or set \
         detector.backend = \"cpu\" with an ONNX model"
            .to_string(),
    ))
}

/// One worker per NPU core from detector.npu_cores, each building its context on its own
/// thread (rknn.rs).
#[cfg(feature = "rknn")]
fn load_rknn(
    cfg: &crate::config::DetectorConfig,
    decoder: decode::Decoder,
) -> Result<(pool::DetectorPool, AiInfo), DetectError> {
    rknn::start_pool(cfg, decoder)
}

/// What a build without the `cpu` feature does with a model meant for the CPU (run by
/// `cargo test --no-default-features`).
#[cfg(all(test, not(feature = "cpu")))]
mod no_cpu_tests {
    use super::*;
    use crate::config::{Backend, DetectorConfig};

    #[test]
    fn auto_with_an_onnx_model_reports_backend_not_built() {
        let cfg = DetectorConfig {
            backend: Backend::Auto,
            model: "/usr/share/gozcu/models/yolox_nano.onnx".into(),
            ..DetectorConfig::default()
        };
        let Err(e) = load_detector(&cfg) else {
            panic!("a build without the cpu feature loaded a CPU model");
        };
        assert_eq!(e.reason_code(), "backend_not_built");
        assert_eq!(
            e.to_string(),
            "the cpu detector backend is not built into this gozcu; rebuild it with the cargo \
             feature `cpu` (cargo build --features cpu), or set detector.backend = \"none\""
        );
    }
}
