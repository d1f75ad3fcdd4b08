//! Unit tests of `validate`: each rule, message text, and that valid input passes.

use super::*;
use crate::config::CameraConfig;

fn cam(id: &str, device: &str) -> CameraConfig {
    CameraConfig::for_test(id, device)
}

fn problems(c: &Config) -> Vec<String> {
    match validate(c) {
        Ok(()) => vec![],
        Err(p) => p.iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn defaults_with_any_device_kind_are_valid() {
    let mut c = Config::default();
    assert_eq!(problems(&c), Vec::<String>::new());
    c.cameras = vec![
        cam("cam-1", "/dev/video0"),
        cam("B_2", "testsrc:"),
        cam("c", "replay:/data/clip.mjpeg"),
    ];
    assert_eq!(problems(&c), Vec::<String>::new());
}

#[test]
fn camera_ranges_are_checked() {
    let mut c = Config::default();
    let mut bad = cam("cam-1", "testsrc:");
    bad.fps = 241;
    bad.width = 15;
    bad.height = 721;
    bad.detect_fps = 0.0;
    bad.format = "H264".into();
    c.cameras.push(bad);
    assert_eq!(
        problems(&c),
        [
            "`cameras[0].fps`: must be 1..=240 frames per second, got 241",
            "`cameras[0].width`: must be an even number of pixels 16..=8192, got 15",
            "`cameras[0].height`: must be an even number of pixels 16..=8192, got 721",
            "`cameras[0].detect_fps`: must be greater than 0 and at most the camera's fps \
             (241), got 0",
            "`cameras[0].format`: \"H264\" is not a known pixel format; valid: auto, MJPG, \
             YUYV, NV12, NV16, NM12, NM16, RGB3, GREY",
        ]
    );
    c.cameras[0] = cam("cam-1", "testsrc:");
    c.cameras[0].detect_fps = 16.0;
    assert_eq!(
        problems(&c),
        [
            "`cameras[0].detect_fps`: must be greater than 0 and at most the camera's fps \
          (15), got 16"
        ]
    );
}

#[test]
fn camera_ids_must_be_url_safe_and_unique_devices_not_shared() {
    let mut c = Config {
        cameras: vec![
            cam("", "testsrc:"),
            cam("a/b", "testsrc:"),
            cam("ok", "/dev/video0"),
            cam("ok", "/dev/video0"),
            cam("x", "video0"),
        ],
        ..Config::default()
    };
    let mut disabled = cam("y", "/dev/video0");
    disabled.enabled = false;
    c.cameras.push(disabled);
    let p = problems(&c);
    assert_eq!(p.len(), 5, "{p:#?}");
    assert!(p[0].starts_with("`cameras[0].id`: \"\" is not a camera id"));
    assert!(p[1].starts_with("`cameras[1].id`: \"a/b\" is not a camera id"));
    assert_eq!(
        p[2],
        "`cameras[3].id`: \"ok\" is used by an earlier camera; ids must be unique"
    );
    assert_eq!(
        p[3],
        "`cameras[3].device`: /dev/video0 is used by an earlier enabled camera"
    );
    assert!(p[4].starts_with("`cameras[4].device`: \"video0\" is not a camera device"));
    assert!(is_valid_camera_id(&"a".repeat(64)));
    assert!(!is_valid_camera_id(&"a".repeat(65)));
}

#[test]
fn server_limits_and_detector_thresholds() {
    let mut c = Config::default();
    c.server.max_clients = 0;
    c.server.ping_interval_s = 30;
    c.server.idle_timeout_s = 30;
    c.detector.nms_iou = f32::NAN;
    c.detector.threads = 65;
    c.detector.labels.clear();
    c.storage.retain_days = 0;
    c.events.update_interval_s = -1.0;
    let p = problems(&c);
    let keys: Vec<&str> = p
        .iter()
        .map(|s| s.split('`').nth(1).unwrap_or_default())
        .collect();
    assert_eq!(
        keys,
        [
            "server.max_clients",
            "server.max_clients_per_ip",
            "server.idle_timeout_s",
            "storage.retain_days",
            "detector.labels",
            "detector.nms_iou",
            "detector.threads",
            "events.update_interval_s",
        ]
    );
    assert!(
        p[5].ends_with("must be 0..=1 (a fraction), got NaN"),
        "{}",
        p[5]
    );
}

#[test]
fn npu_cores_are_auto_or_a_list_of_known_cores() {
    assert_eq!(parse_npu_cores("auto"), Ok(None));
    assert_eq!(parse_npu_cores("0, 2"), Ok(Some(vec![0, 2])));
    assert_eq!(
        parse_npu_cores("1,1"),
        Err("core 1 is listed twice".to_string())
    );
    assert!(
        parse_npu_cores("3")
            .unwrap_err()
            .starts_with("`3` is not an NPU core")
    );
    assert!(parse_npu_cores("").is_err());
}

#[test]
fn model_extension_must_match_the_backend() {
    let mut c = Config::default();
    c.detector.backend = Backend::Rknn;
    assert_eq!(
        problems(&c),
        [
            "`detector.model`: backend \"rknn\" needs an .rknn model; .onnx models run on \
          backend \"cpu\""
        ]
    );
    c.detector.model = "/m/yolox_s.rknn".into();
    c.detector.cpu_model = "/m/yolox_s.rknn".into();
    assert_eq!(
        problems(&c),
        ["`detector.cpu_model`: must be an .onnx model (it runs on the CPU), or empty"]
    );
}

#[test]
fn cpu_backend_needs_the_cpu_feature() {
    let mut c = Config::default();
    c.detector.backend = Backend::Cpu;
    if cfg!(feature = "cpu") {
        assert_eq!(problems(&c), Vec::<String>::new());
    } else {
        assert_eq!(
            problems(&c),
            [
                "`detector.backend`: backend \"cpu\" is not built into this gozcu: rebuild it \
                 with the cargo feature `cpu` (on by default), or use \"auto\", \"rknn\" or \"none\""
            ]
        );
    }
}

#[test]
fn testsrc_patterns_are_checked() {
    let mut c = Config {
        cameras: vec![
            cam("a", "testsrc:"),
            cam("b", "testsrc:static"),
            cam("c", "testsrc:moving"),
        ],
        ..Config::default()
    };
    assert_eq!(problems(&c), Vec::<String>::new());
    c.cameras.push(cam("d", "testsrc:still"));
    assert_eq!(
        problems(&c),
        [
            "`cameras[3].device`: \"testsrc:still\" is not a known synthetic camera; write \
             \"testsrc:\" (shapes come and go), \"testsrc:static\" (nothing moves) or \
             \"testsrc:moving\" (always moving)"
        ]
    );
}
