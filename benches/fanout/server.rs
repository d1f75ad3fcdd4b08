//! `serve` mode: gozcu's real WebSocket server under test, started the way the daemon starts
//! it (`gozcu::daemon`): a store in a temporary folder, `Archive`, `Hub`, `server::serve` on a
//! two-worker tokio runtime, and events published through `Hub::publish_event` from a plain
//! thread, as the store writer thread does.
//!
//! The stdin protocol both servers (this one and ws_server.mjs) speak with the swarm:
//! - the server prints `port <n>` once it listens on 127.0.0.1;
//! - `publish <count> <interval_us>`: publishes `count` event messages, one every
//!   `interval_us` (0: back to back, a burst), then prints `published <count>`;
//! - `quit` (or end of input): stops.
//!
//! Every event message is the daemon's event JSON plus `"sent_us"`: the wall-clock time in
//! microseconds at which it was handed to the hub.

use gozcu::config::ServerConfig;
use gozcu::server::protocol::{EventData, LoggedEvent, Phase, ServerMessage};
use gozcu::server::{Archive, Hub, ServerSettings};
use gozcu::store::{SnapshotStore, Store};
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Clients the server accepts: above the largest swarm, all from 127.0.0.1.
const MAX_CLIENTS: usize = 4096;

pub fn main() -> i32 {
    crate::raise_nofile();
    match run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("fanout serve: {e}");
            1
        }
    }
}

fn run() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    // The daemon's runtime: two workers (src/daemon/mod.rs, run_main).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("gozcu-rt")
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let store = Store::open(dir.path()).map_err(|e| e.to_string())?;
    let snapshots =
        Arc::new(SnapshotStore::open(&dir.path().join("snapshots"), 0).map_err(|e| e.to_string())?);
    let archive = Archive::open(dir.path(), snapshots).map_err(|e| e.to_string())?;
    let hub = Hub::new(store.epoch().to_string(), env!("CARGO_PKG_VERSION"));
    // Daemon defaults except the listen address and the client limits (a deployment with
    // 1000 dashboards would raise them the same way in [server]).
    let cfg = ServerConfig {
        listen: vec!["127.0.0.1:0".parse().map_err(|e| format!("{e}"))?],
        max_clients: MAX_CLIENTS,
        max_clients_per_ip: MAX_CLIENTS,
        ..ServerConfig::default()
    };
    let handle = runtime
        .block_on(gozcu::server::serve(
            ServerSettings::from_config(&cfg),
            hub.clone(),
            archive,
        ))
        .map_err(|e| e.to_string())?;
    let port = handle.local_addrs[0].port();
    println!("port {port}");
    let _ = std::io::stdout().flush();

    let mut seq = 0i64;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["publish", count, interval] => {
                let count: u64 = count.parse().map_err(|e| format!("{line}: {e}"))?;
                let interval: u64 = interval.parse().map_err(|e| format!("{line}: {e}"))?;
                publish(&hub, &mut seq, count, Duration::from_micros(interval));
                println!("published {count}");
                let _ = std::io::stdout().flush();
            }
            ["quit"] => break,
            _ => return Err(format!("unknown command {line:?}")),
        }
    }
    runtime.block_on(handle.shutdown());
    drop(store);
    Ok(())
}

/// Publishes on this (plain) thread at absolute deadlines, so a late wake-up does not slow
/// the rate down.
fn publish(hub: &Hub, seq: &mut i64, count: u64, interval: Duration) {
    let start = Instant::now();
    for i in 0..count {
        let due = start + interval * u32::try_from(i).unwrap_or(u32::MAX);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        *seq += 1;
        let json = event_text(*seq, crate::now_us());
        hub.publish_event(LoggedEvent {
            seq: *seq,
            camera_id: "cam-1".to_string(),
            json: json.into(),
        });
    }
}

/// A person event as the daemon sends it, plus `sent_us` (ws_server.mjs builds the same).
pub fn event_text(seq: i64, sent_us: u64) -> String {
    let data = EventData {
        id: format!("evt-{seq}"),
        camera_id: "cam-1".to_string(),
        event_type: "person".to_string(),
        timestamp: "2026-11-29T12:00:00.000Z".to_string(),
        confidence: 0.8731,
        seq,
        phase: Phase::Start,
        camera_name: "Front door".to_string(),
        end_timestamp: None,
        bbox: Some([0.3125, 0.2083, 0.4531, 0.8125]),
        snapshot_url: Some(format!("/api/events/evt-{seq}/snapshot.jpg")),
        end_reason: None,
    };
    let json = ServerMessage::Event(data).to_json();
    // `{"type":"event","data":{...}}`: the timestamp goes last inside `data`.
    match json.strip_suffix("}}") {
        Some(head) => format!("{head},\"sent_us\":{sent_us}}}}}"),
        None => json,
    }
}
