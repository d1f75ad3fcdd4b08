//! Retention (rows, log and snapshots together) and the snapshot files' quota and names.

use std::path::Path;

use gozcu::server::protocol::Phase;
use gozcu::store::{EventFilter, RetentionPolicy, SnapshotStore, Store};

use crate::{NOW, ev, started_at};

#[test]
fn retention_by_age_and_count_removes_rows_log_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let snaps = SnapshotStore::open(&dir.path().join("snapshots"), 0).unwrap();
    let day = time::Duration::days(1);
    let starts = [
        NOW - day * 20,
        NOW - day * 15,
        NOW - day * 14,
        NOW - day,
        NOW,
    ];
    for (i, t) in starts.iter().enumerate() {
        let n = i as u64 + 1;
        store
            .append(&started_at(ev(n, "cam-1", "person", Phase::Start), *t))
            .unwrap();
        store
            .append(&started_at(ev(n, "cam-1", "person", Phase::End), *t))
            .unwrap();
        snaps.write(&format!("evt-{n}"), &[n as u8; 10]).unwrap();
    }
    let reader = store.reader().unwrap();

    // Age: older than 14 days goes; exactly 14 days stays.
    let by_age = RetentionPolicy {
        retain_days: 14,
        max_events: 0,
    };
    let report = store.apply_retention(&by_age, NOW, &snaps).unwrap();
    assert_eq!(report.deleted_ids, vec!["evt-1", "evt-2"]);
    assert_eq!((report.deleted_by_age, report.deleted_by_count), (2, 0));
    assert_eq!((report.snapshots_removed, report.snapshot_errors), (2, 0));
    assert_eq!(reader.get_event("evt-1").unwrap(), None);
    assert!(reader.get_event("evt-3").unwrap().is_some());
    assert_eq!(reader.log_bounds().unwrap(), Some((5, 10)));
    assert!(!snaps.path_for("evt-2").exists());
    assert!(snaps.path_for("evt-3").exists());
    assert_eq!(snaps.usage_bytes(), 30);

    // Count: only the newest 2 stay.
    let by_count = RetentionPolicy {
        retain_days: 14,
        max_events: 2,
    };
    let report = store.apply_retention(&by_count, NOW, &snaps).unwrap();
    assert_eq!(report.deleted_ids, vec!["evt-3"]);
    assert_eq!((report.deleted_by_age, report.deleted_by_count), (0, 1));
    let left: Vec<String> = reader
        .list_events(&EventFilter::default())
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, vec!["evt-5", "evt-4"]);
    assert_eq!(reader.log_bounds().unwrap(), Some((7, 10)));

    // Nothing more to do: an empty report.
    let again = store.apply_retention(&by_count, NOW, &snaps).unwrap();
    assert_eq!(again, Default::default());
}

#[test]
fn snapshot_quota_deletes_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let snap_dir = dir.path().join("snapshots");
    let snaps = SnapshotStore::open(&snap_dir, 250).unwrap();
    let p1 = snaps.write("evt-1", &[1; 100]).unwrap();
    assert_eq!(p1, snap_dir.join("evt-1.jpg"));
    snaps.write("evt-2", &[2; 100]).unwrap();
    assert_eq!(snaps.usage_bytes(), 200);
    // Rewriting evt-1 (a better frame) fits without deleting anything, and makes it newest.
    snaps.write("evt-1", &[11; 120]).unwrap();
    assert_eq!(snaps.usage_bytes(), 220);
    snaps.write("evt-3", &[3; 100]).unwrap();
    assert!(
        !snaps.path_for("evt-2").exists(),
        "oldest written goes first"
    );
    assert_eq!(
        std::fs::read(snaps.path_for("evt-1")).unwrap(),
        vec![11; 120]
    );
    assert_eq!(
        std::fs::read(snaps.path_for("evt-3")).unwrap(),
        vec![3; 100]
    );
    assert_eq!(snaps.usage_bytes(), 220);

    let msg = snaps.write("evt-4", &[4; 251]).unwrap_err().to_string();
    assert_eq!(
        msg,
        "snapshot for evt-4 is 251 bytes, more than the whole snapshot quota of 250 bytes; raise storage.max_snapshot_mb"
    );
    assert!(
        snaps.path_for("evt-1").exists(),
        "a refused write deletes nothing"
    );

    snaps.remove("evt-1").unwrap();
    snaps.remove("evt-1").unwrap();
    assert_eq!(snaps.usage_bytes(), 100);

    // A restart counts what is on disk, drops leftovers of an interrupted write, and keeps
    // the write order.
    std::fs::write(snap_dir.join(".evt-9.jpg.tmp"), b"partial").unwrap();
    std::fs::write(snap_dir.join("notes.txt"), b"not a snapshot").unwrap();
    drop(snaps);
    let snaps = SnapshotStore::open(&snap_dir, 250).unwrap();
    assert_eq!(snaps.usage_bytes(), 100);
    assert!(!snap_dir.join(".evt-9.jpg.tmp").exists());
    snaps.write("evt-5", &[5; 100]).unwrap();
    snaps.write("evt-6", &[6; 100]).unwrap();
    assert!(!snaps.path_for("evt-3").exists());
    assert!(snaps.path_for("evt-5").exists() && snaps.path_for("evt-6").exists());
    assert!(
        snap_dir.join("notes.txt").exists(),
        "foreign files are left alone"
    );
}

#[test]
fn snapshot_ids_cannot_escape_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let snap_dir = dir.path().join("snapshots");
    let snaps = SnapshotStore::open(&snap_dir, 0).unwrap();
    std::fs::write(dir.path().join("secret.jpg"), b"secret").unwrap();
    for id in [
        "../secret",
        "..",
        "/etc/passwd",
        "evt-1/../../secret",
        "evt-1.",
        "",
    ] {
        assert_eq!(snaps.path_for(id), Path::new(""), "{id}");
        assert_eq!(
            std::fs::read(snaps.path_for(id)).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
        let msg = snaps.write(id, b"x").unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("invalid event id {id:?}: ")),
            "{msg}"
        );
        let msg = snaps.remove(id).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("invalid event id {id:?}: ")),
            "{msg}"
        );
    }
    assert_eq!(
        std::fs::read(dir.path().join("secret.jpg")).unwrap(),
        b"secret"
    );
    assert_eq!(snaps.path_for("evt-12"), snap_dir.join("evt-12.jpg"));
}
