-- gozcu database schema, version 1 (migration step 1 in migrate.rs).
--
-- The schema version lives in `PRAGMA user_version`; each migration step runs in its own
-- transaction that also sets the new version, so a crash mid-migration leaves the database at
-- the previous complete version. Later changes go into new steps, never into this file.
--
-- Writers: exactly one connection (the daemon's store writer thread). Readers: the server's
-- read-only connections, side by side with the writer thanks to WAL.

-- One row of database-wide facts.
CREATE TABLE meta (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  -- Random id of this database. Clients resuming with a `since` from another epoch (a restored
  -- or recreated database) get a reset instead of a wrong replay.
  epoch TEXT NOT NULL,
  -- Highest n of any "evt-n" ever stored. Kept here because retention deletes event rows and
  -- an id must never be handed out twice.
  last_event_num INTEGER NOT NULL DEFAULT 0
);
INSERT INTO meta (id, epoch) VALUES (1, lower(hex(randomblob(8))));

-- The latest state of each event (one row per person visit), updated by every message.
CREATE TABLE events (
  -- The n of the id "evt-n"; increases with time, so it also orders events oldest first.
  num INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  camera_id TEXT NOT NULL,
  camera_name TEXT NOT NULL,
  -- "person", "motion", ...
  event_type TEXT NOT NULL,
  -- Start time exactly as sent (RFC 3339 UTC) ...
  start_ts TEXT NOT NULL,
  -- ... and the same instant in Unix seconds, for retention by age.
  start_unix INTEGER NOT NULL,
  end_ts TEXT,
  confidence REAL NOT NULL,
  -- JSON [x1, y1, x2, y2], normalized to 0..1 of the best frame; NULL when unknown.
  box TEXT,
  snapshot_url TEXT,
  phase TEXT NOT NULL CHECK (phase IN ('start', 'update', 'end')),
  -- Why an event ended other than by timeout ("restart", ...).
  end_reason TEXT,
  -- seq of the newest event_log row of this event; lists are ordered and paged by it.
  last_seq INTEGER NOT NULL
);
-- Listing newest first, optionally by camera or type, paged with before_seq.
CREATE INDEX events_by_seq ON events (last_seq);
CREATE INDEX events_by_camera ON events (camera_id, last_seq);
CREATE INDEX events_by_type ON events (event_type, last_seq);
-- Retention by age.
CREATE INDEX events_by_start ON events (start_unix);
-- Events still open (closed with reason "restart" at the next start).
CREATE INDEX events_open ON events (num) WHERE phase <> 'end';

-- Every event message exactly as broadcast, for WebSocket resume (`since=<seq>`).
-- AUTOINCREMENT: a seq is never reused, even after retention deleted the newest rows.
CREATE TABLE event_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  event_num INTEGER NOT NULL REFERENCES events (num) ON DELETE CASCADE,
  camera_id TEXT NOT NULL,
  -- The full `{"type":"event","data":{...,"seq":N,...}}` text.
  payload TEXT NOT NULL
);
-- Makes the ON DELETE CASCADE from events cheap.
CREATE INDEX event_log_by_event ON event_log (event_num);
