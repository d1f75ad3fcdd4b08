//! RKNN NPU backend (to be written).
