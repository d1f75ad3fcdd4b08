//! (to be written)

/// `gozcu devices`: returns the process exit code.
pub fn devices_main() -> i32 {
    eprintln!("gozcu devices: not built yet");
    1
}
