//! CPU backend: runs an ONNX model with tract.
//!
//! The model is loaded, given a fixed input shape and optimized ONCE at start; each worker
//! thread owns one `CpuDetector` (the run state keeps tract's scratch buffers between frames).
//! Whole-factor nearest-neighbour upsampling is rewritten as a broadcast first (upsample.rs).
//! `threads` > 1 runs tract's matrix products on a private rayon pool of that size (tract's
//! `multithread-mm`); the remaining ops (depthwise convolutions, upsampling, max-pool,
//! activations) stay single-threaded, so a second thread helps less than it does for ONNX
//! Runtime. Per-op profile of YOLOX-Nano 416, one thread (`cargo bench --bench detector --
//! --profile`, docs/benchmarks.md): matrix products ~36% + their packing ~18%, depthwise
//! convolutions ~25%, sigmoid ~7%, upsampling ~5% (was ~15% as tract's Resize), MaxPool ~4%.

mod upsample;

use super::{
    DetectError, Detector, InputSpec, InputType, Layout, PreparedInput, RawTensor, TensorData,
};
use crate::config::ModelFamily;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tract_onnx::prelude::multithread::Executor;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

type Plan = TypedSimplePlan<TypedModel>;

/// How to load a CPU model.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuOptions {
    pub family: ModelFamily,
    /// Threads for one inference (1 = single-threaded).
    pub threads: usize,
    /// Replaces the family's default input spec (channel order, dtype, pad, size for models
    /// with a dynamic input). A model with a fixed input shape keeps its own size and layout.
    pub input: Option<InputSpec>,
    /// Factor applied to the 0..255 input values of float models (None: the family default,
    /// 1 for YOLOX, 1/255 for YOLOv8/v5 ONNX exports, which take 0..1).
    pub input_scale: Option<f32>,
}

impl CpuOptions {
    pub fn new(family: ModelFamily, threads: usize) -> Self {
        Self {
            family,
            threads,
            input: None,
            input_scale: None,
        }
    }
}

/// A tract model ready to run, owned by one thread.
pub struct CpuDetector {
    spec: InputSpec,
    // The plan is Send; a run state (SimpleState) is not, so each run builds its own (cheap:
    // a few vectors; the optimized graph and weights are shared).
    plan: Arc<Plan>,
    input_shape: [usize; 4],
    input_scale: f32,
    output_dims: Vec<Vec<usize>>,
    path: PathBuf,
}

impl std::fmt::Debug for CpuDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuDetector")
            .field("path", &self.path)
            .field("spec", &self.spec)
            .field("output_dims", &self.output_dims)
            .finish_non_exhaustive()
    }
}

impl CpuDetector {
    /// Loads and optimizes `path`. Errors: `NoModel` when the file is missing, `ModelLoad`
    /// when it cannot be parsed or optimized.
    pub fn load(path: &Path, opts: &CpuOptions) -> Result<Self, DetectError> {
        let shown = path.display().to_string();
        if !path.is_file() {
            return Err(DetectError::NoModel { path: shown });
        }
        let load_err = |what: &str, e: TractError| DetectError::ModelLoad {
            path: shown.clone(),
            reason: format!(
                "{what}: {}; check that the file is a complete ONNX model (re-download or \
                 re-export it) and that detector.family matches it",
                first_line(&e)
            ),
        };
        let model = tract_onnx::onnx()
            .model_for_path(path)
            .map_err(|e| load_err("not a readable ONNX model", e))?;
        let spec = resolve_spec(&model, opts).map_err(|reason| DetectError::ModelLoad {
            path: shown.clone(),
            reason,
        })?;
        let shape = match spec.layout {
            Layout::Nchw => [1, 3, spec.height as usize, spec.width as usize],
            Layout::Nhwc => [1, spec.height as usize, spec.width as usize, 3],
        };
        let dt = match spec.dtype {
            InputType::F32 => f32::datum_type(),
            InputType::U8 => u8::datum_type(),
        };
        let typed = optimize(model, InferenceFact::dt_shape(dt, shape))
            .map_err(|e| load_err("cannot prepare the model for this input", e))?;
        let output_dims = output_dims(&typed).map_err(|reason| DetectError::ModelLoad {
            path: shown.clone(),
            reason,
        })?;
        let executor = (opts.threads > 1)
            .then(|| Executor::multithread_with_name(opts.threads, "gozcu-tract"));
        let plan_opts = PlanOptions {
            executor,
            ..PlanOptions::default()
        };
        let plan = typed
            .into_runnable_with_options(&plan_opts)
            .map_err(|e| load_err("cannot plan the model", e))?;
        Ok(Self {
            spec,
            plan: Arc::new(plan),
            input_shape: shape,
            input_scale: opts.input_scale.unwrap_or(match opts.family {
                ModelFamily::Yolox => 1.0,
                ModelFamily::Yolov8 | ModelFamily::Yolov5 => 1.0 / 255.0,
            }),
            output_dims,
            path: path.to_path_buf(),
        })
    }
}

impl Detector for CpuDetector {
    fn input_spec(&self) -> &InputSpec {
        &self.spec
    }

