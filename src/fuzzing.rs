//! Entry points for the fuzz targets in `fuzz/` (docs/testing.md, "Fuzzing"). Each takes
//! arbitrary bytes and runs the code the daemon runs on that kind of untrusted input, with
//! the daemon's own limits: a client's WebSocket frames, an HTTP request head, a config file,
//! a camera's MJPEG frame, a replay file. None of them may panic, whatever the input.
//!
//! Nothing in the daemon calls these; they only gather the pipeline steps into one call, so
//! a fuzz target is a one-liner and the fuzzer exercises the same build as the daemon. The
//! few `assert!`s check properties of what the daemon's functions return (e.g. the frames an
//! MJPEG file is split into lie inside it): a failing one is a bug the fuzzer reports.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::SystemTime;

use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Uri};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};

use crate::camera::{Frame, PixelFormat, Plane};
use crate::config::{Config, ModelFamily};
use crate::detect::InputSpec;
use crate::server::protocol::{ClientMessage, ServerMessage, parse_client_message};
use crate::server::security::{HostPolicy, presented_token, redact};
use crate::server::session::{CameraFilter, Cursor, plan_resume};
use crate::server::{ServerSettings, Token, assets, query, routes, upgrade};
use crate::vision::convert::{ConvertedFrame, decode_png_rgb, jpeg_dimensions, split_jpegs};

/// Frames read from one input at most (a frame costs at least two bytes).
const MAX_FRAMES: usize = 64;
/// Request heads larger than this get 431 before our code sees them (server::http).
const MAX_HEAD: usize = 16 * 1024;
/// hyper is configured to refuse more headers than this (server::http).
const MAX_HEADERS: usize = 64;
/// Frames of a replay file decoded per input (splitting covers the whole file).
const MAX_REPLAY_DECODES: usize = 4;
/// Height of the motion image (daemon::pipeline).
const MOTION_HEIGHT: u32 = 144;

/// The input as a socket: reads come from the fuzz data, writes (pongs, close frames) are
/// discarded.
struct Wire<'a> {
    input: &'a [u8],
}

impl Read for Wire<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Wire<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Bytes a client sends after the handshake: WebSocket frames decoded with the server's
/// limits (`server::ws::ws_config`), each text message through the protocol parser and what
/// the connection does with the result (filter, resume decision, error reply).
pub fn ws_client_frames(data: &[u8]) {
    let settings = ServerSettings::default();
    let config = crate::server::ws::ws_config(&settings);
    let mut ws = WebSocket::from_raw_socket(Wire { input: data }, Role::Server, Some(config));
    let mut filter = CameraFilter::default();
    let mut cursor = Cursor::live();
    for seq in 1..=MAX_FRAMES as i64 {
        // A live event between client messages, as the connection would deliver it.
        let _ = cursor.admit(seq) && filter.allows("cam-1");
        let text = match ws.read() {
            Ok(Message::Text(text)) => text,
            Ok(_) => continue,
            Err(_) => return,
        };
        match parse_client_message(&text) {
            Ok(ClientMessage::Ping) => {}
            Ok(ClientMessage::Subscribe { cameras }) => filter = CameraFilter::new(cameras),
            Ok(ClientMessage::Resume { since }) => {
                let _ = plan_resume(since, Some("epoch"), "epoch", Some((1, 100)));
                cursor = Cursor::after(since);
            }
            Err(message) => {
                let _ = ServerMessage::Error {
                    code: "bad_message".to_string(),
                    message,
                }
                .to_json();
            }
        }
    }
}

