//! Query-string parsing for the WebSocket and REST endpoints. Pure; errors are the text sent
//! back in `{"error":{"code":"bad_request","message":...}}`.

use std::borrow::Cow;

use crate::store::EventFilter;

/// Percent-decodes one query component (`+` is a space). Invalid escapes are kept literally;
/// invalid UTF-8 is replaced, so decoding never fails.
pub fn decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The decoded value of the first `key=` parameter.
pub fn get<'a>(query: &'a str, key: &str) -> Option<Cow<'a, str>> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k) == key).then(|| decode(v))
    })
}

/// `since`, `epoch` and `cameras` of `GET /api/ws/events`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WsParams {
    pub since: Option<i64>,
    pub epoch: Option<String>,
    /// Empty: every camera.
    pub cameras: Vec<String>,
}

/// Splits `a,b` into camera ids, ignoring empty entries.
pub fn camera_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

pub fn ws_params(query: &str) -> Result<WsParams, String> {
    let since = match get(query, "since") {
        None => None,
        Some(v) if v.is_empty() => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            format!("since must be a non-negative integer (an event seq), not {v:?}")
        })?),
    };
    let epoch = get(query, "epoch")
        .filter(|e| !e.is_empty())
        .map(|e| e.into_owned());
    let cameras = get(query, "cameras")
        .map(|c| camera_list(&c))
        .unwrap_or_default();
    Ok(WsParams {
        since,
        epoch,
        cameras,
    })
}

pub const DEFAULT_EVENT_LIMIT: usize = 50;
pub const MAX_EVENT_LIMIT: usize = 500;

/// The filter of `GET /api/events`: limit defaults to 50 and is capped at 500.
pub fn event_filter(query: &str) -> Result<EventFilter, String> {
    let text = |k: &str| get(query, k).filter(|v| !v.is_empty()).map(Cow::into_owned);
    let limit = match text("limit") {
        None => DEFAULT_EVENT_LIMIT,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .map(|n| n.min(MAX_EVENT_LIMIT))
            .ok_or_else(|| format!("limit must be an integer from 1 to 500, not {v:?}"))?,
    };
    let before_seq = match text("before_seq") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| format!("before_seq must be an integer (an event seq), not {v:?}"))?,
        ),
    };
    Ok(EventFilter {
        camera_id: text("camera_id"),
        event_type: text("event_type"),
        before_seq,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(decode("a%20b+c"), "a b c");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert_eq!(decode("%C3%BC"), "ü");
        assert_eq!(get("x=1&token=a%2Fb", "token").as_deref(), Some("a/b"));
        assert_eq!(get("x=1&flag", "flag").as_deref(), Some(""));
        assert_eq!(get("x=1", "y"), None);
    }

    #[test]
    fn ws_query() {
        assert_eq!(
            ws_params("since=41&cameras=cam-1,%20cam-2,&epoch=ab").unwrap(),
            WsParams {
                since: Some(41),
                epoch: Some("ab".into()),
                cameras: vec!["cam-1".into(), "cam-2".into()],
            }
        );
        assert_eq!(ws_params("").unwrap(), WsParams::default());
        assert_eq!(
            ws_params("since=x").unwrap_err(),
            "since must be a non-negative integer (an event seq), not \"x\""
        );
        assert!(ws_params("since=-1").is_err());
    }

    #[test]
    fn events_query() {
        let f = event_filter("").unwrap();
        assert_eq!((f.limit, f.before_seq, f.camera_id), (50, None, None));
        let f = event_filter("limit=9999&camera_id=cam-1&event_type=person&before_seq=7").unwrap();
        assert_eq!(f.limit, 500);
        assert_eq!(f.camera_id.as_deref(), Some("cam-1"));
        assert_eq!(f.event_type.as_deref(), Some("person"));
        assert_eq!(f.before_seq, Some(7));
        assert_eq!(
            event_filter("limit=0").unwrap_err(),
            "limit must be an integer from 1 to 500, not \"0\""
        );
        assert_eq!(
            event_filter("before_seq=abc").unwrap_err(),
            "before_seq must be an integer (an event seq), not \"abc\""
        );
    }
}
