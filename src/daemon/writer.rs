//! The store writer thread: the only writer of the database. For each event message it
//! writes the snapshot (if any), commits the message to SQLite, and only then publishes it on
//! the hub, so a client is never told about an event the database does not have.
//!
//! While the database cannot commit (disk full, a failing disk) that order is reversed so
//! clients still see events live: each message gets the next seq in memory (continuing the
//! database's sequence), is published at once, and waits in a bounded queue (`pending.rs`),
//! in order, to be committed with exactly that seq when the database works again (retried
//! every 2 s). The hub keeps those messages for clients that resume meanwhile. A crash
//! during the outage loses them (docs/reliability.md). Status shows the problem and the
//! number of messages waiting.
//!
//! The writer also notices a database file deleted under it and restores it from its open
//! connection (`Store::restore`); snapshots go through `snapshots.rs`, whose problems (low
//! space, a folder that cannot be written) never stop events.

use crate::daemon::pending::{Held, Pending};
use crate::daemon::snapshots::SnapshotWriter;
use crate::daemon::status::StatusBoard;
use crate::server::Hub;
use crate::server::hub::LiveEvent;
use crate::server::protocol::{EventData, Phase, StorageStatus};
use crate::store::snapshots::SnapshotStore;
use crate::store::{FileState, RetentionPolicy, Store, StoreError, log_entry};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Messages held in memory while the database is failing; beyond this the oldest are dropped
/// (and counted) rather than growing without bound on a device with little RAM.
const MAX_PENDING: usize = 10_000;
/// Held messages committed per transaction once the database works again.
const COMMIT_BATCH: usize = 256;
const RETRY_EVERY: Duration = Duration::from_secs(2);
/// How often an idle writer checks that the database file is still there.
const CHECK_EVERY: Duration = Duration::from_secs(5);
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
    /// The database's highest seq at start (`Store::last_seq`).
    pub last_seq: i64,
    pub snapshots: Arc<SnapshotStore>,
    pub storage_dir: PathBuf,
    pub retention: RetentionPolicy,
    pub hub: Hub,
    pub board: Arc<StatusBoard>,
    /// Shown as `storage.notice` (e.g. a corrupt database moved aside at start).
    pub notice: Option<String>,
    /// Why the snapshot folder could not be opened at start, if it could not.
    pub snapshot_problem: Option<String>,
}

impl StoreWriter {
    pub fn spawn(ctx: WriterContext) -> std::io::Result<StoreWriter> {
        let (tx, rx) = sync_channel(1024);
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || Writer::new(ctx).run(rx))?;
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

struct Writer {
    ctx: WriterContext,
    pending: Pending,
    /// Why the last commit failed; None while commits work.
    db_error: Option<String>,
    /// A problem with the database file itself (deleted and not restored yet, replaced).
    file_error: Option<String>,
    snapshots: SnapshotWriter,
    last_retry: Instant,
    last_check: Instant,
    last_restore: Option<Instant>,
    last_retention: Instant,
}

impl Writer {
    fn new(ctx: WriterContext) -> Writer {
        let snapshots = SnapshotWriter::new(
            ctx.snapshots.clone(),
            ctx.storage_dir.clone(),
            ctx.snapshot_problem.clone(),
        );
        let now = Instant::now();
        Writer {
            pending: Pending::new(ctx.last_seq, MAX_PENDING),
            ctx,
            db_error: None,
            file_error: None,
            snapshots,
            last_retry: now,
            last_check: now,
            last_restore: None,
            last_retention: now,
        }
    }

