//! The Euler flow-matching loop with asymmetric classifier-free guidance (architecture §6.3).
//!
//! For every step in execution order (loop index `i = N−1 … 0`, `t = s[i+1]`):
//!
//! ```text
//! v_pos = cond  (concat(0[B,T,C], z), t, full sequence, text conditioning)[:, T:]
//! v_neg = uncond(z, t, image-only sequence, no text)
//! v     = g_i·v_pos + (1 − g_i)·v_neg                 (float32, g_i in loop-index order)
//! z     = z + v·delta_f32                              (delta = s[i] − s[i+1] rounded to f32)
//! ```
//!
//! A step whose guidance is 1 (`|g − 1| < 1e-6`) skips the unconditional forward:
//! `v = v_pos` exactly. The unconditional branch is either the unconditional DiT or, with
//! the unconditional LoRA, the conditional DiT with that adapter switched on ([`Uncond`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::{PipelineError, Result};
use crate::mlx::{self, Array, Dtype};
use crate::model::dit::{Dit, DitSequence, TextConditioning};
use crate::sampler::{is_guidance_one, Step};

/// What runs the unconditional branch.
#[derive(Clone, Copy)]
pub enum Uncond<'a> {
    /// The unconditional transformer.
    Dit(&'a Dit),
    /// The conditional transformer with its unconditional-pass adapters on (§7.3).
    CondPass,
    /// Nothing: every step has guidance 1 (asking for it is an error).
    Skipped,
}

/// The two transformers and the per-job sequences they run on.
pub struct Denoiser<'a> {
    pub cond: &'a Dit,
    pub uncond: Uncond<'a>,
    /// The full packed sequence `[text | image]` of the conditional branch.
    pub cond_seq: &'a DitSequence,
    /// The image-only sequence of the unconditional branch (built by whichever DiT runs it).
    pub uncond_seq: &'a DitSequence,
    /// The job's projected text features (computed once).
    pub text: &'a TextConditioning,
}

/// What one executed step saw and produced (borrowed; copy what you keep).
pub struct StepReport<'a> {
    /// 0-based position in execution order.
    pub position: usize,
    pub step: &'a Step,
    /// The latent entering the step.
    pub z_in: &'a Array,
    pub v_cond: &'a Array,
    /// `None` when the step's guidance is 1 and the unconditional forward was skipped.
    pub v_uncond: Option<&'a Array>,
    /// The latent after the Euler update (evaluated).
    pub z_out: &'a Array,
    /// Wall time of the step, including evaluation.
    pub seconds: f64,
}

impl Denoiser<'_> {
    /// One guided Euler step from `z` (`[B, N, C]` float32).
    pub fn step(&self, z: &Array, step: &Step) -> Result<(Array, Array, Option<Array>)> {
        let b = self.cond_seq.batch();
        let t = vec![step.t; b];
        let text_len = self.cond_seq.text_len();
        let x_cond = if text_len == 0 {
            z.clone()
        } else {
            let c = z.dim(-1)?;
            let pad = mlx::zeros(&[b, text_len, c], Dtype::F32)?;
            mlx::concatenate(&[&pad, z], 1)?
        };
        let v_cond = self
            .cond
            .velocity(&x_cond, &t, self.cond_seq, Some(self.text))?;
        if is_guidance_one(step.guidance) {
            // v = g·v_pos + (1 − g)·v_neg = v_pos: the unconditional forward is not run.
            let z_next = z.add(&v_cond.mul_scalar(f64::from(step.delta))?)?;
            mlx::eval(&[&z_next, &v_cond])?;
            return Ok((z_next, v_cond, None));
        }
        let v_uncond = match self.uncond {
            Uncond::Dit(dit) => dit.velocity(z, &t, self.uncond_seq, None)?,
            Uncond::CondPass => self
                .cond
                .velocity_unconditional_pass(z, &t, self.uncond_seq)?,
            Uncond::Skipped => {
                return Err(PipelineError::Source(format!(
                    "step {} has guidance {} but no unconditional branch was prepared",
                    step.index, step.guidance
                )))
            }
        };
        let g = f64::from(step.guidance);
        let one_minus_g = f64::from(1.0f32 - step.guidance);
        let v = v_cond
            .mul_scalar(g)?
            .add(&v_uncond.mul_scalar(one_minus_g)?)?;
        // `mul_scalar` casts the scalar to the latent's dtype: delta is applied as f32.
        let z_next = z.add(&v.mul_scalar(f64::from(step.delta))?)?;
        mlx::eval(&[&z_next, &v_cond, &v_uncond])?;
        Ok((z_next, v_cond, Some(v_uncond)))
    }

    /// Runs `steps` (execution order) from `z0`, reporting each step; `cancel` is checked
    /// before every step.
    pub fn run(
        &self,
        z0: Array,
        steps: &[Step],
        cancel: &AtomicBool,
        report: &mut dyn FnMut(StepReport<'_>),
    ) -> Result<Array> {
        self.run_merged(z0, steps, cancel, &mut |_, z| Ok(z), report)
    }

    /// [`Denoiser::run`] with `merge` applied to each step's result before it is reported
    /// and stepped from (image to image puts its kept tokens back there). A step's
    /// `seconds` do not include `merge`.
    pub fn run_merged(
        &self,
        z0: Array,
        steps: &[Step],
        cancel: &AtomicBool,
        merge: &mut dyn FnMut(&Step, Array) -> Result<Array>,
        report: &mut dyn FnMut(StepReport<'_>),
    ) -> Result<Array> {
        let mut z = z0.astype(Dtype::F32)?;
        for (position, step) in steps.iter().enumerate() {
            if cancel.load(Ordering::Relaxed) {
                return Err(PipelineError::Cancelled);
            }
            let started = Instant::now();
            let (stepped, v_cond, v_uncond) = self.step(&z, step)?;
            let seconds = started.elapsed().as_secs_f64();
            let z_next = merge(step, stepped)?;
            report(StepReport {
                position,
                step,
                z_in: &z,
                v_cond: &v_cond,
                v_uncond: v_uncond.as_ref(),
                z_out: &z_next,
                seconds,
            });
            z = z_next;
        }
        Ok(z)
    }
}
