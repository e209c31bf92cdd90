//! The kernels' Metal text compiled as C++ over `csrc/metal_emu/metal_emu.h` and run on
//! the CPU, every thread of the same launch the GPU would run (Linux builds).

use std::ffi::{c_char, c_int, c_void};

use super::{KernelError, KernelRunner, LaunchPlan, Nf4Kernel};
use crate::mlx::{Array, Dtype};
use crate::weights::{Absmax, Nf4Weight};

extern "C" {
    fn metal_emu_nf4(
        kernel: c_int,
        dtype: c_int,
        nested: c_int,
        x: *const c_void,
        packed: *const u8,
        absmax: *const f32,
        codes: *const u8,
        qmap: *const f32,
        qscales: *const f32,
        qoffset: *const f32,
        dims: *const u32,
        y: *mut c_void,
        grid: *const u32,
        tg: *const u32,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
}

/// Runs the kernels through the CPU emulation: slow, exact, for tests and smoke checks.
#[derive(Debug, Default, Clone, Copy)]
pub struct EmulatedRunner;

fn host<T: crate::mlx::Element + Copy>(a: &Array) -> Result<Vec<T>, KernelError> {
    Ok(a.to_vec::<T>()?)
}

impl KernelRunner for EmulatedRunner {
    fn name(&self) -> &str {
        "cpu emulation"
    }

    fn run(&self, kernel: Nf4Kernel, x: &Array, w: &Nf4Weight) -> Result<Array, KernelError> {
        let plan = LaunchPlan::new(kernel, x, w)?;
        let to32 = |v: usize| {
            u32::try_from(v).map_err(|_| KernelError::Kernel {
                kernel: kernel.name(),
                message: format!("launch extent {v} exceeds 32 bits"),
            })
        };
        let (g, t) = (plan.grid, plan.tg);
        let grid = [to32(g.0)?, to32(g.1)?, to32(g.2)?];
        let tg = [to32(t.0)?, to32(t.1)?, to32(t.2)?];
        let dtype = x.dtype();
        let dtype_code = match dtype {
            Dtype::F32 => 0,
            Dtype::Bf16 => 1,
            _ => 2,
        };
        let xb = x.to_bytes()?;
        let packed = host::<u8>(w.packed())?;
        let (absmax, codes, qmap, qscales, qoffset) = match w.absmax() {
            Absmax::F32(a) => (host::<f32>(a)?, vec![], vec![], vec![], vec![]),
            Absmax::Nested {
                codes,
                scales,
                map,
                offset,
                ..
            } => (
                vec![],
                host::<u8>(codes)?,
                host::<f32>(map)?,
                host::<f32>(scales)?,
                vec![*offset],
            ),
        };
        let nested = matches!(w.absmax(), Absmax::Nested { .. });
        let mut status = 0;
        let mut err = vec![0 as c_char; 512];
        let y = Array::from_fn_bytes(&[plan.rows, plan.n], dtype, |out| {
            // SAFETY: every pointer covers the buffer the kernel indexes: `dims` were derived
            // from the same weight whose packed codes and scales are passed (their sizes were
            // validated by Nf4Weight::new), x holds rows × K elements of `dtype`, and `out`
            // is the rows × N output. Unused scale pointers of the other form are never read.
            status = unsafe {
                metal_emu_nf4(
                    kernel as c_int,
                    dtype_code,
                    c_int::from(nested),
                    xb.as_ptr().cast(),
                    packed.as_ptr(),
                    absmax.as_ptr(),
                    codes.as_ptr(),
                    qmap.as_ptr(),
                    qscales.as_ptr(),
                    qoffset.as_ptr(),
                    plan.dims.as_ptr(),
                    out.as_mut_ptr().cast(),
                    grid.as_ptr(),
                    tg.as_ptr(),
                    err.as_mut_ptr(),
                    err.len(),
                )
            };
        })?;
        if status != 0 {
            // SAFETY: the C side wrote a NUL-terminated message (snprintf) into `err`.
            let message = unsafe { std::ffi::CStr::from_ptr(err.as_ptr()) }
                .to_string_lossy()
                .into_owned();
            return Err(KernelError::Kernel {
                kernel: kernel.name(),
                message,
            });
        }
        Ok(y)
    }
}
