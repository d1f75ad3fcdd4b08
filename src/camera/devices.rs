//! `gozcu devices`: lists every V4L2 node with driver, card, bus, single- or multi-planar,
//! formats, sizes and frame rates, its stable /dev/v4l symlinks, and a ready-to-paste
//! `[[cameras]]` block. Enumeration returns plain data ([`enumerate`]); rendering is a pure
//! function of it, so both are testable (and the VM suite can call them).

use super::negotiate::{
    Mode, Rates, Request, Sizes, choose_mode, expand_sizes, fourcc_str, pixel_format_of,
};
use super::v4l2::{self, BUF_TYPE_CAPTURE, BUF_TYPE_CAPTURE_MPLANE};
use std::fmt::Write as _;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// What kind of node this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    SinglePlanar,
    MultiPlanar,
    /// UVC metadata nodes and the like: no video capture.
    MetadataOnly,
    /// Output, m2m codec or other non-capture node.
    NotCapture,
}

/// One format with its sizes and rates.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatInfo {
    pub fourcc: [u8; 4],
    pub description: String,
    /// gozcu can capture this format.
    pub usable: bool,
    pub sizes: Option<Sizes>,
    /// Rates per discrete size (empty for stepwise sizes).
    pub rates: Vec<((u32, u32), Rates)>,
}

/// One /dev/video* node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    pub path: PathBuf,
    pub kind: NodeKind,
    pub driver: String,
    pub card: String,
    pub bus: String,
    pub formats: Vec<FormatInfo>,
    /// /dev/v4l/by-id and by-path links that point at this node.
    pub links: Vec<PathBuf>,
    /// Why the node could not be queried (e.g. permission denied).
    pub error: Option<String>,
}

/// The number in `video12`, for natural sorting.
fn node_number(p: &Path) -> u64 {
    p.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("video"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX)
}

/// Every `video*` node in `/dev`, queried.
pub fn enumerate() -> Vec<NodeInfo> {
    enumerate_in(Path::new("/dev"))
}

/// Every `video*` node in `dev_dir` (sorted by number), with links from `dev_dir/v4l`.
pub fn enumerate_in(dev_dir: &Path) -> Vec<NodeInfo> {
    let mut nodes: Vec<PathBuf> = std::fs::read_dir(dev_dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| node_number(p) != u64::MAX)
                .collect()
        })
        .unwrap_or_default();
    nodes.sort_by_key(|p| node_number(p));
    let links = stable_links(&dev_dir.join("v4l"));
    nodes
        .into_iter()
        .map(|p| {
            let mut info = inspect(&p);
            let real = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
            info.links = links
                .iter()
                .filter(|(_, target)| *target == real)
                .map(|(link, _)| link.clone())
                .collect();
            info
        })
        .collect()
}

/// (link, resolved target) for everything under `<v4l>/by-id` and `<v4l>/by-path`.
fn stable_links(v4l: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for sub in ["by-id", "by-path"] {
        let Ok(rd) = std::fs::read_dir(v4l.join(sub)) else {
            continue;
        };
        for e in rd.flatten() {
            if let Ok(target) = std::fs::canonicalize(e.path()) {
                out.push((e.path(), target));
            }
        }
    }
    out.sort();
    out
}

