//! One soak client: connects, stays a random while, leaves (a clean close or a dropped
//! socket), comes back with `since=<last seq>&epoch=<epoch>`, and so on until the deadline;
//! then a last connection catches up to the newest logged message. It records every event
//! message it gets (seq and a hash of the text) and anything that breaks the protocol's
//! promise: a message out of order or twice, a `reset`, a first message that is not status.

use futures_util::StreamExt;
use serde_json::Value;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Small deterministic generator (SplitMix64): each client's choices are reproducible from
/// the seed printed by the test.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn duration(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = hi.saturating_sub(lo).as_micros().max(1) as u64;
        lo + Duration::from_micros(self.next_u64() % span)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

pub fn text_hash(text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// What the soak's clients share: where to connect and live counters.
pub struct World {
    pub port: u16,
    /// Clients connected right now (sampled with the daemon's file descriptors).
    pub connected: AtomicUsize,
    /// Newest seq the test read from the database after the churn: the final catch-up
    /// target (i64::MAX until then).
    pub catch_up_to: AtomicI64,
}

/// How long a client stays connected and how long it stays away.
#[derive(Debug, Clone, Copy)]
pub struct Churn {
    pub stay: (Duration, Duration),
    pub away: (Duration, Duration),
}

#[derive(Debug, Default)]
pub struct ClientReport {
    /// (seq, hash of the message text) in arrival order, over all connections.
    pub received: Vec<(i64, u64)>,
    pub connections: u64,
    pub clean_closes: u64,
    pub dropped_sockets: u64,
    /// Close codes the server sent (e.g. 1013 for an evicted slow consumer).
    pub server_closes: Vec<u16>,
    pub connect_errors: Vec<String>,
    /// Broken promises; the test fails on any.
    pub violations: Vec<String>,
}

impl ClientReport {
    fn last_seq(&self) -> i64 {
        self.received.last().map_or(0, |r| r.0)
    }
}

/// Runs one client until `deadline`, then catches up (see the module doc).
pub async fn run(world: Arc<World>, seed: u64, churn: Churn, deadline: Instant) -> ClientReport {
    let mut rng = Rng::new(seed);
    let mut report = ClientReport::default();
    let mut epoch: Option<String> = None;
    while Instant::now() < deadline {
        let stay = rng.duration(churn.stay.0, churn.stay.1);
        let until = (Instant::now() + stay).min(deadline);
        let clean = rng.chance(50);
        session(&world, &mut report, &mut epoch, Leave::At(until, clean)).await;
        let away = rng.duration(churn.away.0, churn.away.1);
        tokio::time::sleep(away).await;
    }
    // The final connection: until everything the database had at the end has arrived.
    let until = Instant::now() + Duration::from_secs(60);
    session(&world, &mut report, &mut epoch, Leave::CaughtUp(until)).await;
    let target = world.catch_up_to.load(Ordering::SeqCst);
    if report.last_seq() < target {
        report.violations.push(format!(
            "final catch-up ended at seq {} but the log reaches {target}",
            report.last_seq()
        ));
    }
    report
}

enum Leave {
    /// Leave at this time, with a close handshake (true) or by dropping the socket.
    At(Instant, bool),
    /// Stay until `catch_up_to` is reached (or the time passes), then close cleanly.
    CaughtUp(Instant),
}

async fn session(
    world: &World,
    report: &mut ClientReport,
    epoch: &mut Option<String>,
    leave: Leave,
) {
    let mut url = format!(
        "ws://127.0.0.1:{}/api/ws/events?since={}",
        world.port,
        report.last_seq()
    );
    if let Some(e) = epoch.as_deref() {
        url.push_str(&format!("&epoch={e}"));
    }
    let mut ws = match tokio_tungstenite::connect_async(url.as_str()).await {
        Ok((ws, _)) => ws,
        Err(e) => {
            report.connect_errors.push(e.to_string());
            tokio::time::sleep(Duration::from_millis(200)).await;
            return;
        }
    };
    report.connections += 1;
    world.connected.fetch_add(1, Ordering::SeqCst);
    let mut first = true;
    let (until, clean) = match leave {
        Leave::At(t, clean) => (t, clean),
        Leave::CaughtUp(t) => (t, true),
    };
    let catching_up = matches!(leave, Leave::CaughtUp(_));
    loop {
        if catching_up && report.last_seq() >= world.catch_up_to.load(Ordering::SeqCst) {
            break;
        }
        // While catching up, look at the target at least every 250 ms: it is set by the test
        // once the churn is over and may already be reached.
        let wake = if catching_up {
            until.min(Instant::now() + Duration::from_millis(250))
        } else {
            until
        };
        let msg = match tokio::time::timeout_at(wake, ws.next()).await {
            Err(_) if Instant::now() < until => continue,
            Err(_) => break,
            Ok(None) | Ok(Some(Err(_))) => {
                report.violations.push(format!(
                    "connection {} ended without a close frame",
                    report.connections
                ));
                world.connected.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            Ok(Some(Ok(m))) => m,
        };
        match msg {
            Message::Text(text) => {
                let v: Value = match serde_json::from_str(&text) {
                    Ok(v) => v,
                    Err(_) if text.as_str() == "pong" => continue,
                    Err(e) => {
                        report.violations.push(format!("not JSON ({e}): {text}"));
                        continue;
                    }
                };
                if first && v["type"] != "status" {
                    report
                        .violations
                        .push(format!("first message is not status: {text}"));
                }
                first = false;
                on_message(report, epoch, &v, &text);
            }
            Message::Close(frame) => {
                report
                    .server_closes
                    .push(frame.map_or(1005, |f| u16::from(f.code)));
                world.connected.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            _ => {}
        }
    }
    if clean {
        report.clean_closes += 1;
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            let _ = ws.close(None).await;
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    } else {
        report.dropped_sockets += 1;
        drop(ws);
    }
    world.connected.fetch_sub(1, Ordering::SeqCst);
}

fn on_message(report: &mut ClientReport, epoch: &mut Option<String>, v: &Value, text: &str) {
    match v["type"].as_str() {
        Some("status") => {
            let e = v["data"]["epoch"].as_str().unwrap_or_default().to_string();
            match epoch.as_deref() {
                Some(old) if old != e => report
                    .violations
                    .push(format!("database epoch changed from {old} to {e}")),
                Some(_) => {}
                None => *epoch = Some(e),
            }
        }
        Some("event") => {
            let Some(seq) = v["data"]["seq"].as_i64() else {
                report.violations.push(format!("event without seq: {text}"));
                return;
            };
            if seq <= report.last_seq() {
                report.violations.push(format!(
                    "seq {seq} after {}: duplicate or out of order",
                    report.last_seq()
                ));
            }
            report.received.push((seq, text_hash(text)));
        }
        Some("reset") => report.violations.push(format!("reset: {text}")),
        _ => report
            .violations
            .push(format!("unexpected message: {text}")),
    }
}
