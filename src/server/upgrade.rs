//! The WebSocket opening handshake (RFC 6455 §4.2) on top of hyper: checks the request's
//! upgrade headers and builds the `101 Switching Protocols` answer. Pure.

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, StatusCode};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Why a request to the WebSocket endpoint cannot be upgraded: status, code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeRejection {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}

/// True when the request asks to switch protocols at all (any path).
pub fn is_upgrade_request(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
}

/// Validates the handshake; returns the `Sec-WebSocket-Accept` value.
pub fn check_handshake(method: &Method, headers: &HeaderMap) -> Result<String, HandshakeRejection> {
    if method != Method::GET {
        return Err(HandshakeRejection {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "method_not_allowed",
            message: format!("the WebSocket endpoint needs GET, not {method}"),
        });
    }
    let upgrade_ok = header_has_token(headers, header::UPGRADE, "websocket");
    let connection_ok = header_has_token(headers, header::CONNECTION, "upgrade");
    if !upgrade_ok || !connection_ok {
        return Err(HandshakeRejection {
            status: StatusCode::UPGRADE_REQUIRED,
            code: "upgrade_required",
            message: "this endpoint speaks WebSocket only: send Connection: Upgrade and \
                      Upgrade: websocket"
                .to_string(),
        });
    }
    let version = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok());
    if version.map(str::trim) != Some("13") {
        return Err(HandshakeRejection {
            status: StatusCode::UPGRADE_REQUIRED,
            code: "unsupported_websocket_version",
            message: format!(
                "Sec-WebSocket-Version must be 13, got {}",
                version.unwrap_or("nothing")
            ),
        });
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .map(HeaderValue::as_bytes)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| HandshakeRejection {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: "the WebSocket handshake has no Sec-WebSocket-Key header".to_string(),
        })?;
    Ok(derive_accept_key(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn accepts_rfc_example() {
        let h = headers(&[
            ("upgrade", "WebSocket"),
            ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        assert!(is_upgrade_request(&h));
        assert_eq!(
            check_handshake(&Method::GET, &h).unwrap(),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn rejects_incomplete_handshakes() {
        let plain = headers(&[]);
        assert!(!is_upgrade_request(&plain));
        let e = check_handshake(&Method::GET, &plain).unwrap_err();
        assert_eq!(e.status, StatusCode::UPGRADE_REQUIRED);
        let e = check_handshake(&Method::POST, &plain).unwrap_err();
        assert_eq!(e.message, "the WebSocket endpoint needs GET, not POST");
        let v8 = headers(&[
            ("upgrade", "websocket"),
            ("connection", "upgrade"),
            ("sec-websocket-version", "8"),
            ("sec-websocket-key", "x"),
        ]);
        let e = check_handshake(&Method::GET, &v8).unwrap_err();
        assert_eq!(e.message, "Sec-WebSocket-Version must be 13, got 8");
        let nokey = headers(&[
            ("upgrade", "websocket"),
            ("connection", "upgrade"),
            ("sec-websocket-version", "13"),
        ]);
        let e = check_handshake(&Method::GET, &nokey).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }
}
