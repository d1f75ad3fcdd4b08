//! Helpers for the end-to-end tests: the real `gozcu` binary on a temporary config, a raw
//! HTTP client and a WebSocket client. Nothing here fakes the daemon.
#![allow(dead_code)]

use futures_util::StreamExt;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// The shared test data folder (`GOZCU_SHARED`, else `../shared` beside the crate). Fails
/// under CI when missing; elsewhere returns None so the caller can skip with a note.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("GOZCU_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    if dir.join("models/yolox_nano.onnx").exists() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "shared test data missing at {} (set GOZCU_SHARED)",
            dir.display()
        );
    }
    eprintln!(
        "note: shared test data not found at {}; test skipped",
        dir.display()
    );
    None
}

/// The everyday test daemon: one synthetic camera, motion events only (no model), short
/// event timings so a visit ends within seconds. `{port}` and `{dir}` are filled by [`start`].
pub const MOTION_ONLY: &str = r#"
[server]
listen = ["127.0.0.1:{port}"]
[storage]
dir = "{dir}/data"
[detector]
backend = "none"
[events]
end_after_s = 2
update_interval_s = 1
[[cameras]]
id = "cam-1"
name = "Front door"
device = "testsrc:"
width = 320
height = 240
fps = 10
detect_fps = 5
"#;

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

pub struct Daemon {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub log: PathBuf,
}

/// Writes `<dir>/gozcu.toml` from `body` (with `{port}` and `{dir}` substituted) and starts
/// `gozcu run` on it.
pub fn start(body: &str) -> Daemon {
    start_logging(body, "gozcu=debug,warn")
}

pub fn write_config(path: &Path, body: &str, port: u16, dir: &Path) {
    let text = body
        .replace("{port}", &port.to_string())
        .replace("{dir}", &dir.display().to_string());
    std::fs::write(path, text).unwrap();
}

pub fn spawn(dir: tempfile::TempDir, port: u16, config: PathBuf) -> Daemon {
    spawn_logging(dir, port, config, "gozcu=debug,warn")
}

/// [`start`] with another `RUST_LOG` filter (e.g. info level for a long run, whose debug
/// log would grow large).
pub fn start_logging(body: &str, rust_log: &str) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("gozcu.toml");
    write_config(&config, body, port, dir.path());
    spawn_logging(dir, port, config, rust_log)
}

pub fn spawn_logging(dir: tempfile::TempDir, port: u16, config: PathBuf, rust_log: &str) -> Daemon {
    let log = dir.path().join("daemon.log");
    let child = Command::new(env!("CARGO_BIN_EXE_gozcu"))
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", rust_log)
        .env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Daemon {
        child,
        port,
        dir,
        config,
        log,
    }
}

impl Daemon {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET `path`; (status, body).
    pub fn get(&self, path: &str) -> Option<(u16, Vec<u8>)> {
        http_get(self.port, path)
    }

    /// The value of one sample of `GET /metrics` (OpenMetrics text), by its exact name and
    /// labels as rendered, e.g. `gozcu_camera_fps{camera="cam-1"}`.
    pub fn metric(&self, sample: &str) -> Option<f64> {
        let (code, body) = self.get("/metrics")?;
        assert_eq!(code, 200, "/metrics answered {code}");
        let text = String::from_utf8_lossy(&body).into_owned();
        text.lines().find_map(|line| {
            let value = line.strip_prefix(sample)?.strip_prefix(' ')?;
            value.split_whitespace().next()?.parse().ok()
        })
    }

    pub fn health(&self) -> Option<Value> {
        let (code, body) = self.get("/api/health")?;
        (code == 200).then(|| serde_json::from_slice(&body).ok())?
    }

    /// Waits until the health JSON satisfies `pred`; panics with the log on timeout.
    pub fn wait_health(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let end = Instant::now() + timeout;
        let mut last = None;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "daemon exited ({status}) while waiting for {what}\n{}",
                    self.log_text()
                );
            }
            if let Some(h) = self.health() {
                if pred(&h) {
                    return h;
                }
                last = Some(h);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "timed out waiting for {what}; last health: {last:?}\nlog:\n{}",
            self.log_text()
        );
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn stop(&mut self) -> i32 {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!(
                    "daemon did not stop within 15 s of SIGTERM\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn http_get(port: u16, path: &str) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    let mut body = buf[head_end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Some((code, body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
    out
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn ws_connect(port: u16, query: &str) -> Ws {
    let url = format!("ws://127.0.0.1:{port}/api/ws/events{query}");
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// Next JSON text message (skipping pongs); None on close or timeout.
pub async fn next_json(ws: &mut Ws, timeout: Duration) -> Option<Value> {
    let end = tokio::time::Instant::now() + timeout;
    loop {
        let msg = tokio::time::timeout_at(end, ws.next()).await.ok()??.ok()?;
        match msg {
            Message::Text(t) => {
                if let Ok(v) = serde_json::from_str::<Value>(&t) {
                    return Some(v);
                }
            }
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

/// Collects event messages until `done` says so or `timeout` passes.
pub async fn collect_events(
    ws: &mut Ws,
    timeout: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let end = tokio::time::Instant::now() + timeout;
    let mut events = Vec::new();
    while tokio::time::Instant::now() < end && !done(&events) {
        let left = end - tokio::time::Instant::now();
        match next_json(ws, left).await {
            Some(v) if v["type"] == "event" => events.push(v["data"].clone()),
            Some(_) => {}
            None => break,
        }
    }
    events
}
