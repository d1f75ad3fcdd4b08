//! Synthetic camera (`device = "testsrc:"`): a static textured background with moving shapes
//! that appear for [`ACTIVE_S`] seconds out of every [`CYCLE_S`], so motion starts and stops
//! and the whole pipeline runs with no hardware. `testsrc:static` never shows the shapes (an
//! idle scene) and `testsrc:moving` never hides them (constant motion); the benchmarks use
//! both. Frames are a pure function of the config and the frame index (deterministic),
//! produced directly in NV12 (`format = "auto"` or `"NV12"`) or YUYV (`"YUYV"`), paced to
//! the configured fps.

use super::pace::Pacer;
use super::{CameraError, Frame, FrameSource, PixelFormat, Plane};
use crate::config::CameraConfig;
use std::time::{Duration, SystemTime};

/// Length of one appear/leave cycle.
pub const CYCLE_S: f64 = 12.0;
/// Seconds of each cycle during which shapes move across the scene.
pub const ACTIVE_S: f64 = 6.0;

/// What the synthetic scene does, from the text after `testsrc:` in `device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestPattern {
    /// `testsrc:` shapes cross the scene [`ACTIVE_S`] seconds of every [`CYCLE_S`].
    Cycle,
    /// `testsrc:static` the background alone: nothing ever moves.
    Static,
    /// `testsrc:moving` shapes cross the scene again and again, without pauses.
    Moving,
}

impl TestPattern {
    /// The pattern a `testsrc:...` device names; Err with the reason for an unknown one.
    pub fn from_device(device: &str) -> Result<TestPattern, String> {
        match device.strip_prefix("testsrc:") {
            Some("") => Ok(TestPattern::Cycle),
            Some("static") => Ok(TestPattern::Static),
            Some("moving") => Ok(TestPattern::Moving),
            _ => Err(format!(
                "{device:?} is not a known synthetic camera; write \"testsrc:\" (shapes come and \
                 go), \"testsrc:static\" (nothing moves) or \"testsrc:moving\" (always moving)"
            )),
        }
    }
}

/// A Y'CbCr colour.
#[derive(Debug, Clone, Copy)]
struct Yuv(u8, u8, u8);

const BOX_COLOUR: Yuv = Yuv(82, 90, 240);
const DISC_COLOUR: Yuv = Yuv(210, 16, 146);

pub struct TestSource {
    width: u32,
    height: u32,
    fps: u32,
    format: PixelFormat,
    pattern: TestPattern,
    background: Vec<u8>,
    pacer: Pacer,
    note: String,
}

impl TestSource {
    pub fn new(cfg: &CameraConfig) -> Self {
        // Even sizes keep chroma subsampling simple; bounded so a typo cannot eat the RAM.
        let width = (cfg.width.clamp(16, 7680)) & !1;
        let height = (cfg.height.clamp(16, 4320)) & !1;
        let (format, note) = match cfg.format.to_ascii_uppercase().as_str() {
            "YUYV" => (PixelFormat::Yuyv, String::new()),
            "AUTO" | "NV12" | "" => (PixelFormat::Nv12, String::new()),
            other => (
                PixelFormat::Nv12,
                format!(" (format {other} not synthesized; using NV12)"),
            ),
        };
        // Validation rejects an unknown pattern; a source built anyway gets the default.
        let pattern = TestPattern::from_device(&cfg.device).unwrap_or(TestPattern::Cycle);
        let mut src = TestSource {
            width,
            height,
            fps: cfg.fps.max(1),
            format,
            pattern,
            background: Vec::new(),
            pacer: Pacer::new(cfg.fps),
            note,
        };
        src.background = src.render_background();
        src
    }

    /// Whether shapes are in the scene at frame `index`.
    pub fn shapes_visible(&self, index: u64) -> bool {
        self.cycle_position(index) < ACTIVE_S
    }

    /// Seconds into the current appear/leave cycle at frame `index`; >= ACTIVE_S while the
    /// scene is empty.
    fn cycle_position(&self, index: u64) -> f64 {
        let t = index as f64 / f64::from(self.fps);
        match self.pattern {
            TestPattern::Cycle => t % CYCLE_S,
            TestPattern::Static => CYCLE_S,
            TestPattern::Moving => t % ACTIVE_S,
        }
    }

    /// The frame at `index` (deterministic).
    pub fn render(&self, index: u64) -> Frame {
        let mut data = self.background.clone();
        let in_cycle = self.cycle_position(index);
        if in_cycle < ACTIVE_S {
            let phase = in_cycle / ACTIVE_S;
            let (w, h) = (f64::from(self.width), f64::from(self.height));
            // A tall box walking left to right, like a person crossing the scene.
            let bw = w / 8.0;
            let bh = h * 0.4;
            let x0 = -bw + (w + bw) * phase;
            let y0 = h * 0.45;
            for y in (y0 as i64)..((y0 + bh) as i64) {
                self.span(&mut data, y, x0 as i64, (x0 + bw) as i64, BOX_COLOUR);
            }
            // A disc bouncing up and down on the right.
            let r = h / 10.0;
            let cx = w * 0.7;
            let cy = h * 0.4 + h * 0.2 * (phase * 4.0 * std::f64::consts::PI).sin();
            for y in ((cy - r) as i64)..=((cy + r) as i64) {
                let dy = y as f64 - cy;
                let half = (r * r - dy * dy).max(0.0).sqrt();
                self.span(
                    &mut data,
                    y,
                    (cx - half) as i64,
                    (cx + half) as i64,
                    DISC_COLOUR,
                );
            }
        }
        let stride = match self.format {
            PixelFormat::Yuyv => self.width as usize * 2,
            _ => self.width as usize,
        };
        Frame {
            format: self.format,
            width: self.width,
            height: self.height,
            planes: vec![Plane { data, stride }],
            timestamp: SystemTime::now(),
            sequence: index,
        }
    }

