//! Helpers for the reliability suites (`tests/reliability_*.rs`): replayed cameras that make a
//! burst of motion events every second, a WebSocket client that records every event message
//! it is sent, the event log read straight from the SQLite file, and tmpfs / read-only bind
//! mounts for storage faults. Used together with `daemon_common` (the real `gozcu` binary).
#![allow(dead_code)]

mod mounts;
// Not every suite uses the mounts.
#[allow(unused_imports)]
pub use mounts::*;

use futures_util::StreamExt;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Frame size and rate of the burst cameras.
pub const BURST_W: usize = 160;
pub const BURST_H: usize = 120;
pub const BURST_FPS: u32 = 10;

/// Writes `<dir>/burst-<n>.mjpeg` for `n` in 1..=cameras (every camera needs its own device)
/// and returns their paths. One loop is one second: four empty frames, then a bright square
/// that jumps between the left and right half of the scene, growing, for six frames (never
/// where it just was, so the background never learns it). With `events.end_after_s` well
/// under 0.4 s
/// every loop is one motion event: a start, an update with a better snapshot on almost every
/// frame, and an end. The empty frames come first so the motion warm-up learns the scene.
pub fn burst_videos(dir: &Path, cameras: usize) -> Vec<PathBuf> {
    let mut video = Vec::new();
    for i in 0..10usize {
        let mut rgb = vec![0u8; BURST_W * BURST_H * 3];
        for (p, px) in rgb.chunks_exact_mut(3).enumerate() {
            let (x, y) = (p % BURST_W, p / BURST_W);
            // A faint checker: a real scene has texture.
            let v = if (x / 20 + y / 20) % 2 == 0 { 40 } else { 52 };
            px.copy_from_slice(&[v, v, v]);
        }
        if i >= 4 {
            // Growing: every frame is a better frame (more area moving).
            let k = i - 4;
            let side = 20 + 10 * k;
            let x0 = if k % 2 == 0 { 4 } else { 84 };
            let y0 = (BURST_H - side) / 2;
            for y in y0..y0 + side {
                for x in x0..(x0 + side).min(BURST_W) {
                    let p = (y * BURST_W + x) * 3;
                    rgb[p..p + 3].copy_from_slice(&[250, 240, 230]);
                }
            }
        }
        let encoder = jpeg_encoder::Encoder::new(&mut video, 85);
        encoder
            .encode(
                &rgb,
                BURST_W as u16,
                BURST_H as u16,
                jpeg_encoder::ColorType::Rgb,
            )
            .unwrap();
    }
    std::fs::create_dir_all(dir).unwrap();
    (1..=cameras)
        .map(|n| {
            let path = dir.join(format!("burst-{n}.mjpeg"));
            std::fs::write(&path, &video).unwrap();
            path
        })
        .collect()
}

/// A daemon config (with `{port}` left for `daemon_common::start`) running one burst camera
/// per video, motion events only, storage in `storage`. `extra` is appended verbatim.
pub fn burst_config(storage: &Path, videos: &[PathBuf], extra: &str) -> String {
    let mut body = format!(
        r#"
[server]
listen = ["127.0.0.1:{{port}}"]
[storage]
dir = "{storage}"
[detector]
backend = "none"
[motion]
warmup_frames = 3
[events]
end_after_s = 0.25
update_interval_s = 0.05
{extra}
"#,
        storage = storage.display(),
    );
    for (i, v) in videos.iter().enumerate() {
        body.push_str(&format!(
            "\n[[cameras]]\nid = \"cam-{n}\"\nname = \"Burst {n}\"\ndevice = \"replay:{v}\"\n\
             width = {BURST_W}\nheight = {BURST_H}\nfps = {BURST_FPS}\ndetect_fps = 5\n",
            n = i + 1,
            v = v.display(),
        ));
    }
    body
}

/// What a recording WebSocket client saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// `data` of every `event` message, in arrival order.
    pub events: Vec<Value>,
    /// `data` of every `status` message.
    pub statuses: Vec<Value>,
    /// `reset` reasons.
    pub resets: Vec<String>,
    /// The connection ended (close frame, error or end of stream).
    pub closed: bool,
}

impl Seen {
    pub fn max_seq(&self) -> i64 {
        self.events
            .iter()
            .filter_map(|e| e["seq"].as_i64())
            .max()
            .unwrap_or(0)
    }

    pub fn seqs(&self) -> Vec<i64> {
        self.events
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect()
    }
}

