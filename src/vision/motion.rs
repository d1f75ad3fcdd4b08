//! Motion detection on a downscaled luma frame (about 100-200 px tall; the converter makes
//! it). Pure and allocation-free per frame once the buffers match the frame size.
//!
//! Per frame: box blur -> difference to a running-average background (minus the frame-wide
//! median shift, so auto-exposure drift does not count) -> threshold -> opening + a small
//! dilation -> connected components -> area filter. A change over most of the frame at once
//! is a lighting change (lamp, cloud, IR switch): the background is re-learned from the
//! frame and no motion is reported. The first `warmup_frames` frames only learn.

use crate::config::MotionConfig;
use crate::vision::GrayImage;
use std::time::Duration;

/// Fraction of changed pixels above which a change is treated as lighting, not motion.
pub const LIGHTING_FRACTION: f32 = 0.6;
/// Background time constant: at 10 fps this is the customary alpha of ~0.05 per frame, and
/// other frame rates adapt at the same speed in seconds.
const BACKGROUND_TAU_S: f32 = 2.0;
/// Inside moving areas the background still adapts, 10x slower, so an object that stops
/// (a parked car) becomes background after some tens of seconds.
const MOVING_ALPHA_FACTOR: f32 = 0.1;
/// A pause longer than this (camera reconnect, detector stall) makes the background stale.
const STALE_GAP: Duration = Duration::from_secs(30);
/// Blur radius in pixels (5x5 box): enough to flatten sensor noise at this scale.
const BLUR_RADIUS: usize = 2;
/// Most regions reported; the largest are kept.
const MAX_REGIONS: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MotionError {
    #[error(
        "motion frame {width}x{height} has {len} bytes but needs {expected}; pass the downscaled luma plane without row padding"
    )]
    BadBuffer {
        width: u32,
        height: u32,
        len: usize,
        expected: usize,
    },
    #[error("motion frame has zero size ({width}x{height}); the converter produced no luma")]
    Empty { width: u32, height: u32 },
}

/// What one frame showed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MotionResult {
    pub motion: bool,
    /// Moving areas, normalized [x1, y1, x2, y2] in 0..1, largest first.
    pub regions: Vec<[f32; 4]>,
    /// Fraction of pixels that differ from the background (after the global shift).
    pub changed_fraction: f32,
}

/// Motion detector state for one camera.
#[derive(Debug)]
pub struct MotionDetector {
    threshold: u8,
    min_area: f32,
    warmup_frames: u32,
    width: usize,
    height: usize,
    /// Frames seen since the last reset (learning while < warmup_frames).
    frames: u32,
    last_time: Option<Duration>,
    lighting_changes: u64,
    blur: Vec<u8>,
    tmp: Vec<u16>,
    background: Vec<f32>,
    /// The previous blurred frame: tells pixels that are moving now from "ghosts" (places
    /// where something left a still scene), which must adapt at the normal rate.
    prev: Vec<u8>,
    mask: Vec<u8>,
    mask_tmp: Vec<u8>,
    stack: Vec<u32>,
}

impl MotionDetector {
    pub fn new(cfg: &MotionConfig) -> Self {
        Self {
            threshold: cfg.threshold.max(1),
            min_area: cfg.min_area.max(0.0),
            warmup_frames: cfg.warmup_frames,
            width: 0,
            height: 0,
            frames: 0,
            last_time: None,
            lighting_changes: 0,
            blur: Vec::new(),
            tmp: Vec::new(),
            background: Vec::new(),
            prev: Vec::new(),
            mask: Vec::new(),
            mask_tmp: Vec::new(),
            stack: Vec::new(),
        }
    }

    /// How many lighting changes were suppressed since creation.
    pub fn lighting_changes(&self) -> u64 {
        self.lighting_changes
    }

    /// True while the background is still being learned.
    pub fn warming_up(&self) -> bool {
        self.frames < self.warmup_frames
    }

    /// Forgets the background; the next frames warm up again.
    pub fn reset(&mut self) {
        self.frames = 0;
        self.last_time = None;
    }