    fn render_background(&self) -> Vec<u8> {
        let (w, h) = (self.width as usize, self.height as usize);
        let luma = |x: usize, y: usize| -> u8 {
            let base = 50 + 110 * x / w + 50 * y / h;
            // 40-pixel checker so the scene has texture (edges) like a real one.
            let check = if (x / 40 + y / 40).is_multiple_of(2) {
                14
            } else {
                0
            };
            (base + check).min(235) as u8
        };
        let cb = |x: usize| -> u8 { (118 + 20 * x / w) as u8 };
        let cr = |y: usize| -> u8 { (122 + 14 * y / h) as u8 };
        match self.format {
            PixelFormat::Yuyv => {
                let mut buf = vec![0u8; w * h * 2];
                for y in 0..h {
                    for x in (0..w).step_by(2) {
                        let i = (y * w + x) * 2;
                        buf[i] = luma(x, y);
                        buf[i + 1] = cb(x);
                        buf[i + 2] = luma(x + 1, y);
                        buf[i + 3] = cr(y);
                    }
                }
                buf
            }
            _ => {
                let mut buf = vec![0u8; w * h * 3 / 2];
                for y in 0..h {
                    for x in 0..w {
                        buf[y * w + x] = luma(x, y);
                    }
                }
                for cy in 0..h / 2 {
                    for cx in 0..w / 2 {
                        let i = w * h + cy * w + cx * 2;
                        buf[i] = cb(cx * 2);
                        buf[i + 1] = cr(cy * 2);
                    }
                }
                buf
            }
        }
    }

    /// Fills row `y` from `x0` to `x1` (exclusive), clipped to the frame.
    fn span(&self, data: &mut [u8], y: i64, x0: i64, x1: i64, c: Yuv) {
        let (w, h) = (i64::from(self.width), i64::from(self.height));
        if y < 0 || y >= h {
            return;
        }
        let (x0, x1) = (x0.clamp(0, w) as usize, x1.clamp(0, w) as usize);
        let (w, y) = (w as usize, y as usize);
        match self.format {
            PixelFormat::Yuyv => {
                for x in x0..x1 {
                    let i = (y * w + x) * 2;
                    data[i] = c.0;
                    data[i + 1] = if x % 2 == 0 { c.1 } else { c.2 };
                }
            }
            _ => {
                data[y * w + x0..y * w + x1].fill(c.0);
                let row = w * self.height as usize + (y / 2) * w;
                for x in (x0 & !1..x1).step_by(2) {
                    data[row + x] = c.1;
                    data[row + x + 1] = c.2;
                }
            }
        }
    }
}

impl FrameSource for TestSource {
    fn open(&mut self) -> Result<(), CameraError> {
        self.pacer.reset();
        Ok(())
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Frame, CameraError> {
        match self.pacer.wait(timeout) {
            Some(index) => Ok(self.render(index)),
            None => Err(CameraError::Timeout {
                path: "testsrc:".to_string(),
                timeout,
            }),
        }
    }

    fn close(&mut self) {}

    fn describe(&self) -> String {
        let shapes = match self.pattern {
            TestPattern::Cycle => format!("shapes {ACTIVE_S}s of every {CYCLE_S}s"),
            TestPattern::Static => "static scene".to_string(),
            TestPattern::Moving => "shapes always moving".to_string(),
        };
        format!(
            "testsrc: synthetic {:?} {}x{} @ {} fps, {shapes}{}",
            self.format, self.width, self.height, self.fps, self.note
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(device: &str) -> TestSource {
        TestSource::new(&CameraConfig {
            device: device.into(),
            width: 64,
            height: 48,
            fps: 10,
            ..CameraConfig::default()
        })
    }

    #[test]
    fn static_pattern_never_changes_and_moving_never_pauses() {
        let still = source("testsrc:static");
        let cycle = source("testsrc:");
        let moving = source("testsrc:moving");
        // 0..240 covers two full 12 s cycles at 10 fps.
        for i in 0..240 {
            assert!(!still.shapes_visible(i), "static frame {i}");
            assert_eq!(
                still.render(i).planes[0].data,
                still.background,
                "frame {i}"
            );
            assert!(moving.shapes_visible(i), "moving frame {i}");
            assert_ne!(
                moving.render(i).planes[0].data,
                moving.render(i + 1).planes[0].data,
                "moving frames {i} and {}",
                i + 1
            );
        }
        // The default pattern pauses half of each cycle, and shows the same shapes as the
        // moving one during its active part.
        assert!(cycle.shapes_visible(10) && !cycle.shapes_visible(70));
        assert_eq!(
            cycle.render(10).planes[0].data,
            moving.render(10).planes[0].data
        );
        assert!(moving.describe().contains("shapes always moving"));
        assert!(still.describe().contains("static scene"));
    }

    #[test]
    fn pattern_names() {
        assert_eq!(TestPattern::from_device("testsrc:"), Ok(TestPattern::Cycle));
        assert_eq!(
            TestPattern::from_device("testsrc:static"),
            Ok(TestPattern::Static)
        );
        assert_eq!(
            TestPattern::from_device("testsrc:moving"),
            Ok(TestPattern::Moving)
        );
        let err = TestPattern::from_device("testsrc:Static").unwrap_err();
        assert!(
            err.starts_with("\"testsrc:Static\" is not a known synthetic camera"),
            "{err}"
        );
    }
}
