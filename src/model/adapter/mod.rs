//! LoRA and LoKr adapters (formats §6, §7.3): read from safetensors in every key convention
//! met in the wild, mapped onto the DiT's official module paths, and applied at run time by
//! [`crate::model::linear::Linear`] as `y = base(x) + Σ sᵢ·Δᵢ(x)`, so the base weights (dense,
//! NF4 or FP8) are never touched or re-quantised.
//!
//! ```text
//! LoRA  Δ(x) = (α/r) · (x·Aᵀ)·Bᵀ                  A [r, in], B [out, r]; no alpha: α/r = 1
//! LoKr  Δ(x) = (α/r) · x·kron(w1, w2)ᵀ            w1 [a, b] (or w1_a·w1_b), w2 [p, q] (or w2_a·w2_b)
//!            = reshape(w1 · (X·w2ᵀ))   with X = x as [b, q]; r = rows of w2_b, no factored w2: 1
//! ```
//!
//! LoKr is applied factored, never as a built `ΔW`: a full-size ΔW of one feed-forward
//! projection is 4608×12288 values (216 MiB in float32), 204 of them per DiT, whereas the
//! factored product costs two small matmuls per call (see `tests/lora_adapters.rs`).

mod file;
mod runtime;
pub mod sha256;
mod spec;

pub use file::{Adapter, AdapterError, ModuleDelta, ModuleFactors, TargetModule};
pub use runtime::{LinearDelta, PassGate};
pub use spec::{
    resolve_spec, root_safetensors, AdapterSpec, AdapterTarget, AdapterUse, ResolvedSpec,
    TURBOTIME_FILE, TURBOTIME_REPO, UNCONDITIONAL_FILE, UNCONDITIONAL_REPO,
};
