//! Golden test: the real `gozcu detect --json` command on the shared images and negatives
//! reproduces the reference pipeline's detections (ONNX Runtime + ref_detect.py).

mod detect_support;

use detect_support::*;
use std::process::Command;

#[test]
fn cli_matches_golden_on_images_and_negatives() {
    let Some(shared) = shared() else { return };
    let data = shared.join("testdata");
    let mut images = jpgs(&data.join("images"));
    let negatives = jpgs(&data.join("negatives"));
    assert_eq!(images.len(), 66, "expected 64 COCO photos + bus + zidane");
    assert_eq!(negatives.len(), 6);
    images.extend(negatives.iter().cloned());

    let out = Command::new(env!("CARGO_BIN_EXE_gozcu"))
        .arg("detect")
        .arg("--model")
        .arg(model(&shared))
        .args(["--json", "--threads", "2"])
        .args(&images)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    let stdout = String::from_utf8(out.stdout).unwrap();
    // Same separators as Python's json.dumps, so lines diff cleanly against the golden file.
    assert!(stdout.starts_with("{\"image\": \""), "{stdout}");

    let ours = parse_jsonl(&stdout);
    assert_eq!(ours.len(), images.len(), "one line per image");
    let golden = parse_jsonl(
        &std::fs::read_to_string(data.join("golden/yolox_nano_416_images.jsonl")).unwrap(),
    );
    let problems = compare_with_golden(&ours, &golden);
    assert!(
        problems.is_empty(),
        "differences from golden:\n{}",
        problems.join("\n")
    );

    // Every score printed is >= the default --min-score 0.25, best first.
    for (name, _, _, dets) in &ours {
        assert!(dets.iter().all(|d| d.score >= 0.25), "{name}");
        assert!(dets.windows(2).all(|p| p[0].score >= p[1].score), "{name}");
    }
    // bus.jpg: the bus and its 4 people (the one cut by the left edge scores ~0.28).
    let bus = &ours.iter().find(|r| r.0 == "bus.jpg").unwrap().3;
    assert_eq!(
        bus.iter()
            .filter(|d| d.label == "person" && d.score > 0.5)
            .count(),
        3
    );
    assert_eq!(bus.iter().filter(|d| d.label == "person").count(), 4);
    assert!(bus.iter().any(|d| d.label == "bus" && d.score > 0.5));

    // Negatives: no person at all (>= 0.25).
    for n in &negatives {
        let name = n.file_name().unwrap().to_str().unwrap();
        let rec = ours.iter().find(|r| r.0 == name).unwrap();
        let persons: Vec<&Det> = rec.3.iter().filter(|d| d.class_id == 0).collect();
        assert!(persons.is_empty(), "{name}: false person {persons:?}");
    }
}

#[test]
fn cli_table_output_and_min_score() {
    let Some(shared) = shared() else { return };
    let img = shared.join("testdata/images/zidane.jpg");
    let out = Command::new(env!("CARGO_BIN_EXE_gozcu"))
        .arg("detect")
        .arg("--model")
        .arg(model(&shared))
        .args(["--min-score", "0.6", "--threads", "1"])
        .arg(&img)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("model yolox_nano.onnx on cpu (1 threads), input 416x416"),
        "{text}"
    );
    assert!(lines[1].starts_with("zidane.jpg 1280x720: "), "{text}");
    let persons = lines
        .iter()
        .filter(|l| l.trim_start().starts_with("person "))
        .count();
    assert_eq!(persons, 2, "{text}");
    // Nothing below --min-score is printed.
    for l in &lines[2..] {
        let score: f64 = l.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(score >= 0.6, "{l}");
    }
}
