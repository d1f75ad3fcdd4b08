//! Snapshot JPEG files (`<storage>/snapshots/<event_id>.jpg`) under a byte quota.
//!
//! Writes are atomic (temporary file, fsync, rename, fsync of the directory), so a reader or a
//! power cut never sees half a JPEG. When a write would exceed the quota, the oldest snapshots
//! (least recently written) are deleted first. Event ids become file names, so they are checked
//! against `[A-Za-z0-9-]`: no id can reach outside the directory.
//!
//! Usage is counted in memory from a scan at open plus our own writes; files changed by someone
//! else are noticed at the next start. Methods take `&self` (an internal mutex) so the writer
//! and the server can share one `SnapshotStore`.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use super::StoreError;
use super::events::parse_event_num;

/// Longest accepted id; keeps file names far below NAME_MAX.
const MAX_ID_LEN: usize = 64;

pub struct SnapshotStore {
    dir: PathBuf,
    /// 0 means no quota.
    quota_bytes: u64,
    index: Mutex<Index>,
}

/// Sizes and write order of the files in the directory.
#[derive(Default)]
struct Index {
    usage: u64,
    next_order: u64,
    by_id: HashMap<String, (u64, u64)>, // id -> (size, order)
    by_order: BTreeMap<u64, String>,
}

impl Index {
    fn insert(&mut self, id: &str, size: u64) {
        self.forget(id);
        let order = self.next_order;
        self.next_order += 1;
        self.usage += size;
        self.by_id.insert(id.to_owned(), (size, order));
        self.by_order.insert(order, id.to_owned());
    }

    fn forget(&mut self, id: &str) {
        if let Some((size, order)) = self.by_id.remove(id) {
            self.usage -= size;
            self.by_order.remove(&order);
        }
    }

    fn oldest_except(&self, id: &str) -> Option<String> {
        self.by_order.values().find(|v| *v != id).cloned()
    }
}

/// Checks that `id` is safe as a file name: 1..=64 of `[A-Za-z0-9-]`.
pub fn validate_id(id: &str) -> Result<(), StoreError> {
    let reason = if id.is_empty() {
        "it is empty"
    } else if id.len() > MAX_ID_LEN {
        "it is longer than 64 characters"
    } else if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        "only letters A-Z a-z, digits and '-' are allowed"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidId {
        id: id.to_owned(),
        reason,
    })
}

