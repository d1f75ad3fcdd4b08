//! Format negotiation: picks the advertised capture mode closest to what the camera's config
//! asks for. Pure: the V4L2 sources enumerate modes, call [`choose_mode`], then set the result.
//!
//! How "closest" is judged, in order of weight:
//! 1. size: the exact size wins; otherwise a slightly larger mode beats a smaller one (a
//!    smaller frame loses detail for detection, a larger one only costs a downscale);
//! 2. frame rate: a mode that cannot reach the requested fps is penalised by the shortfall;
//! 3. pixel format: raw YUV is cheapest to use (no decode), MJPEG next. When several USB
//!    cameras share one bus, raw YUV at 720p saturates USB 2.0, so `prefer_mjpeg` restricts
//!    the choice to MJPEG whenever the camera offers it.

use super::PixelFormat;
use std::fmt;

/// A frame interval (seconds per frame) as a fraction; fps = den / num.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub num: u32,
    pub den: u32,
}

impl Interval {
    /// The interval of `fps` frames per second.
    pub fn from_fps(fps: u32) -> Self {
        Interval {
            num: 1,
            den: fps.max(1),
        }
    }

    pub fn fps(self) -> f64 {
        if self.num == 0 {
            0.0
        } else {
            f64::from(self.den) / f64::from(self.num)
        }
    }
}

/// Frame sizes a format supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sizes {
    Discrete(Vec<(u32, u32)>),
    /// Any size in the range on the step grid (continuous drivers report step 1).
    Stepwise {
        min_w: u32,
        max_w: u32,
        step_w: u32,
        min_h: u32,
        max_h: u32,
        step_h: u32,
    },
}

/// Frame rates a (format, size) supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rates {
    Discrete(Vec<Interval>),
    /// Any interval between `min` (fastest) and `max` (slowest).
    Stepwise {
        min: Interval,
        max: Interval,
    },
    /// The driver does not enumerate intervals (common on CSI nodes); ask and see.
    Unknown,
}

/// One concrete advertised mode: a format at one size with its frame rates.
#[derive(Debug, Clone, PartialEq)]
pub struct Mode {
    pub fourcc: [u8; 4],
    pub width: u32,
    pub height: u32,
    pub rates: Rates,
}

/// What the config asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `None` for `format = "auto"`.
    pub fourcc: Option<[u8; 4]>,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Several USB cameras share this camera's bus: use MJPEG when offered.
    pub prefer_mjpeg: bool,
}

impl Request {
    /// Parses the config's `format` value (`auto` or a fourcc such as `MJPG`).
    pub fn new(format: &str, width: u32, height: u32, fps: u32, prefer_mjpeg: bool) -> Self {
        let f = format.trim();
        let upper = f.to_ascii_uppercase();
        // Common spellings people write instead of the fourcc.
        let f = match upper.as_str() {
            "MJPEG" | "JPEG" => "MJPG",
            "RGB" | "RGB24" => "RGB3",
            "GRAY" | "GRAY8" | "Y8" => "GREY",
            other => other,
        };
        let fourcc = if f.is_empty() || f == "AUTO" {
            None
        } else {
            // Fourccs are case-sensitive in general, but every one we support is upper case.
            let mut code = [b' '; 4];
            for (dst, src) in code.iter_mut().zip(f.bytes()) {
                *dst = src;
            }
            Some(code)
        };
        Request {
            fourcc,
            width: width.max(1),
            height: height.max(1),
            fps: fps.max(1),
            prefer_mjpeg,
        }
    }
}

/// The chosen mode, with notes on where it differs from the request (for the log).
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub fourcc: [u8; 4],
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    /// Interval to request with S_PARM.
    pub interval: Interval,
    pub notes: Vec<String>,
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}x{} @ {:.1} fps",
            fourcc_str(&self.fourcc),
            self.width,
            self.height,
            self.interval.fps()
        )?;
        if !self.notes.is_empty() {
            write!(f, " ({})", self.notes.join("; "))?;
        }
        Ok(())
    }
}

/// Printable fourcc ("MJPG"); non-printable bytes shown as '?'.
pub fn fourcc_str(code: &[u8; 4]) -> String {
    code.iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// Why no mode could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiateError {
    #[error(
        "the device offers no pixel format gozcu can use (it offers: {offered}); supported: MJPG, YUYV, NV12, NV16, RGB3, GREY"
    )]
    NoUsableFormat { offered: String },
}

