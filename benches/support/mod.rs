//! Shared by the bench binaries: a tiny command line, the shared-folder lookup and timing
//! statistics (median and spread, in milliseconds, as JSON).

#![allow(dead_code)] // each bench binary uses a different subset

use serde_json::{Value, json};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `--name value` from the command line.
pub fn opt(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// `--name N` as a number, else `default`.
pub fn opt_usize(name: &str, default: usize) -> usize {
    opt(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The shared test data folder (GOZCU_SHARED, else ../shared beside the checkout). Exits
/// when it lacks `needs`: with status 1 under CI (a bench must not pass on missing data),
/// else 0 with a note, like the tests.
pub fn shared(needs: &[&str]) -> PathBuf {
    let dir = std::env::var_os("GOZCU_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let missing: Vec<&&str> = needs.iter().filter(|n| !dir.join(n).exists()).collect();
    if !missing.is_empty() {
        eprintln!(
            "bench: {missing:?} not found under {} (set GOZCU_SHARED)",
            dir.display()
        );
        std::process::exit(if std::env::var_os("CI").is_some() {
            1
        } else {
            0
        });
    }
    dir
}

/// Times `f` `runs` times; see [`stats`]. The result is kept from the optimiser and dropped
/// inside the timed span (freeing is part of a frame's cost).
pub fn time<R>(runs: usize, mut f: impl FnMut() -> R) -> Value {
    time_with_setup(runs, || (), |()| f())
}

/// Times `f` on a fresh `setup()` value `runs` times (setup not timed); see [`stats`].
pub fn time_with_setup<S, R>(
    runs: usize,
    mut setup: impl FnMut() -> S,
    mut f: impl FnMut(S) -> R,
) -> Value {
    let ms: Vec<f64> = (0..runs)
        .map(|_| {
            let s = setup();
            let t = Instant::now();
            black_box(f(s));
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    stats(&ms)
}

/// Median, p10, p90, min, max and mean of `ms` (rounded to 0.001 ms), and the count.
pub fn stats(ms: &[f64]) -> Value {
    let mut v = ms.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return json!({"n": 0});
    }
    // Linear interpolation between closest ranks (numpy's default, Python's
    // statistics.quantiles(method="inclusive")), so Rust and Python figures compare.
    let pct = |p: f64| {
        let x = (v.len() - 1) as f64 * p;
        let (i, frac) = (x.floor() as usize, x - x.floor());
        v[i] + (v[(i + 1).min(v.len() - 1)] - v[i]) * frac
    };
    json!({
        "n": v.len(),
        "median": round3(pct(0.5)),
        "p10": round3(pct(0.1)),
        "p90": round3(pct(0.9)),
        "min": round3(v[0]),
        "max": round3(v[v.len() - 1]),
        "mean": round3(v.iter().sum::<f64>() / v.len() as f64),
    })
}

pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// `--runs N` (at least 5, the fewest a median and spread are reported over). A debug build
/// without `--runs` does one run: `cargo test --all-targets` (make unit) runs the bench
/// binaries that way, as a smoke test of a few seconds rather than a measurement.
pub fn runs(release_default: usize) -> usize {
    match opt("--runs").and_then(|v| v.parse::<usize>().ok()) {
        Some(n) => n.max(5),
        None if cfg!(debug_assertions) => 1,
        None => release_default,
    }
}

/// Number of CPUs this process may use.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}
