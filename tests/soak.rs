//! Soak (docs/testing.md, "Soak"): the real daemon with two replay cameras of the street
//! scene making motion events (no detector: on a loaded machine CPU inference can take over
//! a second a frame, too slow to follow people, and events are what the soak needs), while WebSocket clients connect and disconnect at random
//! (half with a close handshake, half by dropping the socket), each reconnect resuming with
//! `since=<last seq>&epoch=<epoch>`. Checks:
//! - every client got every logged message from seq 1 to its last one exactly once, in
//!   order, with the logged text (the database is the reference), and after the churn
//!   catches up to the end of the log; no `reset`, no connection ended without a close frame;
//! - `/api/events` lists exactly the logged events, each as its latest logged message;
//! - the daemon's open file descriptors never exceed the baseline plus one per client plus
//!   16, and return to within 8 of the baseline when the clients are gone;
//! - its RSS is flat: after a warm-up fifth, the median of the last half of the readings
//!   is at most 10% + 4 MiB above the median of the first half.
//!
//! `soak_short` (60 s, 20 clients) runs in `make test`. `soak_long` is ignored by default;
//! `make soak` runs it for SOAK_MINUTES (30) with SOAK_CLIENTS (200).

mod daemon_common;
mod soak_support;

use daemon_common::{shared_dir, start_logging};
use soak_support::client::{self, Churn, World};
use soak_support::{
    Sample, check_clients, check_rest, fd_targets, median_rss, new_fd_targets, newest_logged_seq,
    open_fds, read_log, rest_events, sampler,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

struct Params {
    duration: Duration,
    clients: usize,
    sample_every: Duration,
    churn: Churn,
}

#[test]
fn soak_short() {
    soak(Params {
        duration: Duration::from_secs(60),
        clients: 20,
        sample_every: Duration::from_secs(2),
        churn: Churn {
            stay: (Duration::from_millis(100), Duration::from_secs(4)),
            away: (Duration::from_millis(0), Duration::from_millis(1500)),
        },
    });
}

#[test]
#[ignore = "30 minutes; run by `make soak`"]
fn soak_long() {
    let env = |k: &str, default: f64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(default)
    };
    soak(Params {
        duration: Duration::from_secs_f64(env("SOAK_MINUTES", 30.0) * 60.0),
        clients: env("SOAK_CLIENTS", 200.0) as usize,
        sample_every: Duration::from_secs(10),
        churn: Churn {
            stay: (Duration::from_millis(100), Duration::from_secs(20)),
            away: (Duration::from_millis(0), Duration::from_secs(3)),
        },
    });
}

/// Synthetic cameras: their shapes move 6 s in every 12 s (camera/testsrc.rs) whatever the
/// load, so each makes one event per cycle. The replayed street alone is not enough: when
/// the loaded worker sees only every few frames, people are always moving between two of
/// them and one motion event can last the whole soak.
const TESTSRC_CAMERAS: usize = 4;

fn config(shared: &std::path::Path, clients: usize) -> String {
    let frames = shared.join("testdata/pets2009/img");
    let mut cameras = String::new();
    for id in ["street-a", "street-b"] {
        cameras.push_str(&format!(
            "[[cameras]]\nid = \"{id}\"\nname = \"Street {id}\"\ndevice = \"replay:{}\"\n\
             width = 768\nheight = 576\nfps = 7\ndetect_fps = 2\n",
            frames.display()
        ));
    }
    for i in 0..TESTSRC_CAMERAS {
        cameras.push_str(&format!(
            "[[cameras]]\nid = \"synthetic-{i}\"\ndevice = \"testsrc:\"\n\
             width = 320\nheight = 240\nfps = 5\ndetect_fps = 1\n"
        ));
    }
    format!(
        r#"[server]
listen = ["127.0.0.1:{{port}}"]
max_clients = {max}
max_clients_per_ip = {max}
[storage]
dir = "{{dir}}/data"
[detector]
backend = "none"
[events]
end_after_s = 1
update_interval_s = 1
{cameras}"#,
        max = clients * 2 + 16,
    )
}

