//! End to end: the real `gozcu run` binary with synthetic and replay cameras, observed the
//! way a dashboard would (REST + WebSocket), plus signals (SIGTERM, SIGHUP).

mod daemon_common;

use daemon_common::*;
use nix::sys::signal::Signal;
use serde_json::Value;
use std::time::Duration;

fn n_starts(events: &[Value]) -> usize {
    events.iter().filter(|e| e["phase"] == "start").count()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn synthetic_camera_makes_motion_events_stored_before_broadcast_and_stops_cleanly() {
    let mut d = start(MOTION_ONLY);
    let health = d.wait_health("camera online", Duration::from_secs(30), |h| {
        h["cameras"]["online"] == 1
    });
    assert_eq!(health["ai"]["enabled"], false);
    assert_eq!(health["ai"]["reason"], "disabled");
    assert_eq!(health["camera_list"][0]["name"], "Front door");

    let rt = runtime();
    let events = rt.block_on(async {
        // From the first seq: the first motion can start before a loaded machine connects.
        let mut ws = ws_connect(d.port, "?since=0").await;
        let first = next_json(&mut ws, Duration::from_secs(5))
            .await
            .expect("first message");
        assert_eq!(
            first["type"], "status",
            "first message must be status: {first}"
        );
        assert_eq!(first["data"]["cameras"]["online"], 1);
        // Shapes move for 6 s of every 12 s: a motion event starts, then ends 2 s after.
        collect_events(&mut ws, Duration::from_secs(40), |evs| {
            evs.iter().any(|e| e["phase"] == "end")
        })
        .await
    });
    let start = events
        .iter()
        .find(|e| e["phase"] == "start")
        .unwrap_or_else(|| panic!("no motion event start; got {events:?}\n{}", d.log_text()));
    assert_eq!(start["event_type"], "motion");
    assert_eq!(start["camera_id"], "cam-1");
    assert_eq!(start["camera_name"], "Front door");
    let id = start["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("evt-"), "{id}");
    let end = events.iter().find(|e| e["phase"] == "end").unwrap();
    assert_eq!(end["id"], start["id"], "one visit, one event id");
    assert!(end["seq"].as_i64() > start["seq"].as_i64());

    // Stored before broadcast: the REST view has the event, with the same seq.
    let (code, body) = d.get(&format!("/api/events/{id}")).unwrap();
    assert_eq!(code, 200);
    let stored: Value = serde_json::from_slice(&body).unwrap();
    let stored = if stored.get("event").is_some() {
        stored["event"].clone()
    } else {
        stored
    };
    assert_eq!(stored["phase"], "end");
    assert_eq!(stored["seq"], end["seq"]);

    // The best-frame snapshot is served as a JPEG.
    let url = start["snapshot_url"]
        .as_str()
        .expect("snapshot_url on start");
    let (code, jpeg) = d.get(url).unwrap();
    assert_eq!(code, 200);
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "snapshot is a JPEG");

    // The Prometheus view of the same: the camera streaming, one visit counted.
    let fps = d.metric(r#"gozcu_camera_fps{camera="cam-1"}"#);
    assert!(fps.is_some_and(|f| f > 0.0), "camera fps metric: {fps:?}");
    assert_eq!(
        d.metric(r#"gozcu_camera_state{camera="cam-1",state="online"}"#),
        Some(1.0)
    );
    let created = d.metric(r#"gozcu_events_created_total{camera="cam-1",event_type="motion"}"#);
    let starts = n_starts(&events) as f64;
    assert!(
        created.is_some_and(|n| n >= starts),
        "events_created {created:?}, {starts} starts seen"
    );

    assert_eq!(d.stop(), 0, "clean exit on SIGTERM\n{}", d.log_text());
    assert!(d.log_text().contains("gozcu stopped"));
}

#[test]
fn shutdown_closes_clients_with_1001_and_ends_open_events() {
    let mut d = start(MOTION_ONLY);
    d.wait_health("camera online", Duration::from_secs(30), |h| {
        h["cameras"]["online"] == 1
    });
    let rt = runtime();
    rt.block_on(async {
        let mut ws = ws_connect(d.port, "").await;
        let started = collect_events(&mut ws, Duration::from_secs(30), |evs| {
            evs.iter().any(|e| e["phase"] == "start")
        })
        .await;
        assert!(
            started.iter().any(|e| e["phase"] == "start"),
            "{}",
            d.log_text()
        );
        d.signal(Signal::SIGTERM);
        // The open event's end message arrives (stored, then broadcast) or the close does.
        let mut close_code = None;
        let end = tokio::time::Instant::now() + Duration::from_secs(10);
        use futures_util::StreamExt;
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(end, ws.next()).await {
            if let tokio_tungstenite::tungstenite::Message::Close(Some(frame)) = msg {
                close_code = Some(u16::from(frame.code));
                break;
            }
        }
        assert_eq!(
            close_code,
            Some(1001),
            "clients are told the server is going away"
        );
    });
    let code = d.stop();
    assert_eq!(code, 0);
    // Every event in the database is ended (reason shutdown), none left open.
    let reader = gozcu::store::StoreReader::open(&d.dir.path().join("data")).unwrap();
    let events = reader
        .list_events(&gozcu::store::EventFilter {
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    assert!(!events.is_empty());
    for ev in &events {
        assert_eq!(ev.phase, gozcu::server::protocol::Phase::End, "{ev:?}");
    }
}

#[test]
fn missing_model_falls_back_to_motion_with_reason_no_model() {
    let body = MOTION_ONLY.replace(
        "backend = \"none\"",
        "backend = \"cpu\"\nmodel = \"{dir}/no-such-model.onnx\"",
    );
    let mut d = start(&body);
    let h = d.wait_health("camera online", Duration::from_secs(30), |h| {
        h["cameras"]["online"] == 1
    });
    assert_eq!(h["ai"]["enabled"], false);
    assert_eq!(h["ai"]["reason"], "no_model");
    assert!(
        d.log_text().contains("detector.model"),
        "log says what to do:\n{}",
        d.log_text()
    );
    assert_eq!(d.stop(), 0);
}

/// `backend = "auto"` with an `.rknn` model in a build without the rknn feature: the CPU
/// model runs and status says why the NPU is not used (the rknn build's own case, the
/// stub runtime failing init, is tests/rknn_daemon.rs).
#[cfg(not(feature = "rknn"))]
#[test]
fn auto_without_npu_support_runs_the_cpu_model_and_status_says_why() {
    let Some(shared) = shared_dir() else { return };
    let body = MOTION_ONLY.replace(
        "backend = \"none\"",
        &format!(
            "backend = \"auto\"\nmodel = \"{{dir}}/yolox_nano-rk3588.rknn\"\ncpu_model = \"{}\"",
            shared.join("models/yolox_nano.onnx").display()
        ),
    );
    let mut d = start(&body);
    let h = d.wait_health("detector loaded", Duration::from_secs(120), |h| {
        h["ai"]["enabled"] == true
    });
    assert_eq!(h["ai"]["backend"], "cpu", "{h}");
    assert_eq!(h["ai"]["model"], "yolox_nano.onnx");
    assert_eq!(h["ai"]["fallback"]["reason"], "npu_unavailable", "{h}");
    assert_eq!(
        h["ai"]["fallback"]["message"],
        "NPU unavailable: built without the rknn feature; rebuild with `--features rknn` or \
         set detector.backend = \"cpu\" with an ONNX model"
    );
    assert_eq!(d.stop(), 0);
}

#[test]
fn sighup_applies_a_valid_change_and_keeps_running_on_an_invalid_one() {
    let mut d = start(MOTION_ONLY);
    d.wait_health("camera online", Duration::from_secs(30), |h| {
        h["cameras"]["online"] == 1
    });
    let pid = d.child.id();

    let two_cameras = format!(
        "{MOTION_ONLY}\n[[cameras]]\nid = \"cam-2\"\nname = \"Back yard\"\ndevice = \"testsrc:\"\nwidth = 320\nheight = 240\nfps = 5\ndetect_fps = 1\n"
    );
    write_config(&d.config, &two_cameras, d.port, d.dir.path());
    d.signal(Signal::SIGHUP);
    let h = d.wait_health(
        "second camera online after reload",
        Duration::from_secs(30),
        |h| h["cameras"]["online"] == 2,
    );
    assert_eq!(h["camera_list"][1]["id"], "cam-2");

    std::fs::write(&d.config, "[server]\nlisten = [\"not an address\"]\n").unwrap();
    d.signal(Signal::SIGHUP);
    // The refusal shows in the status once the reload has been tried.
    let h = d.wait_health(
        "the refused reload in status",
        Duration::from_secs(30),
        |h| h["config"]["reload_error"].is_string(),
    );
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "daemon must survive a bad reload"
    );
    assert_eq!(d.child.id(), pid);
    assert_eq!(h["cameras"]["online"], 2, "running config unchanged");
    let log = d.log_text();
    assert!(log.contains("reload failed"), "{log}");
    assert!(
        log.contains("server.listen"),
        "the reason names the key:\n{log}"
    );
    assert_eq!(d.stop(), 0);
}

#[test]
fn second_daemon_on_the_same_storage_refuses_to_start() {
    let mut first = start(MOTION_ONLY);
    first.wait_health("first daemon up", Duration::from_secs(30), |h| {
        h["cameras"]["online"] == 1
    });
    let port = free_port();
    let config = first.dir.path().join("second.toml");
    write_config(&config, MOTION_ONLY, port, first.dir.path());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gozcu"))
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("NOTIFY_SOCKET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another gozcu is running"), "{err}");
    assert_eq!(first.stop(), 0);
}

#[test]
fn invalid_config_exits_78_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gozcu.toml");
    std::fs::write(
        &config,
        "[[cameras]]\nid = \"a\"\ndevice = \"testsrc:\"\nfps = 0\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gozcu"))
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cameras[0].fps"), "{err}");
}

/// The street scene replayed through the real detector: seven people walk through, so a
/// correct pipeline makes a handful of person events (start/end pairs), not dozens.
#[test]
fn replayed_street_with_model_yields_person_events_a_human_would_count() {
    let Some(shared) = shared_dir() else { return };
    let body = format!(
        r#"
[server]
listen = ["127.0.0.1:{{port}}"]
[storage]
dir = "{{dir}}/data"
[detector]
backend = "cpu"
model = "{model}"
[events]
end_after_s = 2
[[cameras]]
id = "street"
name = "Street"
device = "replay:{frames}"
width = 768
height = 576
fps = 7
detect_fps = 7
"#,
        model = shared.join("models/yolox_nano.onnx").display(),
        frames = shared.join("testdata/pets2009/img").display(),
    );
    let mut d = start(&body);
    let h = d.wait_health(
        "detector loaded and camera online",
        Duration::from_secs(60),
        |h| h["cameras"]["online"] == 1 && h["ai"]["enabled"] == true,
    );
    assert_eq!(h["ai"]["backend"], "cpu");
    let rt = runtime();
    // One pass of the 107 frames at 7 fps is about 15 s; the replay loops, so stop
    // counting after one pass plus the end timeout.
    let is_person_end = |e: &Value| e["phase"] == "end" && e["event_type"] == "person";
    let (events, later) = rt.block_on(async {
        let mut ws = ws_connect(d.port, "").await;
        let counted = collect_events(&mut ws, Duration::from_secs(19), |_| false).await;
        // A visit ends `end_after_s` after its person was last seen; when the window closed
        // before any did, wait (at most another pass) for one.
        let later = if counted.iter().any(is_person_end) {
            Vec::new()
        } else {
            collect_events(&mut ws, Duration::from_secs(20), |seen| {
                seen.iter().any(is_person_end)
            })
            .await
        };
        (counted, later)
    });
    let person_starts: Vec<&Value> = events
        .iter()
        .filter(|e| e["phase"] == "start" && e["event_type"] == "person")
        .collect();
    let n = person_starts.len();
    eprintln!("person events in one pass: {n}");
    assert!(
        (3..=12).contains(&n),
        "expected a handful of person events, got {n}: {events:?}"
    );
    for e in &person_starts {
        assert!(e["confidence"].as_f64().unwrap() >= 0.5);
        let b = e["box"].as_array().expect("box");
        assert!(b.iter().all(|v| (0.0..=1.0).contains(&v.as_f64().unwrap())));
    }
    let with_snapshot = person_starts
        .iter()
        .find(|e| e["snapshot_url"].is_string())
        .expect("a snapshot");
    let (code, jpeg) = d
        .get(with_snapshot["snapshot_url"].as_str().unwrap())
        .unwrap();
    assert_eq!(code, 200);
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    assert!(
        events.iter().chain(&later).any(is_person_end),
        "no person event ended: {events:?} {later:?}"
    );
    let h = d.health().unwrap();
    assert!(
        h["ai"]["inference_ms"].as_f64().is_some(),
        "inference time reported: {h}"
    );
    let runs = d.metric("gozcu_inference_seconds_count");
    assert!(
        runs.is_some_and(|n| n >= n_starts(&events) as f64),
        "every detector run in the inference histogram: {runs:?}"
    );
    assert_eq!(d.stop(), 0);
}

#[test]
fn replayed_street_without_model_yields_motion_events() {
    let Some(shared) = shared_dir() else { return };
    let body = format!(
        r#"
[server]
listen = ["127.0.0.1:{{port}}"]
[storage]
dir = "{{dir}}/data"
[detector]
backend = "none"
[events]
end_after_s = 2
[[cameras]]
id = "street"
device = "replay:{frames}"
width = 768
height = 576
fps = 7
"#,
        frames = shared.join("testdata/pets2009/img").display(),
    );
    let mut d = start(&body);
    d.wait_health("camera online", Duration::from_secs(30), |h| {
        h["cameras"]["online"] == 1
    });
    let rt = runtime();
    let events = rt.block_on(async {
        let mut ws = ws_connect(d.port, "").await;
        collect_events(&mut ws, Duration::from_secs(20), |evs| {
            evs.iter().any(|e| e["phase"] == "start")
        })
        .await
    });
    let start = events
        .iter()
        .find(|e| e["phase"] == "start")
        .expect("a motion event");
    assert_eq!(start["event_type"], "motion");
    assert_eq!(d.health().unwrap()["ai"]["enabled"], false);
    assert_eq!(d.stop(), 0);
}
