//! HTTP + WebSocket server (to be written).

pub mod protocol;
