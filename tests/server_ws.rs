//! WebSocket protocol v1 against a real server and store: first status, ping/pong, fan-out,
//! resume without gap or duplicate, reset, subscriptions, bad input, limits, eviction,
//! heartbeat and shutdown.

mod server_common;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use gozcu::server::ServerSettings;
use gozcu::server::protocol::{CameraCounts, StatusData};
use gozcu::store::RetentionPolicy;
use server_common::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn status_is_first_with_seed_keys_then_ping_pong() {
    let srv = start(settings()).await;
    srv.hub.set_status(StatusData {
        cameras: CameraCounts {
            online: 2,
            retrying: 0,
            down: 0,
        },
        ..StatusData::default()
    });
    let mut ws = srv.connect("").await;
    let first = next_json(&mut ws).await;
    assert_eq!(first["type"], "status");
    let d = &first["data"];
    assert_eq!(d["cameras"]["online"], 2);
    assert_eq!(d["cameras"]["retrying"], 0);
    assert_eq!(d["cameras"]["down"], 0);
    assert_eq!(d["ai"]["enabled"], false);
    assert!(d["ai"].as_object().unwrap().contains_key("reason"), "{d}");
    assert_eq!(d["clients"], 1);
    assert_eq!(d["version"], "0.0.0-test");
    assert_eq!(d["epoch"], srv.hub.epoch());

    send_text(&mut ws, "ping").await;
    assert_eq!(next_reply(&mut ws).await, "pong");
}

#[tokio::test]
async fn events_fan_out_to_many_clients_in_order() {
    let srv = start(settings()).await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(srv.connect_ready("").await);
    }
    let mut expected = Vec::new();
    for n in 1..=30 {
        expected.push(srv.publish(&event(n, "cam-1")).seq);
    }
    for ws in &mut clients {
        let got = seqs_until(ws, *expected.last().unwrap()).await;
        assert_eq!(got, expected);
    }
    // Seed event keys, exactly as the daemon produces them.
    let mut ws = srv.connect_ready("").await;
    srv.publish(&event(31, "cam-9"));
    let v = next_reply_json(&mut ws).await;
    assert_eq!(v["type"], "event");
    let d = &v["data"];
    assert_eq!(d["id"], "evt-31");
    assert_eq!(d["camera_id"], "cam-9");
    assert_eq!(d["event_type"], "person");
    assert_eq!(d["timestamp"], "2025-01-02T03:04:05Z");
    assert_eq!(d["confidence"], 0.875);
    assert_eq!(d["phase"], "start");
    assert_eq!(d["box"], serde_json::json!([0.1, 0.2, 0.3, 0.4]));
}

