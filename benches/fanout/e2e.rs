//! `e2e` mode: frame captured -> event message received on a WebSocket client, through the
//! real daemon binary with a replay camera (PETS 2009) and the CPU detector.
//!
//! The capture time of the frame behind a message is not in the protocol; the store writer
//! logs it at debug level when it publishes the message (`event published seq=..
//! captured_unix_us=.. inference_ms=.. capture_to_publish_ms=..`, src/daemon/writer.rs).
//! The client records when each message arrives; both clocks are this machine's wall clock.
//! Per message: latency = received - captured; the figure the target is about is latency
//! minus that frame's inference time. Messages made by time passing (an end after
//! `end_after_s`) carry no frame and are not counted.

use crate::stats::{Summary, round, spread};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

#[derive(clap::Args, Debug, Clone)]
pub struct E2eArgs {
    /// The daemon binary.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/gozcu"))]
    gozcu: PathBuf,
    /// Fresh daemon runs.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Seconds of events recorded per run (after the first message arrives).
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Camera fps (PETS 2009 was recorded at 7).
    #[arg(long, default_value_t = 7)]
    fps: u32,
    /// Detections per second; below 1 / inference time the worker is idle when a frame
    /// arrives, as on a board whose NPU keeps up.
    #[arg(long, default_value_t = 2.0)]
    detect_fps: f64,
    /// detector.threads
    #[arg(long, default_value_t = 1)]
    threads: u32,
    /// Writes every run's figures here (JSON lines).
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One message: what the daemon logged and when the client got it.
#[derive(Debug, Clone, Copy)]
struct Sample {
    total_ms: f64,
    inference_ms: f64,
    capture_to_publish_ms: f64,
    wait_ms: f64,
    preprocess_ms: f64,
    store_ms: f64,
}

pub fn main(args: E2eArgs) -> i32 {
    let shared = crate::shared_dir();
    let model = shared.join("models/yolox_nano.onnx");
    let frames = shared.join("testdata/pets2009/img");
    if !model.is_file() || !frames.is_dir() {
        eprintln!(
            "e2e: model or PETS 2009 frames not found under {} (set GOZCU_SHARED)",
            shared.display()
        );
        return 1;
    }
    if !args.gozcu.is_file() {
        eprintln!(
            "e2e: daemon binary {} not found; build it with `cargo build --release --bin gozcu`",
            args.gozcu.display()
        );
        return 1;
    }
    eprintln!("e2e: load average {}", crate::load_average());
    let mut runs = Vec::new();
    let mut all = Vec::new();
    let mut out = args
        .json
        .as_ref()
        .and_then(|p| std::fs::File::create(p).ok());
    for repeat in 0..args.repeats {
        let load = crate::load_average();
        match run_once(&args, &model, &frames) {
            Ok(samples) => {
                let mut run = summarize(&samples);
                run["repeat"] = json!(repeat);
                run["load_before"] = json!(load);
                eprintln!("{run}");
                if let Some(f) = out.as_mut() {
                    use std::io::Write;
                    let _ = writeln!(f, "{run}");
                }
                runs.push(run);
                all.extend(samples);
            }
            Err(e) => {
                eprintln!("e2e: run {repeat} failed: {e}");
                return 1;
            }
        }
    }
    println!("{}", table(&runs, &all));
    println!("load average at the end: {}", crate::load_average());
    0
}

fn run_once(args: &E2eArgs, model: &Path, frames: &Path) -> Result<Vec<Sample>, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let config = dir.path().join("gozcu.toml");
    let body = format!(
        r#"[server]
listen = ["127.0.0.1:{port}"]
[storage]
dir = "{data}"
[detector]
backend = "cpu"
model = "{model}"
threads = {threads}
[events]
end_after_s = 2
update_interval_s = 1
[[cameras]]
id = "street"
name = "Street"
device = "replay:{frames}"
width = 768
height = 576
fps = {fps}
detect_fps = {detect_fps}
"#,
        data = dir.path().join("data").display(),
        model = model.display(),
        frames = frames.display(),
        threads = args.threads,
        fps = args.fps,
        detect_fps = args.detect_fps,
    );
    std::fs::write(&config, body).map_err(|e| e.to_string())?;
    let log = dir.path().join("daemon.log");
    let mut child = Command::new(&args.gozcu)
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn,gozcu=info,gozcu::daemon::writer=debug")
        .env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.gozcu.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let received = runtime.block_on(receive(port, Duration::from_secs(args.seconds)));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let _ = child.wait();
    let received = received?;
    let text = std::fs::read_to_string(&log).map_err(|e| e.to_string())?;
    let logged = parse_log(&text);
    let samples: Vec<Sample> = received
        .iter()
        .filter_map(|(seq, recv_us)| {
            let l = logged.get(seq)?;
            Some(Sample {
                total_ms: (*recv_us as f64 - l.captured_us as f64) / 1000.0,
                inference_ms: l.inference_ms?,
                capture_to_publish_ms: l.capture_to_publish_ms,
                wait_ms: l.wait_ms,
                preprocess_ms: l.preprocess_ms.unwrap_or(0.0),
                store_ms: l.store_ms,
            })
        })
        .collect();
    if samples.is_empty() {
        return Err(format!(
            "no event message with a logged frame ({} received); daemon log:\n{}",
            received.len(),
            text.lines().rev().take(20).collect::<Vec<_>>().join("\n")
        ));
    }
    Ok(samples)
}

