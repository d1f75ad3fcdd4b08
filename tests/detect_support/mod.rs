//! Shared helpers for the detection integration tests: locating ../shared, reading golden
//! files, matching detections.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The shared folder (env GOZCU_SHARED, else <crate>/../shared) when it holds the model and
/// test data. Missing: panics under CI (tests must not silently pass there), else None.
pub fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("GOZCU_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let ok = dir.join("models/yolox_nano.onnx").is_file() && dir.join("testdata").is_dir();
    if ok {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "shared test data not found at {} (set GOZCU_SHARED); required under CI",
            dir.display()
        );
    }
    eprintln!(
        "note: skipping: shared model/test data not found at {} (set GOZCU_SHARED)",
        dir.display()
    );
    None
}

pub fn model(shared: &Path) -> PathBuf {
    shared.join("models/yolox_nano.onnx")
}

/// Sorted *.jpg files of a folder.
pub fn jpgs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    v.sort();
    v
}

/// A detection as in the golden files.
#[derive(Debug, Clone)]
pub struct Det {
    pub class_id: u64,
    pub label: String,
    pub score: f64,
    pub bbox: [f64; 4],
}

/// Parses JSON lines into (image name, width, height, detections).
pub fn parse_jsonl(text: &str) -> Vec<(String, u64, u64, Vec<Det>)> {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let dets = v["detections"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    let b: Vec<f64> = d["box"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_f64().unwrap())
                        .collect();
                    Det {
                        class_id: d["class_id"].as_u64().unwrap(),
                        label: d["label"].as_str().unwrap().to_string(),
                        score: d["score"].as_f64().unwrap(),
                        bbox: [b[0], b[1], b[2], b[3]],
                    }
                })
                .collect();
            (
                v["image"].as_str().unwrap().to_string(),
                v["width"].as_u64().unwrap(),
                v["height"].as_u64().unwrap(),
                dets,
            )
        })
        .collect()
}

pub fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if u > 0.0 { inter / u } else { 0.0 }
}

/// Every detection in `from` scoring above `above` has a partner in `to`: same class,
/// IoU >= 0.9, |score difference| <= 0.02. Returns descriptions of the ones without.
pub fn unmatched(from: &[Det], to: &[Det], above: f64) -> Vec<String> {
    from.iter()
        .filter(|d| d.score > above)
        .filter(|d| {
            !to.iter().any(|o| {
                o.class_id == d.class_id
                    && iou(&o.bbox, &d.bbox) >= 0.9
                    && (o.score - d.score).abs() <= 0.02
            })
        })
        .map(|d| format!("{} {:.4} {:?}", d.label, d.score, d.bbox))
        .collect()
}

/// Compares our records with golden ones image by image (both directions, above 0.3).
/// Returns a list of problems (empty = match).
pub fn compare_with_golden(
    ours: &[(String, u64, u64, Vec<Det>)],
    golden: &[(String, u64, u64, Vec<Det>)],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, w, h, dets) in ours {
        let Some((_, gw, gh, gdets)) = golden.iter().find(|g| &g.0 == name) else {
            problems.push(format!("{name}: not in the golden file"));
            continue;
        };
        if (w, h) != (gw, gh) {
            problems.push(format!("{name}: size {w}x{h}, golden {gw}x{gh}"));
        }
        for m in unmatched(gdets, dets, 0.3) {
            problems.push(format!("{name}: golden {m} missing from ours"));
        }
        for m in unmatched(dets, gdets, 0.3) {
            problems.push(format!("{name}: ours {m} not in golden"));
        }
    }
    problems
}
