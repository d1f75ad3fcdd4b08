//! Replay files: MJPEG splitting and PNG frames (camera::replay, vision::convert).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gozcu::fuzzing::replay_file(data));
