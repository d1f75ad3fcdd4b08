//! What changed between two configs, for `SIGHUP` reload. Pure: the daemon applies the
//! list (restart only changed cameras, reload the model only when detector settings
//! changed) and logs the changes that need a restart.

use super::{Config, LogLevel};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// A camera id present only in the new config: start it.
    CameraAdded(String),
    /// A camera id present only in the old config: stop it.
    CameraRemoved(String),
    /// Any key of this camera changed (device, size, name, enabled, ...): restart it.
    CameraChanged(String),
    /// Any `[detector]` key changed: reload the model / detector pool.
    DetectorChanged,
    /// Any `[motion]` key changed: applied to every camera worker.
    MotionChanged,
    /// Any `[events]` key changed: applied to new decisions of the event lifecycle.
    EventsChanged,
    /// Any `[server]` key other than `listen` changed (token, origins, host names, client
    /// limits, heartbeat, queue size): applied to new connections.
    ServerLimitsChanged,
    /// `server.listen` changed: needs a restart.
    ListenChanged,
    /// Any `[storage]` key changed: needs a restart.
    StorageChanged,
    /// `log.level` changed: applied at once.
    LogLevelChanged(LogLevel),
}

impl ConfigChange {
    /// `true` when the running daemon cannot apply the change; it keeps the old value and
    /// says so until it is restarted.
    pub fn needs_restart(&self) -> bool {
        matches!(
            self,
            ConfigChange::ListenChanged | ConfigChange::StorageChanged
        )
    }
}

impl fmt::Display for ConfigChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigChange::CameraAdded(id) => write!(f, "camera {id} added"),
            ConfigChange::CameraRemoved(id) => write!(f, "camera {id} removed"),
            ConfigChange::CameraChanged(id) => write!(f, "camera {id} changed"),
            ConfigChange::DetectorChanged => f.write_str("[detector] changed"),
            ConfigChange::MotionChanged => f.write_str("[motion] changed"),
            ConfigChange::EventsChanged => f.write_str("[events] changed"),
            ConfigChange::ServerLimitsChanged => f.write_str("[server] settings changed"),
            ConfigChange::ListenChanged => {
                f.write_str("server.listen changed (takes effect after a restart)")
            }
            ConfigChange::StorageChanged => {
                f.write_str("[storage] changed (takes effect after a restart)")
            }
            ConfigChange::LogLevelChanged(l) => write!(f, "log.level changed to {l:?}"),
        }
    }
}

/// The changes from `old` to `new`, in a fixed order: restart-only changes, global
/// sections, then cameras (removed, added, changed; each in config order).
pub fn diff(old: &Config, new: &Config) -> Vec<ConfigChange> {
    let mut out = Vec::new();
    if old.server.listen != new.server.listen {
        out.push(ConfigChange::ListenChanged);
    }
    if old.storage != new.storage {
        out.push(ConfigChange::StorageChanged);
    }
    if old.log.level != new.log.level {
        out.push(ConfigChange::LogLevelChanged(new.log.level));
    }
    let mut old_server = old.server.clone();
    old_server.listen.clone_from(&new.server.listen);
    if old_server != new.server {
        out.push(ConfigChange::ServerLimitsChanged);
    }
    if old.detector != new.detector {
        out.push(ConfigChange::DetectorChanged);
    }
    if old.motion != new.motion {
        out.push(ConfigChange::MotionChanged);
    }
    if old.events != new.events {
        out.push(ConfigChange::EventsChanged);
    }
    let find = |cfg: &'_ Config, id: &str| cfg.cameras.iter().position(|c| c.id == id);
    for c in &old.cameras {
        if find(new, &c.id).is_none() {
            out.push(ConfigChange::CameraRemoved(c.id.clone()));
        }
    }
    for c in &new.cameras {
        if find(old, &c.id).is_none() {
            out.push(ConfigChange::CameraAdded(c.id.clone()));
        }
    }
    for c in &new.cameras {
        if let Some(i) = find(old, &c.id)
            && old.cameras[i] != *c
        {
            out.push(ConfigChange::CameraChanged(c.id.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CameraConfig;
    use std::net::SocketAddr;

    fn cam(id: &str) -> CameraConfig {
        CameraConfig::for_test(id, "testsrc:")
    }

    fn base() -> Config {
        Config {
            cameras: vec![cam("a"), cam("b"), cam("c")],
            ..Config::default()
        }
    }

    #[test]
    fn identical_configs_and_reordered_cameras_have_no_changes() {
        assert_eq!(diff(&base(), &base()), vec![]);
        let mut reordered = base();
        reordered.cameras.reverse();
        assert_eq!(diff(&base(), &reordered), vec![]);
    }

    #[test]
    fn cameras_added_removed_and_changed_by_id() {
        let mut new = base();
        new.cameras.remove(0); // a removed
        new.cameras[0].fps = 5; // b changed
        new.cameras.push(cam("d")); // d added
        new.cameras[1].name = "Yard".into(); // c changed (name only)
        assert_eq!(
            diff(&base(), &new),
            vec![
                ConfigChange::CameraRemoved("a".into()),
                ConfigChange::CameraAdded("d".into()),
                ConfigChange::CameraChanged("b".into()),
                ConfigChange::CameraChanged("c".into()),
            ]
        );
    }

    #[test]
    fn each_section_maps_to_its_change() {
        let old = base();
        let mut new = base();
        new.server.listen = vec![SocketAddr::from(([127, 0, 0, 1], 9000))];
        new.storage.retain_days = 3;
        new.log.level = LogLevel::Debug;
        new.detector.min_score = 0.3;
        new.motion.threshold = 40;
        new.events.end_after_s = 9.0;
        let changes = diff(&old, &new);
        assert_eq!(
            changes,
            vec![
                ConfigChange::ListenChanged,
                ConfigChange::StorageChanged,
                ConfigChange::LogLevelChanged(LogLevel::Debug),
                ConfigChange::DetectorChanged,
                ConfigChange::MotionChanged,
                ConfigChange::EventsChanged,
            ]
        );
        let restart: Vec<_> = changes.iter().filter(|c| c.needs_restart()).collect();
        assert_eq!(
            restart,
            [&ConfigChange::ListenChanged, &ConfigChange::StorageChanged]
        );
    }

    #[test]
    fn listen_alone_is_not_a_server_limits_change() {
        let mut new = base();
        new.server
            .listen
            .push(SocketAddr::from(([127, 0, 0, 1], 9000)));
        assert_eq!(diff(&base(), &new), vec![ConfigChange::ListenChanged]);
        new.server.token = "secret".into();
        new.server.max_clients = 10;
        assert_eq!(
            diff(&base(), &new),
            vec![
                ConfigChange::ListenChanged,
                ConfigChange::ServerLimitsChanged
            ]
        );
    }

    #[test]
    fn change_text_says_which_need_a_restart() {
        assert_eq!(
            ConfigChange::StorageChanged.to_string(),
            "[storage] changed (takes effect after a restart)"
        );
        assert_eq!(
            ConfigChange::CameraChanged("cam-1".into()).to_string(),
            "camera cam-1 changed"
        );
    }
}
