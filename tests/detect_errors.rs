//! Failure paths with the real components: missing / corrupt models, a model that does not
//! fit its family, disabled or unavailable backends, bad images in `gozcu detect`, and the
//! pool dropping frames while busy and counting failed runs.
#![cfg(feature = "cpu")]

mod detect_support;

use detect_support::*;
use gozcu::config::{Backend, DetectorConfig, ModelFamily};
use gozcu::detect::cpu::{CpuDetector, CpuOptions};
use gozcu::detect::pool::{DetectInput, PoolError};
use gozcu::detect::{Detector, Letterbox, PreparedInput, load_detector};
use gozcu::vision::letterbox::{letterbox, load_image};
use std::process::Command;
use std::sync::{Arc, mpsc};
use std::time::Duration;

fn cfg(model: &std::path::Path) -> DetectorConfig {
    DetectorConfig {
        model: model.to_path_buf(),
        threads: 1,
        ..DetectorConfig::default()
    }
}

#[test]
fn missing_model_is_no_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.onnx");
    let e = load_detector(&cfg(&path)).unwrap_err();
    assert_eq!(e.reason_code(), "no_model");
    assert_eq!(
        e.to_string(),
        format!(
            "model file {} not found; set detector.model to an ONNX or RKNN model (see \
             docs/configuration.md)",
            path.display()
        )
    );
    let e = CpuDetector::load(&path, &CpuOptions::new(ModelFamily::Yolox, 1)).unwrap_err();
    assert_eq!(e.reason_code(), "no_model");
}

#[test]
fn corrupt_model_is_model_load_failed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.onnx");
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&path, bytes).unwrap();
    let e = load_detector(&cfg(&path)).unwrap_err();
    assert_eq!(e.reason_code(), "model_load_failed");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "model {} failed to load: not a readable ONNX model",
            path.display()
        )),
        "{msg}"
    );
    assert!(
        msg.contains("check that the file is a complete ONNX model (re-download or re-export it)"),
        "{msg}"
    );
    // An empty file too.
    std::fs::write(&path, b"").unwrap();
    assert_eq!(
        load_detector(&cfg(&path)).unwrap_err().reason_code(),
        "model_load_failed"
    );
}

#[test]
fn disabled_and_npu_backends() {
    let mut c = cfg(std::path::Path::new("/nonexistent/model.onnx"));
    c.backend = Backend::None;
    let e = load_detector(&c).unwrap_err();
    assert_eq!(e.reason_code(), "disabled");

    c.backend = Backend::Rknn;
    let e = load_detector(&c).unwrap_err();
    // With the feature, the missing model is reported first (tests/rknn_*.rs cover the rest).
    #[cfg(feature = "rknn")]
    assert_eq!(e.reason_code(), "no_model");
    #[cfg(not(feature = "rknn"))]
    assert_eq!(e.reason_code(), "npu_unavailable");
    #[cfg(not(feature = "rknn"))]
    assert!(
        e.to_string().contains("built without the rknn feature"),
        "{e}"
    );

    // The CPU backend cannot run an .rknn file.
    c.backend = Backend::Cpu;
    c.model = "/x/model.rknn".into();
    let e = load_detector(&c).unwrap_err();
    assert_eq!(e.reason_code(), "model_load_failed");
    assert!(
        e.to_string()
            .contains("the CPU backend needs an ONNX model"),
        "{e}"
    );
}

#[test]
fn yolox_model_with_family_yolov8_is_a_shape_mismatch() {
    let Some(shared) = shared() else { return };
    let mut c = cfg(&model(&shared));
    c.family = ModelFamily::Yolov8;
    let e = load_detector(&c).unwrap_err();
    assert_eq!(e.reason_code(), "model_load_failed");
    let msg = e.to_string();
    assert!(
        msg.starts_with("model output does not match family yolov8:"),
        "{msg}"
    );
    assert!(msg.contains("[1, 3549, 85]"), "{msg}");
    assert!(msg.contains("set detector.family = \"yolox\""), "{msg}");
}

#[test]
fn bad_labels_file_is_reported() {
    let Some(shared) = shared() else { return };
    let mut c = cfg(&model(&shared));
    c.labels_file = "/nonexistent/labels.txt".into();
    let e = load_detector(&c).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("labels file /nonexistent/labels.txt unusable"),
        "{e}"
    );
}

