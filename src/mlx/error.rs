//! The one error type of the binding: MLX's own message, tagged with the operation.

use std::ffi::CStr;

/// An MLX call failed. `message` is MLX's exception text, verbatim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MLX {op}: {message}")]
pub struct Error {
    /// The binding function that failed (`matmul`, `reshape`, ...).
    pub op: &'static str,
    /// MLX's exception message, or the binding's own check.
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn new(op: &'static str, message: impl Into<String>) -> Self {
        Self {
            op,
            message: message.into(),
        }
    }
}

/// Turns a shim status into a `Result`, fetching the thread-local message on failure.
pub(crate) fn check(op: &'static str, status: i32) -> Result<()> {
    if status == 0 {
        return Ok(());
    }
    // SAFETY: the shim returns a pointer to a thread-local std::string that stays valid until
    // the next failing call on this thread; we copy it out immediately.
    let message = unsafe { CStr::from_ptr(super::ffi::shim_last_error()) }
        .to_string_lossy()
        .into_owned();
    Err(Error::new(op, message))
}