/// Queries one node.
pub fn inspect(path: &Path) -> NodeInfo {
    let mut info = NodeInfo {
        path: path.to_path_buf(),
        kind: NodeKind::NotCapture,
        driver: String::new(),
        card: String::new(),
        bus: String::new(),
        formats: Vec::new(),
        links: Vec::new(),
        error: None,
    };
    let fd = match v4l2::open_device(path) {
        Ok(fd) => fd,
        Err(e) => {
            info.error = Some(format!("cannot open: {e}"));
            return info;
        }
    };
    let caps = match v4l2::query_caps(fd.as_fd()) {
        Ok(c) => c,
        Err(e) => {
            info.error = Some(format!("not a V4L2 device: {e}"));
            return info;
        }
    };
    info.driver = caps.driver.clone();
    info.card = caps.card.clone();
    info.bus = caps.bus.clone();
    info.kind = if caps.single_planar() {
        NodeKind::SinglePlanar
    } else if caps.multi_planar() {
        NodeKind::MultiPlanar
    } else if caps.metadata() {
        NodeKind::MetadataOnly
    } else {
        NodeKind::NotCapture
    };
    let buf_type = match info.kind {
        NodeKind::SinglePlanar => BUF_TYPE_CAPTURE,
        NodeKind::MultiPlanar => BUF_TYPE_CAPTURE_MPLANE,
        _ => return info,
    };
    match v4l2::enum_formats(fd.as_fd(), buf_type) {
        Ok(formats) => {
            for f in formats {
                let sizes = v4l2::enum_sizes(fd.as_fd(), f.fourcc);
                let rates = match &sizes {
                    Some(Sizes::Discrete(list)) => list
                        .iter()
                        .map(|&(w, h)| ((w, h), v4l2::enum_rates(fd.as_fd(), f.fourcc, w, h)))
                        .collect(),
                    _ => Vec::new(),
                };
                info.formats.push(FormatInfo {
                    usable: pixel_format_of(&f.fourcc).is_some(),
                    fourcc: f.fourcc,
                    description: f.description,
                    sizes,
                    rates,
                });
            }
        }
        Err(e) => info.error = Some(format!("cannot list formats: {e}")),
    }
    info
}

fn rates_text(r: &Rates) -> String {
    match r {
        Rates::Discrete(list) => {
            let mut fps: Vec<String> = list.iter().map(|i| trim_fps(i.fps())).collect();
            fps.dedup();
            format!("{} fps", fps.join(", "))
        }
        Rates::Stepwise { min, max } => {
            format!("{}-{} fps", trim_fps(max.fps()), trim_fps(min.fps()))
        }
        Rates::Unknown => "fps not enumerated".to_string(),
    }
}

fn trim_fps(f: f64) -> String {
    if (f - f.round()).abs() < 0.01 {
        format!("{}", f.round() as i64)
    } else {
        format!("{f:.2}")
    }
}

/// Concrete modes of a node, for suggesting a config.
fn modes_of(node: &NodeInfo, req: &Request) -> Vec<Mode> {
    let mut modes = Vec::new();
    for f in node.formats.iter().filter(|f| f.usable) {
        match &f.sizes {
            Some(Sizes::Discrete(_)) => {
                for ((w, h), rates) in &f.rates {
                    modes.push(Mode {
                        fourcc: f.fourcc,
                        width: *w,
                        height: *h,
                        rates: rates.clone(),
                    });
                }
            }
            Some(s @ Sizes::Stepwise { .. }) => {
                for (w, h) in expand_sizes(s, req) {
                    modes.push(Mode {
                        fourcc: f.fourcc,
                        width: w,
                        height: h,
                        rates: Rates::Unknown,
                    });
                }
            }
            None => modes.push(Mode {
                fourcc: f.fourcc,
                width: req.width,
                height: req.height,
                rates: Rates::Unknown,
            }),
        }
    }
    modes
}

/// A `[[cameras]]` block for a capture node (`None` for other nodes or no usable format).
pub fn camera_block(node: &NodeInfo, number: usize) -> Option<String> {
    if !matches!(node.kind, NodeKind::SinglePlanar | NodeKind::MultiPlanar) {
        return None;
    }
    let req = Request::new("auto", 1280, 720, 15, false);
    let choice = choose_mode(&modes_of(node, &req), &req).ok()?;
    let device = node
        .links
        .iter()
        .find(|l| l.to_string_lossy().contains("/by-id/"))
        .or_else(|| node.links.first())
        .unwrap_or(&node.path);
    let name = if node.card.is_empty() {
        format!("Camera {number}")
    } else {
        node.card.replace('\\', "\\\\").replace('"', "\\\"")
    };
    // Floor: asking for 13 on a 12.5 fps mode would look like a shortfall in the log.
    let fps = (choice.interval.fps() + 0.01).floor().max(1.0) as u32;
    Some(format!(
        "[[cameras]]\nid = \"cam-{number}\"\nname = \"{name}\"\ndevice = \"{}\"\nwidth = {}\nheight = {}\nfps = {fps}\nformat = \"auto\"\ndetect_fps = 5\nenabled = true\n",
        device.display().to_string().replace('"', "\\\""),
        choice.width,
        choice.height,
    ))
}