    /// Processes one frame taken at monotonic time `now`.
    pub fn detect(
        &mut self,
        frame: &GrayImage,
        now: Duration,
    ) -> Result<MotionResult, MotionError> {
        let (w, h) = (frame.width as usize, frame.height as usize);
        if w == 0 || h == 0 {
            return Err(MotionError::Empty {
                width: frame.width,
                height: frame.height,
            });
        }
        let n = w * h;
        if frame.data.len() < n {
            return Err(MotionError::BadBuffer {
                width: frame.width,
                height: frame.height,
                len: frame.data.len(),
                expected: n,
            });
        }
        if w != self.width || h != self.height {
            self.resize(w, h);
        }
        let dt = match self.last_time {
            Some(prev) => now.saturating_sub(prev),
            None => Duration::ZERO,
        };
        if dt > STALE_GAP {
            self.frames = 0;
        }
        self.last_time = Some(now);

        box_blur(&frame.data[..n], w, h, &mut self.tmp, &mut self.blur);
        let result = self.detect_blurred(n, dt);
        self.prev.copy_from_slice(&self.blur[..n]);
        result
    }

    /// The rest of `detect`, on the blurred frame in `self.blur` (and the previous one in
    /// `self.prev`).
    fn detect_blurred(&mut self, n: usize, dt: Duration) -> Result<MotionResult, MotionError> {
        let (w, h) = (self.width, self.height);

        if self.frames == 0 {
            for (b, &p) in self.background.iter_mut().zip(&self.blur) {
                *b = f32::from(p);
            }
            self.frames = 1;
            return Ok(MotionResult::default());
        }
        // Learning: a cumulative mean first, so the warm-up ends with a settled background.
        let time_alpha = (1.0 - (-dt.as_secs_f32() / BACKGROUND_TAU_S).exp()).clamp(0.01, 0.5);
        if self.frames < self.warmup_frames {
            let alpha = (1.0 / (self.frames as f32 + 1.0)).max(time_alpha);
            for (b, &p) in self.background.iter_mut().zip(&self.blur) {
                *b += alpha * (f32::from(p) - *b);
            }
            self.frames += 1;
            return Ok(MotionResult::default());
        }
        self.frames = self.frames.saturating_add(1);

        let threshold = i32::from(self.threshold);
        let (raw_changed, shift) = self.diff_stats(threshold);
        let raw_fraction = raw_changed as f32 / n as f32;
        if raw_fraction > LIGHTING_FRACTION {
            // The scene's lighting changed: start over from this frame instead of firing.
            for (b, &p) in self.background.iter_mut().zip(&self.blur) {
                *b = f32::from(p);
            }
            self.lighting_changes += 1;
            return Ok(MotionResult {
                motion: false,
                regions: Vec::new(),
                changed_fraction: raw_fraction,
            });
        }

        let mut changed = 0usize;
        for ((m, &p), &b) in self.mask.iter_mut().zip(&self.blur).zip(&self.background) {
            let d = (i32::from(p) - b as i32 - shift).abs();
            let on = d > threshold;
            *m = u8::from(on);
            changed += usize::from(on);
        }
        let changed_fraction = changed as f32 / n as f32;

        // Opening removes speckles; the wider dilation joins the fragments of one body.
        morph(&mut self.mask, &mut self.mask_tmp, w, h, 1, false);
        morph(&mut self.mask, &mut self.mask_tmp, w, h, 2, true);

        // Slow adaptation only where something is changing from frame to frame; a ghost
        // (the background revealed after an object left) is still between frames and is
        // learned at the normal rate, otherwise it would keep "moving" for tens of seconds.
        let still = threshold / 2;
        for (((b, &p), &m), &q) in self
            .background
            .iter_mut()
            .zip(&self.blur)
            .zip(&self.mask)
            .zip(&self.prev)
        {
            let moving_now = m != 0 && (i32::from(p) - i32::from(q)).abs() > still;
            let a = if moving_now {
                time_alpha * MOVING_ALPHA_FACTOR
            } else {
                time_alpha
            };
            *b += a * (f32::from(p) - *b);
        }

        let min_pixels = ((self.min_area * n as f32).ceil() as usize).max(1);
        let regions = self.components(min_pixels);
        Ok(MotionResult {
            motion: !regions.is_empty(),
            regions,
            changed_fraction,
        })
    }

    fn resize(&mut self, w: usize, h: usize) {
        let n = w * h;
        self.width = w;
        self.height = h;
        self.blur.resize(n, 0);
        self.tmp.resize(n, 0);
        self.background.resize(n, 0.0);
        self.prev.resize(n, 0);
        self.mask.resize(n, 0);
        self.mask_tmp.resize(n, 0);
        self.frames = 0;
    }

