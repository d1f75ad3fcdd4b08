//! Pixel conversion: any camera [`Frame`] to a full-size RGB image (detection input, placed
//! by letterbox.rs) and to a small luma image for motion, each done once per frame.
//!
//! Use [`ConvertedFrame`] in the per-camera worker: luma comes straight from the Y samples
//! for YUV formats (no colour conversion for motion-only frames); an MJPEG frame is decoded
//! once whether motion, detection or both need it.

mod codec;
mod yuv;

pub use codec::{
    Decoded, JpegWant, check_jpeg_framing, decode_jpeg, decode_jpeg_rgb, decode_png_rgb,
    encode_jpeg, jpeg_dimensions, split_jpegs,
};

use crate::camera::{Frame, PixelFormat};
use fast_image_resize as fr;

pub use super::{GrayImage, RgbImage};

/// Why a frame could not be converted. The worker counts these as corrupt frames and skips
/// them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("corrupt JPEG frame: {0}")]
    CorruptJpeg(String),
    #[error(
        "truncated JPEG frame: no end-of-image marker in {len} bytes (USB transfer cut short?)"
    )]
    TruncatedJpeg { len: usize },
    #[error("{format:?} frame {width}x{height}: buffer too small: need {need} bytes, got {got}")]
    ShortBuffer {
        format: PixelFormat,
        width: u32,
        height: u32,
        need: usize,
        got: usize,
    },
    #[error("invalid image size {width}x{height}")]
    BadSize { width: u32, height: u32 },
    #[error("PNG image: {0}")]
    Png(String),
    #[error("JPEG encoding: {0}")]
    Encode(String),
    #[error("resize: {0}")]
    Resize(String),
    #[error("unsupported conversion: {0}")]
    Unsupported(String),
}

/// Size of the motion image: `target_height` tall (never upscaled), width keeping the aspect.
pub fn small_size(width: u32, height: u32, target_height: u32) -> (u32, u32) {
    let h = target_height.clamp(1, height.max(1));
    let w = ((u64::from(width) * u64::from(h) + u64::from(height.max(1)) / 2)
        / u64::from(height.max(1))) as u32;
    (w.max(1), h)
}

/// Any frame to full-size RGB (one conversion; MJPEG decoded once).
pub fn frame_to_rgb(frame: &Frame) -> Result<RgbImage, ConvertError> {
    if frame.format == PixelFormat::Mjpeg {
        let bytes = frame.planes.first().map_or(&[][..], |p| p.data.as_slice());
        return decode_jpeg_rgb(bytes);
    }
    yuv::raw_to_rgb(frame)
}

/// A small luma image for motion, `target_height` tall. YUV formats read the Y samples
/// directly; MJPEG decodes luma only; RGB24 is downscaled then weighted.
pub fn luma_small(frame: &Frame, target_height: u32) -> Result<GrayImage, ConvertError> {
    match frame.format {
        PixelFormat::Mjpeg => {
            let bytes = frame.planes.first().map_or(&[][..], |p| p.data.as_slice());
            match decode_jpeg(bytes, JpegWant::Luma)? {
                Decoded::Gray(g) => gray_small(&g, target_height),
                Decoded::Rgb(rgb) => luma_small_from_rgb(&rgb, target_height),
            }
        }
        PixelFormat::Rgb24 => luma_small_from_rgb(&yuv::raw_to_rgb(frame)?, target_height),
        _ => {
            let (src, bpp) = yuv::luma_source(frame)?;
            let (w, h) = small_size(frame.width, frame.height, target_height);
            let kind = if bpp == 2 {
                fr::PixelType::U8x2
            } else {
                fr::PixelType::U8
            };
            let out = resize(&src, frame.width, frame.height, kind, w, h)?;
            let mut data: Vec<u8> = if bpp == 2 {
                out.chunks_exact(2).map(|p| p[0]).collect()
            } else {
                out
            };
            if frame.format != PixelFormat::Gray {
                // Camera YUV is limited range (16-235); expand so motion thresholds mean the
                // same for every format (JPEG and RGB luma are full range).
                for v in &mut data {
                    *v = (((i32::from(*v) - 16).clamp(0, 219) * 255 + 109) / 219) as u8;
                }
            }
            Ok(GrayImage {
                width: w,
                height: h,
                data,
            })
        }
    }
}

/// Small luma from an RGB image: downscale first, then weight (BT.601), so the per-pixel
/// work happens on the small image.
pub fn luma_small_from_rgb(img: &RgbImage, target_height: u32) -> Result<GrayImage, ConvertError> {
    let (w, h) = small_size(img.width, img.height, target_height);
    check_len(img.width, img.height, 3, img.data.len())?;
    let small = resize(&img.data, img.width, img.height, fr::PixelType::U8x3, w, h)?;
    let data = small
        .chunks_exact(3)
        .map(|p| {
            ((77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2]) + 128) >> 8) as u8
        })
        .collect();
    Ok(GrayImage {
        width: w,
        height: h,
        data,
    })
}

/// Resizes an RGB image (bilinear; e.g. for the detector input or a snapshot thumbnail).
pub fn resize_rgb(img: &RgbImage, width: u32, height: u32) -> Result<RgbImage, ConvertError> {
    check_len(img.width, img.height, 3, img.data.len())?;
    if width == 0 || height == 0 {
        return Err(ConvertError::BadSize { width, height });
    }
    let data = resize(
        &img.data,
        img.width,
        img.height,
        fr::PixelType::U8x3,
        width,
        height,
    )?;
    Ok(RgbImage {
        width,
        height,
        data,
    })
}

