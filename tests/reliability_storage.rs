//! Storage faults under the real daemon: a full disk (a small tmpfs), the database file
//! deleted while running, a corrupt database at start, and a snapshot folder that cannot be
//! written. In every case the daemon keeps running, status says what is wrong, clients keep
//! getting events, and every message a client was sent ends up in the database with the seq
//! it was sent with (docs/reliability.md).

mod daemon_common;
mod reliability_common;

use daemon_common::*;
use reliability_common::*;
use serde_json::Value;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

/// Free space, snapshots skipped below the reserve, database full, space back.
#[test]
fn full_disk_keeps_events_flowing_and_stores_them_with_their_seq_once_space_returns() {
    let base = tempfile::tempdir().unwrap();
    let storage = base.path().join("data");
    // 80 MiB: above the 64 MiB snapshot reserve at first, so snapshots are written.
    let Some(_tmpfs) = tmpfs(&storage, 80) else {
        return;
    };
    let videos = burst_videos(&base.path().join("videos"), 2);
    let mut d = start(&burst_config(&storage, &videos, ""));
    d.wait_health("cameras online", Duration::from_secs(30), |h| {
        h["cameras"]["online"] == 2
    });
    let live = Recorder::start(d.port, "");
    live.wait(
        "events with snapshots",
        Duration::from_secs(30),
        &d.log,
        |s| s.events.len() >= 4 && s.events.iter().any(|e| e["snapshot_url"].is_string()),
    );

    // Below the reserve: snapshots stop, the database still stores every message.
    fill(&storage.join("filler-1"), 20 * MIB);
    let low_mark = live.seen().max_seq();
    let low = live.wait(
        "events without snapshots while space is low",
        Duration::from_secs(30),
        &d.log,
        |s| {
            s.events.iter().any(|e| {
                e["seq"].as_i64() > Some(low_mark + 3)
                    && e["phase"] == "start"
                    && e["snapshot_url"].is_null()
            })
        },
    );
    let h = d.wait_health("snapshots paused", Duration::from_secs(10), |h| {
        h["storage"]["snapshots"] == "low_space"
    });
    assert_eq!(h["storage"]["state"], "ok", "the database still works: {h}");
    let log = event_log(&storage);
    let stored_low: Vec<&Value> = low
        .events
        .iter()
        .filter(|e| e["seq"].as_i64() > Some(low_mark + 3))
        .collect();
    for e in &stored_low {
        let seq = e["seq"].as_i64().unwrap();
        assert_eq!(log.get(&seq), Some(*e), "stored while snapshots are off");
    }

    // Full: the database cannot commit; messages are still sent live with their seq.
    fill(&storage.join("filler-2"), 0);
    let h = d.wait_health("storage error", Duration::from_secs(30), |h| {
        h["storage"]["state"] == "error"
    });
    let err = h["storage"]["error"].as_str().unwrap_or_default();
    assert!(err.starts_with("disk full writing "), "{h}");
    assert!(err.contains("gozcu.db"), "{h}");
    let stored_max = *event_log(&storage).keys().last().unwrap();
    let outage = live.wait(
        "events sent during the outage",
        Duration::from_secs(30),
        &d.log,
        |s| s.max_seq() >= stored_max + 12,
    );
    let h = d.health().unwrap();
    assert_eq!(h["storage"]["state"], "error", "{h}");
    eprintln!(
        "stored before the outage: up to seq {stored_max}; sent during it: up to {}; \
         status pending: {}",
        outage.max_seq(),
        h["storage"]["pending"]
    );
    assert!(
        h["storage"]["pending"].as_u64() > Some(0),
        "status counts the messages waiting for the disk: {h}"
    );
    assert_eq!(
        *event_log(&storage).keys().last().unwrap(),
        stored_max,
        "nothing was committed meanwhile"
    );
    // A client resuming during the outage gets the stored and the pending messages.
    let since = stored_max - 3;
    let resumed = Recorder::start(d.port, &format!("?since={since}"));
    let target = outage.max_seq();
    let resumed_seen = resumed.wait(
        "the replay through the outage",
        Duration::from_secs(20),
        &d.log,
        |s| s.max_seq() >= target,
    );
    assert!(resumed_seen.resets.is_empty(), "{:?}", resumed_seen.resets);
    let sent: Vec<Value> = live
        .seen()
        .events
        .into_iter()
        .filter(|e| e["seq"].as_i64() > Some(since))
        .collect();
    let got: Vec<Value> = resumed_seen
        .events
        .iter()
        .take(sent.len().min(resumed_seen.events.len()))
        .cloned()
        .collect();
    assert_eq!(
        got,
        sent[..got.len()].to_vec(),
        "replay = what the live client got"
    );

    // Space returns: everything pending is committed with the seq it was sent with.
    std::fs::remove_file(storage.join("filler-2")).unwrap();
    std::fs::remove_file(storage.join("filler-1")).unwrap();
    let h = d.wait_health("storage recovered", Duration::from_secs(30), |h| {
        h["storage"]["state"] == "ok" && h["storage"]["pending"] == 0
    });
    assert!(h["storage"]["error"].is_null(), "{h}");
    live.wait(
        "events after recovery",
        Duration::from_secs(20),
        &d.log,
        |s| s.max_seq() > target + 5,
    );
    let live = live.finish();
    let resumed = resumed.finish();
    let seqs = live.seqs();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "live seqs strictly increase: {seqs:?}"
    );
    let log = event_log(&storage);
    assert_all_logged("live client", &live.events, &log);
    assert_all_logged("resumed client", &resumed.events, &log);
    assert_exact_replay("resumed client", since, None, &resumed.events, &log);
    assert_eq!(d.stop(), 0, "{}", d.log_text());
    let text = d.log_text();
    assert!(!text.contains("panicked"), "{text}");
}

