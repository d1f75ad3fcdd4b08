//! Detector pool: N worker threads, each owning one model instance (`Box<dyn Detector>`,
//! built ON that thread by a factory, so runtimes with thread-affine contexts work).
//!
//! Frames are dropped, never queued: `try_detect` hands a request to an idle worker or
//! returns `Busy` at once. Each worker has a one-slot channel and a busy flag that
//! `try_detect` claims before sending, so "busy" is exact, not a race. A failed inference is
//! counted and the worker carries on. `worker_status` exposes `busy_since` and
//! `last_progress` so a watchdog can tell a hung inference from an idle pool.

use super::decode::Decoder;
use super::{DetectError, Detection, Detector, InputSpec, Letterbox, PreparedInput};
use crate::vision::RgbImage;
use crate::vision::letterbox::Letterboxer;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What to detect on.
#[derive(Debug, Clone)]
pub enum DetectInput {
    /// An RGB frame; the worker letterboxes it to the model's input spec.
    Image(Arc<RgbImage>),
    /// Already prepared to `DetectorPool::input_spec()`.
    Prepared {
        input: PreparedInput,
        letterbox: Letterbox,
    },
}

/// Result of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectOutput {
    /// Best first, in source pixels, above the decoder's score threshold.
    pub detections: Vec<Detection>,
    /// Letterbox + tensor conversion (0 for prepared input).
    pub preprocess_ms: f64,
    /// The backend's run.
    pub inference_ms: f64,
    pub decode_ms: f64,
    /// Which worker ran it.
    pub worker: usize,
}

/// Called on the worker thread with the result; must not block (send it on a channel).
pub type Reply = Box<dyn FnOnce(Result<DetectOutput, DetectError>) + Send + 'static>;

/// Builds worker `i`'s detector, on worker `i`'s thread.
pub type Factory = Arc<dyn Fn(usize) -> Result<Box<dyn Detector>, DetectError> + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("all detector workers are busy; frame dropped")]
    Busy,
    #[error("detector pool stopped (its workers have exited)")]
    Stopped,
    #[error("no detection result within {0:?}; the inference may be hung")]
    Timeout(Duration),
    #[error(transparent)]
    Detect(#[from] DetectError),
}

/// One worker's state, for status and the watchdog.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkerStatus {
    /// When the request being run was accepted; `None` when idle.
    pub busy_since: Option<Instant>,
    /// Last time the worker finished a request or waited idle (refreshed every second).
    pub last_progress: Instant,
    pub completed: u64,
    pub errors: u64,
}

/// Pool-wide counters.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PoolStats {
    /// Requests accepted by a worker.
    pub accepted: u64,
    /// Requests refused because every worker was busy (frames dropped).
    pub dropped_busy: u64,
    pub completed: u64,
    pub errors: u64,
    /// Inference time of the latest completed request.
    pub last_inference_ms: f64,
}

