//! Which path `Linear` takes for NF4 weights, decided once per process at load time.
//!
//! On a GPU the fused kernels are compared with the portable path (expand, then multiply) on
//! a few real layers, with both kernels and a ragged row count; they are used only when every
//! comparison agrees within [`tolerance`]. A kernel that fails to build or run, or disagrees,
//! leaves the portable path in place with one log line, and `doctor` shows why.
//! `nf4_kernels` in config.toml (or `IDEOGRAM4_NF4_KERNELS`) forces either path.

use std::rc::Rc;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

use super::{set_active, KernelError, KernelRunner, MetalRunner, Nf4Kernel};
use crate::mlx::{self, Array, Dtype};
use crate::weights::Nf4Weight;

/// The configured choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelMode {
    /// Fused kernels on a GPU when the load-time check passes, else portable.
    #[default]
    Auto,
    /// Fused kernels whenever they build and run, even if the check disagrees.
    Fused,
    /// Always expand then multiply.
    Portable,
}

impl KernelMode {
    pub fn name(self) -> &'static str {
        match self {
            KernelMode::Auto => "auto",
            KernelMode::Fused => "fused",
            KernelMode::Portable => "portable",
        }
    }
}

impl FromStr for KernelMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(KernelMode::Auto),
            "fused" => Ok(KernelMode::Fused),
            "portable" => Ok(KernelMode::Portable),
            other => Err(format!(
                "nf4_kernels must be auto, fused or portable, not {other:?}"
            )),
        }
    }
}

/// The environment variable that overrides the mode when nothing set it explicitly.
pub const MODE_ENV: &str = "IDEOGRAM4_NF4_KERNELS";

/// 0: not set (read [`MODE_ENV`]); else 1 + the mode's index.
static MODE: AtomicU8 = AtomicU8::new(0);

/// Sets the mode for the process (from config.toml).
pub fn set_mode(mode: KernelMode) {
    MODE.store(1 + mode as u8, Ordering::Relaxed);
}

/// The mode in force: [`set_mode`]'s, else [`MODE_ENV`], else auto (an unknown value is
/// logged once and ignored).
pub fn configured_mode() -> KernelMode {
    match MODE.load(Ordering::Relaxed) {
        1 => KernelMode::Auto,
        2 => KernelMode::Fused,
        3 => KernelMode::Portable,
        _ => match std::env::var(MODE_ENV) {
            Ok(v) => v.parse().unwrap_or_else(|e: String| {
                tracing::warn!("{MODE_ENV}: {e}; using auto");
                KernelMode::Auto
            }),
            Err(_) => KernelMode::Auto,
        },
    }
}

/// The path taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelPath {
    Fused,
    Portable,
}

/// One comparison of a kernel with the portable path.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerCheck {
    pub layer: String,
    pub kernel: Nf4Kernel,
    pub rows: usize,
    /// Largest |fused − portable|.
    pub max_abs_diff: f32,
    /// Largest |portable| (the scale the difference is judged against).
    pub scale: f32,
    pub agrees: bool,
}

impl LayerCheck {
    pub fn relative(&self) -> f32 {
        self.max_abs_diff / self.scale.max(f32::MIN_POSITIVE)
    }
}

/// The decision and its evidence.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KernelStatus {
    pub path: KernelPath,
    pub mode: KernelMode,
    /// The runner compared (`metal`, …), when one was built.
    pub runner: Option<String>,
    pub reason: String,
    pub checks: Vec<LayerCheck>,
}

impl KernelStatus {
    /// One line for `doctor` and the log.
    pub fn line(&self) -> String {
        let path = match self.path {
            KernelPath::Fused => "fused Metal kernels",
            KernelPath::Portable => "portable path (expand, then multiply)",
        };
        format!("{path}: {}", self.reason)
    }
}

static LAST: Mutex<Option<KernelStatus>> = Mutex::new(None);

/// The last decision of this process, if a check ran.
pub fn last_status() -> Option<KernelStatus> {
    LAST.lock().map(|s| s.clone()).unwrap_or(None)
}

