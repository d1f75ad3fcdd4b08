//! Event delivery benchmarks (issue 9; results in docs/benchmarks.md):
//!
//! - `fanout`: WebSocket fan-out. A client swarm (this process) connects N clients to a
//!   server process and measures per-message delivery latency (the publish time travels in
//!   the message), messages/s and the server's RSS per idle client. Two servers do the same
//!   job with the same swarm, side by side: gozcu's real server (`serve` mode of this binary:
//!   `server::serve` + `Hub`, started as the daemon starts them) and Node's `ws` package
//!   (benches/fanout/ws_server.mjs). Both speak the tiny stdin protocol in `server.rs`.
//! - `e2e`: the real daemon with a replay camera and the CPU detector; a WebSocket client
//!   measures frame capture -> event received, minus the detector's inference time.
//!
//! Run through `make bench-fanout` (mk/fanout.mk), or by hand:
//! `cargo bench --bench fanout -- fanout --clients 100,1000 --repeats 5`.
//! Without a mode (as `cargo test --all-targets` runs benches) it does nothing.

mod e2e;
mod server;
mod stats;
mod swarm;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(about = "gozcu event delivery benchmarks")]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true, global = true)]
    bench: bool,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// The gozcu server under test (spawned by `fanout`; reads commands on stdin).
    Serve,
    /// WebSocket fan-out: swarm against gozcu and the reference server.
    Fanout(swarm::FanoutArgs),
    /// Replay camera -> event on a WebSocket client, through the real daemon.
    E2e(e2e::E2eArgs),
}

fn main() {
    // `cargo test --all-targets` runs bench binaries too, possibly with test-harness flags:
    // only a named mode does anything.
    let modes = ["serve", "fanout", "e2e", "help", "--help", "-h"];
    if !std::env::args()
        .skip(1)
        .any(|a| modes.contains(&a.as_str()))
    {
        eprintln!("fanout bench: no mode given (fanout | e2e | serve, see --help); nothing to do");
        std::process::exit(0);
    }
    let cli = Cli::parse();
    let code = match cli.mode {
        None => 0,
        Some(Mode::Serve) => server::main(),
        Some(Mode::Fanout(args)) => swarm::main(args),
        Some(Mode::E2e(args)) => e2e::main(args),
    };
    std::process::exit(code);
}

/// Raises the soft open-file limit to the hard one (1000 sockets exceed the usual 1024);
/// children inherit it. Returns the new soft limit.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// Wall clock in microseconds since the Unix epoch: the clock both ends of a measurement
/// share (same machine).
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The 1-, 5- and 15-minute load averages (the machine is shared; results depend on it).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_string())
}

/// The shared test data folder: GOZCU_SHARED, else ../shared beside the crate.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("GOZCU_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}
