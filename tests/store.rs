//! Integration tests of the SQLite store and snapshot files, on real files in temp dirs.
//!
//! This file: events, the event log, listing, readers. `store/open.rs`: opening, recovery,
//! locking, migrations. `store/files.rs`: retention and snapshot files.

#[path = "store/files.rs"]
mod files;
#[path = "store/open.rs"]
mod open;

use gozcu::server::protocol::{EventData, Phase};
use gozcu::store::{EventFilter, RetentionPolicy, SnapshotStore, Store, StoreReader};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;

pub(crate) const NOW: OffsetDateTime = datetime!(2024-06-15 12:00:00 UTC);

pub(crate) fn ev(n: u64, camera: &str, kind: &str, phase: Phase) -> EventData {
    EventData {
        id: format!("evt-{n}"),
        camera_id: camera.into(),
        event_type: kind.into(),
        timestamp: "2024-06-15T11:00:00Z".into(),
        confidence: 0.75,
        seq: 0,
        phase,
        camera_name: format!("{camera} name"),
        end_timestamp: None,
        bbox: Some([0.1, 0.2, 0.5, 0.9]),
        snapshot_url: Some(format!("/api/events/evt-{n}/snapshot.jpg")),
        end_reason: None,
    }
}

pub(crate) fn started_at(mut e: EventData, t: OffsetDateTime) -> EventData {
    e.timestamp = t.format(&Rfc3339).unwrap();
    e
}

pub(crate) fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}
#[test]
fn append_returns_increasing_seq_and_the_broadcast_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.recovered_from(), None);
    assert_eq!(store.last_event_number().unwrap(), 0);

    let mut last = 0;
    for n in 1..=5 {
        let mut e = ev(n, "cam-1", "person", Phase::Start);
        e.seq = 999; // ignored on input
        let logged = store.append(&e).unwrap();
        assert!(logged.seq > last, "seq {} after {last}", logged.seq);
        last = logged.seq;
        assert_eq!(logged.camera_id, "cam-1");
        let v = json(&logged.json);
        assert_eq!(v["type"], "event");
        assert_eq!(v["data"]["seq"], logged.seq);
        assert_eq!(v["data"]["id"], format!("evt-{n}"));
        assert_eq!(v["data"]["phase"], "start");
        assert_eq!(v["data"]["box"], serde_json::json!([0.1, 0.2, 0.5, 0.9]));
        assert_eq!(v["data"]["confidence"], 0.75);
    }
    assert_eq!(last, 5);
    assert_eq!(store.last_event_number().unwrap(), 5);
}

#[test]
fn event_row_follows_start_update_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let reader = store.reader().unwrap();

    let start = ev(7, "cam-1", "person", Phase::Start);
    store.append(&start).unwrap();
    let mut update = start.clone();
    update.phase = Phase::Update;
    update.confidence = 0.93;
    update.bbox = Some([0.0, 0.0, 1.0, 1.0]);
    store.append(&update).unwrap();
    let mut end = update.clone();
    end.phase = Phase::End;
    end.end_timestamp = Some("2024-06-15T11:00:09Z".into());
    let logged = store.append(&end).unwrap();

    let got = reader.get_event("evt-7").unwrap().unwrap();
    let mut want = end.clone();
    want.seq = logged.seq;
    assert_eq!(got, want);
    assert_eq!(
        reader.list_events(&EventFilter::default()).unwrap(),
        vec![want]
    );
    assert_eq!(reader.log_after(0, 100).unwrap().len(), 3);
    assert_eq!(reader.get_event("evt-8").unwrap(), None);
    assert_eq!(reader.get_event("../evt-7").unwrap(), None);
}

#[test]
fn log_after_and_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let reader = store.reader().unwrap();
    assert_eq!(reader.log_bounds().unwrap(), None);
    assert!(reader.log_after(0, 10).unwrap().is_empty());

    let mut appended = Vec::new();
    for n in 1..=6 {
        let camera = if n % 2 == 0 { "cam-2" } else { "cam-1" };
        appended.push(
            store
                .append(&ev(n, camera, "person", Phase::Start))
                .unwrap(),
        );
    }
    assert_eq!(reader.log_bounds().unwrap(), Some((1, 6)));
    assert_eq!(reader.log_after(0, 100).unwrap(), appended);
    assert_eq!(reader.log_after(2, 3).unwrap(), appended[2..5].to_vec());
    assert_eq!(reader.log_after(6, 10).unwrap(), vec![]);
    assert_eq!(reader.log_after(-5, 0).unwrap(), vec![]);
    assert_eq!(reader.log_after(4, 10).unwrap()[0].camera_id, "cam-1");
}

