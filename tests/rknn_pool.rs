//! The NPU backend through `load_detector` and the detector pool, on the stub runtime: one
//! context per worker thread pinned to its core, the letterboxed input the runtime gets,
//! run failures counted while the worker carries on, init failures as status reasons and
//! the CPU fallback of `backend = "auto"`. Run with `make rknn-test`.
#![cfg(feature = "rknn")]

mod detect_support;
mod rknn_support;

use gozcu::config::{Backend, DetectorConfig, ModelFamily};
use gozcu::detect::pool::{DetectInput, PoolError};
use gozcu::detect::{ChannelOrder, DetectError, InputType, Layout, PreparedInput, load_detector};
use gozcu::vision::RgbImage;
use gozcu::vision::letterbox::letterbox;
use rknn_support::{Fixture, i8_bytes};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn cfg(model: &std::path::Path, backend: Backend) -> DetectorConfig {
    DetectorConfig {
        backend,
        model: model.to_path_buf(),
        family: ModelFamily::Yolox,
        ..DetectorConfig::default()
    }
}

/// A gradient image, so letterboxing and channel order show in the bytes.
fn image(w: u32, h: u32) -> RgbImage {
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            data.extend([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8]);
        }
    }
    RgbImage {
        width: w,
        height: h,
        data,
    }
}

/// One YOLOX row (85 values) per cell, all "nothing here" except one confident person at
/// the first stride-32 cell (grid 7,5 of 13x13).
fn one_person_output(zp: i32, scale: f32) -> Vec<i8> {
    let q = |x: f32| ((x / scale).round() as i32 + zp).clamp(-128, 127) as i8;
    let mut v = vec![q(0.0); 3549 * 85];
    let row = 52 * 52 + 26 * 26 + 5 * 13 + 7;
    let r = &mut v[row * 85..(row + 1) * 85];
    // dx, dy = 0.5; log w = log(3) (96 px), log h = log(5) (160 px); obj 0.9, person 0.9
    r[0] = q(0.5);
    r[1] = q(0.5);
    r[2] = q(3f32.ln());
    r[3] = q(5f32.ln());
    r[4] = q(0.9);
    r[5] = q(0.9);
    v
}

#[test]
fn listed_cores_get_one_pinned_context_per_worker_thread() {
    let fx = Fixture::yolox(-100, 0.02);
    fx.write_default_output(0, &i8_bytes(&one_person_output(-100, 0.02)));
    let mut c = cfg(&fx.write(), Backend::Rknn);
    c.npu_cores = "0,1,2".to_string();
    let (pool, info) = load_detector(&c).unwrap();
    assert_eq!(
        (info.backend.as_str(), info.model.as_str()),
        ("rknn", "model.rknn")
    );
    assert_eq!(info.fallback, None);
    assert_eq!(pool.backend(), "rknn");
    assert_eq!(pool.workers(), 3);
    let spec = pool.input_spec();
    assert_eq!(
        (spec.width, spec.height, spec.layout, spec.dtype),
        (416, 416, Layout::Nhwc, InputType::U8)
    );

    // Keep all three workers busy at once so every context runs.
    let img = Arc::new(image(640, 480));
    let mut workers_used = std::collections::BTreeSet::new();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|_| {
                let (pool, img) = (&pool, img.clone());
                s.spawn(move || pool.detect_wait(DetectInput::Image(img), WAIT).unwrap())
            })
            .collect();
        for h in handles {
            let out = h.join().unwrap();
            assert_eq!(out.detections.len(), 1, "{:?}", out.detections);
            workers_used.insert(out.worker);
        }
    });
    assert!(pool.stats().completed >= 12);
    assert!(pool.shutdown(WAIT));

    let calls = fx.calls();
    // ctx -> (creating thread, core mask)
    let mut ctx: BTreeMap<String, (String, String)> = BTreeMap::new();
    for c in calls.iter().filter(|c| c.op == "created") {
        ctx.insert(c.get("ctx").into(), (c.get("tid").into(), String::new()));
    }
    for c in calls.iter().filter(|c| c.op == "core_mask") {
        ctx.get_mut(c.get("ctx")).unwrap().1 = c.get("mask").into();
    }
    assert_eq!(ctx.len(), 3, "{ctx:?}");
    let mut masks: Vec<&str> = ctx.values().map(|(_, m)| m.as_str()).collect();
    masks.sort();
    assert_eq!(masks, vec!["1", "2", "4"]);
    let tids: std::collections::BTreeSet<&str> = ctx.values().map(|(t, _)| t.as_str()).collect();
    assert_eq!(tids.len(), 3, "each context created on its own thread");
    for (id, (tid, _)) in &ctx {
        for c in calls.iter().filter(|c| c.get("ctx") == id) {
            assert_eq!(
                c.get("tid"),
                tid,
                "context {id}: {} from another thread",
                c.op
            );
        }
    }
    let runs = calls.iter().filter(|c| c.op == "run").count();
    assert!(runs >= 12);
    assert_eq!(calls.iter().filter(|c| c.op == "destroy").count(), 3);
}

