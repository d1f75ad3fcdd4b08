//! JPEG and PNG: decoding camera MJPEG frames (zune-jpeg) defensively, splitting an MJPEG
//! file into frames, decoding PNG (zune-png), and encoding JPEG snapshots (jpeg-encoder).

use super::{ConvertError, GrayImage, RgbImage};
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

/// Largest frame side we decode; anything bigger is a corrupt header, not a camera.
const MAX_SIDE: usize = 8192;

/// What a JPEG decode is asked to produce. Luma skips chroma upsampling and colour
/// conversion (about a quarter cheaper than RGB with zune-jpeg).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JpegWant {
    Rgb,
    Luma,
}

/// A decoded JPEG.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    Rgb(RgbImage),
    Gray(GrayImage),
}

/// Checks the framing a camera's MJPEG buffer must have: SOI first, and an EOI marker after
/// the start of the scan data. A buffer cut short by a USB error has none: inside
/// entropy-coded data 0xFF is always followed by 0x00 or a restart marker, so FF D9 cannot
/// appear there by chance. Padding or junk after the EOI (some UVC cameras) is tolerated.
pub fn check_jpeg_framing(bytes: &[u8]) -> Result<(), ConvertError> {
    if bytes.len() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8 {
        return Err(ConvertError::CorruptJpeg(format!(
            "no start-of-image marker ({} bytes)",
            bytes.len()
        )));
    }
    let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]);
    let eoi = bytes.windows(2).rposition(|w| w == [0xFF, 0xD9]);
    match (sos, eoi) {
        (Some(s), Some(e)) if e > s => Ok(()),
        (None, _) => Err(ConvertError::CorruptJpeg(format!(
            "no start-of-scan marker ({} bytes)",
            bytes.len()
        ))),
        _ => Err(ConvertError::TruncatedJpeg { len: bytes.len() }),
    }
}

/// Width and height from a JPEG's headers.
pub fn jpeg_dimensions(bytes: &[u8]) -> Result<(u32, u32), ConvertError> {
    let options = DecoderOptions::default()
        .set_max_width(MAX_SIDE)
        .set_max_height(MAX_SIDE);
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut d = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
        d.decode_headers().map(|()| d.dimensions())
    }));
    match result {
        Ok(Ok(Some((w, h)))) if w > 0 && h > 0 => Ok((w as u32, h as u32)),
        Ok(Ok(_)) => Err(ConvertError::CorruptJpeg("no frame header".to_string())),
        Ok(Err(e)) => Err(ConvertError::CorruptJpeg(e.to_string())),
        Err(_) => Err(ConvertError::CorruptJpeg("decoder failed".to_string())),
    }
}

/// Decodes one JPEG. Never panics: framing is checked first and the decoder runs under
/// `catch_unwind` as a last line of defence against hostile input.
pub fn decode_jpeg(bytes: &[u8], want: JpegWant) -> Result<Decoded, ConvertError> {
    check_jpeg_framing(bytes)?;
    let base = DecoderOptions::default()
        .set_max_width(MAX_SIDE)
        .set_max_height(MAX_SIDE);
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<Decoded, String> {
        let mut probe = JpegDecoder::new_with_options(ZCursor::new(bytes), base);
        probe.decode_headers().map_err(|e| e.to_string())?;
        let input = probe.input_colorspace().unwrap_or(ColorSpace::YCbCr);
        let out = match (want, input) {
            (JpegWant::Luma, _) | (_, ColorSpace::Luma) => ColorSpace::Luma,
            _ => ColorSpace::RGB,
        };
        let mut d =
            JpegDecoder::new_with_options(ZCursor::new(bytes), base.jpeg_set_out_colorspace(out));
        let data = d.decode().map_err(|e| e.to_string())?;
        let (w, h) = d.dimensions().ok_or("no frame header")?;
        let (width, height) = (w as u32, h as u32);
        if data.len() < w * h * out.num_components() {
            return Err("decoder returned a short image".to_string());
        }
        Ok(match out {
            ColorSpace::Luma if want == JpegWant::Rgb => Decoded::Rgb(RgbImage {
                width,
                height,
                data: data.iter().flat_map(|&y| [y, y, y]).collect(),
            }),
            ColorSpace::Luma => Decoded::Gray(GrayImage {
                width,
                height,
                data,
            }),
            _ => Decoded::Rgb(RgbImage {
                width,
                height,
                data,
            }),
        })
    }));
    match result {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(msg)) => Err(ConvertError::CorruptJpeg(msg)),
        Err(_) => Err(ConvertError::CorruptJpeg("decoder failed".to_string())),
    }
}

