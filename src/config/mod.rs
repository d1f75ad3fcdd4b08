//! Typed configuration: one TOML file plus `GOZCU__SECTION__KEY` environment overrides,
//! validated after loading. Key names are the public contract (docs/configuration.md).
//!
//! This file holds the structs and their defaults; loading, validation, the reload diff
//! and `check-config` live in the submodules and are re-exported here.

mod check;
mod diff;
mod env;
mod error;
mod load;
mod locate;
mod messages;
mod validate;

pub use check::{REDACTED, check_config_main, effective_toml, notes, redacted};
pub use diff::{ConfigChange, diff};
pub use env::{
    ENV_LIST_SEPARATOR, ENV_PREFIX, ENV_SEPARATOR, EnvOverride, EnvValue, overridable_keys,
    parse_overrides, process_env,
};
pub use error::{ConfigError, Origin, Problem};
pub use load::{config_dir, load, load_from_str, load_with_env};
pub use validate::{
    KNOWN_FORMATS, MAX_CAMERA_ID_LEN, MAX_NPU_CORE, is_valid_camera_id, parse_npu_cores, validate,
};

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where the daemon looks when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/gozcu/gozcu.toml";

/// Exit code for a configuration error (sysexits EX_CONFIG); systemd's
/// `RestartPreventExitStatus=78` keeps a broken config from restart-looping.
pub const EXIT_CONFIG: i32 = 78;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub detector: DetectorConfig,
    pub motion: MotionConfig,
    pub events: EventsConfig,
    pub log: LogConfig,
    pub cameras: Vec<CameraConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Socket addresses to listen on (IPv4 and/or IPv6).
    pub listen: Vec<SocketAddr>,
    /// Empty: no authentication.
    pub token: String,
    /// Origins allowed besides the device's own host.
    pub allowed_origins: Vec<String>,
    /// Host names (besides listen addresses and localhost) accepted in `Host`.
    pub hostnames: Vec<String>,
    pub max_clients: usize,
    pub max_clients_per_ip: usize,
    pub ping_interval_s: u64,
    pub idle_timeout_s: u64,
    /// Outgoing messages buffered per client before it is evicted as a slow consumer.
    pub client_queue: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: vec![SocketAddr::from(([0, 0, 0, 0], 8080))],
            token: String::new(),
            allowed_origins: Vec::new(),
            hostnames: Vec::new(),
            max_clients: 256,
            max_clients_per_ip: 32,
            ping_interval_s: 20,
            idle_timeout_s: 60,
            client_queue: 256,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Database `gozcu.db` and `snapshots/` live here.
    pub dir: PathBuf,
    pub retain_days: u32,
    pub max_events: u64,
    pub max_snapshot_mb: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("/var/lib/gozcu"),
            retain_days: 14,
            max_events: 50_000,
            max_snapshot_mb: 256,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Auto,
    Rknn,
    Cpu,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFamily {
    Yolox,
    Yolov8,
    Yolov5,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    pub backend: Backend,
    pub model: PathBuf,
    /// CPU model used when `backend = "auto"` and the NPU is unavailable (empty: none).
    pub cpu_model: PathBuf,
    pub family: ModelFamily,
    /// Labels that create events.
    pub labels: Vec<String>,
    /// Optional file with one class name per line (empty: COCO 80).
    pub labels_file: PathBuf,
    pub min_score: f32,
    pub confirm_score: f32,
    /// Smallest box, as a fraction of the frame area, that counts.
    pub min_area: f32,
    pub nms_iou: f32,
    /// Threads of the CPU model (tract's multithread executor above 1). Default 1: on the
    /// 2-vCPU benchmark machine two threads made YOLOX-Nano 2.4x slower, not faster
    /// (docs/benchmarks.md).
    pub threads: usize,
    /// `"auto"` or a comma-separated list of NPU core indices, e.g. `"0,1,2"`.
    pub npu_cores: String,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Auto,
            model: PathBuf::from("/usr/share/gozcu/models/yolox_nano.onnx"),
            cpu_model: PathBuf::new(),
            family: ModelFamily::Yolox,
            labels: vec!["person".to_string()],
            labels_file: PathBuf::new(),
            min_score: 0.5,
            confirm_score: 0.7,
            min_area: 0.001,
            nms_iou: 0.45,
            threads: 1,
            npu_cores: "auto".to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MotionConfig {
    pub enabled: bool,
    /// Per-pixel luma difference (0..255) that counts as change.
    pub threshold: u8,
    /// Smallest changed region, as a fraction of the frame, that counts as motion.
    pub min_area: f32,
    /// Frames used to learn the background before motion is reported.
    pub warmup_frames: u32,
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            threshold: 25,
            min_area: 0.002,
            warmup_frames: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    pub end_after_s: f64,
    pub update_interval_s: f64,
    pub snapshots: bool,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            end_after_s: 5.0,
            update_interval_s: 5.0,
            snapshots: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub level: LogLevel,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: LogLevel::Info,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CameraConfig {
    pub id: String,
    pub name: String,
    /// V4L2 path, `testsrc:` or `replay:<dir-or-file>`.
    pub device: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// `auto` or a V4L2 fourcc such as `MJPG`, `YUYV`, `NV12`.
    pub format: String,
    pub detect_fps: f32,
    pub enabled: bool,
}

impl Default for CameraConfig {
    fn default() -> Self {
        Self {
            id: String::new(),
            name: String::new(),
            device: String::new(),
            width: 1280,
            height: 720,
            fps: 15,
            format: "auto".to_string(),
            detect_fps: 5.0,
            enabled: true,
        }
    }
}

#[cfg(test)]
impl CameraConfig {
    /// A camera with this id on `device`, defaults otherwise (unit tests).
    pub(crate) fn for_test(id: &str, device: &str) -> Self {
        CameraConfig {
            id: id.into(),
            device: device.into(),
            ..CameraConfig::default()
        }
    }
}

/// What a camera's `device` string names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceKind {
    V4l2(PathBuf),
    TestSrc,
    Replay(PathBuf),
}

impl CameraConfig {
    /// The display name: `name`, or the id when no name is set.
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            &self.id
        } else {
            &self.name
        }
    }

    pub fn device_kind(&self) -> DeviceKind {
        if let Some(rest) = self.device.strip_prefix("replay:") {
            DeviceKind::Replay(PathBuf::from(rest))
        } else if self.device.starts_with("testsrc:") {
            DeviceKind::TestSrc
        } else {
            DeviceKind::V4l2(PathBuf::from(&self.device))
        }
    }
}

/// Resolves `p` against the config file's folder when relative (DESIGN.md §5).
pub fn resolve_path(config_dir: &Path, p: &Path) -> PathBuf {
    if p.as_os_str().is_empty() || p.is_absolute() {
        p.to_path_buf()
    } else {
        config_dir.join(p)
    }
}
