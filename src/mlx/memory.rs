//! MLX's allocator counters and limits (process-global).

use super::error::{check, Result};
use super::ffi;
use std::os::raw::c_int;

/// Bytes held by live arrays.
pub fn active() -> usize {
    unsafe { ffi::shim_get_active_memory() }
}

/// Highest `active()` since start or the last [`reset_peak`].
pub fn peak() -> usize {
    unsafe { ffi::shim_get_peak_memory() }
}

/// Bytes freed by arrays but kept by MLX's allocator for reuse.
pub fn cache() -> usize {
    unsafe { ffi::shim_get_cache_memory() }
}

pub fn reset_peak() {
    unsafe { ffi::shim_reset_peak_memory() }
}

/// Returns cached buffers to the system.
pub fn clear_cache() {
    unsafe { ffi::shim_clear_cache() }
}

pub fn memory_limit() -> usize {
    unsafe { ffi::shim_get_memory_limit() }
}

/// Calls one of the shim's limit setters, which report the previous limit.
fn set_limit(
    op: &'static str,
    f: unsafe extern "C" fn(usize, *mut usize) -> c_int,
    bytes: usize,
) -> Result<usize> {
    let mut prev = 0;
    // SAFETY: the setter writes one usize through the pointer.
    check(op, unsafe { f(bytes, &mut prev) })?;
    Ok(prev)
}

/// Sets the allocation limit; returns the previous one.
pub fn set_memory_limit(bytes: usize) -> Result<usize> {
    set_limit("set_memory_limit", ffi::shim_set_memory_limit, bytes)
}

/// Sets how much freed memory the allocator may keep; returns the previous limit.
pub fn set_cache_limit(bytes: usize) -> Result<usize> {
    set_limit("set_cache_limit", ffi::shim_set_cache_limit, bytes)
}

/// Wired-memory limit (macOS 15+ on Apple GPUs; an error elsewhere).
pub fn set_wired_limit(bytes: usize) -> Result<usize> {
    set_limit("set_wired_limit", ffi::shim_set_wired_limit, bytes)
}

/// A snapshot of the counters, for progress events and gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub active: usize,
    pub peak: usize,
    pub cache: usize,
}

pub fn snapshot() -> Snapshot {
    Snapshot {
        active: active(),
        peak: peak(),
        cache: cache(),
    }
}
