//! A camera's MJPEG frame through decode, motion image, letterbox and snapshot (vision).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gozcu::fuzzing::camera_jpeg(data));
