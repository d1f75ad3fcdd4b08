//! Listeners and HTTP/1 connections (hyper, with upgrades), server lifecycle and shutdown.
//!
//! Shutdown follows mini-redis: a `watch` tells every task to stop, and each task holds a
//! clone of an mpsc sender; when all are dropped, every connection is gone.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::ServerError;
use super::archive::Archive;
use super::hub::Hub;
use super::limits::{ConnectionLimiter, LimitRejection, Permit, open_connection_caps};
use super::routes;
use super::security::{HostPolicy, system_hostname};
use super::settings::ServerSettings;

/// How long `ServerHandle::shutdown` waits for connections before giving up on them.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);
/// Largest request head accepted; bigger ones get 431.
const MAX_REQUEST_BUF: usize = 16 * 1024;
/// Connections dropped for the open-connection caps are logged at most this often (a flood
/// would otherwise write one line per attempt).
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Settings plus what is derived from them; replaced whole on reload.
#[derive(Debug)]
pub(crate) struct Policy {
    pub settings: Arc<ServerSettings>,
    pub hosts: HostPolicy,
}

pub(crate) struct Shared {
    pub hub: Hub,
    pub archive: Archive,
    pub limiter: ConnectionLimiter,
    pub shutdown: watch::Receiver<bool>,
    policy: RwLock<Arc<Policy>>,
    hostname: Option<String>,
    /// TCP connections not (yet) handed to the WebSocket code; see `open_connection_caps`.
    open: ConnectionLimiter,
    /// When a dropped connection was last logged, and how many were dropped since.
    drops: Mutex<(Option<Instant>, u64)>,
}

impl Shared {
    pub fn policy(&self) -> Arc<Policy> {
        // Only ever replaced whole; a poisoned lock still holds a valid Arc.
        self.policy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_policy(&self, settings: ServerSettings) {
        let hosts = HostPolicy::new(&settings, self.hostname.as_deref());
        let policy = Arc::new(Policy {
            settings: Arc::new(settings),
            hosts,
        });
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = policy;
    }
}

/// One accepted TCP connection, as seen by the request handlers.
pub(crate) struct ConnCtx {
    pub shared: Arc<Shared>,
    pub peer: SocketAddr,
    /// The address the client connected to (checked against `Host`).
    pub local: SocketAddr,
    /// Held by every task serving this connection, for shutdown tracking.
    pub done: mpsc::Sender<()>,
}

/// A running server. Dropping it without `shutdown` also stops it (abruptly).
pub struct ServerHandle {
    /// The bound addresses, in `listen` order (with real ports when 0 was asked for).
    pub local_addrs: Vec<SocketAddr>,
    shared: Arc<Shared>,
    shutdown_tx: watch::Sender<bool>,
    done_rx: mpsc::Receiver<()>,
    listeners: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addrs", &self.local_addrs)
            .finish()
    }
}

impl ServerHandle {
    /// Stops accepting, closes every WebSocket client with 1001 and finishes open HTTP
    /// requests; returns within about 2 s.
    pub async fn shutdown(mut self) {
        tracing::info!(
            clients = self.shared.hub.client_count(),
            "server shutting down"
        );
        let _ = self.shutdown_tx.send(true);
        for l in self.listeners.drain(..) {
            let _ = l.await;
        }
        // recv() yields None once every connection task has dropped its sender.
        if tokio::time::timeout(SHUTDOWN_WAIT, self.done_rx.recv())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close within 2 s; dropping them");
        }
    }

    /// Applies reloaded settings to new connections: token, origins, hostnames, limits,
    /// timers, queue size. Listen addresses cannot change on a running server: returns true
    /// when they differ, and the caller restarts the server to apply them.
    pub fn update_limits(&self, settings: &ServerSettings) -> bool {
        let old = self.shared.policy();
        let listen_changed = old.settings.listen != settings.listen;
        let mut next = settings.clone();
        next.listen.clone_from(&old.settings.listen);
        self.shared.set_policy(next);
        tracing::info!(listen_changed, "server settings reloaded");
        listen_changed
    }

    pub fn settings(&self) -> Arc<ServerSettings> {
        self.shared.policy().settings.clone()
    }
}

