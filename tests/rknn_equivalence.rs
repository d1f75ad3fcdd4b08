//! NPU path vs CPU path on real images. Fixtures are made at test time: the shared YOLOX-Nano
//! ONNX model runs in tract on ../shared/testdata images, its outputs are quantized to int8
//! with one per-tensor asymmetric zero point / scale calibrated from their min/max over all
//! images (as rknn-toolkit2 calibrates an output over its dataset), and the stub runtime
//! returns them for exactly the letterboxed input each image produces. Then:
//! - the int8 decode (quantized-domain threshold) equals the float decode within the
//!   quantization tolerance;
//! - `load_detector` on the NPU (stub) gives the same detections as on the CPU (tract).
#![cfg(all(feature = "rknn", feature = "cpu"))]

mod detect_support;
mod rknn_support;

use gozcu::config::{Backend, DetectorConfig, ModelFamily};
use gozcu::detect::cpu::{CpuDetector, CpuOptions};
use gozcu::detect::decode::{DecodeParams, Decoder, iou};
use gozcu::detect::labels::Labels;
use gozcu::detect::pool::DetectInput;
use gozcu::detect::{
    Detection, Detector, Letterbox, PreparedInput, RawTensor, TensorData, load_detector,
};
use gozcu::vision::RgbImage;
use gozcu::vision::letterbox::{letterbox, load_image};
use rknn_support::{Fixture, i8_bytes, quantize};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const IMAGES: [&str; 6] = [
    "images/bus.jpg",
    "images/zidane.jpg",
    "images/000000000139.jpg",
    "images/000000000785.jpg",
    "pets2009/img/frame_0001.jpg",
    "pets2009/img/frame_0060.jpg",
];
const MIN_SCORE: f32 = 0.3;
/// Boxes of the two paths overlap at least this much. Quantization moves a box edge by a
/// fraction of a pixel, but on small objects it can also switch which of two neighbouring
/// grid cells wins NMS (seen on a ~17 px wide person in a PETS frame: IoU 0.83).
const MIN_IOU: f32 = 0.7;

struct Sample {
    name: String,
    image: RgbImage,
    letterbox: Letterbox,
    /// tract's output for the image, [1, 3549, 85] f32
    output: Vec<f32>,
}

/// Runs tract on each test image.
fn samples(shared: &Path) -> Vec<Sample> {
    let model = detect_support::model(shared);
    let mut cpu = CpuDetector::load(&model, &CpuOptions::new(ModelFamily::Yolox, 1)).unwrap();
    IMAGES
        .iter()
        .map(|name| {
            let image = load_image(&shared.join("testdata").join(name)).unwrap();
            let (input, letterbox) = letterbox(&image, cpu.input_spec()).unwrap();
            let out = cpu.infer(&input).unwrap();
            assert_eq!(out[0].dims, vec![1, 3549, 85]);
            let TensorData::F32(output) = &out[0].data else {
                panic!("tract returned a non-f32 output")
            };
            Sample {
                name: name.to_string(),
                image,
                letterbox,
                output: output.clone(),
            }
        })
        .collect()
}

/// One zero point / scale for all images, from the overall min/max (the calibration).
fn calibrate(samples: &[Sample]) -> (i32, f32) {
    let all: Vec<f32> = samples
        .iter()
        .flat_map(|s| s.output.iter().copied())
        .collect();
    let (_, zp, scale) = quantize(&all);
    (zp, scale)
}

fn quantize_with(values: &[f32], zp: i32, scale: f32) -> Vec<i8> {
    values
        .iter()
        .map(|&x| ((x / scale).round() as i32 + zp).clamp(-128, 127) as i8)
        .collect()
}

fn decoder() -> Decoder {
    let mut p = DecodeParams::new(416, 416);
    p.score_threshold = MIN_SCORE;
    Decoder::new(ModelFamily::Yolox, p, Labels::coco())
}

/// Every confident detection of `a` (score >= MIN_SCORE + margin) has a partner in `b`: same
/// class, IoU >= min_iou, score within `score_tol`. Returns how many were matched.
fn assert_covered(
    what: &str,
    a: &[Detection],
    b: &[Detection],
    margin: f32,
    min_iou: f32,
    score_tol: f32,
) -> usize {
    let mut n = 0;
    for d in a.iter().filter(|d| d.score >= MIN_SCORE + margin) {
        let best = b
            .iter()
            .filter(|e| e.class_id == d.class_id)
            .max_by(|x, y| iou(&x.bbox, &d.bbox).total_cmp(&iou(&y.bbox, &d.bbox)));
        let Some(e) = best else {
            panic!("{what}: no {} for {d:?}; other side: {b:?}", d.label)
        };
        let overlap = iou(&e.bbox, &d.bbox);
        eprintln!(
            "{what}: {} {:.3} vs {:.3}, IoU {overlap:.3}",
            d.label, d.score, e.score
        );
        assert!(
            overlap >= min_iou && (e.score - d.score).abs() <= score_tol,
            "{what}: {d:?} matched {e:?} with IoU {overlap}, score diff {}",
            (e.score - d.score).abs()
        );
        n += 1;
    }
    n
}

