//! One WebSocket connection after the handshake: first status, resume replay, live events,
//! client messages, heartbeat, limits and the closing handshake.
//!
//! Two tasks per connection. The connection task reads client frames and decides what to
//! send; it never waits on the socket, only pushes into a bounded queue with `try_send`, so a
//! client that stops reading fills its own queue and is evicted (1013) without delaying the
//! hub or anyone else. The writer task (`writer.rs`) drains the queue into the socket. The
//! close frame follows what is already queued, except for an evicted client, where it
//! jumps the queue.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::future::{Fuse, FusedFuture};
use futures_util::stream::SplitStream;
use futures_util::{FutureExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use super::archive::Archive;
use super::hub::{ClientGuard, Hub, LiveEvent, Outgoing};
use super::limits::Permit;
use super::protocol::{ClientMessage, ServerMessage, parse_client_message};
use super::query::WsParams;
use super::session::{
    CameraFilter, Cursor, RateWindow, ResetReason, ResumePlan, plan_resume_with_held,
};
use super::settings::ServerSettings;
use super::writer::write_loop;

pub(crate) type Ws = WebSocketStream<TokioIo<Upgraded>>;

/// Log messages replayed per database query.
const REPLAY_PAGE: usize = 256;

/// Sized for tiny client messages; writes are bounded by the per-client queue.
pub fn ws_config(settings: &ServerSettings) -> WebSocketConfig {
    let max = settings.max_message_bytes;
    WebSocketConfig::default()
        .read_buffer_size(max)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(256 * 1024)
}

/// Everything a connection needs, gathered by the upgrade route.
pub(crate) struct WsSetup {
    pub hub: Hub,
    pub archive: Archive,
    pub settings: Arc<ServerSettings>,
    pub params: WsParams,
    pub peer: SocketAddr,
    pub origin: Option<String>,
    pub permit: Permit,
    pub shutdown: watch::Receiver<bool>,
}

/// Why the connection ends.
#[derive(Debug, Clone, PartialEq)]
enum End {
    Shutdown,
    Idle,
    Flood,
    TooBig,
    Protocol,
    BadUtf8,
    /// 1013; the label is the metrics reason ("slow" or "lagged").
    Evicted(&'static str),
    /// The client closed (with this code) or the connection broke (`None`).
    ClientGone(Option<u16>),
}

impl End {
    /// The close frame we send, if any.
    fn close_frame(&self, s: &ServerSettings, last_seq: i64) -> Option<CloseFrame> {
        let (code, reason) = match self {
            End::Shutdown => (CloseCode::Away, "server shutting down".to_string()),
            End::Idle => (
                CloseCode::Normal,
                format!(
                    "idle timeout: nothing received for {} s",
                    s.idle_timeout.as_secs()
                ),
            ),
            End::Flood => (
                CloseCode::Policy,
                format!("more than {} messages per second", s.max_messages_per_s),
            ),
            End::TooBig => (
                CloseCode::Size,
                format!("message larger than {} bytes", s.max_message_bytes),
            ),
            End::Protocol => (CloseCode::Protocol, "WebSocket protocol error".to_string()),
            End::BadUtf8 => (CloseCode::Invalid, "text frame is not UTF-8".to_string()),
            End::Evicted(why) => (
                CloseCode::Again,
                format!("{why} consumer evicted; reconnect with since={last_seq}"),
            ),
            End::ClientGone(_) => return None,
        };
        Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        })
    }
}

