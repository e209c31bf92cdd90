//! The fused NF4 kernels at the command line: the `nf4_kernels` setting, `doctor`'s lines
//! and `bench nf4`.

use std::rc::Rc;
use std::time::Instant;

use ideogram4::mlx::{self, Array, Device, Dtype};
use ideogram4::model::nf4_fused::{
    self, check_layers, KernelError, KernelMode, KernelPath, KernelRunner, MetalRunner, Nf4Kernel,
};
use ideogram4::synthetic::nf4::random_nf4;
use ideogram4::weights::Nf4Weight;

/// Applies `nf4_kernels` from config.toml unless `IDEOGRAM4_NF4_KERNELS` is set (the
/// environment wins, so one run can try the other path). A bad value is reported and ignored.
pub fn apply_config() {
    if std::env::var_os(nf4_fused::check::MODE_ENV).is_some() {
        return;
    }
    let Some(dirs) = ideogram4::tui::config::Dirs::standard() else {
        return;
    };
    let Ok(text) = std::fs::read_to_string(dirs.config_file()) else {
        return;
    };
    let Ok(table) = toml::from_str::<toml::Table>(&text) else {
        return; // the commands that read config.toml report a broken file themselves
    };
    if let Some(value) = table.get("nf4_kernels").and_then(|v| v.as_str()) {
        match value.parse::<KernelMode>() {
            Ok(mode) => nf4_fused::set_mode(mode),
            Err(e) => {
                tracing::warn!("{}: {e}", dirs.config_file().display());
                eprintln!("warning: {}: {e}; using auto", dirs.config_file().display());
            }
        }
    }
}

/// A runner standing in for the GPU in `doctor --nf4-check-with` (the load-time check and its
/// fallback, shown without a Mac).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckWith {
    /// The kernels' CPU emulation (agrees: the fused path is chosen).
    Emulation,
    /// The emulation with every output shifted by 1 (disagrees: the portable path stays).
    Wrong,
    /// A runner that fails to build (the portable path stays).
    Broken,
}

struct Shifted;

impl KernelRunner for Shifted {
    fn name(&self) -> &str {
        "shifted emulation"
    }
    fn run(&self, kernel: Nf4Kernel, x: &Array, w: &Nf4Weight) -> Result<Array, KernelError> {
        Ok(emulated(kernel, x, w)?.add_scalar(1.0)?)
    }
}

#[cfg(target_os = "linux")]
fn emulated(kernel: Nf4Kernel, x: &Array, w: &Nf4Weight) -> Result<Array, KernelError> {
    nf4_fused::EmulatedRunner.run(kernel, x, w)
}

#[cfg(not(target_os = "linux"))]
fn emulated(kernel: Nf4Kernel, _x: &Array, _w: &Nf4Weight) -> Result<Array, KernelError> {
    Err(KernelError::Kernel {
        kernel: kernel.name(),
        message: "the CPU emulation of the kernels is built on Linux only".into(),
    })
}

struct Emulated;

impl KernelRunner for Emulated {
    fn name(&self) -> &str {
        "cpu emulation"
    }
    fn run(&self, kernel: Nf4Kernel, x: &Array, w: &Nf4Weight) -> Result<Array, KernelError> {
        emulated(kernel, x, w)
    }
}

fn make_runner(with: Option<CheckWith>) -> Result<Rc<dyn KernelRunner>, KernelError> {
    match with {
        None => Ok(Rc::new(MetalRunner::new()?)),
        Some(CheckWith::Emulation) => Ok(Rc::new(Emulated)),
        Some(CheckWith::Wrong) => Ok(Rc::new(Shifted)),
        Some(CheckWith::Broken) => Err(KernelError::Kernel {
            kernel: "nf4_matvec",
            message: "compilation failed (injected by --nf4-check-with broken)".into(),
        }),
    }
}

/// `doctor` lines (key, value) and notes.
pub struct DoctorLines {
    pub lines: Vec<(String, String)>,
    pub notes: Vec<String>,
}

/// `doctor`'s lines: the path NF4 layers take here and why, after the same check a model
/// load runs (on random layers of the DiT's shapes on a GPU, small ones otherwise).
pub fn doctor_lines(with: Option<CheckWith>) -> anyhow::Result<DoctorLines> {
    let mode = nf4_fused::configured_mode();
    let gpu = mlx::default_device() == Device::Gpu;
    let (shapes, dtype): (&[(usize, usize)], Dtype) = if gpu && with.is_none() {
        (&[(4608, 4608), (12288, 4608), (4608, 12288)], Dtype::Bf16)
    } else {
        (&[(96, 200), (200, 96)], Dtype::F32)
    };
    let weights = shapes
        .iter()
        .enumerate()
        .map(|(i, &(n, k))| {
            Ok((
                format!("random [{n}, {k}]"),
                random_nf4(n, k, i == 1, i as u64)?,
            ))
        })
        .collect::<mlx::Result<Vec<_>>>()?;
    let layers: Vec<(String, &Nf4Weight)> = weights.iter().map(|(n, w)| (n.clone(), w)).collect();
    let make = || make_runner(with);
    let status = check_layers(mode, gpu || with.is_some(), &make, &layers, dtype);
    let mut lines = vec![(
        "nf4 kernels".to_string(),
        format!("{} [nf4_kernels = {}]", status.line(), mode.name()),
    )];
    let mut notes = Vec::new();
    if status.path == KernelPath::Portable
        && (gpu || with.is_some())
        && mode != KernelMode::Portable
    {
        notes.push(format!(
            "the fused NF4 kernels are not used: {} (the portable path is correct, only slower)",
            status.reason
        ));
    }
    nf4_fused::set_active(None);
    if cfg!(target_os = "linux") {
        lines.push(("nf4 kernel emulation".to_string(), emulation_self_check()));
    }
    Ok(DoctorLines { lines, notes })
}

