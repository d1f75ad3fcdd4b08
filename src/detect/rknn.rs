//! RKNN NPU backend (cargo feature `rknn`): runs `.rknn` models on Rockchip NPUs through
//! librknnrt.so (rknn-rs / rknn-sys-rs).
//!
//! One `RknnDetector` = one runtime context, created by `RknnDetector::load` ON the worker
//! thread that will use it and never shared (the pool builds one per worker through its
//! factory). On RK3588 each context is pinned to its own NPU core (`platform::plan_slots`).
//! Input: u8 NHWC at the model's size, letterboxed by our preprocessing; the runtime applies
//! the mean/std and quantization baked in at conversion. Output: int8 stays int8 with the
//! runtime's zero point and scale (`tensors`), so decoding thresholds in the quantized domain.
//! A failed run returns `DetectError::Inference`; the pool counts it and carries on.

mod ffi;
pub mod platform;
pub mod tensors;

pub use ffi::{CallError, Versions};
pub use platform::Slot;

use super::decode::Decoder;
use super::pool::{DetectorPool, Factory};
use super::{AiInfo, ChannelOrder, DetectError, Detector, InputSpec, PreparedInput, RawTensor};
use crate::config::ModelFamily;
use rknn_rs::prelude::RknnTensorAttr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tensors::OutputKind;

/// How to build one context.
#[derive(Debug, Clone, PartialEq)]
pub struct RknnOptions {
    pub family: ModelFamily,
    /// Core this context is pinned to (None: the runtime chooses).
    pub slot: Slot,
    /// SoC from the device tree, for messages and logs.
    pub soc: Option<String>,
    /// Worker index, for logs.
    pub worker: usize,
}

/// One RKNN context with the model loaded. `Send` (moved to its worker once), not `Sync`.
#[derive(Debug)]
pub struct RknnDetector {
    ctx: ffi::Context,
    spec: InputSpec,
    outputs: Vec<(RknnTensorAttr, OutputKind)>,
    want_float: Vec<bool>,
    output_dims: Vec<Vec<usize>>,
    versions: Option<Versions>,
    path: PathBuf,
}

/// Channel order the family's networks are trained with (the official YOLOX weights take
/// BGR, Ultralytics models RGB). rknn-toolkit2 keeps the ONNX model's order, so the NPU input
/// has the same order as the CPU backend's.
pub fn family_channels(family: ModelFamily) -> ChannelOrder {
    InputSpec::family_default(family).channels
}

impl RknnDetector {
    /// Creates a context for `model` on the calling thread. Errors: `NoModel` (missing file),
    /// `NpuUnavailable` (no or unusable NPU device / driver), `ModelLoad` (the runtime rejected
    /// the model, or its input is not one image).
    pub fn load(model: &Path, opts: &RknnOptions) -> Result<Self, DetectError> {
        let shown = model.display().to_string();
        if !model.is_file() {
            return Err(DetectError::NoModel { path: shown });
        }
        let ctx = ffi::Context::init(model).map_err(|e| {
            let device = platform::probe_device(Path::new("/"));
            platform::init_failure(model, &e, &device, opts.soc.as_deref())
        })?;
        let load_err = |reason: String| DetectError::ModelLoad {
            path: shown.clone(),
            reason,
        };

        let versions = match ctx.versions() {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "cannot query the RKNN SDK version");
                None
            }
        };
        if let Some(core) = opts.slot.core {
            // Single-core SoCs (RK3566/RK3568) refuse core masks: the context still works.
            if let Err(e) = ctx.set_core_mask(opts.slot.mask()) {
                tracing::warn!(worker = opts.worker, core, soc = opts.soc.as_deref().unwrap_or("unknown"),
                    error = %e, "NPU core mask not applied (single-core NPU?); running unpinned");
            }
        }

        let (n_in, n_out) = ctx
            .io_num()
            .map_err(|e| load_err(format!("cannot read the model's inputs and outputs: {e}")))?;
        if n_in != 1 {
            return Err(load_err(format!(
                "the model has {n_in} inputs; gozcu feeds one image input"
            )));
        }
        let input = ctx
            .input_attr(0)
            .map_err(|e| load_err(format!("cannot read the model's input: {e}")))?;
        let spec = tensors::input_spec(&input, family_channels(opts.family))
            .map_err(|r| load_err(format!("the model does not take an image: {r}")))?;
        let mut outputs = Vec::with_capacity(n_out as usize);
        for i in 0..n_out {
            let attr = ctx
                .output_attr(i)
                .map_err(|e| load_err(format!("cannot read output {i}: {e}")))?;
            let kind = OutputKind::of(&attr);
            outputs.push((attr, kind));
        }
        let want_float = outputs.iter().map(|(_, k)| k.want_float()).collect();
        let output_dims = outputs
            .iter()
            .map(|(a, _)| tensors::output_dims(a))
            .collect();

        let (api, driver) = versions
            .as_ref()
            .map(|v| (v.api.as_str(), v.driver.as_str()))
            .unwrap_or(("unknown", "unknown"));
        tracing::info!(
            worker = opts.worker,
            model = %shown,
            soc = opts.soc.as_deref().unwrap_or("unknown"),
            core = opts.slot.core.map(i64::from).unwrap_or(-1),
            sdk_version = api,
            driver_version = driver,
            input = %format!("{}x{}", spec.width, spec.height),
            outputs = ?outputs.iter().map(|(a, k)| (a.dims.clone(), *k)).collect::<Vec<_>>(),
            "RKNN context ready"
        );
        Ok(Self {
            ctx,
            spec,
            outputs,
            want_float,
            output_dims,
            versions,
            path: model.to_path_buf(),
        })
    }

    /// SDK and driver versions the runtime reported (None if it would not say).
    pub fn versions(&self) -> Option<&Versions> {
        self.versions.as_ref()
    }

    pub fn model_path(&self) -> &Path {
        &self.path
    }

    /// Output dims as the decoders see them (NCHW for 4-D outputs).
    pub fn output_shapes(&self) -> &[Vec<usize>] {
        &self.output_dims
    }
}

