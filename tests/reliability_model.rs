//! Broken or wrong models under the real daemon: a truncated model file, a YOLOX model
//! configured as `family = "yolov8"`, and an ONNX model that is no detector at all. The
//! daemon runs on with motion events, and status says detection is off and why, in words
//! that name the setting to change (`ai.reason` code plus `ai.error`). The loader's own
//! messages are unit-tested in tests/detect_errors.rs; this is the daemon-level behaviour.

mod daemon_common;
mod reliability_common;

use daemon_common::*;
use reliability_common::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Runs the daemon with `model` / `family` on one burst camera; returns the health once the
/// camera is online and the detector was tried, after checking motion events still flow.
fn run_with_model(model: &Path, family: &str) -> Value {
    let base = tempfile::tempdir().unwrap();
    let videos = burst_videos(&base.path().join("videos"), 1);
    let body = burst_config(&base.path().join("data"), &videos, "").replace(
        "backend = \"none\"",
        &format!(
            "backend = \"cpu\"\nmodel = \"{}\"\nfamily = \"{family}\"\nthreads = 1",
            model.display()
        ),
    );
    let mut d = start(&body);
    let h = d.wait_health(
        "camera online, detector tried",
        Duration::from_secs(60),
        |h| h["cameras"]["online"] == 1 && h["ai"]["reason"].is_string(),
    );
    let live = Recorder::start(d.port, "");
    let seen = live.wait("motion events", Duration::from_secs(30), &d.log, |s| {
        s.events.iter().any(|e| e["phase"] == "end")
    });
    assert!(
        seen.events.iter().all(|e| e["event_type"] == "motion"),
        "{:?}",
        seen.events
    );
    drop(live);
    let log = d.log_text();
    assert!(log.contains("Events will come from motion"), "{log}");
    assert_eq!(d.stop(), 0, "{}", d.log_text());
    eprintln!("ai.error: {}", h["ai"]["error"]);
    h
}

#[test]
fn truncated_model_runs_on_motion_and_says_the_model_failed_to_load() {
    let Some(shared) = shared_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read(shared.join("models/yolox_nano.onnx")).unwrap();
    let model = dir.path().join("yolox_nano.onnx");
    std::fs::write(&model, &full[..full.len() / 2]).unwrap();
    let h = run_with_model(&model, "yolox");
    assert_eq!(h["ai"]["enabled"], false, "{h}");
    assert_eq!(h["ai"]["reason"], "model_load_failed", "{h}");
    let err = h["ai"]["error"].as_str().unwrap_or_default();
    assert!(
        err.starts_with(&format!("model {} failed to load", model.display())),
        "{h}"
    );
    assert!(err.contains("re-download or re-export it"), "{h}");
}

#[test]
fn yolox_model_configured_as_yolov8_names_the_family_to_set() {
    let Some(shared) = shared_dir() else { return };
    let h = run_with_model(&shared.join("models/yolox_nano.onnx"), "yolov8");
    assert_eq!(h["ai"]["enabled"], false, "{h}");
    assert_eq!(h["ai"]["reason"], "model_load_failed", "{h}");
    let err = h["ai"]["error"].as_str().unwrap_or_default();
    assert!(
        err.starts_with("model output does not match family yolov8:"),
        "{h}"
    );
    assert!(err.contains("set detector.family = \"yolox\""), "{h}");
}

#[test]
fn onnx_model_that_is_no_detector_names_the_model_setting() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("classifier.onnx");
    std::fs::write(&model, pooling_model()).unwrap();
    let h = run_with_model(&model, "yolox");
    assert_eq!(h["ai"]["enabled"], false, "{h}");
    assert_eq!(h["ai"]["reason"], "model_load_failed", "{h}");
    let err = h["ai"]["error"].as_str().unwrap_or_default();
    assert!(
        err.starts_with("model output does not match family yolox:"),
        "{h}"
    );
    assert!(err.contains("[[1, 3, 1, 1]]"), "the outputs are named: {h}");
    assert!(
        err.contains("none of the supported layouts") && err.contains("set detector.model to"),
        "{h}"
    );
}

/// A valid ONNX model that is no detector: input `images` [1, 3, 64, 64], one
/// GlobalAveragePool, output [1, 3, 1, 1]. Protobuf written by hand (onnx.proto field numbers)
/// so the test needs no Python.
fn pooling_model() -> Vec<u8> {
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn int(field: u64, v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        varint(field << 3, &mut out);
        varint(v, &mut out);
        out
    }
    fn bytes(field: u64, b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint((field << 3) | 2, &mut out);
        varint(b.len() as u64, &mut out);
        out.extend_from_slice(b);
        out
    }
    let value_info = |name: &str, dims: &[u64]| {
        let shape: Vec<u8> = dims.iter().flat_map(|d| bytes(1, &int(1, *d))).collect();
        // TypeProto.Tensor { elem_type = FLOAT (1), shape }
        let tensor = [int(1, 1), bytes(2, &shape)].concat();
        [bytes(1, name.as_bytes()), bytes(2, &bytes(1, &tensor))].concat()
    };
    let node = [
        bytes(1, b"images"),
        bytes(2, b"scores"),
        bytes(4, b"GlobalAveragePool"),
    ]
    .concat();
    let graph = [
        bytes(1, &node),
        bytes(2, b"not-a-detector"),
        bytes(11, &value_info("images", &[1, 3, 64, 64])),
        bytes(12, &value_info("scores", &[1, 3, 1, 1])),
    ]
    .concat();
    [
        int(1, 7),
        bytes(2, b"gozcu-tests"),
        bytes(7, &graph),
        bytes(8, &int(2, 13)),
    ]
    .concat()
}
