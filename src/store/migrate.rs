//! Schema versions and migrations.
//!
//! The version is `PRAGMA user_version`. `MIGRATIONS[i]` takes a database from version `i` to
//! `i + 1`; each step runs in its own transaction that also sets the new version. Before an
//! existing database is migrated, a consistent copy is written next to it
//! (`gozcu.db.pre-v<N>.bak`, N = the version being migrated to) so a failed upgrade can be
//! undone by hand. A database newer than this binary is refused, never touched.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::StoreError;

/// Migration steps; step i (0-based) produces version i + 1. Append only.
pub const MIGRATIONS: &[&str] = &[include_str!("schema.sql")];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// What `run` did, for the log and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    pub from: i64,
    pub to: i64,
    /// The copy taken before migrating, when the database already had content.
    pub backup: Option<PathBuf>,
}

pub(crate) fn user_version(conn: &Connection, db: &Path) -> Result<i64, StoreError> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| StoreError::db(db, "reading the schema version", e))
}

/// Refuses a database written by a newer gozcu (before anything else touches it).
pub(crate) fn check_not_newer(
    conn: &Connection,
    db: &Path,
    steps: &[&str],
) -> Result<i64, StoreError> {
    let found = user_version(conn, db)?;
    let supported = steps.len() as i64;
    if found > supported {
        return Err(StoreError::TooNew {
            path: db.to_owned(),
            found,
            supported,
        });
    }
    Ok(found)
}

/// Brings the database at `db` up to `steps.len()`.
pub(crate) fn run(
    conn: &mut Connection,
    db: &Path,
    steps: &[&str],
) -> Result<Migrated, StoreError> {
    let from = check_not_newer(conn, db, steps)?;
    let to = steps.len() as i64;
    let mut done = Migrated {
        from,
        to,
        backup: None,
    };
    if from == to {
        return Ok(done);
    }
    if from > 0 || has_tables(conn, db)? {
        done.backup = Some(backup(conn, db, to)?);
    }
    for (i, sql) in steps.iter().enumerate().skip(from as usize) {
        let version = i as i64 + 1;
        let action = "migrating the schema";
        let tx = conn
            .transaction()
            .map_err(|e| StoreError::db(db, action, e))?;
        tx.execute_batch(sql)
            .map_err(|e| StoreError::db(db, action, e))?;
        tx.pragma_update(None, "user_version", version)
            .map_err(|e| StoreError::db(db, action, e))?;
        tx.commit().map_err(|e| StoreError::db(db, action, e))?;
        tracing::info!(db = %db.display(), version, "database schema migrated");
    }
    Ok(done)
}

fn has_tables(conn: &Connection, db: &Path) -> Result<bool, StoreError> {
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n > 0)
    .map_err(|e| StoreError::db(db, "reading the schema", e))
}

/// Writes a consistent copy (`VACUUM INTO` also captures the WAL) unless one already exists:
/// an earlier, interrupted upgrade to the same version left the older, more useful copy.
fn backup(conn: &Connection, db: &Path, to: i64) -> Result<PathBuf, StoreError> {
    let mut name = db.as_os_str().to_owned();
    name.push(format!(".pre-v{to}.bak"));
    let path = PathBuf::from(name);
    if path.exists() {
        tracing::warn!(backup = %path.display(), "keeping the existing pre-migration backup");
        return Ok(path);
    }
    let target = path.to_str().ok_or_else(|| {
        StoreError::io(
            &path,
            "backing up the database to",
            std::io::Error::other("the path is not valid UTF-8"),
        )
    })?;
    conn.execute("VACUUM INTO ?1", [target])
        .map_err(|e| StoreError::db(db, "backing up before migration", e))?;
    std::fs::File::open(&path)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::io(&path, "syncing the backup", e))?;
    tracing::info!(backup = %path.display(), "database backed up before migration");
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: &str = "ALTER TABLE events ADD COLUMN note TEXT;";

    #[test]
    fn fresh_database_gets_every_step_and_no_backup() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("gozcu.db");
        let mut conn = Connection::open(&db).unwrap();
        let m = run(&mut conn, &db, MIGRATIONS).unwrap();
        assert_eq!((m.from, m.to, m.backup), (0, SCHEMA_VERSION, None));
        assert_eq!(user_version(&conn, &db).unwrap(), SCHEMA_VERSION);
        let epoch: String = conn
            .query_row("SELECT epoch FROM meta", [], |r| r.get(0))
            .unwrap();
        assert_eq!(epoch.len(), 16, "{epoch}");
        assert!(epoch.chars().all(|c| c.is_ascii_hexdigit()), "{epoch}");
    }

    #[test]
    fn existing_database_is_backed_up_then_migrated_step_by_step() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("gozcu.db");
        let mut conn = Connection::open(&db).unwrap();
        run(&mut conn, &db, &MIGRATIONS[..1]).unwrap();
        conn.execute_batch(
            "INSERT INTO events VALUES (1,'evt-1','c','C','person','t',0,NULL,0.9,NULL,NULL,'start',NULL,1)",
        )
        .unwrap();

        let steps = [MIGRATIONS[0], V2];
        let m = run(&mut conn, &db, &steps).unwrap();
        let backup = dir.path().join("gozcu.db.pre-v2.bak");
        assert_eq!((m.from, m.to), (1, 2));
        assert_eq!(m.backup.as_deref(), Some(backup.as_path()));
        assert_eq!(user_version(&conn, &db).unwrap(), 2);
        conn.execute("UPDATE events SET note = 'x'", []).unwrap();

        // The backup is the v1 database, with its data.
        let old = Connection::open(&backup).unwrap();
        assert_eq!(user_version(&old, &backup).unwrap(), 1);
        let n: i64 = old
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn failing_step_leaves_previous_version_intact() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("gozcu.db");
        let mut conn = Connection::open(&db).unwrap();
        run(&mut conn, &db, &MIGRATIONS[..1]).unwrap();
        let steps = [
            MIGRATIONS[0],
            "CREATE TABLE t2 (x); SELECT no_such_function();",
        ];
        let err = run(&mut conn, &db, &steps).unwrap_err().to_string();
        assert!(err.contains("migrating the schema failed"), "{err}");
        assert!(err.contains("no_such_function"), "{err}");
        assert_eq!(user_version(&conn, &db).unwrap(), 1);
        let t2: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 't2'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(t2, 0, "the failed step was rolled back");
    }

    #[test]
    fn newer_database_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("gozcu.db");
        let mut conn = Connection::open(&db).unwrap();
        conn.pragma_update(None, "user_version", 7).unwrap();
        let err = run(&mut conn, &db, MIGRATIONS).unwrap_err().to_string();
        assert!(err.contains("has schema version 7"), "{err}");
        assert!(err.contains(&format!("up to {SCHEMA_VERSION}")), "{err}");
        assert!(err.contains("Upgrade gozcu"), "{err}");
        assert_eq!(user_version(&conn, &db).unwrap(), 7);
    }
}
