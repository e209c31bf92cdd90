//! The kernels on an Apple GPU, through MLX's `fast::metal_kernel`.

use std::collections::HashMap;

use super::{KernelError, KernelRunner, LaunchPlan, Nf4Kernel, COMMON_SOURCE};
use crate::mlx::metal::{Launch, MetalKernel, TemplateArg};
use crate::mlx::{Array, Dtype};
use crate::weights::{Absmax, Nf4Weight};

/// Input names of the two scale forms, in the order [`MetalRunner::run`] passes them.
const PLAIN_INPUTS: [&str; 4] = ["x", "packed", "absmax", "dims"];
const NESTED_INPUTS: [&str; 7] = ["x", "packed", "codes", "qmap", "qscales", "qoffset", "dims"];

/// The four kernels (matvec / matmul × plain / nested scales), built once. MLX compiles
/// each on its first call (and once per activation dtype), so a compilation error surfaces
/// from [`KernelRunner::run`].
pub struct MetalRunner {
    kernels: HashMap<(Nf4Kernel, bool), MetalKernel>,
}

impl MetalRunner {
    pub fn new() -> Result<MetalRunner, KernelError> {
        let mut kernels = HashMap::new();
        for kernel in [Nf4Kernel::MatVec, Nf4Kernel::MatMul] {
            for nested in [false, true] {
                let header = format!("#define NF4_NESTED {}\n{COMMON_SOURCE}", u8::from(nested));
                let inputs: &[&str] = if nested {
                    &NESTED_INPUTS
                } else {
                    &PLAIN_INPUTS
                };
                let name = format!("{}{}", kernel.name(), if nested { "_nested" } else { "" });
                let built =
                    MetalKernel::new(&name, inputs, &["y"], kernel.source(), &header, true, false)?;
                kernels.insert((kernel, nested), built);
            }
        }
        Ok(MetalRunner { kernels })
    }
}

impl KernelRunner for MetalRunner {
    fn name(&self) -> &str {
        "metal"
    }

    fn run(&self, kernel: Nf4Kernel, x: &Array, w: &Nf4Weight) -> Result<Array, KernelError> {
        let plan = LaunchPlan::new(kernel, x, w)?;
        let dims = Array::from_slice(&plan.dims, &[5])?;
        let nested = matches!(w.absmax(), Absmax::Nested { .. });
        let offset;
        let inputs: Vec<&Array> = match w.absmax() {
            Absmax::F32(absmax) => vec![x, w.packed(), absmax, &dims],
            Absmax::Nested {
                codes,
                scales,
                map,
                offset: o,
                ..
            } => {
                offset = Array::from_slice(&[*o], &[1])?;
                vec![x, w.packed(), codes, map, scales, &offset, &dims]
            }
        };
        let built = self
            .kernels
            .get(&(kernel, nested))
            .ok_or_else(|| KernelError::Kernel {
                kernel: kernel.name(),
                message: "not built".into(),
            })?;
        let dtype: Dtype = x.dtype();
        let out = built.call(&Launch {
            inputs: &inputs,
            output_shapes: &[vec![plan.rows, plan.n]],
            output_dtypes: &[dtype],
            grid: plan.grid,
            threadgroup: plan.tg,
            template: &[("T", TemplateArg::Dtype(dtype))],
            init_value: None,
        })?;
        out.into_iter().next().ok_or_else(|| KernelError::Kernel {
            kernel: kernel.name(),
            message: "no output".into(),
        })
    }
}
