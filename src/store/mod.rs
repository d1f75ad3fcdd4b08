//! SQLite store (to be written).

pub mod snapshots;
