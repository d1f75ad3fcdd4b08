//! REST endpoints, the dashboard, metrics, security checks (Host, Origin, token, with the
//! token kept out of logs) and malformed HTTP, against a real server and store.

mod server_common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use gozcu::server::Token;
use gozcu::server::protocol::{CameraStatus, StatusData};
use server_common::*;

/// Every log line of this test binary (all levels), for the token-leak check. Only the test's
/// own WebSocket client handshake is left out: it prints the request it sends, token included.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer_buf = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "trace,tungstenite::handshake::client=off",
            ))
            .with_ansi(false)
            .with_writer(move || LogWriter(writer_buf.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn health_cameras_and_metrics() {
    let srv = start(settings()).await;
    srv.hub.set_status(StatusData {
        camera_list: vec![CameraStatus {
            id: "cam-1".into(),
            name: "Front door".into(),
            state: "online".into(),
            fps: 15.0,
            ..CameraStatus::default()
        }],
        ..StatusData::default()
    });
    let r = get(srv.addr, "/api/health", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type").unwrap(), "application/json");
    let v = r.json();
    assert_eq!(v["cameras"]["online"], 0);
    assert_eq!(v["ai"]["enabled"], false);
    assert_eq!(v["version"], "0.0.0-test");

    let v = get(srv.addr, "/api/cameras", &[]).await.json();
    assert_eq!(v["cameras"][0]["id"], "cam-1");
    assert_eq!(v["cameras"][0]["name"], "Front door");

    srv.hub.metrics().set_camera("cam-1", "online", 15.0);
    srv.hub
        .metrics()
        .observe_inference(std::time::Duration::from_millis(12));
    srv.hub.metrics().event_created("cam-1", "person");
    let mut ws = srv.connect_ready("").await;
    srv.publish(&event(1, "cam-1"));
    next_json(&mut ws).await;
    let r = get(srv.addr, "/metrics", &[]).await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = String::from_utf8(r.body).unwrap();
    for line in [
        "gozcu_ws_clients 1",
        "gozcu_events_published_total 1",
        "gozcu_camera_fps{camera=\"cam-1\"} 15.0",
        "gozcu_camera_state{camera=\"cam-1\",state=\"online\"} 1",
        "gozcu_inference_seconds_count 1",
        "gozcu_events_created_total{camera=\"cam-1\",event_type=\"person\"} 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(text.contains("gozcu_ws_messages_sent_total"), "{text}");
}

#[tokio::test]
async fn events_list_get_and_snapshot() {
    let srv = start(settings()).await;
    for n in 1..=60 {
        let cam = if n % 3 == 0 { "cam-2" } else { "cam-1" };
        srv.publish(&event(n, cam));
    }
    let v = get(srv.addr, "/api/events", &[]).await.json();
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 50);
    assert_eq!(events[0]["id"], "evt-60", "newest first");
    assert_eq!(events[49]["id"], "evt-11");
    assert_eq!(v["next_before_seq"], events[49]["seq"]);

    let v = get(srv.addr, "/api/events?limit=9999", &[]).await.json();
    assert_eq!(v["events"].as_array().unwrap().len(), 60);
    assert_eq!(v["next_before_seq"], serde_json::Value::Null);

    let v = get(srv.addr, "/api/events?camera_id=cam-2&limit=3", &[])
        .await
        .json();
    let ids: Vec<_> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["evt-60", "evt-57", "evt-54"]);
    let before = v["next_before_seq"].as_i64().unwrap();
    let v = get(
        srv.addr,
        &format!("/api/events?camera_id=cam-2&limit=2&before_seq={before}"),
        &[],
    )
    .await
    .json();
    assert_eq!(v["events"][0]["id"], "evt-51");

    let r = get(srv.addr, "/api/events?limit=abc", &[]).await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["error"]["code"], "bad_request");
    assert_eq!(
        v["error"]["message"],
        "limit must be an integer from 1 to 500, not \"abc\""
    );

    let r = get(srv.addr, "/api/events/evt-7", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["camera_id"], "cam-1");
    let r = get(srv.addr, "/api/events/evt-999", &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["message"], "no event with id evt-999");

    let r = get(srv.addr, "/api/events/evt-7/snapshot.jpg", &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["message"], "no snapshot for event evt-7");
    let jpeg = [0xFFu8, 0xD8, 0xFF, 0xE0, 1, 2, 3, 0xFF, 0xD9];
    srv.snapshots.write("evt-7", &jpeg).unwrap();
    let r = get(srv.addr, "/api/events/evt-7/snapshot.jpg", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type").unwrap(), "image/jpeg");
    assert_eq!(r.body, jpeg);
    // An id that is not a file name never reaches the file system.
    let r = get(
        srv.addr,
        "/api/events/..%2F..%2Fetc%2Fpasswd/snapshot.jpg",
        &[],
    )
    .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn a_snapshot_removed_by_the_quota_is_no_longer_linked() {
    let srv = start(settings()).await;
    for n in 1..=2 {
        let mut ev = event(n, "cam-1");
        ev.snapshot_url = Some(format!("/api/events/evt-{n}/snapshot.jpg"));
        srv.publish(&ev);
        srv.snapshots
            .write(&format!("evt-{n}"), &[0xFF, 0xD8, 0xFF, 0xD9])
            .unwrap();
    }
    // What the quota does to the oldest snapshot when space is needed.
    assert!(srv.snapshots.remove_existing("evt-1").unwrap());
    let r = get(srv.addr, "/api/events/evt-1", &[]).await.json();
    assert_eq!(r["snapshot_url"], serde_json::Value::Null);
    let r = get(srv.addr, "/api/events/evt-2", &[]).await.json();
    assert_eq!(r["snapshot_url"], "/api/events/evt-2/snapshot.jpg");
    let v = get(srv.addr, "/api/events", &[]).await.json();
    let urls: Vec<_> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["snapshot_url"].clone())
        .collect();
    assert_eq!(
        urls,
        [
            serde_json::json!("/api/events/evt-2/snapshot.jpg"),
            serde_json::Value::Null
        ]
    );
}

#[tokio::test]
async fn dashboard_unknown_paths_and_methods() {
    let srv = start(settings()).await;
    let r = get(srv.addr, "/", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").unwrap(),
        "text/html; charset=utf-8"
    );
    assert!(String::from_utf8_lossy(&r.body).contains("<html"));
    let r = get(srv.addr, "/app.js", &[]).await;
    assert_eq!(
        r.header("content-type").unwrap(),
        "text/javascript; charset=utf-8"
    );
    let r = get(srv.addr, "/nope", &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "not_found");
    let r = request(srv.addr, "POST", "/api/events", &[("Content-Length", "0")]).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow").unwrap(), "GET, HEAD");
    // A WebSocket upgrade anywhere else is 404.
    let r = get(
        srv.addr,
        "/api/health",
        &[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["error"]["message"],
        "no WebSocket endpoint at /api/health; use /api/ws/events"
    );
    // The WebSocket endpoint without an upgrade.
    let r = get(srv.addr, "/api/ws/events", &[]).await;
    assert_eq!(r.status, 426);
}

#[tokio::test]
async fn foreign_origin_is_403_and_listed_origin_allowed() {
    let mut s = settings();
    s.allowed_origins = vec!["https://dash.example".into()];
    let srv = start(s).await;
    let url = srv.ws_url("");
    assert_eq!(
        connect_with_headers(&url, &[("Origin", "http://evil.example")])
            .await
            .err(),
        Some(403)
    );
    let r = get(
        srv.addr,
        "/api/health",
        &[("Origin", "http://evil.example")],
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["code"], "forbidden_origin");
    let same = format!("http://{}", srv.addr);
    assert!(
        connect_with_headers(&url, &[("Origin", &same)])
            .await
            .is_ok()
    );
    assert!(
        connect_with_headers(&url, &[("Origin", "https://dash.example")])
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn foreign_host_is_421() {
    let mut s = settings();
    s.hostnames = vec!["camera.lan".into()];
    let srv = start(s).await;
    let url = srv.ws_url("");
    assert_eq!(
        connect_with_headers(&url, &[("Host", "attacker.example")])
            .await
            .err(),
        Some(421)
    );
    let r = get(
        srv.addr,
        "/api/health",
        &[("Host", "rebind.attacker.example:8080")],
    )
    .await;
    assert_eq!(r.status, 421);
    assert_eq!(r.json()["error"]["code"], "misdirected_request");
    assert_eq!(
        get(srv.addr, "/api/health", &[("Host", "camera.lan:8080")])
            .await
            .status,
        200
    );
    assert_eq!(
        get(srv.addr, "/api/health", &[("Host", "localhost")])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn token_is_required_and_never_logged() {
    let logs = logs();
    let token = "tok-5f1d9c3a-never-log-me";
    let mut s = settings();
    s.token = Token::new(token);
    let srv = start(s).await;

    // WebSocket: missing and wrong token.
    assert_eq!(
        connect_with_headers(&srv.ws_url(""), &[]).await.err(),
        Some(401)
    );
    assert_eq!(
        connect_with_headers(&srv.ws_url("?token=wrong"), &[])
            .await
            .err(),
        Some(401)
    );
    // REST and metrics.
    let r = get(srv.addr, "/api/health", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate").unwrap(), "Bearer");
    assert_eq!(
        r.json()["error"]["message"],
        "this server needs a token: send Authorization: Bearer <token> or ?token=<token>"
    );
    let r = get(srv.addr, "/metrics", &[("Authorization", "Bearer nope")]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["message"], "the token is wrong");
    // The dashboard page itself is public (it asks for the token).
    assert_eq!(get(srv.addr, "/", &[]).await.status, 200);

    // The right token, both ways.
    let auth = format!("Bearer {token}");
    assert_eq!(
        get(srv.addr, "/api/health", &[("Authorization", &auth)])
            .await
            .status,
        200
    );
    assert_eq!(
        get(srv.addr, &format!("/metrics?token={token}"), &[])
            .await
            .status,
        200
    );
    let mut ws = connect_with_headers(&srv.ws_url(&format!("?since=0&token={token}")), &[])
        .await
        .expect("token accepted");
    assert_eq!(next_json(&mut ws).await["type"], "status");
    assert!(
        connect_with_headers(&srv.ws_url(""), &[("Authorization", &auth)])
            .await
            .is_ok()
    );
    // A rejected request carrying the real token in its URL (but a bad Host) is logged too.
    let r = get(
        srv.addr,
        &format!("/api/health?token={token}"),
        &[("Host", "evil.example")],
    )
    .await;
    assert_eq!(r.status, 421);
    drop(ws);

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        text.contains("token=REDACTED"),
        "request paths are logged:\n{text}"
    );
    assert!(text.contains("websocket client connected"), "{text}");
    assert!(!text.contains(token), "token leaked into logs:\n{text}");
}

#[tokio::test]
async fn malformed_http_is_answered_not_crashed() {
    let srv = start(settings()).await;
    let r = raw_http(srv.addr, b"GARBAGE\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let r = raw_http(srv.addr, b"GET / HTTP/1.1\r\nHost\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let mut huge = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 64 * 1024));
    huge.extend_from_slice(b"\r\n\r\n");
    let r = raw_http(srv.addr, &huge).await;
    assert!(r.starts_with("HTTP/1.1 431"), "{}", &r[..r.len().min(200)]);
    let r = raw_http(srv.addr, &[0xFF, 0x00, 0x13, b'\r', b'\n', b'\r', b'\n']).await;
    assert!(r.is_empty() || r.starts_with("HTTP/1.1 400"), "{r}");
    // No Host header at all.
    let r = raw_http(
        srv.addr,
        b"GET /api/health HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 421"), "{r}");
    // Still serving.
    assert_eq!(get(srv.addr, "/api/health", &[]).await.status, 200);
    let mut ws = srv.connect_ready("").await;
    send_text(&mut ws, "ping").await;
    assert_eq!(next_reply(&mut ws).await, "pong");
}

#[tokio::test]
async fn reload_applies_new_limits_to_new_requests() {
    let srv = start(settings()).await;
    assert_eq!(get(srv.addr, "/api/health", &[]).await.status, 200);
    let handle = srv.handle.as_ref().unwrap();
    let mut next = handle.settings().as_ref().clone();
    next.token = Token::new("new-token");
    next.max_clients = 0;
    assert!(!handle.update_limits(&next), "listen did not change");
    assert_eq!(get(srv.addr, "/api/health", &[]).await.status, 401);
    assert_eq!(
        get(srv.addr, "/api/health?token=new-token", &[])
            .await
            .status,
        200
    );
    assert_eq!(
        connect_with_headers(&srv.ws_url("?token=new-token"), &[])
            .await
            .err(),
        Some(503)
    );
    next.listen = vec!["127.0.0.1:1".parse().unwrap()];
    assert!(
        handle.update_limits(&next),
        "a listen change needs a restart"
    );
    // The configured addresses stay until the server is restarted.
    let configured: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    assert_eq!(handle.settings().listen, vec![configured]);
}

#[tokio::test]
async fn client_modules_are_shared_with_allowed_origins_only() {
    let mut s = settings();
    s.allowed_origins = vec!["http://dash.lan:3000".into()];
    let srv = start(s).await;
    let ok = get(
        srv.addr,
        "/client.js",
        &[("Origin", "http://dash.lan:3000")],
    )
    .await;
    assert!(ok.head.starts_with("HTTP/1.1 200"), "{}", ok.head);
    assert_eq!(
        ok.header("access-control-allow-origin").as_deref(),
        Some("http://dash.lan:3000")
    );
    assert_eq!(ok.header("vary").as_deref(), Some("Origin"));
    let plain = get(srv.addr, "/client.js", &[]).await;
    assert_eq!(plain.header("access-control-allow-origin"), None);
    let html = get(srv.addr, "/", &[("Origin", "http://dash.lan:3000")]).await;
    assert_eq!(
        html.header("access-control-allow-origin"),
        None,
        "only JavaScript modules"
    );
    let other = get(srv.addr, "/client.js", &[("Origin", "http://evil.example")]).await;
    assert!(other.head.starts_with("HTTP/1.1 403"), "{}", other.head);
}
