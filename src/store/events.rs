//! Event rows and the event log: writing one message (upsert + log row in the caller's
//! transaction), closing events left open by a crash, and mapping rows back to `EventData`.
//!
//! Called only from the store writer; every function takes the transaction it must run in so
//! the caller decides what commits together.

use std::path::Path;

use rusqlite::{Row, Transaction, params};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::StoreError;
use crate::server::protocol::{EventData, LoggedEvent, Phase, ServerMessage};

/// Column list matching [`from_row`].
pub(crate) const COLUMNS: &str = "id, camera_id, event_type, start_ts, confidence, last_seq, \
     phase, camera_name, end_ts, box, snapshot_url, end_reason";

/// The n of "evt-n" (canonical form only: "evt-05" would alias "evt-5").
pub fn parse_event_num(id: &str) -> Option<i64> {
    let digits = id.strip_prefix("evt-")?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok()
}

/// Formats `t` as RFC 3339 in UTC, the protocol's timestamp format.
pub fn rfc3339_utc(t: OffsetDateTime) -> Result<String, StoreError> {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .map_err(|e| StoreError::InvalidEvent {
            id: String::new(),
            field: "timestamp",
            reason: e.to_string(),
        })
}

/// The log entry (the exact text clients get) of `event` as message number `seq`, after
/// checking that the store can keep it. Pure: the writer uses it to publish a message it
/// could not commit yet, and the commit later stores the same text.
pub fn log_entry(event: &EventData, seq: i64) -> Result<LoggedEvent, StoreError> {
    event_num(event)?;
    validate(event)?;
    let mut data = event.clone();
    data.seq = seq;
    Ok(LoggedEvent {
        seq,
        camera_id: event.camera_id.clone(),
        json: ServerMessage::Event(data).to_json().into(),
    })
}

fn event_num(event: &EventData) -> Result<i64, StoreError> {
    parse_event_num(&event.id).ok_or_else(|| StoreError::InvalidId {
        id: event.id.clone(),
        reason: "expected \"evt-<n>\" with n a positive number without leading zeros",
    })
}

/// The highest seq ever logged (0 for none): AUTOINCREMENT's own counter, which deleted rows
/// do not lower.
pub(crate) fn last_seq_in(conn: &rusqlite::Connection, db: &Path) -> Result<i64, StoreError> {
    conn.query_row(
        "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'event_log'), 0)",
        [],
        |r| r.get(0),
    )
    .map_err(|e| StoreError::db(db, "reading the last seq", e))
}

