//! The camera thread with real sources: testsrc goes online and fills the slot at its fps;
//! a replay folder that disappears goes `retrying` and comes back when restored; a missing
//! path is `down` with a clear error; disabled cameras stay disabled; stop() is prompt.

use gozcu::camera::{CameraRunner, LatestFrame, PixelFormat};
use gozcu::config::CameraConfig;
use gozcu::server::protocol::CameraStatus;
use gozcu::vision::convert::{RgbImage, encode_jpeg};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn cam(device: &str, fps: u32) -> CameraConfig {
    CameraConfig {
        id: "cam-r".into(),
        name: "Runner test".into(),
        device: device.into(),
        width: 160,
        height: 120,
        fps,
        ..CameraConfig::default()
    }
}

type Statuses = Receiver<CameraStatus>;

fn spawn(cfg: CameraConfig) -> (CameraRunner, Arc<LatestFrame>, Statuses) {
    let slot = Arc::new(LatestFrame::new());
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    let runner = CameraRunner::spawn(
        cfg,
        slot.clone(),
        Arc::new(move |s| {
            let _ = tx.lock().unwrap().send(s);
        }),
    );
    (runner, slot, rx)
}

/// Waits for a status matching `pred`; returns it and every state seen on the way.
fn wait_for(
    rx: &Statuses,
    within: Duration,
    pred: impl Fn(&CameraStatus) -> bool,
) -> (CameraStatus, Vec<String>) {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let s = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no matching status within {within:?}; saw {seen:?}"));
        if seen.last() != Some(&s.state) {
            seen.push(s.state.clone());
        }
        if pred(&s) {
            return (s, seen);
        }
    }
}

#[test]
fn testsrc_goes_online_fills_the_slot_and_stops_promptly() {
    let (mut runner, slot, rx) = spawn(cam("testsrc:", 30));
    let (first, _) = wait_for(&rx, Duration::from_secs(2), |_| true);
    assert_eq!(
        (first.id.as_str(), first.name.as_str(), first.state.as_str()),
        ("cam-r", "Runner test", "starting")
    );
    let (online, seen) = wait_for(&rx, Duration::from_secs(3), |s| s.state == "online");
    assert_eq!(seen, ["online"], "starting -> online, nothing in between");
    assert_eq!(online.last_error, None);
    let mut last_seq = None;
    for _ in 0..5 {
        let f = slot.take_timeout(Duration::from_secs(1)).expect("a frame");
        assert_eq!((f.format, f.width, f.height), (PixelFormat::Nv12, 160, 120));
        if let Some(prev) = last_seq {
            assert!(f.sequence > prev);
        }
        last_seq = Some(f.sequence);
    }
    // Bounds that catch a stuck or bursting thread, loose enough for a loaded debug build.
    assert!(runner.last_progress().elapsed() < Duration::from_secs(3));
    // The periodic status carries the measured rate (about every 5 s).
    let (rated, _) = wait_for(&rx, Duration::from_secs(8), |s| s.fps > 0.0);
    assert!((10.0..=35.0).contains(&rated.fps), "fps {}", rated.fps);
    assert_eq!(rated.state, "online");
    assert!(
        rated.frames_skipped > 0,
        "nobody consumed most frames: they count as skipped"
    );
    let t = Instant::now();
    runner.stop();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        t.elapsed()
    );
    assert!(slot.is_closed());
    runner.stop(); // idempotent
}

fn write_frames(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..3u8 {
        let img = RgbImage {
            width: 32,
            height: 24,
            data: vec![i * 60; 32 * 24 * 3],
        };
        std::fs::write(dir.join(format!("{i}.jpg")), encode_jpeg(&img, 80).unwrap()).unwrap();
    }
}

#[test]
fn lost_source_retries_and_recovers_without_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("clip");
    write_frames(&dir);
    let (mut runner, slot, rx) = spawn(cam(&format!("replay:{}", dir.display()), 50));
    wait_for(&rx, Duration::from_secs(3), |s| s.state == "online");
    // Pull the "cable": every frame becomes unreadable, then the folder is gone.
    std::fs::remove_dir_all(&dir).unwrap();
    let (lost, _) = wait_for(&rx, Duration::from_secs(3), |s| s.state == "retrying");
    assert!(
        lost.last_error
            .as_deref()
            .unwrap()
            .contains("no frame could be read"),
        "{lost:?}"
    );
    assert!(lost.frames_corrupt > 0);
    write_frames(&dir);
    let (back, seen) = wait_for(&rx, Duration::from_secs(6), |s| s.state == "online");
    assert!(
        seen.iter().all(|s| s == "retrying" || s == "online"),
        "{seen:?}"
    );
    assert_eq!(back.last_error, None);
    while slot.take_timeout(Duration::ZERO).is_some() {}
    assert!(
        slot.take_timeout(Duration::from_secs(1)).is_some(),
        "frames flow again"
    );
    runner.stop();
}

#[test]
fn missing_device_is_down_with_a_clear_error() {
    let (mut runner, _slot, rx) = spawn(cam("replay:/nonexistent/gozcu-clip", 10));
    let (down, seen) = wait_for(&rx, Duration::from_secs(3), |s| s.state == "down");
    assert_eq!(seen, ["starting", "down"]);
    let err = down.last_error.unwrap();
    assert!(
        err.contains("replay:/nonexistent/gozcu-clip does not exist"),
        "{err}"
    );
    assert!(err.contains("probing every 60 s"), "{err}");
    assert_eq!(runner.status().state, "down");
    let t = Instant::now();
    runner.stop();
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[test]
fn missing_v4l2_node_is_down_too() {
    let (mut runner, _slot, rx) = spawn(cam("/dev/video-gozcu-test-absent", 15));
    let (down, _) = wait_for(&rx, Duration::from_secs(3), |s| s.state == "down");
    let err = down.last_error.unwrap();
    assert!(
        err.contains("device /dev/video-gozcu-test-absent does not exist"),
        "{err}"
    );
    assert!(err.contains("gozcu devices"), "{err}");
    runner.stop();
}

#[test]
fn disabled_camera_stays_disabled() {
    let mut cfg = cam("testsrc:", 30);
    cfg.enabled = false;
    let (mut runner, slot, rx) = spawn(cfg);
    let (s, _) = wait_for(&rx, Duration::from_secs(2), |_| true);
    assert_eq!(s.state, "disabled");
    assert!(slot.take_timeout(Duration::from_millis(300)).is_none());
    assert_eq!(runner.status().state, "disabled");
    runner.stop();
}
