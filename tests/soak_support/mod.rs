//! The soak's parts: the clients (`client.rs`), the resource sampler and the checks against
//! the database and `/api/events` (this file). Used by tests/soak.rs.
#![allow(dead_code)]

pub mod client;

use client::{ClientReport, text_hash};
use gozcu::store::StoreReader;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One reading of the daemon's resources.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Duration,
    pub rss_kib: u64,
    pub fds: usize,
    pub clients: usize,
}

pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// What each open descriptor of `pid` points at ("socket:[123]", a path, ...), sorted, so a
/// leak report can say what leaked.
pub fn fd_targets(pid: u32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut targets: Vec<String> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|t| t.display().to_string())
        .collect();
    targets.sort();
    targets
}

/// The descriptors in `after` that were not in `before` (multiset difference).
pub fn new_fd_targets(before: &[String], after: &[String]) -> Vec<String> {
    let mut left = before.to_vec();
    let mut added = Vec::new();
    for t in after {
        match left.iter().position(|b| b == t) {
            Some(i) => {
                left.swap_remove(i);
            }
            None => added.push(t.clone()),
        }
    }
    added
}

/// Samples every `every` on its own thread until `stop` is set; `clients` reads the number
/// of connected clients at that moment.
pub fn sampler(
    pid: u32,
    every: Duration,
    stop: Arc<AtomicBool>,
    clients: impl Fn() -> usize + Send + 'static,
) -> std::thread::JoinHandle<Vec<Sample>> {
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut out = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            out.push(Sample {
                at: start.elapsed(),
                rss_kib: rss_kib(pid),
                fds: open_fds(pid),
                clients: clients(),
            });
            let next = start + every * (out.len() as u32);
            while Instant::now() < next && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        out
    })
}

/// The whole event log: (seq, text) oldest first.
pub fn read_log(data_dir: &Path) -> Vec<(i64, String)> {
    let reader = StoreReader::open(data_dir).expect("open the event database read-only");
    let mut out = Vec::new();
    let mut since = 0;
    loop {
        let page = reader.log_after(since, 1000).expect("read the event log");
        let Some(last) = page.last() else { break };
        since = last.seq;
        out.extend(page.into_iter().map(|e| (e.seq, e.json.to_string())));
    }
    out
}

/// The highest seq in the event log (0 when it is empty).
pub fn newest_logged_seq(data_dir: &Path) -> i64 {
    let reader = StoreReader::open(data_dir).expect("open the event database read-only");
    let bounds = reader.log_bounds().expect("read the event log bounds");
    bounds.map_or(0, |(_, newest)| newest)
}

/// Every client got exactly the log's messages from seq 1 up to the last one it saw, in
/// order, each with the logged text. Returns the problems found (empty: all good) and the
/// number of deliveries checked.
pub fn check_clients(log: &[(i64, String)], reports: &[ClientReport]) -> (Vec<String>, usize) {
    let hashes: Vec<(i64, u64)> = log.iter().map(|(s, t)| (*s, text_hash(t))).collect();
    let mut problems = Vec::new();
    let mut checked = 0;
    for (i, r) in reports.iter().enumerate() {
        for v in &r.violations {
            problems.push(format!("client {i}: {v}"));
        }
        let last = r.received.last().map_or(0, |x| x.0);
        let expected: Vec<(i64, u64)> =
            hashes.iter().copied().filter(|(s, _)| *s <= last).collect();
        checked += r.received.len();
        if r.received == expected {
            continue;
        }
        let got: std::collections::BTreeSet<i64> = r.received.iter().map(|x| x.0).collect();
        let missing: Vec<i64> = expected
            .iter()
            .map(|x| x.0)
            .filter(|s| !got.contains(s))
            .collect();
        let changed: Vec<i64> = r
            .received
            .iter()
            .filter(|x| {
                expected
                    .binary_search_by_key(&x.0, |e| e.0)
                    .is_ok_and(|k| expected[k] != **x)
            })
            .map(|x| x.0)
            .collect();
        problems.push(format!(
            "client {i}: got {} messages up to seq {last}, the log has {}; missing seqs {:?}, \
             text differs for {:?}",
            r.received.len(),
            expected.len(),
            &missing[..missing.len().min(20)],
            &changed[..changed.len().min(20)],
        ));
    }
    (problems, checked)
}

/// Every page of `/api/events`, newest first.
pub fn rest_events(port: u16) -> Vec<Value> {
    let mut listed: Vec<Value> = Vec::new();
    let mut before = String::new();
    loop {
        let (code, body) =
            crate::daemon_common::http_get(port, &format!("/api/events?limit=500{before}"))
                .expect("GET /api/events");
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
        let v: Value = serde_json::from_slice(&body).expect("JSON from /api/events");
        listed.extend(v["events"].as_array().cloned().unwrap_or_default());
        match v["next_before_seq"].as_i64() {
            Some(s) => before = format!("&before_seq={s}"),
            None => break,
        }
    }
    listed
}

/// The pages of `/api/events` (`listed`) against the event log: each listed event is a
/// logged message of its id, with the same data, and no message logged up to `log_max` is
/// newer; every id logged up to `log_max` is listed unless it changed while the pages were
/// read, i.e. after `newest_before_paging` (paging goes by newest seq, so an event updated
/// meanwhile moves past the cursor). The cameras keep logging meanwhile, so `log` must be
/// read after the pages. Returns the problems.
pub fn check_rest(
    listed: &[Value],
    log: &[(i64, String)],
    log_max: i64,
    newest_before_paging: i64,
) -> Vec<String> {
    // id -> (seq, data) of every logged message, newest last.
    let mut by_id: HashMap<String, Vec<(i64, Value)>> = HashMap::new();
    for (seq, text) in log {
        let v: Value = serde_json::from_str(text).expect("logged JSON");
        let id = v["data"]["id"].as_str().unwrap_or_default().to_string();
        by_id.entry(id).or_default().push((*seq, v["data"].clone()));
    }
    let mut problems = Vec::new();
    let mut listed_ids = std::collections::HashSet::new();
    for e in listed {
        let id = e["id"].as_str().unwrap_or_default().to_string();
        let seq = e["seq"].as_i64().unwrap_or(-1);
        listed_ids.insert(id.clone());
        let Some(msgs) = by_id.get(&id) else {
            problems.push(format!(
                "/api/events lists {id}, which is not in the event log"
            ));
            continue;
        };
        match msgs.iter().find(|(s, _)| *s == seq) {
            Some((_, data)) if data == e => {}
            Some((_, data)) => problems.push(format!(
                "/api/events {id} differs from its logged message seq {seq}: {e} vs {data}"
            )),
            None => problems.push(format!("/api/events {id} has seq {seq}, not logged for it")),
        }
        if let Some((newer, _)) = msgs.iter().find(|(s, _)| *s > seq && *s <= log_max) {
            problems.push(format!(
                "/api/events {id} is at seq {seq} but seq {newer} (logged before) is newer"
            ));
        }
    }
    for (id, msgs) in &by_id {
        let logged_by_then = msgs.first().is_some_and(|(s, _)| *s <= log_max);
        let unchanged_while_paging = msgs.last().is_some_and(|(s, _)| *s <= newest_before_paging);
        if logged_by_then && unchanged_while_paging && !listed_ids.contains(id) {
            problems.push(format!("{id} is in the event log but not in /api/events"));
        }
    }
    problems
}

/// Median of the RSS readings in `samples`.
pub fn median_rss(samples: &[Sample]) -> u64 {
    let mut v: Vec<u64> = samples.iter().map(|s| s.rss_kib).collect();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}
