//! Fused NF4 kernels: multiply activations by a packed NF4 weight without expanding it
//! (`kernels/*.metal`, compiled by MLX at run time on Apple GPUs).
//!
//! The portable path expands every NF4 weight to the compute dtype with a chain of MLX ops at
//! every call, then multiplies: on a GPU that is ~12 bytes of memory traffic per weight per
//! call. The kernels read the packed nibbles and block scales and multiply in registers.
//!
//! * [`Nf4Kernel`] picks the kernel and its launch shape (shared by the GPU launch and the CPU
//!   emulation, so the tests run the launches the GPU runs).
//! * [`KernelRunner`] runs a kernel: [`MetalRunner`] on the GPU, [`EmulatedRunner`] (Linux)
//!   runs the same kernel text compiled as C++ over a Metal emulation (`csrc/metal_emu/`).
//! * [`reference`] repeats each kernel's order of additions on the host dequantiser's values,
//!   so the emulation can be required to match bit for bit.
//! * [`check`] decides at load time: on a GPU the kernels are compared with the portable path
//!   on real layers and used only when they agree ([`Linear`](super::linear::Linear) asks
//!   [`forward_active`]); `doctor` reports the outcome.

pub mod check;
#[cfg(target_os = "linux")]
mod emulate;
mod metal;
pub mod reference;

use std::cell::RefCell;
use std::rc::Rc;

use crate::mlx::{self, Array, Dtype};
use crate::weights::{Absmax, Nf4Weight};

pub use check::{
    check_at_load, check_layers, configured_mode, last_status, set_mode, KernelMode, KernelPath,
    KernelStatus, LayerCheck,
};
#[cfg(target_os = "linux")]
pub use emulate::EmulatedRunner;
pub use metal::MetalRunner;

/// The Metal sources, as compiled on the GPU and (through `#include`) by the emulation.
pub const COMMON_SOURCE: &str = include_str!("../../../kernels/nf4_common.metal");
pub const MATVEC_SOURCE: &str = include_str!("../../../kernels/nf4_matvec.metal");
pub const MATMUL_SOURCE: &str = include_str!("../../../kernels/nf4_matmul.metal");

/// Largest activation row count of the matrix–vector kernel (`NF4_MV_ROWS`).
pub const MV_ROWS: usize = 8;
/// Simdgroups (output features) per matrix–vector threadgroup (`NF4_MV_SIMDS`).
pub const MV_SIMDS: usize = 8;
/// Output tile side of the matrix–matrix kernel.
pub const MM_TILE: usize = 32;
const SIMD_WIDTH: usize = 32;

/// Which kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Nf4Kernel {
    MatVec,
    MatMul,
}

impl Nf4Kernel {
    /// The kernel for `rows` activation rows.
    pub fn for_rows(rows: usize) -> Nf4Kernel {
        if rows <= MV_ROWS {
            Nf4Kernel::MatVec
        } else {
            Nf4Kernel::MatMul
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Nf4Kernel::MatVec => "nf4_matvec",
            Nf4Kernel::MatMul => "nf4_matmul",
        }
    }

    pub fn source(self) -> &'static str {
        match self {
            Nf4Kernel::MatVec => MATVEC_SOURCE,
            Nf4Kernel::MatMul => MATMUL_SOURCE,
        }
    }

    /// `(grid in threads, threadgroup)` for `rows` × `out_features` outputs. Grids are whole
    /// threadgroups: the kernels guard ragged edges themselves.
    pub fn launch(self, rows: usize, out_features: usize) -> (Dims3, Dims3) {
        match self {
            Nf4Kernel::MatVec => {
                let groups = out_features.div_ceil(MV_SIMDS);
                let tg = MV_SIMDS * SIMD_WIDTH;
                ((groups * tg, 1, 1), (tg, 1, 1))
            }
            Nf4Kernel::MatMul => {
                let side = MM_TILE / 2;
                (
                    (
                        out_features.div_ceil(MM_TILE) * side,
                        rows.div_ceil(MM_TILE) * side,
                        1,
                    ),
                    (side, side, 1),
                )
            }
        }
    }
}

/// A launch extent `(x, y, z)`.
pub type Dims3 = (usize, usize, usize);

/// A kernel that could not run.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error(transparent)]
    Mlx(#[from] mlx::Error),
    #[error("{kernel}: {message}")]
    Kernel {
        kernel: &'static str,
        message: String,
    },
}

/// Runs the fused kernels.
pub trait KernelRunner {
    /// Names the implementation in reports (`metal`, `cpu emulation`, …).
    fn name(&self) -> &str;
    /// `x [M, K] · Wᵀ` for an NF4 `W [N, K]`, in `x`'s dtype (float32, bfloat16 or float16).
    fn run(&self, kernel: Nf4Kernel, x: &Array, w: &Nf4Weight) -> Result<Array, KernelError>;
}