/// Someone deletes gozcu.db (and then also its -wal and -shm) under the running daemon: it
/// notices, restores the file from its still-open connection, and nothing is lost.
#[test]
fn deleted_database_is_restored_from_the_open_connection() {
    let base = tempfile::tempdir().unwrap();
    let storage = base.path().join("data");
    let videos = burst_videos(&base.path().join("videos"), 1);
    let mut d = start(&burst_config(&storage, &videos, ""));
    d.wait_health("camera online", Duration::from_secs(30), |h| {
        h["cameras"]["online"] == 1
    });
    let epoch = d.health().unwrap()["epoch"].as_str().unwrap().to_string();
    let live = Recorder::start(d.port, "");
    let first = live.wait("events", Duration::from_secs(30), &d.log, |s| {
        s.events.len() >= 8
    });
    let db = storage.join("gozcu.db");
    for (round, files) in [
        vec!["gozcu.db"],
        vec!["gozcu.db", "gozcu.db-wal", "gozcu.db-shm"],
    ]
    .into_iter()
    .enumerate()
    {
        let restores = d
            .log_text()
            .matches("restored it from the open connection")
            .count();
        let mark = live.seen().max_seq();
        for f in &files {
            let _ = std::fs::remove_file(storage.join(f));
        }
        live.wait(
            "events after the deletion",
            Duration::from_secs(30),
            &d.log,
            |s| s.max_seq() > mark + 8,
        );
        assert!(db.is_file(), "round {round}: gozcu.db is back");
        // One restore per deletion seen: the writer may restore between two of the unlinks
        // (and then see the new side files go), but must not keep restoring.
        let log = d.log_text();
        let restored = log.matches("restored it from the open connection").count() - restores;
        assert!(
            (1..=files.len()).contains(&restored),
            "round {round}: {restored} restores logged for {} deleted files\n{log}",
            files.len()
        );
        let h = d.health().unwrap();
        assert_eq!(h["storage"]["state"], "ok", "{h}");
        assert_eq!(h["epoch"], epoch.as_str(), "same database, same epoch");
    }
    let live = live.finish();
    let log = event_log(&storage);
    assert_all_logged("live client", &live.events, &log);
    // The REST view reads the restored file too.
    let newest = live.events.last().unwrap();
    let (code, body) = d
        .get(&format!("/api/events/{}", newest["id"].as_str().unwrap()))
        .unwrap();
    assert_eq!(code, 200);
    let ev: Value = serde_json::from_slice(&body).unwrap();
    assert!(ev["seq"].as_i64() >= newest["seq"].as_i64(), "{ev}");
    // A client resuming from before both deletions gets everything, in order.
    let since = first.events[2]["seq"].as_i64().unwrap();
    let resumed = Recorder::start(d.port, &format!("?since={since}&epoch={epoch}"));
    let target = live.max_seq();
    let resumed = resumed.wait("replay", Duration::from_secs(20), &d.log, |s| {
        s.max_seq() >= target
    });
    assert!(resumed.resets.is_empty(), "{:?}", resumed.resets);
    assert_exact_replay(
        "resumed client",
        since,
        None,
        &resumed.events,
        &event_log(&storage),
    );
    assert_eq!(d.stop(), 0, "{}", d.log_text());
}