#[test]
fn list_events_filters_and_pages_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    // evt-1..6: cameras alternate, evt-3 is a motion event; then evt-1 gets an update, which
    // makes it the most recently changed.
    for n in 1..=6 {
        let camera = if n % 2 == 0 { "cam-2" } else { "cam-1" };
        let kind = if n == 3 { "motion" } else { "person" };
        store.append(&ev(n, camera, kind, Phase::Start)).unwrap();
    }
    store
        .append(&ev(1, "cam-1", "person", Phase::Update))
        .unwrap();
    let reader = store.reader().unwrap();
    let ids = |f: EventFilter| -> Vec<(String, i64)> {
        reader
            .list_events(&f)
            .unwrap()
            .into_iter()
            .map(|e| (e.id, e.seq))
            .collect()
    };
    let pairs = |v: &[(&str, i64)]| -> Vec<(String, i64)> {
        v.iter().map(|(i, s)| (i.to_string(), *s)).collect()
    };

    assert_eq!(
        ids(EventFilter::default()),
        pairs(&[
            ("evt-1", 7),
            ("evt-6", 6),
            ("evt-5", 5),
            ("evt-4", 4),
            ("evt-3", 3),
            ("evt-2", 2)
        ])
    );
    let page1 = EventFilter {
        limit: 2,
        ..EventFilter::default()
    };
    assert_eq!(ids(page1.clone()), pairs(&[("evt-1", 7), ("evt-6", 6)]));
    let page2 = EventFilter {
        before_seq: Some(6),
        ..page1.clone()
    };
    assert_eq!(ids(page2), pairs(&[("evt-5", 5), ("evt-4", 4)]));
    let last = EventFilter {
        before_seq: Some(3),
        ..page1
    };
    assert_eq!(ids(last), pairs(&[("evt-2", 2)]));

    let cam1 = EventFilter {
        camera_id: Some("cam-1".into()),
        ..EventFilter::default()
    };
    assert_eq!(
        ids(cam1.clone()),
        pairs(&[("evt-1", 7), ("evt-5", 5), ("evt-3", 3)])
    );
    let cam1_person = EventFilter {
        event_type: Some("person".into()),
        ..cam1
    };
    assert_eq!(ids(cam1_person), pairs(&[("evt-1", 7), ("evt-5", 5)]));
    let motion = EventFilter {
        event_type: Some("motion".into()),
        ..EventFilter::default()
    };
    assert_eq!(ids(motion), pairs(&[("evt-3", 3)]));
    let nobody = EventFilter {
        camera_id: Some("cam-9".into()),
        ..EventFilter::default()
    };
    assert_eq!(ids(nobody), vec![]);
    let zero = EventFilter {
        limit: 0,
        ..EventFilter::default()
    };
    assert_eq!(ids(zero), vec![]);
}

#[test]
fn reader_sees_rows_committed_after_it_opened() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let reader = StoreReader::open(dir.path()).unwrap();
    assert_eq!(reader.epoch().unwrap(), store.epoch());
    assert_eq!(reader.get_event("evt-1").unwrap(), None);
    store
        .append(&ev(1, "cam-1", "person", Phase::Start))
        .unwrap();
    assert_eq!(reader.get_event("evt-1").unwrap().unwrap().seq, 1);
    // Readers can move to other threads.
    let handle = std::thread::spawn(move || reader.log_bounds().unwrap());
    assert_eq!(handle.join().unwrap(), Some((1, 1)));
}

#[test]
fn epoch_is_random_and_stable() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let epoch_a = Store::open(a.path()).unwrap().epoch().to_owned();
    let epoch_b = Store::open(b.path()).unwrap().epoch().to_owned();
    assert_eq!(epoch_a.len(), 16);
    assert!(epoch_a.chars().all(|c| c.is_ascii_hexdigit()), "{epoch_a}");
    assert_ne!(epoch_a, epoch_b);
    assert_eq!(Store::open(a.path()).unwrap().epoch(), epoch_a);
}

