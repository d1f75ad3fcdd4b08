//! Letterboxing: turns an RGB image into the input tensor a detector declares in its
//! `InputSpec`, and loads JPEG/PNG files for `gozcu detect`.
//!
//! The geometry matches the reference pipeline (`shared/reference/ref_detect.py`): scale by
//! r = min(W/w, H/h), resize to (round(w*r), round(h*r)) with Pillow's `BILINEAR` convolution
//! (`resample.rs`, bit-exact), and place the result at the TOP-LEFT of a canvas filled with
//! the pad value. Top-left placement keeps the inverse mapping a pure division by r.

mod resample;

pub use resample::resize_rgb;

use crate::detect::{ChannelOrder, InputSpec, InputType, Layout, Letterbox, PreparedInput};
use crate::vision::RgbImage;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum PrepError {
    #[error("image is empty ({width}x{height})")]
    EmptyImage { width: u32, height: u32 },
    #[error("image buffer holds {actual} bytes but {width}x{height} RGB needs {expected}")]
    BadBuffer {
        width: u32,
        height: u32,
        expected: usize,
        actual: usize,
    },
    #[error("input size {width}x{height} in the detector's input spec is invalid")]
    BadSpec { width: u32, height: u32 },
    #[error("cannot read image {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("cannot decode image {path}: {reason}; only JPEG and PNG files are supported")]
    Decode { path: String, reason: String },
}

/// Where the resized image goes inside the input canvas, in input pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    pub letterbox: Letterbox,
    /// Size of the resized image (top-left at 0,0).
    pub resized_width: u32,
    pub resized_height: u32,
}

/// Pure geometry of a top-left letterbox of a `src_w` x `src_h` image into `dst_w` x `dst_h`.
pub fn placement(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> Placement {
    // f64 and ties-to-even rounding, as the Python reference (`int(round(w * r))`) does.
    let r = (f64::from(dst_w) / f64::from(src_w)).min(f64::from(dst_h) / f64::from(src_h));
    let rw = (f64::from(src_w) * r)
        .round_ties_even()
        .clamp(1.0, f64::from(dst_w)) as u32;
    let rh = (f64::from(src_h) * r)
        .round_ties_even()
        .clamp(1.0, f64::from(dst_h)) as u32;
    Placement {
        letterbox: Letterbox {
            scale: r as f32,
            pad_x: 0.0,
            pad_y: 0.0,
            src_width: src_w,
            src_height: src_h,
        },
        resized_width: rw,
        resized_height: rh,
    }
}

/// Letterboxer (a struct so per-frame buffers can be kept here later without changing callers).
#[derive(Debug, Default)]
pub struct Letterboxer {}

impl Letterboxer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Resizes `img` into a canvas of `spec`'s size and returns the tensor in the spec's
    /// channel order, layout and element type, plus the mapping back to source pixels.
    pub fn prepare(
        &mut self,
        img: &RgbImage,
        spec: &InputSpec,
    ) -> Result<(PreparedInput, Letterbox), PrepError> {
        let canvas = self.letterbox_rgb(img, spec.width, spec.height, spec.pad_value)?;
        Ok((to_tensor(&canvas.0, spec), canvas.1))
    }

    /// The letterboxed RGB canvas (`spec.width x spec.height`, packed RGB) and its mapping.
    pub fn letterbox_rgb(
        &mut self,
        img: &RgbImage,
        width: u32,
        height: u32,
        pad_value: u8,
    ) -> Result<(Vec<u8>, Letterbox), PrepError> {
        check_image(img)?;
        if width == 0 || height == 0 {
            return Err(PrepError::BadSpec { width, height });
        }
        let p = placement(img.width, img.height, width, height);
        let (rw, rh) = (p.resized_width, p.resized_height);
        let src = &img.data[..rgb_len(img.width, img.height)];
        let resized: Vec<u8> = if (rw, rh) == (img.width, img.height) {
            src.to_vec()
        } else {
            resize_rgb(
                src,
                img.width as usize,
                img.height as usize,
                rw as usize,
                rh as usize,
            )
        };
        let mut canvas = vec![pad_value; rgb_len(width, height)];
        let row = rw as usize * 3;
        let stride = width as usize * 3;
        for (y, src_row) in resized.chunks_exact(row).enumerate() {
            canvas[y * stride..y * stride + row].copy_from_slice(src_row);
        }
        Ok((canvas, p.letterbox))
    }
}

/// One-shot convenience around [`Letterboxer::prepare`].
pub fn letterbox(
    img: &RgbImage,
    spec: &InputSpec,
) -> Result<(PreparedInput, Letterbox), PrepError> {
    Letterboxer::new().prepare(img, spec)
}

fn rgb_len(w: u32, h: u32) -> usize {
    w as usize * h as usize * 3
}

