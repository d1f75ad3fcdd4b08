//! Frames and the sources that produce them. Every source runs on its own blocking thread;
//! nothing here touches the async runtime.

use std::time::{Duration, SystemTime};

/// Pixel layouts the pipeline understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// Motion JPEG: one compressed frame per buffer.
    Mjpeg,
    /// Packed 4:2:2, Y0 U Y1 V.
    Yuyv,
    /// Planar 4:2:0: Y plane, then interleaved UV.
    Nv12,
    /// Planar 4:2:2: Y plane, then interleaved UV at full height.
    Nv16,
    /// Packed 8-bit RGB.
    Rgb24,
    /// 8-bit luma only.
    Gray,
}

impl PixelFormat {
    /// V4L2 fourcc.
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Mjpeg => *b"MJPG",
            PixelFormat::Yuyv => *b"YUYV",
            PixelFormat::Nv12 => *b"NV12",
            PixelFormat::Nv16 => *b"NV16",
            PixelFormat::Rgb24 => *b"RGB3",
            PixelFormat::Gray => *b"GREY",
        }
    }

    pub fn from_fourcc(code: &[u8; 4]) -> Option<Self> {
        Some(match code {
            b"MJPG" | b"JPEG" => PixelFormat::Mjpeg,
            b"YUYV" => PixelFormat::Yuyv,
            b"NV12" => PixelFormat::Nv12,
            b"NV16" => PixelFormat::Nv16,
            b"RGB3" => PixelFormat::Rgb24,
            b"GREY" => PixelFormat::Gray,
            _ => return None,
        })
    }
}

/// One plane of a frame: bytes and the distance between rows.
#[derive(Debug, Clone)]
pub struct Plane {
    pub data: Vec<u8>,
    /// Bytes per row (0 for compressed formats).
    pub stride: usize,
}

/// A captured frame, owned (copied out of the driver's buffer so the buffer can be requeued
/// at once).
#[derive(Debug, Clone)]
pub struct Frame {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    /// One plane for packed and compressed formats; NV12/NV16 may be one contiguous plane
    /// (Y then UV, `stride` for both) or two.
    pub planes: Vec<Plane>,
    /// Capture time (driver timestamp converted to wall clock when available).
    pub timestamp: SystemTime,
    /// Driver sequence number (or the source's own counter).
    pub sequence: u64,
}

/// Why a source failed. The supervisor decides from the kind whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("device {path} does not exist: {hint}")]
    NotFound { path: String, hint: String },
    #[error("device {path}: {context}: {source}")]
    Io {
        path: String,
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("device {path} delivered no frame within {timeout:?}")]
    Timeout { path: String, timeout: Duration },
    #[error("device {path}: unsupported: {what}")]
    Unsupported { path: String, what: String },
    #[error("device {path}: format changed ({what}); renegotiating")]
    FormatChanged { path: String, what: String },
    #[error("{0}")]
    Other(String),
}

/// A source of frames. Implementations block; call them from a dedicated thread.
pub trait FrameSource: Send {
    /// Opens the device and starts streaming. Called again after a failure (reopen).
    fn open(&mut self) -> Result<(), CameraError>;
    /// Waits up to `timeout` for the next frame.
    fn next_frame(&mut self, timeout: Duration) -> Result<Frame, CameraError>;
    /// Stops streaming and releases the device. Must not panic.
    fn close(&mut self);
    /// One line for logs: what was negotiated (format, size, fps).
    fn describe(&self) -> String;
    /// Frames the source dropped as corrupt so far (driver-flagged buffers, unreadable
    /// replay files). Sources without such a notion keep the default.
    fn corrupt_frames(&self) -> u64 {
        0
    }
}

/// Maps an error from opening a device node to a [`CameraError`]: a missing node is
/// `NotFound` (the supervisor reports it as such), a permission problem says how to fix it.
pub fn classify_open_error(path: &str, e: std::io::Error) -> CameraError {
    match e.raw_os_error() {
        Some(libc::ENOENT) => CameraError::NotFound {
            path: path.to_string(),
            hint: "is the camera plugged in? `gozcu devices` lists the cameras present; \
                   prefer the stable /dev/v4l/by-id/... names"
                .to_string(),
        },
        Some(libc::EACCES) | Some(libc::EPERM) => CameraError::Io {
            path: path.to_string(),
            context: "open (permission denied: the service user must be in the `video` group)"
                .to_string(),
            source: e,
        },
        Some(libc::EBUSY) => CameraError::Io {
            path: path.to_string(),
            context: "open (device busy: another program is using the camera)".to_string(),
            source: e,
        },
        _ => CameraError::Io {
            path: path.to_string(),
            context: "open".to_string(),
            source: e,
        },
    }
}

mod auto;
pub mod devices;
pub mod hotplug;
pub mod mplane;
pub mod negotiate;
mod pace;
pub mod replay;
pub mod runner;
pub mod slot;
pub mod supervisor;
pub mod testsrc;
pub mod usb;
pub mod uvc;
pub mod v4l2;

pub use auto::{V4l2Source, open_source};
pub use runner::CameraRunner;
pub use slot::LatestFrame;
