//! Protocol v1 message types (docs/protocol.md). Pure: serde types and client-message parsing.

use serde::{Deserialize, Serialize};

/// Seed key `cameras`: counts by state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CameraCounts {
    pub online: u32,
    pub retrying: u32,
    pub down: u32,
}

/// Seed key `ai` plus extras.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AiStatus {
    pub enabled: bool,
    /// Why AI is off (`no_model`, `model_load_failed`, `npu_unavailable`, `disabled`), or null.
    pub reason: Option<String>,
    /// With AI off because of a problem: the full message, naming the setting to change.
    #[serde(default)]
    pub error: Option<String>,
    pub backend: Option<String>,
    pub model: Option<String>,
    pub inference_ms: Option<f64>,
    /// Set when `detector.backend = "auto"` runs on the CPU because the NPU model could not
    /// be used: why not. Null otherwise.
    #[serde(default)]
    pub fallback: Option<AiFallback>,
}

/// `ai.fallback`: why `auto` fell back from the NPU to the CPU.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AiFallback {
    /// The NPU's reason code: `npu_unavailable`, `model_load_failed` or `no_model`.
    pub reason: String,
    /// The NPU error's message, e.g. "NPU unavailable: ...".
    pub message: String,
}

/// `config`: the state of the configuration file as the daemon last read it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigStatus {
    /// Why the last reload (SIGHUP) was refused, the same message `check-config` prints;
    /// the daemon keeps running the previous configuration. Null after a good reload.
    pub reload_error: Option<String>,
    /// When that reload was refused, RFC 3339 UTC; null with `reload_error`.
    pub reload_error_at: Option<String>,
}

/// One camera in `camera_list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CameraStatus {
    pub id: String,
    pub name: String,
    /// starting | online | retrying | down | disabled
    pub state: String,
    pub fps: f64,
    pub last_error: Option<String>,
    /// Frames dropped because the worker was busy (latest-frame slot replaced).
    #[serde(default)]
    pub frames_skipped: u64,
    /// Frames that failed to decode (e.g. corrupt MJPEG).
    #[serde(default)]
    pub frames_corrupt: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StorageStatus {
    /// ok | error: whether the database commits (docs/reliability.md).
    pub state: String,
    pub error: Option<String>,
    pub free_mb: Option<u64>,
    /// Event messages sent to clients that the database has not committed yet (it is
    /// failing); they are committed with the same seq once it works again.
    #[serde(default)]
    pub pending: u64,
    /// Messages dropped from a full pending queue: sent to clients, never stored.
    #[serde(default)]
    pub dropped: u64,
    /// ok | low_space (skipped to keep room for the database) | error
    #[serde(default)]
    pub snapshots: String,
    #[serde(default)]
    pub snapshot_error: Option<String>,
    /// What happened at start that the operator should know (a corrupt database moved aside).
    #[serde(default)]
    pub notice: Option<String>,
}

/// `{"type":"status","data": StatusData}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusData {
    pub cameras: CameraCounts,
    pub ai: AiStatus,
    pub camera_list: Vec<CameraStatus>,
    pub storage: StorageStatus,
    pub clients: u32,
    pub version: String,
    pub uptime_s: u64,
    /// Id of the event database (changes when it is recreated). Clients pass it back as
    /// `epoch=` when resuming so a `since` from another database is answered with `reset`.
    #[serde(default)]
    pub epoch: String,
    /// Configuration state: a refused reload stays visible here until a good one.
    #[serde(default)]
    pub config: ConfigStatus,
}

/// Lifecycle phase of an event message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Start,
    Update,
    End,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Start => "start",
            Phase::Update => "update",
            Phase::End => "end",
        }
    }
}

