//! Snapshot writing for the store writer: skips snapshots when free space runs low (so the
//! database keeps room), keeps what status shows about them, and logs a problem when it
//! starts or changes rather than for every snapshot. Snapshots are optional: nothing here
//! ever stops an event message.

use crate::daemon::writer::free_bytes;
use crate::store::snapshots::SnapshotStore;
use std::path::PathBuf;
use std::sync::Arc;

/// Snapshots stop when the storage filesystem has less free space than this, so the
/// database (small rows) keeps working after pictures no longer fit.
const SNAPSHOT_FREE_RESERVE: u64 = 64 * 1024 * 1024;

/// Snapshot writing as status shows it (`storage.snapshots`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotState {
    Ok,
    LowSpace,
    Error,
}

impl SnapshotState {
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotState::Ok => "ok",
            SnapshotState::LowSpace => "low_space",
            SnapshotState::Error => "error",
        }
    }
}

pub struct SnapshotWriter {
    store: Arc<SnapshotStore>,
    /// The storage dir, whose filesystem's free space decides.
    storage_dir: PathBuf,
    state: SnapshotState,
    error: Option<String>,
}

impl SnapshotWriter {
    /// `problem`: why the folder could not be opened at start, if it could not.
    pub fn new(
        store: Arc<SnapshotStore>,
        storage_dir: PathBuf,
        problem: Option<String>,
    ) -> SnapshotWriter {
        let state = match problem {
            Some(_) => SnapshotState::Error,
            None => SnapshotState::Ok,
        };
        SnapshotWriter {
            store,
            storage_dir,
            state,
            error: problem,
        }
    }

    /// (state, why) for status.
    pub fn status(&self) -> (SnapshotState, Option<String>) {
        (self.state, self.error.clone())
    }

    /// Whether the snapshot of `event_id` is on disk (a message may name it).
    pub fn exists(&self, event_id: &str) -> bool {
        self.store.exists(event_id)
    }

    /// Writes the snapshot of `event_id`, or skips it when space is low; failures only
    /// change the state.
    pub fn write(&mut self, event_id: &str, jpeg: &[u8]) {
        let dir = &self.storage_dir;
        if free_bytes(dir).is_some_and(|free| free < SNAPSHOT_FREE_RESERVE) {
            let why = format!(
                "less than {} MiB free on the filesystem of {}: snapshots are skipped to keep \
                 room for the database",
                SNAPSHOT_FREE_RESERVE / (1024 * 1024),
                dir.display()
            );
            self.set(SnapshotState::LowSpace, Some(why), event_id);
            return;
        }
        match self.store.write(event_id, jpeg) {
            Ok(_) => self.set(SnapshotState::Ok, None, event_id),
            Err(e) => self.set(SnapshotState::Error, Some(e.to_string()), event_id),
        }
    }

    fn set(&mut self, state: SnapshotState, why: Option<String>, event_id: &str) {
        if state != self.state || why != self.error {
            match &why {
                Some(why) => tracing::warn!(event_id, "snapshot not written: {why}"),
                None => tracing::info!("snapshots are written again"),
            }
        }
        self.state = state;
        self.error = why;
    }
}
