//! The RKNN backend on the stub runtime (tests/rknn-stub): attributes, input sent to the
//! runtime, int8 outputs, error paths, core masks and one context per thread.
//! Run with `make rknn-test` (builds the stub and sets the library paths).
#![cfg(feature = "rknn")]

mod rknn_support;

use gozcu::config::ModelFamily;
use gozcu::detect::rknn::{RknnDetector, RknnOptions, Slot};
use gozcu::detect::{
    ChannelOrder, DetectError, Detector, InputType, Layout, PreparedInput, TensorData,
};
use rknn_support::{Fixture, Tensor, f32_bytes, i8_bytes};

fn opts(core: Option<u8>) -> RknnOptions {
    RknnOptions {
        family: ModelFamily::Yolox,
        slot: Slot { core },
        soc: Some("rk3588".to_string()),
        worker: 0,
    }
}

fn load(fx: &Fixture) -> Result<RknnDetector, DetectError> {
    RknnDetector::load(&fx.write(), &opts(None))
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn reads_input_and_output_attributes() {
    let fx = Fixture::yolox(-110, 0.0375).set("sdk_version", "2.3.2 (429f97ae6b@2025-04-09)");
    let det = load(&fx).unwrap();
    let spec = det.input_spec();
    assert_eq!((spec.width, spec.height), (416, 416));
    assert_eq!(spec.layout, Layout::Nhwc);
    assert_eq!(spec.dtype, InputType::U8);
    // YOLOX is trained on BGR; the NPU model keeps the ONNX model's channel order.
    assert_eq!(spec.channels, ChannelOrder::Bgr);
    assert_eq!(spec.pad_value, 114);
    assert_eq!(det.output_shapes(), &[vec![1, 3549, 85]]);
    assert_eq!(det.backend_name(), "rknn");
    let v = det.versions().unwrap();
    assert_eq!(v.api, "2.3.2 (429f97ae6b@2025-04-09)");
    assert_eq!(v.driver, "0.9.8");
}

#[test]
fn yolov8_family_takes_rgb_and_a_nchw_input_attr_works() {
    let mut input = Tensor::image_input(640, 480);
    input.dims = vec![1, 3, 480, 640];
    input.fmt = "nchw";
    let fx = Fixture::new(vec![input], vec![Tensor::f32_output("o", &[1, 84, 6300])]);
    let mut o = opts(None);
    o.family = ModelFamily::Yolov8;
    let det = RknnDetector::load(&fx.write(), &o).unwrap();
    assert_eq!(
        (det.input_spec().width, det.input_spec().height),
        (640, 480)
    );
    assert_eq!(det.input_spec().channels, ChannelOrder::Rgb);
    assert_eq!(det.input_spec().layout, Layout::Nhwc);
}

#[test]
fn sends_u8_nhwc_input_of_the_model_size() {
    let fx = Fixture::yolox(0, 0.1);
    fx.write_default_output(0, &vec![0u8; 3549 * 85]);
    let mut det = load(&fx).unwrap();
    let input = pattern(416 * 416 * 3);
    det.infer(&PreparedInput::U8(input.clone())).unwrap();
    assert_eq!(fx.last_input(), input);
    assert_eq!(
        fx.last_input_meta().trim(),
        "index=0 size=519168 type=uint8 fmt=nhwc pass_through=0"
    );
}

#[test]
fn wrong_input_is_refused_before_the_runtime() {
    let fx = Fixture::yolox(0, 0.1);
    let mut det = load(&fx).unwrap();
    let e = det.infer(&PreparedInput::U8(vec![0; 100])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "inference failed: input has 100 bytes; the RKNN model takes 416x416x3 = 519168"
    );
    let e = det.infer(&PreparedInput::F32(vec![0.0; 10])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "inference failed: the RKNN backend takes u8 input, got f32"
    );
    assert!(!fx.dir.path().join("last_input.bin").exists());
}

#[test]
fn int8_output_keeps_zero_point_and_scale() {
    let fx = Fixture::yolox(-110, 0.0375);
    let q: Vec<i8> = (0..3549 * 85).map(|i| ((i % 256) - 128) as i8).collect();
    fx.write_default_output(0, &i8_bytes(&q));
    let mut det = load(&fx).unwrap();
    let out = det
        .infer(&PreparedInput::U8(vec![1; 416 * 416 * 3]))
        .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dims, vec![1, 3549, 85]);
    assert_eq!(
        out[0].data,
        TensorData::I8 {
            data: q,
            zero_point: -110,
            scale: 0.0375
        }
    );
}

