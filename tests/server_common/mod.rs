//! Shared helpers for the server integration tests: a real server on 127.0.0.1:0 over a real
//! store in a temporary directory, and small WebSocket / raw HTTP clients.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use gozcu::server::protocol::{EventData, LoggedEvent, Phase};
use gozcu::server::{Archive, Hub, ServerHandle, ServerSettings, serve};
use gozcu::store::{SnapshotStore, Store};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for something that should come promptly.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub handle: Option<ServerHandle>,
    pub hub: Hub,
    pub store: Arc<Mutex<Store>>,
    pub snapshots: Arc<SnapshotStore>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

pub fn settings() -> ServerSettings {
    ServerSettings {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        ..ServerSettings::default()
    }
}

pub async fn start(settings: ServerSettings) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let snapshots = Arc::new(SnapshotStore::open(&dir.path().join("snapshots"), 0).unwrap());
    let archive = Archive::open(dir.path(), snapshots.clone()).unwrap();
    let hub = Hub::new(store.epoch().to_string(), "0.0.0-test");
    let handle = serve(settings, hub.clone(), archive).await.unwrap();
    let addr = handle.local_addrs[0];
    TestServer {
        handle: Some(handle),
        hub,
        store: Arc::new(Mutex::new(store)),
        snapshots,
        addr,
        dir,
    }
}

pub fn event(n: u64, camera: &str) -> EventData {
    EventData {
        id: format!("evt-{n}"),
        camera_id: camera.to_string(),
        event_type: "person".to_string(),
        timestamp: "2025-01-02T03:04:05Z".to_string(),
        confidence: 0.875,
        seq: 0,
        phase: Phase::Start,
        camera_name: format!("Camera {camera}"),
        end_timestamp: None,
        bbox: Some([0.1, 0.2, 0.3, 0.4]),
        snapshot_url: None,
        end_reason: None,
    }
}

impl TestServer {
    /// Commits to the store, then broadcasts: the daemon's order.
    pub fn publish(&self, ev: &EventData) -> LoggedEvent {
        let logged = self.store.lock().unwrap().append(ev).unwrap();
        self.hub.publish_event(logged.clone());
        logged
    }

    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://{}/api/ws/events{query}", self.addr)
    }

    pub async fn connect(&self, query: &str) -> Client {
        let (ws, resp) = tokio_tungstenite::connect_async(self.ws_url(query))
            .await
            .unwrap();
        assert_eq!(resp.status(), 101);
        ws
    }

    /// Connects and reads the first (status) message.
    pub async fn connect_ready(&self, query: &str) -> Client {
        let mut ws = self.connect(query).await;
        let first = next_json(&mut ws).await;
        assert_eq!(first["type"], "status", "{first}");
        ws
    }

    pub async fn shutdown(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await;
        }
    }
}

/// Connects with extra headers; returns the HTTP status of a refused handshake.
pub async fn connect_with_headers(url: &str, headers: &[(&str, &str)]) -> Result<Client, u16> {
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(WsError::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("unexpected handshake error: {e}"),
    }
}

/// The next text message, skipping pings/pongs.
pub async fn next_text(ws: &mut Client) -> String {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("timed out waiting for a message")
            .expect("connection ended")
            .expect("websocket error");
        match msg {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// A status message: the server may send one at any moment (client count, fps).
pub fn is_status(text: &str) -> bool {
    text.starts_with(r#"{"type":"status""#)
}

/// The next text that is not a status message, for a reply to a request: a rate-like
/// status update (client count, fps) may arrive at any moment in between.
pub async fn next_reply(ws: &mut Client) -> String {
    loop {
        let text = next_text(ws).await;
        if !is_status(&text) {
            return text;
        }
    }
}

pub async fn next_json(ws: &mut Client) -> Value {
    parse_json(&next_text(ws).await)
}

/// [`next_reply`] parsed as JSON: the next event, reset or error, past any status update.
pub async fn next_reply_json(ws: &mut Client) -> Value {
    parse_json(&next_reply(ws).await)
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Reads event messages until one with `last_seq`; returns their seqs.
pub async fn seqs_until(ws: &mut Client, last_seq: i64) -> Vec<i64> {
    let mut seqs = Vec::new();
    loop {
        let v = next_reply_json(ws).await;
        assert_eq!(v["type"], "event", "{v}");
        let seq = v["data"]["seq"].as_i64().unwrap();
        seqs.push(seq);
        if seq >= last_seq {
            return seqs;
        }
    }
}

/// Reads until the server closes; returns the close frame (None: the connection just ended).
pub async fn close_frame(ws: &mut Client) -> Option<CloseFrame> {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("timed out waiting for close")
        {
            Some(Ok(Message::Close(f))) => return f,
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

pub async fn send_text(ws: &mut Client, text: &str) {
    ws.send(Message::text(text)).await.unwrap();
}

/// A raw HTTP/1.1 exchange: sends `request` as is and reads until the server closes.
pub async fn raw_http(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .expect("server did not answer and close");
    String::from_utf8_lossy(&out).into_owned()
}

pub struct HttpResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// `GET path` with extra header lines; Host defaults to the server address.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    request(addr, "GET", path, headers).await
}

pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .expect("no answer")
        .unwrap();
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&out)));
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    HttpResponse {
        status,
        head,
        body: out[split + 4..].to_vec(),
    }
}