/// Binds every `listen` address, then serves until `ServerHandle::shutdown`.
pub async fn serve(
    settings: ServerSettings,
    hub: Hub,
    archive: Archive,
) -> Result<ServerHandle, ServerError> {
    if settings.listen.is_empty() {
        return Err(ServerError::NoListenAddress);
    }
    let mut bound = Vec::new();
    for &addr in &settings.listen {
        let listener = bind(addr).map_err(|source| ServerError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| ServerError::Bind { addr, source })?;
        bound.push((listener, local));
    }
    hub.start();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (done_tx, done_rx) = mpsc::channel(1);
    let hostname = system_hostname();
    let hosts = HostPolicy::new(&settings, hostname.as_deref());
    let shared = Arc::new(Shared {
        hub,
        archive,
        limiter: ConnectionLimiter::default(),
        shutdown: shutdown_rx,
        policy: RwLock::new(Arc::new(Policy {
            settings: Arc::new(settings),
            hosts,
        })),
        hostname,
        open: ConnectionLimiter::default(),
        drops: Mutex::new((None, 0)),
    });
    let local_addrs = bound.iter().map(|(_, a)| *a).collect();
    let listeners = bound
        .into_iter()
        .map(|(listener, local)| {
            tracing::info!(addr = %local, "listening");
            tokio::spawn(accept_loop(listener, shared.clone(), done_tx.clone()))
        })
        .collect();
    Ok(ServerHandle {
        local_addrs,
        shared,
        shutdown_tx,
        done_rx,
        listeners,
    })
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        let s = TcpSocket::new_v6()?;
        set_v6_only(&s)?;
        s
    };
    // Lets a restarted daemon bind while old connections sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// IPv6 sockets accept only IPv6, so `0.0.0.0:p` and `[::]:p` can both be listed.
fn set_v6_only(socket: &TcpSocket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: the fd is valid for the life of `socket`, and the option value points to a
    // c_int whose size is passed alongside.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

async fn shutdown_requested(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, done: mpsc::Sender<()>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown_requested(&mut shutdown) => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let settings = shared.policy().settings.clone();
        let (total, per_ip) =
            open_connection_caps(settings.max_clients, settings.max_clients_per_ip);
        let permit = match shared.open.try_acquire(peer.ip(), total, per_ip) {
            Ok(p) => p,
            Err(rejection) => {
                // Closing at once is the cheapest answer to a flood.
                shared.hub.metrics().rejected("connections");
                log_dropped(&shared, peer, &rejection);
                continue;
            }
        };
        let local = stream.local_addr().unwrap_or(peer);
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            stream,
            peer,
            local,
            shared.clone(),
            done.clone(),
            permit,
        ));
    }
}

fn log_dropped(shared: &Shared, peer: SocketAddr, rejection: &LimitRejection) {
    let mut drops = shared.drops.lock().unwrap_or_else(|p| p.into_inner());
    drops.1 += 1;
    let now = Instant::now();
    if drops
        .0
        .is_none_or(|last| now.duration_since(last) >= DROP_LOG_INTERVAL)
    {
        let (what, max) = match rejection {
            LimitRejection::Total { max } => ("open connections in total", max),
            LimitRejection::PerIp { max, .. } => ("open connections from this address", max),
        };
        tracing::warn!(
            peer = %peer, dropped = drops.1,
            "too many {what} (at most {max}, from server.max_clients and \
             server.max_clients_per_ip); closed new connections without an answer"
        );
        *drops = (Some(now), 0);
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    shared: Arc<Shared>,
    done: mpsc::Sender<()>,
    // Held until the connection ends or becomes a WebSocket (which holds its own).
    _open: Permit,
) {
    let settings = shared.policy().settings.clone();
    let mut shutdown = shared.shutdown.clone();
    let ctx = Arc::new(ConnCtx {
        shared,
        peer,
        local,
        done,
    });
    let service = service_fn(move |req| {
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(routes::handle(req, &ctx).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.handshake_timeout)
        .max_buf_size(MAX_REQUEST_BUF)
        .max_headers(64);
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(peer = %peer, error = %e, "http connection ended with an error");
            }
        }
        _ = shutdown_requested(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(settings.close_grace, conn).await;
        }
    }
}
