//! Opening the storage directory: the single-daemon lock, the database file with recovery from
//! corruption, and the connection settings every writer needs.
//!
//! A corrupt or foreign `gozcu.db` must not keep the camera daemon from starting: the file (and
//! its -wal/-shm) is moved aside for later inspection and a fresh database is created. Events
//! are lost either way; a daemon that refuses to start would lose the future ones too.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use rusqlite::{Connection, ErrorCode};
use time::OffsetDateTime;

use super::StoreError;

pub const DB_FILE: &str = "gozcu.db";
pub const LOCK_FILE: &str = "gozcu.lock";

/// How long a statement waits for a lock held by another connection before SQLITE_BUSY.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Creates `dir` if needed and takes the exclusive `gozcu.lock`, held until the returned value
/// drops. The lock file records the holder's pid so the refusal can name it.
pub(crate) fn lock_dir(dir: &Path) -> Result<Flock<File>, StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::dir(dir, e))?;
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| StoreError::dir(dir, e))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => {
            // Only informative; a failure here (e.g. disk full) must not stop the daemon.
            let pid = format!("{}\n", std::process::id());
            if let Err(e) = lock
                .set_len(0)
                .and_then(|()| lock.write_all_at(pid.as_bytes(), 0))
            {
                tracing::warn!(lock = %path.display(), error = %e, "cannot record pid in lock file");
            }
            Ok(lock)
        }
        Err((file, errno)) if errno == Errno::EWOULDBLOCK => Err(StoreError::Locked {
            dir: dir.to_owned(),
            holder: holder(&file),
        }),
        Err((_, errno)) => Err(StoreError::dir(dir, io::Error::from(errno))),
    }
}

fn holder(file: &File) -> String {
    let mut buf = [0u8; 32];
    let n = file.read_at(&mut buf, 0).unwrap_or(0);
    match std::str::from_utf8(&buf[..n]).map(|s| s.trim().parse::<u32>()) {
        Ok(Ok(pid)) => format!("pid {pid}"),
        _ => "another process".to_owned(),
    }
}

/// Opens `db`; a corrupt file or one that is not a database is moved aside and replaced by an
/// empty one. Returns the connection and where the bad file went.
pub(crate) fn open_db(db: &Path) -> Result<(Connection, Option<PathBuf>), StoreError> {
    let (bad_conn, reason) = match open_checked(db)? {
        Ok(conn) => return Ok((conn, None)),
        Err(bad) => bad,
    };
    // Rename while the failed connection is still open: closing it first would let SQLite
    // delete the -wal file, which may hold the last committed events.
    let aside = move_aside(db, OffsetDateTime::now_utc());
    drop(bad_conn);
    let aside = aside?;
    tracing::error!(
        db = %db.display(),
        moved_to = %aside.display(),
        reason = %reason,
        "database is corrupt or not a database; moved it aside and started a new, empty one \
         (earlier events are only in the moved file)"
    );
    match open_checked(db)? {
        Ok(conn) => Ok((conn, Some(aside))),
        Err((_, reason)) => Err(StoreError::Corrupt {
            path: db.to_owned(),
            reason,
        }),
    }
}

/// A connection that opened but whose content is corrupt, with the reason.
type Corrupt = (Option<Connection>, String);

/// Outer error: cannot open at all. Inner error: opened, but the content is corrupt.
fn open_checked(db: &Path) -> Result<Result<Connection, Corrupt>, StoreError> {
    let conn = match Connection::open(db) {
        Ok(c) => c,
        Err(e) if is_corruption(&e) => return Ok(Err((None, e.to_string()))),
        Err(e) => return Err(StoreError::db(db, "opening", e)),
    };
    let check = conn.query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0));
    match check {
        Ok(s) if s == "ok" => Ok(Ok(conn)),
        Ok(s) => Ok(Err((Some(conn), s))),
        Err(e) if is_corruption(&e) => Ok(Err((Some(conn), e.to_string()))),
        Err(e) => Err(StoreError::db(db, "checking integrity", e)),
    }
}

fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
}

/// Renames `gozcu.db` (and -wal, -shm) to `gozcu.db.corrupt-<UTC time>`; the side files keep
/// their suffix so sqlite3 can still open the pair for salvage.
fn move_aside(db: &Path, now: OffsetDateTime) -> Result<PathBuf, StoreError> {
    let stamp = now
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_else(|_| now.unix_timestamp().to_string());
    let mut base = db.as_os_str().to_owned();
    base.push(format!(".corrupt-{stamp}"));
    let mut aside = PathBuf::from(&base);
    // A second recovery within the same second must not overwrite the first file.
    let mut n = 1;
    while aside.exists() {
        n += 1;
        let mut name = base.clone();
        name.push(format!("-{n}"));
        aside = PathBuf::from(name);
    }
    for suffix in ["-wal", "-shm"] {
        let from = with_suffix(db, suffix);
        if from.exists() {
            let to = with_suffix(&aside, suffix);
            std::fs::rename(&from, &to)
                .map_err(|e| StoreError::io(&from, "moving the corrupt database aside:", e))?;
        }
    }
    std::fs::rename(db, &aside)
        .map_err(|e| StoreError::io(db, "moving the corrupt database aside:", e))?;
    Ok(aside)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Settings for the writer: WAL so readers never block it, FULL sync so a committed event
/// survives power loss (it was already sent to clients), foreign keys for the cascade.
pub(crate) fn configure_writer(conn: &Connection, db: &Path) -> Result<(), StoreError> {
    let err = |e| StoreError::db(db, "configuring", e);
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(err)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        // E.g. a filesystem without shared-memory support; still correct, only slower.
        tracing::warn!(db = %db.display(), mode, "database is not in WAL mode");
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn move_aside_keeps_pairs_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(DB_FILE);
        let now = time::macros::datetime!(2024-03-05 06:07:08 UTC);
        std::fs::write(&db, b"one").unwrap();
        std::fs::write(with_suffix(&db, "-wal"), b"wal").unwrap();
        let first = move_aside(&db, now).unwrap();
        assert_eq!(first, dir.path().join("gozcu.db.corrupt-20240305T060708Z"));
        assert_eq!(
            std::fs::read(dir.path().join("gozcu.db.corrupt-20240305T060708Z-wal")).unwrap(),
            b"wal"
        );
        std::fs::write(&db, b"two").unwrap();
        let second = move_aside(&db, now).unwrap();
        assert_eq!(
            second,
            dir.path().join("gozcu.db.corrupt-20240305T060708Z-2")
        );
        assert_eq!(std::fs::read(&first).unwrap(), b"one");
        assert_eq!(std::fs::read(&second).unwrap(), b"two");
        assert!(!db.exists());
    }
}