/// A database damaged while the daemon was stopped: moved aside, a new one (new epoch)
/// started, status and log say so, and a client resuming with the old epoch gets a reset.
#[test]
fn corrupt_database_at_start_is_moved_aside_and_a_new_one_started() {
    let base = tempfile::tempdir().unwrap();
    let storage = base.path().join("data");
    let videos = burst_videos(&base.path().join("videos"), 1);
    let body = burst_config(&storage, &videos, "");
    let mut d = start(&body);
    d.wait_health("camera online", Duration::from_secs(30), |h| {
        h["cameras"]["online"] == 1
    });
    let old_epoch = d.health().unwrap()["epoch"].as_str().unwrap().to_string();
    let live = Recorder::start(d.port, "");
    let seen = live.wait("events", Duration::from_secs(30), &d.log, |s| {
        s.events.len() >= 5
    });
    drop(live);
    assert_eq!(d.stop(), 0);
    // Clobber the middle of the file (a bad sector, a half-written copy).
    let db = storage.join("gozcu.db");
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() > 8192, "a database with a few pages");
    for b in &mut bytes[4096..] {
        *b = 0x5A;
    }
    std::fs::write(&db, &bytes).unwrap();

    let mut d = start(&body);
    let h = d.wait_health("camera online", Duration::from_secs(30), |h| {
        h["cameras"]["online"] == 1
    });
    let notice = h["storage"]["notice"].as_str().unwrap_or_default();
    assert!(
        notice.contains("was corrupt") && notice.contains("gozcu.db.corrupt-"),
        "status says what happened: {h}"
    );
    assert_ne!(
        h["epoch"],
        old_epoch.as_str(),
        "a new database has a new epoch"
    );
    let log = d.log_text();
    assert!(
        log.contains("database is corrupt or not a database; moved it aside"),
        "{log}"
    );
    let aside: Vec<_> = std::fs::read_dir(&storage)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| {
            n.starts_with("gozcu.db.corrupt-") && !n.ends_with("-wal") && !n.ends_with("-shm")
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        std::fs::read(storage.join(&aside[0])).unwrap(),
        bytes,
        "the damaged file is kept for the operator"
    );
    let resumed = Recorder::start(
        d.port,
        &format!("?since={}&epoch={old_epoch}", seen.max_seq()),
    );
    let got = resumed.wait(
        "reset and new events",
        Duration::from_secs(30),
        &d.log,
        |s| !s.resets.is_empty() && s.events.len() >= 3,
    );
    assert_eq!(got.resets, ["epoch_mismatch"]);
    let got = resumed.finish();
    assert_all_logged(
        "client of the new database",
        &got.events,
        &event_log(&storage),
    );
    assert_eq!(d.stop(), 0);
}