#[test]
fn open_events_are_closed_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = Store::open(dir.path()).unwrap();
        store
            .append(&ev(1, "cam-1", "person", Phase::Start))
            .unwrap();
        let mut done = ev(2, "cam-1", "person", Phase::Start);
        store.append(&done).unwrap();
        done.phase = Phase::End;
        done.end_timestamp = Some("2024-06-15T11:00:05Z".into());
        store.append(&done).unwrap();
        store
            .append(&ev(3, "cam-2", "motion", Phase::Update))
            .unwrap();
        // Dropped without ending evt-1 and evt-3: the daemon died.
    }
    let mut store = Store::open(dir.path()).unwrap();
    let closed = store.close_open_events(NOW).unwrap();
    assert_eq!(closed.iter().map(|l| l.seq).collect::<Vec<_>>(), vec![5, 6]);
    let v = json(&closed[0].json);
    assert_eq!(v["data"]["id"], "evt-1");
    assert_eq!(v["data"]["phase"], "end");
    assert_eq!(v["data"]["end_reason"], "restart");
    assert_eq!(v["data"]["end_timestamp"], "2024-06-15T12:00:00Z");
    assert_eq!(v["data"]["seq"], 5);
    assert_eq!(json(&closed[1].json)["data"]["id"], "evt-3");
    assert_eq!(closed[1].camera_id, "cam-2");

    let reader = store.reader().unwrap();
    let e1 = reader.get_event("evt-1").unwrap().unwrap();
    assert_eq!(
        (e1.phase, e1.end_reason.as_deref(), e1.seq),
        (Phase::End, Some("restart"), 5)
    );
    // evt-2 had ended normally and is untouched.
    assert_eq!(reader.get_event("evt-2").unwrap().unwrap().seq, 3);
    assert_eq!(reader.log_after(4, 10).unwrap(), closed);
    assert!(store.close_open_events(NOW).unwrap().is_empty());
}

#[test]
fn event_numbers_and_seqs_are_never_reused_after_retention() {
    let dir = tempfile::tempdir().unwrap();
    let snaps = SnapshotStore::open(&dir.path().join("snapshots"), 0).unwrap();
    {
        let mut store = Store::open(dir.path()).unwrap();
        for n in 1..=3 {
            store
                .append(&ev(n, "cam-1", "person", Phase::Start))
                .unwrap();
        }
        let all = RetentionPolicy {
            retain_days: 1,
            max_events: 0,
        };
        let far_future = NOW + time::Duration::days(365);
        let report = store.apply_retention(&all, far_future, &snaps).unwrap();
        assert_eq!(report.deleted_by_age, 3);
        assert_eq!(store.reader().unwrap().log_bounds().unwrap(), None);
        assert_eq!(store.last_event_number().unwrap(), 3);
    }
    // Also across a restart.
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.last_event_number().unwrap(), 3);
    let logged = store
        .append(&ev(4, "cam-1", "person", Phase::Start))
        .unwrap();
    assert_eq!(logged.seq, 4);
    assert_eq!(store.last_event_number().unwrap(), 4);
}

#[test]
fn bad_events_are_refused_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let mut e = ev(1, "cam-1", "person", Phase::Start);
    e.id = "evt-01".into();
    let msg = store.append(&e).unwrap_err().to_string();
    assert_eq!(
        msg,
        "invalid event id \"evt-01\": expected \"evt-<n>\" with n a positive number without leading zeros"
    );
    let mut e = ev(1, "cam-1", "person", Phase::Start);
    e.timestamp = "yesterday".into();
    let msg = store.append(&e).unwrap_err().to_string();
    assert!(
        msg.starts_with("event evt-1: field timestamp is invalid: \"yesterday\" is not RFC 3339"),
        "{msg}"
    );
    let mut e = ev(1, "cam-1", "person", Phase::Start);
    e.confidence = f64::NAN;
    let msg = store.append(&e).unwrap_err().to_string();
    assert_eq!(
        msg,
        "event evt-1: field confidence is invalid: NaN is not a number"
    );
    assert_eq!(store.reader().unwrap().log_bounds().unwrap(), None);
}
