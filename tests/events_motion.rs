//! Motion detector on synthetic scenes (noise, a moving object, a light switch) and on the
//! real PETS 2009 frames.

mod events_common;

use gozcu::config::MotionConfig;
use gozcu::vision::GrayImage;
use gozcu::vision::motion::MotionDetector;
use std::time::Duration;
use zune_jpeg::zune_core::colorspace::ColorSpace;

const W: u32 = 160;
const H: u32 = 120;

/// Deterministic noise source (xorshift), so failures reproduce.
struct Noise(u32);

impl Noise {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    /// Uniform in -3..=3.
    fn pm3(&mut self) -> i32 {
        (self.next() % 7) as i32 - 3
    }
}

/// A textured static scene (gradient plus a pattern, like a real room) with sensor noise
/// of +-3 luma, brightened by `light`.
fn scene(noise: &mut Noise, light: i32) -> GrayImage {
    let mut data = Vec::with_capacity((W * H) as usize);
    for y in 0..H as i32 {
        for x in 0..W as i32 {
            let base = 40 + x / 2 + y / 3 + if (x / 20 + y / 15) % 2 == 0 { 30 } else { 0 };
            data.push((base + light + noise.pm3()).clamp(0, 255) as u8);
        }
    }
    GrayImage {
        width: W,
        height: H,
        data,
    }
}

/// Draws a dark `w` x `h` block (a person-sized blob) at (x, y).
fn draw_block(img: &mut GrayImage, x: u32, y: u32, w: u32, h: u32) {
    for yy in y..(y + h).min(H) {
        for xx in x..(x + w).min(W) {
            img.data[(yy * W + xx) as usize] = 15;
        }
    }
}

fn frame_time(i: u32) -> Duration {
    Duration::from_millis(u64::from(i) * 100)
}

fn detector() -> MotionDetector {
    MotionDetector::new(&MotionConfig::default())
}

#[test]
fn static_scene_with_sensor_noise_never_moves() {
    let mut m = detector();
    let mut noise = Noise(12345);
    for i in 0..200 {
        let r = m.detect(&scene(&mut noise, 0), frame_time(i)).unwrap();
        assert!(!r.motion, "frame {i}: {r:?}");
        assert!(r.regions.is_empty());
        assert!(r.changed_fraction < 0.001, "frame {i}: {r:?}");
    }
    assert_eq!(m.lighting_changes(), 0);
}

#[test]
fn moving_object_is_found_where_it_is() {
    let mut m = detector();
    let mut noise = Noise(7);
    for i in 0..20 {
        assert!(
            !m.detect(&scene(&mut noise, 0), frame_time(i))
                .unwrap()
                .motion
        );
    }
    let (bw, bh, y) = (14, 36, 50);
    for step in 0..30 {
        let x = 10 + step * 4;
        let mut f = scene(&mut noise, 0);
        draw_block(&mut f, x, y, bw, bh);
        let r = m.detect(&f, frame_time(20 + step)).unwrap();
        assert!(r.motion, "step {step}: {r:?}");
        // The largest region covers the block (allowing for blur and dilation) and is not
        // much bigger than the block plus the trail it left.
        let reg = r.regions[0];
        let (nx1, ny1) = (x as f32 / W as f32, y as f32 / H as f32);
        let (nx2, ny2) = ((x + bw) as f32 / W as f32, (y + bh) as f32 / H as f32);
        let tol = 4.0 / W as f32;
        assert!(
            reg[0] <= nx1 + tol
                && reg[1] <= ny1 + tol
                && reg[2] >= nx2 - tol
                && reg[3] >= ny2 - tol,
            "step {step}: region {reg:?} misses block [{nx1}, {ny1}, {nx2}, {ny2}]"
        );
        let reg_w = (reg[2] - reg[0]) * W as f32;
        let reg_h = (reg[3] - reg[1]) * H as f32;
        assert!(
            reg_w <= (bw + 14) as f32 && reg_h <= (bh + 10) as f32,
            "step {step}: {reg:?}"
        );
    }
}

#[test]
fn light_switch_is_suppressed_and_motion_after_it_still_counts() {
    let mut m = detector();
    let mut noise = Noise(99);
    for i in 0..20 {
        m.detect(&scene(&mut noise, 0), frame_time(i)).unwrap();
    }
    let r = m.detect(&scene(&mut noise, 60), frame_time(20)).unwrap();
    assert!(!r.motion, "{r:?}");
    assert!(r.changed_fraction > 0.6, "{r:?}");
    assert_eq!(m.lighting_changes(), 1);
    for i in 21..40 {
        let r = m.detect(&scene(&mut noise, 60), frame_time(i)).unwrap();
        assert!(!r.motion, "frame {i} after the switch: {r:?}");
    }
    let mut f = scene(&mut noise, 60);
    draw_block(&mut f, 60, 40, 16, 40);
    assert!(m.detect(&f, frame_time(40)).unwrap().motion);
    assert_eq!(m.lighting_changes(), 1);
}

