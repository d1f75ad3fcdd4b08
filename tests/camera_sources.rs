//! The synthetic and replay sources: testsrc determinism and its periods with and without
//! moving shapes; replay order, looping, pacing, PNG frames, MJPEG files, missing paths.

use gozcu::camera::replay::ReplaySource;
use gozcu::camera::testsrc::TestSource;
use gozcu::camera::{CameraError, FrameSource, PixelFormat};
use gozcu::config::CameraConfig;
use gozcu::vision::convert::{RgbImage, encode_jpeg, jpeg_dimensions, luma_small, split_jpegs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Shared test data: `$GOZCU_SHARED` or `<crate>/../shared`. Missing: fail under CI, else skip.
fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("GOZCU_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    if dir.join("testdata/pets2009/img").is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "test data missing: {}/testdata/pets2009/img (set GOZCU_SHARED)",
            dir.display()
        );
    }
    eprintln!(
        "skipping: no test data at {} (set GOZCU_SHARED)",
        dir.display()
    );
    None
}

fn cam(device: &str, fps: u32, format: &str) -> CameraConfig {
    CameraConfig {
        id: "cam-t".into(),
        device: device.into(),
        width: 320,
        height: 240,
        fps,
        format: format.into(),
        ..CameraConfig::default()
    }
}

fn solid_jpeg(w: u32, h: u32, v: u8) -> Vec<u8> {
    let img = RgbImage {
        width: w,
        height: h,
        data: (0..w * h * 3)
            .map(|i| v.wrapping_add((i % 7) as u8))
            .collect(),
    };
    encode_jpeg(&img, 90).unwrap()
}

/// Mean absolute luma difference between two frames' motion images.
fn luma_change(a: &gozcu::camera::Frame, b: &gozcu::camera::Frame) -> f64 {
    let (la, lb) = (luma_small(a, 60).unwrap(), luma_small(b, 60).unwrap());
    la.data
        .iter()
        .zip(&lb.data)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).abs())
        .sum::<f64>()
        / la.data.len() as f64
}

#[test]
fn testsrc_is_deterministic() {
    for format in ["auto", "YUYV"] {
        let a = TestSource::new(&cam("testsrc:", 10, format));
        let b = TestSource::new(&cam("testsrc:", 10, format));
        for i in [0, 7, 31, 64, 119] {
            assert_eq!(
                a.render(i).planes[0].data,
                b.render(i).planes[0].data,
                "frame {i}"
            );
        }
        assert_ne!(a.render(10).planes[0].data, a.render(11).planes[0].data);
    }
    // Streaming gives the same bytes as rendering by sequence number.
    let mut s = TestSource::new(&cam("testsrc:", 200, "NV12"));
    s.open().unwrap();
    let reference = TestSource::new(&cam("testsrc:", 200, "NV12"));
    for _ in 0..5 {
        let f = s.next_frame(Duration::from_secs(1)).unwrap();
        assert_eq!((f.format, f.width, f.height), (PixelFormat::Nv12, 320, 240));
        assert_eq!(
            f.planes[0].data,
            reference.render(f.sequence).planes[0].data
        );
    }
}

#[test]
fn testsrc_has_periods_with_and_without_motion() {
    for format in ["NV12", "YUYV"] {
        let s = TestSource::new(&cam("testsrc:", 10, format));
        // Active part of the cycle: consecutive frames differ.
        assert!(s.shapes_visible(10) && s.shapes_visible(11));
        let moving = luma_change(&s.render(10), &s.render(11));
        assert!(
            moving > 0.5,
            "{format}: shapes should move, change {moving}"
        );
        // Idle part: the scene is static and equals the empty background.
        assert!(!s.shapes_visible(70) && !s.shapes_visible(80));
        assert_eq!(s.render(70).planes[0].data, s.render(80).planes[0].data);
        assert_eq!(s.render(70).planes[0].data, s.render(119).planes[0].data);
        // And it comes back in the next cycle.
        assert!(s.shapes_visible(125));
        assert!(luma_change(&s.render(70), &s.render(125)) > 0.5);
    }
}

#[test]
fn replay_folder_plays_in_name_order_and_loops() {
    let dir = tempfile::tempdir().unwrap();
    let frames = [("b.jpg", 20u8), ("a.jpg", 90), ("c.JPEG", 160)];
    for (name, v) in frames {
        std::fs::write(dir.path().join(name), solid_jpeg(64, 48, v)).unwrap();
    }
    std::fs::write(dir.path().join("notes.txt"), "not a frame").unwrap();
    let mut s = ReplaySource::new(dir.path().to_path_buf(), 100);
    s.open().unwrap();
    assert_eq!(s.len(), 3);
    let expect = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    let order = [
        "a.jpg", "b.jpg", "c.JPEG", "a.jpg", "b.jpg", "c.JPEG", "a.jpg",
    ];
    for (i, name) in order.iter().enumerate() {
        let f = s.next_frame(Duration::from_secs(1)).unwrap();
        assert_eq!(f.format, PixelFormat::Mjpeg);
        assert_eq!((f.width, f.height), (64, 48));
        assert_eq!(f.sequence, i as u64);
        assert_eq!(f.planes[0].data, expect(name), "frame {i} should be {name}");
    }
}

