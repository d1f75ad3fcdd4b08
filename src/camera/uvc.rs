//! Single-planar V4L2 capture (USB/UVC webcams, vivid's default mode) with the `v4l` crate's
//! mmap stream: MJPEG, YUYV, NV12, RGB24.
//!
//! Two things about `v4l` 0.14 shape this file:
//! - `MmapStream::next()` requeues the previously returned buffer before it polls, so after a
//!   poll timeout inside `next()` the next call would queue an already-queued buffer (EINVAL)
//!   and the stream is wedged. We therefore poll ourselves first and only call `next()` once
//!   a buffer is ready, and we start the stream ourselves with buffer 0 left dequeued, so
//!   the "buffer `next()` requeues is ours" invariant holds from the first call.
//! - Its Drop impls `panic!` when STREAMOFF / REQBUFS(0) fail with anything but ENODEV, and
//!   the device handle unwraps close(2). [`GuardedStream`] stops the stream itself first,
//!   leaks the stream rather than let it panic when that fails, and runs the remaining drops
//!   under `catch_unwind`.

use super::negotiate::{Request, choose_mode, fourcc_str, pixel_format_of};
use super::v4l2::{self, BUF_TYPE_CAPTURE};
use super::{CameraError, Frame, FrameSource, PixelFormat, Plane, classify_open_error, usb};
use std::mem::ManuallyDrop;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use v4l::buffer::{Flags, Type};
use v4l::io::traits::{CaptureStream, Stream as _};
use v4l::prelude::MmapStream;

const BUFFER_COUNT: u32 = 4;
/// Bound on `next()`'s own poll: we only call it once our poll said a buffer is ready.
const INNER_POLL: Duration = Duration::from_secs(1);

/// A started `v4l` mmap stream whose drop cannot panic (see the module docs).
struct GuardedStream {
    inner: ManuallyDrop<MmapStream<'static>>,
}

impl GuardedStream {
    fn start(dev: &v4l::Device) -> std::io::Result<Self> {
        // A failed allocation inside `with_buffers` drops v4l's arena, whose drop may panic.
        let stream = catch_unwind(AssertUnwindSafe(|| {
            MmapStream::with_buffers(dev, Type::VideoCapture, BUFFER_COUNT)
        }))
        .map_err(|_| std::io::Error::other("allocating V4L2 buffers failed"))??;
        // Guarded from here on: every early return below drops through our Drop.
        let mut guard = GuardedStream {
            inner: ManuallyDrop::new(stream),
        };
        let stream = &mut *guard.inner;
        stream.set_timeout(INNER_POLL);
        // Queue every buffer but 0: `next()` queues buffer 0 itself on its first call.
        for index in 1..BUFFER_COUNT as usize {
            if let Err(e) = CaptureStream::queue(stream, index) {
                // The driver granted fewer buffers than asked; two in flight still work.
                if index < 2 {
                    return Err(e);
                }
                break;
            }
        }
        stream.start()?;
        Ok(guard)
    }
}

impl Drop for GuardedStream {
    fn drop(&mut self) {
        // SAFETY: `inner` is taken exactly once, here, and never used again.
        let mut stream = unsafe { ManuallyDrop::take(&mut self.inner) };
        match stream.stop() {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {}
            Err(e) => {
                // v4l's own drop would panic on this error: leak the buffers (and the fd the
                // stream keeps) rather than crash. Happens only on a misbehaving driver.
                tracing::warn!("stopping the stream failed ({e}); leaking its buffers");
                std::mem::forget(stream);
                return;
            }
        }
        if catch_unwind(AssertUnwindSafe(move || drop(stream))).is_err() {
            tracing::warn!("releasing V4L2 buffers failed; ignored");
        }
    }
}

/// Single-planar V4L2 capture source.
pub struct UvcSource {
    path: PathBuf,
    request: Request,
    // Field order matters: the stream drops before the device.
    stream: Option<GuardedStream>,
    device: Option<v4l::Device>,
    pixel: PixelFormat,
    size: (u32, u32),
    stride: usize,
    /// `next()` failed: the stream's buffer bookkeeping can no longer be trusted.
    broken: bool,
    description: String,
    /// Buffers the driver flagged as corrupt (V4L2_BUF_FLAG_ERROR), skipped.
    pub corrupt: u64,
}

impl UvcSource {
    pub fn new(path: PathBuf, request: Request) -> Self {
        let description = format!("{} (single-planar, not open)", path.display());
        UvcSource {
            path,
            request,
            stream: None,
            device: None,
            pixel: PixelFormat::Mjpeg,
            size: (0, 0),
            stride: 0,
            broken: false,
            description,
            corrupt: 0,
        }
    }

    fn io(&self, context: &str, source: std::io::Error) -> CameraError {
        CameraError::Io {
            path: self.path.display().to_string(),
            context: context.to_string(),
            source,
        }
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        let dev = self.device.as_ref()?;
        // SAFETY: the fd is owned by `dev`'s handle, which outlives the returned borrow.
        Some(unsafe { BorrowedFd::borrow_raw(dev.handle().fd()) })
    }

