//! Semantic checks on a loaded config: ranges, cross-key rules, camera ids. Pure: returns
//! every problem found (key + what is valid); `load` adds where each value came from.

use super::{Backend, CameraConfig, Config, DeviceKind, Problem};
use std::collections::HashSet;
use std::path::Path;

/// Pixel formats a camera's `format` may name besides `auto` (V4L2 fourcc codes).
pub const KNOWN_FORMATS: [&str; 8] = [
    "MJPG", "YUYV", "NV12", "NV16", "NM12", "NM16", "RGB3", "GREY",
];
/// Highest NPU core index (RK3588 has cores 0, 1, 2).
pub const MAX_NPU_CORE: u8 = 2;
/// Longest camera id: ids appear in URLs, file names and log fields.
pub const MAX_CAMERA_ID_LEN: usize = 64;

/// Checks everything `serde` cannot: ranges, relations between keys, unique ids.
pub fn validate(c: &Config) -> Result<(), Vec<Problem>> {
    let mut p = Vec::new();
    server(c, &mut p);
    storage(c, &mut p);
    detector(c, &mut p);
    motion_events(c, &mut p);
    cameras(&c.cameras, &mut p);
    if p.is_empty() { Ok(()) } else { Err(p) }
}

/// `true` when `id` may be used as a camera id (`[A-Za-z0-9_-]+`, at most 64 characters).
pub fn is_valid_camera_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CAMERA_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Parses `npu_cores`: `auto` -> `None`, `"0,2"` -> `Some([0, 2])`.
pub fn parse_npu_cores(s: &str) -> Result<Option<Vec<u8>>, String> {
    let s = s.trim();
    if s == "auto" {
        return Ok(None);
    }
    let mut cores = Vec::new();
    for part in s.split(',').map(str::trim) {
        match part.parse::<u8>() {
            Ok(n) if n <= MAX_NPU_CORE && !cores.contains(&n) => cores.push(n),
            Ok(n) if n <= MAX_NPU_CORE => return Err(format!("core {n} is listed twice")),
            _ => {
                return Err(format!(
                    "`{part}` is not an NPU core; write \"auto\" or a comma-separated list of \
                     core numbers 0..={MAX_NPU_CORE}, e.g. \"0,1,2\""
                ));
            }
        }
    }
    Ok(Some(cores))
}

fn range<T: PartialOrd + std::fmt::Display>(
    p: &mut Vec<Problem>,
    key: &str,
    v: T,
    lo: T,
    hi: T,
    what: &str,
) {
    // Written as a negated contains so NaN fails too.
    if !(lo <= v && v <= hi) {
        p.push(Problem::new(
            key,
            format!("must be {lo}..={hi} {what}, got {v}"),
        ));
    }
}

fn fraction(p: &mut Vec<Problem>, key: &str, v: f32) {
    range(p, key, v, 0.0, 1.0, "(a fraction)");
}

fn positive_seconds(p: &mut Vec<Problem>, key: &str, v: f64) {
    if !(v.is_finite() && v > 0.0) {
        p.push(Problem::new(
            key,
            format!("must be a number of seconds greater than 0, got {v}"),
        ));
    }
}