/// Maps a fourcc (including the two-plane variants NM12/NM16) to the pipeline's format.
pub fn pixel_format_of(code: &[u8; 4]) -> Option<PixelFormat> {
    match code {
        b"NM12" => Some(PixelFormat::Nv12),
        b"NM16" => Some(PixelFormat::Nv16),
        _ => PixelFormat::from_fourcc(code),
    }
}

/// Cost rank of a format when the config says `auto` (lower is preferred).
fn format_rank(code: &[u8; 4]) -> u32 {
    match pixel_format_of(code) {
        Some(PixelFormat::Nv12) => 0,
        Some(PixelFormat::Yuyv) => 1,
        Some(PixelFormat::Nv16) => 2,
        Some(PixelFormat::Mjpeg) => 3,
        Some(PixelFormat::Rgb24) => 4,
        Some(PixelFormat::Gray) => 5,
        None => 100,
    }
}

/// Chooses the closest mode to `req` among `modes`.
pub fn choose_mode(modes: &[Mode], req: &Request) -> Result<Choice, NegotiateError> {
    let usable: Vec<&Mode> = modes
        .iter()
        .filter(|m| pixel_format_of(&m.fourcc).is_some())
        .collect();
    if usable.is_empty() {
        let mut offered: Vec<String> = modes.iter().map(|m| fourcc_str(&m.fourcc)).collect();
        offered.dedup();
        let offered = if offered.is_empty() {
            "nothing".to_string()
        } else {
            offered.join(", ")
        };
        return Err(NegotiateError::NoUsableFormat { offered });
    }
    let mut notes = Vec::new();
    let mut candidates = usable.clone();
    if let Some(code) = req.fourcc {
        let same: Vec<&Mode> = usable
            .iter()
            .copied()
            .filter(|m| m.fourcc == code)
            .collect();
        if same.is_empty() {
            notes.push(format!(
                "format {} not offered, chose the closest other",
                fourcc_str(&code)
            ));
        } else {
            candidates = same;
        }
    } else if req.prefer_mjpeg {
        let mjpeg: Vec<&Mode> = usable
            .iter()
            .copied()
            .filter(|m| pixel_format_of(&m.fourcc) == Some(PixelFormat::Mjpeg))
            .collect();
        if !mjpeg.is_empty() {
            notes.push("MJPEG preferred: other USB cameras share this bus".to_string());
            candidates = mjpeg;
        }
    }

    let mut best: Option<(f64, &Mode, (u32, u32), Interval)> = None;
    for m in candidates {
        let (w, h) = (m.width, m.height);
        let (interval, fps) = pick_interval(&m.rates, req.fps);
        let shortfall = if fps + 0.01 < f64::from(req.fps) {
            (f64::from(req.fps) - fps) / f64::from(req.fps)
        } else {
            0.0
        };
        let cost =
            size_cost(w, h, req) + 1.5 * shortfall + 0.05 * f64::from(format_rank(&m.fourcc));
        if best.as_ref().is_none_or(|(c, ..)| cost < *c) {
            best = Some((cost, m, (w, h), interval));
        }
    }
    // `candidates` is non-empty, so `best` is set; fall back defensively all the same.
    let Some((_, mode, (width, height), interval)) = best else {
        return Err(NegotiateError::NoUsableFormat {
            offered: "nothing".to_string(),
        });
    };
    if (width, height) != (req.width, req.height) {
        notes.push(format!("{}x{} not offered", req.width, req.height));
    }
    if interval.fps() + 0.01 < f64::from(req.fps) {
        notes.push(format!("{} fps not reachable in this mode", req.fps));
    }
    let format = pixel_format_of(&mode.fourcc).unwrap_or(PixelFormat::Mjpeg);
    Ok(Choice {
        fourcc: mode.fourcc,
        format,
        width,
        height,
        interval,
        notes,
    })
}

/// Expands stepwise sizes into the concrete size nearest the request (clamped and snapped
/// to the step grid), so negotiation only ever compares concrete modes.
pub fn expand_sizes(sizes: &Sizes, req: &Request) -> Vec<(u32, u32)> {
    match sizes {
        Sizes::Discrete(list) => list.clone(),
        Sizes::Stepwise {
            min_w,
            max_w,
            step_w,
            min_h,
            max_h,
            step_h,
        } => {
            let snap = |v: u32, lo: u32, hi: u32, step: u32| -> u32 {
                let v = v.clamp(lo, hi.max(lo));
                let step = step.max(1);
                let k = (v - lo).div_ceil(step);
                (lo + k * step).min(hi.max(lo))
            };
            vec![(
                snap(req.width, *min_w, *max_w, *step_w),
                snap(req.height, *min_h, *max_h, *step_h),
            )]
        }
    }
}

