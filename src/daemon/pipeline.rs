//! The per-camera worker: takes the newest frame from the camera's slot, runs motion on a
//! small luma image, asks the detector pool for detections only while something moves or
//! is being tracked (at most `detect_fps`), feeds the event lifecycle and hands its messages
//! (with best-frame snapshots) to the store writer. One thread per camera; frames that
//! arrive while it is busy replace each other in the slot (dropped, never queued).

use crate::camera::runner::{CameraRunner, StatusCallback};
use crate::camera::slot::LatestFrame;
use crate::config::{CameraConfig, DetectorConfig, EventsConfig, MotionConfig};
use crate::daemon::status::StatusBoard;
use crate::daemon::writer::{EventMessage, FrameTiming, WriterSender};
use crate::detect::DetectError;
use crate::detect::pool::{DetectInput, DetectOutput, DetectorPool, PoolError};
use crate::events::{EventLifecycle, EventOutput, EventTime};
use crate::vision::RgbImage;
use crate::vision::convert::{ConvertError, ConvertedFrame};
use crate::vision::motion::{MotionDetector, MotionResult};
use crate::vision::snapshot::{SNAPSHOT_MAX_WIDTH, SNAPSHOT_QUALITY, encode_snapshot};
use std::sync::atomic::AtomicU64;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Height of the luma image motion runs on (DESIGN: about 100-200 px).
const MOTION_HEIGHT: u32 = 144;
/// The worker wakes at least this often without frames, to end events on time and to show
/// progress to the watchdog.
const IDLE_WAKE: Duration = Duration::from_millis(500);
/// Longest wait for one detection result before the frame is given up.
const DETECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything a camera worker needs besides its own config.
#[derive(Clone)]
pub struct PipelineShared {
    pub detector: Option<Arc<DetectorPool>>,
    pub detector_cfg: DetectorConfig,
    pub motion_cfg: MotionConfig,
    pub events_cfg: EventsConfig,
    pub writer: WriterSender,
    pub board: Arc<StatusBoard>,
    pub event_ids: Arc<AtomicU64>,
    /// Daemon start: the monotonic origin of `EventTime`.
    pub origin: Instant,
}

/// A running camera: its capture thread and its worker.
pub struct CameraPipeline {
    pub cfg: CameraConfig,
    runner: CameraRunner,
    slot: Arc<LatestFrame>,
    /// Set once, with the reason open events end for (e.g. "shutdown", "camera_removed").
    stop: Arc<OnceLock<String>>,
    worker: Option<JoinHandle<()>>,
    progress: Arc<Mutex<Instant>>,
}

impl CameraPipeline {
    pub fn start(cfg: CameraConfig, shared: PipelineShared) -> std::io::Result<CameraPipeline> {
        let slot = Arc::new(LatestFrame::new());
        let board = shared.board.clone();
        let on_status: StatusCallback = Arc::new(move |status| board.set_camera(status));
        let runner = CameraRunner::spawn(cfg.clone(), slot.clone(), on_status);
        let stop = Arc::new(OnceLock::new());
        let progress = Arc::new(Mutex::new(Instant::now()));
        let mut worker = Worker::new(&cfg, shared, slot.clone(), stop.clone(), progress.clone());
        let handle = std::thread::Builder::new()
            .name(format!("work-{}", cfg.id))
            .spawn(move || worker.run())?;
        Ok(CameraPipeline {
            cfg,
            runner,
            slot,
            stop,
            worker: Some(handle),
            progress,
        })
    }

    pub fn id(&self) -> &str {
        &self.cfg.id
    }

    /// The older of the capture thread's and the worker's last progress (watchdog gate).
    pub fn last_progress(&self) -> Instant {
        let worker = *self.progress.lock().unwrap_or_else(|e| e.into_inner());
        worker.min(self.runner.last_progress())
    }

