//! What the server reads from storage: the event history and event log (SQLite, through a
//! small pool of read-only connections) and the snapshot JPEGs.
//!
//! rusqlite blocks, so every query runs on `spawn_blocking`; a connection is taken from the
//! pool for one query and put back, so concurrent requests never share one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::server::protocol::{EventData, LoggedEvent};
use crate::store::{EventFilter, SnapshotStore, StoreError, StoreReader};

/// Idle read connections kept for reuse; more are opened under load and closed afterwards.
const POOL_SIZE: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading the event database was interrupted: {0}")]
    Task(String),
}

struct Inner {
    dir: PathBuf,
    snapshots: Arc<SnapshotStore>,
    idle: Mutex<Vec<StoreReader>>,
}

#[derive(Clone)]
pub struct Archive {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("dir", &self.inner.dir)
            .finish()
    }
}

impl Archive {
    /// Opens a first reader of the database in `storage_dir` (which the store must have
    /// created) to fail early; `snapshots` is shared with the store writer.
    pub fn open(storage_dir: &Path, snapshots: Arc<SnapshotStore>) -> Result<Archive, StoreError> {
        let first = StoreReader::open(storage_dir)?;
        Ok(Archive {
            inner: Arc::new(Inner {
                dir: storage_dir.to_owned(),
                snapshots,
                idle: Mutex::new(vec![first]),
            }),
        })
    }

    fn idle(&self) -> MutexGuard<'_, Vec<StoreReader>> {
        // The vector is only pushed to / popped from; a poisoned one is still valid.
        self.inner.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` with a pooled reader on the blocking thread pool.
    async fn query<T, F>(&self, f: F) -> Result<T, ArchiveError>
    where
        T: Send + 'static,
        F: FnOnce(&StoreReader) -> Result<T, StoreError> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            // A pooled reader of a file that was deleted (and restored) would read stale data.
            let pooled = this.idle().pop().filter(StoreReader::is_current);
            let reader = match pooled {
                Some(r) => r,
                None => StoreReader::open(&this.inner.dir)?,
            };
            let result = f(&reader);
            // A reader that failed may be broken (e.g. the file was replaced); drop it.
            if result.is_ok() {
                let mut idle = this.idle();
                if idle.len() < POOL_SIZE {
                    idle.push(reader);
                }
            }
            result.map_err(ArchiveError::from)
        })
        .await
        .map_err(|e| ArchiveError::Task(e.to_string()))?
    }

    pub async fn epoch(&self) -> Result<String, ArchiveError> {
        self.query(|r| r.epoch()).await
    }

    /// Logged event messages with seq > `since`, oldest first, at most `limit`.
    pub async fn log_after(
        &self,
        since: i64,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, ArchiveError> {
        self.query(move |r| r.log_after(since, limit)).await
    }

    /// (min, max) seq of the event log, `None` when it is empty.
    pub async fn log_bounds(&self) -> Result<Option<(i64, i64)>, ArchiveError> {
        self.query(|r| r.log_bounds()).await
    }

    pub async fn list_events(&self, filter: EventFilter) -> Result<Vec<EventData>, ArchiveError> {
        let snapshots = self.inner.snapshots.clone();
        self.query(move |r| {
            let mut events = r.list_events(&filter)?;
            for ev in &mut events {
                forget_missing_snapshot(&snapshots, ev);
            }
            Ok(events)
        })
        .await
    }

    pub async fn get_event(&self, id: String) -> Result<Option<EventData>, ArchiveError> {
        let snapshots = self.inner.snapshots.clone();
        self.query(move |r| {
            let mut event = r.get_event(&id)?;
            if let Some(ev) = &mut event {
                forget_missing_snapshot(&snapshots, ev);
            }
            Ok(event)
        })
        .await
    }

    /// The JPEG of an event, `None` when the id is invalid or there is no snapshot.
    pub async fn snapshot(&self, id: &str) -> std::io::Result<Option<Vec<u8>>> {
        let Ok(path) = self.inner.snapshots.checked_path(id) else {
            return Ok(None);
        };
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Drops `snapshot_url` when the JPEG is gone (removed by the snapshot quota or by hand), so
/// a dashboard shows "no snapshot" instead of a broken picture. The event row keeps the URL
/// it was stored with; the logged messages replayed on resume are never rewritten.
fn forget_missing_snapshot(snapshots: &SnapshotStore, ev: &mut EventData) {
    if ev.snapshot_url.is_some() && !snapshots.exists(&ev.id) {
        ev.snapshot_url = None;
    }
}
