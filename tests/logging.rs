//! Logging setup in a process of its own (the global subscriber can be set once per
//! process): init, live level change, second init refused.

use gozcu::config::LogLevel;
use gozcu::logging::{LoggingError, init};
use tracing::Level;

#[test]
fn init_sets_level_reload_changes_it_and_second_init_fails() {
    // SAFETY: this test binary has this single test, so no other thread reads the
    // environment while it changes.
    unsafe {
        std::env::remove_var("RUST_LOG");
        std::env::remove_var("JOURNAL_STREAM");
    }
    let handle = init(LogLevel::Warn).expect("first init");
    assert!(!handle.rust_log_overrides());
    assert!(!handle.to_journald());
    assert!(tracing::enabled!(target: "gozcu::daemon", Level::WARN));
    assert!(!tracing::enabled!(target: "gozcu::daemon", Level::INFO));

    handle.set_level(LogLevel::Debug).unwrap();
    assert!(tracing::enabled!(target: "gozcu::daemon", Level::DEBUG));
    assert!(!tracing::enabled!(target: "gozcu::daemon", Level::TRACE));
    // Dependencies stay at warn.
    assert!(!tracing::enabled!(target: "hyper::proto", Level::INFO));

    assert!(matches!(
        init(LogLevel::Info),
        Err(LoggingError::AlreadyInitialized)
    ));
}
