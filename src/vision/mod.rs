//! Pixel work: format conversion and letterboxing, motion detection, object tracking.

pub mod convert;
pub mod letterbox;
pub mod motion;
pub mod snapshot;
pub mod tracker;

/// Packed 8-bit RGB, rows `width * 3` bytes, no padding.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl RgbImage {
    /// A black image.
    pub fn new(width: u32, height: u32) -> Self {
        RgbImage {
            width,
            height,
            data: vec![0; width as usize * height as usize * 3],
        }
    }

    /// The pixel at (x, y); black outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        match self.data.get(i..i + 3) {
            Some(p) if x < self.width => [p[0], p[1], p[2]],
            _ => [0; 3],
        }
    }
}

/// 8-bit luma, rows `width` bytes, no padding.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrayImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}
