//! SQLite store: events, the event log that WebSocket resume replays, retention, and (in
//! `snapshots`) the snapshot JPEG files.
//!
//! Contract: one [`Store`] per storage directory (enforced by `gozcu.lock`), owned by the store
//! writer thread; every event message is committed here *before* it is broadcast, and the
//! returned [`LoggedEvent`] is what the hub sends. The server reads through [`StoreReader`]s,
//! which never block the writer (WAL). Store calls block on disk I/O: never call them on the
//! async runtime's threads.
//!
//! Files in the storage dir: `gozcu.db` (+ `-wal`, `-shm`), `gozcu.lock`, `snapshots/`, and
//! after trouble `gozcu.db.corrupt-<time>` or `gozcu.db.pre-v<N>.bak` for the operator.
//!
//! A `gozcu.db` deleted while the daemon runs is noticed ([`Store::file_state`]) and written
//! back from the still-open connection ([`Store::restore`], in `restore.rs`).

mod error;
mod events;
pub mod migrate;
mod open;
mod reader;
mod restore;
pub mod retention;
pub mod snapshots;

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::fcntl::Flock;
use rusqlite::{Connection, TransactionBehavior};
use time::OffsetDateTime;

use crate::server::protocol::{EventData, LoggedEvent};

pub use error::StoreError;
pub use events::{log_entry, parse_event_num, rfc3339_utc};
pub use migrate::SCHEMA_VERSION;
pub use open::{DB_FILE, LOCK_FILE};
pub use reader::{EventFilter, StoreReader};
pub use restore::{FileState, move_aside_replaced};
pub use retention::{RetentionPlan, RetentionPolicy, RetentionReport};
pub use snapshots::SnapshotStore;

