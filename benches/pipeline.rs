//! Pipeline benchmark: per-frame CPU cost of each step a 1280x720 frame takes through the
//! camera worker (src/daemon/pipeline.rs), with the crate's own functions, single-threaded.
//! Prints one JSON object: per step the median, p10/p90, min/max and mean in milliseconds.
//!
//! Run: `cargo bench --bench pipeline [-- --runs N]` (N >= 5, default 50). Frames: the shared
//! `zidane.jpg` (a real 1280x720 JPEG, the size of a 720p MJPEG frame) and 1280x720 NV12 /
//! YUYV frames from the synthetic camera. Inference itself is `benches/detector.rs`.

mod support;

use gozcu::camera::testsrc::TestSource;
use gozcu::camera::{Frame, PixelFormat, Plane};
use gozcu::config::{CameraConfig, ModelFamily, MotionConfig};
use gozcu::detect::Detector;
use gozcu::detect::cpu::{CpuDetector, CpuOptions};
use gozcu::detect::decode::{DecodeParams, Decoder};
use gozcu::detect::labels::Labels;
use gozcu::detect::{InputSpec, RawTensor};
use gozcu::vision::GrayImage;
use gozcu::vision::convert::{
    ConvertedFrame, frame_to_rgb, jpeg_dimensions, luma_small, luma_small_from_rgb,
};
use gozcu::vision::letterbox::Letterboxer;
use gozcu::vision::motion::MotionDetector;
use gozcu::vision::snapshot::{SNAPSHOT_MAX_WIDTH, SNAPSHOT_QUALITY, encode_snapshot};
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant, SystemTime};
use support::{time, time_with_setup};

/// The worker's motion image height (src/daemon/pipeline.rs, MOTION_HEIGHT).
const MOTION_HEIGHT: u32 = 144;