/// Snapshots cannot be written (the snapshot folder made read-only while running): events are
/// still stored and sent, without a snapshot URL that would lead nowhere, and status says
/// why. Once the folder is writable again, snapshots come back.
#[test]
fn unwritable_snapshot_folder_events_stored_without_snapshots() {
    let base = tempfile::tempdir().unwrap();
    let storage = base.path().join("data");
    let videos = burst_videos(&base.path().join("videos"), 1);
    let mut d = start(&burst_config(&storage, &videos, ""));
    d.wait_health("camera online", Duration::from_secs(30), |h| {
        h["cameras"]["online"] == 1
    });
    let live = Recorder::start(d.port, "");
    live.wait(
        "an event with a snapshot",
        Duration::from_secs(30),
        &d.log,
        |s| s.events.iter().any(|e| e["snapshot_url"].is_string()),
    );
    let Some(ro) = unwritable(&storage.join("snapshots")) else {
        return;
    };
    // Snapshots written before the folder went read-only: their events may be published
    // (with the URL) after `mark` is read.
    let written_before: std::collections::HashSet<String> =
        std::fs::read_dir(storage.join("snapshots"))
            .unwrap()
            .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(String::from))
            .collect();
    let mark = live.seen().max_seq();
    let seen = live.wait(
        "whole events while snapshots fail",
        Duration::from_secs(30),
        &d.log,
        |s| {
            s.events
                .iter()
                .filter(|e| e["seq"].as_i64() > Some(mark) && e["phase"] == "end")
                .count()
                >= 3
        },
    );
    let h = d.wait_health("snapshot error in status", Duration::from_secs(10), |h| {
        h["storage"]["snapshots"] == "error"
    });
    assert_eq!(h["storage"]["state"], "ok", "the database is fine: {h}");
    let why = h["storage"]["snapshot_error"].as_str().unwrap_or_default();
    assert!(why.contains(ro.expected.0), "{h}");
    assert!(why.contains(ro.expected.1), "the fix is named: {h}");
    // Events that started after the folder went read-only have no snapshot, and no message
    // names a snapshot that does not exist.
    let started_after: Vec<&Value> = seen
        .events
        .iter()
        .filter(|e| e["seq"].as_i64() > Some(mark) && e["phase"] == "start")
        .filter(|e| !written_before.contains(e["id"].as_str().unwrap_or_default()))
        .collect();
    assert!(!started_after.is_empty());
    for e in &seen.events {
        if let Some(url) = e["snapshot_url"].as_str() {
            let (code, _) = d.get(url).unwrap();
            assert_eq!(code, 200, "{e} names a snapshot that is not there");
        }
    }
    for s in &started_after {
        let id = &s["id"];
        assert!(
            seen.events
                .iter()
                .filter(|e| e["id"] == *id)
                .all(|e| e["snapshot_url"].is_null()),
            "event {id} started without a writable folder has no snapshot"
        );
    }
    assert_all_logged("live client", &seen.events, &event_log(&storage));

    drop(ro);
    let back_mark = live.seen().max_seq();
    live.wait("snapshots again", Duration::from_secs(30), &d.log, |s| {
        s.events
            .iter()
            .any(|e| e["seq"].as_i64() > Some(back_mark) && e["snapshot_url"].is_string())
    });
    d.wait_health("snapshots ok", Duration::from_secs(10), |h| {
        h["storage"]["snapshots"] == "ok" && h["storage"]["snapshot_error"].is_null()
    });
    drop(live);
    assert_eq!(d.stop(), 0, "{}", d.log_text());
}

/// A snapshot folder that cannot be used at all at start (here a file in its place) does
/// not keep the daemon from running: events without snapshots, status says why.
#[test]
fn unusable_snapshot_folder_at_start_does_not_stop_the_daemon() {
    let base = tempfile::tempdir().unwrap();
    let storage = base.path().join("data");
    std::fs::create_dir_all(&storage).unwrap();
    std::fs::write(storage.join("snapshots"), b"not a folder").unwrap();
    let videos = burst_videos(&base.path().join("videos"), 1);
    let mut d = start(&burst_config(&storage, &videos, ""));
    d.wait_health("camera online", Duration::from_secs(30), |h| {
        h["cameras"]["online"] == 1
    });
    let live = Recorder::start(d.port, "");
    let seen = live.wait("events", Duration::from_secs(30), &d.log, |s| {
        s.events.iter().filter(|e| e["phase"] == "end").count() >= 2
    });
    assert!(seen.events.iter().all(|e| e["snapshot_url"].is_null()));
    let h = d.wait_health("snapshot error in status", Duration::from_secs(10), |h| {
        h["storage"]["snapshots"] == "error"
    });
    let why = h["storage"]["snapshot_error"].as_str().unwrap_or_default();
    assert!(why.contains("snapshots"), "names the folder: {h}");
    assert_all_logged("live client", &seen.events, &event_log(&storage));
    drop(live);
    assert_eq!(d.stop(), 0, "{}", d.log_text());
}