    fn run(mut self, rx: Receiver<Command>) {
        self.apply_retention();
        self.report();
        loop {
            let wait = if self.pending.is_empty() {
                CHECK_EVERY
            } else {
                RETRY_EVERY
            };
            match rx.recv_timeout(wait) {
                Ok(Command::Event(msg)) => self.handle(*msg),
                Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    self.flush();
                    if !self.pending.is_empty() {
                        tracing::error!(
                            count = self.pending.len(),
                            "shutting down with event messages that were sent to clients but \
                             could not be stored"
                        );
                    }
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if !self.pending.is_empty() && self.last_retry.elapsed() >= RETRY_EVERY {
                self.flush();
            }
            if self.last_check.elapsed() >= CHECK_EVERY {
                self.check_file();
            }
            if self.last_retention.elapsed() >= RETENTION_EVERY {
                self.last_retention = Instant::now();
                self.apply_retention();
            }
        }
    }

    /// Writes the snapshot, then commits and publishes the message (or holds it, published,
    /// while the database fails).
    fn handle(&mut self, msg: EventMessage) {
        let started = Instant::now();
        if let Some((id, jpeg)) = &msg.snapshot {
            self.snapshots.write(id, jpeg);
        }
        let Some(mut event) = msg.event else {
            self.report();
            return;
        };
        // A URL must lead to a file. The snapshot may have failed now or for an earlier
        // message of this event; the camera worker does not hear about that.
        if event.snapshot_url.is_some() && !self.snapshots.exists(&event.id) {
            event.snapshot_url = None;
        }
        self.check_file();
        if !self.pending.is_empty() {
            self.hold(event);
        } else {
            match self.ctx.store.append(&event) {
                Ok(logged) => {
                    log_published(&event, logged.seq);
                    count_created(&self.ctx.hub, &event);
                    if let Some(frame) = &msg.frame {
                        trace_published(logged.seq, &event, frame, started.elapsed());
                    }
                    self.pending.committed(logged.seq);
                    self.ctx.hub.publish_event(logged);
                    self.db_ok();
                }
                Err(e) if is_permanent(&e) => {
                    tracing::error!(error = %e, "event message dropped: the store cannot keep it");
                }
                Err(e) => {
                    self.db_failed(&e);
                    self.hold(event);
                }
            }
        }
        self.report();
    }

    /// Publishes `event` with the next seq and queues it for a later commit.
    fn hold(&mut self, mut event: EventData) {
        let seq = self.pending.next_seq();
        event.seq = seq;
        let logged = match log_entry(&event, seq) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "event message dropped: the store cannot keep it");
                return;
            }
        };
        log_published(&event, seq);
        count_created(&self.ctx.hub, &event);
        let live = LiveEvent::from(&logged);
        if let Some(old) = self.pending.hold(Held {
            event,
            live: live.clone(),
        }) {
            tracing::error!(
                seq = old.live.seq,
                dropped = self.pending.dropped(),
                "database failing and {MAX_PENDING} messages waiting: the oldest was dropped \
                 (clients got it, the database never will)"
            );
            self.ctx.hub.lost(old.live.seq);
        }
        self.ctx.hub.publish_uncommitted(live);
    }

    /// Commits held messages in order, in batches; stops at the first failure.
    fn flush(&mut self) {
        self.last_retry = Instant::now();
        if self.pending.is_empty() {
            return;
        }
        let waiting = self.pending.len();
        while !self.pending.is_empty() {
            let batch: Vec<(&EventData, i64)> = self
                .pending
                .iter()
                .take(COMMIT_BATCH)
                .map(|h| (&h.event, h.live.seq))
                .collect();
            let n = batch.len();
            match self.ctx.store.append_at(&batch) {
                Ok(()) => {
                    for _ in 0..n {
                        self.commit_front();
                    }
                }
                Err(e) if is_permanent(&e) => self.commit_one_by_one(n),
                Err(e) => {
                    self.db_failed(&e);
                    self.report();
                    return;
                }
            }
        }
        tracing::info!(
            count = waiting,
            "the database works again: stored the event messages sent while it failed"
        );
        self.db_ok();
        self.report();
    }

    fn commit_front(&mut self) {
        if let Some(h) = self.pending.pop_front() {
            self.pending.committed(h.live.seq);
            self.ctx.hub.committed_through(h.live.seq);
        }
    }

    /// A batch had a message the store refuses for good (should not happen: every held
    /// message was checked by `log_entry`); commit the rest one by one and drop that one.
    fn commit_one_by_one(&mut self, n: usize) {
        for _ in 0..n {
            let Some(h) = self.pending.front() else {
                return;
            };
            let seq = h.live.seq;
            match self.ctx.store.append_at(&[(&h.event, seq)]) {
                Ok(()) => self.commit_front(),
                Err(e) if is_permanent(&e) => {
                    tracing::error!(seq, error = %e, "held event message dropped: the store cannot keep it");
                    self.pending.pop_front();
                    self.ctx.hub.lost(seq);
                }
                Err(e) => {
                    self.db_failed(&e);
                    return;
                }
            }
        }
    }

    fn db_failed(&mut self, e: &StoreError) {
        if self.db_error.is_none() {
            tracing::error!(
                error = %e,
                "the database cannot commit: event messages go to clients now and are stored \
                 when it works again (held in memory, retried every 2 s; lost if gozcu stops \
                 first)"
            );
        } else {
            tracing::debug!(error = %e, held = self.pending.len(), "database still failing");
        }
        self.db_error = Some(e.to_string());
    }

    fn db_ok(&mut self) {
        if self.db_error.take().is_some() {
            tracing::info!("the database commits again");
        }
    }

    /// Notices a database file deleted (or replaced) under the writer and restores it.
    fn check_file(&mut self) {
        self.last_check = Instant::now();
        let state = self.ctx.store.file_state();
        if state == FileState::Same {
            if self.file_error.take().is_some() {
                self.report();
            }
            return;
        }
        // A restore copies the whole database: after a failed one, wait before the next.
        if self.file_error.is_some() && self.last_restore.is_some_and(|t| t.elapsed() < RETRY_EVERY)
        {
            return;
        }
        self.last_restore = Some(Instant::now());
        let db = self.ctx.store.path().display().to_string();
        if state == FileState::Replaced {
            match crate::store::move_aside_replaced(self.ctx.store.path()) {
                Ok(to) => tracing::error!(
                    db, moved_to = %to.display(),
                    "the database file was replaced while gozcu was running; the new file was \
                     moved aside (stop gozcu before replacing its database)"
                ),
                Err(e) => {
                    let msg = format!(
                        "database file {db} was replaced while gozcu was running and the new \
                         file cannot be moved aside ({e}); gozcu keeps using the file it \
                         opened: stop gozcu, then put the database you want in place"
                    );
                    if self.file_error.as_deref() != Some(msg.as_str()) {
                        tracing::error!("{msg}");
                    }
                    self.file_error = Some(msg);
                    self.report();
                    return;
                }
            }
        }
        match self.ctx.store.restore() {
            Ok(()) => {
                tracing::warn!(
                    db,
                    "the database file was deleted while gozcu was running; restored it from \
                     the open connection (no event lost)"
                );
                self.file_error = None;
            }
            Err(e) => {
                let msg = format!(
                    "database file {db} was deleted while gozcu was running and cannot be \
                     restored yet ({e}); events are kept in the open, deleted file and are \
                     lost if gozcu stops before it can be restored"
                );
                if self.file_error.as_deref() != Some(msg.as_str()) {
                    tracing::error!("{msg}");
                }
                self.file_error = Some(msg);
            }
        }
        self.report();
    }

    fn report(&self) {
        let error = self.db_error.clone().or_else(|| self.file_error.clone());
        let (snapshots, snapshot_error) = self.snapshots.status();
        self.ctx.board.set_storage(StorageStatus {
            state: if error.is_some() { "error" } else { "ok" }.into(),
            error,
            free_mb: free_bytes(&self.ctx.storage_dir).map(|b| b / (1024 * 1024)),
            pending: self.pending.len() as u64,
            dropped: self.pending.dropped(),
            snapshots: snapshots.as_str().into(),
            snapshot_error,
            notice: self.ctx.notice.clone(),
        });
    }

    fn apply_retention(&mut self) {
        let ctx = &mut self.ctx;
        match ctx.store.apply_retention(
            &ctx.retention,
            time::OffsetDateTime::now_utc(),
            &ctx.snapshots,
        ) {
            Ok(report) => tracing::debug!(?report, "retention applied"),
            Err(e) => tracing::warn!(error = %e, "retention failed"),
        }
    }
}