#[test]
fn replay_paces_frames_to_fps() {
    let Some(shared) = shared() else { return };
    let dir = shared.join("testdata/pets2009/img");
    let mut s = ReplaySource::new(dir.clone(), 20);
    s.open().unwrap();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    names.sort();
    assert_eq!(s.len(), names.len());
    let mut times = Vec::new();
    let opened = Instant::now();
    for (i, name) in names.iter().take(12).enumerate() {
        let f = s.next_frame(Duration::from_secs(1)).unwrap();
        times.push(Instant::now());
        assert_eq!(f.planes[0].data, std::fs::read(name).unwrap(), "frame {i}");
        assert_eq!((f.width, f.height), (768, 576));
    }
    let span = times[11] - times[1];
    let mean = span.as_secs_f64() / 10.0;
    assert!(
        (0.040..0.090).contains(&mean),
        "mean interval {mean:.3} s, want ~0.050"
    );
    // Never early: frame i is due i periods after the first request at the soonest. (Two
    // frames may come closer than a period: after a late wake-up the next slot is due soon.)
    let period = Duration::from_millis(50);
    for (i, t) in times.iter().enumerate() {
        let after = *t - opened;
        assert!(
            after >= period * i as u32,
            "frame {i} came {after:?} after the first request"
        );
    }
}

#[test]
fn replay_mjpeg_file_splits_frames_even_with_thumbnails_and_junk() {
    let a = solid_jpeg(32, 16, 10);
    let b = solid_jpeg(48, 32, 100);
    // `c` carries an EXIF-style thumbnail (a whole JPEG inside APP1) that must not be
    // mistaken for a frame boundary.
    let thumb = solid_jpeg(8, 8, 200);
    let inner = solid_jpeg(40, 24, 60);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&thumb);
    let mut c = vec![0xFF, 0xD8, 0xFF, 0xE1];
    c.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    c.extend_from_slice(&app1);
    c.extend_from_slice(&inner[2..]);
    assert_eq!(jpeg_dimensions(&c).unwrap(), (40, 24));
    let mut file = Vec::new();
    file.extend_from_slice(&a);
    file.extend_from_slice(b"\r\n--boundary\r\n");
    file.extend_from_slice(&b);
    file.extend_from_slice(&c);
    file.extend_from_slice(&a[..a.len() / 2]); // a trailing partial frame is dropped
    let ranges = split_jpegs(&file);
    let sizes: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
    assert_eq!(sizes, vec![a.len(), b.len(), c.len()]);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mjpeg");
    std::fs::write(&path, &file).unwrap();
    let mut s = ReplaySource::new(path, 100);
    s.open().unwrap();
    let dims: Vec<(u32, u32)> = (0..4)
        .map(|_| {
            let f = s.next_frame(Duration::from_secs(1)).unwrap();
            (f.width, f.height)
        })
        .collect();
    assert_eq!(dims, vec![(32, 16), (48, 32), (40, 24), (32, 16)]);
}

#[test]
fn replay_png_frames_become_rgb24() {
    use zune_png::zune_core::bit_depth::BitDepth;
    use zune_png::zune_core::colorspace::ColorSpace;
    use zune_png::zune_core::options::EncoderOptions;
    let (w, h) = (24usize, 10usize);
    let rgba: Vec<u8> = (0..w * h * 4).map(|i| (i * 7 % 256) as u8).collect();
    let mut png = Vec::new();
    zune_png::PngEncoder::new(
        &rgba,
        EncoderOptions::new(w, h, ColorSpace::RGBA, BitDepth::Eight),
    )
    .encode(&mut png)
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("0001.png"), &png).unwrap();
    let mut s = ReplaySource::new(dir.path().to_path_buf(), 100);
    s.open().unwrap();
    let f = s.next_frame(Duration::from_secs(1)).unwrap();
    assert_eq!((f.format, f.width, f.height), (PixelFormat::Rgb24, 24, 10));
    let want: Vec<u8> = rgba
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    assert_eq!(f.planes[0].data, want, "alpha dropped, colours exact");
}

#[test]
fn replay_missing_or_empty_paths_say_what_is_wrong() {
    let mut s = ReplaySource::new(PathBuf::from("/nonexistent/gozcu/clip"), 10);
    let err = s.open().unwrap_err();
    assert!(matches!(err, CameraError::NotFound { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("replay:/nonexistent/gozcu/clip does not exist"),
        "{msg}"
    );
    assert!(
        msg.contains("expects a folder of .jpg/.jpeg/.png frames"),
        "{msg}"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut s = ReplaySource::new(dir.path().to_path_buf(), 10);
    let msg = s.open().unwrap_err().to_string();
    assert!(msg.contains("no JPEG/PNG frames found"), "{msg}");
}