fn check_image(img: &RgbImage) -> Result<(), PrepError> {
    if img.width == 0 || img.height == 0 {
        return Err(PrepError::EmptyImage {
            width: img.width,
            height: img.height,
        });
    }
    let expected = rgb_len(img.width, img.height);
    if img.data.len() < expected {
        return Err(PrepError::BadBuffer {
            width: img.width,
            height: img.height,
            expected,
            actual: img.data.len(),
        });
    }
    Ok(())
}

/// Packed RGB canvas -> tensor per spec (channel order, layout, dtype). Values stay 0..255:
/// models that want normalised input carry the normalisation in their graph.
pub fn to_tensor(canvas: &[u8], spec: &InputSpec) -> PreparedInput {
    let plane = spec.width as usize * spec.height as usize;
    // Source channel index for each output channel.
    let order: [usize; 3] = match spec.channels {
        ChannelOrder::Rgb => [0, 1, 2],
        ChannelOrder::Bgr => [2, 1, 0],
    };
    match (spec.layout, spec.dtype) {
        (Layout::Nhwc, InputType::U8) => {
            if spec.channels == ChannelOrder::Rgb {
                PreparedInput::U8(canvas.to_vec())
            } else {
                PreparedInput::U8(swap_rb(canvas))
            }
        }
        (Layout::Nhwc, InputType::F32) => {
            let src = if spec.channels == ChannelOrder::Rgb {
                std::borrow::Cow::Borrowed(canvas)
            } else {
                std::borrow::Cow::Owned(swap_rb(canvas))
            };
            PreparedInput::F32(src.iter().map(|&v| f32::from(v)).collect())
        }
        (Layout::Nchw, InputType::U8) => {
            let mut out = vec![0u8; plane * 3];
            for (c, &sc) in order.iter().enumerate() {
                let dst = &mut out[c * plane..(c + 1) * plane];
                for (d, px) in dst.iter_mut().zip(canvas.chunks_exact(3)) {
                    *d = px[sc];
                }
            }
            PreparedInput::U8(out)
        }
        (Layout::Nchw, InputType::F32) => {
            let mut out = vec![0f32; plane * 3];
            for (c, &sc) in order.iter().enumerate() {
                let dst = &mut out[c * plane..(c + 1) * plane];
                for (d, px) in dst.iter_mut().zip(canvas.chunks_exact(3)) {
                    *d = f32::from(px[sc]);
                }
            }
            PreparedInput::F32(out)
        }
    }
}

fn swap_rb(canvas: &[u8]) -> Vec<u8> {
    let mut out = canvas.to_vec();
    for px in out.chunks_exact_mut(3) {
        px.swap(0, 2);
    }
    out
}

/// Loads a JPEG or PNG file as RGB (grey and alpha images are converted; EXIF orientation is
/// ignored, as the reference pipeline ignores it).
pub fn load_image(path: &Path) -> Result<RgbImage, PrepError> {
    let bytes = std::fs::read(path).map_err(|e| PrepError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    decode_image(&bytes).map_err(|reason| PrepError::Decode {
        path: path.display().to_string(),
        reason,
    })
}

/// Decodes JPEG or PNG bytes (chosen by signature) to RGB.
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage, String> {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        decode_jpeg(bytes)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_png(bytes)
    } else {
        Err("not a JPEG or PNG file (unknown signature)".to_string())
    }
}

/// Decodes a JPEG (e.g. one MJPEG frame) to RGB.
pub fn decode_jpeg(bytes: &[u8]) -> Result<RgbImage, String> {
    use zune_jpeg::JpegDecoder;
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut dec = JpegDecoder::new_with_options(ZCursor::new(bytes), opts);
    let data = dec.decode().map_err(|e| format!("JPEG: {e:?}"))?;
    let info = dec.info().ok_or("JPEG: no image header")?;
    let img = RgbImage {
        width: u32::from(info.width),
        height: u32::from(info.height),
        data,
    };
    check_image(&img).map_err(|e| format!("JPEG: {e}"))?;
    Ok(img)
}