#[test]
fn quantized_decode_equals_float_decode() {
    let Some(shared) = detect_support::shared() else {
        return;
    };
    let samples = samples(&shared);
    let (zp, scale) = calibrate(&samples);
    eprintln!("calibrated int8 output: zero point {zp}, scale {scale}");
    // A realistic range for this output (box offsets, log sizes, 0..1 scores).
    assert!(scale > 0.0 && scale < 0.1, "scale {scale}");
    let dec = decoder();
    let mut matched = 0;
    for s in &samples {
        let float = RawTensor {
            dims: vec![1, 3549, 85],
            data: TensorData::F32(s.output.clone()),
        };
        let quant = RawTensor {
            dims: vec![1, 3549, 85],
            data: TensorData::I8 {
                data: quantize_with(&s.output, zp, scale),
                zero_point: zp,
                scale,
            },
        };
        let f = dec.decode(&[float], &s.letterbox).unwrap();
        let q = dec.decode(&[quant], &s.letterbox).unwrap();
        // score = obj * cls, each off by at most scale / 2.
        let tol = 1.5 * scale;
        matched += assert_covered(&s.name, &f, &q, 2.0 * scale, MIN_IOU, tol);
        assert_covered(&s.name, &q, &f, 2.0 * scale, MIN_IOU, tol);
    }
    assert!(
        matched >= 10,
        "only {matched} confident detections compared"
    );
}

#[test]
fn npu_backend_on_the_stub_matches_the_cpu_backend() {
    let Some(shared) = detect_support::shared() else {
        return;
    };
    let samples = samples(&shared);
    let (zp, scale) = calibrate(&samples);

    let fx = Fixture::yolox(zp, scale);
    let rknn_cfg = DetectorConfig {
        backend: Backend::Rknn,
        model: fx.write(),
        family: ModelFamily::Yolox,
        min_score: MIN_SCORE,
        ..DetectorConfig::default()
    };
    let cpu_cfg = DetectorConfig {
        backend: Backend::Cpu,
        model: detect_support::model(&shared),
        ..rknn_cfg.clone()
    };
    let (npu, npu_info) = load_detector(&rknn_cfg).unwrap();
    assert_eq!(npu_info.backend, "rknn");
    // The runtime returns each image's quantized tract output for exactly the bytes our
    // preprocessing sends for that image.
    for s in &samples {
        let (input, _) = letterbox(&s.image, npu.input_spec()).unwrap();
        let PreparedInput::U8(bytes) = input else {
            panic!("NPU input is not u8")
        };
        fx.write_output_for_input(&bytes, 0, &i8_bytes(&quantize_with(&s.output, zp, scale)));
    }
    let (cpu, _) = load_detector(&cpu_cfg).unwrap();

    let wait = Duration::from_secs(120);
    let mut matched = 0;
    for s in &samples {
        let img = Arc::new(s.image.clone());
        let c = cpu
            .detect_wait(DetectInput::Image(img.clone()), wait)
            .unwrap();
        let n = npu.detect_wait(DetectInput::Image(img), wait).unwrap();
        let tol = 1.5 * scale;
        // Boxes in source pixels: an image 2-3x the input size scales errors up, hence the
        // IoU bound rather than pixels.
        matched += assert_covered(
            &s.name,
            &c.detections,
            &n.detections,
            2.0 * scale,
            MIN_IOU,
            tol,
        );
        assert_covered(
            &s.name,
            &n.detections,
            &c.detections,
            2.0 * scale,
            MIN_IOU,
            tol,
        );
    }
    assert!(
        matched >= 10,
        "only {matched} confident detections compared"
    );
    assert_eq!(npu.stats().errors, 0);
}

/// Writes a stub fixture folder for the shared images (for trying the daemon or
/// `gozcu detect --backend rknn` against the stub by hand, or under emulation):
/// `GOZCU_RKNN_FIXTURE_OUT=/tmp/fx cargo test --features rknn --test rknn_equivalence -- --ignored`
#[test]
#[ignore = "writes a fixture folder to $GOZCU_RKNN_FIXTURE_OUT"]
fn write_fixture_folder() {
    let out = std::path::PathBuf::from(
        std::env::var_os("GOZCU_RKNN_FIXTURE_OUT").expect("set GOZCU_RKNN_FIXTURE_OUT"),
    );
    let shared = detect_support::shared().expect("shared test data");
    let samples = samples(&shared);
    let (zp, scale) = calibrate(&samples);
    let fx = Fixture::yolox(zp, scale);
    let cfg = DetectorConfig {
        backend: Backend::Rknn,
        model: fx.write(),
        ..DetectorConfig::default()
    };
    let (pool, _) = load_detector(&cfg).unwrap();
    let spec = pool.input_spec().clone();
    for s in &samples {
        let (input, _) = letterbox(&s.image, &spec).unwrap();
        let PreparedInput::U8(bytes) = input else {
            unreachable!()
        };
        fx.write_output_for_input(&bytes, 0, &i8_bytes(&quantize_with(&s.output, zp, scale)));
    }
    std::fs::create_dir_all(&out).unwrap();
    copy_dir(fx.dir.path(), &out);
    eprintln!(
        "fixture written to {} (model: {}/model.rknn)",
        out.display(),
        out.display()
    );
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        // What the stub recorded while the outputs were made is not part of the fixture.
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "calls.log" || name.starts_with("last_input") {
            continue;
        }
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}
