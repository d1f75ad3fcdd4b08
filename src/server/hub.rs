//! The hub: fans committed event messages and the latest status out to every WebSocket
//! connection, and keeps the client registry.
//!
//! While the database cannot commit, the store writer publishes messages before they are
//! stored (docs/reliability.md); the hub keeps those *uncommitted* messages until the writer
//! says they are committed, so a client resuming meanwhile gets them from here.
//!
//! Events go through a `broadcast` channel as text serialized once (a refcounted buffer every
//! connection shares). Status goes through `watch` channels (latest value wins, so a burst of
//! changes never queues): the daemon writes the raw status, a pump task decides when a change
//! is worth sending (state changes at once, rate-like fields at most every `status_interval`)
//! and publishes the serialized text that connections forward.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::metrics::Metrics;
use super::protocol::{LoggedEvent, ServerMessage, StatusData};

/// An event message on its way to clients.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub seq: i64,
    pub camera_id: Arc<str>,
    /// `{"type":"event","data":{...}}`, shared by every client.
    pub text: Utf8Bytes,
}

impl From<&LoggedEvent> for LiveEvent {
    fn from(ev: &LoggedEvent) -> LiveEvent {
        LiveEvent {
            seq: ev.seq,
            camera_id: Arc::from(ev.camera_id.as_str()),
            text: Utf8Bytes::from(&*ev.json),
        }
    }
}

/// What a connection's writer task sends.
#[derive(Debug, Clone)]
pub(crate) enum Outgoing {
    Text(Utf8Bytes),
    Ping,
    /// Sent after everything queued before it; the writer stops afterwards.
    Close(tokio_tungstenite::tungstenite::protocol::CloseFrame),
}

pub type ClientId = u64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    #[error("no WebSocket client with id {0} is connected")]
    UnknownClient(ClientId),
    #[error("WebSocket client {0} has a full outgoing queue (it is not reading); try later")]
    QueueFull(ClientId),
}

/// Tunables of the hub.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// Minimum time between status messages caused only by rate-like fields.
    pub status_interval: Duration,
    /// Event messages a connection may fall behind the broadcast before it is evicted.
    pub event_buffer: usize,
}

impl Default for HubOptions {
    fn default() -> Self {
        HubOptions {
            status_interval: Duration::from_secs(10),
            event_buffer: 1024,
        }
    }
}

/// How two status values differ (see [`classify_change`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// Equal apart from `uptime_s`.
    None,
    /// Only rate-like fields differ: fps, frame counters, inference time, clients, free space.
    RateOnly,
    /// A state (camera, detector, storage, versions) differs: send at once.
    Significant,
}

/// `s` with every rate-like field blanked.
fn without_rates(s: &StatusData) -> StatusData {
    let mut s = s.clone();
    for c in &mut s.camera_list {
        // Whether frames arrive at all is a state (a camera that just came online gets its
        // first rate at once; one that stalls shows 0 at once); the exact rate is not.
        c.fps = if c.fps > 0.0 { 1.0 } else { 0.0 };
        c.frames_skipped = 0;
        c.frames_corrupt = 0;
    }
    s.ai.inference_ms = None;
    s.clients = 0;
    s.uptime_s = 0;
    s.storage.free_mb = None;
    // Counts change with every message during an outage; the state change itself is sent
    // at once (storage.state), the counts at most every interval.
    s.storage.pending = 0;
    s.storage.dropped = 0;
    s
}

/// Pure: is `next` worth sending to clients that last got `prev`?
pub fn classify_change(prev: &StatusData, next: &StatusData) -> StatusChange {
    if without_rates(prev) != without_rates(next) {
        return StatusChange::Significant;
    }
    let mut a = prev.clone();
    let mut b = next.clone();
    a.uptime_s = 0;
    b.uptime_s = 0;
    if a == b {
        StatusChange::None
    } else {
        StatusChange::RateOnly
    }
}

struct ClientEntry {
    queue: mpsc::Sender<Outgoing>,
    peer: SocketAddr,
}

struct Inner {
    epoch: String,
    version: String,
    started: Instant,
    options: HubOptions,
    events: broadcast::Sender<LiveEvent>,
    raw_status: watch::Sender<StatusData>,
    out_status: watch::Sender<Utf8Bytes>,
    clients: Mutex<HashMap<ClientId, ClientEntry>>,
    clients_changed: Arc<Notify>,
    next_id: AtomicU64,
    pump_started: AtomicBool,
    /// The status `out_status` was created with; the pump compares against it first.
    initial_status: StatusData,
    metrics: Metrics,
    uncommitted: Mutex<Uncommitted>,
}

/// Messages published before they were committed, oldest first.
#[derive(Default)]
struct Uncommitted {
    queue: VecDeque<LiveEvent>,
    /// Highest seq dropped from the writer's full queue: sent live, never stored.
    lost_through: Option<i64>,
}

