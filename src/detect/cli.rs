//! `gozcu detect`: the daemon's preprocessing, backend and decoder on image files.
//!
//! It goes through the same `load_detector` + `DetectorPool` path as the daemon, so what it
//! prints is what the daemon would see. `--json` prints one line per image in the shape of
//! the reference pipeline's golden files (same key order and separators).

use super::pool::{DetectInput, DetectOutput};
use super::{Detection, load_detector};
use crate::config::{Backend, DetectorConfig, ModelFamily};
use crate::vision::letterbox::load_image;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct DetectArgs {
    /// Model file (ONNX for the CPU backend).
    #[arg(long)]
    pub model: PathBuf,
    /// Model family: yolox | yolov8 | yolov5.
    #[arg(long, default_value = "yolox")]
    pub family: String,
    /// Print one JSON line per image (the golden-file shape).
    #[arg(long)]
    pub json: bool,
    /// Lowest score printed.
    #[arg(long, default_value_t = 0.25)]
    pub min_score: f32,
    /// CPU threads (compare the printed inference times to choose `detector.threads`).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Backend: auto | cpu | rknn.
    #[arg(long, default_value = "auto")]
    pub backend: String,
    /// Class names, one per line (default: the 80 COCO names).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// IoU above which same-class boxes are merged.
    #[arg(long, default_value_t = 0.45)]
    pub nms_iou: f32,
    /// Images to run on.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

/// One output line (field order is the golden files').
#[derive(Debug, Serialize)]
pub struct ImageRecord {
    pub image: String,
    pub width: u32,
    pub height: u32,
    pub detections: Vec<DetectionRecord>,
}

#[derive(Debug, Serialize)]
pub struct DetectionRecord {
    pub class_id: usize,
    pub label: String,
    /// Rounded to 4 decimals.
    pub score: f64,
    /// [x1, y1, x2, y2] in source pixels, rounded to 1 decimal.
    #[serde(rename = "box")]
    pub bbox: [f64; 4],
}

impl DetectionRecord {
    pub fn from_detection(d: &Detection) -> Self {
        let round = |v: f32, k: f64| (f64::from(v) * k).round() / k;
        Self {
            class_id: d.class_id,
            label: d.label.clone(),
            score: round(d.score, 1e4),
            bbox: d.bbox.map(|v| round(v, 10.0)),
        }
    }
}

/// Builds the detector settings `gozcu detect` runs with.
pub fn detector_config(args: &DetectArgs) -> Result<DetectorConfig, String> {
    let family = match args.family.to_ascii_lowercase().as_str() {
        "yolox" => ModelFamily::Yolox,
        "yolov8" | "yolo11" => ModelFamily::Yolov8,
        "yolov5" => ModelFamily::Yolov5,
        other => {
            return Err(format!(
                "unknown --family {other:?}; use yolox, yolov8 or yolov5"
            ));
        }
    };
    let backend = match args.backend.to_ascii_lowercase().as_str() {
        "auto" => Backend::Auto,
        "cpu" => Backend::Cpu,
        "rknn" => Backend::Rknn,
        other => {
            return Err(format!(
                "unknown --backend {other:?}; use auto, cpu or rknn"
            ));
        }
    };
    if !(0.0..=1.0).contains(&args.min_score) {
        return Err(format!("--min-score {} is outside 0..1", args.min_score));
    }
    Ok(DetectorConfig {
        backend,
        model: args.model.clone(),
        family,
        labels_file: args.labels.clone().unwrap_or_default(),
        min_score: args.min_score,
        nms_iou: args.nms_iou,
        threads: args.threads.max(1),
        ..DetectorConfig::default()
    })
}

/// Returns the process exit code: 0, or 1 when the model or any image failed, 2 for bad
/// arguments.
pub fn detect_main(args: &DetectArgs) -> i32 {
    let cfg = match detector_config(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gozcu detect: {e}");
            return 2;
        }
    };
    let (pool, info) = match load_detector(&cfg) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("gozcu detect: {e}");
            return 1;
        }
    };
    if !args.json {
        println!(
            "model {} on {} ({} threads), input {}x{}",
            info.model,
            info.backend,
            cfg.threads,
            pool.input_spec().width,
            pool.input_spec().height
        );
    }
    let mut failed = 0;
    let stdout = std::io::stdout();
    for path in &args.images {
        let result = load_image(path).map_err(|e| e.to_string()).and_then(|img| {
            let (w, h) = (img.width, img.height);
            pool.detect_wait(DetectInput::Image(Arc::new(img)), Duration::from_secs(300))
                .map(|out| (w, h, out))
                .map_err(|e| format!("{}: {e}", path.display()))
        });
        let (w, h, out) = match result {
            Ok(r) => r,
            Err(e) => {
                eprintln!("gozcu detect: {e}");
                failed += 1;
                continue;
            }
        };
        let mut lock = stdout.lock();
        let written = if args.json {
            write_json_line(&mut lock, &record(path, w, h, &out))
        } else {
            write_table(&mut lock, path, w, h, &out)
        };
        if written.is_err() {
            // stdout closed (e.g. piped into `head`): nothing more to do.
            return if failed > 0 { 1 } else { 0 };
        }
    }
    if failed > 0 {
        eprintln!(
            "gozcu detect: {failed} of {} images failed",
            args.images.len()
        );
        1
    } else {
        0
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// The JSON record for one image.
pub fn record(path: &Path, width: u32, height: u32, out: &DetectOutput) -> ImageRecord {
    ImageRecord {
        image: file_name(path),
        width,
        height,
        detections: out
            .detections
            .iter()
            .map(DetectionRecord::from_detection)
            .collect(),
    }
}

/// Writes `rec` as one line with Python's `json.dumps` separators (", " and ": "), so output
/// compares line for line with the reference's.
pub fn write_json_line(w: &mut impl Write, rec: &ImageRecord) -> std::io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *w, PyFormatter);
    rec.serialize(&mut ser).map_err(std::io::Error::other)?;
    w.write_all(b"\n")?;
    w.flush()
}

