//! Pixel work: format conversion and letterboxing, motion detection, object tracking.

pub mod convert;
pub mod letterbox;
pub mod motion;
pub mod snapshot;
pub mod tracker;

/// Packed 8-bit RGB image, rows without padding.
#[derive(Debug, Clone, PartialEq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// 8-bit luma image, rows without padding.
#[derive(Debug, Clone, PartialEq)]
pub struct GrayImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}
