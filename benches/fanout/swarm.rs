//! `fanout` mode: the client swarm and the driver. For every repeat, client count and
//! server (interleaved, so both see the same machine load), it starts the server process,
//! reads its RSS, connects the clients, reads the RSS again once they are idle, then has the
//! server publish a steady stream (10/s) and bursts (e.g. 200 at once) and records every
//! delivery's latency (receive time minus the `sent_us` in the message).

use crate::stats::{Summary, cpu_ms, rss_kib};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

#[derive(clap::Args, Debug, Clone)]
pub struct FanoutArgs {
    /// Client counts, comma-separated.
    #[arg(long, default_value = "100,1000", value_delimiter = ',')]
    clients: Vec<usize>,
    /// Servers to compare: gozcu and/or ws (Node.js + npm ws).
    #[arg(long, default_value = "gozcu,ws", value_delimiter = ',')]
    servers: Vec<String>,
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Seconds of the steady phase.
    #[arg(long, default_value_t = 10)]
    steady_s: u64,
    /// Events per second in the steady phase.
    #[arg(long, default_value_t = 10)]
    rate: u64,
    #[arg(long, default_value_t = 3)]
    bursts: usize,
    #[arg(long, default_value_t = 200)]
    burst_size: u64,
    /// Node.js binary for the reference server.
    #[arg(long, default_value = "node")]
    node: String,
    /// Writes every case's figures here (JSON lines).
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Counters the client tasks update, read by the driver between phases.
#[derive(Default)]
struct Tally {
    ready: AtomicU64,
    received: AtomicU64,
    closed: AtomicU64,
    failed: AtomicU64,
}

/// One client's deliveries in the current phase: (sent_us, received_us) per event message.
type Deliveries = Arc<Mutex<Vec<(u64, u64)>>>;

pub fn main(args: FanoutArgs) -> i32 {
    let nofile = crate::raise_nofile();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fanout: runtime: {e}");
            return 1;
        }
    };
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("fanout"));
    let mut out = args
        .json
        .as_ref()
        .and_then(|p| std::fs::File::create(p).ok());
    eprintln!(
        "fanout: clients {:?}, servers {:?}, {} repeats, RLIMIT_NOFILE {nofile}, load average {}",
        args.clients,
        args.servers,
        args.repeats,
        crate::load_average()
    );
    let mut cases: Vec<Value> = Vec::new();
    for repeat in 0..args.repeats {
        for &n in &args.clients {
            for server in &args.servers {
                let cmd = match server.as_str() {
                    "gozcu" => vec![exe.display().to_string(), "serve".to_string()],
                    "ws" => vec![
                        args.node.clone(),
                        concat!(env!("CARGO_MANIFEST_DIR"), "/benches/fanout/ws_server.mjs")
                            .to_string(),
                    ],
                    other => {
                        eprintln!("fanout: unknown server {other:?} (gozcu | ws)");
                        return 2;
                    }
                };
                let load = crate::load_average();
                match runtime.block_on(run_case(&args, &cmd, n)) {
                    Ok(mut case) => {
                        case["server"] = json!(server);
                        case["clients"] = json!(n);
                        case["repeat"] = json!(repeat);
                        case["load_before"] = json!(load);
                        eprintln!("{case}");
                        if let Some(f) = out.as_mut() {
                            let _ = writeln!(f, "{case}");
                        }
                        cases.push(case);
                    }
                    Err(e) => {
                        eprintln!("fanout: {server} with {n} clients failed: {e}");
                        return 1;
                    }
                }
            }
        }
    }
    println!(
        "{}",
        crate::stats::markdown_table(&cases, &args.clients, &args.servers)
    );
    println!("load average at the end: {}", crate::load_average());
    0
}

struct ServerProc {
    child: Child,
    stdin: ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
    port: u16,
}

impl ServerProc {
    fn start(cmd: &[String]) -> Result<ServerProc, String> {
        let mut child = Command::new(&cmd[0])
            .args(&cmd[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| format!("{cmd:?} did not print its port within 30 s"))?;
        let port = first
            .strip_prefix("port ")
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| format!("{cmd:?} printed {first:?}, expected `port <n>`"))?;
        Ok(ServerProc {
            child,
            stdin,
            lines,
            port,
        })
    }

