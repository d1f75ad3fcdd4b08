//! Pixel conversion against a reference image: an RGB test pattern is encoded to every
//! camera format (YUV with an independent BT.601 encoder written here, MJPEG with
//! jpeg-encoder at quality 95), converted back, and compared (PSNR, or exact where lossless).
//! Corrupt and truncated JPEG must be errors, never panics.

use gozcu::camera::{Frame, PixelFormat, Plane};
use gozcu::vision::convert::{
    ConvertError, ConvertedFrame, GrayImage, RgbImage, encode_jpeg, frame_to_rgb, luma_small,
    luma_small_from_rgb, small_size,
};
use std::time::SystemTime;

const W: u32 = 320;
const H: u32 = 240;

/// Smooth gradients plus colour blocks aligned to 8 pixels (chroma subsampling is exact on
/// aligned edges, so the YUV round trip is limited by quantisation only).
fn pattern() -> RgbImage {
    let mut img = RgbImage::new(W, H);
    for y in 0..H {
        for x in 0..W {
            let i = ((y * W + x) * 3) as usize;
            let mut p = [
                (x * 255 / W) as u8,
                (y * 255 / H) as u8,
                (((x + y) * 255) / (W + H)) as u8,
            ];
            let (bx, by) = (x / 40, y / 40);
            if (bx + by) % 3 == 0 {
                p = [[200, 30, 40], [30, 180, 60], [40, 60, 210], [230, 220, 40]]
                    [((bx + by) % 4) as usize];
            }
            img.data[i..i + 3].copy_from_slice(&p);
        }
    }
    img
}

fn ycbcr(p: &[u8]) -> (f64, f64, f64) {
    let (r, g, b) = (f64::from(p[0]), f64::from(p[1]), f64::from(p[2]));
    (
        16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0,
        128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0,
        128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0,
    )
}

fn q(v: f64) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

/// BT.601 limited-range planar Y, Cb, Cr at full resolution.
fn to_ycc(img: &RgbImage) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut y = Vec::new();
    let mut cb = Vec::new();
    let mut cr = Vec::new();
    for p in img.data.chunks_exact(3) {
        let (a, b, c) = ycbcr(p);
        y.push(a);
        cb.push(b);
        cr.push(c);
    }
    (y, cb, cr)
}

fn frame(format: PixelFormat, planes: Vec<Plane>) -> Frame {
    Frame {
        format,
        width: W,
        height: H,
        planes,
        timestamp: SystemTime::now(),
        sequence: 1,
    }
}

fn yuyv(img: &RgbImage, stride: usize) -> Frame {
    let (y, cb, cr) = to_ycc(img);
    let w = W as usize;
    let mut data = vec![0u8; stride * H as usize];
    for r in 0..H as usize {
        for x in (0..w).step_by(2) {
            let i = r * w + x;
            let o = r * stride + x * 2;
            data[o] = q(y[i]);
            data[o + 1] = q((cb[i] + cb[i + 1]) / 2.0);
            data[o + 2] = q(y[i + 1]);
            data[o + 3] = q((cr[i] + cr[i + 1]) / 2.0);
        }
    }
    frame(PixelFormat::Yuyv, vec![Plane { data, stride }])
}

/// NV12 (`vsub` = 2) or NV16 (`vsub` = 1): Y rows then interleaved CbCr rows.
fn nv(img: &RgbImage, vsub: usize, stride: usize, two_planes: bool) -> Frame {
    let (y, cb, cr) = to_ycc(img);
    let (w, h) = (W as usize, H as usize);
    let mut yp = vec![0u8; stride * h];
    for r in 0..h {
        for x in 0..w {
            yp[r * stride + x] = q(y[r * w + x]);
        }
    }
    let mut uv = vec![0u8; stride * h / vsub];
    for r in 0..h / vsub {
        for x in (0..w).step_by(2) {
            let mut s = (0.0, 0.0);
            for dy in 0..vsub {
                for dx in 0..2 {
                    let i = (r * vsub + dy) * w + x + dx;
                    s.0 += cb[i];
                    s.1 += cr[i];
                }
            }
            let n = (2 * vsub) as f64;
            uv[r * stride + x] = q(s.0 / n);
            uv[r * stride + x + 1] = q(s.1 / n);
        }
    }
    let format = if vsub == 2 {
        PixelFormat::Nv12
    } else {
        PixelFormat::Nv16
    };
    let planes = if two_planes {
        vec![Plane { data: yp, stride }, Plane { data: uv, stride }]
    } else {
        yp.extend_from_slice(&uv);
        vec![Plane { data: yp, stride }]
    };
    frame(format, planes)
}