    /// Stops capture, ends the camera's open events with `reason` (stored like any other
    /// message) and joins both threads.
    pub fn stop(mut self, reason: &str) {
        self.runner.stop();
        let _ = self.stop.set(reason.to_string());
        self.slot.close();
        if let Some(Err(_)) = self.worker.take().map(JoinHandle::join) {
            tracing::error!(camera_id = %self.cfg.id, "camera worker panicked");
        }
    }
}

/// The frame being processed: converted lazily, its RGB image shared (not copied) between
/// the detector request and snapshot encoding.
struct WorkFrame {
    conv: ConvertedFrame,
    rgb: Option<Arc<RgbImage>>,
    /// Where the frame's time went, for the message log (writer.rs).
    timing: FrameTiming,
}

impl WorkFrame {
    fn rgb(&mut self) -> Result<Arc<RgbImage>, ConvertError> {
        if let Some(rgb) = &self.rgb {
            return Ok(rgb.clone());
        }
        let rgb = Arc::new(self.conv.take_rgb()?);
        self.rgb = Some(rgb.clone());
        Ok(rgb)
    }
}

struct Worker {
    camera_id: String,
    detect_interval: Duration,
    shared: PipelineShared,
    slot: Arc<LatestFrame>,
    stop: Arc<OnceLock<String>>,
    progress: Arc<Mutex<Instant>>,
    motion: Option<MotionDetector>,
    lifecycle: EventLifecycle,
    last_detect: Option<Instant>,
    detect_errors: u64,
    /// Whether the last frame's motion step saw motion (or there is no motion step).
    last_moving: bool,
    /// When the last frame was processed (skipped frames of an idle scene do not count).
    last_processed: Option<Instant>,
}

/// How often an idle scene (nothing moving, nothing tracked, no event open) is checked for
/// motion. Cameras deliver 15-30 fps; checking each frame of a still scene would cost an idle
/// camera most of its CPU (an MJPEG frame must be decoded to be checked). At 8 checks a
/// second motion is noticed at most 125 ms later; the motion model is time-based
/// (vision/motion.rs), so its sensitivity does not depend on the rate.
pub(crate) const IDLE_CHECKS_PER_S: f64 = 8.0;

/// Whether the worker should look at a frame that arrived `since_last` after the last frame
/// it processed: always while anything is going on, at most [`IDLE_CHECKS_PER_S`] times a
/// second when the scene is idle.
pub(crate) fn worth_processing(idle: bool, since_last: Option<Duration>) -> bool {
    !idle || since_last.is_none_or(|d| d.as_secs_f64() >= 1.0 / IDLE_CHECKS_PER_S)
}

/// Whether a frame is likely to need RGB (for the detector), decided before its motion step
/// so an MJPEG frame that will not need it decodes luma only (`ConvertedFrame::luma_only`,
/// about a quarter cheaper, the whole of an idle camera's work). The guess uses the previous
/// frame's motion: a wrong guess costs a second decode of one frame. Snapshots of motion
/// events also want RGB, on a few frames per event: they pay that second decode.
pub(crate) fn rgb_expected(
    has_detector: bool,
    detect_due: bool,
    tracking: bool,
    last_moving: bool,
) -> bool {
    has_detector && detect_due && (tracking || last_moving)
}

impl Worker {
    fn new(
        cfg: &CameraConfig,
        shared: PipelineShared,
        slot: Arc<LatestFrame>,
        stop: Arc<OnceLock<String>>,
        progress: Arc<Mutex<Instant>>,
    ) -> Worker {
        let lifecycle = EventLifecycle::new(
            &cfg.id,
            cfg.display_name(),
            &shared.events_cfg,
            &shared.detector_cfg,
            shared.event_ids.clone(),
        );
        Worker {
            camera_id: cfg.id.clone(),
            detect_interval: Duration::from_secs_f32(1.0 / cfg.detect_fps.max(0.01)),
            motion: shared
                .motion_cfg
                .enabled
                .then(|| MotionDetector::new(&shared.motion_cfg)),
            lifecycle,
            shared,
            slot,
            stop,
            progress,
            last_detect: None,
            detect_errors: 0,
            last_moving: true,
            last_processed: None,
        }
    }