/// Decodes JPEG bytes to RGB (e.g. image files for `gozcu detect`).
pub fn decode_jpeg_rgb(bytes: &[u8]) -> Result<RgbImage, ConvertError> {
    match decode_jpeg(bytes, JpegWant::Rgb)? {
        Decoded::Rgb(img) => Ok(img),
        Decoded::Gray(g) => Ok(super::gray_to_rgb(&g)),
    }
}

/// Decodes PNG bytes to 8-bit RGB (grey expanded, alpha dropped, 16-bit stripped).
pub fn decode_png_rgb(bytes: &[u8]) -> Result<RgbImage, ConvertError> {
    use zune_png::PngDecoder;
    use zune_png::zune_core::result::DecodingResult;
    let options = DecoderOptions::default()
        .png_set_strip_to_8bit(true)
        .set_max_width(MAX_SIDE)
        .set_max_height(MAX_SIDE);
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<RgbImage, String> {
        let mut d = PngDecoder::new_with_options(ZCursor::new(bytes), options);
        let pixels = match d.decode().map_err(|e| format!("{e:?}"))? {
            DecodingResult::U8(v) => v,
            _ => return Err("unexpected sample type".to_string()),
        };
        let (w, h) = d.dimensions().ok_or("no image header")?;
        let channels = d.colorspace().map_or(0, |c| c.num_components());
        if channels == 0 || pixels.len() < w * h * channels {
            return Err("short image".to_string());
        }
        let data: Vec<u8> = match channels {
            1 => pixels.iter().flat_map(|&y| [y, y, y]).collect(),
            2 => pixels
                .chunks_exact(2)
                .flat_map(|p| [p[0], p[0], p[0]])
                .collect(),
            3 => pixels,
            _ => pixels
                .chunks_exact(channels)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect(),
        };
        Ok(RgbImage {
            width: w as u32,
            height: h as u32,
            data,
        })
    }));
    match result {
        Ok(Ok(img)) => Ok(img),
        Ok(Err(msg)) => Err(ConvertError::Png(msg)),
        Err(_) => Err(ConvertError::Png("decoder failed".to_string())),
    }
}

/// Encodes an RGB image as a baseline JPEG (snapshots, test fixtures).
pub fn encode_jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>, ConvertError> {
    let (Ok(w), Ok(h)) = (u16::try_from(img.width), u16::try_from(img.height)) else {
        return Err(ConvertError::BadSize {
            width: img.width,
            height: img.height,
        });
    };
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100))
        .encode(&img.data, w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| ConvertError::Encode(e.to_string()))?;
    Ok(out)
}

/// Splits a concatenation of JPEGs (an `.mjpeg` file) into byte ranges, one per image.
/// Walks marker segments by their lengths so EXIF thumbnails (JPEGs inside APP1) and marker
/// bytes inside tables are not mistaken for frame boundaries; bytes between images are
/// skipped. A trailing incomplete image is dropped.
pub fn split_jpegs(data: &[u8]) -> Vec<Range<usize>> {
    let mut frames = Vec::new();
    let mut pos = 0;
    while let Some(start) = find_soi(data, pos) {
        match jpeg_end(data, start) {
            Some(end) => {
                frames.push(start..end);
                pos = end;
            }
            None => break,
        }
    }
    frames
}

fn find_soi(data: &[u8], from: usize) -> Option<usize> {
    (from..data.len().saturating_sub(1)).find(|&i| data[i] == 0xFF && data[i + 1] == 0xD8)
}

/// End (exclusive) of the JPEG starting with SOI at `start`.
fn jpeg_end(data: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 2;
    loop {
        // At a marker: skip fill bytes.
        if *data.get(i)? != 0xFF {
            return None;
        }
        while *data.get(i + 1)? == 0xFF {
            i += 1;
        }
        let marker = *data.get(i + 1)?;
        match marker {
            0xD9 => return Some(i + 2),
            0x01 | 0xD0..=0xD7 => i += 2,
            _ => {
                let len = usize::from(u16::from_be_bytes([*data.get(i + 2)?, *data.get(i + 3)?]));
                if len < 2 {
                    return None;
                }
                i += 2 + len;
                if marker == 0xDA {
                    // Entropy-coded data: runs to the next marker that is not a stuffed
                    // 0xFF00 or a restart marker.
                    loop {
                        let b = *data.get(i)?;
                        if b == 0xFF {
                            match *data.get(i + 1)? {
                                0xFF => i += 1,
                                0x00 | 0xD0..=0xD7 => i += 2,
                                _ => break,
                            }
                        } else {
                            i += 1;
                        }
                    }
                }
            }
        }
    }
}
