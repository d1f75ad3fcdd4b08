//! The camera thread: the thin driver around [`Supervisor`]. Opens the source, pulls frames
//! into the camera's [`LatestFrame`] slot, feeds the supervisor what happened and carries
//! out what it says (open, close, log a transition), and publishes [`CameraStatus`] on every
//! transition and about every 5 s while running. One thread per camera; it never touches the
//! async runtime.

use super::hotplug::{self, DeviceMatch, HotplugWatch};
use super::slot::LatestFrame;
use super::supervisor::{Action, CamState, Event, Supervisor};
use super::{CameraError, FrameSource, open_source};
use crate::config::{CameraConfig, DeviceKind};
use crate::server::protocol::CameraStatus;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Callback receiving every status the runner publishes.
pub type StatusCallback = Arc<dyn Fn(CameraStatus) + Send + Sync>;

/// How often fps and counters are published while nothing else changes.
const STATUS_EVERY: Duration = Duration::from_secs(5);
/// The first rate after a transition is measured over a shorter window, so a dashboard shows
/// a camera's fps a second after it comes online instead of 0 for the first five.
const FIRST_RATE_AFTER: Duration = Duration::from_secs(1);
/// Longest sleep between checks of the stop flag and hotplug events.
const IDLE_STEP: Duration = Duration::from_millis(100);
/// After a video device appears while our by-id path does not resolve, how long to watch for
/// udev to create the link.
const LINK_WAIT: Duration = Duration::from_secs(5);

/// A camera's status before its thread has reported anything: `starting`, or `disabled`.
pub fn initial_status(cfg: &CameraConfig) -> CameraStatus {
    CameraStatus {
        id: cfg.id.clone(),
        name: cfg.display_name().to_string(),
        state: if cfg.enabled { "starting" } else { "disabled" }.to_string(),
        ..CameraStatus::default()
    }
}

/// A running camera thread.
pub struct CameraRunner {
    id: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    progress: Arc<Mutex<Instant>>,
    status: Arc<Mutex<CameraStatus>>,
}

impl CameraRunner {
    /// Starts the camera thread for `cfg` with the source `open_source(&cfg)` gives.
    pub fn spawn(cfg: CameraConfig, slot: Arc<LatestFrame>, on_status: StatusCallback) -> Self {
        let source = open_source(&cfg);
        Self::spawn_with_source(cfg, source, slot, on_status)
    }

