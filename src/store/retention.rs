//! Retention: which events (with their log rows and snapshots) are deleted, by age and count.
//!
//! `plan` is the pure policy: from the configured limits and the current time it decides the
//! cut-off instant and how many of the newest events survive. `delete_in` applies a plan in
//! the writer's transaction; the caller removes the snapshot files after the commit.

use std::path::Path;

use rusqlite::Transaction;
use time::OffsetDateTime;

use super::StoreError;
use crate::config::StorageConfig;

const SECONDS_PER_DAY: i64 = 86_400;

/// Configured limits. 0 means "no limit" for either (keeping zero days or zero events would
/// make the store useless, so 0 cannot mean that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub retain_days: u32,
    pub max_events: u64,
}

impl From<&StorageConfig> for RetentionPolicy {
    fn from(c: &StorageConfig) -> Self {
        Self {
            retain_days: c.retain_days,
            max_events: c.max_events,
        }
    }
}

/// What to delete: events that started before `started_before` (Unix seconds), then all but
/// the `keep_newest` newest of the rest (newest = highest event number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPlan {
    pub started_before: Option<i64>,
    pub keep_newest: Option<u64>,
}

/// The pure policy.
pub fn plan(policy: &RetentionPolicy, now: OffsetDateTime) -> RetentionPlan {
    let started_before = (policy.retain_days > 0).then(|| {
        now.unix_timestamp()
            .saturating_sub(i64::from(policy.retain_days) * SECONDS_PER_DAY)
    });
    let keep_newest = (policy.max_events > 0).then_some(policy.max_events);
    RetentionPlan {
        started_before,
        keep_newest,
    }
}

/// What a retention pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Events older than `retain_days`.
    pub deleted_by_age: u64,
    /// Events beyond `max_events`, oldest first.
    pub deleted_by_count: u64,
    /// Snapshot files removed with their events.
    pub snapshots_removed: u64,
    /// Snapshot files that could not be removed (logged; the quota reclaims them later).
    pub snapshot_errors: u64,
    /// Ids of the deleted events, oldest first.
    pub deleted_ids: Vec<String>,
}

/// Deletes what `plan` selects; log rows follow by ON DELETE CASCADE.
pub(crate) fn delete_in(
    tx: &Transaction<'_>,
    db: &Path,
    plan: &RetentionPlan,
) -> Result<RetentionReport, StoreError> {
    let mut report = RetentionReport::default();
    if let Some(cutoff) = plan.started_before {
        let ids = delete_where(tx, db, "start_unix < ?1", cutoff)?;
        report.deleted_by_age = ids.len() as u64;
        report.deleted_ids.extend(ids);
    }
    if let Some(keep) = plan.keep_newest {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let ids = delete_where(
            tx,
            db,
            "num IN (SELECT num FROM events ORDER BY num DESC LIMIT -1 OFFSET ?1)",
            keep,
        )?;
        report.deleted_by_count = ids.len() as u64;
        report.deleted_ids.extend(ids);
    }
    Ok(report)
}

fn delete_where(
    tx: &Transaction<'_>,
    db: &Path,
    condition: &str,
    arg: i64,
) -> Result<Vec<String>, StoreError> {
    let err = |e| StoreError::db(db, "deleting old events", e);
    let ids: Vec<String> = tx
        .prepare(&format!(
            "SELECT id FROM events WHERE {condition} ORDER BY num"
        ))
        .and_then(|mut st| st.query_map([arg], |r| r.get(0))?.collect())
        .map_err(err)?;
    if !ids.is_empty() {
        tx.execute(&format!("DELETE FROM events WHERE {condition}"), [arg])
            .map_err(err)?;
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2024-06-15 12:00:00 UTC);

    #[test]
    fn age_cutoff_is_retain_days_before_now() {
        let p = plan(
            &RetentionPolicy {
                retain_days: 14,
                max_events: 50_000,
            },
            NOW,
        );
        assert_eq!(
            p.started_before,
            Some(datetime!(2024-06-01 12:00:00 UTC).unix_timestamp())
        );
        assert_eq!(p.keep_newest, Some(50_000));
    }

    #[test]
    fn zero_means_no_limit() {
        let p = plan(
            &RetentionPolicy {
                retain_days: 0,
                max_events: 0,
            },
            NOW,
        );
        assert_eq!(
            p,
            RetentionPlan {
                started_before: None,
                keep_newest: None
            }
        );
    }

    #[test]
    fn huge_retention_does_not_overflow() {
        let p = plan(
            &RetentionPolicy {
                retain_days: u32::MAX,
                max_events: u64::MAX,
            },
            NOW,
        );
        let cutoff = p.started_before.unwrap();
        assert!(cutoff < 0, "cut-off before 1970: {cutoff}");
        assert_eq!(p.keep_newest, Some(u64::MAX));
    }
}