/// Upserts the event row, logs the message and returns it as broadcast. The seq is the next
/// one, or `at` when given (a message already published with that seq while the database
/// could not commit); `at` must be above every seq used so far.
pub(crate) fn append_in(
    tx: &Transaction<'_>,
    db: &Path,
    event: &EventData,
    at: Option<i64>,
) -> Result<LoggedEvent, StoreError> {
    let num = event_num(event)?;
    let start_unix = validate(event)?;
    let err = |e| StoreError::db(db, "saving an event", e);

    let next = last_seq_in(tx, db)? + 1;
    let seq = match at {
        None => next,
        Some(at) if at >= next => at,
        Some(at) => {
            return Err(StoreError::InvalidEvent {
                id: event.id.clone(),
                field: "seq",
                reason: format!("{at} is already used (the next free seq is {next})"),
            });
        }
    };
    let logged = log_entry(event, seq)?;
    let data = event;
    let bbox = data
        .bbox
        .map(|b| format!("[{},{},{},{}]", b[0], b[1], b[2], b[3]));
    tx.prepare_cached(
        "INSERT INTO events (num, id, camera_id, camera_name, event_type, start_ts, start_unix,
                             end_ts, confidence, box, snapshot_url, phase, end_reason, last_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (num) DO UPDATE SET
           camera_id = excluded.camera_id, camera_name = excluded.camera_name,
           event_type = excluded.event_type, start_ts = excluded.start_ts,
           start_unix = excluded.start_unix, end_ts = excluded.end_ts,
           confidence = excluded.confidence, box = excluded.box,
           snapshot_url = excluded.snapshot_url, phase = excluded.phase,
           end_reason = excluded.end_reason, last_seq = excluded.last_seq",
    )
    .and_then(|mut st| {
        st.execute(params![
            num,
            data.id,
            data.camera_id,
            data.camera_name,
            data.event_type,
            data.timestamp,
            start_unix,
            data.end_timestamp,
            data.confidence,
            bbox,
            data.snapshot_url,
            data.phase.as_str(),
            data.end_reason,
            seq,
        ])
    })
    .map_err(err)?;

    tx.prepare_cached(
        "INSERT INTO event_log (seq, event_num, camera_id, payload) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut st| st.execute(params![seq, num, event.camera_id, &*logged.json]))
    .map_err(err)?;
    tx.prepare_cached("UPDATE meta SET last_event_num = max(last_event_num, ?1) WHERE id = 1")
        .and_then(|mut st| st.execute([num]))
        .map_err(err)?;
    Ok(logged)
}

/// Checks what SQLite or JSON could not keep faithfully; returns the start time in Unix seconds.
fn validate(event: &EventData) -> Result<i64, StoreError> {
    let bad = |field, reason: String| StoreError::InvalidEvent {
        id: event.id.clone(),
        field,
        reason,
    };
    let start = OffsetDateTime::parse(&event.timestamp, &Rfc3339).map_err(|e| {
        bad(
            "timestamp",
            format!("{:?} is not RFC 3339: {e}", event.timestamp),
        )
    })?;
    // NaN would become NULL in SQLite and null in JSON.
    if !event.confidence.is_finite() {
        return Err(bad(
            "confidence",
            format!("{} is not a number", event.confidence),
        ));
    }
    if let Some(b) = event.bbox
        && b.iter().any(|v| !v.is_finite())
    {
        return Err(bad("box", format!("{b:?} has a non-finite coordinate")));
    }
    Ok(start.unix_timestamp())
}

/// Ends every event whose latest phase is not `end` (the daemon died while it was open).
pub(crate) fn close_open_in(
    tx: &Transaction<'_>,
    db: &Path,
    now: OffsetDateTime,
) -> Result<Vec<LoggedEvent>, StoreError> {
    let end = rfc3339_utc(now)?;
    let open: Vec<EventData> = tx
        .prepare(&format!(
            "SELECT {COLUMNS} FROM events WHERE phase <> 'end' ORDER BY num"
        ))
        .and_then(|mut st| st.query_map([], from_row)?.collect())
        .map_err(|e| StoreError::db(db, "finding open events", e))?;
    let mut logged = Vec::with_capacity(open.len());
    for mut event in open {
        event.phase = Phase::End;
        event.end_timestamp = Some(end.clone());
        event.end_reason = Some("restart".to_owned());
        logged.push(append_in(tx, db, &event, None)?);
    }
    Ok(logged)
}

/// Maps a row selected with [`COLUMNS`] to the event's latest message data.
pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<EventData> {
    let phase: String = row.get(6)?;
    let phase = match phase.as_str() {
        "start" => Phase::Start,
        "update" => Phase::Update,
        "end" => Phase::End,
        _ => return Err(conversion_error(6, format!("unknown phase {phase:?}"))),
    };
    let bbox: Option<String> = row.get(9)?;
    let bbox = match bbox {
        None => None,
        Some(text) => Some(
            serde_json::from_str::<[f64; 4]>(&text)
                .map_err(|e| conversion_error(9, format!("box {text:?}: {e}")))?,
        ),
    };
    Ok(EventData {
        id: row.get(0)?,
        camera_id: row.get(1)?,
        event_type: row.get(2)?,
        timestamp: row.get(3)?,
        confidence: row.get(4)?,
        seq: row.get(5)?,
        phase,
        camera_name: row.get(7)?,
        end_timestamp: row.get(8)?,
        bbox,
        snapshot_url: row.get(10)?,
        end_reason: row.get(11)?,
    })
}

fn conversion_error(col: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, msg.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_numbers_are_canonical() {
        assert_eq!(parse_event_num("evt-1"), Some(1));
        assert_eq!(
            parse_event_num("evt-9007199254740993"),
            Some(9007199254740993)
        );
        for bad in [
            "evt-", "evt-0", "evt-05", "evt--1", "evt-+1", "evt-1a", "EVT-1", "1", "",
        ] {
            assert_eq!(parse_event_num(bad), None, "{bad}");
        }
        assert_eq!(parse_event_num("evt-99999999999999999999"), None);
    }

    #[test]
    fn rfc3339_is_utc() {
        let t = time::macros::datetime!(2024-01-02 05:04:05 +02:00);
        assert_eq!(rfc3339_utc(t).unwrap(), "2024-01-02T03:04:05Z");
    }
}
