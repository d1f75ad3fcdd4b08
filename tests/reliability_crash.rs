//! Crash safety of the real daemon: `kill -9` in the middle of an event burst, then a restart
//! on the same storage. Nothing a client was sent may be missing from the database; events
//! left open are closed at the restart with reason `restart`; a client resuming from its
//! last seq gets exactly what it missed (the log read straight from SQLite is the reference).

mod daemon_common;
mod reliability_common;

use daemon_common::*;
use reliability_common::*;
use std::time::Duration;

#[test]
fn kill_9_mid_burst_loses_nothing_a_client_was_sent_and_resume_is_exact() {
    let base = tempfile::tempdir().unwrap();
    let storage = base.path().join("data");
    let videos = burst_videos(&base.path().join("videos"), 3);
    let body = burst_config(&storage, &videos, "");

    let mut d = start(&body);
    d.wait_health("three cameras online", Duration::from_secs(30), |h| {
        h["cameras"]["online"] == 3
    });
    let all = Recorder::start(d.port, "");
    let cam2 = Recorder::start(d.port, "?cameras=cam-2");
    // Kill right after a start message: that event is open in the database for sure.
    let before = all.wait("a burst of events", Duration::from_secs(40), &d.log, |s| {
        s.events.len() >= 30 && s.events.last().is_some_and(|e| e["phase"] == "start")
    });
    d.child.kill().unwrap();
    let _ = d.child.wait();
    let epoch = before.statuses[0]["epoch"].as_str().unwrap().to_string();
    let all = all.wait_closed(Duration::from_secs(10));
    let cam2 = cam2.wait_closed(Duration::from_secs(10));
    assert!(
        cam2.events.iter().all(|e| e["camera_id"] == "cam-2"),
        "the camera filter holds"
    );
    assert!(!cam2.events.is_empty(), "cam-2 made events too");

    let log = event_log(&storage);
    assert_all_logged("client (all cameras)", &all.events, &log);
    assert_all_logged("client (cam-2)", &cam2.events, &log);
    let open: Vec<String> = event_phases(&storage)
        .into_iter()
        .filter(|(_, (phase, _))| phase != "end")
        .map(|(id, _)| id)
        .collect();
    assert!(
        !open.is_empty(),
        "the kill came right after a start, so an event is open"
    );
    let last_all = all.max_seq();
    let last_cam2 = cam2.max_seq();

    // Restart on the same storage; the videos keep making events.
    let mut d2 = start(&body);
    d2.wait_health("restarted", Duration::from_secs(30), |h| {
        h["cameras"]["online"] == 3
    });
    assert!(
        d2.log_text()
            .contains("closed events left open by the previous run"),
        "{}",
        d2.log_text()
    );
    for id in &open {
        let (code, body) = d2.get(&format!("/api/events/{id}")).unwrap();
        assert_eq!(code, 200);
        let ev: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(ev["phase"], "end", "{ev}");
        assert_eq!(ev["end_reason"], "restart", "{ev}");
        assert!(ev["end_timestamp"].is_string(), "{ev}");
    }
    let closes: Vec<i64> = event_log(&storage)
        .into_iter()
        .filter(|(_, v)| v["end_reason"] == "restart")
        .map(|(seq, _)| seq)
        .collect();
    assert_eq!(closes.len(), open.len(), "one restart end per open event");
    let newest_close = *closes.iter().max().unwrap();

    // Both clients resume from the last seq they got, with the epoch they were told.
    let again = Recorder::start(d2.port, &format!("?since={last_all}&epoch={epoch}"));
    let again2 = Recorder::start(
        d2.port,
        &format!("?since={last_cam2}&epoch={epoch}&cameras=cam-2"),
    );
    let enough = |s: &Seen| s.max_seq() > newest_close + 20;
    again.wait(
        "the missed messages and new ones",
        Duration::from_secs(30),
        &d2.log,
        enough,
    );
    again2.wait(
        "cam-2's missed messages and new ones",
        Duration::from_secs(30),
        &d2.log,
        |s| s.max_seq() > newest_close + 5,
    );
    let again = again.finish();
    let again2 = again2.finish();
    assert!(again.resets.is_empty(), "no reset: {:?}", again.resets);
    assert!(again2.resets.is_empty(), "no reset: {:?}", again2.resets);
    let log = event_log(&storage);
    assert_exact_replay("resumed client", last_all, None, &again.events, &log);
    assert_exact_replay(
        "resumed cam-2 client",
        last_cam2,
        Some(&["cam-2"]),
        &again2.events,
        &log,
    );
    for seq in &closes {
        if *seq > last_all {
            assert!(
                again.seqs().contains(seq),
                "restart end {seq} replayed to the client"
            );
        }
    }
    eprintln!(
        "sent before the kill: {} (cam-2 {}), open at kill: {}, replayed after restart: {} \
         (cam-2 {})",
        all.events.len(),
        cam2.events.len(),
        open.len(),
        again.events.len(),
        again2.events.len()
    );
    assert_eq!(d2.stop(), 0, "{}", d2.log_text());
}

/// SIGTERM the moment the server answers, while the daemon may still be finishing its start
/// (systemd stopping a slow start does this): a clean stop, exit code 0, never death by the
/// signal's default action.
#[test]
fn sigterm_right_after_the_server_answers_is_a_clean_stop() {
    let base = tempfile::tempdir().unwrap();
    let videos = burst_videos(&base.path().join("videos"), 2);
    let body = burst_config(&base.path().join("data"), &videos, "");
    for round in 0..10 {
        let mut d = start(&body);
        let end = std::time::Instant::now() + Duration::from_secs(30);
        while d.get("/api/health").is_none() {
            assert!(std::time::Instant::now() < end, "{}", d.log_text());
            std::thread::sleep(Duration::from_millis(1));
        }
        d.signal(nix::sys::signal::Signal::SIGTERM);
        let code = d.stop();
        assert_eq!(code, 0, "round {round}\n{}", d.log_text());
        assert!(d.log_text().contains("gozcu stopped"), "{}", d.log_text());
    }
}
