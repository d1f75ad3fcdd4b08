//! The store writer thread: the only writer of the database. For each event message it
//! writes the snapshot (if any), commits the message to SQLite, and only then publishes it on
//! the hub, so a client is never told about an event the database does not have.
//!
//! When storage fails (disk full, database gone) messages wait in a bounded in-memory queue,
//! in order, and are retried every few seconds; the status board shows the problem.

use crate::daemon::status::StatusBoard;
use crate::server::Hub;
use crate::server::protocol::{EventData, StorageStatus};
use crate::store::snapshots::SnapshotStore;
use crate::store::{RetentionPolicy, Store};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Snapshots stop when the storage filesystem has less free space than this, so the
/// database (small rows) keeps working after pictures no longer fit.
const SNAPSHOT_FREE_RESERVE: u64 = 64 * 1024 * 1024;
/// Messages held in memory while storage is failing; beyond this the oldest are dropped
/// (and counted) rather than growing without bound on a device with little RAM.
const MAX_PENDING: usize = 10_000;
const RETRY_EVERY: Duration = Duration::from_secs(2);
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// One event message from a camera pipeline.
#[derive(Debug)]
pub struct EventMessage {
    /// None when only the best frame changed (the update message follows later).
    pub event: Option<EventData>,
    /// (event id, JPEG): the event's new best-frame snapshot, written before the message.
    pub snapshot: Option<(String, Vec<u8>)>,
    /// The frame being processed when the message was made; None for messages made by time
    /// passing alone (an end after `end_after_s` without frames, shutdown).
    pub frame: Option<FrameTiming>,
}

/// Where the time went for the frame behind a message; logged (debug) when the message is
/// published, for end-to-end latency (docs/benchmarks.md, "End to end").
#[derive(Debug, Clone, Copy)]
pub struct FrameTiming {
    /// Capture time (the frame's timestamp).
    pub captured: SystemTime,
    /// Capture -> the worker took the frame (it waits in the slot while the worker is busy).
    pub wait_ms: f64,
    /// Letterbox + tensor conversion and the backend's run, when detection ran on the frame.
    pub preprocess_ms: Option<f64>,
    pub inference_ms: Option<f64>,
}

impl FrameTiming {
    /// A frame the worker takes now.
    pub fn picked_up(captured: SystemTime) -> FrameTiming {
        FrameTiming {
            captured,
            wait_ms: ms_since(captured),
            preprocess_ms: None,
            inference_ms: None,
        }
    }
}

