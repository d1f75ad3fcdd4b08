//! Request routing: security checks, REST endpoints, the dashboard and the WebSocket upgrade.
//! Every error is JSON: `{"error":{"code":"...","message":"..."}}` with a matching status.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;

use super::http::ConnCtx;
use super::protocol::{CameraStatus, EventData};
use super::security::{
    HostPolicy, check_host, check_origin, presented_token, redact, token_matches,
};
use super::settings::ServerSettings;
use super::upgrade::{check_handshake, is_upgrade_request};
use super::ws::{WsSetup, ws_config};
use super::{assets, query};

pub(crate) type Body = Full<Bytes>;

/// The WebSocket endpoint.
pub const WS_PATH: &str = "/api/ws/events";

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

pub(crate) fn json_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = serde_json::to_vec(&ErrorBody {
        error: ErrorDetail { code, message },
    })
    .unwrap_or_default();
    respond(status, "application/json", Bytes::from(body))
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Keeps a token in the page URL from leaking to other sites.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

fn json<T: Serialize>(value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(v) => respond(StatusCode::OK, "application/json", Bytes::from(v)),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &format!("cannot serialize the answer: {e}"),
        ),
    }
}

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Why the security checks refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    /// Label of `gozcu_http_rejections_total`; `None` for a plain client error (not counted).
    pub metric: Option<&'static str>,
    pub message: String,
}

/// The checks every request passes before routing, in order: `Host` (DNS rebinding),
/// `Origin` (cross-site use), an upgrade only at the WebSocket path, the token on `/api/*`
/// and `/metrics`. Pure, so the fuzz targets run exactly what the server runs.
pub fn check_request(
    path: &str,
    query: &str,
    headers: &HeaderMap,
    local: SocketAddr,
    hosts: &HostPolicy,
    settings: &ServerSettings,
) -> Result<(), Refusal> {
    let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let host = header(header::HOST);
    if let Err(message) = check_host(host, local, hosts) {
        return Err(Refusal {
            status: StatusCode::MISDIRECTED_REQUEST,
            code: "misdirected_request",
            metric: Some("host"),
            message,
        });
    }
    if let Err(message) = check_origin(header(header::ORIGIN), host, &settings.allowed_origins) {
        return Err(Refusal {
            status: StatusCode::FORBIDDEN,
            code: "forbidden_origin",
            metric: Some("origin"),
            message,
        });
    }
    if is_upgrade_request(headers) && path != WS_PATH {
        return Err(Refusal {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            metric: None,
            message: format!("no WebSocket endpoint at {path}; use {WS_PATH}"),
        });
    }
    let protected = path == "/metrics" || path.starts_with("/api/");
    if protected {
        let presented = presented_token(Some(query), header(header::AUTHORIZATION));
        if !token_matches(&settings.token, presented.as_deref()) {
            let message = if presented.is_some() {
                "the token is wrong"
            } else {
                "this server needs a token: send Authorization: Bearer <token> or ?token=<token>"
            };
            return Err(Refusal {
                status: StatusCode::UNAUTHORIZED,
                code: "unauthorized",
                metric: Some("token"),
                message: message.to_string(),
            });
        }
    }
    Ok(())
}

/// Handles one request; never fails (errors become JSON responses).
pub(crate) async fn handle(mut req: Request<Incoming>, ctx: &Arc<ConnCtx>) -> Response<Body> {
    let shared = &ctx.shared;
    let policy = shared.policy();
    let settings = &policy.settings;
    let path = req.uri().path().to_string();
    let query_str = req.uri().query().unwrap_or("").to_string();
    let log_path = redact(req.uri().path_and_query().map_or("/", |p| p.as_str())).into_owned();
    let origin = header_str(&req, header::ORIGIN).map(str::to_string);
    let origin_log = origin.as_deref().unwrap_or("-");
    tracing::debug!(peer = %ctx.peer, method = %req.method(), path = %log_path, "http request");

    if let Err(refusal) = check_request(
        &path,
        &query_str,
        req.headers(),
        ctx.local,
        &policy.hosts,
        settings,
    ) {
        let mut r = json_error(refusal.status, refusal.code, &refusal.message);
        if let Some(reason) = refusal.metric {
            shared.hub.metrics().rejected(reason);
            tracing::warn!(
                peer = %ctx.peer, origin = %origin_log, path = %log_path,
                status = refusal.status.as_u16(), "request rejected: {}", refusal.message
            );
        }
        if refusal.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        return r;
    }
    if path == WS_PATH {
        return upgrade_ws(&mut req, ctx, &query_str, origin, &log_path);
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!("{} is not supported here; use GET", req.method()),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    route_get(ctx, &path, &query_str, origin.as_deref()).await
}

/// `origin` has passed the Origin check already; JavaScript modules are then shared with it
/// (Access-Control-Allow-Origin) so dashboards on an allowed LAN origin can `import`
/// /client.js and /react.js straight from the device.
async fn route_get(
    ctx: &Arc<ConnCtx>,
    path: &str,
    query_str: &str,
    origin: Option<&str>,
) -> Response<Body> {
    let shared = &ctx.shared;
    match path {
        "/api/health" => json(&shared.hub.status()),
        "/api/cameras" => {
            #[derive(Serialize)]
            struct Cameras {
                cameras: Vec<CameraStatus>,
            }
            json(&Cameras {
                cameras: shared.hub.status().camera_list,
            })
        }
        "/api/events" => list_events(ctx, query_str).await,
        "/metrics" => respond(
            StatusCode::OK,
            super::metrics::CONTENT_TYPE,
            Bytes::from(shared.hub.metrics().render()),
        ),
        _ => {
            if let Some(rest) = path.strip_prefix("/api/events/") {
                return event_routes(ctx, rest).await;
            }
            if !path.starts_with("/api/")
                && let Some(asset) = assets::lookup(path)
            {
                let mut r = respond(
                    StatusCode::OK,
                    asset.content_type,
                    Bytes::from_static(asset.body),
                );
                r.headers_mut()
                    .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
                if asset.content_type.starts_with("text/javascript")
                    && let Some(o) = origin.and_then(|o| HeaderValue::from_str(o).ok())
                {
                    r.headers_mut()
                        .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
                    r.headers_mut()
                        .insert(header::VARY, HeaderValue::from_static("Origin"));
                }
                return r;
            }
            json_error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("nothing at {path}"),
            )
        }
    }
}

