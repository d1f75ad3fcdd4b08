//! Per-camera supervisor: a pure state machine. The runner (runner.rs) feeds it what
//! happened, with the time as a value, and carries out the actions it returns; tests drive
//! it with simulated time.
//!
//! States: `starting` (first open), `online` (frames arriving), `retrying` (lost: reopen
//! after 1 s, then backing off 2, 4, 8, 16, 30, 30 ... s), `down` (10 reopen attempts
//! failed in a row, or a device that never existed: probe every 60 s, and at once when
//! hotplug reports the device), `disabled`. Each transition is one [`Action::Transition`],
//! logged and reported once; retries within a state are silent.

use std::time::{Duration, Instant};

/// Delay before the first reopen after a loss.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Longest delay between reopen attempts while retrying.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Failed reopen attempts in a row before a camera is `down`.
pub const DOWN_AFTER: u32 = 10;
/// Probe interval while `down`.
pub const DOWN_PROBE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CamState {
    Starting,
    Online,
    Retrying,
    Down,
    Disabled,
}

impl CamState {
    /// The protocol's name for the state (`CameraStatus.state`).
    pub fn as_str(self) -> &'static str {
        match self {
            CamState::Starting => "starting",
            CamState::Online => "online",
            CamState::Retrying => "retrying",
            CamState::Down => "down",
            CamState::Disabled => "disabled",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Time passed; opens when an attempt is due.
    Tick,
    /// The source opened and is streaming (the camera is `online` once a frame arrives).
    OpenOk,
    /// Opening failed. `not_found`: the device node does not exist.
    OpenFailed {
        error: String,
        not_found: bool,
    },
    FrameOk,
    /// The stream broke (ENODEV, EIO, no frames for too long, format change).
    FrameError(String),
    /// Hotplug: a device matching this camera appeared.
    DeviceAdded,
    Disable,
    Enable,
}

/// What the runner must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open the source now and report `OpenOk` / `OpenFailed`.
    Open,
    /// Close the source.
    Close,
    /// The state changed: log once and publish the status.
    Transition {
        from: CamState,
        to: CamState,
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub struct Supervisor {
    state: CamState,
    /// Failed reopen attempts in the current outage.
    attempts: u32,
    next_attempt: Option<Instant>,
    /// The source is open (streaming or waiting for its first frame).
    open: bool,
    /// The device has been opened at least once since start.
    ever_opened: bool,
    last_error: Option<String>,
}

impl Supervisor {
    /// A supervisor in `starting` (first attempt due at `now`) or `disabled`.
    pub fn new(now: Instant, enabled: bool) -> Self {
        Supervisor {
            state: if enabled {
                CamState::Starting
            } else {
                CamState::Disabled
            },
            attempts: 0,
            next_attempt: enabled.then_some(now),
            open: false,
            ever_opened: false,
            last_error: None,
        }
    }

    pub fn state(&self) -> CamState {
        self.state
    }

    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// When the next open attempt is due (`None` while open or disabled).
    pub fn next_attempt(&self) -> Option<Instant> {
        self.next_attempt
    }

    /// Failed reopen attempts in the current outage.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    fn wants_device(&self) -> bool {
        matches!(
            self.state,
            CamState::Starting | CamState::Retrying | CamState::Down
        ) && !self.open
    }

    fn go(&mut self, to: CamState, reason: String, actions: &mut Vec<Action>) {
        if self.state != to {
            actions.push(Action::Transition {
                from: self.state,
                to,
                reason,
            });
            self.state = to;
        }
    }

    /// Feeds one event at time `now`; returns the actions to carry out, in order.
    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Action> {
        let mut actions = Vec::new();
        match event {
            Event::Tick => {
                if self.wants_device() && self.next_attempt.is_some_and(|t| t <= now) {
                    self.next_attempt = None;
                    actions.push(Action::Open);
                }
            }
            Event::OpenOk => {
                if self.state != CamState::Disabled {
                    self.open = true;
                    self.ever_opened = true;
                    self.next_attempt = None;
                }
            }
            Event::OpenFailed { error, not_found } => {
                if self.state != CamState::Disabled {
                    self.open = false;
                    self.failed(now, error, not_found, &mut actions);
                }
            }
            Event::FrameOk => {
                if self.state != CamState::Disabled && self.open {
                    self.attempts = 0;
                    self.last_error = None;
                    self.go(
                        CamState::Online,
                        "frames arriving".to_string(),
                        &mut actions,
                    );
                }
            }
            Event::FrameError(error) => {
                if self.state != CamState::Disabled && self.open {
                    self.open = false;
                    actions.push(Action::Close);
                    if self.state == CamState::Online {
                        self.attempts = 0;
                        self.next_attempt = Some(now + FIRST_RETRY);
                        self.last_error = Some(error.clone());
                        self.go(CamState::Retrying, error, &mut actions);
                    } else {
                        // Opened, but broke before delivering a frame: a failed attempt.
                        self.failed(now, error, false, &mut actions);
                    }
                }
            }
            Event::DeviceAdded => {
                if self.wants_device() {
                    self.next_attempt = None;
                    actions.push(Action::Open);
                }
            }
            Event::Disable => {
                if self.state != CamState::Disabled {
                    if self.open {
                        actions.push(Action::Close);
                    }
                    self.open = false;
                    self.next_attempt = None;
                    self.attempts = 0;
                    self.last_error = None;
                    self.go(CamState::Disabled, "disabled".to_string(), &mut actions);
                }
            }
            Event::Enable => {
                if self.state == CamState::Disabled {
                    self.go(CamState::Starting, "enabled".to_string(), &mut actions);
                    actions.push(Action::Open);
                }
            }
        }
        actions
    }

    fn failed(&mut self, now: Instant, error: String, not_found: bool, actions: &mut Vec<Action>) {
        match self.state {
            CamState::Starting if not_found && !self.ever_opened => {
                self.last_error = Some(format!(
                    "{error} (not present since gozcu started; probing every {} s)",
                    DOWN_PROBE.as_secs()
                ));
                self.next_attempt = Some(now + DOWN_PROBE);
                self.go(CamState::Down, error, actions);
            }
            CamState::Starting | CamState::Online => {
                self.attempts = 0;
                self.last_error = Some(error.clone());
                self.next_attempt = Some(now + FIRST_RETRY);
                self.go(CamState::Retrying, error, actions);
            }
            CamState::Retrying => {
                self.attempts += 1;
                self.last_error = Some(error.clone());
                if self.attempts >= DOWN_AFTER {
                    self.next_attempt = Some(now + DOWN_PROBE);
                    let reason = format!("{} reopen attempts failed; last: {error}", self.attempts);
                    self.go(CamState::Down, reason, actions);
                } else {
                    self.next_attempt = Some(now + backoff(self.attempts));
                }
            }
            CamState::Down => {
                self.last_error = Some(error);
                self.next_attempt = Some(now + DOWN_PROBE);
            }
            CamState::Disabled => {}
        }
    }
}

/// Delay after the `attempt`-th failed reopen: 2, 4, 8, 16, then 30 s.
pub fn backoff(attempt: u32) -> Duration {
    let secs = 1u64.checked_shl(attempt.min(16)).unwrap_or(u64::MAX);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}