#[tokio::test]
async fn resume_after_disconnect_replays_exactly_what_was_missed() {
    let srv = start(settings()).await;
    let mut ws = srv.connect_ready("").await;
    for n in 1..=3 {
        srv.publish(&event(n, "cam-1"));
    }
    assert_eq!(seqs_until(&mut ws, 3).await, vec![1, 2, 3]);
    ws.close(None).await.unwrap();
    drop(ws);

    for n in 4..=8 {
        srv.publish(&event(n, "cam-1"));
    }
    let epoch = srv.hub.epoch().to_string();
    let mut ws = srv.connect_ready(&format!("?since=3&epoch={epoch}")).await;
    assert_eq!(seqs_until(&mut ws, 8).await, vec![4, 5, 6, 7, 8]);
    srv.publish(&event(9, "cam-1"));
    assert_eq!(seqs_until(&mut ws, 9).await, vec![9]);

    // The same through a resume message on an open connection.
    send_text(&mut ws, r#"{"type":"resume","since":6}"#).await;
    assert_eq!(seqs_until(&mut ws, 9).await, vec![7, 8, 9]);
}

/// Events committed while the replay runs arrive once each, in order, with no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_during_live_publishing_has_no_gap_or_duplicate() {
    // Room for every live event in the client's queue: a loaded machine may stall the
    // connection's writer through the whole burst, and eviction (tested on its own) is not
    // what this test is about.
    let srv = start(ServerSettings {
        client_queue: 1024,
        ..settings()
    })
    .await;
    for n in 1..=100 {
        srv.publish(&event(n, "cam-1"));
    }
    let store = srv.store.clone();
    let hub = srv.hub.clone();
    let publisher = tokio::task::spawn_blocking(move || {
        for n in 101..=400 {
            let logged = store.lock().unwrap().append(&event(n, "cam-1")).unwrap();
            hub.publish_event(logged);
        }
    });
    let mut ws = srv.connect_ready("?since=10").await;
    let got = seqs_until(&mut ws, 400).await;
    publisher.await.unwrap();
    let expected: Vec<i64> = (11..=400).collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn resume_from_too_far_behind_or_another_database_resets() {
    let srv = start(settings()).await;
    for n in 1..=20 {
        srv.publish(&event(n, "cam-1"));
    }
    srv.store
        .lock()
        .unwrap()
        .apply_retention(
            &RetentionPolicy {
                retain_days: 0,
                max_events: 5,
            },
            time::OffsetDateTime::now_utc(),
            &srv.snapshots,
        )
        .unwrap();

    // Log now holds 16..=20: since=15 is complete, since=14 is not.
    let mut ws = srv.connect_ready("?since=15").await;
    assert_eq!(seqs_until(&mut ws, 20).await, vec![16, 17, 18, 19, 20]);

    for (query, reason) in [
        ("?since=2", "too_old"),
        ("?since=99", "unknown_seq"),
        ("?since=16&epoch=not-this-db", "epoch_mismatch"),
    ] {
        let mut ws = srv.connect_ready(query).await;
        let v = next_reply_json(&mut ws).await;
        assert_eq!(v["type"], "reset", "{query}: {v}");
        assert_eq!(v["data"]["reason"], reason, "{query}");
        // Live events still follow.
        let seq = srv.publish(&event(100, "cam-1")).seq;
        assert_eq!(seqs_until(&mut ws, seq).await, vec![seq]);
    }
}

#[tokio::test]
async fn subscribe_filters_by_camera() {
    let srv = start(settings()).await;
    let mut ws = srv.connect_ready("?cameras=cam-2").await;
    let mut cam2 = Vec::new();
    for n in 1..=6 {
        let cam = if n % 2 == 0 { "cam-2" } else { "cam-1" };
        let seq = srv.publish(&event(n, cam)).seq;
        if cam == "cam-2" {
            cam2.push(seq);
        }
    }
    assert_eq!(seqs_until(&mut ws, 6).await, cam2);

    send_text(&mut ws, r#"{"type":"subscribe","cameras":["cam-1"]}"#).await;
    // The pong proves the subscribe was handled before the next events.
    send_text(&mut ws, "ping").await;
    assert_eq!(next_reply(&mut ws).await, "pong");
    srv.publish(&event(7, "cam-2"));
    let seq = srv.publish(&event(8, "cam-1")).seq;
    let v = next_reply_json(&mut ws).await;
    assert_eq!(v["data"]["seq"], seq);
    assert_eq!(v["data"]["camera_id"], "cam-1");

    // Replay honours the filter too.
    let mut ws = srv.connect_ready("?since=0&cameras=cam-1").await;
    assert_eq!(seqs_until(&mut ws, 8).await, vec![1, 3, 5, 8]);
}

#[tokio::test]
async fn bad_messages_get_an_error_and_the_connection_stays() {
    let srv = start(settings()).await;
    let mut ws = srv.connect_ready("").await;
    send_text(&mut ws, "{not json").await;
    let v = next_reply_json(&mut ws).await;
    assert_eq!(v["type"], "error");
    assert_eq!(v["data"]["code"], "bad_message");
    let msg = v["data"]["message"].as_str().unwrap();
    assert!(msg.starts_with("expected \"ping\""), "{msg}");

    send_text(&mut ws, r#"{"type":"subscribe","cameras":"cam-1"}"#).await;
    let v = next_reply_json(&mut ws).await;
    assert_eq!(v["data"]["code"], "bad_message");

    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    let v = next_reply_json(&mut ws).await;
    assert_eq!(v["data"]["code"], "bad_message");
    assert_eq!(
        v["data"]["message"],
        "binary frames are not supported; send JSON text"
    );

    send_text(&mut ws, "ping").await;
    assert_eq!(next_reply(&mut ws).await, "pong");
}

#[tokio::test]
async fn oversized_message_closes_with_1009_and_server_carries_on() {
    let srv = start(settings()).await;
    let mut ws = srv.connect_ready("").await;
    let big = "x".repeat(5 * 1024);
    // The server may close before the whole frame is written.
    let _ = ws.send(Message::text(big)).await;
    let frame = close_frame(&mut ws).await.expect("close frame");
    assert_eq!(frame.code, CloseCode::Size);
    assert_eq!(frame.reason.as_str(), "message larger than 4096 bytes");

    let mut ws = srv.connect_ready("").await;
    send_text(&mut ws, "ping").await;
    assert_eq!(next_reply(&mut ws).await, "pong");
}

#[tokio::test]
async fn flooding_closes_with_1008() {
    let srv = start(settings()).await;
    let mut ws = srv.connect_ready("").await;
    for _ in 0..30 {
        if ws.send(Message::text("ping")).await.is_err() {
            break;
        }
    }
    let mut pongs = 0;
    let frame = loop {
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Text(t))) if t == "pong" => pongs += 1,
            // A status update (the client count) or a server ping may come in between.
            Some(Ok(Message::Text(t))) if is_status(&t) => {}
            Some(Ok(Message::Ping(_))) => {}
            Some(Ok(Message::Close(f))) => break f.expect("close frame"),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(frame.code, CloseCode::Policy);
    assert_eq!(frame.reason.as_str(), "more than 20 messages per second");
    assert_eq!(pongs, 20);
}

#[tokio::test]
async fn graceful_shutdown_closes_clients_with_1001() {
    let mut srv = start(settings()).await;
    // Clients that read, as browsers do, so they answer the server's close at once.
    let mut readers = Vec::new();
    for _ in 0..5 {
        let mut ws = srv.connect_ready("").await;
        readers.push(tokio::spawn(async move {
            let frame = close_frame(&mut ws).await;
            // Reading on sends tungstenite's close reply and sees the end of the stream.
            while let Some(Ok(_)) = ws.next().await {}
            frame
        }));
    }
    let started = std::time::Instant::now();
    srv.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "shutdown took {:?}",
        started.elapsed()
    );
    for reader in readers {
        let frame = reader.await.unwrap().expect("close frame");
        assert_eq!(frame.code, CloseCode::Away);
        assert_eq!(frame.reason.as_str(), "server shutting down");
    }
    assert!(tokio::net::TcpStream::connect(srv.addr).await.is_err());
}

#[tokio::test]
async fn connection_limits_total_and_per_ip_answer_503() {
    let mut s = settings();
    s.max_clients = 3;
    s.max_clients_per_ip = 2;
    let srv = start(s).await;
    let url = srv.ws_url("");
    let a1 = srv.connect_ready("").await;
    let _a2 = srv.connect_ready("").await;
    assert_eq!(connect_with_headers(&url, &[]).await.err(), Some(503));

    // Another source address still has room until the total is reached.
    let _b1 = connect_from("127.0.0.2", &url).await.expect("second ip");
    assert_eq!(connect_from("127.0.0.3", &url).await.err(), Some(503));

    drop(a1);
    wait_for(|| srv.hub.client_count() == 2).await;
    assert!(connect_from("127.0.0.3", &url).await.is_ok());
}

async fn connect_from(ip: &str, url: &str) -> Result<Client, u16> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let addr: std::net::SocketAddr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    let stream = sock.connect(addr).await.unwrap();
    let req = url.into_client_request().unwrap();
    match tokio_tungstenite::client_async(req, tokio_tungstenite::MaybeTlsStream::Plain(stream))
        .await
    {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

async fn wait_for(mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached");
}

#[tokio::test]
async fn listens_on_every_address() {
    let mut s = settings();
    let v6 = std::net::TcpListener::bind("[::1]:0").is_ok();
    s.listen.push("127.0.0.1:0".parse().unwrap());
    if v6 {
        s.listen.push("[::1]:0".parse().unwrap());
    } else {
        eprintln!("note: no IPv6 loopback here; checking two IPv4 listeners only");
    }
    let srv = start(s).await;
    let handle = srv.handle.as_ref().unwrap();
    assert_eq!(handle.local_addrs.len(), if v6 { 3 } else { 2 });
    for addr in &handle.local_addrs {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/ws/events"))
            .await
            .unwrap_or_else(|e| panic!("{addr}: {e}"));
        assert_eq!(next_json(&mut ws).await["type"], "status");
    }
}