/// Runs a connection to the end. The status message is the first thing queued.
pub(crate) async fn run(ws: Ws, setup: WsSetup) {
    let WsSetup {
        hub,
        archive,
        settings,
        params,
        peer,
        origin,
        permit,
        mut shutdown,
    } = setup;
    let origin_log = origin.unwrap_or_else(|| "-".to_string());
    let (sink, mut stream) = ws.split();
    let (queue, queue_rx) = mpsc::channel(settings.client_queue);
    let guard = hub.register(peer, queue.clone());
    let (close_tx, close_rx) = oneshot::channel();
    let writer = tokio::spawn(write_loop(
        sink,
        queue_rx,
        close_rx,
        hub.clone(),
        settings.close_grace,
    ));
    let abort_writer = writer.abort_handle();
    // Fused: it is awaited both in the main loop and while closing.
    let mut writer = writer.fuse();
    tracing::info!(
        peer = %peer, origin = %origin_log, client = guard.id(),
        since = ?params.since, cameras = ?params.cameras,
        "websocket client connected"
    );

    let mut conn = Conn {
        hub,
        archive,
        settings: settings.clone(),
        queue,
        guard,
        filter: CameraFilter::new(params.cameras.clone()),
        cursor: Cursor::live(),
        rate: RateWindow::new(settings.max_messages_per_s),
        idle_deadline: Instant::now() + settings.idle_timeout,
    };
    let end = conn
        .serve(&mut stream, &mut writer, &mut shutdown, params)
        .await;

    let frame = end.close_frame(&settings, conn.cursor.last().max(0));
    let code = match (&frame, &end) {
        (Some(f), _) => Some(u16::from(f.code)),
        (None, End::ClientGone(code)) => *code,
        _ => None,
    };
    let client = conn.guard.id();
    let queue = conn.queue.clone();
    // Stop queueing; the writer sends the close frame (or just stops) and the reader waits
    // briefly for the client's answer, all within the grace period.
    drop(conn);
    match frame {
        Some(frame) => {
            // After what is already queued, unless the client is not reading: then at once.
            let queued = !matches!(end, End::Evicted(_))
                && queue.try_send(Outgoing::Close(frame.clone())).is_ok();
            if !queued {
                let _ = close_tx.send(frame.clone());
            }
            drop(queue);
            let _ = tokio::time::timeout(settings.close_grace, async {
                if !writer.is_terminated() {
                    let _ = (&mut writer).await;
                }
                while let Some(Ok(_)) = stream.next().await {}
            })
            .await;
            if matches!(end, End::Evicted(_)) {
                tracing::warn!(
                    peer = %peer, origin = %origin_log, client, close_code = ?code,
                    reason = %frame.reason, "websocket client evicted"
                );
            } else {
                tracing::info!(
                    peer = %peer, origin = %origin_log, client, close_code = ?code,
                    reason = %frame.reason, closed_by = "server",
                    "websocket client disconnected"
                );
            }
        }
        None => {
            drop(queue);
            drop(close_tx);
            if !writer.is_terminated() {
                let _ = tokio::time::timeout(settings.close_grace, &mut writer).await;
            }
            tracing::info!(
                peer = %peer, origin = %origin_log, client, close_code = ?code,
                closed_by = "client", "websocket client disconnected"
            );
        }
    }
    abort_writer.abort();
    drop(permit);
}

struct Conn {
    hub: Hub,
    archive: Archive,
    settings: Arc<ServerSettings>,
    queue: mpsc::Sender<Outgoing>,
    guard: ClientGuard,
    filter: CameraFilter,
    cursor: Cursor,
    rate: RateWindow,
    idle_deadline: Instant,
}

async fn shutdown_requested(rx: &mut watch::Receiver<bool>) {
    // A dropped sender also means the server is gone.
    let _ = rx.wait_for(|stop| *stop).await;
}

impl Conn {
    async fn serve(
        &mut self,
        stream: &mut SplitStream<Ws>,
        writer: &mut Fuse<JoinHandle<()>>,
        shutdown: &mut watch::Receiver<bool>,
        params: WsParams,
    ) -> End {
        // Live first, so nothing committed during the replay is missed.
        let mut live = self.hub.subscribe_events();
        let mut status = self.hub.subscribe_status();
        if let Err(end) = self.enqueue(Outgoing::Text(self.hub.status_text())) {
            return end;
        }
        if let Some(since) = params.since {
            tokio::select! {
                r = self.resume(since, params.epoch.as_deref(), &mut live) => {
                    if let Err(end) = r { return end; }
                }
                _ = shutdown_requested(shutdown) => return End::Shutdown,
            }
        }
        // A long replay is not the client's silence.
        self.idle_deadline = Instant::now() + self.settings.idle_timeout;
        let period = self.settings.ping_interval;
        let mut ping = tokio::time::interval_at(Instant::now() + period, period);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);

