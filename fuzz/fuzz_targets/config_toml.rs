//! Config files and GOZCU__* overrides through loading and validation (config).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gozcu::fuzzing::config_toml(data));
