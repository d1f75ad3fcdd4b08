//! Detector benchmark: per-frame latency of the CPU backend (tract) on the shared YOLOX-Nano
//! model at 1 and 2 threads, plus the per-frame costs around it: MJPEG 1280x720 decode
//! (zune-jpeg), letterbox to 416x416, and decode + NMS. Prints one JSON object.
//!
//! Run: `cargo bench --bench detector [-- --runs N --threads 1,2]`. Finds the shared folder
//! through GOZCU_SHARED or ../shared. `make bench` puts ONNX Runtime's numbers beside these
//! (shared/reference/ref_detect.py --bench).

use gozcu::config::ModelFamily;
use gozcu::detect::Detector;
use gozcu::detect::cpu::{CpuDetector, CpuOptions};
use gozcu::detect::decode::{DecodeParams, Decoder};
use gozcu::detect::labels::Labels;
use gozcu::vision::letterbox::{Letterboxer, decode_jpeg};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let runs: usize = opt("--runs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
        .max(5);
    let threads: Vec<usize> = opt("--threads")
        .unwrap_or_else(|| "1,2".to_string())
        .split(',')
        .filter_map(|t| t.trim().parse().ok())
        .collect();
    let shared = std::env::var_os("GOZCU_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let model = shared.join("models/yolox_nano.onnx");
    // zidane.jpg is a real 1280x720 JPEG: the size of a 720p MJPEG frame.
    let frame_path = shared.join("testdata/images/zidane.jpg");
    if !model.is_file() || !frame_path.is_file() {
        eprintln!(
            "detector bench: shared model/test data not found under {}",
            shared.display()
        );
        std::process::exit(if std::env::var_os("CI").is_some() {
            1
        } else {
            0
        });
    }
    let jpeg = std::fs::read(&frame_path).expect("read test frame");

    let decode_ms = time(runs, || {
        decode_jpeg(&jpeg).expect("decode");
    });
    let img = decode_jpeg(&jpeg).expect("decode");
    let spec = gozcu::detect::InputSpec::family_default(ModelFamily::Yolox);
    let mut lbx = Letterboxer::new();
    let letterbox_ms = time(runs, || {
        lbx.prepare(&img, &spec).expect("letterbox");
    });
    let (input, lb) = lbx.prepare(&img, &spec).expect("letterbox");

    let mut backend = Vec::new();
    let mut outputs = None;
    for &t in &threads {
        let mut det =
            CpuDetector::load(&model, &CpuOptions::new(ModelFamily::Yolox, t)).expect("load model");
        for _ in 0..5 {
            det.infer(&input).expect("warm-up run");
        }
        let ms = time(runs, || {
            outputs = Some(det.infer(&input).expect("run"));
        });
        backend.push(json!({"threads": t, "latency_ms": ms}));
    }
    let outputs = outputs.unwrap_or_default();
    let decoder = Decoder::new(
        ModelFamily::Yolox,
        DecodeParams::new(416, 416),
        Labels::coco(),
    );
    let nms_ms = time(runs, || {
        decoder.decode(&outputs, &lb).expect("decode");
    });
    let report = json!({
        "bench": "detector",
        "model": "yolox_nano.onnx",
        "input": "416x416",
        "runs": runs,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "cpu_backend": backend,
        "mjpeg_1280x720_decode_ms": decode_ms,
        "letterbox_1280x720_to_416_ms": letterbox_ms,
        "yolox_decode_nms_ms": nms_ms,
    });
    println!("{report}");
}

/// Runs `f` `runs` times; median, p10, p90 and mean in milliseconds.
fn time(runs: usize, mut f: impl FnMut()) -> Value {
    let mut ms: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    let r = |v: f64| (v * 100.0).round() / 100.0;
    json!({
        "median": r(pct(0.5)),
        "p10": r(pct(0.1)),
        "p90": r(pct(0.9)),
        "mean": r(ms.iter().sum::<f64>() / ms.len() as f64),
    })
}