    fn run(&mut self) {
        let span = tracing::info_span!("camera", camera_id = %self.camera_id);
        let _enter = span.enter();
        while self.stop.get().is_none() {
            *self.progress.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
            match self.slot.take_timeout(IDLE_WAKE) {
                Some(frame) => {
                    let idle = !self.last_moving
                        && !self.lifecycle.is_tracking()
                        && self.lifecycle.open_events() == 0;
                    let since_last = self.last_processed.map(|t| t.elapsed());
                    if !worth_processing(idle, since_last) {
                        continue;
                    }
                    self.last_processed = Some(Instant::now());
                    let luma_only = !rgb_expected(
                        self.shared.detector.is_some(),
                        self.detect_due(),
                        self.lifecycle.is_tracking(),
                        self.last_moving,
                    );
                    self.process(WorkFrame {
                        timing: FrameTiming::picked_up(frame.timestamp),
                        conv: ConvertedFrame::new(frame).luma_only(luma_only),
                        rgb: None,
                    })
                }
                None => {
                    let out = self.lifecycle.tick(self.now());
                    self.emit(out, None);
                }
            }
        }
        let reason = self
            .stop
            .get()
            .map_or("shutdown", String::as_str)
            .to_string();
        let out = self.lifecycle.close_all(self.now(), &reason);
        self.emit(out, None);
    }

    fn detect_due(&self) -> bool {
        self.last_detect
            .is_none_or(|t| t.elapsed() >= self.detect_interval)
    }

    fn now(&self) -> EventTime {
        EventTime::now(self.shared.origin)
    }

    fn process(&mut self, mut frame: WorkFrame) {
        let now = self.now();
        let size = (frame.conv.frame().width, frame.conv.frame().height);
        let motion = match self.run_motion(&mut frame.conv, now) {
            Ok(m) => m,
            Err(()) => return,
        };
        let moving = motion.as_ref().is_none_or(|m| m.motion);
        self.last_moving = moving;
        let out = match self.shared.detector.clone() {
            Some(pool) => {
                if self.detect_due() && (moving || self.lifecycle.is_tracking()) {
                    self.last_detect = Some(Instant::now());
                    match self.detect(&pool, &mut frame) {
                        Some(result) => self.lifecycle.on_detections(now, &result.detections, size),
                        None => self.lifecycle.tick(now),
                    }
                } else {
                    self.lifecycle.tick(now)
                }
            }
            None => match &motion {
                Some(m) => self.lifecycle.on_motion_only(now, m),
                None => self.lifecycle.tick(now),
            },
        };
        self.emit(out, Some(&mut frame));
    }

    /// Motion on the small luma image; Err(()) when the frame is corrupt (counted, skipped).
    fn run_motion(
        &mut self,
        frame: &mut ConvertedFrame,
        now: EventTime,
    ) -> Result<Option<MotionResult>, ()> {
        let Some(detector) = self.motion.as_mut() else {
            return Ok(None);
        };
        let luma = match frame.luma_small(MOTION_HEIGHT) {
            Ok(l) => l,
            Err(e) => {
                self.slot.add_corrupt(1);
                tracing::debug!(error = %e, "frame skipped: cannot convert");
                return Err(());
            }
        };
        match detector.detect(luma, now.mono) {
            Ok(m) => Ok(Some(m)),
            Err(e) => {
                tracing::warn!(error = %e, "motion detection failed on a frame");
                Ok(None)
            }
        }
    }

