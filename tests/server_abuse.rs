//! Network abuse against the real daemon binary: a flood of 2000 connection attempts beyond
//! the client limit, slowloris request heads, WebSocket clients that never read, random
//! bytes. Throughout, a good client on another address keeps its connection, gets pings and
//! pongs, and can open new connections; the daemon stays up and its memory stays bounded.
//!
//! Each attacker uses its own loopback address (127.0.0.x), as on a LAN: the per-address
//! limits are what keep one abusive host from locking out the others. Nothing here asserts
//! a timing; timeouts are hang guards.

mod daemon_common;

use daemon_common::*;
use futures_util::{SinkExt, StreamExt};
use gozcu::server::protocol::{EventData, Phase};
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

const CONFIG: &str = r#"
[server]
listen = ["127.0.0.1:{port}"]
max_clients = 64
max_clients_per_ip = 16
ping_interval_s = 1
idle_timeout_s = 4
client_queue = 16
[storage]
dir = "{dir}/data"
[detector]
backend = "none"
[[cameras]]
id = "cam-1"
device = "testsrc:"
width = 320
height = 240
fps = 5
detect_fps = 1
"#;

/// Attempts in the flood; the limits allow 16 WebSocket clients from one address.
const FLOOD: usize = 2000;
const PER_IP: usize = 16;
/// Slowloris connections: more than the server's total cap on open connections
/// (`limits::open_connection_caps(64, 16)` = 192), so without a per-address cap they would
/// lock everyone out.
const SLOWLORIS: usize = 300;
const NEVER_READING: usize = 8;
/// Hang guard for anything the server must do by itself (close, evict, answer).
const GUARD: Duration = Duration::from_secs(30);

const GOOD: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const FLOODER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const SLOW: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
const STALLED: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
const NOISE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 5);

/// Lets this process open the flood's sockets (the daemon keeps the limit it started with).
fn raise_fd_limit(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write a valid rlimit struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }
    assert!(
        lim.rlim_cur >= want,
        "RLIMIT_NOFILE hard limit {} is below the {want} descriptors this test needs",
        lim.rlim_max
    );
}

/// Resident memory of `pid` in KiB (`VmRSS` in /proc/<pid>/status).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

/// A TCP connection to the daemon from `source`.
async fn connect_from(source: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    sock.connect(SocketAddr::from(([127, 0, 0, 1], port))).await
}

fn handshake(port: u16) -> String {
    format!(
        "GET /api/ws/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

/// An HTTP answer: status, body (by Content-Length) and the bytes that followed it (the
/// first WebSocket frames after a 101).
#[derive(Debug)]
struct Answer {
    code: u16,
    body: String,
    rest: Vec<u8>,
}

/// Reads a response head and its body; None when the server closed the connection before
/// answering.
async fn read_response(s: &mut TcpStream) -> Option<Answer> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body_end = buf.len().min(head_end + len);
    Some(Answer {
        code,
        body: String::from_utf8_lossy(&buf[head_end..body_end]).to_string(),
        rest: buf[body_end..].to_vec(),
    })
}

/// The server's (unmasked) frames in `bytes` as (opcode, payload); stops at a cut-off one.
fn frames(mut b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while b.len() >= 2 {
        let op = b[0] & 0x0f;
        let (len, at) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (usize::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 if b.len() >= 10 => (
                u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                10,
            ),
            126 | 127 => break,
            n => (usize::from(n), 2),
        };
        let Some(payload) = b.get(at..at + len) else {
            break;
        };
        out.push((op, payload.to_vec()));
        b = &b[at + len..];
    }
    out
}

/// GET from `source` with `Connection: close`: (status, body).
async fn get_from(source: Ipv4Addr, port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = connect_from(source, port).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let a = timeout(GUARD, read_response(&mut s)).await.ok()??;
    Some((a.code, a.body))
}

/// Reads until the server ends the connection; the bytes received.
async fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Deterministic noise (xorshift), so a failure can be replayed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

async fn ws_from(source: Ipv4Addr, port: u16) -> Ws {
    let stream = connect_from(source, port).await.expect("connect");
    let url = format!("ws://127.0.0.1:{port}/api/ws/events");
    let (mut ws, _) = timeout(GUARD, tokio_tungstenite::client_async(url, stream))
        .await
        .expect("handshake hang")
        .expect("handshake");
    let first = next_text(&mut ws).await.expect("first message");
    let v: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["type"], "status", "{v}");
    ws
}

