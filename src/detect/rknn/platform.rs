//! The board side of the NPU: which SoC this is (device tree), how many contexts to create
//! and which core each is pinned to (`detector.npu_cores`), where the NPU device node is,
//! and what an `rknn_init` failure means for the operator (status reason + message).
//!
//! Pure functions take strings and paths so they are tested without a board; `probe_device`
//! and `read_soc` are the only I/O, and take a root folder for the same reason.

use super::ffi::CallError;
use crate::detect::DetectError;
use rknn_sys_rs as sys;
use std::path::{Path, PathBuf};

/// The SoC name ("rk3588", "rk3566", ...) from a device-tree `compatible` value (NUL-separated
/// strings, board first, SoC last: "radxa,rock-5b\0rockchip,rk3588\0").
pub fn soc_from_compatible(compatible: &[u8]) -> Option<String> {
    compatible
        .split(|&b| b == 0)
        .filter_map(|s| std::str::from_utf8(s).ok())
        .filter_map(|s| s.strip_prefix("rockchip,"))
        // Board entries look like "rockchip,rk3588-evb1-lp4-v10"; the SoC entry has no dash.
        .find(|s| {
            (s.starts_with("rk") || s.starts_with("rv"))
                && s.len() > 2
                && s.bytes().all(|b| b.is_ascii_alphanumeric())
        })
        .map(str::to_string)
}

/// Reads the SoC from `<root>/proc/device-tree/compatible` (None off Rockchip boards).
pub fn read_soc(root: &Path) -> Option<String> {
    let bytes = std::fs::read(root.join("proc/device-tree/compatible")).ok()?;
    soc_from_compatible(&bytes)
}

/// NPU cores of a SoC: RK3588/RK3588S have 3, RK3576 has 2, the rest (RK3566/RK3568/RK3562,
/// RV11xx) 1.
pub fn npu_core_count(soc: Option<&str>) -> usize {
    match soc {
        Some(s) if s.starts_with("rk3588") => 3,
        Some(s) if s.starts_with("rk3576") => 2,
        _ => 1,
    }
}

/// One worker's context: pinned to `core`, or `None` to let the runtime choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub core: Option<u8>,
}

impl Slot {
    /// `RKNN_NPU_CORE_*` mask for `rknn_set_core_mask`.
    pub fn mask(self) -> u32 {
        match self.core {
            Some(c) => 1u32 << c,
            None => sys::_rknn_core_mask_RKNN_NPU_CORE_AUTO,
        }
    }
}

/// Contexts to create: `auto` (None) gives one per core on multi-core SoCs (RK3588: cores
/// 0, 1, 2) and one unpinned context elsewhere; a list gives one context per listed core.
pub fn plan_slots(npu_cores: Option<&[u8]>, soc: Option<&str>) -> Vec<Slot> {
    match npu_cores {
        Some(list) if !list.is_empty() => list.iter().map(|&c| Slot { core: Some(c) }).collect(),
        _ => match npu_core_count(soc) {
            1 => vec![Slot { core: None }],
            n => (0..n as u8).map(|c| Slot { core: Some(c) }).collect(),
        },
    }
}

/// Where the NPU device is, if anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Device {
    /// Found; `Err` holds why it cannot be opened (e.g. permission denied).
    Found {
        path: PathBuf,
        access: Result<(), String>,
    },
    Missing,
}

/// Looks for the NPU under `root`: `/dev/rknpu` (RKNPU driver as a misc device, older vendor
/// kernels) or a DRM render node whose driver is `rknpu` (RKNPU 0.8+ on vendor kernels, e.g.
/// /dev/dri/renderD129), and checks that it opens read-write.
pub fn probe_device(root: &Path) -> Device {
    let misc = root.join("dev/rknpu");
    let path = if misc.exists() {
        Some(misc)
    } else {
        render_node(root)
    };
    match path {
        Some(path) => {
            let access = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map(drop)
                .map_err(|e| e.to_string());
            Device::Found { path, access }
        }
        None => Device::Missing,
    }
}

fn render_node(root: &Path) -> Option<PathBuf> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("sys/class/drm"))
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("renderD"))
        .collect();
    names.sort();
    names.into_iter().find_map(|n| {
        let driver =
            std::fs::read_link(root.join("sys/class/drm").join(&n).join("device/driver")).ok()?;
        (driver.file_name()? == "rknpu").then(|| root.join("dev/dri").join(&n))
    })
}