    fn infer(&mut self, input: &PreparedInput) -> Result<Vec<RawTensor>, DetectError> {
        let want: usize = self.input_shape.iter().product();
        let tensor = match (input, self.spec.dtype) {
            (PreparedInput::F32(v), InputType::F32) if v.len() == want => {
                if self.input_scale == 1.0 {
                    Tensor::from_shape(&self.input_shape, v)
                } else {
                    let scaled: Vec<f32> = v.iter().map(|x| x * self.input_scale).collect();
                    Tensor::from_shape(&self.input_shape, &scaled)
                }
            }
            (PreparedInput::U8(v), InputType::U8) if v.len() == want => {
                Tensor::from_shape(&self.input_shape, v)
            }
            (got, _) => {
                return Err(DetectError::Inference(format!(
                    "input is {} instead of {want} {:?} values for shape {:?}",
                    describe(got),
                    self.spec.dtype,
                    self.input_shape
                )));
            }
        }
        .map_err(|e| DetectError::Inference(first_line(&e)))?;
        let outputs = self
            .plan
            .run(tvec!(tensor.into()))
            .map_err(|e| DetectError::Inference(first_line(&e)))?;
        outputs.iter().map(to_raw).collect()
    }

    fn backend_name(&self) -> &'static str {
        "cpu"
    }

    fn output_dims(&self) -> Option<Vec<Vec<usize>>> {
        Some(self.output_dims.clone())
    }
}

/// Fixes the input to `input`, then types, declutters, rewrites whole-factor upsampling
/// (upsample.rs) and optimizes the model. Public so `benches/detector.rs --profile` times
/// the very graph the detector runs.
pub fn optimize(model: InferenceModel, input: InferenceFact) -> TractResult<TypedModel> {
    let mut typed = model
        .with_input_fact(0, input)?
        .into_typed()?
        .into_decluttered()?;
    upsample::rewrite_upsampling(&mut typed)?;
    typed.into_optimized()
}

fn describe(p: &PreparedInput) -> String {
    match p {
        PreparedInput::F32(v) => format!("{} F32 values", v.len()),
        PreparedInput::U8(v) => format!("{} U8 values", v.len()),
    }
}

fn first_line(e: &impl std::fmt::Display) -> String {
    // tract errors carry a long context chain; the head names the problem.
    let s = format!("{e:#}");
    s.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

fn to_raw(t: &TValue) -> Result<RawTensor, DetectError> {
    let dims = t.shape().to_vec();
    let data = if t.datum_type() == f32::datum_type() {
        t.as_slice::<f32>()
    } else {
        return t
            .cast_to::<f32>()
            .and_then(|c| c.as_slice::<f32>().map(|s| s.to_vec()))
            .map(|d| RawTensor {
                dims: dims.clone(),
                data: TensorData::F32(d),
            })
            .map_err(|e| DetectError::Inference(first_line(&e)));
    }
    .map_err(|e| DetectError::Inference(first_line(&e)))?;
    Ok(RawTensor {
        dims,
        data: TensorData::F32(data.to_vec()),
    })
}

fn output_dims(model: &TypedModel) -> Result<Vec<Vec<usize>>, String> {
    let outlets = model.output_outlets().map_err(|e| first_line(&e))?;
    outlets
        .iter()
        .map(|o| {
            let fact = model.outlet_fact(*o).map_err(|e| first_line(&e))?;
            fact.shape.as_concrete().map(|s| s.to_vec()).ok_or_else(|| {
                format!(
                    "output {} has a symbolic shape {:?} even with a fixed input size",
                    o.node, fact.shape
                )
            })
        })
        .collect()
}

/// The family default (or the override), with size and layout taken from the model when its
/// input shape is fixed.
fn resolve_spec(model: &InferenceModel, opts: &CpuOptions) -> Result<InputSpec, String> {
    let mut spec = opts
        .input
        .clone()
        .unwrap_or_else(|| InputSpec::family_default(opts.family));
    let fact = model
        .input_fact(0)
        .map_err(|e| format!("the model has no input: {}", first_line(&e)))?;
    let dims: Vec<Option<usize>> = fact
        .shape
        .dims()
        .map(|d| {
            d.concretize()
                .and_then(|t| t.as_i64())
                .and_then(|v| usize::try_from(v).ok())
        })
        .collect();
    match dims.as_slice() {
        [_, Some(3), Some(h), Some(w)] => {
            spec.layout = Layout::Nchw;
            (spec.width, spec.height) = (dim_u32(*w)?, dim_u32(*h)?);
        }
        [_, Some(h), Some(w), Some(3)] => {
            spec.layout = Layout::Nhwc;
            (spec.width, spec.height) = (dim_u32(*w)?, dim_u32(*h)?);
        }
        [_, Some(3), _, _] => spec.layout = Layout::Nchw,
        [_, _, _, Some(3)] => spec.layout = Layout::Nhwc,
        [_, _, _, _] => {}
        _ if fact.shape.is_open() => {}
        other => {
            return Err(format!(
                "its input has {} dimensions; an image model takes [1, 3, H, W] or [1, H, W, 3]",
                other.len()
            ));
        }
    }
    if let Some(dt) = fact.datum_type.concretize() {
        spec.dtype = if dt == u8::datum_type() {
            InputType::U8
        } else {
            InputType::F32
        };
    }
    Ok(spec)
}

fn dim_u32(d: usize) -> Result<u32, String> {
    u32::try_from(d).map_err(|_| format!("input dimension {d} is too large"))
}
