//! Accuracy: person AP50 on the PETS 2009 sequence through the library path the daemon uses
//! (load_detector -> DetectorPool), scored by the reference scorer; within 0.01 of the
//! reference pipeline's 0.923. Also checks the frames against the golden detections.

mod detect_support;

use detect_support::*;
use gozcu::config::DetectorConfig;
use gozcu::detect::cli::{record, write_json_line};
use gozcu::detect::load_detector;
use gozcu::detect::pool::DetectInput;
use gozcu::vision::letterbox::load_image;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

const REFERENCE_AP50: f64 = 0.923;

#[test]
fn pets2009_person_ap50_matches_reference() {
    let Some(shared) = shared() else { return };
    let data = shared.join("testdata/pets2009");
    let cfg = DetectorConfig {
        model: model(&shared),
        min_score: 0.25,
        ..DetectorConfig::default()
    };
    let (pool, info) = load_detector(&cfg).unwrap();
    assert_eq!(
        (info.backend.as_str(), info.model.as_str()),
        ("cpu", "yolox_nano.onnx")
    );

    let frames = jpgs(&data.join("img"));
    assert_eq!(frames.len(), 107);
    let mut jsonl = Vec::new();
    for f in &frames {
        let img = load_image(f).unwrap();
        let (w, h) = (img.width, img.height);
        let out = pool
            .detect_wait(DetectInput::Image(Arc::new(img)), Duration::from_secs(60))
            .unwrap();
        write_json_line(&mut jsonl, &record(f, w, h, &out)).unwrap();
    }
    let text = String::from_utf8(jsonl).unwrap();

    let golden = parse_jsonl(
        &std::fs::read_to_string(shared.join("testdata/golden/yolox_nano_416_pets2009.jsonl"))
            .unwrap(),
    );
    // JPEG decoding differs slightly from the reference's libjpeg-turbo (IDCT rounding), and
    // these frames hold many small (~17x33 px) people, where a 1 px shift already drops IoU
    // below 0.9: allow under 1% strict-match misses here (0.5% measured); AP50 below is the real criterion.
    let ours = parse_jsonl(&text);
    let problems = compare_with_golden(&ours, &golden);
    let compared: usize = golden
        .iter()
        .chain(ours.iter())
        .map(|r| r.3.iter().filter(|d| d.score > 0.3).count())
        .sum();
    eprintln!(
        "pets2009: {} strict-match misses of {compared}",
        problems.len()
    );
    assert!(
        problems.len() * 100 <= compared,
        "more than 1% of detections differ from golden:\n{}",
        problems.join("\n")
    );

    let dir = tempfile::tempdir().unwrap();
    let det = dir.path().join("det.jsonl");
    std::fs::write(&det, &text).unwrap();
    let out = Command::new("python3")
        .arg(shared.join("reference/score_persons.py"))
        .arg("--gt")
        .arg(data.join("gt.txt"))
        .arg("--det")
        .arg(&det)
        .output()
        .expect("python3 is needed to run the reference scorer");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ap50 = v["ap50"].as_f64().unwrap();
    eprintln!("pets2009: {v}");
    assert_eq!(v["images"].as_u64(), Some(107));
    assert!(
        (ap50 - REFERENCE_AP50).abs() <= 0.01,
        "AP50 {ap50} is not within 0.01 of the reference {REFERENCE_AP50}"
    );
}