fn main() {
    let runs = support::runs(50);
    let shared = support::shared(&["models/yolox_nano.onnx", "testdata/images/zidane.jpg"]);
    let jpeg = std::fs::read(shared.join("testdata/images/zidane.jpg")).expect("read zidane.jpg");
    let (w, h) = jpeg_dimensions(&jpeg).expect("zidane.jpg is a JPEG");
    assert_eq!((w, h), (1280, 720), "zidane.jpg should be 1280x720");
    let mjpeg = Frame {
        format: PixelFormat::Mjpeg,
        width: w,
        height: h,
        planes: vec![Plane {
            data: jpeg,
            stride: 0,
        }],
        timestamp: SystemTime::now(),
        sequence: 0,
    };
    let nv12 = synthetic("NV12", "testsrc:moving");
    let yuyv = synthetic("YUYV", "testsrc:moving");
    let mut steps = Map::new();
    let mut put = |name: &str, v: Value| {
        eprintln!("{name}: {v}");
        steps.insert(name.to_string(), v);
    };

    // Conversion. An MJPEG frame is decoded to RGB once when detection or a snapshot needs it;
    // the motion image then comes from that RGB. Luma-only decoding is what an idle frame
    // costs with ConvertedFrame::luma_only.
    put(
        "mjpeg_decode_rgb",
        time(runs, || frame_to_rgb(&mjpeg).expect("decode")),
    );
    put(
        "mjpeg_decode_luma_small",
        time(runs, || luma_small(&mjpeg, MOTION_HEIGHT).expect("luma")),
    );
    let rgb = frame_to_rgb(&mjpeg).expect("decode");
    put(
        "rgb_to_luma_small",
        time(runs, || {
            luma_small_from_rgb(&rgb, MOTION_HEIGHT).expect("luma")
        }),
    );
    put(
        "nv12_to_rgb",
        time(runs, || frame_to_rgb(&nv12).expect("nv12")),
    );
    put(
        "nv12_luma_small",
        time(runs, || luma_small(&nv12, MOTION_HEIGHT).expect("luma")),
    );
    put(
        "yuyv_to_rgb",
        time(runs, || frame_to_rgb(&yuyv).expect("yuyv")),
    );
    put(
        "yuyv_luma_small",
        time(runs, || luma_small(&yuyv, MOTION_HEIGHT).expect("luma")),
    );

    // The worker's per-frame work on an idle frame (no detection due): ConvertedFrame as the
    // worker builds it (luma only: nothing will ask for RGB), its motion image, one motion
    // step.
    for (name, frame) in [("mjpeg", &mjpeg), ("nv12", &nv12)] {
        let luma = luma_small(frame, MOTION_HEIGHT).expect("luma");
        let mut motion = warmed_motion(&luma);
        let mut t = 10 * FRAME;
        put(
            &format!("worker_idle_frame_{name}"),
            time_with_setup(
                runs,
                || ConvertedFrame::new(frame.clone()).luma_only(true),
                |mut conv| {
                    t += FRAME;
                    let luma = conv.luma_small(MOTION_HEIGHT).expect("luma");
                    motion.detect(luma, t).expect("motion")
                },
            ),
        );
    }

    // Motion step alone on the 256x144 image: a still scene, and shapes moving.
    let still = luma_small(&nv12, MOTION_HEIGHT).expect("luma");
    let mut motion = warmed_motion(&still);
    let mut t = 10 * FRAME;
    put(
        "motion_step_still",
        time(runs, || {
            t += FRAME;
            let r = motion.detect(&still, t).expect("motion");
            assert!(!r.motion, "a repeated frame cannot be motion");
        }),
    );
    let src = TestSource::new(&camera("NV12", "testsrc:moving"));
    let moving: Vec<GrayImage> = (0..30)
        .map(|i| luma_small(&src.render(i), MOTION_HEIGHT).expect("luma"))
        .collect();
    let mut motion = warmed_motion(&still);
    let mut i = 0;
    let mut seen = 0;
    put(
        "motion_step_moving",
        time(runs, || {
            t += FRAME;
            seen += usize::from(motion.detect(&moving[i % 30], t).expect("motion").motion);
            i += 1;
        }),
    );
    assert!(seen > 0, "the moving shapes were never seen as motion");

    // Detection side: letterbox to the model input, then decode + NMS of real model outputs.
    let spec = InputSpec::family_default(ModelFamily::Yolox);
    let mut lbx = Letterboxer::new();
    put(
        "letterbox_1280x720_to_416",
        time(runs, || lbx.prepare(&rgb, &spec).expect("letterbox")),
    );
    let (input, lb) = lbx.prepare(&rgb, &spec).expect("letterbox");
    let model = shared.join("models/yolox_nano.onnx");
    let opts = CpuOptions::new(ModelFamily::Yolox, 1);
    let load = Instant::now();
    let mut det = CpuDetector::load(&model, &opts).expect("load model");
    let load_ms = load.elapsed().as_secs_f64() * 1000.0;
    let outputs: Vec<RawTensor> = det.infer(&input).expect("inference");
    let decoder = Decoder::new(
        ModelFamily::Yolox,
        DecodeParams::new(spec.width, spec.height),
        Labels::coco(),
    );
    let found = decoder.decode(&outputs, &lb).expect("decode").len();
    assert!(found >= 2, "zidane.jpg should give detections, got {found}");
    put(
        "yolox_decode_nms",
        time(runs, || decoder.decode(&outputs, &lb).expect("decode")),
    );
    put(
        "snapshot_encode_640",
        time(runs, || {
            encode_snapshot(&rgb, SNAPSHOT_MAX_WIDTH, SNAPSHOT_QUALITY).expect("encode")
        }),
    );
    let report = json!({
        "bench": "pipeline",
        "frame": "1280x720",
        "motion_image": format!("{}x{}", still.width, still.height),
        "runs": runs,
        "cpus": support::cpus(),
        "profile": support::profile(),
        "model_load_ms_1_thread": support::round3(load_ms),
        "steps_ms": steps,
    });
    println!("{report}");
}

/// One frame at 15 fps.
const FRAME: Duration = Duration::from_micros(66_667);

fn camera(format: &str, device: &str) -> CameraConfig {
    CameraConfig {
        id: "bench".into(),
        device: device.into(),
        width: 1280,
        height: 720,
        fps: 15,
        format: format.into(),
        ..CameraConfig::default()
    }
}

/// A 1280x720 synthetic frame with the shapes in view.
fn synthetic(format: &str, device: &str) -> Frame {
    TestSource::new(&camera(format, device)).render(10)
}

/// A motion detector past its warm-up on `still`.
fn warmed_motion(still: &GrayImage) -> MotionDetector {
    let cfg = MotionConfig::default();
    let mut m = MotionDetector::new(&cfg);
    for i in 0..=cfg.warmup_frames {
        m.detect(still, FRAME * i).expect("motion warm-up");
    }
    m
}