/// Cheap to clone; every clone is the same hub.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("epoch", &self.inner.epoch)
            .field("clients", &self.client_count())
            .finish()
    }
}

impl Hub {
    /// `epoch` is the event database's id (`Store::epoch`), `version` the daemon's.
    pub fn new(epoch: String, version: &str) -> Hub {
        Hub::with_options(epoch, version, HubOptions::default())
    }

    pub fn with_options(epoch: String, version: &str, options: HubOptions) -> Hub {
        let (events, _) = broadcast::channel(options.event_buffer.max(1));
        let status = StatusData {
            version: version.to_string(),
            epoch: epoch.clone(),
            ..StatusData::default()
        };
        let text = Utf8Bytes::from(ServerMessage::Status(status.clone()).to_json());
        Hub {
            inner: Arc::new(Inner {
                epoch,
                version: version.to_string(),
                started: Instant::now(),
                options,
                events,
                raw_status: watch::Sender::new(status.clone()),
                out_status: watch::Sender::new(text),
                clients: Mutex::new(HashMap::new()),
                clients_changed: Arc::new(Notify::new()),
                next_id: AtomicU64::new(1),
                pump_started: AtomicBool::new(false),
                initial_status: status,
                metrics: Metrics::new(),
                uncommitted: Mutex::new(Uncommitted::default()),
            }),
        }
    }

    pub fn epoch(&self) -> &str {
        &self.inner.epoch
    }

    /// Broadcasts a message the store has committed. Never blocks: a client that cannot keep
    /// up is evicted by its own connection task.
    pub fn publish_event(&self, ev: LoggedEvent) {
        self.inner.metrics.event_published();
        // An error only means nobody is connected.
        let _ = self.inner.events.send(LiveEvent::from(&ev));
    }

    /// Broadcasts a message the store could not commit yet (the database is failing). It is
    /// kept for resuming clients until [`Hub::committed_through`] or [`Hub::lost`]. Called
    /// in seq order, by the store writer only.
    pub fn publish_uncommitted(&self, ev: LiveEvent) {
        self.inner.metrics.event_published();
        // Kept before it is sent: a resuming client must find it in one place or the other.
        self.lock_uncommitted().queue.push_back(ev.clone());
        let _ = self.inner.events.send(ev);
    }

    /// Messages up to `seq` are now in the database (resume reads them from there).
    pub fn committed_through(&self, seq: i64) {
        let mut u = self.lock_uncommitted();
        while u.queue.front().is_some_and(|e| e.seq <= seq) {
            u.queue.pop_front();
        }
    }

    /// The uncommitted message `seq` (the oldest) was dropped and will never be stored:
    /// clients resuming from before it get a reset.
    pub fn lost(&self, seq: i64) {
        let mut u = self.lock_uncommitted();
        u.queue.retain(|e| e.seq != seq);
        u.lost_through = Some(u.lost_through.map_or(seq, |l| l.max(seq)));
    }

    /// Uncommitted messages with seq > `since`, oldest first.
    pub(crate) fn uncommitted_after(&self, since: i64) -> Vec<LiveEvent> {
        let u = self.lock_uncommitted();
        u.queue.iter().filter(|e| e.seq > since).cloned().collect()
    }

    /// (lowest, highest) seq of the uncommitted messages, and the highest seq lost.
    pub(crate) fn uncommitted_bounds(&self) -> (Option<(i64, i64)>, Option<i64>) {
        let u = self.lock_uncommitted();
        let bounds = u
            .queue
            .front()
            .zip(u.queue.back())
            .map(|(a, b)| (a.seq, b.seq));
        (bounds, u.lost_through)
    }

    fn lock_uncommitted(&self) -> MutexGuard<'_, Uncommitted> {
        // Only pushes and pops; a poisoned queue is still in order.
        self.inner
            .uncommitted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the status; `clients`, `version`, `uptime_s` and `epoch` are filled in here.
    pub fn set_status(&self, status: StatusData) {
        self.inner.raw_status.send_replace(status);
    }

    /// The current status with the hub's own fields filled in.
    pub fn status(&self) -> StatusData {
        let mut s = self.inner.raw_status.borrow().clone();
        s.clients = u32::try_from(self.client_count()).unwrap_or(u32::MAX);
        s.version.clone_from(&self.inner.version);
        s.epoch.clone_from(&self.inner.epoch);
        s.uptime_s = self.inner.started.elapsed().as_secs();
        s
    }