fn soak(p: Params) {
    let Some(shared) = shared_dir() else { return };
    // Info level: debug lines for every connection would make a 30-minute log large.
    let mut d = start_logging(&config(&shared, p.clients), "warn,gozcu=info");
    d.wait_health("cameras online", Duration::from_secs(60), |h| {
        h["cameras"]["online"] == 2 + TESTSRC_CAMERAS
    });
    let pid = d.child.id();
    let data_dir = d.dir.path().join("data");
    let base_fds = open_fds(pid);
    let base_targets = fd_targets(pid);
    let seed = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::from(std::process::id()) * 7919);
    eprintln!(
        "soak: {} clients for {:?}, seed {seed} (SOAK_SEED), daemon pid {pid}, {base_fds} fds",
        p.clients, p.duration
    );

    let world = Arc::new(World {
        port: d.port,
        connected: AtomicUsize::new(0),
        catch_up_to: AtomicI64::new(i64::MAX),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let w = world.clone();
    let sampling = sampler(pid, p.sample_every, stop.clone(), move || {
        w.connected.load(Ordering::SeqCst)
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (reports, log_max) = rt.block_on(async {
        let deadline = tokio::time::Instant::now() + p.duration;
        let tasks: Vec<_> = (0..p.clients)
            .map(|i| {
                let seed = seed.wrapping_add(i as u64 * 0x1000_0001);
                tokio::spawn(client::run(world.clone(), seed, p.churn, deadline))
            })
            .collect();
        tokio::time::sleep_until(deadline).await;
        let log_max = tokio::task::spawn_blocking({
            let dir = data_dir.clone();
            move || newest_logged_seq(&dir)
        })
        .await
        .unwrap();
        world.catch_up_to.store(log_max, Ordering::SeqCst);
        let mut reports = Vec::new();
        for t in tasks {
            reports.push(t.await.expect("client task"));
        }
        (reports, log_max)
    });
    // Closed sockets leave the daemon within a moment; give it up to 15 s.
    let mut end_fds = open_fds(pid);
    for _ in 0..150 {
        if end_fds <= base_fds + 8 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        end_fds = open_fds(pid);
    }
    let leaked = new_fd_targets(&base_targets, &fd_targets(pid));
    stop.store(true, Ordering::SeqCst);
    let samples = sampling.join().unwrap();
    let newest_before_paging = newest_logged_seq(&data_dir);
    let rest = rest_events(d.port);
    let log = read_log(&data_dir);
    let rest_problems = check_rest(&rest, &log, log_max, newest_before_paging);
    let listed = rest.len();
    let (client_problems, checked) = check_clients(&log, &reports);
    let code = d.stop();

    let sum = |f: &dyn Fn(&client::ClientReport) -> u64| reports.iter().map(f).sum::<u64>();
    let server_closes: Vec<u16> = reports
        .iter()
        .flat_map(|r| r.server_closes.clone())
        .collect();
    let connect_errors: Vec<String> = reports
        .iter()
        .flat_map(|r| r.connect_errors.clone())
        .collect();
    eprintln!(
        "soak: {} messages logged (seq up to {log_max} at the end of the churn), {checked} \
         deliveries checked, {listed} events in /api/events; {} connections ({} clean closes, \
         {} dropped sockets), server closes {server_closes:?}, {} connect errors",
        log.len(),
        sum(&|r| r.connections),
        sum(&|r| r.clean_closes),
        sum(&|r| r.dropped_sockets),
        connect_errors.len(),
    );
    report_resources(&samples, base_fds, end_fds);

    let mut problems: Vec<String> = client_problems.into_iter().chain(rest_problems).collect();
    // Each synthetic camera alone makes a start and an end every 12 s; ask for half.
    let floor = p.duration.as_secs() as usize / 12 * TESTSRC_CAMERAS;
    if log.len() < floor {
        problems.push(format!(
            "only {} messages logged, expected at least {floor}: the soak tested too little",
            log.len()
        ));
    }
    if let Some(e) = connect_errors.first() {
        problems.push(format!(
            "{} connections failed, first: {e}",
            connect_errors.len()
        ));
    }
    problems.extend(check_resources(&samples, base_fds, end_fds, p.clients));
    if end_fds > base_fds + 8 {
        problems.push(format!("descriptors opened since the baseline: {leaked:?}"));
    }
    assert_eq!(code, 0, "daemon exit code\n{}", d.log_text());
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn report_resources(samples: &[Sample], base_fds: usize, end_fds: usize) {
    let rss: Vec<u64> = samples.iter().map(|s| s.rss_kib / 1024).collect();
    let fds: Vec<usize> = samples.iter().map(|s| s.fds).collect();
    eprintln!(
        "soak: {} samples; RSS MiB first {:?} min {:?} max {:?} last {:?}; fds baseline \
         {base_fds}, max {:?}, after the clients left {end_fds}",
        samples.len(),
        rss.first(),
        rss.iter().min(),
        rss.iter().max(),
        rss.last(),
        fds.iter().max(),
    );
    let step = (samples.len() / 12).max(1);
    for s in samples.iter().step_by(step) {
        eprintln!(
            "soak:   t={:>5.0}s rss={:>6} KiB fds={:>4} clients={:>4}",
            s.at.as_secs_f64(),
            s.rss_kib,
            s.fds,
            s.clients
        );
    }
}

/// The stated bounds (module doc).
fn check_resources(
    samples: &[Sample],
    base_fds: usize,
    end_fds: usize,
    clients: usize,
) -> Vec<String> {
    let mut problems = Vec::new();
    let fd_cap = base_fds + clients + 16;
    if let Some(s) = samples.iter().find(|s| s.fds > fd_cap) {
        problems.push(format!(
            "{} open fds at t={:.0}s, above baseline {base_fds} + {clients} clients + 16",
            s.fds,
            s.at.as_secs_f64()
        ));
    }
    if end_fds > base_fds + 8 {
        problems.push(format!(
            "{end_fds} open fds after every client left, baseline was {base_fds}: descriptors leak"
        ));
    }
    let warm = samples.len() / 5;
    let rest = &samples[warm..];
    if rest.len() >= 4 {
        let (first, second) = rest.split_at(rest.len() / 2);
        let (a, b) = (median_rss(first), median_rss(second));
        let bound = a + a / 10 + 4096;
        if b > bound {
            problems.push(format!(
                "RSS grows: median {b} KiB in the second half vs {a} KiB in the first (bound {bound} KiB)"
            ));
        }
    } else {
        problems.push(format!("only {} resource samples", samples.len()));
    }
    problems
}
