//! Daemon wiring and lifecycle: opens the store, loads the detector, starts the store writer,
//! the cameras and the server, then waits for signals. SIGTERM/SIGINT shut down gracefully
//! (open events ended and stored, clients told); SIGHUP reloads the configuration.
//!
//! - `status.rs`: the status board (camera, detector, storage state -> hub).
//! - `writer.rs`: the store writer thread (commit first, then publish; `pending.rs` holds
//!   what the database could not commit yet; `snapshots.rs` writes the pictures).
//! - `pipeline.rs`: one worker per camera (motion -> detection -> lifecycle).
//! - `reload.rs`: applying a configuration change.

pub mod memory;
pub mod pending;
pub mod pipeline;
pub mod reload;
pub mod snapshots;
pub mod status;
pub mod writer;

use crate::camera::runner::initial_status;
use crate::config::{self, Config};
use crate::detect::pool::DetectorPool;
use crate::server::protocol::{AiFallback, AiStatus, StorageStatus};
use crate::server::{Archive, Hub, ServerHandle, ServerSettings};
use crate::store::snapshots::SnapshotStore;
use crate::store::{RetentionPolicy, Store};
use crate::systemd;
use pipeline::{CameraPipeline, PipelineShared};
use status::{BoardState, StatusBoard};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};
use writer::{StoreWriter, WriterContext};

/// Why the daemon could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Server(#[from] crate::server::ServerError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// `gozcu run`: returns the process exit code (78 for a configuration error).
pub fn run_main(config_path: &Path) -> i32 {
    let cfg = match config::load(config_path) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("gozcu: {e}");
            return config::EXIT_CONFIG;
        }
    };
    let log = match crate::logging::init(cfg.log.level) {
        Ok(handle) => Some(handle),
        Err(e) => {
            eprintln!("gozcu: logging not set up: {e}");
            None
        }
    };
    match memory::tune() {
        memory::Tuning::Fixed => tracing::debug!(
            bytes = memory::MMAP_THRESHOLD,
            "malloc mmap threshold fixed (frame buffers go back to the kernel when freed)"
        ),
        memory::Tuning::LeftToEnvironment => {
            tracing::info!("malloc mmap threshold left to MALLOC_MMAP_THRESHOLD_")
        }
        memory::Tuning::Unavailable => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("gozcu-rt")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return 1;
        }
    };
    let result = runtime.block_on(async {
        // Installed before anything starts: a SIGTERM during start-up (systemd stopping a slow
        // start) then becomes a clean shutdown right after it, instead of the default action
        // killing the process once the server already answers.
        let signals = Signals::install().map_err(|source| DaemonError::Io {
            context: "cannot install signal handlers".into(),
            source,
        })?;
        let daemon = Daemon::start(cfg, config_path.to_path_buf(), log).await?;
        daemon.run_until_stopped(signals).await;
        Ok::<(), DaemonError>(())
    });
    // Blocking threads (store reads) must not hold the process up once everything is closed.
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(()) => {
            tracing::info!("gozcu stopped");
            0
        }
        Err(e) => {
            tracing::error!("gozcu cannot run: {e}");
            eprintln!("gozcu: {e}");
            1
        }
    }
}

/// The signals the daemon handles, installed before it starts.
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Must run inside the tokio runtime.
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

/// The running daemon: everything started by `start`, stopped by `shutdown`.
pub struct Daemon {
    cfg: Config,
    config_path: PathBuf,
    log: Option<crate::logging::LogHandle>,
    hub: Hub,
    board: Arc<StatusBoard>,
    detector: Option<Arc<DetectorPool>>,
    writer: Option<StoreWriter>,
    writer_tx: writer::WriterSender,
    cameras: Vec<CameraPipeline>,
    server: Option<ServerHandle>,
    event_ids: Arc<AtomicU64>,
    origin: Instant,
}

