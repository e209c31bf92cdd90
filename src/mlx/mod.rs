//! Our binding over MLX's C++ API (through `csrc/shim.cpp`).
//!
//! [`Array`] is an owned, lazily evaluated array; operations are methods returning
//! [`Result`], so model code reads like math with `?` after each step:
//!
//! ```no_run
//! # use ideogram4::mlx::{Array, Result};
//! fn linear(x: &Array, w: &Array, b: &Array) -> Result<Array> {
//!     x.matmul(&w.t()?)?.add(b)
//! }
//! ```
//!
//! Every C++ exception becomes an [`Error`] carrying MLX's message. MLX state (memory
//! counters, default device, RNG) is process-global; drive it from one thread.

mod array;
pub mod blas;
pub mod blas_kernel;
mod codes;
pub mod device;
mod dtype;
mod error;
pub mod fast;
mod ffi;
pub mod io;
pub mod memory;
pub mod metal;
mod ops;
pub mod quantized;
pub mod random;

pub use array::{eval, Array};
pub use device::{default_device, set_default_device, Device};
pub use dtype::{Dtype, Element};
pub use error::{Error, Result};
pub use ops::{arange, concatenate, full, linspace, ones, stack, zeros};

/// Where the build found MLX and how.
pub fn build_info() -> (&'static str, &'static str) {
    (env!("IDEOGRAM4_MLX_DIR"), env!("IDEOGRAM4_MLX_FOUND_BY"))
}
