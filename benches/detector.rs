//! Detector benchmark: per-frame inference latency of the CPU backend (tract, exactly as the
//! daemon loads it: `CpuDetector`) on the shared YOLOX-Nano model, at each thread count.
//! Prints one JSON object with, per thread count, the model load time, the latency
//! statistics and (with `--samples`) every run's latency in milliseconds.
//!
//! Run: `cargo bench --bench detector [-- --runs N --threads 1,2 --warmup 5 --image PATH
//! --samples --profile]`. `--profile` adds where tract's time goes, per operator kind (one
//! thread, the model loaded and optimized the way `CpuDetector` does it). `make bench-detector` (benches/detector_vs_ort.py) interleaves this with ONNX
//! Runtime on the same model and image, round after round. The per-frame steps around
//! inference (decode, letterbox, NMS) are in benches/pipeline.rs.

mod support;

use gozcu::config::ModelFamily;
use gozcu::detect::Detector;
use gozcu::detect::InputSpec;
use gozcu::detect::PreparedInput;
use gozcu::detect::cpu::{CpuDetector, CpuOptions};
use gozcu::vision::letterbox::{Letterboxer, load_image};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tract_onnx::prelude::*;

fn main() {
    let runs = support::runs(50);
    let warmup = support::opt_usize("--warmup", if cfg!(debug_assertions) { 0 } else { 5 });
    let samples = std::env::args().any(|a| a == "--samples");
    let threads: Vec<usize> = support::opt("--threads")
        .unwrap_or_else(|| "1,2".to_string())
        .split(',')
        .filter_map(|t| t.trim().parse().ok())
        .collect();
    let shared = support::shared(&["models/yolox_nano.onnx", "testdata/images/zidane.jpg"]);
    let model = shared.join("models/yolox_nano.onnx");
    // zidane.jpg: a real 1280x720 photo, the size of a 720p camera frame.
    let image = support::opt("--image")
        .map(PathBuf::from)
        .unwrap_or_else(|| shared.join("testdata/images/zidane.jpg"));
    let img = load_image(&image).expect("read the bench image");
    let spec = InputSpec::family_default(ModelFamily::Yolox);
    let (input, _) = Letterboxer::new().prepare(&img, &spec).expect("letterbox");

    let mut backend = Vec::new();
    for &t in &threads {
        let load = Instant::now();
        let mut det =
            CpuDetector::load(&model, &CpuOptions::new(ModelFamily::Yolox, t)).expect("load model");
        let load_ms = load.elapsed().as_secs_f64() * 1000.0;
        for _ in 0..warmup {
            det.infer(&input).expect("warm-up run");
        }
        let ms: Vec<f64> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                det.infer(&input).expect("inference");
                start.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        let mut entry = json!({
            "threads": t,
            "load_ms": support::round3(load_ms),
            "latency_ms": support::stats(&ms),
        });
        if samples {
            entry["samples_ms"] = json!(ms.iter().map(|v| support::round3(*v)).collect::<Vec<_>>());
        }
        backend.push(entry);
    }
    if std::env::args().any(|a| a == "--profile") {
        backend.push(json!({"profile_1_thread": profile(&model, &input, runs)}));
    }
    let report = json!({
        "bench": "detector",
        "backend": "tract",
        "model": model.display().to_string(),
        "image": image.display().to_string(),
        "input": format!("{}x{}", spec.width, spec.height),
        "runs": runs,
        "warmup": warmup,
        "cpus": support::cpus(),
        "profile": support::profile(),
        "cpu_backend": backend,
    });
    println!("{report}");
}

/// Milliseconds per inference spent in each operator kind, from tract's own plan run
/// node by node (`run_plan_with_eval`), averaged over `runs`.
fn profile(model: &Path, input: &PreparedInput, runs: usize) -> Value {
    let PreparedInput::F32(values) = input else {
        panic!("YOLOX takes F32 input");
    };
    let shape = [1, 3, 416, 416];
    let plan = tract_onnx::onnx()
        .model_for_path(model)
        .and_then(|m| gozcu::detect::cpu::optimize(m, f32::fact(shape).into()))
        .and_then(|m| m.into_runnable())
        .expect("load model for profiling");
    let mut state = SimpleState::new(&plan).expect("plan state");
    let tensor = Tensor::from_shape(&shape, values).expect("input tensor");
    let mut per_op: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let mut total = 0.0;
    for run in 0..=runs {
        let start = Instant::now();
        let mut times: Vec<(String, f64)> = Vec::new();
        state
            .run_plan_with_eval(
                tvec!(tensor.clone().into()),
                |session, op_state, node, inputs| {
                    let t = Instant::now();
                    let r = tract_onnx::tract_core::plan::eval(session, op_state, node, inputs);
                    times.push((node.op().name().to_string(), t.elapsed().as_secs_f64()));
                    r
                },
            )
            .expect("profiled run");
        // Run 0 warms up.
        if run > 0 {
            total += start.elapsed().as_secs_f64();
            for (name, secs) in times {
                let e = per_op.entry(name).or_default();
                e.0 += secs;
                e.1 += 1;
            }
        }
    }
    let ms = |secs: f64| support::round3(secs * 1000.0 / runs as f64);
    let mut ops: Vec<(String, (f64, usize))> = per_op.into_iter().collect();
    ops.sort_by(|a, b| b.1.0.total_cmp(&a.1.0));
    json!({
        "inference_ms": ms(total),
        "ops": ops
            .iter()
            .map(|(name, (secs, n))| json!({"op": name, "ms": ms(*secs), "nodes": n / runs,
                "share": support::round3(secs / total)}))
            .collect::<Vec<_>>(),
    })
}
