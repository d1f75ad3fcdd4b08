//! Raw V4L2 access shared by the capture sources and `gozcu devices`: ioctls declared with
//! `nix` macros over the `v4l::v4l_sys` structs, wrapped in small safe functions that return
//! plain values. We query and configure devices here rather than through `v4l`'s high-level
//! API because its conversions `unwrap()` on driver data (non-UTF-8 names, colorspace codes
//! newer than the crate), and nothing reachable from a device may panic.

use super::negotiate::{Interval, Mode, Rates, Request, Sizes, expand_sizes};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, SystemTime};
use v4l::v4l_sys::*;

pub const BUF_TYPE_CAPTURE: u32 = v4l2_buf_type_V4L2_BUF_TYPE_VIDEO_CAPTURE;
pub const BUF_TYPE_CAPTURE_MPLANE: u32 = v4l2_buf_type_V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
pub const MEMORY_MMAP: u32 = v4l2_memory_V4L2_MEMORY_MMAP;
pub const MAX_PLANES: usize = VIDEO_MAX_PLANES as usize;

mod sys {
    use v4l::v4l_sys::*;
    nix::ioctl_read!(querycap, b'V', 0, v4l2_capability);
    nix::ioctl_readwrite!(enum_fmt, b'V', 2, v4l2_fmtdesc);
    nix::ioctl_readwrite!(g_fmt, b'V', 4, v4l2_format);
    nix::ioctl_readwrite!(s_fmt, b'V', 5, v4l2_format);
    nix::ioctl_readwrite!(reqbufs, b'V', 8, v4l2_requestbuffers);
    nix::ioctl_readwrite!(querybuf, b'V', 9, v4l2_buffer);
    nix::ioctl_readwrite!(qbuf, b'V', 15, v4l2_buffer);
    nix::ioctl_readwrite!(dqbuf, b'V', 17, v4l2_buffer);
    nix::ioctl_write_ptr!(streamon, b'V', 18, libc::c_int);
    nix::ioctl_write_ptr!(streamoff, b'V', 19, libc::c_int);
    nix::ioctl_readwrite!(s_parm, b'V', 22, v4l2_streamparm);
    nix::ioctl_readwrite!(enum_framesizes, b'V', 74, v4l2_frmsizeenum);
    nix::ioctl_readwrite!(enum_frameintervals, b'V', 75, v4l2_frmivalenum);
}

/// Runs an ioctl, retrying when a signal interrupted it.
fn retry(mut f: impl FnMut() -> nix::Result<libc::c_int>) -> io::Result<()> {
    loop {
        match f() {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::from(e)),
        }
    }
}

/// A zeroed V4L2 struct: every one of them is plain old data for which all-zero is valid.
fn zeroed<T: Copy>() -> T {
    // SAFETY: only used for the bindgen'd C structs below (integers, arrays, unions and raw
    // pointers), for which the all-zero bit pattern is a valid value.
    unsafe { std::mem::zeroed() }
}

/// Opens a device node for streaming (non-blocking: we poll before dequeueing).
pub fn open_device(path: &Path) -> io::Result<OwnedFd> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: plain open(2) with a valid C string; the fd is owned by the returned OwnedFd.
    let fd = unsafe {
        libc::open(
            c_path.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by open(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn c_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).trim().to_string()
}

/// What VIDIOC_QUERYCAP says about a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCaps {
    pub driver: String,
    pub card: String,
    pub bus: String,
    /// Capabilities of this node (device_caps when the driver reports them).
    pub caps: u32,
}

impl DeviceCaps {
    pub fn single_planar(&self) -> bool {
        self.caps & V4L2_CAP_VIDEO_CAPTURE != 0
    }
    pub fn multi_planar(&self) -> bool {
        self.caps & V4L2_CAP_VIDEO_CAPTURE_MPLANE != 0
    }
    pub fn is_capture(&self) -> bool {
        self.single_planar() || self.multi_planar()
    }
    pub fn streaming(&self) -> bool {
        self.caps & V4L2_CAP_STREAMING != 0
    }
    pub fn metadata(&self) -> bool {
        self.caps & V4L2_CAP_META_CAPTURE != 0
    }
    /// The buffer type to capture with: multi-planar when that is all the node offers.
    pub fn buf_type(&self) -> u32 {
        if self.multi_planar() && !self.single_planar() {
            BUF_TYPE_CAPTURE_MPLANE
        } else {
            BUF_TYPE_CAPTURE
        }
    }
}