fn store(status: &KernelStatus) {
    if let Ok(mut s) = LAST.lock() {
        *s = Some(status.clone());
    }
}

pub(super) fn record_runtime_failure(message: &str) {
    if let Ok(mut s) = LAST.lock() {
        let mode = s.as_ref().map(|s| s.mode).unwrap_or_default();
        *s = Some(KernelStatus {
            path: KernelPath::Portable,
            mode,
            runner: s.as_ref().and_then(|s| s.runner.clone()),
            reason: format!("the fused kernels failed while running ({message})"),
            checks: Vec::new(),
        });
    }
}

/// Largest relative difference (to the largest |portable| value) accepted: float32 results
/// differ only by the order of additions; bf16/f16 outputs also by one rounding each side.
pub fn tolerance(dtype: Dtype) -> f32 {
    if dtype == Dtype::F32 {
        1e-4
    } else {
        2e-2
    }
}

/// Activation rows of the comparisons: a few (matrix–vector) and a count that leaves a
/// ragged last tile (matrix–matrix).
pub const CHECK_ROWS: [(Nf4Kernel, usize); 2] = [(Nf4Kernel::MatVec, 3), (Nf4Kernel::MatMul, 45)];

/// Deterministic activations in [-1, 1), as `dtype`.
fn activations(rows: usize, cols: usize, seed: u64, dtype: Dtype) -> mlx::Result<Array> {
    let mut s = seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1;
    let v: Vec<f32> = (0..rows * cols)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect();
    Array::from_slice(&v, &[rows, cols])?.astype(dtype)
}

/// Compares `runner` with the portable path on one layer.
pub fn compare(
    runner: &dyn KernelRunner,
    layer: &str,
    w: &Nf4Weight,
    kernel: Nf4Kernel,
    rows: usize,
    dtype: Dtype,
) -> Result<LayerCheck, KernelError> {
    let k = w.shape().get(1).copied().unwrap_or(0);
    let x = activations(rows, k, rows as u64 + 7, dtype)?;
    let fused = runner
        .run(kernel, &x, w)?
        .astype(Dtype::F32)?
        .to_vec::<f32>()?;
    let portable = x
        .matmul(&w.dequantize(dtype)?.t()?)?
        .astype(Dtype::F32)?
        .to_vec::<f32>()?;
    if fused.len() != portable.len() {
        return Err(KernelError::Kernel {
            kernel: kernel.name(),
            message: format!(
                "{} outputs where the portable path has {}",
                fused.len(),
                portable.len()
            ),
        });
    }
    let mut max_abs_diff = 0.0f32;
    let mut scale = 0.0f32;
    for (f, p) in fused.iter().zip(&portable) {
        let d = (f - p).abs();
        // NaN anywhere counts as disagreement.
        max_abs_diff = if d.is_nan() {
            f32::INFINITY
        } else {
            max_abs_diff.max(d)
        };
        scale = scale.max(p.abs());
    }
    let mut check = LayerCheck {
        layer: layer.to_string(),
        kernel,
        rows,
        max_abs_diff,
        scale,
        agrees: false,
    };
    check.agrees = check.relative() <= tolerance(dtype);
    Ok(check)
}

/// Decides the path for this thread: compares the runner `make_runner` builds with the
/// portable path on `layers` (when `gpu`; the kernels are Metal kernels), activates it when
/// they agree (or `mode` forces it), and records the outcome for [`last_status`].
pub fn check_layers(
    mode: KernelMode,
    gpu: bool,
    make_runner: &dyn Fn() -> Result<Rc<dyn KernelRunner>, KernelError>,
    layers: &[(String, &Nf4Weight)],
    dtype: Dtype,
) -> KernelStatus {
    let status = match skip_reason(mode, gpu, layers) {
        Some(reason) => portable(mode, reason.into(), None, Vec::new()),
        None => compare_layers(mode, make_runner, layers, dtype),
    };
    match status.path {
        KernelPath::Fused => tracing::info!("NF4 linears: {}", status.line()),
        KernelPath::Portable if gpu && mode != KernelMode::Portable => {
            tracing::warn!("NF4 linears: {}", status.line())
        }
        KernelPath::Portable => tracing::debug!("NF4 linears: {}", status.line()),
    }
    store(&status);
    status
}