/// The scalar sizes every kernel reads from its `dims` input: `M, N, K, BS, NBS`.
fn dims(rows: usize, w: &Nf4Weight) -> Result<[u32; 5], KernelError> {
    let bad = |message: String| KernelError::Kernel {
        kernel: "nf4",
        message,
    };
    let &[n, k] = w.shape() else {
        return Err(bad(format!("weight of shape {:?} is not 2-D", w.shape())));
    };
    if n.checked_mul(k).is_none_or(|e| e > u32::MAX as usize) {
        return Err(bad(format!(
            "weight [{n}, {k}] has too many elements for 32-bit indices"
        )));
    }
    let nested_bs = match w.absmax() {
        Absmax::Nested { blocksize, .. } => *blocksize,
        Absmax::F32(_) => 1,
    };
    let to32 = |v: usize| u32::try_from(v).map_err(|_| bad(format!("size {v} exceeds 32 bits")));
    Ok([
        to32(rows)?,
        to32(n)?,
        to32(k)?,
        to32(w.state().blocksize)?,
        to32(nested_bs)?,
    ])
}

/// What both runners derive from the operands before launching a kernel: the output's
/// `rows × n`, the kernel's `dims` argument and the launch extents.
pub(crate) struct LaunchPlan {
    pub rows: usize,
    pub n: usize,
    pub dims: [u32; 5],
    pub grid: Dims3,
    pub tg: Dims3,
}

impl LaunchPlan {
    pub(crate) fn new(
        kernel: Nf4Kernel,
        x: &Array,
        w: &Nf4Weight,
    ) -> Result<LaunchPlan, KernelError> {
        let (rows, _) = check_operands(x, w)?;
        let n = w.shape()[0];
        let dims = dims(rows, w)?;
        let (grid, tg) = kernel.launch(rows, n);
        Ok(LaunchPlan {
            rows,
            n,
            dims,
            grid,
            tg,
        })
    }
}

/// Checks `x` against `w` and returns `(rows, in_features)` of the 2-D view.
fn check_operands(x: &Array, w: &Nf4Weight) -> Result<(usize, usize), KernelError> {
    let shape = x.shape();
    let bad = |message: String| KernelError::Kernel {
        kernel: "nf4",
        message,
    };
    if shape.len() != 2 || w.shape().len() != 2 || shape[1] != w.shape()[1] {
        return Err(bad(format!(
            "activations {shape:?} do not fit weight {:?}",
            w.shape()
        )));
    }
    if !matches!(x.dtype(), Dtype::F32 | Dtype::Bf16 | Dtype::F16) {
        return Err(bad(format!(
            "activations of dtype {} are not supported",
            x.dtype()
        )));
    }
    Ok((shape[0], shape[1]))
}

thread_local! {
    /// The runner `Linear` uses on this thread (the engine's MLX thread), set by
    /// [`check::check_layers`] once the kernels have agreed with the portable path.
    static ACTIVE: RefCell<Option<Rc<dyn KernelRunner>>> = const { RefCell::new(None) };
}

/// Makes `runner` the one [`forward_active`] uses on this thread (`None`: portable path).
pub fn set_active(runner: Option<Rc<dyn KernelRunner>>) {
    ACTIVE.with(|a| *a.borrow_mut() = runner);
}

/// Whether a fused runner is active on this thread.
pub fn is_active() -> bool {
    ACTIVE.with(|a| a.borrow().is_some())
}

/// `x · Wᵀ` through the active runner, or `None` when there is none (or it failed, which
/// deactivates it with one log line: the caller then takes the portable path).
pub fn forward_active(x: &Array, w: &Nf4Weight) -> Option<Array> {
    let runner = ACTIVE.with(|a| a.borrow().clone())?;
    let shape = x.shape();
    let (&k, lead) = shape.split_last()?;
    let rows: usize = lead.iter().product();
    let result = x
        .reshape(&[rows, k])
        .map_err(KernelError::from)
        .and_then(|x2| runner.run(Nf4Kernel::for_rows(rows), &x2, w))
        .and_then(|y| {
            let mut out = lead.to_vec();
            out.push(y.dim(-1)?);
            Ok(y.reshape(&out)?)
        });
    match result {
        Ok(y) => Some(y),
        Err(e) => {
            tracing::warn!("fused NF4 kernels failed ({e}); using the portable path from now on");
            check::record_runtime_failure(&e.to_string());
            set_active(None);
            None
        }
    }
}
