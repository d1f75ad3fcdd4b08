//! Storage faults for the reliability suites: tmpfs and read-only bind mounts (root), a
//! folder made unwritable, and filling a filesystem to a given free space.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mount made by a test; unmounted (lazily, so a crashed daemon cannot block it) on drop.
pub struct Mount {
    path: PathBuf,
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Skips (returns None with a note) only when not root and not in CI; fails in CI.
fn cannot(what: &str, why: &str) -> Option<Mount> {
    if ci() {
        panic!("{what} is needed for this test and failed under CI: {why}");
    }
    eprintln!("note: {what} not possible ({why}); test skipped");
    None
}

fn mount(args: &[&str], path: &Path) -> Result<(), String> {
    let out = Command::new("mount")
        .args(args)
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Mounts a tmpfs of `size_mb` MiB on `path` (created if needed).
pub fn tmpfs(path: &Path, size_mb: u64) -> Option<Mount> {
    std::fs::create_dir_all(path).unwrap();
    if !is_root() && !ci() {
        return cannot("mounting a tmpfs", "not root");
    }
    let opt = format!("size={size_mb}m");
    match mount(&["-t", "tmpfs", "-o", &opt, "tmpfs"], path) {
        Ok(()) => Some(Mount {
            path: path.to_owned(),
        }),
        Err(e) => cannot("mounting a tmpfs", &e),
    }
}

/// A folder made unwritable by a test, with the error text writes into it give; made
/// writable again on drop.
pub struct Unwritable {
    path: PathBuf,
    mount: Option<Mount>,
    /// (error, the hint gozcu adds) as in a failed write's message.
    pub expected: (&'static str, &'static str),
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        if self.mount.take().is_none() {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o755));
        }
    }
}

/// Makes the existing folder `path` unwritable: as root with a read-only bind mount onto
/// itself (root ignores permissions), otherwise with `chmod 555` (still readable, so the
/// snapshots already there can be served). None (skip) only when the mount is impossible
/// for root outside CI.
pub fn unwritable(path: &Path) -> Option<Unwritable> {
    if !is_root() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o555)).unwrap();
        return Some(Unwritable {
            path: path.to_owned(),
            mount: None,
            expected: ("Permission denied", "needs write permission"),
        });
    }
    let source = path.display().to_string();
    if let Err(e) =
        mount(&["--bind", &source], path).and_then(|()| mount(&["-o", "remount,bind,ro"], path))
    {
        let _ = Command::new("umount").arg("-l").arg(path).status();
        cannot("a read-only bind mount", &e)?;
    }
    Some(Unwritable {
        path: path.to_owned(),
        mount: Some(Mount {
            path: path.to_owned(),
        }),
        expected: ("Read-only file system", "mounted read-only"),
    })
}

/// Free bytes on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> u64 {
    let st = nix::sys::statvfs::statvfs(path).unwrap();
    st.blocks_available() as u64 * st.fragment_size() as u64
}

/// Writes `path` with zeros until only about `leave` bytes are free on its filesystem, or
/// until the filesystem is full (`leave = 0`); returns the bytes written.
pub fn fill(path: &Path, leave: u64) -> u64 {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let chunk = vec![0u8; 256 * 1024];
    let mut written = 0;
    loop {
        let free = free_bytes(path.parent().unwrap());
        if free <= leave {
            break;
        }
        let n = chunk.len().min((free - leave) as usize).max(4096);
        match f.write(&chunk[..n]) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    let _ = f.sync_all();
    written
}
