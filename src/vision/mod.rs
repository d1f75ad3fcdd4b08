//! Pixel work: format conversion and letterboxing, motion detection, object tracking.

pub mod convert;
pub mod letterbox;
pub mod motion;
pub mod tracker;
