//! sd_notify integration (to be written).
