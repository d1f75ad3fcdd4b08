//! Opening a storage dir: recovery from corruption, the newer-schema refusal, the lock,
//! unusable directories, the pre-migration backup and connection settings.

use gozcu::server::protocol::Phase;
use gozcu::store::{SCHEMA_VERSION, SnapshotStore, Store, StoreError, StoreReader};
use rusqlite::Connection;

use crate::ev;

#[test]
fn garbage_database_is_moved_aside_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gozcu.db");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&db, &garbage).unwrap();
    std::fs::write(dir.path().join("gozcu.db-wal"), b"junk wal").unwrap();

    let mut store = Store::open(dir.path()).unwrap();
    let aside = store.recovered_from().unwrap().to_owned();
    let name = aside.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("gozcu.db.corrupt-"), "{name}");
    assert!(name.ends_with('Z'), "{name}");
    assert_eq!(aside.parent(), Some(dir.path()));
    assert_eq!(std::fs::read(&aside).unwrap(), garbage);
    let wal = dir.path().join(format!("{name}-wal"));
    assert_eq!(std::fs::read(wal).unwrap(), b"junk wal");

    let logged = store
        .append(&ev(1, "cam-1", "person", Phase::Start))
        .unwrap();
    assert_eq!(logged.seq, 1);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.recovered_from(), None);
    assert_eq!(store.last_event_number().unwrap(), 1);
}

#[test]
fn database_with_damaged_pages_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gozcu.db");
    {
        let mut store = Store::open(dir.path()).unwrap();
        for n in 1..=50 {
            store
                .append(&ev(n, "cam-1", "person", Phase::Start))
                .unwrap();
        }
    } // The last connection closing checkpoints the WAL into gozcu.db.
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() > 3 * 4096, "{} bytes", bytes.len());
    // Keep the 100-byte header valid, smash the rest of the first pages.
    for b in &mut bytes[100..3 * 4096] {
        *b = 0xA5;
    }
    std::fs::write(&db, &bytes).unwrap();

    let mut store = Store::open(dir.path()).unwrap();
    let aside = store
        .recovered_from()
        .expect("corruption detected")
        .to_owned();
    assert_eq!(std::fs::read(&aside).unwrap(), bytes);
    assert_eq!(store.last_event_number().unwrap(), 0);
    assert_eq!(
        store
            .append(&ev(1, "cam-1", "person", Phase::Start))
            .unwrap()
            .seq,
        1
    );
}

#[test]
fn newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gozcu.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
        .unwrap();
    let err = Store::open(dir.path()).err().unwrap();
    assert!(matches!(err, StoreError::TooNew { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "database {} has schema version 99, but this gozcu only knows versions up to \
             {SCHEMA_VERSION}; it was written by a newer gozcu. Upgrade gozcu, or restore a \
             backup taken before the upgrade (a gozcu.db.pre-v99.bak file next to it)",
            db.display()
        )
    );
    let conn = Connection::open(&db).unwrap();
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, 99);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete", "not even switched to WAL");
}

#[test]
fn second_store_on_one_dir_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path()).err().unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "storage dir {0} is in use: another gozcu is running (pid {1} holds \
             {0}/gozcu.lock); stop the other instance or give this one a different storage.dir",
            dir.path().display(),
            std::process::id()
        )
    );
    // Readers do not need the lock.
    StoreReader::open(dir.path()).unwrap();
    drop(first);
    Store::open(dir.path()).unwrap();
}

#[test]
fn storage_dir_under_a_regular_file_is_a_clear_error() {
    // Fails for root too, unlike a permission check.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let storage = file.join("gozcu");
    let msg = Store::open(&storage).err().unwrap().to_string();
    assert_eq!(
        msg,
        format!(
            "cannot use storage dir {}: Not a directory (os error 20); part of that path is a \
             regular file, not a directory; fix storage.dir in the config",
            storage.display()
        )
    );
    let msg = SnapshotStore::open(&storage.join("snapshots"), 0)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("Not a directory"), "{msg}");
}

#[test]
fn unwritable_storage_dir_names_the_permission_problem() {
    use std::os::unix::fs::PermissionsExt;
    if nix::unistd::geteuid().is_root() {
        eprintln!("note: running as root, which bypasses file permissions; skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("ro");
    std::fs::create_dir(&storage).unwrap();
    std::fs::set_permissions(&storage, std::fs::Permissions::from_mode(0o500)).unwrap();
    let msg = Store::open(&storage).err().unwrap().to_string();
    std::fs::set_permissions(&storage, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(
        msg.starts_with(&format!(
            "cannot use storage dir {}: Permission denied",
            storage.display()
        )),
        "{msg}"
    );
    assert!(msg.contains("needs write permission"), "{msg}");
}

#[test]
fn existing_older_database_is_backed_up_before_migration() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gozcu.db");
    // A version-0 database with content (e.g. made by hand or by a pre-release build).
    Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE leftover (x); INSERT INTO leftover VALUES (42);")
        .unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store
        .append(&ev(1, "cam-1", "person", Phase::Start))
        .unwrap();

    let backup = dir
        .path()
        .join(format!("gozcu.db.pre-v{SCHEMA_VERSION}.bak"));
    let old = Connection::open(&backup).unwrap();
    let x: i64 = old
        .query_row("SELECT x FROM leftover", [], |r| r.get(0))
        .unwrap();
    assert_eq!(x, 42);
    let v: i64 = old
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, 0);
    let v: i64 = Connection::open(&db)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);

    // A fresh directory gets no backup.
    let fresh = tempfile::tempdir().unwrap();
    Store::open(fresh.path()).unwrap();
    let names: Vec<String> = std::fs::read_dir(fresh.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".bak"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn database_is_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let _store = Store::open(dir.path()).unwrap();
    // journal_mode=WAL is stored in the file, so another connection sees it.
    let conn = Connection::open(dir.path().join("gozcu.db")).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // synchronous and foreign_keys are per connection: checked by a unit test in store/mod.rs.
}

#[test]
fn reader_without_database_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let msg = StoreReader::open(dir.path()).err().unwrap().to_string();
    assert_eq!(
        msg,
        format!(
            "no database at {}; the gozcu daemon creates it on its first start",
            dir.path().join("gozcu.db").display()
        )
    );
}
