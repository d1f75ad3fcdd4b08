//! HTTP request heads: Host, Origin, token, upgrade and query checks (server::routes, security, query).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gozcu::fuzzing::http_request_head(data));
