//! The allocator of the `pathproof` binary, also included by the engine's
//! benchmarks (`#[path]`) so that their figures are the binary's figures.
//!
//! The symbolic engine makes millions of short-lived boxes and flows; with
//! glibc's malloc that was about a quarter of the CPU time of the 2,000-host
//! `reach`. mimalloc's default also hands freed memory back to the kernel a
//! second after it is freed (a "purge"), and the next allocation faults it
//! in again, zeroed. A command runs for seconds and exits, so it keeps what
//! it freed instead (see docs/performance.md).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (the same index in its
/// v2 and v3 headers; libmimalloc-sys names only some of the options).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// `PR_SET_THP_DISABLE` from Linux's `prctl.h`.
#[cfg(target_os = "linux")]
const PR_SET_THP_DISABLE: std::ffi::c_int = 41;

#[cfg(target_os = "linux")]
extern "C" {
    fn prctl(option: std::ffi::c_int, ...) -> std::ffi::c_int;
}

/// mimalloc's own purge delay (ms) in the version libmimalloc-sys builds (v3).
const MI_DEFAULT_PURGE_DELAY: std::ffi::c_long = 1000;

/// Undoes the first half of [`keep_freed_memory`] for a process that runs
/// for hours (`serve`): freed memory goes back to the system after
/// mimalloc's usual delay, so that a large answer, once sent, does not keep
/// its memory. A purge delay the user set (`MIMALLOC_PURGE_DELAY`) is kept.
#[allow(dead_code)]
pub fn return_freed_memory() {
    // SAFETY: as in `keep_freed_memory`.
    unsafe {
        if libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) == -1
            && std::env::var_os("MIMALLOC_PURGE_DELAY").is_none()
        {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, MI_DEFAULT_PURGE_DELAY);
        }
    }
}

/// Tells mimalloc never to purge freed memory, and the kernel not to back
/// this process's memory with transparent huge pages. Call first thing in
/// `main`.
///
/// mimalloc asks for huge pages for its arenas; each first touch of one
/// then zeroes 2 MiB at once, and on the 2,000-host `reach` that raised the
/// peak by 30-60 MiB and the time with it (zeroing fresh pages is a fifth of
/// that command's CPU on our machines; see docs/performance.md).
pub fn keep_freed_memory() {
    // SAFETY: prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) only sets a flag on this
    // process's memory map; on failure (an old kernel) nothing changes.
    #[cfg(target_os = "linux")]
    unsafe {
        prctl(
            PR_SET_THP_DISABLE,
            1 as std::ffi::c_ulong,
            0 as std::ffi::c_ulong,
            0 as std::ffi::c_ulong,
            0 as std::ffi::c_ulong,
        );
    }
    // SAFETY: mi_option_get/mi_option_set only read and write mimalloc's
    // option table; any option index is accepted. The default of this option
    // is 1000 ms in mimalloc v3 (what libmimalloc-sys builds) and 10 ms in
    // v2: when the index reads neither, it is not the option we mean (or the
    // user set MIMALLOC_PURGE_DELAY), and nothing is changed.
    unsafe {
        if matches!(
            libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY),
            10 | 1000
        ) {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        }
    }
}