/// `gozcu_events_created_total` counts visits: one per `start` message.
fn count_created(hub: &Hub, event: &EventData) {
    if event.phase == Phase::Start {
        hub.metrics()
            .event_created(&event.camera_id, &event.event_type);
    }
}

/// One log line per published event start and end (updates at debug level), with the ids as
/// fields: in the journal `journalctl -u gozcu EVENT_ID=evt-42` lists one visit and
/// `CAMERA_ID=cam-1` one camera's events (logging.rs).
fn log_published(event: &EventData, seq: i64) {
    let (camera_id, event_id, event_type) = (&event.camera_id, &event.id, &event.event_type);
    match event.phase {
        Phase::Update => tracing::debug!(%camera_id, %event_id, %event_type, seq, "event update"),
        phase => {
            let why = event
                .end_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            tracing::info!(
                %camera_id, %event_id, %event_type, seq, confidence = event.confidence,
                "event {}: {event_type} on {camera_id}{why}", phase.as_str()
            )
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

/// Errors that retrying cannot fix (the message itself is unusable).
fn is_permanent(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::InvalidId { .. } | StoreError::InvalidEvent { .. }
    )
}

/// Free bytes for unprivileged use on the filesystem holding `dir`.
pub fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    let st = nix::sys::statvfs::statvfs(dir).ok()?;
    Some(st.blocks_available() as u64 * st.fragment_size() as u64)
}