fn write_table(
    w: &mut impl Write,
    path: &Path,
    width: u32,
    height: u32,
    out: &DetectOutput,
) -> std::io::Result<()> {
    writeln!(
        w,
        "{} {width}x{height}: {} detection(s), inference {:.1} ms, preprocessing {:.1} ms",
        file_name(path),
        out.detections.len(),
        out.inference_ms,
        out.preprocess_ms
    )?;
    for d in &out.detections {
        let b = d.bbox;
        writeln!(
            w,
            "  {:<16} {:.4}  [{:7.1}, {:7.1}, {:7.1}, {:7.1}]",
            d.label, d.score, b[0], b[1], b[2], b[3]
        )?;
    }
    w.flush()
}

struct PyFormatter;

impl serde_json::ser::Formatter for PyFormatter {
    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_matches_reference_format() {
        let out = DetectOutput {
            detections: vec![Detection {
                class_id: 62,
                label: "tv".into(),
                score: 0.895_04,
                bbox: [6.66, 166.26, 155.5, -5.14],
            }],
            preprocess_ms: 0.0,
            inference_ms: 0.0,
            decode_ms: 0.0,
            worker: 0,
        };
        let mut buf = Vec::new();
        write_json_line(&mut buf, &record(Path::new("/a/b/x.jpg"), 640, 426, &out)).unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "{\"image\": \"x.jpg\", \"width\": 640, \"height\": 426, \"detections\": \
             [{\"class_id\": 62, \"label\": \"tv\", \"score\": 0.895, \
             \"box\": [6.7, 166.3, 155.5, -5.1]}]}\n"
        );
    }

    #[test]
    fn bad_family_is_named() {
        let args = DetectArgs {
            model: "m.onnx".into(),
            family: "yolov9".into(),
            json: true,
            min_score: 0.25,
            threads: 1,
            backend: "auto".into(),
            labels: None,
            nms_iou: 0.45,
            images: vec![],
        };
        assert_eq!(
            detector_config(&args).unwrap_err(),
            "unknown --family \"yolov9\"; use yolox, yolov8 or yolov5"
        );
    }
}