impl Daemon {
    pub async fn start(
        cfg: Config,
        config_path: PathBuf,
        log: Option<crate::logging::LogHandle>,
    ) -> Result<Daemon, DaemonError> {
        let origin = Instant::now();
        tracing::info!(version = env!("CARGO_PKG_VERSION"), config = %config_path.display(), "gozcu starting");
        let storage_dir = cfg.storage.dir.clone();
        let mut store = tokio::task::spawn_blocking(move || Store::open(&storage_dir))
            .await
            .map_err(join_error)??;
        // A snapshot folder that cannot be used must not stop events: they are stored without
        // snapshots and status says why.
        let snapshot_dir = cfg.storage.dir.join("snapshots");
        let quota = cfg.storage.max_snapshot_mb.saturating_mul(1024 * 1024);
        let (snapshots, snapshot_problem) = match SnapshotStore::open(&snapshot_dir, quota) {
            Ok(s) => (s, None),
            Err(e) => {
                tracing::error!(error = %e, "snapshot folder unusable; events are stored without snapshots until it is fixed");
                (
                    SnapshotStore::unscanned(&snapshot_dir, quota),
                    Some(e.to_string()),
                )
            }
        };
        let snapshots = Arc::new(snapshots);
        let notice = store.recovered_from().map(|old| {
            tracing::error!(moved_to = %old.display(), "the database was unreadable and was moved aside; started a new one");
            format!(
                "the database was corrupt at start; it was moved to {} and a new, empty one \
                 was started (earlier events are only in the moved file)",
                old.display()
            )
        });
        let closed = store.close_open_events(time::OffsetDateTime::now_utc())?;
        if !closed.is_empty() {
            tracing::info!(
                count = closed.len(),
                "closed events left open by the previous run"
            );
        }
        let last_seq = store.last_seq()?;
        let event_ids = Arc::new(AtomicU64::new(store.last_event_number()?));
        let hub = Hub::new(store.epoch().to_string(), env!("CARGO_PKG_VERSION"));
        let board = Arc::new(StatusBoard::new(
            hub.clone(),
            initial_board(&cfg, notice.clone(), snapshot_problem.clone()),
        ));

        let (detector, ai) = load_detector(&cfg).await;
        board.set_ai(ai);

        let writer = StoreWriter::spawn(WriterContext {
            store,
            last_seq,
            snapshots: snapshots.clone(),
            storage_dir: cfg.storage.dir.clone(),
            retention: RetentionPolicy::from(&cfg.storage),
            hub: hub.clone(),
            board: board.clone(),
            notice,
            snapshot_problem,
        })
        .map_err(|source| DaemonError::Io {
            context: "cannot start the store writer thread".into(),
            source,
        })?;

        let archive = Archive::open(&cfg.storage.dir, snapshots)?;
        let server = crate::server::serve(
            ServerSettings::from_config(&cfg.server),
            hub.clone(),
            archive,
        )
        .await?;
        for addr in &server.local_addrs {
            tracing::info!("dashboard at http://{addr}/ ; events at ws://{addr}/api/ws/events");
        }

        let mut daemon = Daemon {
            cfg,
            config_path,
            log,
            hub,
            board,
            detector,
            writer_tx: writer.sender(),
            writer: Some(writer),
            cameras: Vec::new(),
            server: Some(server),
            event_ids,
            origin,
        };
        let cameras = daemon.cfg.cameras.clone();
        for cam in cameras.into_iter().filter(|c| c.enabled) {
            daemon.start_camera(cam);
        }
        systemd::notify_ready(&daemon.status_line());
        tracing::info!(
            startup_ms = origin.elapsed().as_millis() as u64,
            "gozcu ready"
        );
        Ok(daemon)
    }

    fn shared(&self) -> PipelineShared {
        PipelineShared {
            detector: self.detector.clone(),
            detector_cfg: self.cfg.detector.clone(),
            motion_cfg: self.cfg.motion.clone(),
            events_cfg: self.cfg.events.clone(),
            writer: self.writer_tx.clone(),
            board: self.board.clone(),
            event_ids: self.event_ids.clone(),
            origin: self.origin,
        }
    }

    fn start_camera(&mut self, cam: config::CameraConfig) {
        let id = cam.id.clone();
        match CameraPipeline::start(cam, self.shared()) {
            Ok(p) => self.cameras.push(p),
            Err(e) => tracing::error!(camera_id = %id, error = %e, "cannot start camera threads"),
        }
    }

    fn status_line(&self) -> String {
        let state = self.board.state();
        let online = state.cameras.iter().filter(|c| c.state == "online").count();
        let line = systemd::status_line(
            online,
            self.cfg.cameras.len(),
            &status::detector_summary(&state.ai),
            self.hub.client_count(),
        );
        // A refused reload stays in STATUS= (like in the status message) until a good one,
        // so `systemctl status` keeps showing it after the next periodic update.
        match status::reload_note(&state.config) {
            Some(note) => format!("{line}; {note}"),
            None => line,
        }
    }

