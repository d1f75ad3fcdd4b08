//! The status board: collects camera, detector and storage state from their owners and
//! publishes the composed `StatusData` on the hub. The hub's watch channel keeps only the
//! latest value and rate-limits rate-like fields, so owners may report as often as they like.

use crate::server::Hub;
use crate::server::protocol::{AiStatus, CameraCounts, CameraStatus, StatusData, StorageStatus};
use std::sync::Mutex;

/// Everything the status message is made of, before composition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoardState {
    /// In configuration order, so dashboards list cameras the way the config does.
    pub cameras: Vec<CameraStatus>,
    pub ai: AiStatus,
    pub storage: StorageStatus,
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

    /// Replaces (or adds) one camera's entry, keeping its position.
    pub fn set_camera(&self, status: CameraStatus) {
        self.update(|s| match s.cameras.iter_mut().find(|c| c.id == status.id) {
            Some(slot) => *slot = status,
            None => s.cameras.push(status),
        });
    }

    pub fn remove_camera(&self, id: &str) {
        self.update(|s| s.cameras.retain(|c| c.id != id));
    }

    pub fn set_ai(&self, ai: AiStatus) {
        self.update(|s| s.ai = ai);
    }

    pub fn set_storage(&self, storage: StorageStatus) {
        self.update(|s| s.storage = storage);
    }

    pub fn state(&self) -> BoardState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
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
}