/// Runs both kernels' CPU emulation on a small random layer against the host reference.
fn emulation_self_check() -> String {
    let run = || -> anyhow::Result<String> {
        let (n, k) = (77, 131);
        let w = random_nf4(n, k, false, 3)?;
        let wv = w.dequantize_host(Dtype::F32)?.to_vec::<f32>()?;
        let mut differing = 0;
        let mut total = 0;
        for (kernel, rows) in [(Nf4Kernel::MatVec, 3), (Nf4Kernel::MatMul, 37)] {
            let xv: Vec<f32> = (0..rows * k)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
                .collect();
            let x = Array::from_slice(&xv, &[rows, k])?;
            let got = emulated(kernel, &x, &w)?.to_vec::<f32>()?;
            let want = nf4_fused::reference::product(kernel, Dtype::F32, &xv, &wv, rows, n, k);
            differing += got
                .iter()
                .zip(&want)
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            total += want.len();
        }
        anyhow::ensure!(
            differing == 0,
            "{differing} of {total} values differ from the host reference"
        );
        Ok(format!(
            "bit-exact with the host reference ({total} outputs of nf4_matvec and nf4_matmul, the GPU's kernel text run on the CPU)"
        ))
    };
    run().unwrap_or_else(|e| format!("FAILED: {e:#}"))
}

/// `bench nf4`: the fused kernels against the portable path (expand, then multiply) for the
/// DiT's and text encoder's layer shapes, at several token counts, in one run.
pub fn bench(
    tokens: Vec<usize>,
    runs: usize,
    json: bool,
) -> anyhow::Result<std::process::ExitCode> {
    let gpu = mlx::default_device() == Device::Gpu;
    let dtype = if gpu { Dtype::Bf16 } else { Dtype::F32 };
    // (name, out, in): DiT attention / feed-forward, text encoder attention / MLP.
    let all: [(&str, usize, usize); 5] = [
        ("dit attention.qkv", 13824, 4608),
        ("dit feed_forward.w1", 12288, 4608),
        ("dit feed_forward.w2", 4608, 12288),
        ("text q_proj", 4096, 4096),
        ("text mlp.down_proj", 4096, 12288),
    ];
    // The emulation runs every GPU thread as a fiber: on the CPU only a smoke check of the
    // smallest shapes at the given token counts.
    let shapes: Vec<_> = if gpu { all.to_vec() } else { vec![all[3]] };
    let tokens = if tokens.is_empty() {
        if gpu {
            vec![1, 8, 77, 512, 4096]
        } else {
            vec![1, 8, 40]
        }
    } else {
        tokens
    };
    let runner: Rc<dyn KernelRunner> = if gpu {
        Rc::new(MetalRunner::new()?)
    } else {
        Rc::new(Emulated)
    };
    let mut rows_out = Vec::new();
    for (name, n, k) in &shapes {
        let w = random_nf4(*n, *k, false, 11)?;
        for &m in &tokens {
            let x = ideogram4::mlx::random::normal(
                &[m, *k],
                dtype,
                0.0,
                1.0,
                &ideogram4::mlx::random::key(m as u64)?,
            )?;
            x.eval()?;
            let kernel = Nf4Kernel::for_rows(m);
            let time = |f: &dyn Fn() -> anyhow::Result<Array>| -> anyhow::Result<(f64, Array)> {
                let y = f()?; // warm-up (and kernel compilation on the GPU)
                y.eval()?;
                let mut times = Vec::new();
                let mut last = y;
                for _ in 0..runs.max(1) {
                    let t = Instant::now();
                    let y = f()?;
                    y.eval()?;
                    times.push(t.elapsed().as_secs_f64());
                    last = y;
                }
                times.sort_by(f64::total_cmp);
                Ok((times[times.len() / 2], last))
            };
            let (fused_s, yf) = time(&|| Ok(runner.run(kernel, &x, &w)?))?;
            let (portable_s, yp) = time(&|| Ok(x.matmul(&w.dequantize(dtype)?.t()?)?))?;
            let (a, b) = (yf.to_f32_vec()?, yp.to_f32_vec()?);
            let diff = a
                .iter()
                .zip(&b)
                .fold(0f32, |m, (p, q)| m.max((p - q).abs()));
            rows_out.push(serde_json::json!({
                "layer": name, "out": n, "in": k, "tokens": m, "kernel": kernel.name(),
                "fused_seconds": fused_s, "portable_seconds": portable_s,
                "speedup": portable_s / fused_s, "max_abs_diff": diff,
            }));
            if !json {
                println!(
                    "{name:<20} [{n:>5}, {k:>5}] x {m:>4} tokens  {}: {:>9.3} ms  portable: {:>9.3} ms  speedup {:>6.2}  max|Δ| {diff:.2e}",
                    kernel.name(), fused_s * 1e3, portable_s * 1e3, portable_s / fused_s
                );
            }
        }
    }
    let out = serde_json::json!({
        "gpu": gpu,
        "runner": runner.name(),
        "dtype": dtype.name(),
        "note": if gpu { "fused Metal kernels vs expand-then-multiply on the GPU" } else {
            "no GPU here: the fused column times the CPU emulation of the Metal kernels (a smoke check, not a speed figure)"
        },
        "runs": runs,
        "results": rows_out,
    });
    if json {
        println!("{out}");
    } else if !gpu {
        println!("no GPU: the fused column is the CPU emulation of the Metal kernels (a smoke check, not a speed figure)");
    }
    Ok(std::process::ExitCode::SUCCESS)
}