        loop {
            let step = tokio::select! {
                biased;
                _ = shutdown_requested(shutdown) => Err(End::Shutdown),
                _ = &mut *writer => Err(End::ClientGone(None)),
                msg = stream.next() => self.on_frame(msg),
                ev = live.recv() => self.on_live(ev),
                changed = status.changed() => match changed {
                    Ok(()) => {
                        let text = status.borrow_and_update().clone();
                        self.enqueue(Outgoing::Text(text))
                    }
                    Err(_) => Err(End::Shutdown),
                },
                _ = ping.tick() => self.enqueue(Outgoing::Ping),
                _ = tokio::time::sleep_until(self.idle_deadline) => Err(End::Idle),
            };
            match step {
                Ok(None) => {}
                Ok(Some(since)) => {
                    tokio::select! {
                        r = self.resume(since, None, &mut live) => {
                            if let Err(end) = r { return end; }
                        }
                        _ = shutdown_requested(shutdown) => return End::Shutdown,
                    }
                    self.idle_deadline = Instant::now() + self.settings.idle_timeout;
                }
                Err(end) => return end,
            }
        }
    }

    /// Queues without waiting; a full queue means the client stopped reading.
    fn enqueue(&self, item: Outgoing) -> Result<Option<i64>, End> {
        match self.queue.try_send(item) {
            Ok(()) => Ok(None),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.hub.metrics().evicted("slow");
                Err(End::Evicted("slow"))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(End::ClientGone(None)),
        }
    }

    fn send_message(&self, msg: ServerMessage) -> Result<Option<i64>, End> {
        self.enqueue(Outgoing::Text(Utf8Bytes::from(msg.to_json())))
    }

    fn bad_message(&self, message: String) -> Result<Option<i64>, End> {
        self.send_message(ServerMessage::Error {
            code: "bad_message".to_string(),
            message,
        })
    }

    /// Handles one client frame; `Ok(Some(since))` asks for a resume.
    fn on_frame(&mut self, msg: Option<Result<Message, WsError>>) -> Result<Option<i64>, End> {
        let msg = match msg {
            None => return Err(End::ClientGone(None)),
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                return Err(match e {
                    WsError::Capacity(_) => End::TooBig,
                    WsError::Utf8(_) => End::BadUtf8,
                    WsError::Protocol(_) => End::Protocol,
                    _ => End::ClientGone(None),
                });
            }
        };
        let now = Instant::now();
        self.idle_deadline = now + self.settings.idle_timeout;
        if let Message::Close(frame) = &msg {
            // tungstenite answers the close; the stream ends next.
            return Err(End::ClientGone(frame.as_ref().map(|f| u16::from(f.code))));
        }
        if !self.rate.hit(now) {
            return Err(End::Flood);
        }
        match msg {
            Message::Text(text) => match parse_client_message(&text) {
                Ok(ClientMessage::Ping) => {
                    self.enqueue(Outgoing::Text(Utf8Bytes::from_static("pong")))
                }
                Ok(ClientMessage::Subscribe { cameras }) => {
                    self.filter = CameraFilter::new(cameras);
                    Ok(None)
                }
                Ok(ClientMessage::Resume { since }) => Ok(Some(since)),
                Err(e) => self.bad_message(e),
            },
            Message::Binary(_) => {
                self.bad_message("binary frames are not supported; send JSON text".to_string())
            }
            // Pings are answered by tungstenite; pongs only prove the client is alive.
            _ => Ok(None),
        }
    }

    fn on_live(&mut self, ev: Result<LiveEvent, RecvError>) -> Result<Option<i64>, End> {
        match ev {
            Ok(ev) => self.deliver(&ev).map(|_| None),
            Err(RecvError::Lagged(_)) => {
                self.hub.metrics().evicted("lagged");
                Err(End::Evicted("lagged"))
            }
            Err(RecvError::Closed) => Err(End::Shutdown),
        }
    }

    fn deliver(&mut self, ev: &LiveEvent) -> Result<(), End> {
        if self.cursor.admit(ev.seq) && self.filter.allows(&ev.camera_id) {
            self.enqueue(Outgoing::Text(ev.text.clone()))?;
        }
        Ok(())
    }

    /// Queues during replay, waiting for room: the client is catching up at its own pace.
    /// Waiting longer than the idle timeout means it is not reading at all.
    async fn enqueue_wait(&self, text: Utf8Bytes) -> Result<(), End> {
        match tokio::time::timeout(
            self.settings.idle_timeout,
            self.queue.send(Outgoing::Text(text)),
        )
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::ClientGone(None)),
            Err(_) => {
                self.hub.metrics().evicted("slow");
                Err(End::Evicted("slow"))
            }
        }
    }

    fn reset(&mut self, reason: ResetReason) -> Result<(), End> {
        self.cursor = Cursor::live();
        tracing::info!(
            client = self.guard.id(),
            reason = reason.as_str(),
            "resume impossible; sent reset"
        );
        self.send_message(ServerMessage::Reset {
            reason: reason.as_str().to_string(),
        })
        .map(|_| ())
    }

    /// Replays logged messages with seq > `since`, then the messages the hub holds because
    /// the database could not commit them yet, then whatever arrived live meanwhile, skipping
    /// what was replayed. Live messages lost to lag are still in the log (or held), so lag
    /// here just means another round of replay.
    async fn resume(
        &mut self,
        since: i64,
        client_epoch: Option<&str>,
        live: &mut broadcast::Receiver<LiveEvent>,
    ) -> Result<(), End> {
        let (held_bounds, lost_through) = self.hub.uncommitted_bounds();
        let bounds = match self.archive.log_bounds().await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the event log for a resume");
                return self.reset(ResetReason::StorageError);
            }
        };
        if let ResumePlan::Reset(reason) = plan_resume_with_held(
            since,
            client_epoch,
            self.hub.epoch(),
            bounds,
            held_bounds,
            lost_through,
        ) {
            return self.reset(reason);
        }
        self.cursor = Cursor::after(since);
        loop {
            // Taken before the log is read: a message published earlier is either still held
            // now or committed, and then in the log read below.
            let held = self.hub.uncommitted_after(self.cursor.last());
            loop {
                let page = match self
                    .archive
                    .log_after(self.cursor.last(), REPLAY_PAGE)
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the event log for a resume");
                        return self.reset(ResetReason::StorageError);
                    }
                };
                if page.is_empty() {
                    break;
                }
                for ev in page {
                    if self.cursor.admit(ev.seq) && self.filter.allows(&ev.camera_id) {
                        self.enqueue_wait(Utf8Bytes::from(&*ev.json)).await?;
                    }
                }
            }
            for ev in held {
                if self.cursor.admit(ev.seq) && self.filter.allows(&ev.camera_id) {
                    self.enqueue_wait(ev.text.clone()).await?;
                }
            }
            loop {
                match live.try_recv() {
                    Ok(ev) => {
                        if self.cursor.admit(ev.seq) && self.filter.allows(&ev.camera_id) {
                            self.enqueue_wait(ev.text.clone()).await?;
                        }
                    }
                    Err(TryRecvError::Empty) => return Ok(()),
                    Err(TryRecvError::Lagged(_)) => break,
                    Err(TryRecvError::Closed) => return Err(End::Shutdown),
                }
            }
        }
    }
}
