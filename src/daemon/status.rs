//! The status board: collects camera, detector and storage state from their owners and
//! publishes the composed `StatusData` on the hub. The hub's watch channel keeps only the
//! latest value and rate-limits rate-like fields, so owners may report as often as they like.

use crate::server::Hub;
use crate::server::protocol::{
    AiStatus, CameraCounts, CameraStatus, ConfigStatus, StatusData, StorageStatus,
};
use std::sync::Mutex;

/// Everything the status message is made of, before composition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoardState {
    /// In configuration order, so dashboards list cameras the way the config does.
    pub cameras: Vec<CameraStatus>,
    pub ai: AiStatus,
    pub storage: StorageStatus,
    pub config: ConfigStatus,
}

/// Pure: builds the status message data (the hub fills clients, version and uptime).
pub fn compose(state: &BoardState) -> StatusData {
    let mut counts = CameraCounts::default();
    for cam in &state.cameras {
        match cam.state.as_str() {
            "online" => counts.online += 1,
            "retrying" => counts.retrying += 1,
            "down" => counts.down += 1,
            // `starting` and `disabled` are in camera_list but not in the seed counts.
            _ => {}
        }
    }
    StatusData {
        cameras: counts,
        ai: state.ai.clone(),
        camera_list: state.cameras.clone(),
        storage: state.storage.clone(),
        config: state.config.clone(),
        ..StatusData::default()
    }
}

pub struct StatusBoard {
    state: Mutex<BoardState>,
    hub: Hub,
}

impl StatusBoard {
    pub fn new(hub: Hub, initial: BoardState) -> StatusBoard {
        hub.set_status(compose(&initial));
        StatusBoard {
            state: Mutex::new(initial),
            hub,
        }
    }

    /// Applies `change` and publishes the result when it changed anything (owners may
    /// report the same state often, e.g. storage after every stored event).
    pub fn update(&self, change: impl FnOnce(&mut BoardState)) {
        // A poisoned lock only means another thread panicked mid-update; the state is plain
        // data and still usable, so keep publishing rather than taking the daemon down.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let before = state.clone();
        change(&mut state);
        if *state == before {
            return;
        }
        let data = compose(&state);
        drop(state);
        self.hub.set_status(data);
    }

    /// Replaces (or adds) one camera's entry, keeping its position; the camera's metrics
    /// (`gozcu_camera_fps`, `gozcu_camera_state`) follow.
    pub fn set_camera(&self, status: CameraStatus) {
        self.hub
            .metrics()
            .set_camera(&status.id, &status.state, status.fps);
        self.update(|s| match s.cameras.iter_mut().find(|c| c.id == status.id) {
            Some(slot) => *slot = status,
            None => s.cameras.push(status),
        });
    }

    pub fn remove_camera(&self, id: &str) {
        self.update(|s| s.cameras.retain(|c| c.id != id));
    }

    /// One detector run: `ai.inference_ms` in status (the latest) and the
    /// `gozcu_inference_seconds` histogram (all of them).
    pub fn record_inference(&self, ms: f64) {
        self.hub
            .metrics()
            .observe_inference(std::time::Duration::from_secs_f64(ms.max(0.0) / 1000.0));
        self.update(|s| s.ai.inference_ms = Some((ms * 10.0).round() / 10.0));
    }

    pub fn set_ai(&self, ai: AiStatus) {
        self.update(|s| s.ai = ai);
    }

    pub fn set_storage(&self, storage: StorageStatus) {
        self.update(|s| s.storage = storage);
    }

    /// Records a refused reload (`Some((message, RFC 3339 time))`) or clears it (`None`,
    /// after a reload that was applied).
    pub fn set_reload_error(&self, error: Option<(String, String)>) {
        self.update(|s| {
            let (msg, at) = error.unzip();
            s.config.reload_error = msg;
            s.config.reload_error_at = at;
        });
    }

    pub fn state(&self) -> BoardState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Pure: the detector part of the systemd STATUS= line, e.g. `cpu yolox_nano.onnx`,
/// `cpu yolox_nano.onnx (NPU fallback: npu_unavailable)` or `off (no_model)`.
pub fn detector_summary(ai: &AiStatus) -> String {
    match (&ai.backend, &ai.model, &ai.reason) {
        (Some(b), Some(m), _) if ai.enabled => match &ai.fallback {
            Some(f) => format!("{b} {m} (NPU fallback: {})", f.reason),
            None => format!("{b} {m}"),
        },
        (_, _, Some(reason)) => format!("off ({reason})"),
        _ => "off".to_string(),
    }
}

/// Pure: the STATUS= line's note about a refused reload (first line of its message), if any.
pub fn reload_note(config: &ConfigStatus) -> Option<String> {
    let msg = config.reload_error.as_deref()?;
    let first = msg.lines().next().unwrap_or(msg);
    Some(format!(
        "last reload failed, running the previous configuration: {first}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam(id: &str, state: &str) -> CameraStatus {
        CameraStatus {
            id: id.into(),
            name: id.into(),
            state: state.into(),
            ..CameraStatus::default()
        }
    }

    #[test]
    fn compose_counts_only_seed_states() {
        let state = BoardState {
            cameras: vec![
                cam("a", "online"),
                cam("b", "online"),
                cam("c", "retrying"),
                cam("d", "down"),
                cam("e", "starting"),
                cam("f", "disabled"),
            ],
            ..BoardState::default()
        };
        let data = compose(&state);
        assert_eq!(
            data.cameras,
            CameraCounts {
                online: 2,
                retrying: 1,
                down: 1
            }
        );
        assert_eq!(data.camera_list.len(), 6);
        assert_eq!(data.camera_list[4].id, "e");
    }

    #[test]
    fn detector_summary_names_backend_fallback_or_reason() {
        use crate::server::protocol::AiFallback;
        let mut ai = AiStatus {
            enabled: true,
            backend: Some("cpu".into()),
            model: Some("yolox_nano.onnx".into()),
            ..AiStatus::default()
        };
        assert_eq!(detector_summary(&ai), "cpu yolox_nano.onnx");
        ai.fallback = Some(AiFallback {
            reason: "npu_unavailable".into(),
            message: "NPU unavailable: no /dev/rknpu".into(),
        });
        assert_eq!(
            detector_summary(&ai),
            "cpu yolox_nano.onnx (NPU fallback: npu_unavailable)"
        );
        let off = AiStatus {
            reason: Some("no_model".into()),
            ..AiStatus::default()
        };
        assert_eq!(detector_summary(&off), "off (no_model)");
        assert_eq!(detector_summary(&AiStatus::default()), "off");
    }

    #[test]
    fn reload_error_is_composed_and_summarised_by_its_first_line() {
        let mut state = BoardState::default();
        assert_eq!(reload_note(&state.config), None);
        state.config.reload_error =
            Some("config /etc/gozcu/gozcu.toml: server.listen: bad\nmore".into());
        state.config.reload_error_at = Some("2026-01-02T03:04:05Z".into());
        assert_eq!(
            reload_note(&state.config).as_deref(),
            Some(
                "last reload failed, running the previous configuration: config /etc/gozcu/gozcu.toml: server.listen: bad"
            )
        );
        let data = compose(&state);
        assert_eq!(data.config, state.config);
        let json = serde_json::to_value(&data).unwrap();
        assert_eq!(json["config"]["reload_error_at"], "2026-01-02T03:04:05Z");
    }
}
