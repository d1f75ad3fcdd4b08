//! WebSocket frames a client sends after the handshake (server::ws, server::protocol).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gozcu::fuzzing::ws_client_frames(data));