#[test]
fn several_outputs_of_mixed_types_in_one_call() {
    // A split-head-like model: one NHWC int8 map and one float tensor.
    let mut map = Tensor::int8_output("p3", &[1, 2, 2, 3], 5, 0.5);
    map.fmt = "nhwc";
    let fx = Fixture::new(
        vec![Tensor::image_input(32, 32)],
        vec![map, Tensor::f32_output("cls", &[1, 4])],
    );
    fx.write_default_output(0, &i8_bytes(&[0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32]));
    fx.write_default_output(1, &f32_bytes(&[0.5, -1.0, 2.0, 8.0]));
    let mut det = load(&fx).unwrap();
    assert_eq!(det.output_shapes(), &[vec![1, 3, 2, 2], vec![1, 4]]);
    let out = det.infer(&PreparedInput::U8(vec![0; 32 * 32 * 3])).unwrap();
    assert_eq!(out[0].dims, vec![1, 3, 2, 2]);
    assert_eq!(
        out[0].data,
        TensorData::I8 {
            data: vec![0, 10, 20, 30, 1, 11, 21, 31, 2, 12, 22, 32],
            zero_point: 5,
            scale: 0.5
        }
    );
    assert_eq!(out[1].data, TensorData::F32(vec![0.5, -1.0, 2.0, 8.0]));
    // One rknn_outputs_get for both outputs, released after.
    let calls = fx.calls();
    let gets: Vec<_> = calls.iter().filter(|c| c.op == "outputs_get").collect();
    assert_eq!(gets.len(), 1);
    assert_eq!(gets[0].get("n"), "2");
    assert_eq!(
        calls.iter().filter(|c| c.op == "outputs_release").count(),
        1
    );
}

#[test]
fn missing_model_is_no_model() {
    let fx = Fixture::yolox(0, 0.1);
    let e = RknnDetector::load(&fx.path(), &opts(None)).unwrap_err();
    assert_eq!(e.reason_code(), "no_model");
    assert!(e.to_string().contains("model.rknn not found"), "{e}");
}

#[test]
fn init_errors_map_to_status_reasons() {
    let fx = Fixture::yolox(0, 0.1).set("init_error", "-6");
    let e = load(&fx).unwrap_err();
    assert_eq!(e.reason_code(), "model_load_failed");
    let text = e.to_string();
    assert!(
        text.contains("rknn_init returned -6 (RKNN_ERR_MODEL_INVALID")
            && text.contains("newer rknn-toolkit2"),
        "{text}"
    );

    let fx = Fixture::yolox(0, 0.1).set("init_error", "-13");
    let e = load(&fx).unwrap_err();
    assert_eq!(e.reason_code(), "model_load_failed");
    assert!(e.to_string().contains("target_platform='rk3588'"), "{e}");

    let fx = Fixture::yolox(0, 0.1).set("init_error", "-3");
    let e = load(&fx).unwrap_err();
    assert_eq!(e.reason_code(), "npu_unavailable");
    assert!(e.to_string().starts_with("NPU unavailable: "), "{e}");
}

#[test]
fn a_foreign_file_is_model_load_failed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("yolox.rknn");
    std::fs::write(&path, b"RKNN\0\0\0\x06 this is not a stub fixture").unwrap();
    let e = RknnDetector::load(&path, &opts(None)).unwrap_err();
    assert_eq!(e.reason_code(), "model_load_failed");
    assert!(e.to_string().contains("RKNN_ERR_MODEL_INVALID"), "{e}");
}

#[test]
fn a_model_with_a_non_image_input_is_refused() {
    let mut input = Tensor::image_input(416, 416);
    input.dims = vec![1, 416, 416, 4];
    let fx = Fixture::new(vec![input], vec![Tensor::f32_output("o", &[1, 10])]);
    let e = load(&fx).unwrap_err();
    assert_eq!(e.reason_code(), "model_load_failed");
    assert!(
        e.to_string()
            .contains("does not take an image: its input `images` has dims [1, 416, 416, 4]"),
        "{e}"
    );
}

