//! `ideogram4-tui doctor`: is MLX usable here, and how fast will it be?

use std::process::ExitCode;

use ideogram4::mlx::{self, blas, blas_kernel, device, Array, Dtype};

use super::logs::LogSetup;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Run the NF4 kernels' load-time check with a stand-in runner instead of the GPU's
    /// (shows the check and its fallback on any machine).
    #[arg(long, value_enum, hide = true)]
    nf4_check_with: Option<super::nf4::CheckWith>,
}

struct Report {
    lines: Vec<(String, String)>,
    problems: Vec<String>,
    notes: Vec<String>,
    /// Works, but slower than it should: printed, without failing the exit status.
    warnings: Vec<String>,
}

impl Report {
    fn line(&mut self, key: &str, value: impl Into<String>) {
        self.lines.push((key.to_string(), value.into()));
    }
}

pub fn run(args: Args, log: &LogSetup) -> anyhow::Result<ExitCode> {
    let mut r = Report {
        lines: Vec::new(),
        problems: Vec::new(),
        notes: Vec::new(),
        warnings: Vec::new(),
    };

    let version = device::version();
    let pinned = env!("IDEOGRAM4_MLX_PINNED");
    r.line("mlx version", &version);
    if !version.starts_with(pinned) {
        r.notes.push(format!(
            "MLX {version} differs from the tested {pinned}; report problems with both versions"
        ));
    }
    let (dir, how) = mlx::build_info();
    r.line("mlx location", format!("{dir} (found by {how})"));
    if !std::path::Path::new(dir).exists() {
        r.problems.push(format!(
            "MLX was linked from {dir}, which no longer exists: run scripts/setup and rebuild"
        ));
    }
    r.line("default device", device::default_device().to_string());
    r.line(
        "gpu",
        if device::gpu_available() {
            "available (Metal)"
        } else {
            "not available: running on CPU"
        },
    );

    match blas::sgemm_provider() {
        Some(path) => {
            let kind = blas::provider_kind(&path);
            r.line("blas", format!("{kind} ({path})"));
            if kind.starts_with("reference") {
                r.problems.push(
                    "cblas_sgemm comes from the wheel's reference BLAS (~30x slower): install \
                     libopenblas-dev (scripts/setup) and rebuild"
                        .to_string(),
                );
            }
        }
        None if cfg!(target_os = "macos") => r.line("blas", "Accelerate (through libmlx)"),
        None => r
            .problems
            .push("no cblas_sgemm is loaded: MLX's CPU matmul cannot work".into()),
    }
    if let Some(core) = blas_kernel::corename() {
        let how = match blas_kernel::choice() {
            blas_kernel::Choice::Automatic => "chosen by this program for the AVX-512 CPU",
            blas_kernel::Choice::User => "from OPENBLAS_CORETYPE",
            blas_kernel::Choice::OpenBlas => "OpenBLAS's own choice",
        };
        r.line("blas kernel", format!("{core} ({how})"));
        if let Some(config) = blas_kernel::config() {
            r.line("openblas build", config);
        }
        let avx512 = blas_kernel::cpu_has_avx512();
        r.line("cpu avx-512", if avx512 { "yes" } else { "no" });
        if avx512 && !blas_kernel::is_avx512_kernel(&core) {
            r.warnings.push(format!(
                "OpenBLAS runs its {core} kernels on this AVX-512 CPU, about half the sgemm \
                 speed of SkylakeX: unset OPENBLAS_CORETYPE (this program then picks \
                 SKYLAKEX itself) or set OPENBLAS_CORETYPE=SKYLAKEX"
            ));
        }
    }

    let mut sys = sysinfo::System::new();
    sys.refresh_memory();
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    r.line(
        "memory",
        format!(
            "{:.1} GiB total, {:.1} GiB available, swap {:.1}/{:.1} GiB used",
            gib(sys.total_memory()),
            gib(sys.available_memory()),
            gib(sys.used_swap()),
            gib(sys.total_swap())
        ),
    );
    r.line(
        "mlx memory limit",
        format!("{:.1} GiB", gib(mlx::memory::memory_limit() as u64)),
    );

    match round_trip() {
        Ok(detail) => r.line("round trip", detail),
        Err(e) => r.problems.push(format!("MLX round trip failed: {e}")),
    }
    match super::nf4::doctor_lines(args.nf4_check_with) {
        Ok(d) => {
            for (k, v) in d.lines {
                r.line(&k, v);
            }
            r.notes.extend(d.notes);
        }
        Err(e) => r.problems.push(format!("NF4 kernel check failed: {e:#}")),
    }
    r.line("log file", log.describe());

    if args.json {
        let mut obj = serde_json::Map::new();
        for (k, v) in &r.lines {
            obj.insert(k.replace(' ', "_"), serde_json::Value::String(v.clone()));
        }
        obj.insert("problems".into(), serde_json::json!(r.problems));
        obj.insert("notes".into(), serde_json::json!(r.notes));
        obj.insert("warnings".into(), serde_json::json!(r.warnings));
        println!("{}", serde_json::Value::Object(obj));
    } else {
        let width = r.lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in &r.lines {
            println!("{k:>width$}  {v}");
        }
        for n in &r.notes {
            println!("note: {n}");
        }
        for w in &r.warnings {
            println!("warning: {w}");
        }
        for p in &r.problems {
            println!("problem: {p}");
        }
        if r.problems.is_empty() {
            println!("ok: MLX works on this machine");
        }
    }
    Ok(if r.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A small matmul and a bf16 conversion, checked against host arithmetic.
fn round_trip() -> anyhow::Result<String> {
    let (m, k, n) = (3usize, 5usize, 4usize);
    let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
    let got = Array::from_slice(&a, &[m, k])?
        .matmul(&Array::from_slice(&b, &[k, n])?)?
        .to_vec::<f32>()?;
    let mut max_err = 0f32;
    for i in 0..m {
        for j in 0..n {
            let want: f32 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            max_err = max_err.max((want - got[i * n + j]).abs());
        }
    }
    anyhow::ensure!(
        max_err < 1e-5,
        "3x5 @ 5x4 matmul differs from the host result by {max_err}"
    );
    let vals = [1.0f32, -2.5, 3.140625, 65504.0];
    let back = Array::from_slice(&vals, &[4])?
        .astype(Dtype::Bf16)?
        .to_f32_vec()?;
    for (v, w) in vals.iter().zip(&back) {
        let want = half::bf16::from_f32(*v).to_f32();
        anyhow::ensure!(
            want == *w,
            "bf16 round trip of {v} gave {w}, expected {want}"
        );
    }
    Ok(format!("ok (matmul max error {max_err:.1e}, bf16 exact)"))
}