    /// Starts the camera thread with a given source (tests, custom sources).
    pub fn spawn_with_source(
        cfg: CameraConfig,
        source: Box<dyn FrameSource>,
        slot: Arc<LatestFrame>,
        on_status: StatusCallback,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(Mutex::new(Instant::now()));
        let status = Arc::new(Mutex::new(initial_status(&cfg)));
        let id = cfg.id.clone();
        let mut worker = Worker {
            hotplug: match cfg.device_kind() {
                DeviceKind::V4l2(p) => Some((p, hotplug::subscribe())),
                _ => None,
            },
            awaiting_link: None,
            sup: Supervisor::new(Instant::now(), cfg.enabled),
            cfg,
            source,
            slot,
            on_status,
            stop: stop.clone(),
            progress: progress.clone(),
            status: status.clone(),
            last_frame: Instant::now(),
            window_start: Instant::now(),
            window_len: FIRST_RATE_AFTER,
            window_frames: 0,
            fps: 0.0,
        };
        let thread = std::thread::Builder::new()
            .name(format!("cam-{id}"))
            .spawn(move || worker.run());
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(camera_id = %id, "cannot start camera thread: {e}");
                None
            }
        };
        CameraRunner {
            id,
            stop,
            thread,
            progress,
            status,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Stops the thread and waits for it (within about one poll timeout, < 1 s). Closes the
    /// slot so the camera's worker wakes up. Idempotent.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(Err(_)) = self.thread.take().map(JoinHandle::join) {
            tracing::error!(camera_id = %self.id, "camera thread panicked");
        }
    }

    /// When the thread last went round its loop (the watchdog's health gate: a camera thread
    /// stuck in the kernel shows up here).
    pub fn last_progress(&self) -> Instant {
        *self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The latest published status.
    pub fn status(&self) -> CameraStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for CameraRunner {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Worker {
    cfg: CameraConfig,
    source: Box<dyn FrameSource>,
    slot: Arc<LatestFrame>,
    on_status: StatusCallback,
    stop: Arc<AtomicBool>,
    progress: Arc<Mutex<Instant>>,
    status: Arc<Mutex<CameraStatus>>,
    hotplug: Option<(PathBuf, Arc<HotplugWatch>)>,
    /// Until when to watch for the configured path to appear (see [`LINK_WAIT`]).
    awaiting_link: Option<Instant>,
    sup: Supervisor,
    last_frame: Instant,
    window_start: Instant,
    /// Length of the current rate window: [`FIRST_RATE_AFTER`] after a transition, then
    /// [`STATUS_EVERY`].
    window_len: Duration,
    window_frames: u64,
    fps: f64,
}

impl Worker {
    fn period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / f64::from(self.cfg.fps.max(1)))
    }

    /// Poll timeout: about two frame periods, bounded so stop() is honoured quickly.
    fn poll_timeout(&self) -> Duration {
        (self.period() * 2).clamp(Duration::from_millis(50), Duration::from_millis(500))
    }

    /// No frame for this long means the stream is lost. Generous: UVC cameras slow down in
    /// the dark and the first frame after STREAMON can take a second or two.
    fn stall_limit(&self) -> Duration {
        (self.period() * 8).max(Duration::from_secs(4))
    }

    fn run(&mut self) {
        // Every log line of this thread (sources included) carries the camera's id, which
        // journald shows as CAMERA_ID (logging.rs).
        let span = tracing::info_span!("camera", camera_id = %self.cfg.id);
        let _enter = span.enter();
        tracing::info!(device = %self.cfg.device, "camera thread started");
        self.publish();
        while !self.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            *self.progress.lock().unwrap_or_else(|e| e.into_inner()) = now;
            self.check_hotplug(now);
            let actions = self.sup.handle(now, Event::Tick);
            self.apply(actions);
            if self.sup.is_open() {
                self.pull();
            } else {
                let wait = self
                    .sup
                    .next_attempt()
                    .map_or(IDLE_STEP, |t| t.saturating_duration_since(Instant::now()))
                    .min(IDLE_STEP);
                std::thread::sleep(wait);
            }
            self.update_rate();
        }
        self.source.close();
        self.slot.close();
        tracing::info!("camera thread stopped");
    }

    fn check_hotplug(&mut self, now: Instant) {
        let Some((path, watch)) = &self.hotplug else {
            return;
        };
        let mut hit = false;
        for name in watch.take_added() {
            match hotplug::match_device(path, &name) {
                DeviceMatch::Yes => hit = true,
                DeviceMatch::Unresolved => self.awaiting_link = Some(now + LINK_WAIT),
                DeviceMatch::No => {}
            }
        }
        if let Some(until) = self.awaiting_link {
            if path.exists() {
                hit = true;
            }
            if hit || now > until {
                self.awaiting_link = None;
            }
        }
        if hit {
            tracing::debug!("video device added; probing now");
            let actions = self.sup.handle(now, Event::DeviceAdded);
            self.apply(actions);
        }
    }

    fn pull(&mut self) {
        match self.source.next_frame(self.poll_timeout()) {
            Ok(frame) => {
                self.slot.put(frame);
                self.window_frames += 1;
                self.last_frame = Instant::now();
                let actions = self.sup.handle(self.last_frame, Event::FrameOk);
                self.apply(actions);
            }
            Err(CameraError::Timeout { .. }) => {
                let now = Instant::now();
                let silent = now.saturating_duration_since(self.last_frame);
                if silent > self.stall_limit() {
                    let msg = format!(
                        "no frame from {} for {:.1} s",
                        self.cfg.device,
                        silent.as_secs_f64()
                    );
                    let actions = self.sup.handle(now, Event::FrameError(msg));
                    self.apply(actions);
                }
            }
            Err(e) => {
                let actions = self
                    .sup
                    .handle(Instant::now(), Event::FrameError(e.to_string()));
                self.apply(actions);
            }
        }
    }

    /// Carries out supervisor actions (which may produce more, e.g. a failed open).
    fn apply(&mut self, actions: Vec<Action>) {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Open => {
                    let result = self.source.open();
                    let now = Instant::now();
                    let event = match result {
                        Ok(()) => {
                            self.last_frame = now;
                            tracing::debug!("opened {}", self.source.describe());
                            Event::OpenOk
                        }
                        Err(e) => {
                            self.source.close();
                            // Reopen attempts while retrying are few (backoff, then down), and
                            // each failure says what the device did; probes of a camera that
                            // is down would repeat the same line every minute.
                            if self.sup.state() == CamState::Retrying {
                                tracing::info!("reopening failed: {e}");
                            } else {
                                tracing::debug!("opening failed: {e}");
                            }
                            Event::OpenFailed {
                                not_found: matches!(e, CameraError::NotFound { .. }),
                                error: e.to_string(),
                            }
                        }
                    };
                    queue.extend(self.sup.handle(now, event));
                }
                Action::Close => self.source.close(),
                Action::Transition { from, to, reason } => {
                    self.log_transition(from, to, &reason);
                    // The rate is measured afresh from each transition.
                    self.fps = 0.0;
                    self.window_frames = 0;
                    self.window_start = Instant::now();
                    self.window_len = FIRST_RATE_AFTER;
                    self.publish();
                }
            }
        }
    }

    fn log_transition(&self, from: CamState, to: CamState, reason: &str) {
        let (from, to_s) = (from.as_str(), to.as_str());
        match to {
            CamState::Online => {
                tracing::info!("camera {from} -> online: {}", self.source.describe())
            }
            CamState::Retrying | CamState::Down => {
                tracing::warn!("camera {from} -> {to_s}: {reason}")
            }
            _ => tracing::info!("camera {from} -> {to_s}: {reason}"),
        }
    }

    fn update_rate(&mut self) {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed < self.window_len {
            return;
        }
        self.fps = self.window_frames as f64 / elapsed.as_secs_f64();
        self.window_frames = 0;
        self.window_start = now;
        self.window_len = STATUS_EVERY;
        self.publish();
    }

    fn publish(&mut self) {
        let state = self.sup.state();
        let status = CameraStatus {
            id: self.cfg.id.clone(),
            name: self.cfg.display_name().to_string(),
            state: state.as_str().to_string(),
            fps: if state == CamState::Online {
                (self.fps * 10.0).round() / 10.0
            } else {
                0.0
            },
            last_error: self.sup.last_error().map(str::to_string),
            frames_skipped: self.slot.skipped(),
            frames_corrupt: self.slot.corrupt() + self.source.corrupt_frames(),
        };
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status.clone();
        (self.on_status)(status);
    }
}