/// Why the fused kernels are not even tried, when they are not.
fn skip_reason(
    mode: KernelMode,
    gpu: bool,
    layers: &[(String, &Nf4Weight)],
) -> Option<&'static str> {
    if mode == KernelMode::Portable {
        Some("forced by nf4_kernels = \"portable\"")
    } else if !gpu {
        Some(
            "MLX computes on the CPU here; the fused kernels are Metal kernels (their CPU \
             emulation serves tests and `bench nf4`)",
        )
    } else if layers.is_empty() {
        Some("the model has no NF4 layers")
    } else {
        None
    }
}

/// Deactivates the fused path and says why.
fn portable(
    mode: KernelMode,
    reason: String,
    runner: Option<String>,
    checks: Vec<LayerCheck>,
) -> KernelStatus {
    set_active(None);
    KernelStatus {
        path: KernelPath::Portable,
        mode,
        runner,
        reason,
        checks,
    }
}

/// Builds the runner and compares it with the portable path on every layer.
fn compare_layers(
    mode: KernelMode,
    make_runner: &dyn Fn() -> Result<Rc<dyn KernelRunner>, KernelError>,
    layers: &[(String, &Nf4Weight)],
    dtype: Dtype,
) -> KernelStatus {
    let runner = match make_runner() {
        Ok(r) => r,
        Err(e) => {
            return portable(
                mode,
                format!("the kernels could not be built: {e}"),
                None,
                Vec::new(),
            )
        }
    };
    let name = runner.name().to_string();
    let mut checks = Vec::new();
    for (layer, w) in layers {
        for (kernel, rows) in CHECK_ROWS {
            match compare(runner.as_ref(), layer, w, kernel, rows, dtype) {
                Ok(c) => checks.push(c),
                Err(e) => {
                    return portable(
                        mode,
                        format!("{} failed on {layer}: {e}", kernel.name()),
                        Some(name),
                        checks,
                    )
                }
            }
        }
    }
    let worst = checks
        .iter()
        .max_by(|a, b| a.relative().total_cmp(&b.relative()))
        .cloned();
    let tol = tolerance(dtype);
    match worst {
        Some(w) if !w.agrees && mode == KernelMode::Auto => portable(
            mode,
            format!(
                "{} disagreed with the portable path on {} ({} rows): relative difference \
                 {:.2e} > {tol:.0e}",
                w.kernel.name(),
                w.layer,
                w.rows,
                w.relative()
            ),
            Some(name),
            checks,
        ),
        worst => {
            let largest = worst.map(|w| w.relative()).unwrap_or(0.0);
            let reason = if mode == KernelMode::Fused && checks.iter().any(|c| !c.agrees) {
                format!(
                    "forced by nf4_kernels = \"fused\" although the check disagreed (largest \
                     relative difference {largest:.2e} > {tol:.0e})"
                )
            } else {
                format!(
                    "{name} kernels agree with the portable path on {} layers (largest \
                     relative difference {largest:.2e}, tolerance {tol:.0e})",
                    layers.len()
                )
            };
            set_active(Some(runner));
            KernelStatus {
                path: KernelPath::Fused,
                mode,
                runner: Some(name),
                reason,
                checks,
            }
        }
    }
}

/// The load-time decision for a model's NF4 layers, made once per process (again when this
/// thread lost its runner): on a GPU with the Metal runner, else recorded as portable.
pub fn check_at_load(layers: &[(String, &Nf4Weight)], dtype: Dtype) -> KernelStatus {
    if let Some(last) = last_status() {
        if last.path == KernelPath::Portable || super::is_active() {
            return last;
        }
    }
    let gpu = mlx::default_device() == mlx::Device::Gpu;
    let make = || -> Result<Rc<dyn KernelRunner>, KernelError> { Ok(Rc::new(MetalRunner::new()?)) };
    check_layers(configured_mode(), gpu, &make, layers, dtype)
}
