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
        }
    }
}

pub mod cli;
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
}

/// Chooses and loads the backend for `cfg` and starts its pool.
///
/// - `none`: `Err(Disabled)` (reason `disabled`).
/// - `cpu`: tract on `detector.model` (or `detector.cpu_model` when `model` is an `.rknn`).
/// - `auto`: an `.rknn` model goes to the NPU (feature `rknn`), falling back to
///   `detector.cpu_model` on the CPU when the NPU is unavailable; anything else runs on the CPU.
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
            Err(DetectError::NpuUnavailable(why)) if !cfg.cpu_model.as_os_str().is_empty() => {
                tracing::warn!(reason = %why, cpu_model = %cfg.cpu_model.display(),
                    "NPU unavailable; running detector.cpu_model on the CPU");
                load_cpu(&cfg.cpu_model, cfg, decoder)
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
    Ok((pool, ai_info("cpu", path)))
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

#[cfg(feature = "rknn")]
fn load_rknn(
    _cfg: &crate::config::DetectorConfig,
    _decoder: decode::Decoder,
) -> Result<(pool::DetectorPool, AiInfo), DetectError> {
    // Filled in by the RKNN backend (rknn.rs): one worker per NPU core from
    // detector.npu_cores, each building its context on its own thread.
    Err(DetectError::NpuUnavailable(
        "the rknn backend is not wired into load_detector yet".to_string(),
    ))
}

fn ai_info(backend: &str, path: &std::path::Path) -> AiInfo {
    AiInfo {
        backend: backend.to_string(),
        model: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string()),
    }
}