/// `{"type":"event","data": EventData}`. `seq` is assigned by the store's event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    /// "evt-42"
    pub id: String,
    pub camera_id: String,
    /// "person", "motion", ...
    pub event_type: String,
    /// Start time, RFC 3339 UTC.
    pub timestamp: String,
    pub confidence: f64,
    pub seq: i64,
    pub phase: Phase,
    pub camera_name: String,
    pub end_timestamp: Option<String>,
    /// Normalized [x1, y1, x2, y2] in 0..1 of the best frame.
    #[serde(rename = "box")]
    pub bbox: Option<[f64; 4]>,
    pub snapshot_url: Option<String>,
    /// Why an event ended when not by the normal timeout (e.g. "restart", "camera_removed").
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub end_reason: Option<String>,
}

/// Server -> client messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "lowercase")]
// Built once per message and serialized at once (never stored in bulk), so the size of the
// largest variant costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
pub enum ServerMessage {
    Status(StatusData),
    Event(EventData),
    Reset { reason: String },
    Error { code: String, message: String },
}

impl ServerMessage {
    /// Serializes once; the text is shared by every client.
    pub fn to_json(&self) -> String {
        // Serializing these plain types cannot fail (no maps with non-string keys).
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(r#"{{"type":"error","data":{{"code":"internal","message":"{e}"}}}}"#)
        })
    }
}

/// Client -> server messages (besides the text `ping`).
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    Ping,
    Subscribe { cameras: Vec<String> },
    Resume { since: i64 },
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum ClientJson {
    Subscribe { cameras: Vec<String> },
    Resume { since: i64 },
}

/// Parses one client text frame; the error text goes back in `{"type":"error"}`.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, String> {
    let trimmed = text.trim();
    if trimmed == "ping" {
        return Ok(ClientMessage::Ping);
    }
    match serde_json::from_str::<ClientJson>(trimmed) {
        Ok(ClientJson::Subscribe { cameras }) => Ok(ClientMessage::Subscribe { cameras }),
        Ok(ClientJson::Resume { since }) => Ok(ClientMessage::Resume { since }),
        Err(e) => Err(format!(
            "expected \"ping\", {{\"type\":\"subscribe\",\"cameras\":[...]}} or {{\"type\":\"resume\",\"since\":N}}: {}",
            shorten(&e.to_string(), MAX_ERROR_DETAIL)
        )),
    }
}

/// Longest parser detail echoed back in a `bad_message` error. serde quotes the offending
/// input (an unknown `type` of 4 KiB, say); each error is queued for its client alone, so
/// echoing it whole would let a client that never reads park `client_queue` times the
/// message limit in the server's memory.
pub const MAX_ERROR_DETAIL: usize = 160;

/// `s` cut to at most `max` bytes at a character boundary, with `...` when cut.
fn shorten(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}...", &s[..end]))
}

/// An event message as committed to the event log: the hub fans this out unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    pub seq: i64,
    pub camera_id: String,
    /// The full `{"type":"event","data":{...}}` text, serialized once.
    pub json: std::sync::Arc<str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages() {
        assert_eq!(parse_client_message(" ping\n"), Ok(ClientMessage::Ping));
        assert_eq!(
            parse_client_message(r#"{"type":"resume","since":41}"#),
            Ok(ClientMessage::Resume { since: 41 })
        );
        assert_eq!(
            parse_client_message(r#"{"type":"subscribe","cameras":["a"]}"#),
            Ok(ClientMessage::Subscribe {
                cameras: vec!["a".to_string()]
            })
        );
    }

    #[test]
    fn error_detail_does_not_echo_a_long_input() {
        let long = format!(r#"{{"type":"{}"}}"#, "ü".repeat(2000));
        let err = parse_client_message(&long).unwrap_err();
        assert!(
            err.starts_with(
                "expected \"ping\", {\"type\":\"subscribe\",\"cameras\":[...]} or \
                 {\"type\":\"resume\",\"since\":N}: unknown variant `üü"
            ),
            "{err}"
        );
        assert!(err.ends_with("..."), "{err}");
        assert!(err.len() < 120 + MAX_ERROR_DETAIL, "{} bytes", err.len());
        // Short details are kept whole.
        let err = parse_client_message("{not json").unwrap_err();
        assert!(
            err.ends_with("key must be a string at line 1 column 2"),
            "{err}"
        );
    }
}