/// Connects (retrying while the daemon starts), then records (seq, receive time in µs) of
/// every event message for `span` after the first one.
async fn receive(port: u16, span: Duration) -> Result<Vec<(i64, u64)>, String> {
    let url = format!("ws://127.0.0.1:{port}/api/ws/events");
    let start = Instant::now();
    let mut ws = loop {
        match tokio_tungstenite::connect_async(url.as_str()).await {
            Ok((ws, _)) => break ws,
            Err(e) if start.elapsed() > Duration::from_secs(60) => {
                return Err(format!("daemon not reachable at {url} within 60 s: {e}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let mut got = Vec::new();
    let mut end = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let msg = match tokio::time::timeout_at(end, ws.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(_) => return Err("the daemon closed the WebSocket".into()),
            Err(_) => break,
        };
        let now = crate::now_us();
        let Message::Text(t) = msg else { continue };
        let Ok(v) = serde_json::from_str::<Value>(&t) else {
            continue;
        };
        if v["type"] == "event" {
            if got.is_empty() {
                end = tokio::time::Instant::now() + span;
            }
            if let Some(seq) = v["data"]["seq"].as_i64() {
                got.push((seq, now));
            }
        }
    }
    if got.is_empty() {
        return Err("no event message within 120 s of connecting".into());
    }
    Ok(got)
}

#[derive(Debug, Clone, Copy)]
struct Logged {
    captured_us: u64,
    inference_ms: Option<f64>,
    preprocess_ms: Option<f64>,
    wait_ms: f64,
    store_ms: f64,
    capture_to_publish_ms: f64,
}

/// seq -> the writer's `event published` debug line.
fn parse_log(text: &str) -> HashMap<i64, Logged> {
    let field = |line: &str, key: &str| -> Option<String> {
        let pat = format!(" {key}=");
        let at = line.find(&pat)? + pat.len();
        let rest = &line[at..];
        let end = rest.find(' ').unwrap_or(rest.len());
        Some(rest[..end].trim_matches('"').to_string())
    };
    text.lines()
        .filter(|l| l.contains("event published"))
        .filter_map(|l| {
            let seq = field(l, "seq")?.parse().ok()?;
            Some((
                seq,
                Logged {
                    captured_us: field(l, "captured_unix_us")?.parse().ok()?,
                    inference_ms: field(l, "inference_ms").and_then(|v| v.parse().ok()),
                    preprocess_ms: field(l, "preprocess_ms").and_then(|v| v.parse().ok()),
                    wait_ms: field(l, "wait_ms")?.parse().ok()?,
                    store_ms: field(l, "store_ms")?.parse().ok()?,
                    capture_to_publish_ms: field(l, "capture_to_publish_ms")?.parse().ok()?,
                },
            ))
        })
        .collect()
}

/// Rows of the report: the totals, then the parts of a message's way in pipeline order
/// (inference, wait, preprocess, worker, store and publish_to_client add up to `total`).
const PARTS: [(&str, &str); 9] = [
    ("total", "capture -> client"),
    ("minus_inference", "capture -> client, minus inference"),
    ("inference", "inference (tract, CPU)"),
    ("wait", "part: capture -> worker takes the frame"),
    ("preprocess", "part: letterbox + tensor (detector)"),
    (
        "worker",
        "part: decode, motion, NMS, tracker, snapshot JPEG, to writer",
    ),
    ("store", "part: snapshot file + SQLite commit"),
    ("publish_to_client", "part: published -> client"),
    ("capture_to_publish", "capture -> published"),
];

fn part(key: &str, s: &Sample) -> f64 {
    match key {
        "total" => s.total_ms,
        "minus_inference" => s.total_ms - s.inference_ms,
        "inference" => s.inference_ms,
        "wait" => s.wait_ms,
        "preprocess" => s.preprocess_ms,
        "worker" => {
            s.capture_to_publish_ms - s.wait_ms - s.preprocess_ms - s.inference_ms - s.store_ms
        }
        "store" => s.store_ms,
        "publish_to_client" => s.total_ms - s.capture_to_publish_ms,
        _ => s.capture_to_publish_ms,
    }
}

fn summarize(samples: &[Sample]) -> Value {
    let mut out = json!({"messages": samples.len()});
    for (key, _) in PARTS {
        let us: Vec<u32> = samples
            .iter()
            .map(|s| (part(key, s) * 1000.0).max(0.0) as u32)
            .collect();
        let s = Summary::of(&us);
        out[key] = json!({"p50_ms": round(s.p50, 2), "p99_ms": round(s.p99, 2), "max_ms": round(s.max, 2)});
    }
    out
}

/// Median (min-max) over the runs, and the percentiles of all runs' messages pooled.
fn table(runs: &[Value], all: &[Sample]) -> String {
    let col =
        |a: &str, b: &str| -> Vec<f64> { runs.iter().filter_map(|r| r[a][b].as_f64()).collect() };
    let pooled = summarize(all);
    let mut out = String::from(
        "| measure | p50 ms, median (min-max) of runs | p99 ms, median (min-max) | max ms | pooled p50 / p99 |\n\
         |---|---|---|---|---|\n",
    );
    for (key, name) in PARTS {
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} / {} |\n",
            spread(&col(key, "p50_ms"), 1),
            spread(&col(key, "p99_ms"), 1),
            spread(&col(key, "max_ms"), 1),
            pooled[key]["p50_ms"],
            pooled[key]["p99_ms"],
        ));
    }
    out.push_str(&format!(
        "\n{} runs, {} messages with a frame in all\n",
        runs.len(),
        all.len()
    ));
    out
}