/// Size distance: 0 for exact; a larger mode costs its extra area, a smaller one twice its
/// missing area (inverse ratio), plus a little for a different aspect ratio.
fn size_cost(w: u32, h: u32, req: &Request) -> f64 {
    if (w, h) == (req.width, req.height) {
        return 0.0;
    }
    let area = f64::from(w.max(1)) * f64::from(h.max(1));
    let want = f64::from(req.width) * f64::from(req.height);
    let aspect = (f64::from(w.max(1)) / f64::from(h.max(1)))
        / (f64::from(req.width) / f64::from(req.height));
    let aspect_cost = 0.2 * aspect.ln().abs();
    let area_cost = if w >= req.width && h >= req.height {
        area / want - 1.0
    } else {
        2.0 * (want / area - 1.0).max(0.05)
    };
    area_cost + aspect_cost + 0.001
}

/// The interval to ask for and the fps it gives: the slowest rate that still reaches the
/// requested fps, else the fastest available.
fn pick_interval(rates: &Rates, fps: u32) -> (Interval, f64) {
    let want = f64::from(fps);
    match rates {
        Rates::Discrete(list) if !list.is_empty() => {
            let reaching = list
                .iter()
                .filter(|i| i.fps() + 0.01 >= want)
                .min_by(|a, b| a.fps().total_cmp(&b.fps()));
            let chosen = reaching
                .or_else(|| list.iter().max_by(|a, b| a.fps().total_cmp(&b.fps())))
                .copied()
                .unwrap_or(Interval::from_fps(fps));
            (chosen, chosen.fps())
        }
        Rates::Stepwise { min, max } => {
            let (fast, slow) = (min.fps(), max.fps());
            let f = want.clamp(slow.min(fast), fast.max(slow));
            if (f - want).abs() < 0.01 {
                (Interval::from_fps(fps), want)
            } else if f >= fast - 0.01 {
                (*min, fast)
            } else {
                (*max, slow)
            }
        }
        _ => (Interval::from_fps(fps), want),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(fourcc: &[u8; 4], w: u32, h: u32, fps: &[u32]) -> Mode {
        Mode {
            fourcc: *fourcc,
            width: w,
            height: h,
            rates: Rates::Discrete(fps.iter().map(|&f| Interval::from_fps(f)).collect()),
        }
    }

    /// A typical USB webcam: YUYV only fast at small sizes, MJPEG fast everywhere.
    fn webcam() -> Vec<Mode> {
        vec![
            mode(b"YUYV", 640, 480, &[30, 15]),
            mode(b"YUYV", 1280, 720, &[10, 5]),
            mode(b"YUYV", 1920, 1080, &[5]),
            mode(b"MJPG", 640, 480, &[30, 15]),
            mode(b"MJPG", 1280, 720, &[30, 15]),
            mode(b"MJPG", 1920, 1080, &[30, 15]),
        ]
    }

    #[test]
    fn exact_mode_in_raw_yuv_when_it_reaches_the_fps() {
        let c = choose_mode(&webcam(), &Request::new("auto", 640, 480, 15, false)).unwrap();
        assert_eq!(&c.fourcc, b"YUYV");
        assert_eq!((c.width, c.height), (640, 480));
        assert_eq!(c.interval, Interval::from_fps(15));
        assert!(c.notes.is_empty(), "{:?}", c.notes);
    }

    #[test]
    fn mjpeg_when_raw_cannot_reach_the_fps() {
        let c = choose_mode(&webcam(), &Request::new("auto", 1280, 720, 15, false)).unwrap();
        assert_eq!(&c.fourcc, b"MJPG");
        assert_eq!(
            (c.width, c.height, c.interval.fps() as u32),
            (1280, 720, 15)
        );
    }

    #[test]
    fn prefer_mjpeg_on_a_shared_bus() {
        let c = choose_mode(&webcam(), &Request::new("auto", 640, 480, 15, true)).unwrap();
        assert_eq!(&c.fourcc, b"MJPG");
        assert!(
            c.notes.iter().any(|n| n.contains("share this bus")),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn explicit_format_is_honoured_even_when_slower() {
        let c = choose_mode(&webcam(), &Request::new("yuyv", 1280, 720, 15, true)).unwrap();
        assert_eq!(&c.fourcc, b"YUYV");
        assert_eq!(c.interval, Interval::from_fps(10));
        assert!(c.notes.iter().any(|n| n.contains("15 fps not reachable")));
    }

    #[test]
    fn unknown_explicit_format_falls_back_with_a_note() {
        let c = choose_mode(&webcam(), &Request::new("NV12", 640, 480, 15, false)).unwrap();
        assert_eq!(&c.fourcc, b"YUYV");
        assert!(
            c.notes[0].contains("format NV12 not offered"),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn larger_size_beats_smaller_when_exact_is_missing() {
        let modes = vec![
            mode(b"YUYV", 640, 360, &[30]),
            mode(b"YUYV", 1920, 1080, &[30]),
        ];
        let c = choose_mode(&modes, &Request::new("auto", 1280, 720, 15, false)).unwrap();
        assert_eq!((c.width, c.height), (1920, 1080));
        assert!(c.notes.iter().any(|n| n.contains("1280x720 not offered")));
        // ...but a much closer smaller one is still not preferred over an exact one.
        let modes = vec![
            mode(b"YUYV", 1280, 720, &[30]),
            mode(b"NV12", 1280, 704, &[30]),
        ];
        let c = choose_mode(&modes, &Request::new("auto", 1280, 720, 15, false)).unwrap();
        assert_eq!((&c.fourcc, c.width, c.height), (b"YUYV", 1280, 720));
    }

    #[test]
    fn exact_size_at_lower_fps_beats_a_much_smaller_fast_mode() {
        let modes = vec![
            mode(b"YUYV", 1280, 720, &[10]),
            mode(b"YUYV", 320, 240, &[30]),
        ];
        let c = choose_mode(&modes, &Request::new("auto", 1280, 720, 15, false)).unwrap();
        assert_eq!(
            (c.width, c.height, c.interval.fps() as u32),
            (1280, 720, 10)
        );
    }

    #[test]
    fn slowest_rate_that_reaches_the_request() {
        let modes = vec![mode(b"NV12", 1920, 1080, &[60, 30, 25, 10])];
        let c = choose_mode(&modes, &Request::new("auto", 1920, 1080, 20, false)).unwrap();
        assert_eq!(c.interval, Interval::from_fps(25));
    }

    #[test]
    fn stepwise_sizes_snap_to_the_grid_and_unknown_rates_ask_for_the_request() {
        let req = Request::new("auto", 1280, 722, 15, false);
        let sizes = Sizes::Stepwise {
            min_w: 32,
            max_w: 4096,
            step_w: 8,
            min_h: 32,
            max_h: 2160,
            step_h: 8,
        };
        let modes: Vec<Mode> = expand_sizes(&sizes, &req)
            .into_iter()
            .map(|(w, h)| Mode {
                fourcc: *b"NV12",
                width: w,
                height: h,
                rates: Rates::Unknown,
            })
            .collect();
        let c = choose_mode(&modes, &req).unwrap();
        assert_eq!((c.width, c.height), (1280, 728));
        assert_eq!(c.interval, Interval::from_fps(15));
    }

    #[test]
    fn stepwise_rates_clamp() {
        let modes = vec![Mode {
            fourcc: *b"YUYV",
            width: 640,
            height: 480,
            rates: Rates::Stepwise {
                min: Interval { num: 1, den: 20 },
                max: Interval { num: 1, den: 1 },
            },
        }];
        let c = choose_mode(&modes, &Request::new("auto", 640, 480, 30, false)).unwrap();
        assert_eq!(c.interval, Interval { num: 1, den: 20 });
        let c = choose_mode(&modes, &Request::new("auto", 640, 480, 12, false)).unwrap();
        assert_eq!(c.interval, Interval::from_fps(12));
    }

    #[test]
    fn no_usable_format_names_what_is_offered() {
        let modes = vec![
            mode(b"H264", 1920, 1080, &[30]),
            mode(b"Y10 ", 640, 480, &[30]),
        ];
        let err = choose_mode(&modes, &Request::new("auto", 640, 480, 15, false)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("offers: H264, Y10"), "{msg}");
        assert!(msg.contains("supported: MJPG, YUYV"), "{msg}");
    }

    #[test]
    fn format_spellings() {
        let code = |f: &str| Request::new(f, 1, 1, 1, false).fourcc;
        assert_eq!(code("auto"), None);
        assert_eq!(code(""), None);
        assert_eq!(code("mjpeg"), Some(*b"MJPG"));
        assert_eq!(code("yuyv"), Some(*b"YUYV"));
        assert_eq!(code("RGB24"), Some(*b"RGB3"));
        assert_eq!(code("gray"), Some(*b"GREY"));
    }

    #[test]
    fn two_plane_variants_map_to_nv12_and_nv16() {
        assert_eq!(pixel_format_of(b"NM12"), Some(PixelFormat::Nv12));
        assert_eq!(pixel_format_of(b"NM16"), Some(PixelFormat::Nv16));
        assert_eq!(fourcc_str(b"Y10 "), "Y10");
    }
}
