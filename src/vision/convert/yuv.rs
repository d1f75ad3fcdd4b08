//! Raw camera layouts (YUYV, NV12, NV16, RGB24, GREY): plane geometry checks, conversion to
//! RGB with yuvutils-rs, and direct access to the luma samples for motion.
//!
//! V4L2 raw formats from cameras are BT.601 limited range (what UVC and vivid's webcam input
//! produce; Rockchip ISPs default to it as well).

use super::{ConvertError, RgbImage};
use crate::camera::{Frame, PixelFormat};
use std::borrow::Cow;
use yuvutils_rs::{
    YuvBiPlanarImage, YuvConversionMode, YuvPackedImage, YuvRange, YuvStandardMatrix,
};

/// Rows of `row_bytes` bytes, `stride` apart, as one tight buffer (borrowed when already
/// tight). Errors when the buffer is too short.
fn tight<'a>(
    frame: &Frame,
    data: &'a [u8],
    stride: usize,
    row_bytes: usize,
    rows: usize,
) -> Result<Cow<'a, [u8]>, ConvertError> {
    let stride = if stride == 0 { row_bytes } else { stride };
    let need = if rows == 0 {
        0
    } else {
        stride * (rows - 1) + row_bytes
    };
    if stride < row_bytes || data.len() < need {
        return Err(ConvertError::ShortBuffer {
            format: frame.format,
            width: frame.width,
            height: frame.height,
            need: stride.max(row_bytes) * rows,
            got: data.len(),
        });
    }
    if stride == row_bytes {
        return Ok(Cow::Borrowed(&data[..need]));
    }
    let mut out = Vec::with_capacity(row_bytes * rows);
    for r in 0..rows {
        out.extend_from_slice(&data[r * stride..r * stride + row_bytes]);
    }
    Ok(Cow::Owned(out))
}

fn check_size(frame: &Frame) -> Result<(usize, usize), ConvertError> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    if w == 0 || h == 0 || w > 16384 || h > 16384 {
        return Err(ConvertError::BadSize {
            width: frame.width,
            height: frame.height,
        });
    }
    Ok((w, h))
}

fn no_planes(frame: &Frame) -> ConvertError {
    ConvertError::ShortBuffer {
        format: frame.format,
        width: frame.width,
        height: frame.height,
        need: 1,
        got: 0,
    }
}

fn first_plane(frame: &Frame) -> Result<(&[u8], usize), ConvertError> {
    frame
        .planes
        .first()
        .map(|p| (p.data.as_slice(), p.stride))
        .ok_or_else(|| no_planes(frame))
}

/// The Y plane (NV12/NV16/GREY) or the packed Y/UV pairs (YUYV, 2 bytes per pixel) as a
/// tight buffer, plus its bytes per pixel.
pub(super) fn luma_source(frame: &Frame) -> Result<(Cow<'_, [u8]>, usize), ConvertError> {
    let (w, h) = check_size(frame)?;
    let (data, stride) = first_plane(frame)?;
    match frame.format {
        PixelFormat::Yuyv => Ok((tight(frame, data, stride, w * 2, h)?, 2)),
        PixelFormat::Nv12 | PixelFormat::Nv16 | PixelFormat::Gray => {
            Ok((tight(frame, data, stride, w, h)?, 1))
        }
        PixelFormat::Rgb24 | PixelFormat::Mjpeg => Err(ConvertError::Unsupported(format!(
            "{:?} has no luma plane",
            frame.format
        ))),
    }
}

/// Y and interleaved UV planes of an NV12/NV16 frame, tight.
fn nv_planes(frame: &Frame, chroma_rows: usize) -> Result<[Cow<'_, [u8]>; 2], ConvertError> {
    let (w, h) = check_size(frame)?;
    let chroma_bytes = w.div_ceil(2) * 2;
    let [y, uv] = match frame.planes.as_slice() {
        [one] => {
            let stride = if one.stride == 0 { w } else { one.stride };
            let y_len = (stride * h).min(one.data.len());
            let y = tight(frame, &one.data[..y_len], stride, w, h)?;
            let uv = tight(frame, &one.data[y_len..], stride, chroma_bytes, chroma_rows)?;
            [y, uv]
        }
        [yp, uvp, ..] => [
            tight(frame, &yp.data, yp.stride, w, h)?,
            tight(frame, &uvp.data, uvp.stride, chroma_bytes, chroma_rows)?,
        ],
        [] => return Err(no_planes(frame)),
    };
    Ok([y, uv])
}

fn yuv_err(e: yuvutils_rs::YuvError) -> ConvertError {
    ConvertError::Unsupported(format!("YUV conversion: {e}"))
}

/// Converts a raw (non-JPEG) frame to RGB at full size.
pub(super) fn raw_to_rgb(frame: &Frame) -> Result<RgbImage, ConvertError> {
    let (w, h) = check_size(frame)?;
    let mut rgb = vec![0u8; w * h * 3];
    let rgb_stride = (w * 3) as u32;
    match frame.format {
        PixelFormat::Yuyv => {
            if w % 2 != 0 {
                return Err(ConvertError::BadSize {
                    width: frame.width,
                    height: frame.height,
                });
            }
            let (data, stride) = first_plane(frame)?;
            let packed = tight(frame, data, stride, w * 2, h)?;
            let img = YuvPackedImage {
                yuy: &packed,
                yuy_stride: (w * 2) as u32,
                width: frame.width,
                height: frame.height,
            };
            yuvutils_rs::yuyv422_to_rgb(
                &img,
                &mut rgb,
                rgb_stride,
                YuvRange::Limited,
                YuvStandardMatrix::Bt601,
            )
            .map_err(yuv_err)?;
        }
        PixelFormat::Nv12 | PixelFormat::Nv16 => {
            let nv12 = frame.format == PixelFormat::Nv12;
            let rows = if nv12 { h.div_ceil(2) } else { h };
            let [y, uv] = nv_planes(frame, rows)?;
            let img = YuvBiPlanarImage {
                y_plane: &y,
                y_stride: w as u32,
                uv_plane: &uv,
                uv_stride: (w.div_ceil(2) * 2) as u32,
                width: frame.width,
                height: frame.height,
            };
            let convert = if nv12 {
                yuvutils_rs::yuv_nv12_to_rgb
            } else {
                yuvutils_rs::yuv_nv16_to_rgb
            };
            convert(
                &img,
                &mut rgb,
                rgb_stride,
                YuvRange::Limited,
                YuvStandardMatrix::Bt601,
                YuvConversionMode::Balanced,
            )
            .map_err(yuv_err)?;
        }
        PixelFormat::Rgb24 => {
            let (data, stride) = first_plane(frame)?;
            rgb = tight(frame, data, stride, w * 3, h)?.into_owned();
        }
        PixelFormat::Gray => {
            let (data, stride) = first_plane(frame)?;
            let y = tight(frame, data, stride, w, h)?;
            for (dst, &v) in rgb.chunks_exact_mut(3).zip(y.iter()) {
                dst.fill(v);
            }
        }
        PixelFormat::Mjpeg => {
            return Err(ConvertError::Unsupported(
                "MJPEG is not a raw format".to_string(),
            ));
        }
    }
    Ok(RgbImage {
        width: frame.width,
        height: frame.height,
        data: rgb,
    })
}
