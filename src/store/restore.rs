//! A database file deleted while the daemon runs (a cleanup script, an operator's `rm`): the
//! writer's connection still has the deleted file open, with every event in it, so the store
//! writes it back under its name (`VACUUM INTO` a temporary file, then a rename) and goes on
//! with the new file. Same content, same epoch: clients resume as if nothing had happened.
//!
//! SQLite deletes `gozcu.db-wal` *by name* when the last connection to a database closes and
//! checkpoints. The connection to the deleted file must therefore be closed without that
//! checkpoint, or it would delete the restored file's log; read-only connections are opened
//! that way too (reader.rs). Side files left by the deleted database are removed before the
//! restored one appears, so they are never taken for its log.
//!
//! A restore either completes or leaves the store as it was (still writing to the deleted
//! file, which keeps every event until the process ends), so the writer can simply retry.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use rusqlite::config::DbConfig;

use super::open::configure_writer;
use super::{Store, StoreError};

/// Whether `gozcu.db` is still the file the store has open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    Same,
    /// Deleted (or renamed away), or one of its side files (`-wal`, `-shm`) is: restore it
    /// with [`Store::restore`].
    Missing,
    /// Another file now has the name. It is left alone; the store keeps using its own.
    Replaced,
}

/// (device, inode) of `path`, to recognise the file later.
pub(crate) fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The database file and its WAL side files as the writer opened them. SQLite keeps the
/// same `-wal` and `-shm` files while a connection is open, so a different or missing one
/// means it was deleted under the writer: its commits would then go to a file nobody else
/// sees (`rm gozcu.db*` removes the files one by one, so the main file may already be a
/// restored one when the side files go).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OpenFiles {
    db: Option<(u64, u64)>,
    wal: Option<(u64, u64)>,
    shm: Option<(u64, u64)>,
}

impl OpenFiles {
    pub(crate) fn of(db: &Path) -> OpenFiles {
        OpenFiles {
            db: identity(db),
            wal: identity(&with_suffix(db, "-wal")),
            shm: identity(&with_suffix(db, "-shm")),
        }
    }

    /// Records side files SQLite created after `of` (it makes them on first use), while the
    /// main file is still ours. Called after each commit; a no-op once both are known.
    pub(crate) fn complete(&mut self, db: &Path) {
        if (self.wal.is_some() && self.shm.is_some()) || identity(db) != self.db {
            return;
        }
        let now = OpenFiles::of(db);
        self.wal = self.wal.or(now.wal);
        self.shm = self.shm.or(now.shm);
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn remove_if_exists(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(path, "removing", e)),
    }
}

/// Removes `path` and the side files SQLite may have created next to it.
fn remove_with_side_files(path: &Path) -> Result<(), StoreError> {
    for suffix in ["-wal", "-shm", "-journal"] {
        remove_if_exists(&with_suffix(path, suffix))?;
    }
    remove_if_exists(path)
}

/// Renames the file that took the database's name (not the one the store has open) to
/// `gozcu.db.replaced-<UTC time>` and returns the new name. Side files are left alone: the
/// ones at the path belong to the open database.
pub fn move_aside_replaced(db: &Path) -> Result<PathBuf, StoreError> {
    let now = time::OffsetDateTime::now_utc();
    let stamp = now
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_else(|_| now.unix_timestamp().to_string());
    let mut to = with_suffix(db, &format!(".replaced-{stamp}"));
    let mut n = 1;
    while to.exists() {
        n += 1;
        to = with_suffix(db, &format!(".replaced-{stamp}-{n}"));
    }
    std::fs::rename(db, &to)
        .map_err(|e| StoreError::io(db, "moving the replaced database aside:", e))?;
    Ok(to)
}

impl Store {
    /// Whether `gozcu.db` (and its side files) are still the files this store has open
    /// (a few `stat`s).
    pub fn file_state(&self) -> FileState {
        let Some(ours) = self.files.db else {
            return FileState::Same;
        };
        match std::fs::metadata(&self.db) {
            Ok(m) if (m.dev(), m.ino()) == ours => {}
            Ok(_) => return FileState::Replaced,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return FileState::Missing,
            // Cannot tell (e.g. a permission problem); the next write will say more.
            Err(_) => return FileState::Same,
        }
        for (opened, suffix) in [(self.files.wal, "-wal"), (self.files.shm, "-shm")] {
            if opened.is_some_and(|id| identity(&with_suffix(&self.db, suffix)) != Some(id)) {
                return FileState::Missing;
            }
        }
        FileState::Same
    }

