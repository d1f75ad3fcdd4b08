//! Which USB bus a V4L2 node sits on, from sysfs: when other cameras share the bus, raw YUV
//! would exhaust its bandwidth, so negotiation prefers MJPEG (see negotiate.rs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// From a node's canonical sysfs path, e.g.
/// `/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/video4linux/video0`, returns the
/// root hub (`usb1`) and the USB device (`1-2`). `None` for non-USB nodes (CSI, vivid).
pub fn usb_location(sys_path: &Path) -> Option<(String, String)> {
    let parts: Vec<String> = sys_path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let root_pos = parts.iter().rposition(|p| {
        p.strip_prefix("usb")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })?;
    let device = parts.get(root_pos + 1)?;
    // A USB device directory is "<bus>-<port>[.<port>...]"; interfaces have a ':'.
    if device.contains(':') || !device.contains('-') {
        return None;
    }
    Some((parts[root_pos].clone(), device.clone()))
}

/// How many other USB devices with video nodes share `mine`'s root hub, given the canonical
/// sysfs paths of all video nodes.
pub fn count_others_on_bus(mine: &Path, all: &[PathBuf]) -> usize {
    let Some((root, device)) = usb_location(mine) else {
        return 0;
    };
    let others: BTreeSet<String> = all
        .iter()
        .filter_map(|p| usb_location(p))
        .filter(|(r, d)| *r == root && *d != device)
        .map(|(_, d)| d)
        .collect();
    others.len()
}

/// The canonical sysfs path of a device node (`/dev/video0` or a by-id symlink).
pub fn sysfs_path_of(dev: &Path) -> Option<PathBuf> {
    let real = std::fs::canonicalize(dev).ok()?;
    let name = real.file_name()?;
    std::fs::canonicalize(Path::new("/sys/class/video4linux").join(name)).ok()
}

/// Number of other USB cameras on the same bus as `dev` (0 when unknown or not USB).
pub fn other_cameras_on_bus(dev: &Path) -> usize {
    let Some(mine) = sysfs_path_of(dev) else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir("/sys/class/video4linux") else {
        return 0;
    };
    let all: Vec<PathBuf> = entries
        .flatten()
        .filter_map(|e| std::fs::canonicalize(e.path()).ok())
        .collect();
    count_others_on_bus(&mine, &all)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAM_A: &str = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/video4linux/video0";
    const CAM_A_META: &str =
        "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/video4linux/video1";
    const CAM_B: &str =
        "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3.1/1-3.1:1.0/video4linux/video2";
    const CAM_C_OTHER_BUS: &str =
        "/sys/devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/video4linux/video4";
    const CSI: &str = "/sys/devices/platform/rkisp-vir0/video4linux/video11";

    #[test]
    fn finds_root_hub_and_device() {
        assert_eq!(
            usb_location(Path::new(CAM_A)),
            Some(("usb1".to_string(), "1-2".to_string()))
        );
        assert_eq!(
            usb_location(Path::new(CAM_B)),
            Some(("usb1".to_string(), "1-3".to_string()))
        );
        assert_eq!(usb_location(Path::new(CSI)), None);
    }

    #[test]
    fn counts_other_devices_on_the_same_root_hub_only() {
        let all: Vec<PathBuf> = [CAM_A, CAM_A_META, CAM_B, CAM_C_OTHER_BUS, CSI]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(count_others_on_bus(Path::new(CAM_A), &all), 1);
        assert_eq!(count_others_on_bus(Path::new(CAM_C_OTHER_BUS), &all), 0);
        assert_eq!(count_others_on_bus(Path::new(CSI), &all), 0);
        let alone: Vec<PathBuf> = [CAM_A, CAM_A_META].iter().map(PathBuf::from).collect();
        assert_eq!(count_others_on_bus(Path::new(CAM_A), &alone), 0);
    }
}