fn storage_error(e: impl std::fmt::Display) -> Response<Body> {
    tracing::warn!(error = %e, "event database read failed");
    json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_error",
        &format!("cannot read the event database: {e}"),
    )
}

async fn list_events(ctx: &Arc<ConnCtx>, query_str: &str) -> Response<Body> {
    let filter = match query::event_filter(query_str) {
        Ok(f) => f,
        Err(msg) => return json_error(StatusCode::BAD_REQUEST, "bad_request", &msg),
    };
    let limit = filter.limit;
    match ctx.shared.archive.list_events(filter).await {
        Ok(events) => {
            #[derive(Serialize)]
            struct Page {
                /// Pass as `before_seq` for the next (older) page; null on the last page.
                next_before_seq: Option<i64>,
                events: Vec<EventData>,
            }
            let next_before_seq = if events.len() == limit {
                events.last().map(|e| e.seq)
            } else {
                None
            };
            json(&Page {
                next_before_seq,
                events,
            })
        }
        Err(e) => storage_error(e),
    }
}

/// `/api/events/{id}` and `/api/events/{id}/snapshot.jpg`.
async fn event_routes(ctx: &Arc<ConnCtx>, rest: &str) -> Response<Body> {
    let archive = &ctx.shared.archive;
    if let Some(id) = rest.strip_suffix("/snapshot.jpg") {
        return match archive.snapshot(id).await {
            Ok(Some(jpeg)) => respond(StatusCode::OK, "image/jpeg", Bytes::from(jpeg)),
            Ok(None) => json_error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no snapshot for event {id}"),
            ),
            Err(e) => storage_error(e),
        };
    }
    if rest.is_empty() || rest.contains('/') {
        return json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("nothing at /api/events/{rest}"),
        );
    }
    match archive.get_event(rest.to_string()).await {
        Ok(Some(ev)) => json(&ev),
        Ok(None) => json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no event with id {rest}"),
        ),
        Err(e) => storage_error(e),
    }
}

/// Answers `101` and hands the upgraded connection to a new task.
fn upgrade_ws(
    req: &mut Request<Incoming>,
    ctx: &Arc<ConnCtx>,
    query_str: &str,
    origin: Option<String>,
    log_path: &str,
) -> Response<Body> {
    let shared = &ctx.shared;
    let policy = shared.policy();
    let settings = policy.settings.clone();
    let accept = match check_handshake(req.method(), req.headers()) {
        Ok(a) => a,
        Err(rej) => {
            let mut r = json_error(rej.status, rej.code, &rej.message);
            if rej.status == StatusCode::UPGRADE_REQUIRED {
                r.headers_mut().insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                );
                r.headers_mut()
                    .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            }
            return r;
        }
    };
    let params = match query::ws_params(query_str) {
        Ok(p) => p,
        Err(msg) => return json_error(StatusCode::BAD_REQUEST, "bad_request", &msg),
    };
    let permit = match shared.limiter.try_acquire(
        ctx.peer.ip(),
        settings.max_clients,
        settings.max_clients_per_ip,
    ) {
        Ok(p) => p,
        Err(rej) => {
            shared.hub.metrics().rejected("limit");
            let msg = rej.message();
            tracing::warn!(
                peer = %ctx.peer, origin = %origin.as_deref().unwrap_or("-"), path = %log_path,
                status = 503, "websocket client rejected: {msg}"
            );
            let mut r = json_error(StatusCode::SERVICE_UNAVAILABLE, "too_many_clients", &msg);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return r;
        }
    };
    let on_upgrade = hyper::upgrade::on(req);
    let setup = WsSetup {
        hub: shared.hub.clone(),
        archive: shared.archive.clone(),
        settings: settings.clone(),
        params,
        peer: ctx.peer,
        origin,
        permit,
        shutdown: shared.shutdown.clone(),
    };
    let done = ctx.done.clone();
    let config = ws_config(&settings);
    tokio::spawn(async move {
        let _done = done;
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    tokio_tungstenite::tungstenite::protocol::Role::Server,
                    Some(config),
                )
                .await;
                super::ws::run(ws, setup).await;
            }
            Err(e) => {
                tracing::debug!(peer = %setup.peer, error = %e, "websocket upgrade did not complete");
            }
        }
    });
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}