pub fn query_caps(fd: BorrowedFd<'_>) -> io::Result<DeviceCaps> {
    let mut cap: v4l2_capability = zeroed();
    // SAFETY: `cap` is a valid v4l2_capability the kernel fills in.
    retry(|| unsafe { sys::querycap(fd.as_raw_fd(), &mut cap) })?;
    let caps = if cap.capabilities & V4L2_CAP_DEVICE_CAPS != 0 {
        cap.device_caps
    } else {
        cap.capabilities
    };
    Ok(DeviceCaps {
        driver: c_text(&cap.driver),
        card: c_text(&cap.card),
        bus: c_text(&cap.bus_info),
        caps,
    })
}

/// One pixel format a node offers.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatDesc {
    pub fourcc: [u8; 4],
    pub description: String,
    pub compressed: bool,
}

pub fn enum_formats(fd: BorrowedFd<'_>, buf_type: u32) -> io::Result<Vec<FormatDesc>> {
    let mut out = Vec::new();
    for index in 0..256 {
        let mut d: v4l2_fmtdesc = zeroed();
        d.index = index;
        d.type_ = buf_type;
        // SAFETY: valid v4l2_fmtdesc with index and type set.
        match retry(|| unsafe { sys::enum_fmt(fd.as_raw_fd(), &mut d) }) {
            Ok(()) => out.push(FormatDesc {
                fourcc: d.pixelformat.to_le_bytes(),
                description: c_text(&d.description),
                compressed: d.flags & V4L2_FMT_FLAG_COMPRESSED != 0,
            }),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Frame sizes for a format; `None` when the driver does not enumerate them.
pub fn enum_sizes(fd: BorrowedFd<'_>, fourcc: [u8; 4]) -> Option<Sizes> {
    let mut discrete = Vec::new();
    for index in 0..512 {
        let mut s: v4l2_frmsizeenum = zeroed();
        s.index = index;
        s.pixel_format = u32::from_le_bytes(fourcc);
        // SAFETY: valid v4l2_frmsizeenum with index and format set.
        if retry(|| unsafe { sys::enum_framesizes(fd.as_raw_fd(), &mut s) }).is_err() {
            break;
        }
        if s.type_ == v4l2_frmsizetypes_V4L2_FRMSIZE_TYPE_DISCRETE {
            // SAFETY: the kernel set type DISCRETE, so `discrete` is the active member.
            let d = unsafe { s.__bindgen_anon_1.discrete };
            discrete.push((d.width, d.height));
        } else {
            // SAFETY: CONTINUOUS and STEPWISE both fill `stepwise`.
            let st = unsafe { s.__bindgen_anon_1.stepwise };
            return Some(Sizes::Stepwise {
                min_w: st.min_width,
                max_w: st.max_width,
                step_w: st.step_width.max(1),
                min_h: st.min_height,
                max_h: st.max_height,
                step_h: st.step_height.max(1),
            });
        }
    }
    if discrete.is_empty() {
        None
    } else {
        Some(Sizes::Discrete(discrete))
    }
}

/// Frame intervals for a format at a size.
pub fn enum_rates(fd: BorrowedFd<'_>, fourcc: [u8; 4], width: u32, height: u32) -> Rates {
    let mut discrete = Vec::new();
    for index in 0..128 {
        let mut f: v4l2_frmivalenum = zeroed();
        f.index = index;
        f.pixel_format = u32::from_le_bytes(fourcc);
        f.width = width;
        f.height = height;
        // SAFETY: valid v4l2_frmivalenum with index, format and size set.
        if retry(|| unsafe { sys::enum_frameintervals(fd.as_raw_fd(), &mut f) }).is_err() {
            break;
        }
        if f.type_ == v4l2_frmivaltypes_V4L2_FRMIVAL_TYPE_DISCRETE {
            // SAFETY: DISCRETE type: `discrete` is the active member.
            let d = unsafe { f.__bindgen_anon_1.discrete };
            if d.numerator > 0 && d.denominator > 0 {
                discrete.push(Interval {
                    num: d.numerator,
                    den: d.denominator,
                });
            }
        } else {
            // SAFETY: CONTINUOUS and STEPWISE both fill `stepwise`.
            let st = unsafe { f.__bindgen_anon_1.stepwise };
            return Rates::Stepwise {
                min: Interval {
                    num: st.min.numerator,
                    den: st.min.denominator,
                },
                max: Interval {
                    num: st.max.numerator,
                    den: st.max.denominator,
                },
            };
        }
    }
    if discrete.is_empty() {
        Rates::Unknown
    } else {
        Rates::Discrete(discrete)
    }
}

/// Every concrete mode of a node, stepwise sizes resolved against `req`. Formats whose sizes
/// are not enumerable become one mode at the requested size (S_FMT will adjust it).
pub fn enum_modes(fd: BorrowedFd<'_>, buf_type: u32, req: &Request) -> io::Result<Vec<Mode>> {
    let mut modes = Vec::new();
    for f in enum_formats(fd, buf_type)? {
        let sizes = enum_sizes(fd, f.fourcc)
            .map(|s| expand_sizes(&s, req))
            .unwrap_or_else(|| vec![(req.width, req.height)]);
        for (w, h) in sizes {
            modes.push(Mode {
                fourcc: f.fourcc,
                width: w,
                height: h,
                rates: enum_rates(fd, f.fourcc, w, h),
            });
        }
    }
    Ok(modes)
}

/// The format the driver settled on after S_FMT.
#[derive(Debug, Clone, PartialEq)]
pub struct ActualFormat {
    pub fourcc: [u8; 4],
    pub width: u32,
    pub height: u32,
    /// (bytesperline, sizeimage) per memory plane; one entry for single-planar.
    pub planes: Vec<(u32, u32)>,
}

/// VIDIOC_S_FMT for single- or multi-planar capture; returns what the driver chose.
pub fn set_format(
    fd: BorrowedFd<'_>,
    buf_type: u32,
    fourcc: [u8; 4],
    width: u32,
    height: u32,
) -> io::Result<ActualFormat> {
    let mut f: v4l2_format = zeroed();
    f.type_ = buf_type;
    let code = u32::from_le_bytes(fourcc);
    if buf_type == BUF_TYPE_CAPTURE_MPLANE {
        // Writing Copy fields of a union member is safe; the rest stays zero.
        f.fmt.pix_mp.width = width;
        f.fmt.pix_mp.height = height;
        f.fmt.pix_mp.pixelformat = code;
        f.fmt.pix_mp.field = v4l2_field_V4L2_FIELD_NONE;
    } else {
        f.fmt.pix.width = width;
        f.fmt.pix.height = height;
        f.fmt.pix.pixelformat = code;
        f.fmt.pix.field = v4l2_field_V4L2_FIELD_NONE;
    }
    // SAFETY: `f` is a valid v4l2_format for this buffer type.
    retry(|| unsafe { sys::s_fmt(fd.as_raw_fd(), &mut f) })?;
    Ok(read_format(&f, buf_type))
}

/// VIDIOC_G_FMT: the current format.
pub fn get_format(fd: BorrowedFd<'_>, buf_type: u32) -> io::Result<ActualFormat> {
    let mut f: v4l2_format = zeroed();
    f.type_ = buf_type;
    // SAFETY: `f` is a valid v4l2_format with its type set.
    retry(|| unsafe { sys::g_fmt(fd.as_raw_fd(), &mut f) })?;
    Ok(read_format(&f, buf_type))
}

fn read_format(f: &v4l2_format, buf_type: u32) -> ActualFormat {
    if buf_type == BUF_TYPE_CAPTURE_MPLANE {
        // SAFETY: the kernel filled the pix_mp member for a multi-planar type; the struct is
        // packed, so fields are copied out by value.
        let mp = unsafe { f.fmt.pix_mp };
        let n = usize::from(mp.num_planes).clamp(1, MAX_PLANES);
        let plane_fmt = mp.plane_fmt;
        let planes = plane_fmt[..n]
            .iter()
            .map(|p| {
                let (bpl, size) = (p.bytesperline, p.sizeimage);
                (bpl, size)
            })
            .collect();
        ActualFormat {
            fourcc: { mp.pixelformat }.to_le_bytes(),
            width: mp.width,
            height: mp.height,
            planes,
        }
    } else {
        // SAFETY: the kernel filled the pix member for a single-planar type.
        let p = unsafe { f.fmt.pix };
        ActualFormat {
            fourcc: p.pixelformat.to_le_bytes(),
            width: p.width,
            height: p.height,
            planes: vec![(p.bytesperline, p.sizeimage)],
        }
    }
}

/// VIDIOC_S_PARM with the wanted frame interval; returns what the driver set, or `None` when
/// it does not support setting the rate (many CSI nodes: the sensor's rate is fixed).
pub fn set_interval(fd: BorrowedFd<'_>, buf_type: u32, interval: Interval) -> Option<Interval> {
    let mut p: v4l2_streamparm = zeroed();
    p.type_ = buf_type;
    p.parm.capture.timeperframe.numerator = interval.num;
    p.parm.capture.timeperframe.denominator = interval.den;
    // SAFETY: `p` is a valid v4l2_streamparm with its type set.
    retry(|| unsafe { sys::s_parm(fd.as_raw_fd(), &mut p) }).ok()?;
    // SAFETY: the kernel filled the capture member.
    let t = unsafe { p.parm.capture.timeperframe };
    (t.numerator > 0 && t.denominator > 0).then_some(Interval {
        num: t.numerator,
        den: t.denominator,
    })
}

/// VIDIOC_REQBUFS; returns the count the driver granted (0 frees the buffers).
pub fn request_buffers(fd: BorrowedFd<'_>, buf_type: u32, count: u32) -> io::Result<u32> {
    let mut r: v4l2_requestbuffers = zeroed();
    r.count = count;
    r.type_ = buf_type;
    r.memory = MEMORY_MMAP;
    // SAFETY: valid v4l2_requestbuffers.
    retry(|| unsafe { sys::reqbufs(fd.as_raw_fd(), &mut r) })?;
    Ok(r.count)
}

/// VIDIOC_QUERYBUF. For multi-planar types `buf.m.planes`/`buf.length` must point at a
/// plane array the caller owns.
///
/// # Safety
/// `buf` must be a valid v4l2_buffer; for multi-planar buffers its plane pointer must be
/// valid for `buf.length` elements for the duration of the call.
pub unsafe fn query_buffer(fd: BorrowedFd<'_>, buf: &mut v4l2_buffer) -> io::Result<()> {
    // SAFETY: guaranteed by the caller.
    retry(|| unsafe { sys::querybuf(fd.as_raw_fd(), buf) })
}

/// VIDIOC_QBUF.
///
/// # Safety
/// As for [`query_buffer`].
pub unsafe fn queue_buffer(fd: BorrowedFd<'_>, buf: &mut v4l2_buffer) -> io::Result<()> {
    // SAFETY: guaranteed by the caller.
    retry(|| unsafe { sys::qbuf(fd.as_raw_fd(), buf) })
}

/// VIDIOC_DQBUF.
///
/// # Safety
/// As for [`query_buffer`].
pub unsafe fn dequeue_buffer(fd: BorrowedFd<'_>, buf: &mut v4l2_buffer) -> io::Result<()> {
    // SAFETY: guaranteed by the caller.
    retry(|| unsafe { sys::dqbuf(fd.as_raw_fd(), buf) })
}

pub fn stream_on(fd: BorrowedFd<'_>, buf_type: u32) -> io::Result<()> {
    let t = buf_type as libc::c_int;
    // SAFETY: STREAMON reads one int.
    retry(|| unsafe { sys::streamon(fd.as_raw_fd(), &t) })
}

pub fn stream_off(fd: BorrowedFd<'_>, buf_type: u32) -> io::Result<()> {
    let t = buf_type as libc::c_int;
    // SAFETY: STREAMOFF reads one int.
    retry(|| unsafe { sys::streamoff(fd.as_raw_fd(), &t) })
}

/// Waits until the node has a buffer ready (or an error to report). `Ok(false)` on timeout.
pub fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(r > 0);
    }
}

/// Converts a driver timestamp to wall-clock time. Drivers stamp with CLOCK_MONOTONIC
/// (flag TIMESTAMP_MONOTONIC); anything else is treated as "now".
pub fn driver_time(flags: u32, sec: impl Into<i64>, usec: impl Into<i64>) -> SystemTime {
    let (sec, usec): (i64, i64) = (sec.into(), usec.into());
    let now = SystemTime::now();
    if flags & V4L2_BUF_FLAG_TIMESTAMP_MASK != V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC
        || (sec == 0 && usec == 0)
    {
        return now;
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return now;
    }
    let mono_now = ts.tv_sec as i128 * 1_000_000 + ts.tv_nsec as i128 / 1000;
    let stamp = sec as i128 * 1_000_000 + usec as i128;
    let age_us = (mono_now - stamp).clamp(0, 10_000_000);
    now.checked_sub(Duration::from_micros(age_us as u64))
        .unwrap_or(now)
}