#[test]
fn the_runtime_gets_the_letterboxed_frame_and_boxes_map_back() {
    let fx = Fixture::yolox(-100, 0.02);
    fx.write_default_output(0, &i8_bytes(&one_person_output(-100, 0.02)));
    let (pool, _) = load_detector(&cfg(&fx.write(), Backend::Rknn)).unwrap();
    let img = image(832, 624); // scale 0.5 into 416x312, padded below
    let out = pool
        .detect_wait(DetectInput::Image(Arc::new(img.clone())), WAIT)
        .unwrap();

    // What reached the runtime: u8 NHWC 416x416, BGR (YOLOX), grey padding.
    let sent = fx.last_input();
    assert_eq!(sent.len(), 416 * 416 * 3);
    assert!(
        fx.last_input_meta()
            .contains("size=519168 type=uint8 fmt=nhwc")
    );
    let (expected, _) = letterbox(&img, pool.input_spec()).unwrap();
    assert_eq!(PreparedInput::U8(sent.clone()), expected);
    assert_eq!(pool.input_spec().channels, ChannelOrder::Bgr);
    // Canvas pixel (10, 20) is the source around (20.5, 40.5): R~20.5, G~40.5, B~61, sent
    // as B, G, R; below the 312 resized rows is grey padding.
    let px = |x: usize, y: usize| &sent[(y * 416 + x) * 3..(y * 416 + x) * 3 + 3];
    let [b, g, r] = [px(10, 20)[0], px(10, 20)[1], px(10, 20)[2]].map(f32::from);
    assert!(
        (r - 20.5).abs() <= 1.0 && (g - 40.5).abs() <= 1.0 && (b - 61.0).abs() <= 1.0,
        "{:?}",
        px(10, 20)
    );
    assert_eq!(px(10, 400), &[114, 114, 114]);

    // The decoded box in source pixels: centre (7.5 * 32, 5.5 * 32) = (240, 176), 96x160 in
    // the input, doubled back to source scale; within one quantization step.
    let d = &out.detections[0];
    assert_eq!(d.label, "person");
    assert!((d.score - 0.81).abs() < 0.05, "{d:?}");
    let expected = [
        (240.0 - 48.0) * 2.0,
        (176.0 - 80.0) * 2.0,
        (240.0 + 48.0) * 2.0,
        (176.0 + 80.0) * 2.0,
    ];
    for (a, b) in d.bbox.iter().zip(expected) {
        assert!((a - b).abs() < 8.0, "{:?} vs {expected:?}", d.bbox);
    }
}

#[test]
fn a_failed_run_skips_that_frame_and_the_worker_keeps_going() {
    let fx = Fixture::yolox(-100, 0.02);
    fx.write_default_output(0, &i8_bytes(&one_person_output(-100, 0.02)));
    let (pool, _) = load_detector(&cfg(&fx.write(), Backend::Rknn)).unwrap();
    let img = Arc::new(image(416, 416));
    pool.detect_wait(DetectInput::Image(img.clone()), WAIT)
        .unwrap();

    fx.fail_run(-1);
    for _ in 0..2 {
        match pool.detect_wait(DetectInput::Image(img.clone()), WAIT) {
            Err(PoolError::Detect(e)) => {
                assert_eq!(e.reason_code(), "inference_failed");
                assert!(e.to_string().contains("rknn_run returned -1"), "{e}");
            }
            other => panic!("expected a failed run, got {other:?}"),
        }
    }
    let s = pool.stats();
    assert_eq!((s.completed, s.errors), (1, 2));

    fx.clear_fail_run();
    let out = pool.detect_wait(DetectInput::Image(img), WAIT).unwrap();
    assert_eq!(out.detections.len(), 1);
    let s = pool.stats();
    assert_eq!((s.completed, s.errors), (2, 2));
    assert_eq!(pool.worker_status()[0].errors, 2);
}

