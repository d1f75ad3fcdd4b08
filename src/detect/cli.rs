//! `gozcu detect`: the daemon's preprocessing, backend and decoder on image files.

use std::path::PathBuf;

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
    /// CPU threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Images to run on.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

/// Returns the process exit code.
pub fn detect_main(_args: &DetectArgs) -> i32 {
    eprintln!("gozcu detect: not built yet");
    1
}