impl SnapshotStore {
    /// Creates `dir` if needed, removes temporary files left by a crash and counts usage.
    pub fn open(dir: &Path, quota_bytes: u64) -> Result<SnapshotStore, StoreError> {
        fs::create_dir_all(dir).map_err(|e| StoreError::dir(dir, e))?;
        let mut found: Vec<(SystemTime, i64, String, u64)> = Vec::new();
        let entries = fs::read_dir(dir).map_err(|e| StoreError::dir(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::dir(dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') && name.ends_with(".tmp") {
                if let Err(e) = fs::remove_file(entry.path()) {
                    tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove leftover temporary snapshot");
                }
                continue;
            }
            let Some(id) = name.strip_suffix(".jpg") else {
                continue;
            };
            if validate_id(id).is_err() {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let num = parse_event_num(id).unwrap_or(i64::MAX);
            found.push((mtime, num, id.to_owned(), meta.len()));
        }
        // Oldest first: by time written, ties broken by event number.
        found.sort();
        let mut index = Index::default();
        for (_, _, id, size) in found {
            index.insert(&id, size);
        }
        Ok(SnapshotStore {
            dir: dir.to_owned(),
            quota_bytes,
            index: Mutex::new(index),
        })
    }

    /// A store for `dir` that could not be opened (see [`SnapshotStore::open`]'s error): no
    /// scan, so usage counts only this run's writes. Writes fail until the folder is usable
    /// again and then work, so a snapshot problem never stops the daemon.
    pub fn unscanned(dir: &Path, quota_bytes: u64) -> SnapshotStore {
        SnapshotStore {
            dir: dir.to_owned(),
            quota_bytes,
            index: Mutex::new(Index::default()),
        }
    }

    /// Whether the snapshot of `event_id` is on disk.
    pub fn exists(&self, event_id: &str) -> bool {
        self.checked_path(event_id).is_ok_and(|p| p.is_file())
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        // The index stays consistent between statements, so a panic elsewhere cannot break it.
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `<dir>/<id>.jpg`, or an error for an id that is not a safe file name.
    pub fn checked_path(&self, event_id: &str) -> Result<PathBuf, StoreError> {
        validate_id(event_id)?;
        Ok(self.dir.join(format!("{event_id}.jpg")))
    }

    /// `<dir>/<id>.jpg`. An invalid id (e.g. "../x") yields an empty path, which never opens
    /// (NotFound), so a handler serving it answers 404 without a special case.
    pub fn path_for(&self, event_id: &str) -> PathBuf {
        self.checked_path(event_id).unwrap_or_default()
    }

    /// Atomically writes `<id>.jpg`, first deleting the oldest snapshots if the quota needs it.
    pub fn write(&self, event_id: &str, jpeg: &[u8]) -> Result<PathBuf, StoreError> {
        let path = self.checked_path(event_id)?;
        let size = jpeg.len() as u64;
        if self.quota_bytes > 0 && size > self.quota_bytes {
            return Err(StoreError::SnapshotTooLarge {
                id: event_id.to_owned(),
                size,
                quota: self.quota_bytes,
            });
        }
        let mut index = self.index();
        if self.quota_bytes > 0 {
            let replaced = index.by_id.get(event_id).map_or(0, |&(s, _)| s);
            while index.usage - replaced + size > self.quota_bytes {
                let Some(oldest) = index.oldest_except(event_id) else {
                    break;
                };
                let victim = self.dir.join(format!("{oldest}.jpg"));
                match fs::remove_file(&victim) {
                    Ok(()) => {
                        tracing::debug!(file = %victim.display(), "snapshot quota: removed oldest")
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    // Forget it anyway: retrying the same file forever would block every write.
                    Err(e) => {
                        tracing::warn!(file = %victim.display(), error = %e, "snapshot quota: cannot remove")
                    }
                }
                index.forget(&oldest);
            }
        }
        self.write_atomic(event_id, &path, jpeg)?;
        index.insert(event_id, size);
        Ok(path)
    }

    fn write_atomic(&self, event_id: &str, path: &Path, jpeg: &[u8]) -> Result<(), StoreError> {
        let tmp = self.dir.join(format!(".{event_id}.jpg.tmp"));
        // The folder may have been deleted (with the whole storage dir) while running.
        if !self.dir.is_dir() {
            let _ = fs::create_dir_all(&self.dir);
        }
        let written = File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(jpeg)?;
                f.sync_all()
            })
            .and_then(|()| fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::io(path, "writing snapshot", e));
        }
        // Makes the rename itself durable.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io(&self.dir, "syncing snapshot dir", e))
    }

    /// Deletes `<id>.jpg`; a snapshot that does not exist is not an error.
    pub fn remove(&self, event_id: &str) -> Result<(), StoreError> {
        self.remove_existing(event_id).map(|_| ())
    }

    /// Like `remove`; true when a file was deleted.
    pub fn remove_existing(&self, event_id: &str) -> Result<bool, StoreError> {
        let path = self.checked_path(event_id)?;
        let mut index = self.index();
        let removed = match fs::remove_file(&path) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(StoreError::io(&path, "removing snapshot", e)),
        };
        index.forget(event_id);
        Ok(removed)
    }

    /// Bytes used by snapshot files (as counted by this store).
    pub fn usage_bytes(&self) -> u64 {
        self.index().usage
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn quota_bytes(&self) -> u64 {
        self.quota_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_safe_file_names() {
        for ok in ["evt-1", "evt-123456", "A-z-0"] {
            validate_id(ok).unwrap();
        }
        let cases = [
            ("", "it is empty"),
            ("../etc/passwd", "only letters"),
            ("evt-1/../../x", "only letters"),
            ("..", "only letters"),
            ("evt-1.jpg", "only letters"),
            ("evt 1", "only letters"),
            ("evt-ı", "only letters"),
            ("evt-1\0", "only letters"),
        ];
        for (id, reason) in cases {
            let msg = validate_id(id).unwrap_err().to_string();
            assert!(
                msg.starts_with(&format!("invalid event id {id:?}: ")),
                "{msg}"
            );
            assert!(msg.contains(reason), "{id}: {msg}");
        }
        let long = "a".repeat(65);
        let msg = validate_id(&long).unwrap_err().to_string();
        assert!(msg.contains("longer than 64"), "{msg}");
    }

    #[test]
    fn index_tracks_usage_and_order() {
        let mut i = Index::default();
        i.insert("a", 10);
        i.insert("b", 20);
        i.insert("a", 5);
        assert_eq!(i.usage, 25);
        assert_eq!(i.oldest_except("x").as_deref(), Some("b"));
        assert_eq!(i.oldest_except("b").as_deref(), Some("a"));
        i.forget("b");
        i.forget("missing");
        assert_eq!(i.usage, 5);
        assert_eq!(i.oldest_except("a"), None);
    }
}