fn mjpeg(img: &RgbImage) -> Frame {
    let data = encode_jpeg(img, 95).unwrap();
    frame(PixelFormat::Mjpeg, vec![Plane { data, stride: 0 }])
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

fn checksum(data: &[u8]) -> u64 {
    // FNV-1a: any change of any byte changes it.
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn assert_rgb_close(f: &Frame, reference: &RgbImage, min_psnr: f64) {
    let rgb = frame_to_rgb(f).unwrap_or_else(|e| panic!("{:?}: {e}", f.format));
    assert_eq!((rgb.width, rgb.height), (W, H));
    let p = psnr(&rgb.data, &reference.data);
    assert!(p >= min_psnr, "{:?}: PSNR {p:.1} dB < {min_psnr}", f.format);
}

/// Reference motion image: full-range luma of the pattern, box-downscaled.
fn reference_luma(img: &RgbImage, target_h: u32) -> GrayImage {
    luma_small_from_rgb(img, target_h).unwrap()
}

fn assert_luma_close(f: &Frame, reference: &RgbImage) {
    let got = luma_small(f, 120).unwrap_or_else(|e| panic!("{:?}: {e}", f.format));
    assert_eq!((got.width, got.height), (160, 120));
    let want = reference_luma(reference, 120);
    let p = psnr(&got.data, &want.data);
    assert!(p >= 40.0, "{:?} luma: PSNR {p:.1} dB", f.format);
}

#[test]
fn yuyv_round_trip() {
    let img = pattern();
    for stride in [W as usize * 2, W as usize * 2 + 64] {
        let f = yuyv(&img, stride);
        assert_rgb_close(&f, &img, 40.0);
        assert_luma_close(&f, &img);
    }
}

#[test]
fn nv12_round_trip_contiguous_padded_and_two_planes() {
    let img = pattern();
    let a = frame_to_rgb(&nv(&img, 2, W as usize, false)).unwrap();
    assert!(
        psnr(&a.data, &img.data) >= 40.0,
        "{}",
        psnr(&a.data, &img.data)
    );
    let b = frame_to_rgb(&nv(&img, 2, W as usize + 32, false)).unwrap();
    let c = frame_to_rgb(&nv(&img, 2, W as usize, true)).unwrap();
    assert_eq!(
        checksum(&a.data),
        checksum(&b.data),
        "stride padding must not matter"
    );
    assert_eq!(
        checksum(&a.data),
        checksum(&c.data),
        "plane split must not matter"
    );
    assert_luma_close(&nv(&img, 2, W as usize + 32, false), &img);
}

#[test]
fn nv16_round_trip() {
    let img = pattern();
    let f = nv(&img, 1, W as usize, false);
    assert_rgb_close(&f, &img, 40.0);
    assert_luma_close(&f, &img);
    assert_rgb_close(&nv(&img, 1, W as usize + 16, true), &img, 40.0);
}

#[test]
fn rgb24_is_exact_even_with_padded_rows() {
    let img = pattern();
    let stride = W as usize * 3 + 12;
    let mut data = vec![0xEE; stride * H as usize];
    for r in 0..H as usize {
        let src = &img.data[r * W as usize * 3..(r + 1) * W as usize * 3];
        data[r * stride..r * stride + src.len()].copy_from_slice(src);
    }
    let f = frame(PixelFormat::Rgb24, vec![Plane { data, stride }]);
    let rgb = frame_to_rgb(&f).unwrap();
    assert_eq!(checksum(&rgb.data), checksum(&img.data));
    assert_luma_close(&f, &img);
}

#[test]
fn grey_is_exact() {
    let data: Vec<u8> = (0..W * H).map(|i| (i % 251) as u8).collect();
    let f = frame(
        PixelFormat::Gray,
        vec![Plane {
            data: data.clone(),
            stride: W as usize,
        }],
    );
    let rgb = frame_to_rgb(&f).unwrap();
    let expect: Vec<u8> = data.iter().flat_map(|&v| [v, v, v]).collect();
    assert_eq!(checksum(&rgb.data), checksum(&expect));
}

#[test]
fn mjpeg_round_trip() {
    let img = pattern();
    let f = mjpeg(&img);
    assert_rgb_close(&f, &img, 40.0);
    assert_luma_close(&f, &img);
}

#[test]
fn converted_frame_decodes_mjpeg_once_for_luma_then_rgb() {
    let img = pattern();
    let mut c = ConvertedFrame::new(mjpeg(&img));
    let luma = c.luma_small(120).unwrap().clone();
    assert_eq!((luma.width, luma.height), (160, 120));
    assert!(psnr(&luma.data, &reference_luma(&img, 120).data) >= 40.0);
    let rgb = c.rgb().unwrap().clone();
    assert_eq!(c.jpeg_decodes(), 1, "luma then RGB must not decode twice");
    assert_eq!(rgb, frame_to_rgb(c.frame()).unwrap());
    // Cached: asking again changes nothing.
    c.luma_small(60).unwrap();
    c.rgb().unwrap();
    assert_eq!(c.jpeg_decodes(), 1);
    let taken = c.take_rgb().unwrap();
    assert_eq!(taken, rgb);
}

#[test]
fn converted_frame_luma_only_decodes_luma_and_rgb_later_costs_a_second_decode() {
    let img = pattern();
    let mut c = ConvertedFrame::new(mjpeg(&img)).luma_only(true);
    let luma = c.luma_small(120).unwrap().clone();
    assert_eq!(luma, luma_small(c.frame(), 120).unwrap());
    assert!(psnr(&luma.data, &reference_luma(&img, 120).data) >= 40.0);
    assert_eq!(c.jpeg_decodes(), 1);
    let rgb = c.rgb().unwrap().clone();
    assert_eq!((rgb.width, rgb.height), (W, H));
    assert_eq!(
        c.jpeg_decodes(),
        2,
        "the hint was wrong: RGB needs its own decode"
    );
}

#[test]
fn converted_frame_on_yuv_never_decodes_jpeg() {
    let img = pattern();
    let mut c = ConvertedFrame::new(nv(&img, 2, W as usize, false));
    let luma = c.luma_small(120).unwrap().clone();
    assert_eq!(luma, luma_small(c.frame(), 120).unwrap());
    assert_rgb_close(c.frame(), &img, 40.0);
    assert_eq!(c.jpeg_decodes(), 0);
}

#[test]
fn truncated_jpeg_is_an_error() {
    let jpeg = encode_jpeg(&pattern(), 90).unwrap();
    for cut in [jpeg.len() / 2, jpeg.len() - 2, 600, 3] {
        let f = frame(
            PixelFormat::Mjpeg,
            vec![Plane {
                data: jpeg[..cut].to_vec(),
                stride: 0,
            }],
        );
        let err = frame_to_rgb(&f).unwrap_err();
        assert!(
            matches!(
                err,
                ConvertError::TruncatedJpeg { .. } | ConvertError::CorruptJpeg(_)
            ),
            "cut at {cut}: {err:?}"
        );
        assert!(luma_small(&f, 120).is_err());
        let mut c = ConvertedFrame::new(f);
        assert!(c.luma_small(120).is_err() && c.rgb().is_err());
    }
    let f = frame(
        PixelFormat::Mjpeg,
        vec![Plane {
            data: jpeg[..jpeg.len() / 2].to_vec(),
            stride: 0,
        }],
    );
    let msg = frame_to_rgb(&f).unwrap_err().to_string();
    assert!(
        msg.contains("truncated JPEG frame: no end-of-image marker"),
        "{msg}"
    );
}

#[test]
fn padding_or_junk_after_the_end_marker_is_tolerated() {
    let img = pattern();
    let mut data = encode_jpeg(&img, 95).unwrap();
    data.extend_from_slice(&[0; 4096]);
    data.extend_from_slice(b"junk some UVC cameras leave in the buffer");
    let f = frame(PixelFormat::Mjpeg, vec![Plane { data, stride: 0 }]);
    assert_rgb_close(&f, &img, 40.0);
}

#[test]
fn corrupt_jpeg_is_an_error_never_a_panic() {
    let jpeg = encode_jpeg(&pattern(), 90).unwrap();
    // Not a JPEG at all.
    let f = frame(
        PixelFormat::Mjpeg,
        vec![Plane {
            data: b"hello world, not a jpeg".to_vec(),
            stride: 0,
        }],
    );
    let msg = frame_to_rgb(&f).unwrap_err().to_string();
    assert!(
        msg.contains("corrupt JPEG frame: no start-of-image marker"),
        "{msg}"
    );
    // Headers destroyed, framing intact.
    let mut bad = jpeg.clone();
    for b in &mut bad[2..200] {
        *b = 0x5A;
    }
    let f = frame(
        PixelFormat::Mjpeg,
        vec![Plane {
            data: bad,
            stride: 0,
        }],
    );
    assert!(matches!(
        frame_to_rgb(&f),
        Err(ConvertError::CorruptJpeg(_))
    ));
    // Random damage in the entropy-coded data: an error or a damaged image, but no panic.
    let mut seed = 0x1234_5678u32;
    for _ in 0..200 {
        let mut bad = jpeg.clone();
        for _ in 0..8 {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let i = 2 + (seed as usize >> 8) % (bad.len() - 4);
            bad[i] = (seed >> 24) as u8;
        }
        let f = frame(
            PixelFormat::Mjpeg,
            vec![Plane {
                data: bad,
                stride: 0,
            }],
        );
        let _ = frame_to_rgb(&f);
        let _ = luma_small(&f, 120);
    }
    // Empty buffer and no planes at all.
    let f = frame(
        PixelFormat::Mjpeg,
        vec![Plane {
            data: vec![],
            stride: 0,
        }],
    );
    assert!(frame_to_rgb(&f).is_err());
    let f = frame(PixelFormat::Mjpeg, vec![]);
    assert!(frame_to_rgb(&f).is_err());
}

#[test]
fn short_raw_buffers_are_errors_naming_the_format() {
    let f = frame(
        PixelFormat::Nv12,
        vec![Plane {
            data: vec![0; 1000],
            stride: W as usize,
        }],
    );
    let msg = frame_to_rgb(&f).unwrap_err().to_string();
    assert!(
        msg.contains("Nv12 frame 320x240: buffer too small"),
        "{msg}"
    );
    assert!(luma_small(&f, 120).is_err());
    let f = frame(PixelFormat::Yuyv, vec![]);
    assert!(frame_to_rgb(&f).is_err());
    let mut f = frame(
        PixelFormat::Yuyv,
        vec![Plane {
            data: vec![0; 10],
            stride: 0,
        }],
    );
    f.width = 0;
    assert!(
        frame_to_rgb(&f)
            .unwrap_err()
            .to_string()
            .contains("invalid image size 0x240")
    );
}

#[test]
fn small_size_keeps_aspect_and_never_upscales() {
    assert_eq!(small_size(1280, 720, 144), (256, 144));
    assert_eq!(small_size(1920, 1080, 135), (240, 135));
    assert_eq!(small_size(320, 240, 480), (320, 240));
}