/// The full `gozcu devices` text.
pub fn render(nodes: &[NodeInfo]) -> String {
    let mut out = String::new();
    if nodes.is_empty() {
        out.push_str(
            "No V4L2 devices found (no /dev/video* nodes). Plug in a camera, check that its \
             driver is loaded, or try device = \"testsrc:\" for a synthetic camera.\n",
        );
        return out;
    }
    let mut blocks = Vec::new();
    for node in nodes {
        let kind = match node.kind {
            NodeKind::SinglePlanar => "single-planar capture",
            NodeKind::MultiPlanar => "multi-planar capture",
            NodeKind::MetadataOnly => "metadata only, no video capture (skipped)",
            NodeKind::NotCapture => "not a capture node (skipped)",
        };
        let _ = write!(out, "{}", node.path.display());
        if let Some(e) = &node.error {
            let _ = writeln!(out, ": {e}");
            continue;
        }
        let _ = writeln!(
            out,
            ": {} (driver {}, bus {}), {kind}",
            node.card, node.driver, node.bus
        );
        for l in &node.links {
            let _ = writeln!(out, "  link: {}", l.display());
        }
        for f in node.formats.iter().filter(|f| f.usable) {
            let _ = writeln!(out, "  {} ({})", fourcc_str(&f.fourcc), f.description);
            match &f.sizes {
                Some(Sizes::Discrete(_)) => {
                    for ((w, h), r) in &f.rates {
                        let _ = writeln!(out, "    {w}x{h}: {}", rates_text(r));
                    }
                }
                Some(Sizes::Stepwise {
                    min_w,
                    max_w,
                    step_w,
                    min_h,
                    max_h,
                    step_h,
                }) => {
                    let _ = writeln!(
                        out,
                        "    {min_w}x{min_h} to {max_w}x{max_h} in steps of {step_w}x{step_h}"
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "    sizes not enumerated (set width/height; the driver adjusts)"
                    );
                }
            }
        }
        let other: Vec<String> = node
            .formats
            .iter()
            .filter(|f| !f.usable)
            .map(|f| fourcc_str(&f.fourcc))
            .collect();
        if !other.is_empty() {
            let _ = writeln!(
                out,
                "  also offered, not usable by gozcu: {}",
                other.join(", ")
            );
        }
        if let Some(b) = camera_block(node, blocks.len() + 1) {
            blocks.push(b);
        }
    }
    if blocks.is_empty() {
        out.push_str("\nNo capture node with a format gozcu supports.\n");
    } else {
        out.push_str("\n# Paste into /etc/gozcu/gozcu.toml (by-id names survive replugging):\n");
        out.push_str(&blocks.join("\n"));
    }
    out
}