    pub fn client_count(&self) -> usize {
        self.lock_clients().len()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Queues a message for one connection (e.g. an answer addressed to it alone).
    pub fn send_to_client(&self, id: ClientId, msg: &ServerMessage) -> Result<(), SendError> {
        let queue = self
            .lock_clients()
            .get(&id)
            .map(|c| c.queue.clone())
            .ok_or(SendError::UnknownClient(id))?;
        queue
            .try_send(Outgoing::Text(Utf8Bytes::from(msg.to_json())))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SendError::QueueFull(id),
                mpsc::error::TrySendError::Closed(_) => SendError::UnknownClient(id),
            })
    }

    /// Ids and peer addresses of the connected clients.
    pub fn clients(&self) -> Vec<(ClientId, SocketAddr)> {
        let mut v: Vec<_> = self
            .lock_clients()
            .iter()
            .map(|(id, c)| (*id, c.peer))
            .collect();
        v.sort_unstable();
        v
    }

    fn lock_clients(&self) -> MutexGuard<'_, HashMap<ClientId, ClientEntry>> {
        // Entries are inserted/removed whole; a poisoned map is still consistent.
        self.inner.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn subscribe_events(&self) -> broadcast::Receiver<LiveEvent> {
        self.inner.events.subscribe()
    }

    /// Serialized status updates; the receiver starts with the current one marked seen.
    pub(crate) fn subscribe_status(&self) -> watch::Receiver<Utf8Bytes> {
        let mut rx = self.inner.out_status.subscribe();
        rx.borrow_and_update();
        rx
    }

    /// A fresh status message (the first message on a connection).
    pub(crate) fn status_text(&self) -> Utf8Bytes {
        Utf8Bytes::from(ServerMessage::Status(self.status()).to_json())
    }

    pub(crate) fn register(&self, peer: SocketAddr, queue: mpsc::Sender<Outgoing>) -> ClientGuard {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let n = {
            let mut clients = self.lock_clients();
            clients.insert(id, ClientEntry { queue, peer });
            clients.len()
        };
        self.inner.metrics.set_clients(n);
        self.inner.clients_changed.notify_one();
        ClientGuard {
            hub: self.clone(),
            id,
        }
    }

    /// Starts the status pump on the current runtime (once per hub).
    pub(crate) fn start(&self) {
        if self.inner.pump_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let mut rx = self.inner.raw_status.subscribe();
        // A status set before the pump started still has to go out.
        rx.mark_changed();
        let notify = self.inner.clients_changed.clone();
        tokio::spawn(pump(Arc::downgrade(&self.inner), rx, notify));
    }
}

/// Unregisters its client when dropped.
pub(crate) struct ClientGuard {
    hub: Hub,
    id: ClientId,
}

impl ClientGuard {
    pub(crate) fn id(&self) -> ClientId {
        self.id
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        let n = {
            let mut clients = self.hub.lock_clients();
            clients.remove(&self.id);
            clients.len()
        };
        self.hub.inner.metrics.set_clients(n);
        self.hub.inner.clients_changed.notify_one();
    }
}

