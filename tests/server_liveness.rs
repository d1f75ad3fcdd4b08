//! Heartbeat, idle timeout, handshake timeout (simulated time) and backpressure: a stalled
//! client is evicted while everyone else gets every event.

mod server_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use gozcu::server::protocol::EventData;
use gozcu::server::{Archive, Hub, HubOptions, serve};
use gozcu::store::{SnapshotStore, Store};
use server_common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test(start_paused = true)]
async fn server_pings_every_20s_and_a_reading_client_stays() {
    let srv = start(settings()).await;
    let mut ws = srv.connect_ready("").await;
    let t0 = Instant::now();
    let mut pings = Vec::new();
    // tungstenite answers each Ping with a Pong while we read.
    while pings.len() < 7 {
        match ws.next().await {
            Some(Ok(Message::Ping(_))) => pings.push(t0.elapsed().as_secs()),
            // The client count changed: a rate-like status update, sent after 10 s.
            Some(Ok(Message::Text(t))) if t.starts_with(r#"{"type":"status""#) => {}
            other => panic!("unexpected {other:?} after {:?}", t0.elapsed()),
        }
    }
    assert_eq!(pings, vec![20, 40, 60, 80, 100, 120, 140]);
    send_text(&mut ws, "ping").await;
    assert_eq!(next_reply(&mut ws).await, "pong");
}

#[tokio::test(start_paused = true)]
async fn silent_client_is_closed_after_60s() {
    let srv = start(settings()).await;
    let mut ws = srv.connect_ready("").await;
    let t0 = Instant::now();
    // Not reading means not answering pings: the client is silent.
    tokio::time::sleep(Duration::from_secs(61)).await;
    let mut pings = 0;
    let frame = loop {
        match ws.next().await {
            Some(Ok(Message::Ping(_))) => pings += 1,
            Some(Ok(Message::Text(t))) if t.starts_with(r#"{"type":"status""#) => {}
            Some(Ok(Message::Close(f))) => break f.expect("close frame"),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(pings >= 2, "{pings} pings");
    assert_eq!(frame.code, CloseCode::Normal);
    assert_eq!(
        frame.reason.as_str(),
        "idle timeout: nothing received for 60 s"
    );
    assert!(t0.elapsed() >= Duration::from_secs(60));
    assert_eq!(srv.hub.client_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn handshake_must_finish_within_5s() {
    let srv = start(settings()).await;
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(b"GET /api/ws/events HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let t0 = Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(6),
        "closed after {waited:?}"
    );
    // The server still works.
    let mut ws = srv.connect_ready("").await;
    send_text(&mut ws, "ping").await;
    assert_eq!(next_reply(&mut ws).await, "pong");
}

/// A connection task that falls more than the broadcast buffer behind is evicted with 1013
/// (single-threaded runtime: publishing without yielding guarantees the lag).
#[tokio::test]
async fn lagged_receiver_is_evicted_with_1013() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let snapshots = std::sync::Arc::new(SnapshotStore::open(&dir.path().join("s"), 0).unwrap());
    let archive = Archive::open(dir.path(), snapshots).unwrap();
    let hub = Hub::with_options(
        store.epoch().to_string(),
        "t",
        HubOptions {
            event_buffer: 4,
            ..HubOptions::default()
        },
    );
    let handle = serve(settings(), hub.clone(), archive).await.unwrap();
    let url = format!("ws://{}/api/ws/events", handle.local_addrs[0]);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "status");
    let mut last = 0;
    for n in 1..=10 {
        let logged = store.append(&event(n, "cam-1")).unwrap();
        last = logged.seq;
        hub.publish_event(logged);
    }
    let frame = close_frame(&mut ws).await.expect("close frame");
    assert_eq!(frame.code, CloseCode::Again);
    assert!(
        frame
            .reason
            .starts_with("lagged consumer evicted; reconnect with since="),
        "{}",
        frame.reason
    );
    assert_eq!(hub.metrics().evictions("lagged"), 1);
    // Resuming picks everything up from the log.
    let url = format!("ws://{}/api/ws/events?since=0", handle.local_addrs[0]);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "status");
    assert_eq!(
        seqs_until(&mut ws, last).await,
        (1..=last).collect::<Vec<_>>()
    );
    handle.shutdown().await;
}

fn big_event(n: u64) -> EventData {
    let mut ev = event(n, "cam-1");
    // Large messages fill the stalled client's socket buffers quickly.
    ev.camera_name = "x".repeat(3000);
    ev
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_client_is_evicted_and_never_delays_the_others() {
    let mut s = settings();
    s.client_queue = 32;
    s.max_clients_per_ip = 64;
    let srv = start(s).await;

    // The stalled client: a tiny receive buffer, reads the status, then nothing.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let stream = sock.connect(srv.addr).await.unwrap();
    let (mut stalled, _) = tokio_tungstenite::client_async(
        srv.ws_url(""),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    )
    .await
    .unwrap();
    assert_eq!(next_json(&mut stalled).await["type"], "status");

    // Each reader reports the highest seq it has received, so the publisher can pace itself
    // to what readers that keep up can take (a queue of 32, a few messages in flight).
    let progress: Arc<Vec<AtomicI64>> = Arc::new((0..50).map(|_| AtomicI64::new(0)).collect());
    let mut readers = Vec::new();
    for i in 0..50 {
        let mut ws = srv.connect_ready("").await;
        let progress = progress.clone();
        readers.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            loop {
                match tokio::time::timeout(WAIT, ws.next()).await {
                    Ok(Some(Ok(Message::Text(t)))) => {
                        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                        if v["type"] == "event" {
                            let seq = v["data"]["seq"].as_i64().unwrap();
                            seqs.push(seq);
                            progress[i].store(seq, Ordering::SeqCst);
                            if v["data"]["camera_id"] == "cam-end" {
                                return seqs;
                            }
                        } else if v["type"] == "reset" {
                            panic!("reader got {v}");
                        }
                    }
                    Ok(Some(Ok(Message::Close(f)))) => panic!("reader closed: {f:?}"),
                    Ok(None) => panic!("reader connection ended"),
                    Ok(Some(Ok(_))) => {}
                    Ok(Some(Err(e))) => panic!("reader error {e}"),
                    Err(_) => panic!("reader starved after {} events", seqs.len()),
                }
            }
        }));
    }
    let slowest = || {
        progress
            .iter()
            .map(|p| p.load(Ordering::SeqCst))
            .min()
            .unwrap()
    };
    let keep_pace = |last: i64| async move {
        let deadline = Instant::now() + WAIT;
        while slowest() < last - 8 {
            assert!(
                Instant::now() < deadline,
                "readers stopped at {}",
                slowest()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };

    let mut published = Vec::new();
    let mut n = 0;
    while srv.hub.metrics().evictions("slow") == 0 {
        n += 1;
        assert!(n <= 5000, "stalled client never evicted");
        let seq = srv.publish(&big_event(n)).seq;
        published.push(seq);
        keep_pace(seq).await;
    }
    eprintln!("stalled client evicted after {n} events");
    // Some more after the eviction, then the marker that ends the readers.
    for _ in 0..20 {
        n += 1;
        let seq = srv.publish(&big_event(n)).seq;
        published.push(seq);
        keep_pace(seq).await;
    }
    published.push(srv.publish(&event(n + 1, "cam-end")).seq);
    for r in readers {
        assert_eq!(r.await.unwrap(), published);
    }
    assert_eq!(srv.hub.metrics().evictions("slow"), 1);
    assert_eq!(srv.hub.metrics().evictions("lagged"), 0);
    // The stalled client sees its buffered messages, then the end of the connection.
    let end = tokio::time::timeout(WAIT, async {
        loop {
            match stalled.next().await {
                Some(Ok(Message::Close(f))) => return f.map(|f| f.code),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("stalled connection never ended");
    assert!(matches!(end, None | Some(CloseCode::Again)), "{end:?}");
}
