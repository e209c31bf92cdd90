//! File-system helpers every layer shares: crash-safe writes and `~` in user-given paths.

pub mod atomic;
mod home;

pub use atomic::{write_atomic, write_atomic_with, Replace, TEMP_PREFIX};
pub use home::{expand_home, home_dir};