/// Decides when status changes go out. Ends when the hub is dropped.
async fn pump(hub: Weak<Inner>, mut raw: watch::Receiver<StatusData>, notify: Arc<Notify>) {
    let Some(initial) = hub.upgrade().map(|inner| inner.initial_status.clone()) else {
        return;
    };
    let mut last_sent = initial;
    let mut last_sent_at = Instant::now();
    let mut pending = false;
    loop {
        let interval = match hub.upgrade() {
            Some(inner) => inner.options.status_interval,
            None => return,
        };
        let due = last_sent_at + interval;
        tokio::select! {
            changed = raw.changed() => if changed.is_err() { return },
            _ = notify.notified() => {}
            _ = tokio::time::sleep_until(due), if pending => {}
        }
        let Some(inner) = hub.upgrade() else { return };
        let hub_ref = Hub { inner };
        let next = hub_ref.status();
        let now = Instant::now();
        let send = match classify_change(&last_sent, &next) {
            StatusChange::Significant => true,
            StatusChange::RateOnly => now >= last_sent_at + interval,
            StatusChange::None => false,
        };
        if send {
            let text = Utf8Bytes::from(ServerMessage::Status(next.clone()).to_json());
            hub_ref.inner.out_status.send_replace(text);
            last_sent = next;
            last_sent_at = now;
            pending = false;
        } else {
            pending = classify_change(&last_sent, &next) == StatusChange::RateOnly;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::protocol::{AiStatus, CameraStatus};

    fn status() -> StatusData {
        StatusData {
            camera_list: vec![CameraStatus {
                id: "cam-1".into(),
                state: "online".into(),
                fps: 15.0,
                ..CameraStatus::default()
            }],
            ai: AiStatus {
                enabled: true,
                inference_ms: Some(20.0),
                ..AiStatus::default()
            },
            ..StatusData::default()
        }
    }

    #[test]
    fn classify() {
        let a = status();
        let mut b = a.clone();
        b.uptime_s = 99;
        assert_eq!(classify_change(&a, &b), StatusChange::None);
        b.camera_list[0].fps = 14.0;
        b.ai.inference_ms = Some(25.0);
        b.clients = 4;
        b.storage.free_mb = Some(10);
        b.storage.pending = 12;
        b.camera_list[0].frames_skipped = 3;
        assert_eq!(classify_change(&a, &b), StatusChange::RateOnly);
        let mut c = b.clone();
        c.camera_list[0].state = "retrying".into();
        assert_eq!(classify_change(&a, &c), StatusChange::Significant);
        let mut d = a.clone();
        d.cameras.online = 2;
        assert_eq!(classify_change(&a, &d), StatusChange::Significant);
        let mut e = a.clone();
        e.storage.state = "error".into();
        assert_eq!(classify_change(&a, &e), StatusChange::Significant);
        let mut f = a.clone();
        f.ai.enabled = false;
        assert_eq!(classify_change(&a, &f), StatusChange::Significant);
        // Frames starting or stopping is a state, not a rate.
        let mut stalled = a.clone();
        stalled.camera_list[0].fps = 0.0;
        assert_eq!(classify_change(&a, &stalled), StatusChange::Significant);
        assert_eq!(classify_change(&stalled, &a), StatusChange::Significant);
    }

    #[tokio::test(start_paused = true)]
    async fn pump_sends_states_at_once_and_rates_at_most_every_interval() {
        let hub = Hub::new("ep".into(), "1.2.3");
        hub.start();
        let mut rx = hub.subscribe_status();
        let mut s = status();
        hub.set_status(s.clone());
        rx.changed().await.unwrap();
        assert!(rx.borrow_and_update().contains("\"fps\":15.0"));
        let t0 = Instant::now();

        // A rate-only change waits for the interval.
        s.camera_list[0].fps = 12.0;
        hub.set_status(s.clone());
        rx.changed().await.unwrap();
        assert!(Instant::now() >= t0 + Duration::from_secs(10));
        let text = rx.borrow_and_update().to_string();
        assert!(text.contains("\"fps\":12.0"), "{text}");
        assert!(text.contains("\"version\":\"1.2.3\""), "{text}");
        assert!(text.contains("\"epoch\":\"ep\""), "{text}");

        // A state change goes out at once, carrying the latest rates too.
        let t1 = Instant::now();
        s.camera_list[0].fps = 11.0;
        hub.set_status(s.clone());
        s.camera_list[0].state = "down".into();
        hub.set_status(s.clone());
        rx.changed().await.unwrap();
        assert_eq!(Instant::now(), t1);
        let text = rx.borrow_and_update().to_string();
        assert!(text.contains("\"state\":\"down\""), "{text}");
        assert!(text.contains("\"fps\":11.0"), "{text}");
    }

    #[test]
    fn uncommitted_messages_are_kept_until_committed_or_lost() {
        let hub = Hub::new("ep".into(), "v");
        let mut rx = hub.subscribe_events();
        let ev = |seq: i64| LiveEvent {
            seq,
            camera_id: Arc::from("cam-1"),
            text: Utf8Bytes::from(format!("{{\"seq\":{seq}}}")),
        };
        for seq in 5..=8 {
            hub.publish_uncommitted(ev(seq));
        }
        // Sent live at once, in order.
        for seq in 5..=8 {
            assert_eq!(rx.try_recv().unwrap().seq, seq);
        }
        assert_eq!(hub.uncommitted_bounds(), (Some((5, 8)), None));
        let seqs = |v: Vec<LiveEvent>| v.iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(seqs(hub.uncommitted_after(6)), [7, 8]);
        hub.lost(5);
        hub.committed_through(6);
        assert_eq!(hub.uncommitted_bounds(), (Some((7, 8)), Some(5)));
        hub.committed_through(8);
        assert_eq!(hub.uncommitted_bounds(), (None, Some(5)));
        assert!(hub.uncommitted_after(0).is_empty());
    }

    #[test]
    fn send_to_client_reports_unknown_and_full() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let hub = Hub::new("ep".into(), "v");
            let (tx, mut rx) = mpsc::channel(1);
            let guard = hub.register("127.0.0.1:1".parse().unwrap(), tx);
            assert_eq!(hub.client_count(), 1);
            let msg = ServerMessage::Reset { reason: "x".into() };
            hub.send_to_client(guard.id(), &msg).unwrap();
            assert_eq!(
                hub.send_to_client(guard.id(), &msg),
                Err(SendError::QueueFull(guard.id()))
            );
            assert!(matches!(rx.recv().await, Some(Outgoing::Text(t)) if t.contains("reset")));
            drop(guard);
            assert_eq!(hub.client_count(), 0);
            let err = hub.send_to_client(1, &msg).unwrap_err();
            assert_eq!(
                err.to_string(),
                "no WebSocket client with id 1 is connected"
            );
        });
    }
}