/// A WebSocket client on its own thread recording everything it is sent until stopped or
/// disconnected. It answers pings (tungstenite does while reading), like a dashboard.
pub struct Recorder {
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Connects to `/api/ws/events{query}` (e.g. `"?since=4"`); panics if the handshake fails.
    pub fn start(port: u16, query: &str) -> Recorder {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let url = format!("ws://127.0.0.1:{port}/api/ws/events{query}");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(record(url, seen, stop, ready_tx));
            })
        };
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("websocket connect failed: {e}"),
            Err(_) => panic!("websocket connect timed out"),
        }
        Recorder {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until what was seen satisfies `pred`; panics (showing the daemon log `log`) on
    /// timeout.
    pub fn wait(
        &self,
        what: &str,
        timeout: Duration,
        log: &Path,
        pred: impl Fn(&Seen) -> bool,
    ) -> Seen {
        let end = Instant::now() + timeout;
        loop {
            let seen = self.seen();
            if pred(&seen) {
                return seen;
            }
            if Instant::now() > end {
                panic!(
                    "timed out waiting for {what}; {} events, closed: {}, last status: {:?}\n{}",
                    seen.events.len(),
                    seen.closed,
                    seen.statuses.last(),
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the connection to end (e.g. the daemon was killed) and returns what was seen.
    pub fn wait_closed(mut self, timeout: Duration) -> Seen {
        let end = Instant::now() + timeout;
        while !self.seen().closed {
            assert!(
                Instant::now() < end,
                "connection still open after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.join();
        self.seen()
    }

    /// Disconnects and returns what was seen.
    pub fn finish(mut self) -> Seen {
        self.join();
        self.seen()
    }

    fn join(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.join();
    }
}

async fn record(
    url: String,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
) {
    let mut ws = match tokio_tungstenite::connect_async(url).await {
        Ok((ws, _)) => {
            let _ = ready.send(Ok(()));
            ws
        }
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    while !stop.load(Ordering::SeqCst) {
        let msg = match tokio::time::timeout(Duration::from_millis(50), ws.next()).await {
            Err(_) => continue,
            Ok(Some(Ok(msg))) => msg,
            Ok(_) => break,
        };
        let Message::Text(text) = msg else {
            if matches!(msg, Message::Close(_)) {
                break;
            }
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let mut s = seen.lock().unwrap();
        match v["type"].as_str() {
            Some("event") => s.events.push(v["data"].clone()),
            Some("status") => s.statuses.push(v["data"].clone()),
            Some("reset") => s
                .resets
                .push(v["data"]["reason"].as_str().unwrap_or("").to_string()),
            _ => {}
        }
    }
    seen.lock().unwrap().closed = true;
    let _ = ws.close(None).await;
}

/// A read-only connection to the daemon's database in `storage` (safe beside the running
/// daemon: WAL readers never block its writer).
fn open_read_only(storage: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open_with_flags(
        storage.join("gozcu.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

/// The event log (`seq -> data of the logged message`) read straight from the SQLite file in
/// `storage`, with a read-only connection (works while the daemon runs, and after a crash).
pub fn event_log(storage: &Path) -> BTreeMap<i64, Value> {
    let conn = open_read_only(storage);
    let mut st = conn
        .prepare("SELECT seq, payload FROM event_log ORDER BY seq")
        .unwrap();
    st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(|row| {
            let (seq, payload) = row.unwrap();
            let v: Value = serde_json::from_str(&payload).unwrap();
            assert_eq!(v["type"], "event", "log row {seq}: {payload}");
            assert_eq!(
                v["data"]["seq"], seq,
                "log row {seq} carries its seq: {payload}"
            );
            (seq, v["data"].clone())
        })
        .collect()
}

/// Latest state of every event (`id -> (phase, end_reason)`), straight from SQLite.
pub fn event_phases(storage: &Path) -> BTreeMap<String, (String, Option<String>)> {
    let conn = open_read_only(storage);
    let mut st = conn
        .prepare("SELECT id, phase, end_reason FROM events")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Asserts that every message in `events` is in `log` under the same seq, unchanged.
pub fn assert_all_logged(who: &str, events: &[Value], log: &BTreeMap<i64, Value>) {
    for ev in events {
        let seq = ev["seq"].as_i64().unwrap();
        match log.get(&seq) {
            Some(stored) => assert_eq!(
                stored, ev,
                "{who}: message with seq {seq} differs from the stored one"
            ),
            None => panic!(
                "{who} was sent seq {seq} ({ev}) but the database does not have it; log has {:?}",
                log.keys().collect::<Vec<_>>()
            ),
        }
    }
}

/// Asserts that a client that resumed after `since` got exactly the logged messages with a
/// larger seq (and, with a camera filter, of those cameras) up to the last one it got: no
/// gap, no duplicate, same content.
pub fn assert_exact_replay(
    who: &str,
    since: i64,
    cameras: Option<&[&str]>,
    got: &[Value],
    log: &BTreeMap<i64, Value>,
) {
    let last = got
        .iter()
        .filter_map(|e| e["seq"].as_i64())
        .max()
        .unwrap_or(since);
    let expected: Vec<&Value> = log
        .range(since + 1..=last)
        .map(|(_, v)| v)
        .filter(|v| cameras.is_none_or(|c| c.contains(&v["camera_id"].as_str().unwrap_or(""))))
        .collect();
    let got_seqs: Vec<i64> = got.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    let want_seqs: Vec<i64> = expected
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(
        got_seqs, want_seqs,
        "{who}: resumed after {since} and got other messages than the log holds"
    );
    for (g, w) in got.iter().zip(expected) {
        assert_eq!(g, w, "{who}: content differs");
    }
}