    /// Returns the number of pixels over the threshold before compensation, and the median
    /// of (frame - background): the frame-wide brightness shift.
    fn diff_stats(&self, threshold: i32) -> (usize, i32) {
        let mut hist = [0u32; 511];
        let mut changed = 0usize;
        for (&p, &b) in self.blur.iter().zip(&self.background) {
            let d = i32::from(p) - b as i32;
            changed += usize::from(d.abs() > threshold);
            hist[(d + 255) as usize] += 1;
        }
        let half = (self.blur.len() as u32).div_ceil(2);
        let mut acc = 0u32;
        for (i, &c) in hist.iter().enumerate() {
            acc += c;
            if acc >= half {
                return (changed, i as i32 - 255);
            }
        }
        (changed, 0)
    }

    /// 8-connected components of the mask with at least `min_pixels` pixels, as normalized
    /// boxes, largest first. Marks visited pixels with 2.
    fn components(&mut self, min_pixels: usize) -> Vec<[f32; 4]> {
        let (w, h) = (self.width, self.height);
        let mut found: Vec<(usize, [f32; 4])> = Vec::new();
        for start in 0..w * h {
            if self.mask[start] != 1 {
                continue;
            }
            self.mask[start] = 2;
            self.stack.clear();
            self.stack.push(start as u32);
            let (mut x1, mut y1, mut x2, mut y2) = (w, h, 0usize, 0usize);
            let mut area = 0usize;
            while let Some(i) = self.stack.pop() {
                let i = i as usize;
                let (x, y) = (i % w, i / w);
                area += 1;
                x1 = x1.min(x);
                x2 = x2.max(x);
                y1 = y1.min(y);
                y2 = y2.max(y);
                for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                    for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                        let j = ny * w + nx;
                        if self.mask[j] == 1 {
                            self.mask[j] = 2;
                            self.stack.push(j as u32);
                        }
                    }
                }
            }
            if area >= min_pixels {
                let r = [
                    x1 as f32 / w as f32,
                    y1 as f32 / h as f32,
                    (x2 + 1) as f32 / w as f32,
                    (y2 + 1) as f32 / h as f32,
                ];
                found.push((area, r));
            }
        }
        found.sort_by_key(|f| std::cmp::Reverse(f.0));
        found.truncate(MAX_REGIONS);
        found.into_iter().map(|(_, r)| r).collect()
    }
}

/// Separable box blur; near the edges it averages the pixels inside the frame only (edge
/// replication would weigh a corner pixel 9 times). `tmp` holds the horizontal sums.
fn box_blur(src: &[u8], w: usize, h: usize, tmp: &mut [u16], dst: &mut [u8]) {
    let r = BLUR_RADIUS;
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        let out = &mut tmp[y * w..(y + 1) * w];
        for (x, o) in out.iter_mut().enumerate() {
            let win = &row[x.saturating_sub(r)..=(x + r).min(w - 1)];
            *o = win.iter().map(|&v| u16::from(v)).sum();
        }
    }
    for y in 0..h {
        let (lo, hi) = (y.saturating_sub(r), (y + r).min(h - 1));
        for x in 0..w {
            let cols = ((x + r).min(w - 1) - x.saturating_sub(r) + 1) as u32;
            let count = cols * (hi - lo + 1) as u32;
            let mut s = 0u32;
            for yi in lo..=hi {
                s += u32::from(tmp[yi * w + x]);
            }
            dst[y * w + x] = ((s + count / 2) / count) as u8;
        }
    }
}