#[test]
fn cpu_detector_declares_yolox_input_and_outputs() {
    let Some(shared) = shared() else { return };
    let det = CpuDetector::load(&model(&shared), &CpuOptions::new(ModelFamily::Yolox, 1)).unwrap();
    let s = det.input_spec();
    assert_eq!((s.width, s.height, s.pad_value), (416, 416, 114));
    assert_eq!(s.channels, gozcu::detect::ChannelOrder::Bgr);
    assert_eq!(s.layout, gozcu::detect::Layout::Nchw);
    assert_eq!(s.dtype, gozcu::detect::InputType::F32);
    assert_eq!(det.output_dims(), Some(vec![vec![1, 3549, 85]]));
    assert_eq!(det.backend_name(), "cpu");
}

#[test]
fn pool_drops_frames_while_busy_and_counts_errors() {
    let Some(shared) = shared() else { return };
    let (pool, _) = load_detector(&cfg(&model(&shared))).unwrap();
    let img = load_image(&shared.join("testdata/images/bus.jpg")).unwrap();
    let (input, lb) = letterbox(&img, pool.input_spec()).unwrap();

    // First request occupies the only worker; the next is refused at once, not queued.
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    pool.try_detect(
        DetectInput::Prepared {
            input: input.clone(),
            letterbox: lb,
        },
        Box::new(move |r| tx.send(r).unwrap()),
    )
    .unwrap();
    let e = pool
        .try_detect(
            DetectInput::Image(Arc::new(img.clone())),
            Box::new(move |r| tx2.send(r).unwrap()),
        )
        .unwrap_err();
    assert!(matches!(e, PoolError::Busy));
    assert_eq!(
        e.to_string(),
        "all detector workers are busy; frame dropped"
    );
    let out = rx.recv_timeout(Duration::from_secs(60)).unwrap().unwrap();
    assert!(out.inference_ms > 0.0);
    assert!(out.detections.iter().any(|d| d.label == "bus"));
    assert!(
        rx.try_recv().is_err(),
        "the dropped frame must not be run later"
    );

    // A malformed input fails that request only; the worker carries on.
    let bad = DetectInput::Prepared {
        input: PreparedInput::F32(vec![0.0; 10]),
        letterbox: Letterbox {
            scale: 1.0,
            pad_x: 0.0,
            pad_y: 0.0,
            src_width: 1,
            src_height: 1,
        },
    };
    let e = pool.detect_wait(bad, Duration::from_secs(60)).unwrap_err();
    assert!(
        e.to_string()
            .contains("input is 10 F32 values instead of 519168 F32 values"),
        "{e}"
    );
    let ok = pool
        .detect_wait(
            DetectInput::Prepared {
                input,
                letterbox: lb,
            },
            Duration::from_secs(60),
        )
        .unwrap();
    assert_eq!(ok.detections, out.detections);
    let s = pool.stats();
    assert_eq!(
        (s.accepted, s.dropped_busy, s.completed, s.errors),
        (3, 1, 2, 1)
    );
    assert!(s.last_inference_ms > 0.0);
    let w = &pool.worker_status()[0];
    assert!(w.busy_since.is_none());
    assert!(pool.shutdown(Duration::from_secs(10)));
}

#[test]
fn cli_reports_bad_images_and_continues() {
    let Some(shared) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.jpg");
    std::fs::write(&broken, b"\xFF\xD8 not really a jpeg").unwrap();
    let missing = dir.path().join("missing.png");
    let good = shared.join("testdata/images/zidane.jpg");
    let out = Command::new(env!("CARGO_BIN_EXE_gozcu"))
        .arg("detect")
        .arg("--model")
        .arg(model(&shared))
        .args(["--json", "--threads", "1"])
        .arg(&broken)
        .arg(&good)
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let recs = parse_jsonl(&stdout);
    assert_eq!(recs.len(), 1, "{stdout}");
    assert_eq!(recs[0].0, "zidane.jpg");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!("cannot decode image {}: JPEG", broken.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("cannot read image {}", missing.display())),
        "{stderr}"
    );
    assert!(stderr.contains("2 of 3 images failed"), "{stderr}");
}

#[test]
fn cli_missing_model_exits_1_with_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_gozcu"))
        .args(["detect", "--model", "/nonexistent/m.onnx", "x.jpg"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("gozcu detect: model file /nonexistent/m.onnx not found"),
        "{stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_gozcu"))
        .args(["detect", "--model", "m.onnx", "--family", "ssd", "x.jpg"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown --family \"ssd\""));
}