    /// Writes the open (deleted) database back to `gozcu.db` and continues on that file.
    /// On error nothing changed and it can be tried again.
    pub fn restore(&mut self) -> Result<(), StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| StoreError::dir(&self.dir, e))?;
        let tmp = with_suffix(&self.db, ".restore");
        remove_with_side_files(&tmp)?;
        let target = tmp.to_str().ok_or_else(|| {
            StoreError::io(
                &tmp,
                "restoring the database to",
                io::Error::other("the path is not UTF-8"),
            )
        })?;
        if let Err(e) = self.conn.execute("VACUUM INTO ?1", [target]) {
            let _ = remove_with_side_files(&tmp);
            return Err(StoreError::db(
                &self.db,
                "copying the open database back (VACUUM INTO)",
                e,
            ));
        }
        // From here on the old connection must never delete the log by name.
        let _ = self
            .conn
            .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true);
        let new = remove_with_side_files(&self.db)
            .and_then(|()| {
                std::fs::rename(&tmp, &self.db)
                    .map_err(|e| StoreError::io(&self.db, "restoring", e))
            })
            .and_then(|()| {
                let conn = Connection::open(&self.db)
                    .map_err(|e| StoreError::db(&self.db, "opening the restored file", e))?;
                configure_writer(&conn, &self.db)?;
                Ok(conn)
            });
        match new {
            Ok(conn) => {
                let old = std::mem::replace(&mut self.conn, conn);
                drop(old);
                self.files = OpenFiles::of(&self.db);
                Ok(())
            }
            Err(e) => {
                let _ = remove_with_side_files(&tmp);
                let _ = remove_with_side_files(&self.db);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::protocol::{EventData, Phase};

    fn event(n: u64) -> EventData {
        EventData {
            id: format!("evt-{n}"),
            camera_id: "cam-1".into(),
            event_type: "motion".into(),
            timestamp: "2024-01-01T00:00:00Z".into(),
            confidence: 1.0,
            seq: 0,
            phase: Phase::Start,
            camera_name: "Cam".into(),
            end_timestamp: None,
            bbox: None,
            snapshot_url: None,
            end_reason: None,
        }
    }

    /// Deleted with its side files, and with only the main file gone: restored with every
    /// event and the same epoch; a reader opened before keeps working until dropped, and
    /// readers opened after see the restored file and new writes.
    #[test]
    fn deleted_database_is_restored_with_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let db = store.path().to_owned();
        store.append(&event(1)).unwrap();
        let epoch = store.epoch().to_string();
        // The main file; all three; only the log (the rest of an `rm gozcu.db*` that raced
        // with a restore).
        let rounds = [vec![""], vec!["", "-wal", "-shm"], vec!["-wal"]];
        for (round, files) in rounds.iter().enumerate() {
            let old_reader = store.reader().unwrap();
            assert!(old_reader.is_current());
            for suffix in files {
                std::fs::remove_file(with_suffix(&db, suffix)).unwrap();
            }
            assert_eq!(store.file_state(), FileState::Missing);
            // Readers only watch the main file; they reopen once the restore replaced it.
            assert_eq!(old_reader.is_current(), !files.contains(&""));
            // The deleted file still takes writes.
            store.append(&event(2 + round as u64)).unwrap();
            store.restore().unwrap();
            assert_eq!(store.file_state(), FileState::Same);
            drop(old_reader);
            store.append(&event(10 + round as u64)).unwrap();
            let reader = store.reader().unwrap();
            assert_eq!(reader.epoch().unwrap(), epoch);
            let seqs: Vec<i64> = reader
                .log_after(0, 100)
                .unwrap()
                .iter()
                .map(|l| l.seq)
                .collect();
            let want: Vec<i64> = (1..=seqs.len() as i64).collect();
            assert_eq!(seqs, want, "round {round}: every message, in order");
            assert_eq!(seqs.len(), 3 + 2 * round);
        }
        assert!(!with_suffix(&db, ".restore").exists());
        // Still a healthy database after the store closes and opens again.
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.last_seq().unwrap(), 7);
        assert!(store.recovered_from().is_none());
    }

    #[test]
    fn replaced_database_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let db = store.path().to_owned();
        std::fs::rename(&db, dir.path().join("moved.db")).unwrap();
        std::fs::write(&db, b"someone else's file").unwrap();
        assert_eq!(store.file_state(), FileState::Replaced);
        let aside = move_aside_replaced(&db).unwrap();
        assert!(
            aside
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("gozcu.db.replaced-"),
            "{aside:?}"
        );
        assert_eq!(std::fs::read(&aside).unwrap(), b"someone else's file");
        assert_eq!(store.file_state(), FileState::Missing);
    }
}
