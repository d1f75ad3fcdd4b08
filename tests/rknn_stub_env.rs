//! The stub runtime's environment switches (RKNN_STUB_DIR, RKNN_STUB_INIT_ERROR), which let a
//! real-looking model path run against a fixture folder (e.g. the daemon under emulation).
//! Its own test binary: it sets process environment variables.
#![cfg(feature = "rknn")]

mod rknn_support;

use gozcu::config::ModelFamily;
use gozcu::detect::rknn::{RknnDetector, RknnOptions, Slot};
use gozcu::detect::{Detector, PreparedInput};
use rknn_support::Fixture;

#[test]
fn stub_dir_and_init_error_from_the_environment() {
    let fx = Fixture::yolox(0, 0.1);
    // The fixture as <dir>/attrs.txt, the "model" a foreign file elsewhere.
    std::fs::rename(fx.write(), fx.dir.path().join("attrs.txt")).unwrap();
    fx.write_default_output(0, &vec![0u8; 3549 * 85]);
    let other = tempfile::tempdir().unwrap();
    let model = other.path().join("yolox_nano-rk3588.rknn");
    std::fs::write(&model, b"RKNN binary model").unwrap();
    let opts = RknnOptions {
        family: ModelFamily::Yolox,
        slot: Slot { core: None },
        soc: None,
        worker: 0,
    };

    // Without the switch the stub refuses the foreign file, like the runtime.
    let e = RknnDetector::load(&model, &opts).unwrap_err();
    assert_eq!(e.reason_code(), "model_load_failed");

    // SAFETY: this test binary has one test, so no other thread reads the environment.
    unsafe { std::env::set_var("RKNN_STUB_DIR", fx.dir.path()) };
    let mut det = RknnDetector::load(&model, &opts).unwrap();
    assert_eq!(det.input_spec().width, 416);
    det.infer(&PreparedInput::U8(vec![7; 416 * 416 * 3]))
        .unwrap();
    assert_eq!(fx.last_input()[0], 7);
    drop(det);

    unsafe { std::env::set_var("RKNN_STUB_INIT_ERROR", "-3") };
    let e = RknnDetector::load(&model, &opts).unwrap_err();
    assert_eq!(e.reason_code(), "npu_unavailable");
    unsafe {
        std::env::remove_var("RKNN_STUB_INIT_ERROR");
        std::env::remove_var("RKNN_STUB_DIR");
    }
}
