//! gozcu: camera daemon for embedded Linux boards.
//!
//! The data path reads top to bottom: `camera` (capture) -> `vision` (conversion, motion,
//! tracking) -> `detect` (inference + decoding) -> `events` (lifecycle) -> `store` (SQLite,
//! snapshots) -> `server` (HTTP, WebSocket, dashboard). `daemon` wires them together.

pub mod camera;
pub mod config;
pub mod daemon;
pub mod detect;
pub mod events;
pub mod fuzzing;
pub mod logging;
pub mod server;
pub mod store;
pub mod systemd;
pub mod vision;
