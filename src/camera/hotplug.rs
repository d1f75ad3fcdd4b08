//! Hotplug: one thread per process listens to kernel uevents (NETLINK_KOBJECT_UEVENT) and
//! tells every subscribed camera runner when a video4linux device is added, so a camera
//! that is `down` or `retrying` reopens at once instead of at its next probe. Works without
//! udev (kernel events, devtmpfs nodes), e.g. in the qemu test VM. When the socket cannot be
//! opened (no AF_NETLINK in a sandbox) cameras fall back to their periodic probes.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// The fields of a kernel uevent we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uevent {
    pub action: String,
    pub subsystem: String,
    /// Node name under /dev, e.g. `video0`.
    pub devname: Option<String>,
}

/// Parses a kernel uevent datagram: `action@devpath\0KEY=value\0...`. `None` for anything
/// else (udev's own "libudev" messages are never sent to the kernel group we bind).
pub fn parse_uevent(buf: &[u8]) -> Option<Uevent> {
    let mut fields = buf.split(|&b| b == 0).filter(|f| !f.is_empty());
    let header = std::str::from_utf8(fields.next()?).ok()?;
    header.split_once('@')?;
    let mut ev = Uevent {
        action: String::new(),
        subsystem: String::new(),
        devname: None,
    };
    for f in fields {
        let Ok(text) = std::str::from_utf8(f) else {
            continue;
        };
        match text.split_once('=') {
            Some(("ACTION", v)) => ev.action = v.to_string(),
            Some(("SUBSYSTEM", v)) => ev.subsystem = v.to_string(),
            Some(("DEVNAME", v)) => ev.devname = Some(v.trim_start_matches("/dev/").to_string()),
            _ => {}
        }
    }
    (!ev.action.is_empty()).then_some(ev)
}

/// How a camera's configured `device` relates to the node `/dev/<devname>` that appeared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceMatch {
    /// The path resolves to that node.
    Yes,
    /// The path resolves to another node.
    No,
    /// The path does not resolve (yet): udev may still be creating a by-id link, so the
    /// runner keeps watching the path for a few seconds.
    Unresolved,
}

pub fn match_device(device: &Path, devname: &str) -> DeviceMatch {
    match std::fs::canonicalize(device) {
        Ok(real) if real == Path::new("/dev").join(devname) => DeviceMatch::Yes,
        Ok(_) => DeviceMatch::No,
        Err(_) => DeviceMatch::Unresolved,
    }
}

/// A runner's subscription: the names of video devices added since it last looked.
#[derive(Debug, Default)]
pub struct HotplugWatch {
    added: Mutex<Vec<String>>,
}

impl HotplugWatch {
    /// Device names added since the last call.
    pub fn take_added(&self) -> Vec<String> {
        std::mem::take(&mut *self.added.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn push(&self, devname: String) {
        self.added
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(devname);
    }
}

type Subscribers = Mutex<Vec<Weak<HotplugWatch>>>;

static SUBSCRIBERS: OnceLock<Arc<Subscribers>> = OnceLock::new();

/// Subscribes to video device additions; starts the listener on first use.
pub fn subscribe() -> Arc<HotplugWatch> {
    let subs = SUBSCRIBERS.get_or_init(|| {
        let subs: Arc<Subscribers> = Arc::default();
        match open_socket() {
            Ok(fd) => {
                let s = subs.clone();
                let spawned = std::thread::Builder::new()
                    .name("gozcu-hotplug".to_string())
                    .spawn(move || listen(fd, s));
                if let Err(e) = spawned {
                    tracing::warn!(
                        "hotplug listener not started ({e}); cameras probe periodically"
                    );
                }
            }
            Err(e) => {
                tracing::warn!("hotplug events unavailable ({e}); cameras probe periodically");
            }
        }
        subs
    });
    let watch = Arc::new(HotplugWatch::default());
    subs.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Arc::downgrade(&watch));
    watch
}

/// Delivers an event to every live subscriber (and forgets dropped ones).
fn deliver(subs: &Subscribers, devname: &str) {
    let mut list = subs.lock().unwrap_or_else(|e| e.into_inner());
    list.retain(|w| match w.upgrade() {
        Some(watch) => {
            watch.push(devname.to_string());
            true
        }
        None => false,
    });
}

fn open_socket() -> std::io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned by the returned OwnedFd.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_KOBJECT_UEVENT,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just created and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_nl is plain old data; all-zero is valid.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_groups = 1; // kernel uevents
    // SAFETY: binding with a valid sockaddr_nl of the size given.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

fn listen(fd: OwnedFd, subs: Arc<Subscribers>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // SAFETY: receiving into a buffer we own, of the length given.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                // Interrupted, or the kernel dropped events because we were slow (ENOBUFS):
                // both harmless, the periodic probe covers anything missed.
                Some(libc::EINTR) | Some(libc::ENOBUFS) => continue,
                _ => {
                    tracing::warn!("hotplug listener stopped: {e}");
                    return;
                }
            }
        }
        let Some(ev) = parse_uevent(&buf[..n as usize]) else {
            continue;
        };
        if ev.action == "add"
            && ev.subsystem == "video4linux"
            && let Some(name) = ev.devname
        {
            tracing::debug!(device = %name, "video device added");
            deliver(&subs, &name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_kernel_add_event() {
        let msg = b"add@/devices/platform/vivid.0/video4linux/video0\0ACTION=add\0\
DEVPATH=/devices/platform/vivid.0/video4linux/video0\0SUBSYSTEM=video4linux\0\
DEVNAME=video0\0SEQNUM=1234\0MAJOR=81\0MINOR=0\0";
        let ev = parse_uevent(msg).unwrap();
        assert_eq!(ev.action, "add");
        assert_eq!(ev.subsystem, "video4linux");
        assert_eq!(ev.devname.as_deref(), Some("video0"));
    }

    #[test]
    fn rejects_non_uevents() {
        assert!(parse_uevent(b"libudev\0\xfe\xed").is_none());
        assert!(parse_uevent(b"").is_none());
    }

    #[test]
    fn delivers_to_live_subscribers_only() {
        let subs: Subscribers = Mutex::default();
        let a = Arc::new(HotplugWatch::default());
        let b = Arc::new(HotplugWatch::default());
        subs.lock().unwrap().push(Arc::downgrade(&a));
        subs.lock().unwrap().push(Arc::downgrade(&b));
        drop(b);
        deliver(&subs, "video2");
        assert_eq!(a.take_added(), vec!["video2".to_string()]);
        assert!(a.take_added().is_empty());
        assert_eq!(subs.lock().unwrap().len(), 1);
    }

    #[test]
    fn matches_by_resolved_path() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("by-id-cam");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        assert_eq!(match_device(&link, "null"), DeviceMatch::Yes);
        assert_eq!(match_device(&link, "video0"), DeviceMatch::No);
        assert_eq!(
            match_device(Path::new("/dev/v4l/by-id/does-not-exist"), "video3"),
            DeviceMatch::Unresolved
        );
    }
}