    fn open_inner(&mut self) -> Result<(), CameraError> {
        let path = self.path.display().to_string();
        if self.path.as_os_str().as_bytes().contains(&0) {
            return Err(CameraError::Unsupported {
                path,
                what: "the device path contains a NUL byte".to_string(),
            });
        }
        let dev = v4l::Device::with_path(&self.path).map_err(|e| classify_open_error(&path, e))?;
        self.device = Some(dev);
        let Some(fd) = self.fd() else {
            return Err(CameraError::Other(format!("device {path} is not open")));
        };
        let caps = v4l2::query_caps(fd).map_err(|e| self.io("query capabilities", e))?;
        if !caps.single_planar() || !caps.streaming() {
            return Err(CameraError::Unsupported {
                path,
                what: format!(
                    "{} ({}) is not a streaming video capture node (metadata-only or output?)",
                    caps.card, caps.driver
                ),
            });
        }
        let mut request = self.request.clone();
        let shared = usb::other_cameras_on_bus(&self.path);
        if shared > 0 {
            request.prefer_mjpeg = true;
        }
        let modes = v4l2::enum_modes(fd, BUF_TYPE_CAPTURE, &request)
            .map_err(|e| self.io("enumerate formats", e))?;
        let choice = choose_mode(&modes, &request).map_err(|e| CameraError::Unsupported {
            path: path.clone(),
            what: e.to_string(),
        })?;
        let actual = v4l2::set_format(
            fd,
            BUF_TYPE_CAPTURE,
            choice.fourcc,
            choice.width,
            choice.height,
        )
        .map_err(|e| self.io("set format", e))?;
        let Some(pixel) = pixel_format_of(&actual.fourcc) else {
            return Err(CameraError::Unsupported {
                path,
                what: format!(
                    "driver switched to format {} which gozcu cannot use",
                    fourcc_str(&actual.fourcc)
                ),
            });
        };
        let rate = v4l2::set_interval(fd, BUF_TYPE_CAPTURE, choice.interval);
        let stream = match self.device.as_ref() {
            Some(dev) => GuardedStream::start(dev).map_err(|e| self.io("start streaming", e))?,
            None => return Err(CameraError::Other(format!("device {path} is not open"))),
        };
        self.pixel = pixel;
        self.size = (actual.width, actual.height);
        self.stride = actual.planes.first().map_or(0, |p| p.0 as usize);
        self.description = format!(
            "{}: {} on {} {} {}x{} @ {} (single-planar; asked {})",
            path,
            caps.card,
            caps.bus,
            fourcc_str(&actual.fourcc),
            actual.width,
            actual.height,
            rate.map_or("driver-fixed fps".to_string(), |r| format!(
                "{:.1} fps",
                r.fps()
            )),
            choice
        );
        tracing::info!(device = %path, "negotiated {}", self.description);
        self.stream = Some(stream);
        self.broken = false;
        Ok(())
    }
}

impl FrameSource for UvcSource {
    fn open(&mut self) -> Result<(), CameraError> {
        self.close();
        let result = self.open_inner();
        if result.is_err() {
            self.close();
        }
        result
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Frame, CameraError> {
        let path = self.path.display().to_string();
        if self.broken || self.stream.is_none() {
            return Err(CameraError::Other(format!(
                "device {path} is not streaming; reopen it"
            )));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let Some(fd) = self.fd() else {
                return Err(CameraError::Other(format!("device {path} is not open")));
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if !v4l2::wait_readable(fd, left).map_err(|e| self.io("poll", e))? {
                return Err(CameraError::Timeout { path, timeout });
            }
            let Some(stream) = self.stream.as_mut() else {
                return Err(CameraError::Other(format!("device {path} is not open")));
            };
            let result = match CaptureStream::next(&mut *stream.inner) {
                Ok((buf, meta)) => {
                    if meta.flags.contains(Flags::ERROR) {
                        None
                    } else {
                        let used = (meta.bytesused as usize).min(buf.len());
                        Some((
                            buf[..used].to_vec(),
                            u32::from(meta.flags),
                            meta.timestamp,
                            meta.sequence,
                        ))
                    }
                }
                Err(e) => {
                    self.broken = true;
                    return Err(self.io("dequeue buffer", e));
                }
            };
            match result {
                Some((data, flags, ts, sequence)) => {
                    let stride = if self.pixel == PixelFormat::Mjpeg {
                        0
                    } else {
                        self.stride
                    };
                    return Ok(Frame {
                        format: self.pixel,
                        width: self.size.0,
                        height: self.size.1,
                        planes: vec![Plane { data, stride }],
                        timestamp: v4l2::driver_time(flags, ts.sec, ts.usec),
                        sequence: u64::from(sequence),
                    });
                }
                None => {
                    self.corrupt += 1;
                    if Instant::now() >= deadline {
                        return Err(CameraError::Timeout { path, timeout });
                    }
                }
            }
        }
    }

    fn close(&mut self) {
        self.stream = None;
        if let Some(dev) = self.device.take() {
            // v4l's handle unwraps close(2); never let that take the thread down.
            if catch_unwind(AssertUnwindSafe(move || drop(dev))).is_err() {
                tracing::warn!(device = %self.path.display(), "closing the device failed; ignored");
            }
        }
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn corrupt_frames(&self) -> u64 {
        self.corrupt
    }
}

impl Drop for UvcSource {
    fn drop(&mut self) {
        self.close();
    }
}