/// Box-filters a luma image down by an integer factor (what the converter does).
fn downscale(w: u32, h: u32, px: &[u8], f: u32) -> GrayImage {
    let (ow, oh) = (w / f, h / f);
    let mut data = Vec::with_capacity((ow * oh) as usize);
    for y in 0..oh {
        for x in 0..ow {
            let mut s = 0u32;
            for yy in 0..f {
                for xx in 0..f {
                    s += u32::from(px[((y * f + yy) * w + x * f + xx) as usize]);
                }
            }
            data.push((s / (f * f)) as u8);
        }
    }
    GrayImage {
        width: ow,
        height: oh,
        data,
    }
}

#[test]
fn pets2009_walkers_are_seen_as_motion_near_the_annotated_people() {
    let Some(shared) = events_common::shared_dir() else {
        return;
    };
    let dir = shared.join("testdata/pets2009");
    let gt = std::fs::read_to_string(dir.join("gt.txt")).unwrap();
    // frame -> person boxes [x1, y1, x2, y2] in source pixels.
    let mut boxes: std::collections::HashMap<u32, Vec<[f32; 4]>> = Default::default();
    for line in gt.lines() {
        let v: Vec<f32> = line.split(',').map(|s| s.trim().parse().unwrap()).collect();
        boxes
            .entry(v[0] as u32)
            .or_default()
            .push([v[2], v[3], v[2] + v[4], v[3] + v[5]]);
    }

    let mut m = detector();
    let (mut frames, mut with_motion, mut people, mut people_hit) = (0, 0, 0, 0);
    let mut region_area = 0.0f32;
    for k in 1..=107u32 {
        let bytes = std::fs::read(dir.join(format!("img/frame_{k:04}.jpg"))).unwrap();
        let (w, h, px) = events_common::decode_jpeg(&bytes, ColorSpace::Luma);
        assert_eq!((w, h), (768, 576));
        let small = downscale(w, h, &px, 4);
        let r = m
            .detect(&small, Duration::from_secs_f64(f64::from(k - 1) / 7.0))
            .unwrap();
        if k <= MotionConfig::default().warmup_frames {
            continue;
        }
        frames += 1;
        with_motion += u32::from(r.motion);
        region_area += r
            .regions
            .iter()
            .map(|g| (g[2] - g[0]) * (g[3] - g[1]))
            .sum::<f32>();
        for b in boxes.get(&k).map(Vec::as_slice).unwrap_or(&[]) {
            let nb = [b[0] / 768.0, b[1] / 576.0, b[2] / 768.0, b[3] / 576.0];
            people += 1;
            let hit = r
                .regions
                .iter()
                .any(|g| g[0] < nb[2] && nb[0] < g[2] && g[1] < nb[3] && nb[1] < g[3]);
            people_hit += u32::from(hit);
        }
    }
    let hit_rate = people_hit as f32 / people as f32;
    let mean_area = region_area / frames as f32;
    println!(
        "pets2009 motion: {with_motion}/{frames} frames with motion, {people_hit}/{people} annotated people overlap a region ({hit_rate:.2}), regions cover {mean_area:.3} of the frame on average, {} lighting changes",
        m.lighting_changes()
    );
    // Regions are local, not one box around the whole frame.
    assert!(mean_area < 0.3, "mean region area {mean_area}");
    assert_eq!(with_motion, frames, "people walk in every frame");
    assert!(hit_rate >= 0.8, "hit rate {hit_rate}");
    assert_eq!(m.lighting_changes(), 0);
}

/// Regression: after an object leaves a still scene, the revealed background ("ghost") must
/// be learned quickly, so motion stops and motion events can end.
#[test]
fn motion_stops_soon_after_the_synthetic_shapes_leave() {
    let cfg = gozcu::config::CameraConfig {
        id: "a".into(),
        device: "testsrc:".into(),
        width: 320,
        height: 240,
        fps: 10,
        ..Default::default()
    };
    let src = gozcu::camera::testsrc::TestSource::new(&cfg);
    let mut md =
        gozcu::vision::motion::MotionDetector::new(&gozcu::config::MotionConfig::default());
    let mut moving_while_visible = 0;
    let mut moving_late_after_leaving = 0;
    for i in 0..240u64 {
        let mut frame = gozcu::vision::convert::ConvertedFrame::new(src.render(i));
        let luma = frame.luma_small(144).unwrap().clone();
        let r = md
            .detect(&luma, std::time::Duration::from_millis(i * 100))
            .unwrap();
        let t = (i as f64 / 10.0) % 12.0;
        if src.shapes_visible(i) && r.motion {
            moving_while_visible += 1;
        }
        // Shapes leave at 6 s of each 12 s cycle; from 8 s on the scene must be quiet.
        if t >= 8.0 && r.motion {
            moving_late_after_leaving += 1;
        }
    }
    assert!(
        moving_while_visible > 80,
        "motion while shapes move: {moving_while_visible}"
    );
    assert_eq!(
        moving_late_after_leaving, 0,
        "motion must stop after the shapes leave"
    );
}