    fn detect(&mut self, pool: &DetectorPool, frame: &mut WorkFrame) -> Option<DetectOutput> {
        let rgb = match frame.rgb() {
            Ok(rgb) => rgb,
            Err(e) => {
                self.slot.add_corrupt(1);
                tracing::debug!(error = %e, "frame skipped: cannot convert");
                return None;
            }
        };
        let (tx, rx) = mpsc::sync_channel::<Result<DetectOutput, DetectError>>(1);
        let reply = Box::new(move |r| {
            let _ = tx.send(r);
        });
        match pool.try_detect(DetectInput::Image(rgb), reply) {
            Ok(()) => {}
            Err(PoolError::Busy) => return None,
            Err(e) => {
                self.note_detect_error(&e.to_string());
                return None;
            }
        }
        match rx.recv_timeout(DETECT_TIMEOUT) {
            Ok(Ok(out)) => {
                let ms = out.inference_ms;
                frame.timing.preprocess_ms = Some(out.preprocess_ms);
                frame.timing.inference_ms = Some(ms);
                self.shared.board.record_inference(ms);
                Some(out)
            }
            Ok(Err(e)) => {
                self.note_detect_error(&e.to_string());
                None
            }
            Err(_) => {
                self.note_detect_error("no result within 10 s");
                None
            }
        }
    }

    fn note_detect_error(&mut self, what: &str) {
        self.detect_errors += 1;
        // Log the first and then every 100th, so a failing model cannot flood the journal.
        if self.detect_errors % 100 == 1 {
            tracing::warn!(errors = self.detect_errors, "detection failed: {what}");
        }
    }

    /// Encodes requested snapshots from the current frame and sends every message to the
    /// store writer, in order.
    fn emit(&mut self, outputs: Vec<EventOutput>, mut frame: Option<&mut WorkFrame>) {
        let timing = frame.as_deref().map(|f| f.timing);
        for out in outputs {
            let mut snapshot = None;
            let mut event = out.event;
            if let Some(req) = out.snapshot {
                let jpeg = frame
                    .as_deref_mut()
                    .ok_or_else(|| "no frame".to_string())
                    .and_then(|f| f.rgb().map_err(|e| e.to_string()))
                    .and_then(|rgb| {
                        encode_snapshot(&rgb, SNAPSHOT_MAX_WIDTH, SNAPSHOT_QUALITY)
                            .map_err(|e| e.to_string())
                    });
                match jpeg {
                    Ok(bytes) => snapshot = Some((req.event_id, bytes)),
                    Err(e) => {
                        tracing::warn!(event_id = %req.event_id, "snapshot not encoded: {e}");
                        let url = self.lifecycle.snapshot_failed(&req.event_id);
                        if let Some(ev) = event.as_mut().filter(|ev| ev.id == req.event_id) {
                            ev.snapshot_url = url;
                        }
                    }
                }
            }
            if event.is_some() || snapshot.is_some() {
                self.shared.writer.send(EventMessage {
                    event,
                    snapshot,
                    frame: timing,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{IDLE_CHECKS_PER_S, rgb_expected, worth_processing};
    use std::time::Duration;

    #[test]
    fn an_idle_scene_is_checked_at_a_capped_rate_a_busy_one_every_frame() {
        let frame_15fps = Duration::from_micros(66_667);
        let cap = Duration::from_secs_f64(1.0 / IDLE_CHECKS_PER_S);
        // The first frame, and every frame while something moves or is tracked.
        assert!(worth_processing(true, None));
        assert!(worth_processing(false, Some(frame_15fps)));
        assert!(worth_processing(false, Some(Duration::ZERO)));
        // Idle: a 15 fps camera's next frame is too soon, the one after is due.
        assert!(!worth_processing(true, Some(frame_15fps)));
        assert!(worth_processing(true, Some(frame_15fps * 2)));
        assert!(worth_processing(true, Some(cap)));
        assert!(!worth_processing(
            true,
            Some(cap - Duration::from_millis(1))
        ));
    }

    #[test]
    fn rgb_is_decoded_only_when_a_detection_is_due_on_a_busy_scene() {
        // An idle scene with a detector: luma only, whether or not detection is due.
        assert!(!rgb_expected(true, true, false, false));
        assert!(!rgb_expected(true, false, false, false));
        // Motion or a tracked object, detection due: RGB in the same decode.
        assert!(rgb_expected(true, true, false, true));
        assert!(rgb_expected(true, true, true, false));
        // Not due: the detector will not run on this frame.
        assert!(!rgb_expected(true, false, true, true));
        // No detector: motion needs luma only (a motion event's snapshot decodes again).
        assert!(!rgb_expected(false, true, true, true));
    }
}
