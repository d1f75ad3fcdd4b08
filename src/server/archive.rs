//! What the server reads from storage: the event history and event log (SQLite, through a
//! small pool of read-only connections) and the snapshot JPEGs.
//!
//! rusqlite blocks, so every query runs on `spawn_blocking`; a connection is taken from the
//! pool for one query and put back, so concurrent requests never share one.
//!
//! At most [`READERS`] queries run at once; the rest wait their turn. Without that bound a
//! reconnect storm (hundreds of clients resuming at once) would open a connection per client
//! on as many blocking threads, and SQLite cannot always close the extra ones: while another
//! connection of the process holds a lock on the file, closing a descriptor would drop that
//! lock too (POSIX locks are per process), so SQLite parks the descriptor until the file is
//! unlocked, which with a busy writer may be never. Bounded, every connection is kept and
//! reused, and the daemon's descriptor count stays flat (tests/soak.rs checks it).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Semaphore;

use crate::server::protocol::{EventData, LoggedEvent};
use crate::store::{EventFilter, SnapshotStore, StoreError, StoreReader};

/// Read connections (and queries running at once); each is opened when first needed and
/// then kept for reuse.
const READERS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading the event database was interrupted: {0}")]
    Task(String),
    #[error("the event database readers were shut down")]
    Closed,
}

struct Inner {
    dir: PathBuf,
    snapshots: Arc<SnapshotStore>,
    idle: Mutex<Vec<StoreReader>>,
    /// One permit per reader: held for the whole query.
    turns: Arc<Semaphore>,
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
                turns: Arc::new(Semaphore::new(READERS)),
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
        let turn = self
            .inner
            .turns
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ArchiveError::Closed)?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            // Released when the closure returns, even if the caller stopped waiting for it.
            let _turn = turn;
            // A pooled reader of a file that was deleted (and restored) would read stale data.
            let pooled = this.idle().pop().filter(StoreReader::is_current);
            let reader = match pooled {
                Some(r) => r,
                None => StoreReader::open(&this.inner.dir)?,
            };
            let result = f(&reader);
            // A reader that failed may be broken (e.g. the file was replaced); drop it.
            if result.is_ok() {
                this.idle().push(reader);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Descriptors of this process open on `db` (the main database file only).
    fn open_on(db: &Path) -> usize {
        std::fs::read_dir("/proc/self/fd")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == db))
                    .count()
            })
            .unwrap_or(0)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_query_storm_never_holds_more_than_the_bounded_readers() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let snapshots =
            Arc::new(SnapshotStore::open(&dir.path().join("snapshots"), 1 << 20).unwrap());
        let archive = Archive::open(dir.path(), snapshots).unwrap();
        let db = dir.path().join(crate::store::DB_FILE);
        let baseline = open_on(&db);

        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let queries: Vec<_> = (0..64)
            .map(|_| {
                let (archive, running, peak) = (archive.clone(), running.clone(), peak.clone());
                tokio::spawn(async move {
                    archive
                        .query(move |r| {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            // Long enough that queries overlap on a loaded machine too.
                            std::thread::sleep(Duration::from_millis(20));
                            running.fetch_sub(1, Ordering::SeqCst);
                            r.epoch()
                        })
                        .await
                })
            })
            .collect();
        for q in queries {
            q.await.unwrap().unwrap();
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!(
            (2..=READERS).contains(&peak),
            "{peak} queries ran at once; expected some concurrency, at most {READERS}"
        );
        let after = open_on(&db);
        assert!(
            after <= baseline + READERS,
            "{after} descriptors on the database after the storm, {baseline} before: readers \
             beyond the pool were opened"
        );
        // Every reader opened is kept for reuse. (A reader is checked out a little longer
        // than the window `peak` measures, so more may have been open at once.)
        let idle = archive.idle().len();
        assert!(
            (peak..=READERS).contains(&idle),
            "{idle} idle readers after {peak} queries at once, at most {READERS}"
        );
        drop(store);
    }
}