#[test]
fn run_failure_is_an_error_and_the_context_keeps_working() {
    let fx = Fixture::yolox(0, 0.1);
    fx.write_default_output(0, &vec![3u8; 3549 * 85]);
    let mut det = load(&fx).unwrap();
    let input = PreparedInput::U8(vec![0; 416 * 416 * 3]);
    fx.fail_run(-2);
    let e = det.infer(&input).unwrap_err();
    assert_eq!(e.reason_code(), "inference_failed");
    assert_eq!(
        e.to_string(),
        "inference failed: NPU: rknn_run returned -2 (RKNN_ERR_TIMEOUT: execution timed out)"
    );
    fx.clear_fail_run();
    let out = det.infer(&input).unwrap();
    assert!(matches!(&out[0].data, TensorData::I8 { data, .. } if data.iter().all(|&q| q == 3)));
}

#[test]
fn missing_output_data_is_an_inference_error() {
    let fx = Fixture::yolox(0, 0.1);
    let mut det = load(&fx).unwrap();
    let e = det
        .infer(&PreparedInput::U8(vec![0; 416 * 416 * 3]))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("inference failed: NPU: rknn_outputs_get returned -9"),
        "{e}"
    );
}

#[test]
fn core_mask_is_set_and_its_refusal_ignored() {
    let fx = Fixture::yolox(0, 0.1);
    let det = RknnDetector::load(&fx.write(), &opts(Some(2))).unwrap();
    let masks: Vec<String> = fx
        .calls()
        .iter()
        .filter(|c| c.op == "core_mask")
        .map(|c| c.get("mask").to_string())
        .collect();
    assert_eq!(masks, vec!["4"]);
    drop(det);

    // Single-core SoCs refuse core masks; the context still loads and runs.
    let fx = Fixture::yolox(0, 0.1).set("core_mask_error", "-1");
    fx.write_default_output(0, &vec![0u8; 3549 * 85]);
    let mut det = RknnDetector::load(&fx.write(), &opts(Some(0))).unwrap();
    det.infer(&PreparedInput::U8(vec![0; 416 * 416 * 3]))
        .unwrap();

    // Unpinned: no core mask call at all.
    let fx = Fixture::yolox(0, 0.1);
    let _det = load(&fx).unwrap();
    assert!(fx.calls().iter().all(|c| c.op != "core_mask"));
}

#[test]
fn each_thread_owns_its_context() {
    let fx = Fixture::yolox(0, 0.1);
    fx.write_default_output(0, &vec![0u8; 3549 * 85]);
    let model = fx.write();
    // All three contexts live at once (so their ids are distinct).
    let barrier = std::sync::Barrier::new(3);
    std::thread::scope(|s| {
        for core in 0..3u8 {
            let (model, barrier) = (model.clone(), &barrier);
            s.spawn(move || {
                let mut det = RknnDetector::load(&model, &opts(Some(core))).unwrap();
                barrier.wait();
                for _ in 0..5 {
                    det.infer(&PreparedInput::U8(vec![core; 416 * 416 * 3]))
                        .unwrap();
                }
            });
        }
    });
    let calls = fx.calls();
    let created: Vec<_> = calls.iter().filter(|c| c.op == "created").collect();
    assert_eq!(created.len(), 3);
    let mut ctxs: Vec<&str> = created.iter().map(|c| c.get("ctx")).collect();
    ctxs.sort();
    ctxs.dedup();
    assert_eq!(ctxs.len(), 3, "three distinct contexts");
    let mut tids: Vec<&str> = created.iter().map(|c| c.get("tid")).collect();
    tids.sort();
    tids.dedup();
    assert_eq!(tids.len(), 3, "created on three threads");
    for c in created {
        let (ctx, tid) = (c.get("ctx"), c.get("tid"));
        let used: Vec<_> = calls.iter().filter(|x| x.get("ctx") == ctx).collect();
        assert!(used.iter().filter(|x| x.op == "run").count() == 5);
        assert!(
            used.iter().all(|x| x.get("tid") == tid),
            "context {ctx} used from another thread than the one that created it"
        );
        assert_eq!(used.last().unwrap().op, "destroy");
    }
    let mut masks: Vec<String> = calls
        .iter()
        .filter(|c| c.op == "core_mask")
        .map(|c| c.get("mask").to_string())
        .collect();
    masks.sort();
    assert_eq!(masks, vec!["1", "2", "4"]);
}
