//! Logging setup (to be written).