/// Grey to RGB by repeating the sample.
pub fn gray_to_rgb(g: &GrayImage) -> RgbImage {
    RgbImage {
        width: g.width,
        height: g.height,
        data: g.data.iter().flat_map(|&y| [y, y, y]).collect(),
    }
}

fn gray_small(g: &GrayImage, target_height: u32) -> Result<GrayImage, ConvertError> {
    check_len(g.width, g.height, 1, g.data.len())?;
    let (w, h) = small_size(g.width, g.height, target_height);
    let data = resize(&g.data, g.width, g.height, fr::PixelType::U8, w, h)?;
    Ok(GrayImage {
        width: w,
        height: h,
        data,
    })
}

fn check_len(width: u32, height: u32, bpp: usize, len: usize) -> Result<(), ConvertError> {
    if width == 0 || height == 0 {
        return Err(ConvertError::BadSize { width, height });
    }
    if len < width as usize * height as usize * bpp {
        return Err(ConvertError::Resize(format!(
            "{width}x{height} image has {len} bytes"
        )));
    }
    Ok(())
}

/// Area-averaging downscale (box filter) or bilinear upscale with fast_image_resize.
fn resize(
    src: &[u8],
    width: u32,
    height: u32,
    kind: fr::PixelType,
    out_w: u32,
    out_h: u32,
) -> Result<Vec<u8>, ConvertError> {
    let src = fr::images::ImageRef::new(width, height, src, kind)
        .map_err(|e| ConvertError::Resize(e.to_string()))?;
    let mut dst = fr::images::Image::new(out_w, out_h, kind);
    let filter = if out_w < width && out_h < height {
        fr::FilterType::Box
    } else {
        fr::FilterType::Bilinear
    };
    // use_alpha(false): the second byte of a U8x2 (YUYV) pixel is chroma, not alpha.
    let options = fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(filter))
        .use_alpha(false);
    fr::Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| ConvertError::Resize(e.to_string()))?;
    Ok(dst.into_vec())
}

/// One frame on its way through the worker, converted lazily and at most once per product:
/// `luma_small()` for motion on every frame, `rgb()` only when detection runs.
///
/// YUV formats: luma straight from the Y samples, RGB converted only if asked for. MJPEG: by
/// default the first request decodes to RGB and the luma is derived from it, so a frame that
/// needs both is decoded once. When the caller knows RGB will not be wanted for this frame
/// (no detector, or detection not due), [`luma_only`](Self::luma_only) decodes luma alone,
/// about a quarter cheaper; a later `rgb()` then costs a second decode.
#[derive(Debug)]
pub struct ConvertedFrame {
    frame: Frame,
    luma_only: bool,
    rgb: Option<RgbImage>,
    luma: Option<GrayImage>,
    jpeg_decodes: u32,
}

impl ConvertedFrame {
    pub fn new(frame: Frame) -> Self {
        ConvertedFrame {
            frame,
            luma_only: false,
            rgb: None,
            luma: None,
            jpeg_decodes: 0,
        }
    }

    /// Hint that `rgb()` will not be called for this frame: MJPEG decodes luma only.
    pub fn luma_only(mut self, yes: bool) -> Self {
        self.luma_only = yes;
        self
    }

    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    pub fn into_frame(self) -> Frame {
        self.frame
    }

    /// How many times the JPEG was decoded so far (for tests and metrics).
    pub fn jpeg_decodes(&self) -> u32 {
        self.jpeg_decodes
    }

    /// The motion image, `target_height` tall; computed on the first call, cached after
    /// (later calls return the cached image whatever `target_height` they pass).
    pub fn luma_small(&mut self, target_height: u32) -> Result<&GrayImage, ConvertError> {
        if self.luma.is_none() {
            let luma = self.compute_luma(target_height)?;
            self.luma = Some(luma);
        }
        Ok(self.luma.get_or_insert_with(GrayImage::default))
    }

    /// The full-size RGB image; computed on the first call, cached after.
    pub fn rgb(&mut self) -> Result<&RgbImage, ConvertError> {
        if self.rgb.is_none() {
            let rgb = self.compute_rgb()?;
            self.rgb = Some(rgb);
        }
        Ok(self.rgb.get_or_insert_with(RgbImage::default))
    }

    /// Takes the RGB image out (converting if needed), e.g. to hand it to the detector.
    pub fn take_rgb(&mut self) -> Result<RgbImage, ConvertError> {
        self.rgb()?;
        Ok(self.rgb.take().unwrap_or_default())
    }

    fn compute_luma(&mut self, target_height: u32) -> Result<GrayImage, ConvertError> {
        if let Some(rgb) = &self.rgb {
            return luma_small_from_rgb(rgb, target_height);
        }
        if self.frame.format != PixelFormat::Mjpeg {
            return luma_small(&self.frame, target_height);
        }
        if self.luma_only {
            self.jpeg_decodes += 1;
            return luma_small(&self.frame, target_height);
        }
        let rgb = self.compute_rgb()?;
        let luma = luma_small_from_rgb(&rgb, target_height);
        self.rgb = Some(rgb);
        luma
    }

    fn compute_rgb(&mut self) -> Result<RgbImage, ConvertError> {
        if self.frame.format == PixelFormat::Mjpeg {
            self.jpeg_decodes += 1;
        }
        frame_to_rgb(&self.frame)
    }
}
