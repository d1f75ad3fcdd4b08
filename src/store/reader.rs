//! Read-only access for the server: event history (REST) and the event log (WebSocket resume).
//!
//! Each `StoreReader` owns its own read-only connection; with WAL, readers see every committed
//! write and never block the writer. A reader may be moved to another thread but not shared.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::config::DbConfig;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::StoreError;
use super::events::{COLUMNS, from_row};
use super::migrate::{MIGRATIONS, check_not_newer};
use super::open::{BUSY_TIMEOUT, DB_FILE};
use super::restore::identity;
use crate::server::protocol::{EventData, LoggedEvent};

/// Which events `list_events` returns (newest first by latest seq).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    pub camera_id: Option<String>,
    pub event_type: Option<String>,
    /// Only events whose latest seq is below this (the page after one ending at that seq).
    pub before_seq: Option<i64>,
    /// The caller clamps this (REST: 1..=500); 0 returns nothing.
    pub limit: usize,
}

impl Default for EventFilter {
    fn default() -> Self {
        Self {
            camera_id: None,
            event_type: None,
            before_seq: None,
            limit: 50,
        }
    }
}

pub struct StoreReader {
    conn: Connection,
    db: PathBuf,
    /// (device, inode) of the file opened, to notice that `gozcu.db` was deleted or restored.
    identity: Option<(u64, u64)>,
}

impl StoreReader {
    /// Opens the existing database in `dir` read-only.
    pub fn open(dir: &Path) -> Result<StoreReader, StoreError> {
        let db = dir.join(DB_FILE);
        if !db.is_file() {
            return Err(StoreError::NoDatabase { path: db });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&db, flags)
            .map_err(|e| StoreError::db(&db, "opening read-only", e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| StoreError::db(&db, "configuring", e))?;
        // A reader must never checkpoint on close: SQLite would then delete `gozcu.db-wal` by
        // name, which after a restore (restore.rs) belongs to another file.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(|e| StoreError::db(&db, "configuring", e))?;
        check_not_newer(&conn, &db, MIGRATIONS)?;
        Ok(StoreReader {
            identity: identity(&db),
            conn,
            db,
        })
    }

    /// False once `gozcu.db` is no longer the file this reader has open (deleted, or restored
    /// as a new file): the reader should be dropped and a new one opened.
    pub fn is_current(&self) -> bool {
        self.identity.is_some() && identity(&self.db) == self.identity
    }

    fn err(&self, action: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |e| StoreError::db(&self.db, action, e)
    }

    pub fn epoch(&self) -> Result<String, StoreError> {
        self.conn
            .query_row("SELECT epoch FROM meta WHERE id = 1", [], |r| r.get(0))
            .map_err(self.err("reading the epoch"))
    }

    /// Logged event messages with seq > `since`, ascending, at most `limit`.
    pub fn log_after(&self, since: i64, limit: usize) -> Result<Vec<LoggedEvent>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT seq, camera_id, payload FROM event_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(self.err("reading the event log"))?;
        let rows = st
            .query_map((since, sql_limit(limit)), |r| {
                Ok(LoggedEvent {
                    seq: r.get(0)?,
                    camera_id: r.get(1)?,
                    json: Arc::from(r.get::<_, String>(2)?),
                })
            })
            .and_then(|rows| rows.collect());
        rows.map_err(self.err("reading the event log"))
    }

    /// (lowest, highest) seq still in the log; None when it is empty.
    pub fn log_bounds(&self) -> Result<Option<(i64, i64)>, StoreError> {
        let bounds: (Option<i64>, Option<i64>) = self
            .conn
            .query_row("SELECT min(seq), max(seq) FROM event_log", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(self.err("reading the event log"))?;
        Ok(match bounds {
            (Some(lo), Some(hi)) => Some((lo, hi)),
            _ => None,
        })
    }

    /// The latest data of each matching event (with its latest seq), newest first.
    pub fn list_events(&self, filter: &EventFilter) -> Result<Vec<EventData>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM events WHERE 1 = 1");
        let mut args: Vec<Value> = Vec::new();
        if let Some(camera) = &filter.camera_id {
            sql.push_str(" AND camera_id = ?");
            args.push(Value::Text(camera.clone()));
        }
        if let Some(kind) = &filter.event_type {
            sql.push_str(" AND event_type = ?");
            args.push(Value::Text(kind.clone()));
        }
        if let Some(before) = filter.before_seq {
            sql.push_str(" AND last_seq < ?");
            args.push(Value::Integer(before));
        }
        sql.push_str(" ORDER BY last_seq DESC LIMIT ?");
        args.push(Value::Integer(sql_limit(filter.limit)));
        let mut st = self
            .conn
            .prepare_cached(&sql)
            .map_err(self.err("listing events"))?;
        let rows = st
            .query_map(rusqlite::params_from_iter(args), from_row)
            .and_then(|rows| rows.collect());
        rows.map_err(self.err("listing events"))
    }

    pub fn get_event(&self, id: &str) -> Result<Option<EventData>, StoreError> {
        self.conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM events WHERE id = ?1"))
            .and_then(|mut st| st.query_row([id], from_row).optional())
            .map_err(self.err("reading an event"))
    }
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
