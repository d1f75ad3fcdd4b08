//! The real daemon built with `--features rknn`, on the stub runtime told to fail init:
//! `detector.backend = "auto"` falls back to `detector.cpu_model` and the reason is in the
//! status message (`ai.fallback`) and `/api/health`. Run with `make rknn-test` (builds the
//! stub and sets the library paths the daemon inherits).
#![cfg(feature = "rknn")]

mod daemon_common;
mod rknn_support;

use daemon_common::*;
use rknn_support::Fixture;
use std::time::Duration;

#[test]
fn auto_fallback_to_the_cpu_shows_the_npu_reason_in_status() {
    let Some(shared) = shared_dir() else { return };
    // RKNN_ERR_DEVICE_UNAVAILABLE, what the runtime returns without a usable NPU.
    let fx = Fixture::yolox(0, 0.1).set("init_error", "-3");
    let body = format!(
        r#"
[server]
listen = ["127.0.0.1:{{port}}"]
[storage]
dir = "{{dir}}/data"
[detector]
backend = "auto"
model = "{model}"
cpu_model = "{cpu_model}"
[[cameras]]
id = "cam-1"
device = "testsrc:"
enabled = false
"#,
        model = fx.write().display(),
        cpu_model = shared.join("models/yolox_nano.onnx").display(),
    );
    let mut d = start(&body);
    let h = d.wait_health("detector loaded", Duration::from_secs(120), |h| {
        h["ai"]["enabled"] == true
    });
    let ai = &h["ai"];
    assert_eq!(ai["backend"], "cpu", "{h}");
    assert_eq!(ai["model"], "yolox_nano.onnx");
    assert!(ai["reason"].is_null(), "detection is on: {h}");
    assert_eq!(ai["fallback"]["reason"], "npu_unavailable", "{h}");
    let message = ai["fallback"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("NPU unavailable:") && message.contains("RKNN_ERR_DEVICE_UNAVAILABLE"),
        "the runtime's reason: {message}"
    );

    // The status message a dashboard gets carries the same.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let first = rt.block_on(async {
        let mut ws = ws_connect(d.port, "").await;
        next_json(&mut ws, Duration::from_secs(5)).await.unwrap()
    });
    assert_eq!(first["type"], "status");
    assert_eq!(first["data"]["ai"]["fallback"], ai["fallback"]);
    assert!(
        d.log_text()
            .contains("running detector.cpu_model on the CPU"),
        "{}",
        d.log_text()
    );
    assert_eq!(d.stop(), 0);
}