/// `gozcu devices`: returns the process exit code.
pub fn devices_main() -> i32 {
    print!("{}", render(&enumerate()));
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::negotiate::Interval;

    fn webcam() -> NodeInfo {
        NodeInfo {
            path: PathBuf::from("/dev/video0"),
            kind: NodeKind::SinglePlanar,
            driver: "uvcvideo".into(),
            card: "HD \"Pro\" Webcam".into(),
            bus: "usb-0000:00:14.0-2".into(),
            formats: vec![
                FormatInfo {
                    fourcc: *b"YUYV",
                    description: "YUYV 4:2:2".into(),
                    usable: true,
                    sizes: Some(Sizes::Discrete(vec![(640, 480), (1280, 720)])),
                    rates: vec![
                        ((640, 480), Rates::Discrete(vec![Interval::from_fps(30)])),
                        ((1280, 720), Rates::Discrete(vec![Interval::from_fps(10)])),
                    ],
                },
                FormatInfo {
                    fourcc: *b"MJPG",
                    description: "Motion-JPEG".into(),
                    usable: true,
                    sizes: Some(Sizes::Discrete(vec![(1280, 720)])),
                    rates: vec![(
                        (1280, 720),
                        Rates::Discrete(vec![Interval::from_fps(30), Interval::from_fps(15)]),
                    )],
                },
                FormatInfo {
                    fourcc: *b"H264",
                    description: "H.264".into(),
                    usable: false,
                    sizes: Some(Sizes::Discrete(vec![(1920, 1080)])),
                    rates: vec![],
                },
            ],
            links: vec![PathBuf::from("/dev/v4l/by-id/usb-046d_0825-video-index0")],
            error: None,
        }
    }

    #[test]
    fn renders_formats_links_and_a_camera_block() {
        let meta = NodeInfo {
            path: PathBuf::from("/dev/video1"),
            kind: NodeKind::MetadataOnly,
            formats: vec![],
            links: vec![],
            ..webcam()
        };
        let text = render(&[webcam(), meta]);
        assert!(text.contains("/dev/video0: HD \"Pro\" Webcam (driver uvcvideo, bus usb-0000:00:14.0-2), single-planar capture"), "{text}");
        assert!(text.contains("  link: /dev/v4l/by-id/usb-046d_0825-video-index0"));
        assert!(text.contains("    1280x720: 30, 15 fps"), "{text}");
        assert!(
            text.contains("  also offered, not usable by gozcu: H264\n"),
            "{text}"
        );
        assert!(
            !text.contains("H.264"),
            "unusable formats get no size list: {text}"
        );
        assert!(text.contains("/dev/video1: HD \"Pro\" Webcam (driver uvcvideo, bus usb-0000:00:14.0-2), metadata only"));
        assert!(text.contains("[[cameras]]\nid = \"cam-1\"\nname = \"HD \\\"Pro\\\" Webcam\"\ndevice = \"/dev/v4l/by-id/usb-046d_0825-video-index0\"\nwidth = 1280\nheight = 720\nfps = 15\n"), "{text}");
        assert_eq!(
            text.matches("[[cameras]]").count(),
            1,
            "metadata node gets no block"
        );
        // The block is valid TOML for our config.
        let block = camera_block(&webcam(), 1).unwrap();
        let parsed: toml_check::Doc = toml_check::parse(&block);
        assert_eq!(
            parsed.cameras[0].device,
            "/dev/v4l/by-id/usb-046d_0825-video-index0"
        );
    }

    #[test]
    fn no_devices_says_so() {
        assert!(render(&[]).starts_with("No V4L2 devices found"));
        let dir = tempfile::tempdir().unwrap();
        assert!(enumerate_in(dir.path()).is_empty());
    }

    #[test]
    fn unopenable_node_is_listed_with_its_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("video3"), b"").unwrap();
        std::fs::write(dir.path().join("video10"), b"").unwrap();
        std::fs::write(dir.path().join("null"), b"").unwrap();
        let nodes = enumerate_in(dir.path());
        let names: Vec<_> = nodes
            .iter()
            .map(|n| n.path.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["video3", "video10"]);
        assert!(
            nodes[0]
                .error
                .as_deref()
                .unwrap()
                .contains("not a V4L2 device"),
            "{:?}",
            nodes[0].error
        );
        assert!(camera_block(&nodes[0], 1).is_none());
    }

    mod toml_check {
        use crate::config::CameraConfig;
        #[derive(serde::Deserialize)]
        pub struct Doc {
            pub cameras: Vec<CameraConfig>,
        }
        pub fn parse(text: &str) -> Doc {
            config::Config::builder()
                .add_source(config::File::from_str(text, config::FileFormat::Toml))
                .build()
                .unwrap()
                .try_deserialize()
                .unwrap()
        }
    }
}