    /// Sends a `publish` command and waits for the server to say it is done.
    fn publish(&mut self, count: u64, interval_us: u64) -> Result<(), String> {
        writeln!(self.stdin, "publish {count} {interval_us}").map_err(|e| e.to_string())?;
        self.stdin.flush().map_err(|e| e.to_string())?;
        let want = format!("published {count}");
        match self.lines.recv_timeout(Duration::from_secs(120)) {
            Ok(l) if l == want => Ok(()),
            Ok(l) => Err(format!("server answered {l:?}, expected {want:?}")),
            Err(_) => Err("server did not finish publishing within 120 s".into()),
        }
    }

    fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }

    fn stop(mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn run_case(args: &FanoutArgs, cmd: &[String], n: usize) -> Result<Value, String> {
    let mut server = tokio::task::block_in_place(|| ServerProc::start(cmd))?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = server.rss_kib();
    let tally = Arc::new(Tally::default());
    let url = format!("ws://127.0.0.1:{}/api/ws/events", server.port);
    // At most 64 handshakes at a time, like dashboards arriving, not a SYN flood.
    let gate = Arc::new(Semaphore::new(64));
    let mut samples = Vec::with_capacity(n);
    let mut tasks = Vec::with_capacity(n);
    let t_connect = Instant::now();
    for _ in 0..n {
        let slot: Deliveries = Arc::default();
        samples.push(slot.clone());
        tasks.push(tokio::spawn(client(
            url.clone(),
            tally.clone(),
            slot,
            gate.clone(),
        )));
    }
    wait_until(Duration::from_secs(120), || {
        tally.ready.load(Ordering::Relaxed) + tally.failed.load(Ordering::Relaxed) >= n as u64
    })
    .await;
    let connect_s = t_connect.elapsed().as_secs_f64();
    let ready = tally.ready.load(Ordering::Relaxed);
    if ready < n as u64 {
        server.stop();
        return Err(format!(
            "only {ready} of {n} clients connected ({} failed)",
            tally.failed.load(Ordering::Relaxed)
        ));
    }
    // Let allocations settle (writer buffers, task wakeups) before reading the idle RSS.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = server.rss_kib();

    let steady_count = args.steady_s * args.rate;
    let steady = phase(
        &mut server,
        &tally,
        &samples,
        n,
        steady_count,
        1_000_000 / args.rate,
    )
    .await?;
    let mut bursts = Vec::new();
    for _ in 0..args.bursts {
        tokio::time::sleep(Duration::from_secs(1)).await;
        bursts.push(phase(&mut server, &tally, &samples, n, args.burst_size, 0).await?);
    }
    let rss_after = server.rss_kib();
    let closed = tally.closed.load(Ordering::Relaxed);
    for t in &tasks {
        t.abort();
    }
    tokio::task::block_in_place(|| server.stop());
    let since_start: Vec<u32> = bursts.iter().flat_map(|b| b.since_start.clone()).collect();
    let per_message: Vec<u32> = bursts.iter().flat_map(|b| b.per_message.clone()).collect();
    let burst_rate: Vec<f64> = bursts.iter().map(|b| b.msgs_per_s).collect();
    let mut burst = Summary::of(&since_start).to_json(
        crate::stats::median(&burst_rate),
        bursts.iter().map(|b| b.lost).sum(),
    );
    let own = Summary::of(&per_message);
    burst["per_message_p50_ms"] = json!(crate::stats::round(own.p50, 3));
    burst["per_message_p99_ms"] = json!(crate::stats::round(own.p99, 3));
    let deliveries = since_start.len().max(1) as f64;
    let cpu = |f: fn(&PhaseResult) -> f64| bursts.iter().map(f).sum::<f64>() * 1000.0 / deliveries;
    burst["server_cpu_us_per_msg"] = json!(crate::stats::round(cpu(|b| b.server_cpu_ms), 3));
    burst["swarm_cpu_us_per_msg"] = json!(crate::stats::round(cpu(|b| b.swarm_cpu_ms), 3));
    let mut steady_json = Summary::of(&steady.per_message).to_json(steady.msgs_per_s, steady.lost);
    let steady_n = steady.per_message.len().max(1) as f64;
    steady_json["server_cpu_us_per_msg"] = json!(crate::stats::round(
        steady.server_cpu_ms * 1000.0 / steady_n,
        3
    ));
    steady_json["swarm_cpu_us_per_msg"] = json!(crate::stats::round(
        steady.swarm_cpu_ms * 1000.0 / steady_n,
        3
    ));
    Ok(json!({
        "connect_s": round(connect_s, 2),
        "rss_before_kib": rss_before,
        "rss_idle_kib": rss_idle,
        "rss_after_kib": rss_after,
        "kib_per_idle_client": round((rss_idle as f64 - rss_before as f64) / n as f64, 2),
        "steady": steady_json,
        "burst": burst,
        "closed_by_server": closed,
    }))
}

struct PhaseResult {
    /// Receive time minus the message's own `sent_us`, µs.
    per_message: Vec<u32>,
    /// Receive time minus the first `sent_us` of the phase, µs: for a burst, how long after
    /// the 200 events "happened" each delivery came. (A server that serializes the burst on
    /// its publishing thread, as Node does, stamps later events later, so per-message
    /// latency alone would hide the time the burst takes.)
    since_start: Vec<u32>,
    /// Deliveries / (last receive - first sent).
    msgs_per_s: f64,
    lost: u64,
    /// CPU time the server and the swarm used during the phase.
    server_cpu_ms: f64,
    swarm_cpu_ms: f64,
}

/// Publishes `count` events `interval_us` apart and waits until every client has them (or
/// 60 s pass).
async fn phase(
    server: &mut ServerProc,
    tally: &Tally,
    samples: &[Deliveries],
    n: usize,
    count: u64,
    interval_us: u64,
) -> Result<PhaseResult, String> {
    tally.received.store(0, Ordering::Relaxed);
    let server_cpu = cpu_ms(server.child.id());
    let swarm_cpu = cpu_ms(std::process::id());
    tokio::task::block_in_place(|| server.publish(count, interval_us))?;
    let expected = count * n as u64;
    wait_until(Duration::from_secs(60), || {
        tally.received.load(Ordering::Relaxed) >= expected
    })
    .await;
    let server_cpu_ms = cpu_ms(server.child.id()) - server_cpu;
    let swarm_cpu_ms = cpu_ms(std::process::id()) - swarm_cpu;
    let mut all = Vec::with_capacity(expected as usize);
    for s in samples {
        all.append(&mut s.lock().unwrap_or_else(|p| p.into_inner()));
    }
    let first_sent = all.iter().map(|d| d.0).min().unwrap_or(0);
    let last_recv = all.iter().map(|d| d.1).max().unwrap_or(0);
    let us = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    Ok(PhaseResult {
        per_message: all.iter().map(|d| us(d.1.saturating_sub(d.0))).collect(),
        since_start: all
            .iter()
            .map(|d| us(d.1.saturating_sub(first_sent)))
            .collect(),
        msgs_per_s: all.len() as f64 / (last_recv.saturating_sub(first_sent).max(1) as f64 / 1e6),
        lost: expected.saturating_sub(all.len() as u64),
        server_cpu_ms,
        swarm_cpu_ms,
    })
}

async fn wait_until(timeout: Duration, done: impl Fn() -> bool) {
    let end = Instant::now() + timeout;
    while !done() && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One client: connects, counts the first message (status) as ready, then records the
/// latency of every event message until the connection ends.
async fn client(url: String, tally: Arc<Tally>, slot: Deliveries, gate: Arc<Semaphore>) {
    let mut permit = gate.acquire_owned().await.ok();
    let mut ws = match tokio_tungstenite::connect_async(url.as_str()).await {
        Ok((ws, _)) => ws,
        Err(e) => {
            eprintln!("client: {e}");
            tally.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let mut ready = false;
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(Message::Text(t)) => {
                let now = crate::now_us();
                match sent_us(&t) {
                    Some(sent) => {
                        slot.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((sent, now));
                        tally.received.fetch_add(1, Ordering::Relaxed);
                    }
                    None if !ready => {
                        ready = true;
                        drop(permit.take());
                        tally.ready.fetch_add(1, Ordering::Relaxed);
                    }
                    None => {}
                }
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    tally.closed.fetch_add(1, Ordering::Relaxed);
}

/// The `sent_us` number in an event message, found without parsing the whole JSON (the
/// swarm shares the machine with the server; it should cost as little as possible).
fn sent_us(text: &str) -> Option<u64> {
    const KEY: &str = "\"sent_us\":";
    let at = text.rfind(KEY)? + KEY.len();
    let digits: &str = &text[at..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}