    /// Waits for SIGTERM/SIGINT (then shuts down) and handles SIGHUP (reload) and the
    /// watchdog meanwhile.
    pub async fn run_until_stopped(mut self, signals: Signals) {
        let Signals {
            mut term,
            mut int,
            mut hup,
        } = signals;
        let watchdog_every = systemd::watchdog_interval();
        let mut watchdog =
            tokio::time::interval(watchdog_every.unwrap_or(Duration::from_secs(3600)));
        let mut status_tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
                _ = int.recv() => { tracing::info!("SIGINT: shutting down"); break; }
                _ = hup.recv() => self.reload().await,
                _ = watchdog.tick(), if watchdog_every.is_some() => self.feed_watchdog(),
                _ = status_tick.tick() => systemd::notify_status(&self.status_line()),
            }
        }
        self.shutdown().await;
    }

    /// SIGHUP: re-read the config; invalid -> keep running unchanged and say why; valid ->
    /// apply the difference (reload.rs decides what restarts).
    async fn reload(&mut self) {
        systemd::notify_reloading();
        tracing::info!(config = %self.config_path.display(), "SIGHUP: reloading configuration");
        let new = match config::load(&self.config_path) {
            Ok(new) => new,
            Err(e) => {
                tracing::error!("reload failed, still running the previous configuration: {e}");
                let at = crate::events::rfc3339(time::OffsetDateTime::now_utc());
                self.board.set_reload_error(Some((e.to_string(), at)));
                systemd::notify_ready(&self.status_line());
                return;
            }
        };
        self.board.set_reload_error(None);
        let changes = config::diff(&self.cfg, &new);
        if changes.is_empty() {
            tracing::info!("reload: configuration unchanged");
        }
        let plan = reload::plan(&self.cfg, &new, &changes);
        for what in &plan.needs_restart {
            tracing::warn!("reload: {what}; this takes effect after `systemctl restart gozcu`");
        }
        let new = reload::effective(&self.cfg, &new);

        let (stopping, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.cameras)
            .into_iter()
            .partition(|c| plan.stop.contains(c.id()));
        self.cameras = keep;
        let stopped_ids: Vec<String> = stopping.iter().map(|c| c.id().to_string()).collect();
        let _ = tokio::task::spawn_blocking(move || {
            for cam in stopping {
                cam.stop("reload");
            }
        })
        .await;
        for id in &stopped_ids {
            if !new.cameras.iter().any(|c| &c.id == id) {
                self.board.remove_camera(id);
                self.hub.metrics().remove_camera(id);
            }
        }
        self.cfg = new;
        if plan.reload_detector {
            if let Some(old) = self.detector.take().and_then(|p| Arc::try_unwrap(p).ok()) {
                let _ =
                    tokio::task::spawn_blocking(move || old.shutdown(Duration::from_secs(2))).await;
            }
            let (detector, ai) = load_detector(&self.cfg).await;
            self.detector = detector;
            self.board.set_ai(ai);
        }
        for id in &plan.start {
            if let Some(cam) = self.cfg.cameras.iter().find(|c| &c.id == id).cloned() {
                self.board.set_camera(initial_status(&cam));
                self.start_camera(cam);
            }
        }
        for cam in self.cfg.cameras.iter().filter(|c| !c.enabled) {
            self.board.set_camera(initial_status(cam));
        }
        if let (true, Some(server)) = (plan.server_limits, &self.server) {
            server.update_limits(&ServerSettings::from_config(&self.cfg.server));
        }
        if let (Some(level), Some(log)) = (plan.log_level, &self.log)
            && let Err(e) = log.set_level(level)
        {
            tracing::warn!("reload: log level not changed: {e}");
        }
        tracing::info!(changes = changes.len(), "reload done");
        systemd::notify_ready(&self.status_line());
    }

    /// WATCHDOG=1 only while every camera and detector worker is making progress: a hung
    /// ioctl or NPU call then ends in a restart by systemd instead of a silent, dead camera.
    fn feed_watchdog(&self) {
        let mut workers: Vec<systemd::WorkerProgress> = self
            .cameras
            .iter()
            .map(|c| systemd::WorkerProgress {
                name: format!("camera {}", c.id()),
                last_progress: c.last_progress(),
            })
            .collect();
        if let Some(pool) = &self.detector {
            for (i, t) in pool.last_progress().into_iter().enumerate() {
                workers.push(systemd::WorkerProgress {
                    name: format!("detector {i}"),
                    last_progress: t,
                });
            }
        }
        let stalled = systemd::stalled_workers(Instant::now(), &workers, STALL_LIMIT);
        if stalled.is_empty() {
            systemd::notify_watchdog();
        } else {
            tracing::error!(
                ?stalled,
                "workers stalled: withholding the watchdog ping so systemd restarts gozcu"
            );
        }
    }

    async fn shutdown(mut self) {
        systemd::notify_stopping();
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        let cameras = std::mem::take(&mut self.cameras);
        let writer = self.writer.take();
        let detector = self.detector.take();
        let joined = tokio::task::spawn_blocking(move || {
            for cam in cameras {
                cam.stop("shutdown");
            }
            if let Some(w) = writer {
                w.stop();
            }
            if let Some(pool) = detector.and_then(|p| Arc::try_unwrap(p).ok()) {
                pool.shutdown(Duration::from_secs(2));
            }
        })
        .await;
        if joined.is_err() {
            tracing::error!("shutdown of camera and store threads did not complete cleanly");
        }
    }
}

