//! Supervisor state machine with simulated time: every transition, the backoff sequence,
//! `down` after 10 failed reopens, probing every 60 s, hotplug wake-up, disable/enable.

use gozcu::camera::supervisor::{Action, CamState, Event, Supervisor};
use std::time::{Duration, Instant};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn fail(msg: &str) -> Event {
    Event::OpenFailed {
        error: msg.to_string(),
        not_found: false,
    }
}

fn transitions(actions: &[Action]) -> Vec<(CamState, CamState)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Transition { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

/// Brings a fresh supervisor online at `t0`.
fn online(t0: Instant) -> Supervisor {
    let mut s = Supervisor::new(t0, true);
    assert_eq!(s.state(), CamState::Starting);
    assert_eq!(s.handle(t0, Event::Tick), vec![Action::Open]);
    assert!(s.handle(t0, Event::OpenOk).is_empty());
    assert_eq!(
        s.state(),
        CamState::Starting,
        "online only once frames arrive"
    );
    let a = s.handle(t0, Event::FrameOk);
    assert_eq!(
        transitions(&a),
        vec![(CamState::Starting, CamState::Online)]
    );
    assert!(
        s.handle(t0, Event::FrameOk).is_empty(),
        "no repeated transition"
    );
    s
}

#[test]
fn starting_to_online_to_retrying_and_back() {
    let t0 = Instant::now();
    let mut s = online(t0);
    let a = s.handle(
        t0 + secs(5),
        Event::FrameError("device /dev/video0: dequeue buffer: No such device".into()),
    );
    assert_eq!(a[0], Action::Close);
    assert_eq!(
        transitions(&a),
        vec![(CamState::Online, CamState::Retrying)]
    );
    assert!(s.last_error().unwrap().contains("No such device"));
    // Nothing before the first retry is due.
    assert!(
        s.handle(t0 + secs(5) + Duration::from_millis(999), Event::Tick)
            .is_empty()
    );
    assert_eq!(s.handle(t0 + secs(6), Event::Tick), vec![Action::Open]);
    s.handle(t0 + secs(6), Event::OpenOk);
    let a = s.handle(t0 + secs(6), Event::FrameOk);
    assert_eq!(
        transitions(&a),
        vec![(CamState::Retrying, CamState::Online)]
    );
    assert_eq!(s.last_error(), None, "a recovered camera has no error");
    assert_eq!(s.attempts(), 0);
}

/// Simulates every reopen failing; returns the gaps between attempts and when it went down.
#[test]
fn backoff_sequence_then_down_after_ten_then_probe_every_minute() {
    let t0 = Instant::now();
    let mut s = online(t0);
    let mut now = t0 + secs(10);
    let a = s.handle(now, Event::FrameError("lost".into()));
    assert_eq!(
        transitions(&a),
        vec![(CamState::Online, CamState::Retrying)]
    );
    let mut gaps = Vec::new();
    let mut logged = Vec::new();
    let mut last = now;
    for _ in 0..10 {
        let due = s.next_attempt().unwrap();
        // One second early: nothing happens.
        assert!(s.handle(due - secs(1), Event::Tick).is_empty());
        now = due;
        assert_eq!(s.handle(now, Event::Tick), vec![Action::Open]);
        assert_eq!(
            s.next_attempt(),
            None,
            "no second attempt while one is in flight"
        );
        gaps.push((now - last).as_secs());
        last = now;
        let a = s.handle(now, fail("device /dev/video0: open: No such device"));
        logged.extend(transitions(&a));
    }
    assert_eq!(gaps, vec![1, 2, 4, 8, 16, 30, 30, 30, 30, 30]);
    assert_eq!(
        logged,
        vec![(CamState::Retrying, CamState::Down)],
        "one log line for the whole outage, none per retry"
    );
    assert_eq!(s.state(), CamState::Down);
    assert_eq!(s.attempts(), 10);
    // Down: probe every 60 s, silently.
    for _ in 0..3 {
        let due = s.next_attempt().unwrap();
        assert_eq!((due - now).as_secs(), 60);
        now = due;
        assert_eq!(s.handle(now, Event::Tick), vec![Action::Open]);
        assert!(transitions(&s.handle(now, fail("still gone"))).is_empty());
    }
    assert_eq!(s.last_error(), Some("still gone"));
    // A probe that succeeds brings it back.
    now = s.next_attempt().unwrap();
    s.handle(now, Event::Tick);
    s.handle(now, Event::OpenOk);
    let a = s.handle(now, Event::FrameOk);
    assert_eq!(transitions(&a), vec![(CamState::Down, CamState::Online)]);
}

#[test]
fn opened_but_silent_counts_as_a_failed_attempt() {
    let t0 = Instant::now();
    let mut s = online(t0);
    s.handle(t0, Event::FrameError("lost".into()));
    let t1 = s.next_attempt().unwrap();
    s.handle(t1, Event::Tick);
    s.handle(t1, Event::OpenOk);
    let a = s.handle(t1 + secs(4), Event::FrameError("no frame for 4.0 s".into()));
    assert_eq!(a, vec![Action::Close], "still retrying: no transition");
    assert_eq!(s.attempts(), 1);
    assert_eq!(s.next_attempt(), Some(t1 + secs(4) + secs(2)));
}

#[test]
fn hotplug_add_wakes_a_down_camera_immediately() {
    let t0 = Instant::now();
    let mut s = online(t0);
    let mut now = t0;
    s.handle(now, Event::FrameError("lost".into()));
    for _ in 0..10 {
        now = s.next_attempt().unwrap();
        s.handle(now, Event::Tick);
        s.handle(now, fail("gone"));
    }
    assert_eq!(s.state(), CamState::Down);
    let soon = now + secs(3);
    assert_eq!(s.handle(soon, Event::DeviceAdded), vec![Action::Open]);
    s.handle(soon, Event::OpenOk);
    let a = s.handle(soon, Event::FrameOk);
    assert_eq!(transitions(&a), vec![(CamState::Down, CamState::Online)]);
    // While open (online), a hotplug event does nothing.
    assert!(s.handle(soon, Event::DeviceAdded).is_empty());
}

#[test]
fn hotplug_add_also_cuts_a_retry_wait_short() {
    let t0 = Instant::now();
    let mut s = online(t0);
    s.handle(t0, Event::FrameError("lost".into()));
    assert_eq!(
        s.handle(t0 + Duration::from_millis(200), Event::DeviceAdded),
        vec![Action::Open]
    );
}

#[test]
fn a_device_that_never_existed_is_down_with_a_clear_error_and_keeps_probing() {
    let t0 = Instant::now();
    let mut s = Supervisor::new(t0, true);
    s.handle(t0, Event::Tick);
    let a = s.handle(
        t0,
        Event::OpenFailed {
            error: "device /dev/video7 does not exist: is the camera plugged in?".into(),
            not_found: true,
        },
    );
    assert_eq!(transitions(&a), vec![(CamState::Starting, CamState::Down)]);
    let err = s.last_error().unwrap();
    assert!(err.contains("/dev/video7 does not exist"), "{err}");
    assert!(err.contains("not present since gozcu started"), "{err}");
    assert_eq!(s.next_attempt(), Some(t0 + secs(60)));
    assert_eq!(s.handle(t0 + secs(60), Event::Tick), vec![Action::Open]);
}

#[test]
fn other_first_open_failures_retry_with_backoff() {
    let t0 = Instant::now();
    let mut s = Supervisor::new(t0, true);
    s.handle(t0, Event::Tick);
    let a = s.handle(
        t0,
        fail("device /dev/video0: open (device busy): Device or resource busy"),
    );
    assert_eq!(
        transitions(&a),
        vec![(CamState::Starting, CamState::Retrying)]
    );
    assert_eq!(s.next_attempt(), Some(t0 + secs(1)));
}

#[test]
fn disable_closes_and_enable_restarts() {
    let t0 = Instant::now();
    let mut s = online(t0);
    let a = s.handle(t0, Event::Disable);
    assert_eq!(a[0], Action::Close);
    assert_eq!(
        transitions(&a),
        vec![(CamState::Online, CamState::Disabled)]
    );
    // Disabled ignores everything but Enable.
    for ev in [Event::Tick, Event::DeviceAdded, Event::FrameOk, fail("x")] {
        assert!(s.handle(t0 + secs(100), ev).is_empty());
    }
    assert_eq!(s.state(), CamState::Disabled);
    let a = s.handle(t0 + secs(101), Event::Enable);
    assert_eq!(
        transitions(&a),
        vec![(CamState::Disabled, CamState::Starting)]
    );
    assert_eq!(a.last(), Some(&Action::Open));
}

#[test]
fn starts_disabled_when_configured_so() {
    let t0 = Instant::now();
    let mut s = Supervisor::new(t0, false);
    assert_eq!(s.state(), CamState::Disabled);
    assert_eq!(s.state().as_str(), "disabled");
    assert!(s.handle(t0 + secs(1000), Event::Tick).is_empty());
}

#[test]
fn state_names_match_the_protocol() {
    let names: Vec<&str> = [
        CamState::Starting,
        CamState::Online,
        CamState::Retrying,
        CamState::Down,
        CamState::Disabled,
    ]
    .iter()
    .map(|s| s.as_str())
    .collect();
    assert_eq!(
        names,
        ["starting", "online", "retrying", "down", "disabled"]
    );
}
