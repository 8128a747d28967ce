//! The allocator of the `pathproof` binary, also included by the engine's
//! benchmarks (`#[path]`) so that their figures are the binary's figures.
//!
//! The symbolic engine makes millions of short-lived boxes and flows; with
//! glibc's malloc that was about a quarter of the CPU time of the 2,000-host
//! `reach`. mimalloc's default also hands freed memory back to the kernel
//! 10 ms after it is freed (a "purge"), and the next allocation faults it in
//! again, zeroed: on that `reach` about 10,000 page faults and 1 to 2 s of
//! system time. A command runs for seconds and exits, so it keeps what it
//! freed instead (see docs/performance.md).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (the same index in its
/// v2 and v3 headers; libmimalloc-sys names only some of the options).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to purge freed memory. Call first thing in `main`.
pub fn keep_freed_memory() {
    // SAFETY: mi_option_get/mi_option_set only read and write mimalloc's
    // option table; any option index is accepted. The documented default of
    // this option is 10 (ms): when the index does not read 10, it is not the
    // option we mean, and nothing is changed.
    unsafe {
        if libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) == 10 {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        }
    }
}
