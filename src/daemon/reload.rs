//! Reload (`systemctl reload gozcu`, SIGHUP): turns the configuration diff into a plan of
//! what to restart. Pure, so the rules are unit-tested; `Daemon::reload` carries it out.
//!
//! Camera workers hold their detector, motion and events settings, so a change to any of
//! those sections restarts every camera (open events end with reason "reload"); a change to
//! one camera restarts only that camera. `server.listen` and `[storage]` need a restart of
//! the daemon: the running values are kept and the log says so.

use crate::config::{Config, ConfigChange, LogLevel};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReloadPlan {
    /// Running cameras to stop (removed, changed, or restarted for new shared settings).
    pub stop: BTreeSet<String>,
    /// Enabled cameras of the new config to start.
    pub start: BTreeSet<String>,
    pub reload_detector: bool,
    pub server_limits: bool,
    pub log_level: Option<LogLevel>,
    /// Changes that need `systemctl restart gozcu` to take effect.
    pub needs_restart: Vec<String>,
}

/// Decides what to do for `changes` (from `config::diff(old, new)`).
pub fn plan(old: &Config, new: &Config, changes: &[ConfigChange]) -> ReloadPlan {
    let mut plan = ReloadPlan::default();
    let running = |c: &Config, id: &str| c.cameras.iter().any(|cam| cam.id == id && cam.enabled);
    let restart_all = changes.iter().any(|c| {
        matches!(
            c,
            ConfigChange::DetectorChanged
                | ConfigChange::MotionChanged
                | ConfigChange::EventsChanged
        )
    });
    for change in changes {
        match change {
            ConfigChange::CameraAdded(id)
            | ConfigChange::CameraChanged(id)
            | ConfigChange::CameraRemoved(id) => {
                if running(old, id) {
                    plan.stop.insert(id.clone());
                }
                if running(new, id) {
                    plan.start.insert(id.clone());
                }
            }
            ConfigChange::DetectorChanged => plan.reload_detector = true,
            ConfigChange::ServerLimitsChanged => plan.server_limits = true,
            ConfigChange::LogLevelChanged(level) => plan.log_level = Some(*level),
            ConfigChange::ListenChanged | ConfigChange::StorageChanged => {
                plan.needs_restart.push(change.to_string())
            }
            ConfigChange::MotionChanged | ConfigChange::EventsChanged => {}
        }
    }
    if restart_all {
        plan.stop.extend(
            old.cameras
                .iter()
                .filter(|c| c.enabled)
                .map(|c| c.id.clone()),
        );
        plan.start.extend(
            new.cameras
                .iter()
                .filter(|c| c.enabled)
                .map(|c| c.id.clone()),
        );
    }
    plan
}

/// The configuration the daemon runs after a reload: the new one, except for the parts
/// that need a restart (listen addresses, storage), which keep their running values.
pub fn effective(old: &Config, new: &Config) -> Config {
    let mut cfg = new.clone();
    cfg.server.listen = old.server.listen.clone();
    cfg.storage = old.storage.clone();
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CameraConfig, diff};

    fn cam(id: &str) -> CameraConfig {
        CameraConfig::for_test(id, "testsrc:")
    }

    fn base() -> Config {
        Config {
            cameras: vec![cam("a"), cam("b")],
            ..Config::default()
        }
    }

    #[test]
    fn one_changed_camera_restarts_only_that_camera() {
        let old = base();
        let mut new = base();
        new.cameras[1].fps = 5;
        let p = plan(&old, &new, &diff(&old, &new));
        assert_eq!(p.stop, BTreeSet::from(["b".to_string()]));
        assert_eq!(p.start, BTreeSet::from(["b".to_string()]));
        assert!(!p.reload_detector);
    }

    #[test]
    fn added_removed_and_disabled_cameras() {
        let old = base();
        let mut new = base();
        new.cameras.remove(0);
        new.cameras[0].enabled = false;
        new.cameras.push(cam("c"));
        let p = plan(&old, &new, &diff(&old, &new));
        assert_eq!(p.stop, BTreeSet::from(["a".to_string(), "b".to_string()]));
        assert_eq!(p.start, BTreeSet::from(["c".to_string()]));
    }

    #[test]
    fn detector_change_reloads_model_and_restarts_cameras() {
        let old = base();
        let mut new = base();
        new.detector.min_score = 0.6;
        let p = plan(&old, &new, &diff(&old, &new));
        assert!(p.reload_detector);
        assert_eq!(p.stop.len(), 2);
        assert_eq!(p.start.len(), 2);
    }

    #[test]
    fn listen_and_storage_need_restart_and_keep_running_values() {
        let old = base();
        let mut new = base();
        new.server.listen = vec!["127.0.0.1:9999".parse().unwrap()];
        new.storage.dir = "/elsewhere".into();
        new.server.max_clients = 10;
        new.server.max_clients_per_ip = 5;
        let p = plan(&old, &new, &diff(&old, &new));
        assert_eq!(p.needs_restart.len(), 2);
        assert!(p.server_limits);
        assert!(p.stop.is_empty());
        let eff = effective(&old, &new);
        assert_eq!(eff.server.listen, old.server.listen);
        assert_eq!(eff.storage, old.storage);
        assert_eq!(eff.server.max_clients, 10);
    }

    #[test]
    fn log_level_applies_live() {
        let old = base();
        let mut new = base();
        new.log.level = LogLevel::Debug;
        let p = plan(&old, &new, &diff(&old, &new));
        assert_eq!(p.log_level, Some(LogLevel::Debug));
        assert!(p.stop.is_empty() && p.needs_restart.is_empty());
    }

    #[test]
    fn identical_config_does_nothing() {
        let p = plan(&base(), &base(), &diff(&base(), &base()));
        assert_eq!(p, ReloadPlan::default());
    }
}
