//! A refused reload is visible where an operator looks, not only in the log: the real
//! daemon, SIGHUP with an invalid config -> `config.reload_error` in the WebSocket status
//! and `/api/health`, and the sd_notify STATUS= line says so (the daemon's NOTIFY_SOCKET is
//! a datagram socket this test reads); the next good reload clears all of it.

mod daemon_common;

use daemon_common::*;
use nix::sys::signal::Signal;
use serde_json::Value;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Reads sd_notify datagrams until one satisfies `pred`; panics with what came on timeout.
fn wait_notify(sock: &UnixDatagram, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 4096];
    while Instant::now() < end {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if pred(&text) {
                    return text;
                }
                seen.push(text);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("notify socket: {e}"),
        }
    }
    panic!("no sd_notify message {what}; got: {seen:#?}");
}

/// Next status message whose `data` satisfies `pred`.
async fn wait_status(ws: &mut Ws, d: &Daemon, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let end = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last = None;
    while tokio::time::Instant::now() < end {
        match next_json(ws, end - tokio::time::Instant::now()).await {
            Some(m) if m["type"] == "status" => {
                if pred(&m["data"]) {
                    return m["data"].clone();
                }
                last = Some(m);
            }
            Some(_) => {}
            None => break,
        }
    }
    panic!("no status {what}; last: {last:?}\nlog:\n{}", d.log_text());
}

#[test]
fn failed_reload_shows_in_status_and_sd_notify_until_a_good_reload() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("gozcu.toml");
    write_config(&config, MOTION_ONLY, port, dir.path());
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let log = dir.path().join("daemon.log");
    let child = Command::new(env!("CARGO_BIN_EXE_gozcu"))
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "gozcu=debug,warn")
        .env("NOTIFY_SOCKET", &notify_path)
        .env_remove("JOURNAL_STREAM")
        .env_remove("WATCHDOG_USEC")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut d = Daemon {
        child,
        port,
        dir,
        config,
        log,
    };
    let ready = wait_notify(&notify, "READY=1 at start", |m| m.contains("READY=1"));
    assert!(!ready.contains("reload failed"), "{ready}");
    d.wait_health("camera online", Duration::from_secs(30), |h| {
        h["cameras"]["online"] == 1
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut ws = ws_connect(d.port, "").await;
        let first = next_json(&mut ws, Duration::from_secs(5)).await.unwrap();
        assert_eq!(first["type"], "status");
        assert_eq!(
            first["data"]["config"],
            serde_json::json!({"reload_error": null, "reload_error_at": null}),
            "{first}"
        );

        // An invalid config: the daemon keeps running and says why, in status.
        std::fs::write(
            &d.config,
            format!(
                "[server]\nlisten = [\"not an address\"]\n[storage]\ndir = \"{}/data\"\n",
                d.dir.path().display()
            ),
        )
        .unwrap();
        d.signal(Signal::SIGHUP);
        let s = wait_status(&mut ws, &d, "with config.reload_error", |s| {
            s["config"]["reload_error"].is_string()
        })
        .await;
        let error = s["config"]["reload_error"].as_str().unwrap();
        assert!(error.contains("server.listen"), "names the key: {error}");
        assert!(error.contains("gozcu.toml"), "names the file: {error}");
        let at = s["config"]["reload_error_at"].as_str().unwrap();
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("reload_error_at {at:?} is not RFC 3339: {e}"));
        assert_eq!(s["cameras"]["online"], 1, "still running the old config");

        let h = d.health().expect("health");
        assert_eq!(h["config"]["reload_error"], error);

        let line = wait_notify(&notify, "READY=1 after the refused reload", |m| {
            m.contains("READY=1")
        });
        assert!(
            line.contains("last reload failed, running the previous configuration:")
                && line.contains("server.listen"),
            "STATUS= says the reload failed: {line}"
        );

        // A good reload clears it.
        write_config(&d.config, MOTION_ONLY, d.port, d.dir.path());
        d.signal(Signal::SIGHUP);
        let s = wait_status(&mut ws, &d, "with the reload error cleared", |s| {
            s["config"]["reload_error"].is_null()
        })
        .await;
        assert!(s["config"]["reload_error_at"].is_null(), "{s}");
        let line = wait_notify(&notify, "READY=1 after the good reload", |m| {
            m.contains("READY=1")
        });
        assert!(!line.contains("reload failed"), "{line}");
    });
    assert!(d.health().unwrap()["config"]["reload_error"].is_null());
    assert_eq!(d.stop(), 0, "{}", d.log_text());
}

/// SIGHUP as early as a client can see the daemon: the handlers are installed before the
/// server starts, so it is a reload, never the signal's default action (terminate).
#[test]
fn sighup_as_soon_as_the_server_answers_is_a_reload() {
    let mut d = start(MOTION_ONLY);
    let end = Instant::now() + Duration::from_secs(30);
    while d.health().is_none() {
        assert!(Instant::now() < end, "no health answer\n{}", d.log_text());
        if let Ok(Some(status)) = d.child.try_wait() {
            panic!("daemon exited ({status})\n{}", d.log_text());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    d.signal(Signal::SIGHUP);
    d.wait_health(
        "camera online after the early reload",
        Duration::from_secs(30),
        |h| h["cameras"]["online"] == 1,
    );
    let end = Instant::now() + Duration::from_secs(10);
    while !d.log_text().contains("reload") {
        assert!(
            Instant::now() < end,
            "SIGHUP not handled as a reload:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(d.stop(), 0, "{}", d.log_text());
}