/// Milliseconds from `t` to now; 0 when the wall clock stepped back past `t`.
fn ms_since(t: SystemTime) -> f64 {
    SystemTime::now()
        .duration_since(t)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

enum Command {
    Event(Box<EventMessage>),
    Stop,
}

/// Cloneable sender the pipelines use.
#[derive(Clone)]
pub struct WriterSender {
    tx: SyncSender<Command>,
}

impl WriterSender {
    /// Queues a message. Blocks briefly when the writer is behind (it is fast; a full queue
    /// means the disk is very slow, and back-pressure on the camera worker is then right:
    /// its frames are dropped by the latest-frame slot, not queued).
    pub fn send(&self, msg: EventMessage) {
        let mut cmd = Command::Event(Box::new(msg));
        loop {
            match self.tx.try_send(cmd) {
                Ok(()) => return,
                Err(TrySendError::Full(back)) => {
                    cmd = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(TrySendError::Disconnected(_)) => {
                    tracing::error!("store writer has stopped; event message dropped");
                    return;
                }
            }
        }
    }
}

pub struct StoreWriter {
    sender: WriterSender,
    thread: Option<JoinHandle<()>>,
}

pub struct WriterContext {
    pub store: Store,
    pub snapshots: Arc<SnapshotStore>,
    pub storage_dir: PathBuf,
    pub retention: RetentionPolicy,
    pub hub: Hub,
    pub board: Arc<StatusBoard>,
}

impl StoreWriter {
    pub fn spawn(ctx: WriterContext) -> std::io::Result<StoreWriter> {
        let (tx, rx) = sync_channel(1024);
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run(ctx, rx))?;
        Ok(StoreWriter {
            sender: WriterSender { tx },
            thread: Some(thread),
        })
    }

    pub fn sender(&self) -> WriterSender {
        self.sender.clone()
    }

    /// Flushes everything queued before the call, then stops the thread.
    pub fn stop(mut self) {
        let _ = self.sender.tx.send(Command::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(mut ctx: WriterContext, rx: Receiver<Command>) {
    let mut pending: VecDeque<EventMessage> = VecDeque::new();
    let mut dropped: u64 = 0;
    let mut last_retention = Instant::now();
    apply_retention(&mut ctx);
    loop {
        let wait = if pending.is_empty() {
            RETENTION_EVERY
        } else {
            RETRY_EVERY
        };
        match rx.recv_timeout(wait) {
            Ok(Command::Event(msg)) => {
                if pending.len() >= MAX_PENDING {
                    pending.pop_front();
                    dropped += 1;
                    tracing::error!(
                        dropped,
                        "storage failing and queue full: oldest event message dropped"
                    );
                }
                pending.push_back(*msg);
            }
            Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => {
                flush(&mut ctx, &mut pending);
                if !pending.is_empty() {
                    tracing::error!(
                        count = pending.len(),
                        "shutting down with event messages that could not be stored"
                    );
                }
                return;
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        flush(&mut ctx, &mut pending);
        if last_retention.elapsed() >= RETENTION_EVERY {
            last_retention = Instant::now();
            apply_retention(&mut ctx);
        }
    }
}

/// Stores and publishes queued messages in order; stops at the first storage failure so
/// order (and seq order) is kept.
fn flush(ctx: &mut WriterContext, pending: &mut VecDeque<EventMessage>) {
    while let Some(msg) = pending.front_mut() {
        let started = Instant::now();
        if let Some((id, jpeg)) = msg.snapshot.take() {
            let written = write_snapshot(ctx, &id, &jpeg);
            if let Some(ev) = msg.event.as_mut().filter(|ev| ev.id == id && !written) {
                ev.snapshot_url = None;
            }
        }
        let Some(event) = &msg.event else {
            pending.pop_front();
            continue;
        };
        match ctx.store.append(event) {
            Ok(logged) => {
                let seq = logged.seq;
                ctx.hub.publish_event(logged);
                if let Some(frame) = &msg.frame {
                    trace_published(seq, event, frame, started.elapsed());
                }
                pending.pop_front();
                set_storage_ok(ctx);
            }
            Err(e) => {
                tracing::error!(error = %e, queued = pending.len(), "could not store event message; will retry");
                ctx.board.set_storage(StorageStatus {
                    state: "error".into(),
                    error: Some(e.to_string()),
                    free_mb: free_bytes(&ctx.storage_dir).map(|b| b / (1024 * 1024)),
                });
                return;
            }
        }
    }
}

/// One debug line per published message made from a frame: `make bench-e2e` reads it to
/// measure capture -> client latency (docs/benchmarks.md, "End to end").
/// `store` is how long this message took here: snapshot file and database commit.
fn trace_published(seq: i64, event: &EventData, frame: &FrameTiming, store: Duration) {
    let captured_unix_us = frame
        .captured
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    tracing::debug!(
        seq,
        event_id = %event.id,
        phase = event.phase.as_str(),
        captured_unix_us,
        wait_ms = frame.wait_ms,
        preprocess_ms = frame.preprocess_ms,
        inference_ms = frame.inference_ms,
        store_ms = store.as_secs_f64() * 1000.0,
        capture_to_publish_ms = ms_since(frame.captured),
        "event published"
    );
}

/// Writes one snapshot; false when it was skipped or failed (the message then carries no
/// snapshot URL).
fn write_snapshot(ctx: &WriterContext, event_id: &str, jpeg: &[u8]) -> bool {
    if free_bytes(&ctx.storage_dir).is_some_and(|free| free < SNAPSHOT_FREE_RESERVE) {
        tracing::warn!(
            event_id,
            "storage almost full: snapshot skipped to keep room for the database"
        );
        return false;
    }
    match ctx.snapshots.write(event_id, jpeg) {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(event_id, error = %e, "snapshot not written");
            false
        }
    }
}

fn set_storage_ok(ctx: &WriterContext) {
    ctx.board.set_storage(StorageStatus {
        state: "ok".into(),
        error: None,
        free_mb: free_bytes(&ctx.storage_dir).map(|b| b / (1024 * 1024)),
    });
}

fn apply_retention(ctx: &mut WriterContext) {
    match ctx.store.apply_retention(
        &ctx.retention,
        time::OffsetDateTime::now_utc(),
        &ctx.snapshots,
    ) {
        Ok(report) => tracing::debug!(?report, "retention applied"),
        Err(e) => tracing::warn!(error = %e, "retention failed"),
    }
}

/// Free bytes for unprivileged use on the filesystem holding `dir`.
pub fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    let st = nix::sys::statvfs::statvfs(dir).ok()?;
    Some(st.blocks_available() as u64 * st.fragment_size() as u64)
}