/// Starts the NPU pool for `cfg`: one worker per slot (`platform::plan_slots` from
/// `detector.npu_cores` and the SoC), each creating its own context on its own thread.
/// Any worker failing to load fails the whole start (with that worker's error).
pub fn start_pool(
    cfg: &crate::config::DetectorConfig,
    decoder: Decoder,
) -> Result<(DetectorPool, AiInfo), DetectError> {
    let is_rknn = cfg
        .model
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("rknn"));
    if cfg.model.is_file() && !is_rknn {
        return Err(DetectError::ModelLoad {
            path: cfg.model.display().to_string(),
            reason: "the rknn backend needs an .rknn model converted for this SoC \
                     (docs/deployment.md); for an ONNX model use backend = \"cpu\""
                .to_string(),
        });
    }
    let cores = crate::config::parse_npu_cores(&cfg.npu_cores)
        .map_err(|e| DetectError::NpuUnavailable(format!("detector.npu_cores: {e}")))?;
    let soc = platform::read_soc(Path::new("/"));
    let slots = platform::plan_slots(cores.as_deref(), soc.as_deref());
    let have = platform::npu_core_count(soc.as_deref());
    if let (Some(list), Some(name)) = (&cores, &soc)
        && list.iter().any(|&c| usize::from(c) >= have)
    {
        tracing::warn!(soc = %name, npu_cores = %cfg.npu_cores, cores = have,
            "detector.npu_cores lists a core this SoC does not have; its context runs unpinned");
    }
    tracing::info!(
        soc = soc.as_deref().unwrap_or("unknown"),
        contexts = slots.len(),
        cores = ?slots.iter().map(|s| s.core).collect::<Vec<_>>(),
        "starting the NPU detector"
    );
    let (model, family, workers) = (cfg.model.clone(), cfg.family, slots.len());
    let factory: Factory = Arc::new(move |worker| {
        let opts = RknnOptions {
            family,
            slot: slots.get(worker).copied().unwrap_or(Slot { core: None }),
            soc: soc.clone(),
            worker,
        };
        RknnDetector::load(&model, &opts).map(|d| Box::new(d) as Box<dyn Detector>)
    });
    let pool = DetectorPool::start(workers, factory, decoder)?;
    Ok((pool, AiInfo::new("rknn", &cfg.model)))
}

impl Detector for RknnDetector {
    fn input_spec(&self) -> &InputSpec {
        &self.spec
    }

    fn infer(&mut self, input: &PreparedInput) -> Result<Vec<RawTensor>, DetectError> {
        let expected = self.spec.width as usize * self.spec.height as usize * 3;
        let data = match input {
            PreparedInput::U8(d) if d.len() == expected => d,
            PreparedInput::U8(d) => {
                return Err(DetectError::Inference(format!(
                    "input has {} bytes; the RKNN model takes {}x{}x3 = {expected}",
                    d.len(),
                    self.spec.width,
                    self.spec.height
                )));
            }
            PreparedInput::F32(_) => {
                return Err(DetectError::Inference(
                    "the RKNN backend takes u8 input, got f32".to_string(),
                ));
            }
        };
        let failed = |e: CallError| DetectError::Inference(format!("NPU: {e}"));
        self.ctx.set_input_u8_nhwc(data).map_err(failed)?;
        self.ctx.run().map_err(failed)?;
        let raw = self.ctx.outputs(&self.want_float).map_err(failed)?;
        self.outputs
            .iter()
            .enumerate()
            .map(|(i, (attr, kind))| {
                tensors::to_raw_tensor(attr, *kind, raw.bytes(i))
                    .map_err(|r| DetectError::Inference(format!("NPU: {r}")))
            })
            .collect()
    }

    fn backend_name(&self) -> &'static str {
        "rknn"
    }

    fn output_dims(&self) -> Option<Vec<Vec<usize>>> {
        Some(self.output_dims.clone())
    }
}