/// A detector worker busy for longer than this is considered hung (a YOLO model on a slow
/// CPU takes well under a second; 20 s leaves room for the slowest boards).
const STALL_LIMIT: Duration = Duration::from_secs(20);

fn join_error(e: tokio::task::JoinError) -> DaemonError {
    DaemonError::Io {
        context: "start-up task failed".into(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// The status before anything ran; start-up findings (a corrupt database moved aside, an
/// unusable snapshot folder) are in it from the first status on.
fn initial_board(
    cfg: &Config,
    notice: Option<String>,
    snapshot_problem: Option<String>,
) -> BoardState {
    BoardState {
        cameras: cfg.cameras.iter().map(initial_status).collect(),
        ai: AiStatus::default(),
        storage: StorageStatus {
            state: "ok".into(),
            free_mb: writer::free_bytes(&cfg.storage.dir).map(|b| b / (1024 * 1024)),
            snapshots: if snapshot_problem.is_some() {
                "error"
            } else {
                "ok"
            }
            .into(),
            snapshot_error: snapshot_problem,
            notice,
            ..StorageStatus::default()
        },
        config: Default::default(),
    }
}

/// Loads the detector on a blocking thread (model optimisation takes a while). A missing or
/// broken model is not fatal: the daemon carries on with motion events and says why.
async fn load_detector(cfg: &Config) -> (Option<Arc<DetectorPool>>, AiStatus) {
    if cfg.detector.backend == config::Backend::None {
        tracing::info!("detector.backend = \"none\": motion events only");
        return (None, ai_off("disabled", None));
    }
    let dcfg = cfg.detector.clone();
    let loaded = tokio::task::spawn_blocking(move || crate::detect::load_detector(&dcfg)).await;
    match loaded {
        Ok(Ok((pool, info))) => {
            tracing::info!(backend = %info.backend, model = %info.model, "detector loaded");
            let ai = AiStatus {
                enabled: true,
                reason: None,
                error: None,
                backend: Some(info.backend),
                model: Some(info.model),
                inference_ms: None,
                fallback: info.fallback.map(|f| AiFallback {
                    reason: f.reason.to_string(),
                    message: f.message,
                }),
            };
            (Some(Arc::new(pool)), ai)
        }
        Ok(Err(e)) => {
            tracing::warn!(
                "detection off ({}): {e}. Events will come from motion. To enable detection, set detector.model to a model file (see docs/configuration.md)",
                e.reason_code()
            );
            (None, ai_off(e.reason_code(), Some(e.to_string())))
        }
        Err(e) => {
            tracing::error!("detector loading crashed: {e}");
            (
                None,
                ai_off(
                    "model_load_failed",
                    Some(format!("loading the model crashed: {e}")),
                ),
            )
        }
    }
}

fn ai_off(reason: &str, error: Option<String>) -> AiStatus {
    AiStatus {
        enabled: false,
        reason: Some(reason.to_string()),
        error,
        ..AiStatus::default()
    }
}
