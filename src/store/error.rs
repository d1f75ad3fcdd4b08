//! `StoreError`: every way the store can fail, worded for the operator who reads the log.
//!
//! Messages name the file or directory involved and what to do about it. Disk-full conditions
//! (SQLite's `SQLITE_FULL`, and ENOSPC / EDQUOT / EFBIG on snapshot files) all become
//! [`StoreError::DiskFull`] so the daemon can keep events in memory and retry later.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage directory cannot be created or written.
    #[error("cannot use storage dir {dir}: {source}; {hint}")]
    Dir {
        dir: PathBuf,
        source: io::Error,
        hint: &'static str,
    },

    /// Another daemon holds `gozcu.lock`.
    #[error(
        "storage dir {dir} is in use: another gozcu is running ({holder} holds {dir}/gozcu.lock); \
         stop the other instance or give this one a different storage.dir"
    )]
    Locked { dir: PathBuf, holder: String },

    /// The database was written by a newer gozcu.
    #[error(
        "database {path} has schema version {found}, but this gozcu only knows versions up to \
         {supported}; it was written by a newer gozcu. Upgrade gozcu, or restore a backup taken \
         before the upgrade (a gozcu.db.pre-v{found}.bak file next to it)"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    /// Still corrupt after moving the bad file aside (should not happen; the disk may be failing).
    #[error(
        "database {path} is corrupt ({reason}) even after moving the old file aside; check the \
         filesystem and disk, then remove the file by hand"
    )]
    Corrupt { path: PathBuf, reason: String },

    /// `StoreReader::open` found no database.
    #[error("no database at {path}; the gozcu daemon creates it on its first start")]
    NoDatabase { path: PathBuf },

    /// The filesystem holding the database or the snapshots is full.
    #[error(
        "disk full writing {path}: {detail}; free space on that filesystem or lower \
         storage.retain_days, storage.max_events or storage.max_snapshot_mb"
    )]
    DiskFull { path: PathBuf, detail: String },

    /// Any other SQLite failure.
    #[error("database {path}: {action} failed: {source}{hint}")]
    Db {
        path: PathBuf,
        action: &'static str,
        source: rusqlite::Error,
        hint: &'static str,
    },

    /// A file operation on a snapshot or a database side file failed.
    #[error("{action} {path} failed: {source}; {hint}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
        hint: &'static str,
    },

    /// An event id or snapshot name that is not ours (and could be a path traversal attempt).
    #[error("invalid event id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },

    /// An event with a field the store cannot keep.
    #[error("event {id}: field {field} is invalid: {reason}")]
    InvalidEvent {
        id: String,
        field: &'static str,
        reason: String,
    },

    /// One snapshot alone is bigger than the whole quota.
    #[error(
        "snapshot for {id} is {size} bytes, more than the whole snapshot quota of {quota} bytes; \
         raise storage.max_snapshot_mb"
    )]
    SnapshotTooLarge { id: String, size: u64, quota: u64 },
}

impl StoreError {
    /// True when the write can succeed later once space is freed (keep the data, retry).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::DiskFull { .. })
    }

    /// Maps a rusqlite error on `path` during `action`, singling out a full disk.
    pub(crate) fn db(path: &Path, action: &'static str, source: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode;
        match source.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::DiskFull {
                path: path.to_owned(),
                detail: source.to_string(),
            },
            Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied | ErrorCode::CannotOpen) => {
                StoreError::Db {
                    path: path.to_owned(),
                    action,
                    source,
                    hint: "; check that the file and its directory exist and are writable by the \
                           gozcu user (and that the filesystem is not mounted read-only)",
                }
            }
            _ => StoreError::Db {
                path: path.to_owned(),
                action,
                source,
                hint: "",
            },
        }
    }

    /// Maps an I/O error on `path` during `action`, singling out a full disk.
    pub(crate) fn io(path: &Path, action: &'static str, source: io::Error) -> StoreError {
        if is_disk_full_io(&source) {
            return StoreError::DiskFull {
                path: path.to_owned(),
                detail: source.to_string(),
            };
        }
        StoreError::Io {
            path: path.to_owned(),
            action,
            hint: io_hint(&source),
            source,
        }
    }

    /// An error about the storage directory itself.
    pub(crate) fn dir(dir: &Path, source: io::Error) -> StoreError {
        if is_disk_full_io(&source) {
            return StoreError::DiskFull {
                path: dir.to_owned(),
                detail: source.to_string(),
            };
        }
        StoreError::Dir {
            dir: dir.to_owned(),
            hint: io_hint(&source),
            source,
        }
    }
}

/// ENOSPC, EDQUOT and EFBIG: no room left for this file; freeing space fixes it.
pub(crate) fn is_disk_full_io(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::EFBIG)
    )
}

/// What the operator should check for a given I/O failure.
fn io_hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => {
            "the gozcu user needs write permission there (chown it to the gozcu user, or let \
             systemd create it with StateDirectory=gozcu)"
        }
        Some(libc::EROFS) => {
            "the filesystem is mounted read-only; point storage.dir at a writable one"
        }
        Some(libc::ENOTDIR) => {
            "part of that path is a regular file, not a directory; fix storage.dir in the config"
        }
        Some(libc::ENOENT) => "a parent directory does not exist; create it or fix storage.dir",
        _ => "check storage.dir in the config and the filesystem",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_edquot_efbig_are_disk_full() {
        for errno in [libc::ENOSPC, libc::EDQUOT, libc::EFBIG] {
            let e = StoreError::io(
                Path::new("/s/snapshots/evt-1.jpg"),
                "writing",
                io::Error::from_raw_os_error(errno),
            );
            assert!(e.is_disk_full(), "errno {errno}: {e}");
            let msg = e.to_string();
            assert!(
                msg.starts_with("disk full writing /s/snapshots/evt-1.jpg: "),
                "{msg}"
            );
            assert!(msg.contains("storage.max_snapshot_mb"), "{msg}");
        }
    }

    #[test]
    fn permission_error_names_path_and_fix() {
        let e = StoreError::io(
            Path::new("/s/snapshots/evt-1.jpg"),
            "writing",
            io::Error::from_raw_os_error(libc::EACCES),
        );
        assert!(!e.is_disk_full());
        let msg = e.to_string();
        assert!(
            msg.starts_with("writing /s/snapshots/evt-1.jpg failed: Permission denied"),
            "{msg}"
        );
        assert!(msg.contains("needs write permission"), "{msg}");
    }

    #[test]
    fn read_only_filesystem_hint() {
        let e = StoreError::dir(Path::new("/ro"), io::Error::from_raw_os_error(libc::EROFS));
        let msg = e.to_string();
        assert!(
            msg.starts_with("cannot use storage dir /ro: Read-only file system"),
            "{msg}"
        );
        assert!(msg.contains("mounted read-only"), "{msg}");
    }
}