fn server(c: &Config, p: &mut Vec<Problem>) {
    let s = &c.server;
    if s.listen.is_empty() {
        p.push(Problem::new(
            "server.listen",
            "must list at least one address, e.g. [\"0.0.0.0:8080\"]",
        ));
    }
    let mut seen = HashSet::new();
    for (i, addr) in s.listen.iter().enumerate() {
        if !seen.insert(addr) {
            p.push(Problem::new(
                format!("server.listen[{i}]"),
                format!("{addr} is listed twice"),
            ));
        }
    }
    if s.token.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
        p.push(Problem::new(
            "server.token",
            "may only contain printable ASCII without spaces (it is sent in a header and a URL)",
        ));
    }
    for (i, o) in s.allowed_origins.iter().enumerate() {
        if !is_origin(o) {
            p.push(Problem::new(
                format!("server.allowed_origins[{i}]"),
                format!(
                    "{o:?} is not an origin; write scheme://host[:port] without a path, \
                     e.g. \"https://cams.example.com\""
                ),
            ));
        }
    }
    for (i, h) in s.hostnames.iter().enumerate() {
        let bad = h.is_empty() || h.contains(['/', ' ', '@']) || h.contains("://");
        if bad {
            p.push(Problem::new(
                format!("server.hostnames[{i}]"),
                format!("{h:?} is not a host name; write a bare name such as \"gozcu.local\""),
            ));
        }
    }
    if s.max_clients == 0 {
        p.push(Problem::new("server.max_clients", "must be at least 1"));
    }
    if s.max_clients_per_ip == 0 || s.max_clients_per_ip > s.max_clients.max(1) {
        p.push(Problem::new(
            "server.max_clients_per_ip",
            format!(
                "must be 1..=server.max_clients ({}), got {}",
                s.max_clients, s.max_clients_per_ip
            ),
        ));
    }
    range(
        p,
        "server.ping_interval_s",
        s.ping_interval_s,
        1,
        3600,
        "seconds",
    );
    if s.idle_timeout_s <= s.ping_interval_s {
        p.push(Problem::new(
            "server.idle_timeout_s",
            format!(
                "must be greater than server.ping_interval_s ({}) so a live client has time to \
                 answer a ping, got {}",
                s.ping_interval_s, s.idle_timeout_s
            ),
        ));
    }
    range(
        p,
        "server.client_queue",
        s.client_queue,
        1,
        1 << 20,
        "messages",
    );
}

fn is_origin(o: &str) -> bool {
    let Some((scheme, rest)) = o.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.contains(['/', ' ', '?', '#', '@'])
}

fn storage(c: &Config, p: &mut Vec<Problem>) {
    let s = &c.storage;
    if s.dir.as_os_str().is_empty() {
        p.push(Problem::new(
            "storage.dir",
            "must name a folder, e.g. \"/var/lib/gozcu\"",
        ));
    }
    if s.retain_days == 0 {
        p.push(Problem::new("storage.retain_days", "must be at least 1"));
    }
    if s.max_events == 0 {
        p.push(Problem::new("storage.max_events", "must be at least 1"));
    }
    if s.max_snapshot_mb == 0 {
        p.push(Problem::new(
            "storage.max_snapshot_mb",
            "must be at least 1 (to keep no snapshots set events.snapshots = false)",
        ));
    }
}

fn detector(c: &Config, p: &mut Vec<Problem>) {
    let d = &c.detector;
    let ext = |path: &Path| {
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_string)
    };
    let model_ext = ext(&d.model);
    if d.backend == Backend::Cpu && !cfg!(feature = "cpu") {
        p.push(Problem::new(
            "detector.backend",
            "backend \"cpu\" is not built into this gozcu: rebuild it with the cargo feature \
             `cpu` (on by default), or use \"auto\", \"rknn\" or \"none\"",
        ));
    }
    match (d.backend, model_ext.as_deref()) {
        (Backend::Cpu, Some(e)) if e != "onnx" => p.push(Problem::new(
            "detector.model",
            "backend \"cpu\" needs an .onnx model; .rknn models run only on backend \"rknn\"",
        )),
        (Backend::Rknn, Some(e)) if e != "rknn" => p.push(Problem::new(
            "detector.model",
            "backend \"rknn\" needs an .rknn model; .onnx models run on backend \"cpu\"",
        )),
        _ => {}
    }
    if !d.cpu_model.as_os_str().is_empty() && ext(&d.cpu_model).as_deref() != Some("onnx") {
        p.push(Problem::new(
            "detector.cpu_model",
            "must be an .onnx model (it runs on the CPU), or empty",
        ));
    }
    if d.labels.is_empty() {
        p.push(Problem::new(
            "detector.labels",
            "must list at least one label that creates events, e.g. [\"person\"]",
        ));
    }
    for (i, l) in d.labels.iter().enumerate() {
        if l.trim().is_empty() {
            p.push(Problem::new(
                format!("detector.labels[{i}]"),
                "must not be empty",
            ));
        }
    }
    fraction(p, "detector.min_score", d.min_score);
    fraction(p, "detector.confirm_score", d.confirm_score);
    fraction(p, "detector.min_area", d.min_area);
    fraction(p, "detector.nms_iou", d.nms_iou);
    if d.confirm_score < d.min_score {
        p.push(Problem::new(
            "detector.confirm_score",
            format!(
                "must be at least detector.min_score ({}), got {}",
                d.min_score, d.confirm_score
            ),
        ));
    }
    range(p, "detector.threads", d.threads, 1, 64, "threads");
    if let Err(e) = parse_npu_cores(&d.npu_cores) {
        p.push(Problem::new("detector.npu_cores", e));
    }
}