/// A request head as a client sends it: split into request line and header fields the way
/// hyper's parser does, turned into hyper's types (which refuse what hyper refuses), then the
/// server's checks and per-route parsing (`server::routes::check_request`, the WebSocket
/// handshake and query, the event list query, the dashboard lookup). The first byte picks
/// the server settings: bit 0 a token, bit 1 allowed origins.
pub fn http_request_head(data: &[u8]) {
    let Some((&flags, data)) = data.split_first() else {
        return;
    };
    let Some((method, target, headers)) = parse_head(data) else {
        return;
    };
    let mut settings = ServerSettings {
        listen: vec![SocketAddr::from(([0, 0, 0, 0], 8080))],
        hostnames: vec!["cam.lan".to_string()],
        ..ServerSettings::default()
    };
    if flags & 1 != 0 {
        settings.token = Token::new("s3cret");
    }
    if flags & 2 != 0 {
        settings.allowed_origins = vec!["https://dash.example".to_string()];
    }
    let hosts = HostPolicy::new(&settings, Some("gozcu-board"));
    let local = SocketAddr::from(([192, 168, 1, 20], 8080));
    let path = target.path();
    let query_str = target.query().unwrap_or("");
    let _ = redact(target.path_and_query().map_or("/", |p| p.as_str()));
    // The token extraction takes any text, not only the visible ASCII hyper's `to_str` passes.
    if let Some(auth) = headers.get(hyper::header::AUTHORIZATION) {
        let _ = presented_token(
            Some(query_str),
            Some(&String::from_utf8_lossy(auth.as_bytes())),
        );
    }
    if routes::check_request(path, query_str, &headers, local, &hosts, &settings).is_err() {
        return;
    }
    if path == routes::WS_PATH {
        let _ = upgrade::check_handshake(&method, &headers);
        let _ = query::ws_params(query_str);
    } else if path == "/api/events" {
        let _ = query::event_filter(query_str);
    } else {
        let _ = assets::lookup(path);
    }
}

/// Request line and header fields of an HTTP/1 head, or None where hyper would answer 400
/// (or 431) without calling the server's code.
fn parse_head(data: &[u8]) -> Option<(Method, Uri, HeaderMap)> {
    let head = &data[..data.len().min(MAX_HEAD)];
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let mut request = lines.next()?.split(|&b| b == b' ');
    let method = Method::from_bytes(request.next()?).ok()?;
    let target = Uri::try_from(request.next()?).ok()?;
    if !matches!(request.next()?, b"HTTP/1.1" | b"HTTP/1.0") || request.next().is_some() {
        return None;
    }
    let mut headers = HeaderMap::new();
    for line in lines.take_while(|l| !l.is_empty()) {
        let colon = line.iter().position(|&b| b == b':')?;
        let name = HeaderName::from_bytes(&line[..colon]).ok()?;
        let value = line[colon + 1..].trim_ascii();
        headers.append(name, HeaderValue::from_bytes(value).ok()?);
        if headers.len() > MAX_HEADERS {
            return None;
        }
    }
    Some((method, target, headers))
}