/// The only writer of the database.
pub struct Store {
    // Field order matters: the connection closes before the lock is released on drop.
    conn: Connection,
    db: PathBuf,
    dir: PathBuf,
    epoch: String,
    recovered_from: Option<PathBuf>,
    /// The database file and its side files as `conn` has them open, to notice deletion.
    files: restore::OpenFiles,
    _lock: Flock<File>,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`: takes the lock, recovers from a corrupt
    /// file, refuses a newer schema, backs up and migrates an older one.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let lock = open::lock_dir(dir)?;
        let db = dir.join(DB_FILE);
        let (mut conn, recovered_from) = open::open_db(&db)?;
        migrate::check_not_newer(&conn, &db, migrate::MIGRATIONS)?;
        open::configure_writer(&conn, &db)?;
        migrate::run(&mut conn, &db, migrate::MIGRATIONS)?;
        let epoch = conn
            .query_row("SELECT epoch FROM meta WHERE id = 1", [], |r| r.get(0))
            .map_err(|e| StoreError::db(&db, "reading the epoch", e))?;
        Ok(Store {
            files: restore::OpenFiles::of(&db),
            conn,
            db,
            dir: dir.to_owned(),
            epoch,
            recovered_from,
            _lock: lock,
        })
    }

    /// Random id of this database; changes only when the database is recreated.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Where a corrupt database was moved during `open`, if that happened.
    pub fn recovered_from(&self) -> Option<&Path> {
        self.recovered_from.as_deref()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.db
    }

    /// Highest n of any "evt-n" ever stored (0 when none); never decreases, so ids allocated
    /// above it are never reused, even after retention deleted the rows.
    pub fn last_event_number(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT last_event_num FROM meta WHERE id = 1", [], |r| {
                r.get(0)
            })
            .map_err(|e| StoreError::db(&self.db, "reading the last event number", e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The highest seq ever logged (0 when none); the next message gets a larger one.
    pub fn last_seq(&self) -> Result<i64, StoreError> {
        events::last_seq_in(&self.conn, &self.db)
    }

    /// Commits one event message (the event row and a log row) and returns it as broadcast,
    /// with its new seq. `event.seq` is ignored. On `DiskFull` nothing was written.
    pub fn append(&mut self, event: &EventData) -> Result<LoggedEvent, StoreError> {
        self.write(|tx, db| events::append_in(tx, db, event, None))
    }

    /// Commits messages that were already published with these seqs (while the database
    /// could not commit), in one transaction: all or none. Each is stored exactly as
    /// [`log_entry`] made it; seqs must increase and be above every seq used so far (gaps
    /// are allowed).
    pub fn append_at(&mut self, messages: &[(&EventData, i64)]) -> Result<(), StoreError> {
        self.write(|tx, db| {
            for (event, seq) in messages {
                events::append_in(tx, db, event, Some(*seq))?;
            }
            Ok(())
        })
    }

    /// Ends every event left open by a crash (phase end, end_timestamp `now`, end_reason
    /// "restart") in one transaction; returns the messages to broadcast.
    pub fn close_open_events(
        &mut self,
        now: OffsetDateTime,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        self.write(|tx, db| events::close_open_in(tx, db, now))
    }

    /// Deletes events older than `retain_days` and beyond `max_events` (oldest first), with
    /// their log rows; then removes their snapshots (failures are logged and counted).
    pub fn apply_retention(
        &mut self,
        policy: &RetentionPolicy,
        now: OffsetDateTime,
        snapshots: &SnapshotStore,
    ) -> Result<RetentionReport, StoreError> {
        let plan = retention::plan(policy, now);
        let mut report = self.write(|tx, db| retention::delete_in(tx, db, &plan))?;
        for id in &report.deleted_ids {
            match snapshots.remove_existing(id) {
                Ok(true) => report.snapshots_removed += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(event = %id, error = %e, "retention: cannot remove snapshot");
                    report.snapshot_errors += 1;
                }
            }
        }
        if !report.deleted_ids.is_empty() {
            tracing::info!(
                by_age = report.deleted_by_age,
                by_count = report.deleted_by_count,
                snapshots = report.snapshots_removed,
                "retention deleted old events"
            );
        }
        Ok(report)
    }

    /// A new read-only connection to this database.
    pub fn reader(&self) -> Result<StoreReader, StoreError> {
        StoreReader::open(&self.dir)
    }

    /// Runs `f` in an immediate transaction; commits only if it succeeds.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>, &Path) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StoreError::db(&self.db, "starting a transaction", e))?;
        let value = f(&tx, &self.db)?;
        tx.commit()
            .map_err(|e| StoreError::db(&self.db, "committing", e))?;
        self.files.complete(&self.db);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::protocol::Phase;

    fn event(n: u64, note_len: usize) -> EventData {
        EventData {
            id: format!("evt-{n}"),
            camera_id: "cam-1".into(),
            event_type: "person".into(),
            timestamp: "2024-01-01T00:00:00Z".into(),
            confidence: 0.9,
            seq: 0,
            phase: Phase::Start,
            camera_name: "x".repeat(note_len),
            end_timestamp: None,
            bbox: None,
            snapshot_url: None,
            end_reason: None,
        }
    }

    #[test]
    fn handles_can_move_to_their_threads() {
        fn send<T: Send>() {}
        fn shared<T: Send + Sync>() {}
        send::<Store>();
        send::<StoreReader>();
        shared::<SnapshotStore>();
    }

    #[test]
    fn writer_connection_settings() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let get = |name: &str| -> String {
            store
                .conn
                .pragma_query_value(None, name, |r| r.get::<_, rusqlite::types::Value>(0))
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        assert_eq!(get("journal_mode"), r#"Text("wal")"#);
        assert_eq!(get("synchronous"), "Integer(2)", "2 = FULL");
        assert_eq!(get("foreign_keys"), "Integer(1)");
        assert_eq!(get("busy_timeout"), "Integer(5000)");
        assert_eq!(get("user_version"), format!("Integer({SCHEMA_VERSION})"));
    }

    /// SQLITE_FULL (here from max_page_count, as a full disk would give) becomes DiskFull,
    /// nothing half-written remains, and the same append succeeds once there is room.
    #[test]
    fn full_database_is_disk_full_and_retry_works() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.append(&event(1, 10)).unwrap();
        let pages: i64 = store
            .conn
            .pragma_query_value(None, "page_count", |r| r.get(0))
            .unwrap();
        store
            .conn
            .pragma_update(None, "max_page_count", pages)
            .unwrap();
        let big = event(2, 64 * 1024);
        let err = store.append(&big).unwrap_err();
        assert!(err.is_disk_full(), "{err}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("disk full writing {}", store.path().display())),
            "{msg}"
        );
        assert!(msg.contains("storage.retain_days"), "{msg}");
        assert_eq!(store.last_event_number().unwrap(), 1);
        assert_eq!(store.reader().unwrap().log_bounds().unwrap(), Some((1, 1)));

        store
            .conn
            .pragma_update(None, "max_page_count", 1_000_000)
            .unwrap();
        let logged = store.append(&big).unwrap();
        assert_eq!(logged.seq, 2);
        assert_eq!(store.last_event_number().unwrap(), 2);
    }
}
