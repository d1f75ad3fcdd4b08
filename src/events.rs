//! Event lifecycle (to be written).