async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        match timeout(GUARD, ws.next()).await.ok()?? {
            Ok(Message::Text(t)) => return Some(t.to_string()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// The next text that is not a status message: a status update (client count, fps) may
/// arrive at any moment between a request and its reply.
async fn next_reply(ws: &mut Ws) -> Option<String> {
    loop {
        let text = next_text(ws).await?;
        if !text.starts_with(r#"{"type":"status""#) {
            return Some(text);
        }
    }
}

/// What the good client saw between two probes.
#[derive(Debug)]
struct Probe {
    pings: u64,
    statuses: u64,
}

/// Where the good client sends a probe's result.
type ProbeReply = oneshot::Sender<Result<Probe, String>>;

/// The well-behaved client: reads all the time (tungstenite answers the server's pings);
/// on a probe it sends `ping` and reports once it has the `pong` and a server Ping frame.
fn spawn_good_client(mut ws: Ws) -> mpsc::Sender<ProbeReply> {
    let (tx, mut rx) = mpsc::channel::<ProbeReply>(1);
    tokio::spawn(async move {
        let pings = AtomicU64::new(0);
        let statuses = AtomicU64::new(0);
        // The probe being answered: (reply, pong seen, pings before it).
        let mut waiting: Option<(ProbeReply, bool, u64)> = None;
        loop {
            tokio::select! {
                probe = rx.recv(), if waiting.is_none() => {
                    let Some(reply) = probe else { return };
                    if let Err(e) = ws.send(Message::text("ping")).await {
                        let _ = reply.send(Err(format!("send failed: {e}")));
                        return;
                    }
                    waiting = Some((reply, false, pings.load(Ordering::SeqCst)));
                }
                msg = ws.next() => {
                    let msg = match msg {
                        Some(Ok(m)) => m,
                        other => {
                            if let Some((reply, ..)) = waiting.take() {
                                let _ = reply.send(Err(format!("connection ended: {other:?}")));
                            }
                            // Later probes find the channel closed.
                            return;
                        }
                    };
                    match &msg {
                        Message::Ping(_) => { pings.fetch_add(1, Ordering::SeqCst); }
                        Message::Text(t) if t.as_str() == "pong" => {
                            if let Some(w) = waiting.as_mut() { w.1 = true; }
                        }
                        Message::Text(t) if t.starts_with(r#"{"type":"status""#) => {
                            statuses.fetch_add(1, Ordering::SeqCst);
                        }
                        Message::Close(f) => {
                            if let Some((reply, ..)) = waiting.take() {
                                let _ = reply.send(Err(format!("closed by server: {f:?}")));
                            }
                            return;
                        }
                        _ => {}
                    }
                    if let Some((_, true, since)) = &waiting
                        && pings.load(Ordering::SeqCst) > *since
                    {
                        let (reply, ..) = waiting.take().unwrap();
                        let _ = reply.send(Ok(Probe {
                            pings: pings.load(Ordering::SeqCst),
                            statuses: statuses.load(Ordering::SeqCst),
                        }));
                    }
                }
            }
        }
    });
    tx
}

/// The good client still gets pongs and pings, and its address can open a new WebSocket
/// and get an HTTP answer.
async fn good_client_ok(probe: &mpsc::Sender<ProbeReply>, port: u16, during: &str) -> Probe {
    let (tx, rx) = oneshot::channel();
    probe
        .send(tx)
        .await
        .unwrap_or_else(|_| panic!("good client gone during {during}"));
    let seen = timeout(GUARD, rx)
        .await
        .unwrap_or_else(|_| panic!("good client got no pong and ping during {during}"))
        .unwrap_or_else(|_| panic!("good client task ended during {during}"))
        .unwrap_or_else(|e| panic!("good client during {during}: {e}"));
    assert!(seen.pings > 0, "{during}: {seen:?}");
    let mut fresh = ws_from(GOOD, port).await;
    fresh.send(Message::text("ping")).await.unwrap();
    assert_eq!(
        next_reply(&mut fresh).await.as_deref(),
        Some("pong"),
        "{during}"
    );
    let (code, body) = get_from(GOOD, port, "/api/health")
        .await
        .unwrap_or_else(|| panic!("no answer to GET /api/health during {during}"));
    assert_eq!(code, 200, "{during}: {body}");
    seen
}

/// Peak RSS of the daemon, sampled every 50 ms until dropped.
struct RssWatch {
    peak: Arc<AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
}

impl RssWatch {
    fn start(pid: u32) -> RssWatch {
        let peak = Arc::new(AtomicU64::new(rss_kib(pid)));
        let (stop, mut stopped) = oneshot::channel();
        let p = peak.clone();
        tokio::spawn(async move {
            while stopped.try_recv().is_err() {
                if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    && let Some(kib) = status
                        .lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                {
                    p.fetch_max(kib, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        RssWatch {
            peak,
            stop: Some(stop),
        }
    }

    fn peak(&self) -> u64 {
        self.peak.load(Ordering::SeqCst)
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn metric(port: u16, line_start: &str) -> f64 {
    let (code, body) = get_from(GOOD, port, "/metrics").await.expect("metrics");
    assert_eq!(code, 200);
    body.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[derive(Default)]
struct FloodResult {
    upgraded: Vec<Keeper>,
    rejected: Vec<String>,
    dropped: usize,
    other: Vec<String>,
}

/// Keeps an upgraded flood connection alive (a masked Pong frame every second, so the idle
/// timeout cannot free its slot however long the flood takes) until dropped.
struct Keeper(tokio::task::JoinHandle<()>);

impl Keeper {
    fn start(mut s: TcpStream) -> Keeper {
        Keeper(tokio::spawn(async move {
            let pong = [0x8a, 0x80, 1, 2, 3, 4];
            while s.write_all(&pong).await.is_ok() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }))
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `FLOOD` WebSocket handshakes from one address, all at once.
async fn flood(port: u16) -> FloodResult {
    let tasks: Vec<_> = (0..FLOOD)
        .map(|_| {
            tokio::spawn(async move {
                let mut s = match connect_from(FLOODER, port).await {
                    Ok(s) => s,
                    Err(e) => return Err(format!("connect: {e}")),
                };
                if s.write_all(handshake(port).as_bytes()).await.is_err() {
                    return Ok((None, None));
                }
                let answer = timeout(GUARD, read_response(&mut s)).await.ok().flatten();
                // Kept alive from the moment it is upgraded: collecting the tasks below can
                // take seconds, longer than the idle timeout that would free its slot.
                let keeper = answer
                    .as_ref()
                    .is_some_and(|a| a.code == 101)
                    .then(|| Keeper::start(s));
                Ok((answer, keeper))
            })
        })
        .collect();
    let mut r = FloodResult::default();
    for t in tasks {
        match t.await.unwrap() {
            Ok((Some(_), Some(keeper))) => r.upgraded.push(keeper),
            Ok((Some(a), None)) if a.code == 503 => r.rejected.push(a.body),
            Ok((None, _)) => r.dropped += 1,
            Ok((Some(a), None)) => r.other.push(format!("{} {}", a.code, a.body)),
            Err(e) => r.other.push(e),
        }
    }
    r
}

/// How a slowloris connection ended.
#[derive(Debug, PartialEq)]
enum SlowEnd {
    /// Closed before a byte of the head was accepted (over the open-connection cap).
    Refused,
    /// Closed by the server mid-head, with this much of an answer.
    Closed(Vec<u8>),
}

/// Sends a request head one byte at a time, never finishing it.
async fn slowloris(port: u16) -> Result<SlowEnd, String> {
    let mut s = connect_from(SLOW, port)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let head = b"GET /api/ws/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    let mut chunk = [0u8; 256];
    for i in 0.. {
        let byte = head.get(i).copied().unwrap_or(b'a');
        tokio::select! {
            r = s.read(&mut chunk) => {
                let mut got = match r { Ok(n) => chunk[..n].to_vec(), Err(_) => Vec::new() };
                if !got.is_empty() {
                    got.extend(read_until_closed(&mut s).await);
                }
                return Ok(if i == 0 && got.is_empty() { SlowEnd::Refused } else { SlowEnd::Closed(got) });
            }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                if s.write_all(&[byte]).await.is_err() {
                    return Ok(if i == 0 { SlowEnd::Refused } else { SlowEnd::Closed(Vec::new()) });
                }
            }
        }
    }
    unreachable!()
}

/// Events logged before the daemon starts: a client resuming with `since=0` is replayed
/// about a megabyte, more than a never-reading client's buffers take.
const LOGGED: u64 = 300;

fn log_events(storage: &std::path::Path) {
    std::fs::create_dir_all(storage).unwrap();
    let mut store = gozcu::store::Store::open(storage).unwrap();
    let now = gozcu::store::rfc3339_utc(time::OffsetDateTime::now_utc()).unwrap();
    for n in 1..=LOGGED {
        store
            .append(&EventData {
                id: format!("evt-{n}"),
                camera_id: "cam-1".to_string(),
                event_type: "person".to_string(),
                timestamp: now.clone(),
                confidence: 0.9,
                seq: 0,
                phase: Phase::End,
                // Volume: a long name makes each replayed message about 3 KiB.
                camera_name: "x".repeat(3000),
                end_timestamp: Some(now.clone()),
                bbox: Some([0.1, 0.2, 0.3, 0.4]),
                snapshot_url: None,
                end_reason: None,
            })
            .unwrap();
    }
}

/// A WebSocket client that resumes from `since=0` and never reads: the replay fills its
/// buffers and queue, and the server evicts it. Its receive buffer is tiny and its MSS that
/// of Ethernet (on loopback the MSS is 64 KiB, which makes the kernel size the server's send
/// buffer at over a megabyte). Returns the server's frames found in its buffers at the end.
async fn never_reading(port: u16) -> Vec<(u8, Vec<u8>)> {
    use std::os::fd::AsRawFd;
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(IpAddr::V4(STALLED), 0)).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mss: libc::c_int = 1460;
    // SAFETY: a valid socket fd and a c_int option value with its size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MAXSEG,
            (&mss as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "TCP_MAXSEG: {}", std::io::Error::last_os_error());
    let mut s = sock
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .unwrap();
    let req = handshake(port).replacen("/api/ws/events", "/api/ws/events?since=0", 1);
    s.write_all(req.as_bytes()).await.unwrap();
    let answer = read_response(&mut s).await.expect("handshake answer");
    assert_eq!(answer.code, 101);
    // Not reading: wait for the server to give up on this client.
    let mut received = answer.rest;
    let evicted = async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if metric(port, "gozcu_ws_evictions_total{reason=\"slow\"}").await
                >= NEVER_READING as f64
            {
                return;
            }
        }
    };
    timeout(GUARD, evicted)
        .await
        .expect("never-reading clients were not evicted");
    received.extend(
        timeout(GUARD, read_until_closed(&mut s))
            .await
            .expect("the server never closed an evicted client"),
    );
    frames(&received)
}

#[test]
fn abusive_clients_never_starve_a_good_one_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gozcu.toml");
    let port = free_port();
    write_config(&config, CONFIG, port, dir.path());
    log_events(&dir.path().join("data"));
    let mut d = spawn(dir, port, config);
    raise_fd_limit(FLOOD as u64 + 1024);
    d.wait_health("camera online", Duration::from_secs(30), |h| {
        h["cameras"]["online"] == 1
    });
    let pid = d.child.id();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let good = spawn_good_client(ws_from(GOOD, port).await);
        good_client_ok(&good, port, "warm-up").await;
        let baseline = rss_kib(pid);
        let watch = RssWatch::start(pid);
        let started = std::time::Instant::now();
        eprintln!("baseline RSS {baseline} KiB");

        // 1. A flood of handshakes from one address, far beyond the limits.
        let flooding = tokio::spawn(flood(port));
        good_client_ok(&good, port, "the flood").await;
        let r = flooding.await.unwrap();
        eprintln!(
            "flood: {} upgraded, {} refused with 503, {} dropped, other {:?}",
            r.upgraded.len(),
            r.rejected.len(),
            r.dropped,
            r.other
        );
        assert!(r.other.is_empty(), "unexpected answers: {:?}", r.other);
        assert_eq!(r.upgraded.len(), PER_IP, "max_clients_per_ip WebSockets");
        assert_eq!(r.upgraded.len() + r.rejected.len() + r.dropped, FLOOD);
        let expected = format!(
            "{FLOODER} already has {PER_IP} WebSocket connections (server.max_clients_per_ip); close one first"
        );
        assert!(!r.rejected.is_empty(), "no attempt reached the WebSocket limit");
        for body in &r.rejected {
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["error"]["code"], "too_many_clients", "{v}");
            assert_eq!(v["error"]["message"], expected.as_str());
        }
        // The address's 16 clients are connected; the good address still gets in.
        good_client_ok(&good, port, "16 flood clients connected").await;
        drop(r);
        assert!(metric(port, "gozcu_http_rejections_total{reason=\"limit\"}").await > 0.0);
        println!("flood RSS peak {} KiB", watch.peak());

        // 2. Slowloris: heads trickled a byte at a time, never finished.
        let slow: Vec<_> = (0..SLOWLORIS).map(|_| tokio::spawn(slowloris(port))).collect();
        // Let them open their connections, then check while they hold them.
        tokio::time::sleep(Duration::from_millis(500)).await;
        good_client_ok(&good, port, "slowloris").await;
        let mut refused = 0;
        for t in slow {
            match timeout(GUARD, t).await {
                Err(_) => panic!("a slowloris connection was never closed by the server"),
                Ok(r) => match r.unwrap() {
                    Ok(SlowEnd::Refused) => refused += 1,
                    Ok(SlowEnd::Closed(answer)) => {
                        let text = String::from_utf8_lossy(&answer);
                        assert!(
                            answer.is_empty() || text.starts_with("HTTP/1.1 408"),
                            "slowloris got {text:?}"
                        );
                    }
                    Err(e) => panic!("slowloris: {e}"),
                },
            }
        }
        eprintln!(
            "slowloris: {refused} of {SLOWLORIS} refused at once, the rest timed out ({:?})",
            started.elapsed()
        );
        assert!(refused > 0, "the per-address cap on open connections never applied");
        assert!(metric(port, "gozcu_http_rejections_total{reason=\"connections\"}").await > 0.0);

        // An idle keep-alive connection is closed too, not held forever.
        let mut idle = connect_from(SLOW, port).await.unwrap();
        idle.write_all(format!("GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let answer = read_response(&mut idle).await.expect("health answer");
        assert_eq!(answer.code, 200);
        timeout(GUARD, read_until_closed(&mut idle))
            .await
            .expect("an idle keep-alive connection was never closed");
        good_client_ok(&good, port, "after slowloris").await;

        // 3. WebSocket clients that never read: each fills its own queue and is evicted.
        let stalled: Vec<_> = (0..NEVER_READING)
            .map(|_| tokio::spawn(never_reading(port)))
            .collect();
        good_client_ok(&good, port, "never-reading clients").await;
        for t in stalled {
            let frames = t.await.unwrap();
            // What got through is the start of the replay, in order, then possibly the
            // close (1013); the buffers held far less than the log.
            let mut texts = frames.iter().filter(|(op, _)| *op == 1).map(|(_, p)| {
                serde_json::from_slice::<Value>(p).expect("text frames are JSON")
            });
            assert_eq!(texts.next().expect("status")["type"], "status");
            let seqs: Vec<i64> = texts.map(|v| v["data"]["seq"].as_i64().unwrap()).collect();
            assert!(
                !seqs.is_empty() && seqs.len() < LOGGED as usize,
                "{} replayed messages reached a client that never read",
                seqs.len()
            );
            assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
            if let Some((_, close)) = frames.iter().find(|(op, _)| *op == 8) {
                assert_eq!(close.get(..2), Some(&1013u16.to_be_bytes()[..]));
                let reason = String::from_utf8_lossy(&close[2..]);
                assert!(reason.starts_with("slow consumer evicted; reconnect with since="));
            }
        }
        assert_eq!(
            metric(port, "gozcu_ws_evictions_total{reason=\"slow\"}").await,
            NEVER_READING as f64,
            "{}",
            d.log_text()
        );
        good_client_ok(&good, port, "after never-reading clients").await;
        eprintln!("never-reading clients evicted ({:?})", started.elapsed());

        // 4. Random bytes: as a request, and as WebSocket frames after a good handshake.
        let mut noisy = Vec::new();
        // 15 of them upgrade first: within max_clients_per_ip.
        for i in 0..30u64 {
            noisy.push(tokio::spawn(async move {
                let mut s = connect_from(NOISE, port).await.unwrap();
                let upgraded = i % 2 == 1;
                let mut received = Vec::new();
                if upgraded {
                    s.write_all(handshake(port).as_bytes()).await.unwrap();
                    let answer = read_response(&mut s).await.expect("handshake answer");
                    assert_eq!(answer.code, 101, "{answer:?}");
                    received = answer.rest;
                }
                let bytes = noise(i, 512 + 97 * i as usize);
                let _ = s.write_all(&bytes).await;
                received.extend(
                    timeout(GUARD, read_until_closed(&mut s))
                        .await
                        .expect("random bytes: the server never closed the connection"),
                );
                (upgraded, received)
            }));
        }
        good_client_ok(&good, port, "random bytes").await;
        for t in noisy {
            let (upgraded, received) = t.await.unwrap();
            if upgraded {
                // Protocol errors close with their code; frames that announce more bytes
                // than ever arrive end with the idle timeout (1000).
                let close = frames(&received).into_iter().find(|(op, _)| *op == 8);
                let code = close
                    .as_ref()
                    .and_then(|(_, p)| p.get(..2))
                    .map(|c| u16::from_be_bytes([c[0], c[1]]));
                assert!(
                    matches!(code, None | Some(1000 | 1002 | 1007 | 1008 | 1009)),
                    "close {close:?}"
                );
            } else {
                let text = String::from_utf8_lossy(&received);
                assert!(
                    received.is_empty() || text.starts_with("HTTP/1.1 4"),
                    "random request got {text:?}"
                );
            }
        }
        let seen = good_client_ok(&good, port, "the end").await;
        // Client counts changed all along: status updates reached the good client too.
        assert!(seen.statuses > 0, "{seen:?}");

        // Every abusive connection is gone: only the good client is left.
        let cleaned = async {
            loop {
                if let Some((200, body)) = get_from(GOOD, port, "/api/health").await
                    && serde_json::from_str::<Value>(&body).unwrap()["clients"] == 1
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        timeout(GUARD, cleaned)
            .await
            .expect("abusive WebSocket clients were never cleaned up");
        eprintln!("all phases done after {:?}", started.elapsed());

        let peak = watch.peak();
        let end = rss_kib(pid);
        eprintln!("RSS: baseline {baseline} KiB, peak {peak} KiB, end {end} KiB");
        let bound = 2 * baseline + 32 * 1024;
        assert!(
            peak < bound,
            "daemon RSS peaked at {peak} KiB (baseline {baseline} KiB, bound {bound} KiB)"
        );
    });
    assert!(d.child.try_wait().unwrap().is_none(), "{}", d.log_text());
    let log = d.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(d.stop(), 0, "{}", d.log_text());
}
