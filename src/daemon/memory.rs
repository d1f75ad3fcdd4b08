//! Allocator tuning for a long-running daemon on a small board.
//!
//! Every frame passes through buffers of a few MiB (a 1280x720 RGB image is 2.7 MiB). glibc
//! serves blocks that large with `mmap` at first, but raises its mmap threshold to the size
//! of the first such block that is freed, and from then on serves them from the heap, where
//! freed frame buffers stay resident: the benchmark measured 31 MiB RSS for two cameras
//! without a detector and 69 MiB with one, against 17 and 48 MiB with a fixed threshold
//! (docs/benchmarks.md, "Idle, busy and memory"). A fixed threshold returns each frame
//! buffer to the kernel when it is freed, at the price of page faults on every frame (about a
//! point of CPU per camera).
//!
//! An operator's own `MALLOC_MMAP_THRESHOLD_` (glibc's environment tunable) wins.

/// Blocks at least this large are mmapped and unmapped on free: every frame-sized buffer,
/// none of the small allocations of the server and the tracker.
pub const MMAP_THRESHOLD: usize = 256 * 1024;

/// What [`tune`] did, for the start-up log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tuning {
    /// The threshold was fixed at [`MMAP_THRESHOLD`].
    Fixed,
    /// `MALLOC_MMAP_THRESHOLD_` is set: glibc already applied the operator's value.
    LeftToEnvironment,
    /// The allocator refused, or this is not glibc (musl has no such tunable).
    Unavailable,
}

/// Fixes glibc's mmap threshold unless the environment sets one. Call once, early.
pub fn tune() -> Tuning {
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some() {
        return Tuning::LeftToEnvironment;
    }
    set_mmap_threshold(MMAP_THRESHOLD)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_mmap_threshold(bytes: usize) -> Tuning {
    let Ok(value) = libc::c_int::try_from(bytes) else {
        return Tuning::Unavailable;
    };
    // SAFETY: mallopt only changes allocator parameters; it is safe to call at any time.
    if unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, value) } == 1 {
        Tuning::Fixed
    } else {
        Tuning::Unavailable
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_mmap_threshold(_bytes: usize) -> Tuning {
    Tuning::Unavailable
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// Bytes glibc has in mmapped blocks right now.
    fn mmapped() -> usize {
        // SAFETY: mallinfo2 only reads allocator statistics.
        unsafe { libc::mallinfo2() }.hblkhd
    }

    /// Allocates and touches `bytes`, returns how much of it glibc mmapped, frees it.
    fn mmapped_share_of(bytes: usize) -> usize {
        let before = mmapped();
        let block = std::hint::black_box(vec![1u8; bytes]);
        let during = mmapped();
        drop(block);
        during.saturating_sub(before)
    }

    #[test]
    fn frame_sized_blocks_stay_mmapped_after_one_is_freed() {
        const FRAME: usize = 8 << 20;
        assert_eq!(set_mmap_threshold(MMAP_THRESHOLD), Tuning::Fixed);
        // Without the fixed threshold, freeing the first block raises glibc's threshold
        // above 8 MiB and the second comes from the heap (and stays resident when freed).
        // Other tests of this process may free mmapped blocks between the two readings and
        // hide one; a round passes when any of a few tries shows the block mmapped.
        for round in 0..3 {
            let shares: Vec<usize> = (0..5).map(|_| mmapped_share_of(FRAME)).collect();
            assert!(
                shares.iter().any(|&s| s >= FRAME),
                "round {round}: of {FRAME} bytes, only {shares:?} were mmapped"
            );
        }
    }
}
