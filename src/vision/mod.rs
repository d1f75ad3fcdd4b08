//! Pixel work: format conversion and letterboxing, motion detection, object tracking.

pub mod convert;
pub mod letterbox;
pub mod motion;
pub mod tracker;

/// An 8-bit RGB image, rows packed (`data.len() == width * height * 3`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// An 8-bit single-channel (luma) image, rows packed (`data.len() == width * height`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrayImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}
