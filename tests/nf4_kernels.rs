//! The fused NF4 kernels of `kernels/`, run on the CPU through their C++ emulation (the same
//! kernel text), against the host dequantiser followed by the kernels' order of additions:
//! bit for bit. Then the load-time check and fallback with injected runners.

use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;

use ideogram4::mlx::{Array, Dtype};
use ideogram4::model::linear::{Compute, Dequant, Linear};
use ideogram4::model::nf4_fused::{
    self, check_layers, reference, EmulatedRunner, KernelError, KernelMode, KernelPath,
    KernelRunner, Nf4Kernel,
};
use ideogram4::synthetic::nf4::random_nf4;
use ideogram4::weights::{Checkpoint, ComponentKind, Nf4Weight, Weight};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Deterministic activations in [-2, 2), rounded to `dtype`; returned as the array and as
/// the float32 values of that dtype.
fn activations(rows: usize, cols: usize, seed: u64, dtype: Dtype) -> (Array, Vec<f32>) {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let v: Vec<f32> = (0..rows * cols)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 22) as f32 - 2.0
        })
        .map(|v| reference::round_to(dtype, v))
        .collect();
    let a = Array::from_slice(&v, &[rows, cols])
        .unwrap()
        .astype(dtype)
        .unwrap();
    (a, v)
}

/// Runs `kernel` through the emulation and requires bit-identical output to the reference.
fn assert_exact(w: &Nf4Weight, kernel: Nf4Kernel, rows: usize, dtype: Dtype, what: &str) {
    let (n, k) = (w.shape()[0], w.shape()[1]);
    let (x, xv) = activations(rows, k, (rows * 31 + n) as u64, dtype);
    let got = EmulatedRunner.run(kernel, &x, w).unwrap();
    assert_eq!(got.shape(), vec![rows, n], "{what}");
    assert_eq!(got.dtype(), dtype, "{what}");
    let got = got.astype(Dtype::F32).unwrap().to_vec::<f32>().unwrap();
    let wv = w
        .dequantize_host(Dtype::F32)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let want = reference::product(kernel, dtype, &xv, &wv, rows, n, k);
    let differing = got
        .iter()
        .zip(&want)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert_eq!(
        differing,
        0,
        "{what}: {kernel:?} {dtype} rows={rows} [{n}, {k}]: {differing} of {} values differ \
         (first: {:?})",
        want.len(),
        got.iter()
            .zip(&want)
            .find(|(a, b)| a.to_bits() != b.to_bits())
    );
    // And the kernels compute the product (not just the reference's arithmetic): close to
    // the portable path's float32 result.
    if dtype == Dtype::F32 {
        let portable = x
            .matmul(&w.dequantize(Dtype::F32).unwrap().t().unwrap())
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        let scale = portable.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = got
            .iter()
            .zip(&portable)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            diff <= 1e-5 * scale.max(1.0),
            "{what}: {diff} vs scale {scale}"
        );
    }
}