fn decode_png(bytes: &[u8]) -> Result<RgbImage, String> {
    use zune_png::PngDecoder;
    use zune_png::zune_core::bytestream::ZCursor;
    use zune_png::zune_core::colorspace::ColorSpace;
    use zune_png::zune_core::options::DecoderOptions;
    use zune_png::zune_core::result::DecodingResult;
    let opts = DecoderOptions::default().png_set_strip_to_8bit(true);
    let mut dec = PngDecoder::new_with_options(ZCursor::new(bytes), opts);
    let pixels = match dec.decode().map_err(|e| format!("PNG: {e:?}"))? {
        DecodingResult::U8(v) => v,
        _ => return Err("PNG: unsupported sample format".to_string()),
    };
    let (w, h) = dec.dimensions().ok_or("PNG: no image header")?;
    let cs = dec.colorspace().ok_or("PNG: unknown colour type")?;
    let per_px = match cs {
        ColorSpace::Luma => 1,
        ColorSpace::LumaA => 2,
        ColorSpace::RGB => 3,
        ColorSpace::RGBA => 4,
        other => return Err(format!("PNG: unsupported colour type {other:?}")),
    };
    let data: Vec<u8> = match per_px {
        3 => pixels,
        4 => pixels
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        _ => pixels
            .chunks_exact(per_px)
            .flat_map(|p| [p[0], p[0], p[0]])
            .collect(),
    };
    let (width, height) = (
        u32::try_from(w).map_err(|_| "PNG: too wide")?,
        u32::try_from(h).map_err(|_| "PNG: too tall")?,
    );
    let img = RgbImage {
        width,
        height,
        data,
    };
    check_image(&img).map_err(|e| format!("PNG: {e}"))?;
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(w: u32, h: u32, ch: ChannelOrder, layout: Layout, dtype: InputType) -> InputSpec {
        InputSpec {
            width: w,
            height: h,
            channels: ch,
            layout,
            dtype,
            pad_value: 114,
        }
    }

    #[test]
    fn placement_matches_reference_rounding() {
        // bus.jpg 810x1080 -> r = 416/1080, 312x416
        let p = placement(810, 1080, 416, 416);
        assert_eq!((p.resized_width, p.resized_height), (312, 416));
        assert!((p.letterbox.scale - 416.0 / 1080.0).abs() < 1e-7);
        // zidane.jpg 1280x720 -> r = 0.325, 416x234
        let p = placement(1280, 720, 416, 416);
        assert_eq!((p.resized_width, p.resized_height), (416, 234));
        // Ties round to even like Python's round(): 5 * 0.5 = 2.5 -> 2.
        let p = placement(5, 10, 5, 5);
        assert_eq!((p.resized_width, p.resized_height), (2, 5));
        let p = placement(7, 14, 7, 7);
        assert_eq!((p.resized_width, p.resized_height), (4, 7)); // 3.5 -> 4
    }

    #[test]
    fn canvas_is_top_left_with_padding() {
        // A 4x2 red image into 4x4: the top two rows are red, the rest pad.
        let img = RgbImage {
            width: 4,
            height: 2,
            data: [200u8, 10, 20].repeat(8),
        };
        let (canvas, lb) = Letterboxer::new().letterbox_rgb(&img, 4, 4, 114).unwrap();
        assert_eq!(lb.scale, 1.0);
        assert_eq!(&canvas[..24], img.data.as_slice());
        assert!(canvas[24..].iter().all(|&v| v == 114));
    }

    #[test]
    fn bilinear_downscale_averages_like_pillow() {
        // 2x1 (black, white) -> 1x1: Pillow's bilinear convolution gives the mean (127.5 ->
        // 128 after its rounding).
        let img = RgbImage {
            width: 2,
            height: 2,
            data: vec![0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255],
        };
        let (canvas, _) = Letterboxer::new().letterbox_rgb(&img, 1, 1, 114).unwrap();
        assert_eq!(canvas, vec![128, 128, 128]);
    }

    #[test]
    fn tensor_layouts_and_channel_orders() {
        let canvas = vec![1u8, 2, 3, 4, 5, 6]; // 2x1 pixels
        let s = spec(2, 1, ChannelOrder::Bgr, Layout::Nchw, InputType::F32);
        assert_eq!(
            to_tensor(&canvas, &s),
            PreparedInput::F32(vec![3.0, 6.0, 2.0, 5.0, 1.0, 4.0])
        );
        let s = spec(2, 1, ChannelOrder::Rgb, Layout::Nchw, InputType::U8);
        assert_eq!(
            to_tensor(&canvas, &s),
            PreparedInput::U8(vec![1, 4, 2, 5, 3, 6])
        );
        let s = spec(2, 1, ChannelOrder::Bgr, Layout::Nhwc, InputType::U8);
        assert_eq!(
            to_tensor(&canvas, &s),
            PreparedInput::U8(vec![3, 2, 1, 6, 5, 4])
        );
        let s = spec(2, 1, ChannelOrder::Rgb, Layout::Nhwc, InputType::F32);
        assert_eq!(
            to_tensor(&canvas, &s),
            PreparedInput::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
    }

    #[test]
    fn prepare_reports_bad_input() {
        let s = spec(8, 8, ChannelOrder::Rgb, Layout::Nhwc, InputType::U8);
        let empty = RgbImage::default();
        let e = letterbox(&empty, &s).unwrap_err();
        assert_eq!(e.to_string(), "image is empty (0x0)");
        let short = RgbImage {
            width: 2,
            height: 2,
            data: vec![0; 5],
        };
        let e = letterbox(&short, &s).unwrap_err();
        assert_eq!(
            e.to_string(),
            "image buffer holds 5 bytes but 2x2 RGB needs 12"
        );
    }

    #[test]
    fn decode_rejects_unknown_bytes() {
        assert_eq!(
            decode_image(b"hello").unwrap_err(),
            "not a JPEG or PNG file (unknown signature)"
        );
        assert!(decode_image(&[0xFF, 0xD8, 0xFF, 0x00]).is_err());
    }
}