/// A config file as `gozcu run` / `check-config` reads it: strict TOML, environment overrides,
/// validation, the problem messages, then what a running daemon derives from a valid one.
/// Text after the first NUL byte is the environment, one `NAME=value` per line.
pub fn config_toml(data: &[u8]) {
    let (file, env) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    // The daemon reads the file with read_to_string, which refuses anything but UTF-8.
    let Ok(text) = std::str::from_utf8(file) else {
        return;
    };
    let env: Vec<(String, String)> = String::from_utf8_lossy(env)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let path = Path::new("/etc/gozcu/gozcu.toml");
    match crate::config::load_from_str(text, path, &env) {
        Ok(config) => {
            let _ = ServerSettings::from_config(&config.server);
            let _ = crate::config::diff(&Config::default(), &config);
            let _ = crate::config::diff(&config, &Config::default());
            let _ = crate::config::notes(&config);
            let _ = crate::config::effective_toml(&config, path, &env);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// One MJPEG frame from a camera, through the per-camera worker's steps: luma-only decode for
/// motion, a full decode to RGB with the motion image derived from it, then the detector's
/// letterbox and the event snapshot. The last two run at a small size: their code does not
/// depend on it, and at 416x416 they would cost most of the fuzzer's time.
pub fn camera_jpeg(data: &[u8]) {
    let Some(rgb) = decode_frame(data) else {
        return;
    };
    let spec = InputSpec {
        width: 64,
        height: 48,
        ..InputSpec::family_default(ModelFamily::Yolox)
    };
    let _ = crate::vision::letterbox::letterbox(&rgb, &spec);
    let _ = crate::vision::snapshot::encode_snapshot(
        &rgb,
        64,
        crate::vision::snapshot::SNAPSHOT_QUALITY,
    );
}

/// What the worker does with an MJPEG frame before detection: a luma-only decode for motion
/// (frames nobody detects on), then a full decode with the motion image derived from it.
fn decode_frame(data: &[u8]) -> Option<crate::vision::RgbImage> {
    let (width, height) = jpeg_dimensions(data).unwrap_or((0, 0));
    let frame = Frame {
        format: PixelFormat::Mjpeg,
        width,
        height,
        planes: vec![Plane {
            data: data.to_vec(),
            stride: 0,
        }],
        timestamp: SystemTime::UNIX_EPOCH,
        sequence: 0,
    };
    let mut motion_only = ConvertedFrame::new(frame.clone()).luma_only(true);
    motion_only.luma_small(MOTION_HEIGHT).ok()?;
    let mut full = ConvertedFrame::new(frame);
    let _ = full.luma_small(MOTION_HEIGHT);
    full.take_rgb().ok()
}

/// A replay file (`device = "replay:..."`): an `.mjpeg` split into frames, each frame's
/// size read as `camera::replay` does and the first few decoded as the worker would; and
/// the same bytes as a `.png` frame.
pub fn replay_file(data: &[u8]) {
    let frames = split_jpegs(data);
    let mut end = 0;
    for r in &frames {
        // Frames are in order, inside the file, and start with SOI.
        assert!(r.start >= end && r.start < r.end && r.end <= data.len());
        assert_eq!(data.get(r.start..r.start + 2), Some(&[0xFF, 0xD8][..]));
        end = r.end;
    }
    for r in frames.iter().take(MAX_REPLAY_DECODES) {
        let bytes = &data[r.clone()];
        if jpeg_dimensions(bytes).is_ok() {
            let _ = decode_frame(bytes);
        }
    }
    if let Ok(img) = decode_png_rgb(data) {
        assert!(img.data.len() >= img.width as usize * img.height as usize * 3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_parsing_keeps_what_hyper_would_pass() {
        let (m, uri, h) =
            parse_head(b"GET /api/ws/events?since=1 HTTP/1.1\r\nHost: a:1\r\nX:  y \r\n\r\nbody")
                .unwrap();
        assert_eq!(m, Method::GET);
        assert_eq!(uri.query(), Some("since=1"));
        assert_eq!(h.get("x").unwrap(), "y");
        assert!(parse_head(b"GET / HTTP/2\r\n\r\n").is_none());
        assert!(parse_head(b"GET / HTTP/1.1\r\nno colon\r\n\r\n").is_none());
        assert!(parse_head(b"G\x01T / HTTP/1.1\r\n\r\n").is_none());
    }

    /// Inputs the fuzzer crashed on, kept as regressions (also in fuzz/corpus/<target>/).
    #[test]
    fn fuzzer_findings() {
        // http_head: an Authorization value whose (lossy) text puts a multi-byte character
        // across byte 7 (server::security::presented_token sliced there).
        http_request_head(
            b"\x01GET /api/events HTTP/1.1\r\nHost: cam.lan:8080\r\n\
              Authorization: Bea\x88\x88\x88\x88\x88\x88\x88#eret\r\n\r\n",
        );
    }

    #[test]
    fn entry_points_accept_arbitrary_bytes() {
        for data in [
            &b""[..],
            b"\x00",
            b"\xff\xd8\xff\xd9",
            b"\x81\x84\x00\x00\x00\x00ping",
            b"\x03GET /api/health HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer x\r\n\r\n",
            b"[server]\nlisten = [\"127.0.0.1:1\"]\0GOZCU__SERVER__MAX_CLIENTS=x",
        ] {
            ws_client_frames(data);
            http_request_head(data);
            config_toml(data);
            camera_jpeg(data);
            replay_file(data);
        }
    }
}
