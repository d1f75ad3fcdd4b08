//! Multi-planar V4L2 capture (`V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE`): what Rockchip
//! `rkisp_mainpath` / `rkcif` CSI nodes (and vivid with `multiplanar=2`) expose. NV12, NV16,
//! YUYV and the two-plane NM12/NM16, mmap streaming, every buffer copied out and requeued at
//! once so the driver never starves.

use super::negotiate::{Choice, Request, choose_mode, fourcc_str, pixel_format_of};
use super::v4l2::{self, ActualFormat, BUF_TYPE_CAPTURE_MPLANE, MAX_PLANES, MEMORY_MMAP};
use super::{CameraError, Frame, FrameSource, PixelFormat, Plane, classify_open_error};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use v4l::v4l_sys::{V4L2_BUF_FLAG_ERROR, v4l2_buffer, v4l2_plane};

/// Buffers requested from the driver: one being filled, one being copied, two spare.
const BUFFER_COUNT: u32 = 4;

/// One mmap'ed plane of a driver buffer.
struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapping {
    fn bytes(&self) -> &[u8] {
        // SAFETY: ptr/len come from a successful mmap that lives until Stream::drop.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

/// An open, streaming device. Dropping it stops streaming, unmaps and frees the buffers;
/// every step's error is ignored (the device may be gone), so drop never panics.
struct Stream {
    fd: OwnedFd,
    buffers: Vec<Vec<Mapping>>,
    format: ActualFormat,
    pixel: PixelFormat,
    streaming: bool,
}

// SAFETY: the raw mapping pointers are owned exclusively by this Stream and only used from
// the thread that owns it.
unsafe impl Send for Stream {}

impl Drop for Stream {
    fn drop(&mut self) {
        if self.streaming {
            let _ = v4l2::stream_off(self.fd.as_fd(), BUF_TYPE_CAPTURE_MPLANE);
        }
        for planes in self.buffers.drain(..) {
            for m in planes {
                // SAFETY: unmapping exactly what mmap returned; never touched afterwards.
                unsafe { libc::munmap(m.ptr, m.len) };
            }
        }
        let _ = v4l2::request_buffers(self.fd.as_fd(), BUF_TYPE_CAPTURE_MPLANE, 0);
        // The fd closes when `fd` drops (close errors are ignored by OwnedFd).
    }
}

fn empty_planes() -> [v4l2_plane; MAX_PLANES] {
    // SAFETY: v4l2_plane is plain old data; all-zero is valid.
    unsafe { std::mem::zeroed() }
}

fn buffer_desc(index: u32, planes: &mut [v4l2_plane; MAX_PLANES], n: usize) -> v4l2_buffer {
    // SAFETY: v4l2_buffer is plain old data; all-zero is valid.
    let mut b: v4l2_buffer = unsafe { std::mem::zeroed() };
    b.index = index;
    b.type_ = BUF_TYPE_CAPTURE_MPLANE;
    b.memory = MEMORY_MMAP;
    b.m.planes = planes.as_mut_ptr();
    b.length = n as u32;
    b
}

impl Stream {
    fn start(fd: OwnedFd, format: ActualFormat, pixel: PixelFormat) -> std::io::Result<Self> {
        let mut stream = Stream {
            fd,
            buffers: Vec::new(),
            format,
            pixel,
            streaming: false,
        };
        let n_planes = stream.format.planes.len();
        let count =
            v4l2::request_buffers(stream.fd.as_fd(), BUF_TYPE_CAPTURE_MPLANE, BUFFER_COUNT)?;
        for index in 0..count {
            let mut planes = empty_planes();
            let mut b = buffer_desc(index, &mut planes, n_planes);
            // SAFETY: `b` points at `planes`, which outlives the call.
            unsafe { v4l2::query_buffer(stream.fd.as_fd(), &mut b)? };
            let mut maps = Vec::with_capacity(n_planes);
            for p in planes.iter().take(n_planes) {
                let len = p.length as usize;
                // SAFETY: the kernel filled mem_offset for MMAP memory.
                let offset = unsafe { p.m.mem_offset };
                // SAFETY: mapping a driver buffer read-only at the offset the driver gave.
                let ptr = unsafe {
                    libc::mmap(
                        std::ptr::null_mut(),
                        len,
                        libc::PROT_READ,
                        libc::MAP_SHARED,
                        stream.fd.as_raw_fd(),
                        offset as libc::off_t,
                    )
                };
                if ptr == libc::MAP_FAILED {
                    return Err(std::io::Error::last_os_error());
                }
                maps.push(Mapping { ptr, len });
            }
            stream.buffers.push(maps);
        }
        for index in 0..count {
            stream.queue(index)?;
        }
        v4l2::stream_on(stream.fd.as_fd(), BUF_TYPE_CAPTURE_MPLANE)?;
        stream.streaming = true;
        Ok(stream)
    }

    fn queue(&self, index: u32) -> std::io::Result<()> {
        let mut planes = empty_planes();
        let mut b = buffer_desc(index, &mut planes, self.format.planes.len());
        // SAFETY: `b` points at `planes`, which outlives the call.
        unsafe { v4l2::queue_buffer(self.fd.as_fd(), &mut b) }
    }
}

/// Multi-planar V4L2 capture source.
pub struct MplaneSource {
    path: PathBuf,
    request: Request,
    stream: Option<Stream>,
    description: String,
    /// Buffers the driver flagged as corrupt (V4L2_BUF_FLAG_ERROR), skipped.
    pub corrupt: u64,
}

impl MplaneSource {
    pub fn new(path: PathBuf, request: Request) -> Self {
        let description = format!("{} (multi-planar, not open)", path.display());
        MplaneSource {
            path,
            request,
            stream: None,
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

    fn negotiate(&self, fd: &OwnedFd) -> Result<(Choice, ActualFormat), CameraError> {
        let path = self.path.display().to_string();
        let modes = v4l2::enum_modes(fd.as_fd(), BUF_TYPE_CAPTURE_MPLANE, &self.request)
            .map_err(|e| self.io("enumerate formats", e))?;
        let choice = choose_mode(&modes, &self.request).map_err(|e| CameraError::Unsupported {
            path: path.clone(),
            what: e.to_string(),
        })?;
        let actual = v4l2::set_format(
            fd.as_fd(),
            BUF_TYPE_CAPTURE_MPLANE,
            choice.fourcc,
            choice.width,
            choice.height,
        )
        .map_err(|e| self.io("set format", e))?;
        Ok((choice, actual))
    }
}

impl FrameSource for MplaneSource {
    fn open(&mut self) -> Result<(), CameraError> {
        self.close();
        let path = self.path.display().to_string();
        let fd = v4l2::open_device(&self.path).map_err(|e| classify_open_error(&path, e))?;
        let caps = v4l2::query_caps(fd.as_fd()).map_err(|e| self.io("query capabilities", e))?;
        if !caps.multi_planar() || !caps.streaming() {
            return Err(CameraError::Unsupported {
                path,
                what: format!(
                    "{} ({}) is not a multi-planar streaming capture node",
                    caps.card, caps.driver
                ),
            });
        }
        let (choice, actual) = self.negotiate(&fd)?;
        let Some(pixel) = pixel_format_of(&actual.fourcc) else {
            return Err(CameraError::Unsupported {
                path,
                what: format!(
                    "driver switched to format {} which gozcu cannot use",
                    fourcc_str(&actual.fourcc)
                ),
            });
        };
        let rate = v4l2::set_interval(fd.as_fd(), BUF_TYPE_CAPTURE_MPLANE, choice.interval);
        let stream =
            Stream::start(fd, actual.clone(), pixel).map_err(|e| self.io("start streaming", e))?;
        self.description = format!(
            "{}: {} {} {}x{} @ {} (multi-planar, {} plane(s); asked {})",
            path,
            caps.card,
            fourcc_str(&actual.fourcc),
            actual.width,
            actual.height,
            rate.map_or("driver-fixed fps".to_string(), |r| format!(
                "{:.1} fps",
                r.fps()
            )),
            actual.planes.len(),
            choice
        );
        tracing::info!(device = %path, "negotiated {}", self.description);
        self.stream = Some(stream);
        Ok(())
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Frame, CameraError> {
        let path = self.path.display().to_string();
        let deadline = Instant::now() + timeout;
        loop {
            let Some(stream) = self.stream.as_ref() else {
                return Err(CameraError::Other(format!("device {path} is not open")));
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let ready =
                v4l2::wait_readable(stream.fd.as_fd(), left).map_err(|e| self.io("poll", e))?;
            if !ready {
                return Err(CameraError::Timeout { path, timeout });
            }
            let n = stream.format.planes.len();
            let mut planes = empty_planes();
            let mut b = buffer_desc(0, &mut planes, n);
            // SAFETY: `b` points at `planes`, which outlives the call.
            match unsafe { v4l2::dequeue_buffer(stream.fd.as_fd(), &mut b) } {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(self.io("dequeue buffer", e)),
            }
            let frame = if b.flags & V4L2_BUF_FLAG_ERROR != 0 {
                None
            } else {
                Some(copy_frame(stream, &b, &planes))
            };
            stream
                .queue(b.index)
                .map_err(|e| self.io("requeue buffer", e))?;
            match frame {
                Some(frame) => return Ok(frame),
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
        // Stream::drop stops streaming and frees everything, ignoring errors.
        self.stream = None;
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn corrupt_frames(&self) -> u64 {
        self.corrupt
    }
}

/// Copies a dequeued buffer's planes into an owned frame.
fn copy_frame(stream: &Stream, b: &v4l2_buffer, planes: &[v4l2_plane; MAX_PLANES]) -> Frame {
    let maps = stream
        .buffers
        .get(b.index as usize)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut out = Vec::with_capacity(maps.len());
    for (i, m) in maps.iter().enumerate() {
        let p = &planes[i];
        let bytes = m.bytes();
        let end = (p.bytesused as usize).min(bytes.len());
        let start = (p.data_offset as usize).min(end);
        let stride = stream
            .format
            .planes
            .get(i)
            .map_or(0, |&(bpl, _)| bpl as usize);
        out.push(Plane {
            data: bytes[start..end].to_vec(),
            stride,
        });
    }
    Frame {
        format: stream.pixel,
        width: stream.format.width,
        height: stream.format.height,
        planes: out,
        timestamp: v4l2::driver_time(b.flags, b.timestamp.tv_sec, b.timestamp.tv_usec),
        sequence: u64::from(b.sequence),
    }
}

impl Drop for MplaneSource {
    fn drop(&mut self) {
        self.close();
    }
}
