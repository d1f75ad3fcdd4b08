//! Helpers shared by the tests/events_*.rs files: locating ../shared, decoding JPEGs, and
//! simulated time.
#![allow(dead_code)]

use gozcu::events::EventTime;
use std::path::PathBuf;
use std::time::Duration;
use time::OffsetDateTime;
use time::macros::datetime;
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

/// The shared test-data folder: env GOZCU_SHARED, else <crate>/../shared. `None` (with a
/// printed note) when missing, unless env CI is set: then the test fails.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("GOZCU_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    if dir.join("testdata").is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "shared test data not found at {}; set GOZCU_SHARED or put shared/ beside the checkout",
            dir.display()
        );
    }
    eprintln!(
        "note: skipping, shared test data not found at {}",
        dir.display()
    );
    None
}

/// Wall clock origin of simulated time.
pub const T0: OffsetDateTime = datetime!(2024-05-01 12:00:00 UTC);

/// Simulated time `s` seconds after the start.
pub fn at(s: f64) -> EventTime {
    let d = Duration::from_secs_f64(s);
    EventTime::new(d, T0 + d)
}

/// Decodes a JPEG to (width, height, pixels) in `cs` (RGB or Luma).
pub fn decode_jpeg(bytes: &[u8], cs: ColorSpace) -> (u32, u32, Vec<u8>) {
    let opts = DecoderOptions::default().jpeg_set_out_colorspace(cs);
    let mut dec = JpegDecoder::new_with_options(ZCursor::new(bytes), opts);
    let px = dec.decode().expect("decodes");
    let (w, h) = dec.dimensions().expect("dimensions");
    (w as u32, h as u32, px)
}
