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
}

impl DetectError {
    /// The `ai.reason` value for status.
    pub fn reason_code(&self) -> &'static str {
        match self {
            DetectError::NoModel { .. } => "no_model",
            DetectError::ModelLoad { .. } | DetectError::ShapeMismatch { .. } => {
                "model_load_failed"
            }
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