/// What a worker reports once its detector is built: spec, backend name, output dims.
type ReadyInfo = (InputSpec, &'static str, Option<Vec<Vec<usize>>>);

/// How often an idle worker refreshes `last_progress`.
const IDLE_TICK: Duration = Duration::from_secs(1);

struct Job {
    input: DetectInput,
    reply: Reply,
}

struct Shared {
    busy: AtomicBool,
    status: Mutex<WorkerStatus>,
}

impl Shared {
    fn status(&self) -> MutexGuard<'_, WorkerStatus> {
        // A poisoned lock only means a reply closure panicked mid-update; the data is plain.
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    dropped_busy: AtomicU64,
    completed: AtomicU64,
    errors: AtomicU64,
    last_inference_us: AtomicU64,
}

struct Worker {
    tx: SyncSender<Job>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// See the module docs.
pub struct DetectorPool {
    workers: Vec<Worker>,
    counters: Arc<Counters>,
    spec: InputSpec,
    backend: &'static str,
    next: AtomicUsize,
}

impl std::fmt::Debug for DetectorPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DetectorPool")
            .field("workers", &self.workers.len())
            .field("backend", &self.backend)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl DetectorPool {
    /// Starts `workers` threads, builds a detector on each and waits until all are ready.
    /// The decoder's input size is taken from the detectors' input spec, and the model's
    /// outputs are checked against the decoder's family before any frame.
    pub fn start(
        workers: usize,
        factory: Factory,
        mut decoder: Decoder,
    ) -> Result<Self, DetectError> {
        let n = workers.max(1);
        let counters = Arc::new(Counters::default());
        let (ready_tx, ready_rx) = mpsc::channel();
        let mut handles = Vec::with_capacity(n);
        let (go_txs, mut go_rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| mpsc::channel()).unzip();
        for (i, go_rx) in go_rxs.drain(..).enumerate() {
            let (tx, rx) = mpsc::sync_channel::<Job>(1);
            let shared = Arc::new(Shared {
                busy: AtomicBool::new(false),
                status: Mutex::new(WorkerStatus {
                    busy_since: None,
                    last_progress: Instant::now(),
                    completed: 0,
                    errors: 0,
                }),
            });
            let ctx = WorkerCtx {
                index: i,
                shared: shared.clone(),
                counters: counters.clone(),
            };
            let (factory, ready_tx) = (factory.clone(), ready_tx.clone());
            let thread = std::thread::Builder::new()
                .name(format!("gozcu-detect-{i}"))
                .spawn(move || {
                    let det = match catch_unwind(AssertUnwindSafe(|| factory(i))) {
                        Ok(r) => r,
                        Err(p) => Err(DetectError::ModelLoad {
                            path: String::new(),
                            reason: format!("backend panicked while loading: {}", panic_text(&*p)),
                        }),
                    };
                    let det = match det {
                        Ok(d) => {
                            let info = (d.input_spec().clone(), d.backend_name(), d.output_dims());
                            let _ = ready_tx.send(Ok(info));
                            d
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    // Wait for the checked decoder (or for the pool to give up).
                    let Ok(decoder) = go_rx.recv() else { return };
                    worker_loop(ctx, det, decoder, rx);
                });
            let thread = thread.map_err(|e| DetectError::ModelLoad {
                path: String::new(),
                reason: format!("cannot start a detector thread: {e}"),
            })?;
            handles.push(Worker {
                tx,
                shared,
                thread: Some(thread),
            });
        }
        drop(ready_tx);
        let mut first: Option<ReadyInfo> = None;
        for _ in 0..n {
            // A worker that died without reporting closes the channel: Err -> treated below.
            match ready_rx.recv() {
                Ok(Ok(info)) => {
                    if first.is_none() {
                        first = Some(info);
                    }
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(DetectError::ModelLoad {
                        path: String::new(),
                        reason: "a detector thread exited while loading".to_string(),
                    });
                }
            }
        }
        let Some((spec, backend, dims)) = first else {
            return Err(DetectError::ModelLoad {
                path: String::new(),
                reason: "no detector was built".to_string(),
            });
        };
        decoder.params.input_width = spec.width;
        decoder.params.input_height = spec.height;
        if let Some(dims) = &dims {
            decoder.check_outputs(dims)?;
        }
        let decoder = Arc::new(decoder);
        for go in go_txs {
            let _ = go.send(decoder.clone());
        }
        Ok(Self {
            workers: handles,
            counters,
            spec,
            backend,
            next: AtomicUsize::new(0),
        })
    }

    /// Hands `input` to an idle worker; `reply` gets the result on that worker's thread.
    /// Returns `Busy` at once when every worker is running a request (the frame is dropped).
    pub fn try_detect(&self, input: DetectInput, reply: Reply) -> Result<(), PoolError> {
        let n = self.workers.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut job = Job { input, reply };
        let mut alive = false;
        for k in 0..n {
            let w = &self.workers[(start + k) % n];
            if w.shared
                .busy
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                alive = true;
                continue;
            }
            w.shared.status().busy_since = Some(Instant::now());
            match w.tx.try_send(job) {
                Ok(()) => {
                    self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(TrySendError::Full(j)) => {
                    // Cannot happen (idle worker, empty slot) but never wedge the flag.
                    alive = true;
                    job = j;
                }
                Err(TrySendError::Disconnected(j)) => job = j,
            }
            w.shared.status().busy_since = None;
            w.shared.busy.store(false, Ordering::Release);
        }
        if alive {
            self.counters.dropped_busy.fetch_add(1, Ordering::Relaxed);
            Err(PoolError::Busy)
        } else {
            Err(PoolError::Stopped)
        }
    }

    /// Waits (up to `timeout`) for a worker to take `input`, then for its result. For the
    /// `gozcu detect` command and tests; the daemon uses `try_detect`.
    pub fn detect_wait(
        &self,
        input: DetectInput,
        timeout: Duration,
    ) -> Result<DetectOutput, PoolError> {
        let deadline = Instant::now() + timeout;
        loop {
            let (tx, rx) = mpsc::sync_channel(1);
            let reply: Reply = Box::new(move |r| {
                let _ = tx.send(r);
            });
            match self.try_detect(input.clone(), reply) {
                Ok(()) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    return match rx.recv_timeout(left.max(Duration::from_millis(1))) {
                        Ok(r) => r.map_err(PoolError::Detect),
                        Err(RecvTimeoutError::Timeout) => Err(PoolError::Timeout(timeout)),
                        Err(RecvTimeoutError::Disconnected) => Err(PoolError::Stopped),
                    };
                }
                Err(PoolError::Busy) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The input every worker's model takes (all workers run the same model).
    pub fn input_spec(&self) -> &InputSpec {
        &self.spec
    }

    /// "cpu" / "rknn".
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Per-worker state, for status and the watchdog.
    pub fn worker_status(&self) -> Vec<WorkerStatus> {
        self.workers.iter().map(|w| *w.shared.status()).collect()
    }

    /// Per-worker time of the last progress (finished request, or idle tick).
    pub fn last_progress(&self) -> Vec<Instant> {
        self.worker_status()
            .iter()
            .map(|s| s.last_progress)
            .collect()
    }

    /// True when some worker has been running one request for longer than `limit`.
    pub fn is_stuck(&self, limit: Duration) -> bool {
        self.worker_status()
            .iter()
            .any(|s| s.busy_since.is_some_and(|t| t.elapsed() > limit))
    }

    pub fn stats(&self) -> PoolStats {
        let c = &self.counters;
        PoolStats {
            accepted: c.accepted.load(Ordering::Relaxed),
            dropped_busy: c.dropped_busy.load(Ordering::Relaxed),
            completed: c.completed.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            last_inference_ms: c.last_inference_us.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }

    /// Stops the workers and waits up to `timeout` for them to exit (a worker stuck in an
    /// inference is left behind). Returns true when all exited.
    pub fn shutdown(mut self, timeout: Duration) -> bool {
        let threads: Vec<JoinHandle<()>> = self
            .workers
            .iter_mut()
            .filter_map(|w| w.thread.take())
            .collect();
        self.workers.clear(); // drops the senders: idle workers see the channel close
        let deadline = Instant::now() + timeout;
        while threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let all = threads.iter().all(|t| t.is_finished());
        for t in threads.into_iter().filter(|t| t.is_finished()) {
            let _ = t.join();
        }
        all
    }
}

struct WorkerCtx {
    index: usize,
    shared: Arc<Shared>,
    counters: Arc<Counters>,
}

fn worker_loop(
    ctx: WorkerCtx,
    mut det: Box<dyn Detector>,
    decoder: Arc<Decoder>,
    rx: Receiver<Job>,
) {
    let mut letterboxer = Letterboxer::new();
    loop {
        let job = match rx.recv_timeout(IDLE_TICK) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                ctx.shared.status().last_progress = Instant::now();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let result = catch_unwind(AssertUnwindSafe(|| {
            run_one(
                det.as_mut(),
                &decoder,
                &mut letterboxer,
                job.input,
                ctx.index,
            )
        }))
        .unwrap_or_else(|p| {
            Err(DetectError::Inference(format!(
                "the backend panicked: {}",
                panic_text(&*p)
            )))
        });
        {
            let mut st = ctx.shared.status();
            st.busy_since = None;
            st.last_progress = Instant::now();
            match &result {
                Ok(out) => {
                    st.completed += 1;
                    ctx.counters.completed.fetch_add(1, Ordering::Relaxed);
                    ctx.counters
                        .last_inference_us
                        .store((out.inference_ms * 1000.0) as u64, Ordering::Relaxed);
                }
                Err(_) => {
                    st.errors += 1;
                    ctx.counters.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // Free before replying, so a caller that reacts to the reply finds the worker idle.
        ctx.shared.busy.store(false, Ordering::Release);
        (job.reply)(result);
    }
}

fn run_one(
    det: &mut dyn Detector,
    decoder: &Decoder,
    letterboxer: &mut Letterboxer,
    input: DetectInput,
    worker: usize,
) -> Result<DetectOutput, DetectError> {
    let t0 = Instant::now();
    let (prepared, lb) = match input {
        DetectInput::Image(img) => letterboxer
            .prepare(&img, det.input_spec())
            .map_err(|e| DetectError::Inference(format!("preprocessing: {e}")))?,
        DetectInput::Prepared { input, letterbox } => (input, letterbox),
    };
    let t1 = Instant::now();
    let outputs = det.infer(&prepared)?;
    let t2 = Instant::now();
    let detections = decoder.decode(&outputs, &lb)?;
    let t3 = Instant::now();
    Ok(DetectOutput {
        detections,
        preprocess_ms: ms(t1 - t0),
        inference_ms: ms(t2 - t1),
        decode_ms: ms(t3 - t2),
        worker,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

#[cfg(test)]
mod tests;