fn motion_events(c: &Config, p: &mut Vec<Problem>) {
    range(
        p,
        "motion.threshold",
        c.motion.threshold,
        1,
        255,
        "(luma levels)",
    );
    fraction(p, "motion.min_area", c.motion.min_area);
    positive_seconds(p, "events.end_after_s", c.events.end_after_s);
    positive_seconds(p, "events.update_interval_s", c.events.update_interval_s);
}

fn cameras(cams: &[CameraConfig], p: &mut Vec<Problem>) {
    let mut ids = HashSet::new();
    let mut devices = HashSet::new();
    for (i, cam) in cams.iter().enumerate() {
        let k = |field: &str| format!("cameras[{i}].{field}");
        if !is_valid_camera_id(&cam.id) {
            p.push(Problem::new(
                k("id"),
                format!(
                    "{:?} is not a camera id; use 1..={MAX_CAMERA_ID_LEN} characters from \
                     A-Z a-z 0-9 _ - (it appears in URLs), e.g. \"cam-1\"",
                    cam.id
                ),
            ));
        } else if !ids.insert(cam.id.as_str()) {
            p.push(Problem::new(
                k("id"),
                format!(
                    "{:?} is used by an earlier camera; ids must be unique",
                    cam.id
                ),
            ));
        }
        device(cam, &k("device"), &mut devices, p);
        range(p, &k("fps"), cam.fps, 1, 240, "frames per second");
        for (field, v) in [("width", cam.width), ("height", cam.height)] {
            if !(16..=8192).contains(&v) || v % 2 != 0 {
                p.push(Problem::new(
                    k(field),
                    format!("must be an even number of pixels 16..=8192, got {v}"),
                ));
            }
        }
        let dfps = cam.detect_fps;
        // Against an out-of-range fps the comparison would only repeat the fps problem.
        let max = if (1..=240).contains(&cam.fps) {
            cam.fps as f32
        } else {
            f32::MAX
        };
        if !(dfps > 0.0 && dfps <= max) {
            p.push(Problem::new(
                k("detect_fps"),
                format!(
                    "must be greater than 0 and at most the camera's fps ({}), got {dfps}",
                    cam.fps
                ),
            ));
        }
        if cam.format != "auto" && !KNOWN_FORMATS.contains(&cam.format.as_str()) {
            p.push(Problem::new(
                k("format"),
                format!(
                    "{:?} is not a known pixel format; valid: auto, {}",
                    cam.format,
                    KNOWN_FORMATS.join(", ")
                ),
            ));
        }
    }
}

fn device<'a>(
    cam: &'a CameraConfig,
    key: &str,
    devices: &mut HashSet<&'a str>,
    p: &mut Vec<Problem>,
) {
    const VALID: &str = "write a V4L2 path (\"/dev/video0\", better \"/dev/v4l/by-id/...\"), \
                         \"testsrc:\" or \"replay:<folder-or-file>\"";
    match cam.device_kind() {
        DeviceKind::TestSrc => {
            if let Err(reason) = crate::camera::testsrc::TestPattern::from_device(&cam.device) {
                p.push(Problem::new(key, reason));
            }
        }
        DeviceKind::Replay(path) if path.as_os_str().is_empty() => {
            p.push(Problem::new(
                key,
                format!("\"replay:\" needs a folder or file after the colon; {VALID}"),
            ));
        }
        DeviceKind::Replay(_) => {}
        DeviceKind::V4l2(path) if cam.device.is_empty() || !path.is_absolute() => {
            p.push(Problem::new(
                key,
                format!("{:?} is not a camera device; {VALID}", cam.device),
            ));
        }
        // Two cameras cannot share one V4L2 device: the second open would fail or steal it.
        DeviceKind::V4l2(_) if cam.enabled && !devices.insert(cam.device.as_str()) => {
            p.push(Problem::new(
                key,
                format!("{} is used by an earlier enabled camera", cam.device),
            ));
        }
        DeviceKind::V4l2(_) => {}
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
