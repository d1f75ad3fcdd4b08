//! Snapshot JPEGs: decodable, at most 640 px wide, aspect kept, picture preserved.

mod events_common;

use gozcu::vision::RgbImage;
use gozcu::vision::snapshot::{SNAPSHOT_MAX_WIDTH, SNAPSHOT_QUALITY, encode_snapshot};
use zune_jpeg::zune_core::colorspace::ColorSpace;

/// Left half red, right half blue, with a vertical green gradient: easy to check after a
/// resize + lossy round trip.
fn synthetic(w: u32, h: u32) -> RgbImage {
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let g = (y * 255 / h.max(1)) as u8;
            if x < w / 2 {
                data.extend_from_slice(&[220, g, 20]);
            } else {
                data.extend_from_slice(&[20, g, 220]);
            }
        }
    }
    RgbImage {
        width: w,
        height: h,
        data,
    }
}

fn pixel(px: &[u8], w: u32, x: u32, y: u32) -> [u8; 3] {
    let i = ((y * w + x) * 3) as usize;
    [px[i], px[i + 1], px[i + 2]]
}

fn close(a: [u8; 3], b: [u8; 3], tol: i32) -> bool {
    a.iter()
        .zip(b)
        .all(|(&p, q)| (i32::from(p) - i32::from(q)).abs() <= tol)
}

#[test]
fn wide_frame_is_downscaled_to_640_with_aspect() {
    for (w, h, ew, eh) in [
        (1280, 720, 640, 360),
        (1920, 1080, 640, 360),
        (1001, 333, 640, 213),
    ] {
        let jpeg = encode_snapshot(&synthetic(w, h), SNAPSHOT_MAX_WIDTH, SNAPSHOT_QUALITY).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "JPEG SOI marker");
        let (dw, dh, px) = events_common::decode_jpeg(&jpeg, ColorSpace::RGB);
        assert_eq!((dw, dh), (ew, eh), "{w}x{h}");
        // Content survived: red on the left, blue on the right, green rising downwards.
        let left = pixel(&px, dw, dw / 4, dh / 2);
        let right = pixel(&px, dw, 3 * dw / 4, dh / 2);
        assert!(close(left, [220, 127, 20], 12), "{w}x{h} left {left:?}");
        assert!(close(right, [20, 127, 220], 12), "{w}x{h} right {right:?}");
        assert!(pixel(&px, dw, dw / 4, dh - 2)[1] > 230);
        assert!(pixel(&px, dw, dw / 4, 1)[1] < 25);
    }
}

#[test]
fn small_frame_keeps_its_size() {
    let jpeg = encode_snapshot(&synthetic(320, 240), 640, 80).unwrap();
    let (dw, dh, _) = events_common::decode_jpeg(&jpeg, ColorSpace::RGB);
    assert_eq!((dw, dh), (320, 240));
    // Quality matters: a lower quality gives a smaller file.
    let low = encode_snapshot(&synthetic(320, 240), 640, 20).unwrap();
    assert!(low.len() < jpeg.len());
}

#[test]
fn real_pets_frame_round_trips() {
    let Some(shared) = events_common::shared_dir() else {
        return;
    };
    let bytes = std::fs::read(shared.join("testdata/pets2009/img/frame_0050.jpg")).unwrap();
    let (w, h, px) = events_common::decode_jpeg(&bytes, ColorSpace::RGB);
    let img = RgbImage {
        width: w,
        height: h,
        data: px,
    };
    let jpeg = encode_snapshot(&img, 640, 80).unwrap();
    let (dw, dh, out) = events_common::decode_jpeg(&jpeg, ColorSpace::RGB);
    assert_eq!((dw, dh), (640, 480));
    println!("pets2009 frame 50: {} KiB snapshot", jpeg.len() / 1024);
    assert!(jpeg.len() < 150 * 1024, "{} bytes", jpeg.len());
    // Mean brightness is preserved by the resize + encode.
    let mean = |p: &[u8]| p.iter().map(|&v| f64::from(v)).sum::<f64>() / p.len() as f64;
    let (a, b) = (mean(&img.data), mean(&out));
    assert!((a - b).abs() < 3.0, "mean {a} -> {b}");
}