fn nf4_weights(kind: ComponentKind) -> Vec<(String, Nf4Weight)> {
    let ckpt = Checkpoint::open(&fixtures().join("tiny-ideogram4-nf4")).unwrap();
    let component = ckpt.load_component(kind).unwrap();
    component
        .iter()
        .filter_map(|(name, w)| match w {
            Weight::Nf4(w) if w.shape().len() == 2 => Some((name.to_string(), w.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn tiny_checkpoint_layers_bit_exact() {
    let mut dit = nf4_weights(ComponentKind::Transformer);
    let te = nf4_weights(ComponentKind::TextEncoder);
    assert!(!dit.is_empty() && !te.is_empty());
    assert!(
        te.iter().any(|(_, w)| w.is_nested()),
        "the tiny text encoder is double-quantised: the nested variant must be covered"
    );
    dit.extend(te);
    let mut covered = 0;
    for (i, (name, w)) in dit.iter().enumerate() {
        // Every layer in float32; the half types on a few layers of each kind.
        let dtypes: &[Dtype] = if i < 2 || w.is_nested() && i % 4 == 0 {
            &[Dtype::F32, Dtype::Bf16, Dtype::F16]
        } else {
            &[Dtype::F32]
        };
        for &dtype in dtypes {
            assert_exact(w, Nf4Kernel::MatVec, 1, dtype, name);
            assert_exact(w, Nf4Kernel::MatVec, 8, dtype, name);
            assert_exact(w, Nf4Kernel::MatMul, 37, dtype, name);
            covered += 3;
        }
    }
    eprintln!("{} layers, {covered} launches bit-exact", dit.len());
}

#[test]
fn odd_shapes_and_ragged_threadgroups_bit_exact() {
    // Row lengths not a multiple of the block (blocks straddle rows, odd element offsets),
    // feature counts that leave the last threadgroup partly empty.
    for (i, &(n, k)) in [(77, 131), (9, 64), (33, 1), (1, 300), (40, 255)]
        .iter()
        .enumerate()
    {
        for nested in [false, true] {
            let w = random_nf4(n, k, nested, i as u64).unwrap();
            let what = format!("[{n}, {k}] nested={nested}");
            for dtype in [Dtype::F32, Dtype::Bf16] {
                for rows in [1, 3, 8] {
                    assert_exact(&w, Nf4Kernel::MatVec, rows, dtype, &what);
                }
                for rows in [9, 33, 64] {
                    assert_exact(&w, Nf4Kernel::MatMul, rows, dtype, &what);
                }
            }
        }
    }
}

#[test]
fn full_size_shapes_bit_exact() {
    // The DiT's attention (4608 → 4608) and feed-forward (4608 → 12288, 12288 → 4608) and
    // the text encoder's 4096-wide layers.
    let shapes = [(4608, 4608), (12288, 4608), (4608, 12288), (4096, 4096)];
    for (i, &(n, k)) in shapes.iter().enumerate() {
        let nested = i == 3;
        let w = random_nf4(n, k, nested, 100 + i as u64).unwrap();
        let what = format!("[{n}, {k}]");
        assert_exact(&w, Nf4Kernel::MatVec, 1, Dtype::Bf16, &what);
        assert_exact(&w, Nf4Kernel::MatVec, 5, Dtype::F32, &what);
    }
    // One many-row product of a full-size layer with a ragged last tile.
    let w = random_nf4(4608, 4608, false, 7).unwrap();
    assert_exact(&w, Nf4Kernel::MatMul, 35, Dtype::F32, "[4608, 4608] matmul");
}

/// Wraps a runner, counting calls and optionally corrupting or failing them.
struct Injected {
    inner: EmulatedRunner,
    calls: Cell<usize>,
    add: f64,
    fail_after: Option<usize>,
}

impl Injected {
    fn new(add: f64, fail_after: Option<usize>) -> Rc<Injected> {
        Rc::new(Injected {
            inner: EmulatedRunner,
            calls: Cell::new(0),
            add,
            fail_after,
        })
    }
}

impl KernelRunner for Injected {
    fn name(&self) -> &str {
        "injected"
    }
    fn run(&self, kernel: Nf4Kernel, x: &Array, w: &Nf4Weight) -> Result<Array, KernelError> {
        self.calls.set(self.calls.get() + 1);
        if self.fail_after.is_some_and(|n| self.calls.get() > n) {
            return Err(KernelError::Kernel {
                kernel: kernel.name(),
                message: "injected failure".into(),
            });
        }
        let y = self.inner.run(kernel, x, w)?;
        Ok(if self.add == 0.0 {
            y
        } else {
            y.add_scalar(self.add)?
        })
    }
}

fn layers() -> Vec<(String, Nf4Weight)> {
    vec![
        ("a".to_string(), random_nf4(48, 96, false, 1).unwrap()),
        ("b".to_string(), random_nf4(96, 48, true, 2).unwrap()),
    ]
}

fn refs(l: &[(String, Nf4Weight)]) -> Vec<(String, &Nf4Weight)> {
    l.iter().map(|(n, w)| (n.clone(), w)).collect()
}

/// A GPU-style linear (graph dequantisation) over `w`, f32.
fn linear(w: &Nf4Weight) -> Linear {
    let compute = Compute {
        dtype: Dtype::F32,
        dequant: Dequant::Graph,
    };
    Linear::new("probe", Weight::Nf4(w.clone()), None, compute).unwrap()
}

fn portable(w: &Nf4Weight, x: &Array) -> Vec<f32> {
    x.matmul(&w.dequantize(Dtype::F32).unwrap().t().unwrap())
        .unwrap()
        .to_vec::<f32>()
        .unwrap()
}

#[test]
fn agreeing_runner_is_activated_and_used_by_linear() {
    let l = layers();
    let runner = Injected::new(0.0, None);
    let r2 = runner.clone();
    let make = move || -> Result<Rc<dyn KernelRunner>, KernelError> { Ok(r2.clone()) };
    let status = check_layers(KernelMode::Auto, true, &make, &refs(&l), Dtype::F32);
    assert_eq!(status.path, KernelPath::Fused, "{}", status.line());
    assert_eq!(status.checks.len(), 4);
    assert!(status.checks.iter().all(|c| c.agrees));
    assert!(nf4_fused::is_active());
    let before = runner.calls.get();
    let (x, _) = activations(6, 96, 3, Dtype::F32);
    let x3 = x.reshape(&[2, 3, 96]).unwrap();
    let y = linear(&l[0].1).forward(&x3).unwrap();
    assert_eq!(y.shape(), vec![2, 3, 48]);
    assert_eq!(
        runner.calls.get(),
        before + 1,
        "Linear went through the runner"
    );
    let want = portable(&l[0].1, &x);
    let got = y.to_vec::<f32>().unwrap();
    let diff = got
        .iter()
        .zip(&want)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff < 1e-4, "{diff}");
    // The CPU configuration (host dequantisation) never takes the fused path.
    let cpu = Linear::new("cpu", Weight::Nf4(l[0].1.clone()), None, Compute::CPU).unwrap();
    cpu.forward(&x).unwrap();
    assert_eq!(runner.calls.get(), before + 1);
    let doctor_line = nf4_fused::last_status().unwrap().line();
    assert!(
        doctor_line.starts_with("fused Metal kernels: injected kernels agree"),
        "{doctor_line}"
    );
}

#[test]
fn wrong_values_fall_back_to_the_portable_path() {
    let l = layers();
    let runner = Injected::new(0.5, None);
    let r2 = runner.clone();
    let make = move || -> Result<Rc<dyn KernelRunner>, KernelError> { Ok(r2.clone()) };
    let status = check_layers(KernelMode::Auto, true, &make, &refs(&l), Dtype::F32);
    assert_eq!(status.path, KernelPath::Portable);
    assert!(
        status
            .reason
            .contains("disagreed with the portable path on"),
        "{}",
        status.reason
    );
    assert!(!nf4_fused::is_active());
    let calls = runner.calls.get();
    let (x, _) = activations(2, 96, 5, Dtype::F32);
    let y = linear(&l[0].1)
        .forward(&x)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(runner.calls.get(), calls, "the portable path took over");
    assert_eq!(y, portable(&l[0].1, &x));
    let line = nf4_fused::last_status().unwrap().line();
    assert!(line.starts_with("portable path"), "{line}");

    // Forcing the fused path uses the runner even though the check disagreed.
    let r3 = runner.clone();
    let make = move || -> Result<Rc<dyn KernelRunner>, KernelError> { Ok(r3.clone()) };
    let status = check_layers(KernelMode::Fused, true, &make, &refs(&l), Dtype::F32);
    assert_eq!(status.path, KernelPath::Fused);
    assert!(status.reason.contains("forced"), "{}", status.reason);
    // And forcing the portable path never builds a runner.
    let make = || -> Result<Rc<dyn KernelRunner>, KernelError> { panic!("must not be built") };
    let status = check_layers(KernelMode::Portable, true, &make, &refs(&l), Dtype::F32);
    assert_eq!(status.path, KernelPath::Portable);
    assert!(!nf4_fused::is_active());
}

#[test]
fn build_or_run_failures_fall_back() {
    let l = layers();
    let make = || -> Result<Rc<dyn KernelRunner>, KernelError> {
        Err(KernelError::Kernel {
            kernel: "nf4_matvec",
            message: "program_source:12: error: use of undeclared identifier".into(),
        })
    };
    let status = check_layers(KernelMode::Auto, true, &make, &refs(&l), Dtype::F32);
    assert_eq!(status.path, KernelPath::Portable);
    assert!(
        status.reason.contains("could not be built"),
        "{}",
        status.reason
    );
    assert!(
        status.reason.contains("undeclared identifier"),
        "{}",
        status.reason
    );

    let failing = Injected::new(0.0, Some(0));
    let make = move || -> Result<Rc<dyn KernelRunner>, KernelError> { Ok(failing.clone()) };
    let status = check_layers(KernelMode::Auto, true, &make, &refs(&l), Dtype::F32);
    assert_eq!(status.path, KernelPath::Portable);
    assert!(status.reason.contains("failed on a"), "{}", status.reason);

    // A runner that passes the check and fails later: the layer still answers (portable),
    // the runner is dropped and the status says why.
    let late = Injected::new(0.0, Some(4));
    let l2 = late.clone();
    let make = move || -> Result<Rc<dyn KernelRunner>, KernelError> { Ok(l2.clone()) };
    let status = check_layers(KernelMode::Auto, true, &make, &refs(&l), Dtype::F32);
    assert_eq!(status.path, KernelPath::Fused);
    let (x, _) = activations(2, 96, 9, Dtype::F32);
    let y = linear(&l[0].1)
        .forward(&x)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(y, portable(&l[0].1, &x));
    assert!(!nf4_fused::is_active());
    let last = nf4_fused::last_status().unwrap();
    assert_eq!(last.path, KernelPath::Portable);
    assert!(last.reason.contains("injected failure"), "{}", last.reason);
}

#[test]
fn without_a_gpu_the_portable_path_is_kept() {
    let l = layers();
    let make = || -> Result<Rc<dyn KernelRunner>, KernelError> { panic!("must not be built") };
    let status = check_layers(KernelMode::Auto, false, &make, &refs(&l), Dtype::F32);
    assert_eq!(status.path, KernelPath::Portable);
    assert!(status.reason.contains("CPU"), "{}", status.reason);
}

#[test]
fn fused_path_keeps_attached_adapters() {
    use ideogram4::model::adapter::{LinearDelta, ModuleDelta, ModuleFactors};
    let l = layers();
    let runner = Injected::new(0.0, None);
    let r2 = runner.clone();
    let make = move || -> Result<Rc<dyn KernelRunner>, KernelError> { Ok(r2.clone()) };
    let status = check_layers(KernelMode::Auto, true, &make, &refs(&l), Dtype::F32);
    assert_eq!(status.path, KernelPath::Fused);
    let (a, _) = activations(4, 96, 21, Dtype::F32);
    let (b, _) = activations(48, 4, 22, Dtype::F32);
    let delta = ModuleDelta {
        factors: ModuleFactors::LowRank { a, b },
        scale: 1.0,
    };
    let mut fused = linear(&l[0].1);
    fused.attach(LinearDelta::new(1, &delta, 0.5, Dtype::F32, None).unwrap());
    let mut cpu = Linear::new("cpu", Weight::Nf4(l[0].1.clone()), None, Compute::CPU).unwrap();
    cpu.attach(LinearDelta::new(1, &delta, 0.5, Dtype::F32, None).unwrap());
    let (x, _) = activations(3, 96, 23, Dtype::F32);
    let calls = runner.calls.get();
    let got = fused.forward(&x).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(runner.calls.get(), calls + 1, "the fused path ran");
    let want = cpu.forward(&x).unwrap().to_vec::<f32>().unwrap();
    let base = portable(&l[0].1, &x);
    let diff = got
        .iter()
        .zip(&want)
        .fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
    let adapter_size = want
        .iter()
        .zip(&base)
        .fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
    assert!(
        adapter_size > 0.1,
        "the adapter changes the output ({adapter_size})"
    );
    assert!(diff < 1e-4, "fused + adapter vs portable + adapter: {diff}");
}