/// Binary erosion (`dilate = false`) or dilation with a square of radius `r`, separable.
fn morph(mask: &mut [u8], tmp: &mut [u8], w: usize, h: usize, r: usize, dilate: bool) {
    for y in 0..h {
        let row = &mask[y * w..(y + 1) * w];
        let out = &mut tmp[y * w..(y + 1) * w];
        for (x, o) in out.iter_mut().enumerate() {
            let lo = x.saturating_sub(r);
            let hi = (x + r).min(w - 1);
            let win = &row[lo..=hi];
            *o = if dilate {
                u8::from(win.iter().any(|&v| v != 0))
            } else {
                u8::from(win.iter().all(|&v| v != 0))
            };
        }
    }
    for y in 0..h {
        let lo = y.saturating_sub(r);
        let hi = (y + r).min(h - 1);
        for x in 0..w {
            let mut any = false;
            let mut all = true;
            for yi in lo..=hi {
                let v = tmp[yi * w + x] != 0;
                any |= v;
                all &= v;
            }
            mask[y * w + x] = u8::from(if dilate { any } else { all });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> MotionConfig {
        MotionConfig {
            warmup_frames: 5,
            ..MotionConfig::default()
        }
    }

    fn flat(w: u32, h: u32, v: u8) -> GrayImage {
        GrayImage {
            width: w,
            height: h,
            data: vec![v; (w * h) as usize],
        }
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn bad_buffer_is_rejected_with_size_in_message() {
        let mut m = MotionDetector::new(&cfg());
        let frame = GrayImage {
            width: 10,
            height: 10,
            data: vec![0; 50],
        };
        let err = m.detect(&frame, ms(0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "motion frame 10x10 has 50 bytes but needs 100; pass the downscaled luma plane without row padding"
        );
        let err = m.detect(&flat(0, 5, 0), ms(0)).unwrap_err();
        assert!(err.to_string().contains("zero size (0x5)"), "{err}");
    }

    #[test]
    fn warm_up_reports_nothing_even_for_a_change() {
        let mut m = MotionDetector::new(&cfg());
        let mut f = flat(64, 48, 50);
        for i in 0..4 {
            assert!(!m.detect(&f, ms(i * 100)).unwrap().motion);
        }
        f.data[..500].fill(200);
        assert!(
            !m.detect(&f, ms(400)).unwrap().motion,
            "frame 5 is still warm-up"
        );
        assert!(!m.warming_up());
    }

    #[test]
    fn size_change_restarts_warm_up() {
        let mut m = MotionDetector::new(&cfg());
        for i in 0..10 {
            m.detect(&flat(64, 48, 50), ms(i * 100)).unwrap();
        }
        assert!(!m.warming_up());
        let mut f = flat(80, 60, 50);
        f.data[..800].fill(220);
        assert!(!m.detect(&f, ms(1100)).unwrap().motion);
        assert!(m.warming_up());
    }

    #[test]
    fn uniform_brightness_jump_is_lighting() {
        let mut m = MotionDetector::new(&cfg());
        for i in 0..10 {
            m.detect(&flat(64, 48, 100), ms(i * 100)).unwrap();
        }
        let r = m.detect(&flat(64, 48, 130), ms(1000)).unwrap();
        assert!(!r.motion);
        assert!(r.changed_fraction > 0.99, "{r:?}");
        assert_eq!(m.lighting_changes(), 1);
        // The background was re-learned: the brighter scene is now quiet.
        let r = m.detect(&flat(64, 48, 130), ms(1100)).unwrap();
        assert!(!r.motion && r.changed_fraction == 0.0, "{r:?}");
    }

    #[test]
    fn uneven_exposure_shift_is_compensated_by_the_median() {
        let mut m = MotionDetector::new(&cfg());
        for i in 0..10 {
            m.detect(&flat(64, 48, 100), ms(i * 100)).unwrap();
        }
        // Auto-exposure brightens dark and bright areas differently: 55% of the frame by
        // 20 (under the threshold), 45% by 34 (over it, but not a lighting-sized change).
        let mut f = flat(64, 48, 120);
        for row in f.data.chunks_mut(64) {
            row[35..].fill(134);
        }
        let r = m.detect(&f, ms(1000)).unwrap();
        assert!(!r.motion, "{r:?}");
        assert_eq!(m.lighting_changes(), 0);
    }

    #[test]
    fn small_speckles_are_not_motion() {
        let mut m = MotionDetector::new(&cfg());
        for i in 0..10 {
            m.detect(&flat(64, 48, 100), ms(i * 100)).unwrap();
        }
        let mut f = flat(64, 48, 100);
        // Isolated single bright pixels: removed by the blur and the opening.
        for i in (0..f.data.len()).step_by(97) {
            f.data[i] = 255;
        }
        let r = m.detect(&f, ms(1000)).unwrap();
        assert!(!r.motion, "{r:?}");
    }
}
