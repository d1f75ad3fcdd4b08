//! Figures: latency percentiles, medians and spreads over repeats, the server's RSS, and the
//! Markdown table `make bench-fanout` prints for docs/benchmarks.md.

use serde_json::{Value, json};

/// Latency percentiles of one phase, in milliseconds.
pub struct Summary {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    /// From latencies in microseconds (nearest-rank percentiles).
    pub fn of(latencies_us: &[u32]) -> Summary {
        let mut v = latencies_us.to_vec();
        v.sort_unstable();
        let pick = |q: f64| -> f64 {
            if v.is_empty() {
                return f64::NAN;
            }
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            f64::from(v[rank - 1]) / 1000.0
        };
        Summary {
            count: v.len(),
            p50: pick(0.50),
            p99: pick(0.99),
            max: pick(1.0),
        }
    }

    pub fn to_json(&self, msgs_per_s: f64, lost: u64) -> Value {
        json!({
            "deliveries": self.count,
            "p50_ms": round(self.p50, 3),
            "p99_ms": round(self.p99, 3),
            "max_ms": round(self.max, 3),
            "msgs_per_s": msgs_per_s.round(),
            "lost": lost,
        })
    }
}

pub fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

/// Median (mean of the middle two for an even count); NaN when empty.
pub fn median(v: &[f64]) -> f64 {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// "median (min-max)" of the values.
pub fn spread(v: &[f64], places: i32) -> String {
    let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if finite.is_empty() {
        return "-".to_string();
    }
    let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let p = places.max(0) as usize;
    format!("{:.p$} ({:.p$}-{:.p$})", median(&finite), min, max, p = p)
}

/// Resident set size of a process (VmRSS), in KiB; 0 when it cannot be read.
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

/// CPU time (user + system) a process has used so far, in milliseconds; 0 when unknown.
pub fn cpu_ms(pid: u32) -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // The command name may hold spaces; the fields after its ')' start at field 3.
            let rest = &s[s.rfind(')')? + 1..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) * 1000.0 / ticks)
        })
        .unwrap_or(0.0)
}

/// One row per (clients, server): median and (min-max) over the repeats.
pub fn markdown_table(cases: &[Value], clients: &[usize], servers: &[String]) -> String {
    let mut out = String::from(
        "| clients | server | KiB per idle client | 10/s p50 ms | 10/s p99 ms | 10/s max ms \
         | 10/s server CPU µs/msg | burst: p50 ms | p99 ms | max ms | msgs/s \
         | burst server CPU µs/msg | lost | closed |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for &n in clients {
        for server in servers {
            let rows: Vec<&Value> = cases
                .iter()
                .filter(|c| c["clients"] == json!(n) && c["server"] == json!(server))
                .collect();
            if rows.is_empty() {
                continue;
            }
            let col = |path: &[&str]| -> Vec<f64> {
                rows.iter()
                    .filter_map(|r| {
                        path.iter()
                            .try_fold(*r, |v, k| v.get(k))
                            .and_then(Value::as_f64)
                    })
                    .collect()
            };
            let sum = |path: &[&str]| col(path).iter().sum::<f64>();
            out.push_str(&format!(
                "| {n} | {server} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                spread(&col(&["kib_per_idle_client"]), 1),
                spread(&col(&["steady", "p50_ms"]), 2),
                spread(&col(&["steady", "p99_ms"]), 2),
                spread(&col(&["steady", "max_ms"]), 1),
                spread(&col(&["steady", "server_cpu_us_per_msg"]), 1),
                spread(&col(&["burst", "p50_ms"]), 1),
                spread(&col(&["burst", "p99_ms"]), 1),
                spread(&col(&["burst", "max_ms"]), 1),
                spread(&col(&["burst", "msgs_per_s"]), 0),
                spread(&col(&["burst", "server_cpu_us_per_msg"]), 2),
                sum(&["steady", "lost"]) + sum(&["burst", "lost"]),
                sum(&["closed_by_server"]),
            ));
        }
    }
    out
}