/// Turns a failed `rknn_init` into the status reason and an operator message:
/// `npu_unavailable` when the device or driver is missing, unusable or busy;
/// `model_load_failed` when the runtime rejected the model (another SoC, newer toolkit, not
/// an RKNN file).
pub fn init_failure(
    model: &Path,
    err: &CallError,
    device: &Device,
    soc: Option<&str>,
) -> DetectError {
    let path = model.display().to_string();
    let board = soc.unwrap_or("this board");
    let model_err = |reason: String| DetectError::ModelLoad {
        path: path.clone(),
        reason,
    };
    match err.code {
        sys::RKNN_ERR_MODEL_INVALID => model_err(format!(
            "{err}; the file is not an RKNN model, or was converted by a newer rknn-toolkit2 \
             than the installed librknnrt.so: convert it with the toolkit version matching the \
             runtime (the runtime's own \"E RKNN:\" log line says which), or update librknnrt.so"
        )),
        sys::RKNN_ERR_TARGET_PLATFORM_UNMATCH | sys::RKNN_ERR_DEVICE_UNMATCH => model_err(format!(
            "{err}; the model was converted for another SoC or runtime: convert the ONNX \
             model for {board} (rknn-toolkit2 target_platform='{}'), see docs/deployment.md",
            soc.unwrap_or("<your SoC>")
        )),
        sys::RKNN_ERR_INCOMPATILE_PRE_COMPILE_MODEL
        | sys::RKNN_ERR_INCOMPATILE_OPTIMIZATION_LEVEL_VERSION => model_err(format!(
            "{err}; reconvert the model with the rknn-toolkit2 version matching librknnrt.so \
             and the NPU driver"
        )),
        _ => match device {
            Device::Missing => DetectError::NpuUnavailable(format!(
                "no NPU device: neither /dev/rknpu nor a DRM render node driven by rknpu exists \
                 (the RKNPU kernel driver is not loaded; it ships with Rockchip vendor kernels); \
                 {err}"
            )),
            Device::Found {
                path: dev,
                access: Err(why),
            } => DetectError::NpuUnavailable(format!(
                "cannot open the NPU device {}: {why}; add the gozcu user to the group that \
                 owns it (render, or video) and allow it in the service (DeviceAllow, see \
                 docs/deployment.md); {err}",
                dev.display()
            )),
            Device::Found { path: dev, .. } if err.code == sys::RKNN_ERR_DEVICE_UNAVAILABLE => {
                DetectError::NpuUnavailable(format!(
                    "the NPU at {} is unavailable; check the driver (dmesg | grep -i rknpu); {err}",
                    dev.display()
                ))
            }
            Device::Found { .. } => model_err(format!(
                "{err}; the runtime's own \"E RKNN:\" log line (in the journal) says why"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soc_from_device_tree() {
        assert_eq!(
            soc_from_compatible(b"radxa,rock-5b\0rockchip,rk3588\0").as_deref(),
            Some("rk3588")
        );
        assert_eq!(
            soc_from_compatible(b"rockchip,rk3588-evb1-lp4-v10\0rockchip,rk3588\0").as_deref(),
            Some("rk3588")
        );
        assert_eq!(
            soc_from_compatible(b"pine64,quartz64-a\0rockchip,rk3566\0").as_deref(),
            Some("rk3566")
        );
        assert_eq!(
            soc_from_compatible(b"raspberrypi,4-model-b\0brcm,bcm2711\0"),
            None
        );
        assert_eq!(soc_from_compatible(b""), None);
    }

    #[test]
    fn read_soc_from_a_root() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_soc(dir.path()), None);
        std::fs::create_dir_all(dir.path().join("proc/device-tree")).unwrap();
        std::fs::write(
            dir.path().join("proc/device-tree/compatible"),
            b"friendlyarm,nanopi-r6s\0rockchip,rk3588s\0",
        )
        .unwrap();
        assert_eq!(read_soc(dir.path()).as_deref(), Some("rk3588s"));
    }

    #[test]
    fn slots_auto_and_listed() {
        let cores = |v: Vec<Slot>| v.iter().map(|s| s.core).collect::<Vec<_>>();
        assert_eq!(
            cores(plan_slots(None, Some("rk3588"))),
            vec![Some(0), Some(1), Some(2)]
        );
        assert_eq!(
            cores(plan_slots(None, Some("rk3576"))),
            vec![Some(0), Some(1)]
        );
        assert_eq!(cores(plan_slots(None, Some("rk3566"))), vec![None]);
        assert_eq!(cores(plan_slots(None, None)), vec![None]);
        assert_eq!(
            cores(plan_slots(Some(&[2, 0]), Some("rk3588"))),
            vec![Some(2), Some(0)]
        );
        assert_eq!(plan_slots(None, Some("rk3588"))[2].mask(), 4);
        assert_eq!(Slot { core: None }.mask(), 0);
    }

    #[test]
    fn probe_finds_misc_device_and_render_node() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(probe_device(root), Device::Missing);

        // A DRM render node of the rknpu driver (vendor kernels with RKNPU >= 0.8).
        std::fs::create_dir_all(root.join("sys/class/drm/renderD128/device")).unwrap();
        std::fs::create_dir_all(root.join("sys/class/drm/renderD129/device")).unwrap();
        std::fs::create_dir_all(root.join("drivers/panfrost")).unwrap();
        std::fs::create_dir_all(root.join("drivers/rknpu")).unwrap();
        std::os::unix::fs::symlink(
            root.join("drivers/panfrost"),
            root.join("sys/class/drm/renderD128/device/driver"),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            root.join("drivers/rknpu"),
            root.join("sys/class/drm/renderD129/device/driver"),
        )
        .unwrap();
        std::fs::create_dir_all(root.join("dev/dri")).unwrap();
        std::fs::write(root.join("dev/dri/renderD129"), b"").unwrap();
        assert_eq!(
            probe_device(root),
            Device::Found {
                path: root.join("dev/dri/renderD129"),
                access: Ok(())
            }
        );

        std::fs::write(root.join("dev/rknpu"), b"").unwrap();
        assert!(
            matches!(probe_device(root), Device::Found { path, .. } if path.ends_with("dev/rknpu"))
        );
    }

    fn call(code: i32) -> CallError {
        CallError {
            call: "rknn_init",
            code,
        }
    }

    #[test]
    fn model_errors_are_model_load_failed_whatever_the_device() {
        let m = Path::new("/m/yolox.rknn");
        let e = init_failure(m, &call(-13), &Device::Missing, Some("rk3566"));
        assert_eq!(e.reason_code(), "model_load_failed");
        let text = e.to_string();
        assert!(
            text.starts_with("model /m/yolox.rknn failed to load: rknn_init returned -13"),
            "{text}"
        );
        assert!(text.contains("target_platform='rk3566'"), "{text}");

        let e = init_failure(m, &call(-6), &Device::Missing, None);
        assert_eq!(e.reason_code(), "model_load_failed");
        assert!(e.to_string().contains("newer rknn-toolkit2"), "{e}");
    }

    #[test]
    fn device_problems_are_npu_unavailable() {
        let m = Path::new("/m/yolox.rknn");
        let e = init_failure(m, &call(-1), &Device::Missing, Some("rk3588"));
        assert_eq!(e.reason_code(), "npu_unavailable");
        assert!(e.to_string().contains("no NPU device"), "{e}");

        let denied = Device::Found {
            path: PathBuf::from("/dev/dri/renderD129"),
            access: Err("Permission denied (os error 13)".to_string()),
        };
        let e = init_failure(m, &call(-1), &denied, Some("rk3588"));
        assert_eq!(e.reason_code(), "npu_unavailable");
        let text = e.to_string();
        assert!(
            text.contains("cannot open the NPU device /dev/dri/renderD129: Permission denied")
                && text.contains("group"),
            "{text}"
        );

        let ok = Device::Found {
            path: PathBuf::from("/dev/rknpu"),
            access: Ok(()),
        };
        let e = init_failure(m, &call(-3), &ok, None);
        assert_eq!(e.reason_code(), "npu_unavailable");
        assert!(e.to_string().contains("RKNN_ERR_DEVICE_UNAVAILABLE"), "{e}");

        // The device works, so a generic failure is about the model.
        let e = init_failure(m, &call(-1), &ok, None);
        assert_eq!(e.reason_code(), "model_load_failed");
    }
}
