//! Daemon wiring and lifecycle (to be written).

use std::path::Path;

/// `gozcu run`: returns the process exit code.
pub fn run_main(_config: &Path) -> i32 {
    eprintln!("gozcu run: not built yet");
    1
}
