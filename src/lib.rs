//! Ideogram 4 inference and tooling: an MLX binding, the caption verifier, the sampler,
//! checkpoint loading, the model, the pipeline, the engine thread and the terminal UI.
//!
//! Imports flow one way: `tui -> engine -> pipeline -> model -> weights, mlx`;
//! `caption`, `sampler`, `files` and `units` depend on nothing heavy.

/// `Display` as the type's `name()`, the same name its `FromStr` accepts. Defined before the
/// modules so they can all use it.
macro_rules! display_as_name {
    ($t:ty) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

pub mod bench;
pub mod caption;
pub mod engine;
pub mod files;
pub mod logging;
pub mod magic;
pub mod mlx;
pub mod model;
pub mod output;
pub mod parity;
pub mod pipeline;
pub mod sampler;
pub mod secret;
pub mod synthetic;
pub mod tui;
pub mod units;
pub mod weights;