#[test]
fn init_failures_are_status_reasons() {
    let fx = Fixture::yolox(0, 0.1).set("init_error", "-3");
    let e = load_detector(&cfg(&fx.write(), Backend::Rknn)).unwrap_err();
    assert_eq!(e.reason_code(), "npu_unavailable");
    assert!(e.to_string().contains("RKNN_ERR_DEVICE_UNAVAILABLE"), "{e}");

    // auto without a CPU model: no fallback, the NPU's reason stands.
    let e = load_detector(&cfg(&fx.write(), Backend::Auto)).unwrap_err();
    assert_eq!(e.reason_code(), "npu_unavailable");

    let fx = Fixture::yolox(0, 0.1).set("init_error", "-13");
    let e = load_detector(&cfg(&fx.write(), Backend::Rknn)).unwrap_err();
    assert_eq!(e.reason_code(), "model_load_failed");
    assert!(e.to_string().contains("converted for another SoC"), "{e}");
}

#[test]
fn model_not_fitting_the_family_is_refused_at_load() {
    let fx = Fixture::yolox(0, 0.1);
    let mut c = cfg(&fx.write(), Backend::Rknn);
    c.family = ModelFamily::Yolov8;
    let e = load_detector(&c).unwrap_err();
    assert_eq!(e.reason_code(), "model_load_failed");
    let msg = e.to_string();
    assert!(
        msg.starts_with("model output does not match family yolov8"),
        "{msg}"
    );
    assert!(msg.contains("set detector.family = \"yolox\""), "{msg}");
}

#[test]
fn an_onnx_model_is_refused_by_the_rknn_backend() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("yolox.onnx");
    std::fs::write(&onnx, b"not really").unwrap();
    let e = load_detector(&cfg(&onnx, Backend::Rknn)).unwrap_err();
    assert_eq!(e.reason_code(), "model_load_failed");
    assert!(
        e.to_string()
            .contains("the rknn backend needs an .rknn model"),
        "{e}"
    );
}

#[test]
fn auto_falls_back_to_the_cpu_model_and_says_why() {
    let Some(shared) = detect_support::shared() else {
        return;
    };
    for (code, reason, text) in [
        ("-3", "npu_unavailable", "RKNN_ERR_DEVICE_UNAVAILABLE"),
        (
            "-13",
            "model_load_failed",
            "RKNN_ERR_TARGET_PLATFORM_UNMATCH",
        ),
    ] {
        let fx = Fixture::yolox(0, 0.1).set("init_error", code);
        let mut c = cfg(&fx.write(), Backend::Auto);
        c.cpu_model = detect_support::model(&shared);
        let (pool, info) = load_detector(&c).unwrap();
        assert_eq!(pool.backend(), "cpu");
        assert_eq!(
            (info.backend.as_str(), info.model.as_str()),
            ("cpu", "yolox_nano.onnx")
        );
        let fb = info.fallback.expect("fallback recorded");
        assert_eq!(fb.reason, reason);
        assert!(fb.message.contains(text), "{}", fb.message);
        // And it detects: the CPU model runs on a real frame.
        let img =
            gozcu::vision::letterbox::load_image(&shared.join("testdata/images/bus.jpg")).unwrap();
        let out = pool
            .detect_wait(DetectInput::Image(Arc::new(img)), WAIT)
            .unwrap();
        assert!(out.detections.iter().any(|d| d.label == "person"));
    }

    // backend = "rknn" never falls back.
    let fx = Fixture::yolox(0, 0.1).set("init_error", "-3");
    let mut c = cfg(&fx.write(), Backend::Rknn);
    c.cpu_model = detect_support::model(&shared);
    assert!(matches!(
        load_detector(&c),
        Err(DetectError::NpuUnavailable(_))
    ));
}
