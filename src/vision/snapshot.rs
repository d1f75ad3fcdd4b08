//! Event snapshot encoding: an RGB frame to a JPEG at most `max_width` wide (aspect kept).
//! Pure (bytes in, bytes out); the store writes the file. Called only when the event
//! lifecycle says a frame is an event's new best frame, because encoding costs milliseconds.

use crate::vision::RgbImage;
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use jpeg_encoder::{ColorType, Encoder};

/// Default snapshot width limit (dashboards show thumbnails; 640 keeps files ~30-60 KiB).
pub const SNAPSHOT_MAX_WIDTH: u32 = 640;
/// Default JPEG quality.
pub const SNAPSHOT_QUALITY: u8 = 80;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot frame has zero size ({width}x{height})")]
    Empty { width: u32, height: u32 },
    #[error(
        "snapshot frame {width}x{height} has {len} bytes but RGB needs {expected}; pass packed RGB without row padding"
    )]
    BadBuffer {
        width: u32,
        height: u32,
        len: usize,
        expected: usize,
    },
    #[error("snapshot of {width}x{height} is too large for JPEG (65535 px per side at most)")]
    TooLarge { width: u32, height: u32 },
    #[error("snapshot resize failed: {0}")]
    Resize(String),
    #[error("snapshot JPEG encoding failed: {0}")]
    Encode(String),
}

/// Encodes `img` as JPEG, downscaled to `max_width` when wider, at `quality` (1..=100).
pub fn encode_snapshot(
    img: &RgbImage,
    max_width: u32,
    quality: u8,
) -> Result<Vec<u8>, SnapshotError> {
    let (w, h) = (img.width, img.height);
    if w == 0 || h == 0 {
        return Err(SnapshotError::Empty {
            width: w,
            height: h,
        });
    }
    let expected = w as usize * h as usize * 3;
    if img.data.len() < expected {
        return Err(SnapshotError::BadBuffer {
            width: w,
            height: h,
            len: img.data.len(),
            expected,
        });
    }
    let (ow, oh) = output_size(w, h, max_width.max(1));
    if ow > u32::from(u16::MAX) || oh > u32::from(u16::MAX) {
        return Err(SnapshotError::TooLarge {
            width: ow,
            height: oh,
        });
    }
    let quality = quality.clamp(1, 100);
    let mut out = Vec::with_capacity(ow as usize * oh as usize / 4);
    let encoder = Encoder::new(&mut out, quality);
    if (ow, oh) == (w, h) {
        encoder
            .encode(&img.data[..expected], ow as u16, oh as u16, ColorType::Rgb)
            .map_err(|e| SnapshotError::Encode(e.to_string()))?;
    } else {
        let src = ImageRef::new(w, h, &img.data[..expected], PixelType::U8x3)
            .map_err(|e| SnapshotError::Resize(e.to_string()))?;
        let mut dst = Image::new(ow, oh, PixelType::U8x3);
        let opts = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
        Resizer::new()
            .resize(&src, &mut dst, &opts)
            .map_err(|e| SnapshotError::Resize(e.to_string()))?;
        encoder
            .encode(dst.buffer(), ow as u16, oh as u16, ColorType::Rgb)
            .map_err(|e| SnapshotError::Encode(e.to_string()))?;
    }
    Ok(out)
}

/// Output size: unchanged when `w <= max_width`, else `max_width` wide with the height
/// scaled to keep the aspect ratio (at least 1 px).
pub fn output_size(w: u32, h: u32, max_width: u32) -> (u32, u32) {
    if w <= max_width {
        return (w, h);
    }
    let oh = (u64::from(h) * u64::from(max_width) + u64::from(w) / 2) / u64::from(w);
    (max_width, (oh as u32).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_size_keeps_aspect() {
        assert_eq!(output_size(1280, 720, 640), (640, 360));
        assert_eq!(output_size(768, 576, 640), (640, 480));
        assert_eq!(output_size(640, 480, 640), (640, 480));
        assert_eq!(output_size(320, 240, 640), (320, 240));
        assert_eq!(output_size(5000, 2, 640), (640, 1));
    }

    #[test]
    fn bad_input_messages() {
        let img = RgbImage {
            width: 4,
            height: 4,
            data: vec![0; 10],
        };
        assert_eq!(
            encode_snapshot(&img, 640, 80).unwrap_err().to_string(),
            "snapshot frame 4x4 has 10 bytes but RGB needs 48; pass packed RGB without row padding"
        );
        let img = RgbImage {
            width: 0,
            height: 4,
            data: vec![],
        };
        assert_eq!(
            encode_snapshot(&img, 640, 80).unwrap_err().to_string(),
            "snapshot frame has zero size (0x4)"
        );
    }
}
