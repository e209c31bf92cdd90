//! The logit-normal noise schedule and the loop-ordered step list.
//!
//! Time direction (the reference code, not its docs, is authoritative): `t ≈ 0` is pure noise,
//! `t ≈ 1` is clean data. `s[k] = schedule(u_k)` over `u = linspace(0, 1, N+1)` *decreases* in
//! `k`: `s[0] = t_max ≈ 0.99945`, `s[N] = t_min ≈ 1.234e-4`. The sampling loop runs
//! `i = N-1 … 0` with `t = s[i+1]`, `t_next = s[i]`, so the first executed step starts at
//! `t_min` and the times fed to the model increase towards 1.

use serde::{Deserialize, Serialize};

use super::ndtri::ndtri;

/// Reference resolution of the resolution-aware mean (512×512 pixels).
pub const REFERENCE_PIXELS: f64 = 512.0 * 512.0;

/// Default log-SNR bounds of the reference `LogitNormalSchedule`.
pub const LOGSNR_MIN: f64 = -15.0;
/// See [`LOGSNR_MIN`].
pub const LOGSNR_MAX: f64 = 18.0;

/// `μ` of the resolution-aware schedule: `known_mean + 0.5·ln(W·H / 512²)`.
///
/// This is the official `get_schedule_for_resolution` (the pipeline passes its `mu` argument as
/// `known_mean`), computed with the same f64 operations so the result is bit-identical
/// (1024×1024 with `mu = 0` gives exactly `ln 2 = 0.6931471805599453`).
pub fn resolution_mean(width: u32, height: u32, known_mean: f64) -> f64 {
    let num_pixels = f64::from(width) * f64::from(height);
    known_mean + 0.5 * (num_pixels / REFERENCE_PIXELS).ln()
}

/// `1 / (1 + e^(x/2))`: the flow time at which the log-SNR equals `x`.
fn time_for_logsnr(logsnr: f64) -> f64 {
    1.0 / (1.0 + (0.5 * logsnr).exp())
}

/// The reference `LogitNormalSchedule`: maps `u ∈ [0, 1]` to a flow time, in f64.
///
/// `τ(u) = clamp(1 − expit(mean + std·Φ⁻¹(u)), t_min, t_max)`, returned as f32 by
/// [`LogitNormalSchedule::at`]. `u = 0` hits `t_max`, `u = 1` hits `t_min`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LogitNormalSchedule {
    /// Logit-normal mean, already resolution-adjusted when it came from
    /// [`LogitNormalSchedule::for_resolution`].
    pub mean: f64,
    /// Logit-normal standard deviation (> 0).
    pub std: f64,
    /// Lower log-SNR bound; sets `t_max`.
    pub logsnr_min: f64,
    /// Upper log-SNR bound; sets `t_min`.
    pub logsnr_max: f64,
}

impl LogitNormalSchedule {
    /// A schedule with the reference log-SNR bounds (−15, 18) and no resolution shift.
    ///
    /// This is what the pipeline uses when it is handed an explicit schedule object (the
    /// `pipeline_e2e_custom3` golden passes `LogitNormalSchedule(mean=0.25, std=1.3)`).
    pub fn new(mean: f64, std: f64) -> Self {
        Self {
            mean,
            std,
            logsnr_min: LOGSNR_MIN,
            logsnr_max: LOGSNR_MAX,
        }
    }

    /// The resolution-aware schedule the pipeline builds from its `mu`/`std` arguments.
    pub fn for_resolution(width: u32, height: u32, known_mean: f64, std: f64) -> Self {
        Self::new(resolution_mean(width, height, known_mean), std)
    }

    /// Smallest flow time (first executed step), `1/(1+e^(logsnr_max/2))`, f64.
    pub fn t_min(&self) -> f64 {
        time_for_logsnr(self.logsnr_max)
    }

    /// Largest flow time (end of the last step), `1/(1+e^(logsnr_min/2))`, f64.
    pub fn t_max(&self) -> f64 {
        time_for_logsnr(self.logsnr_min)
    }

    /// The schedule in f64, clamped, before the final f32 cast.
    pub fn at_f64(&self, u: f64) -> f64 {
        let z = ndtri(u);
        let y = self.mean + self.std * z;
        let expit = 1.0 / (1.0 + (-y).exp());
        let tau = 1.0 - expit;
        // torch.clamp(min, max) = min(max(x, lo), hi), and passes NaN through.
        if tau.is_nan() {
            return tau;
        }
        tau.max(self.t_min()).min(self.t_max())
    }

    /// The schedule as the reference returns it: f64 internally, cast to f32.
    pub fn at(&self, u: f32) -> f32 {
        self.at_f64(f64::from(u)) as f32
    }

    /// `s[k] = schedule(u_k)` for `u = step_intervals(num_steps)`, `k = 0..=num_steps`.
    pub fn sigmas(&self, num_steps: usize) -> Vec<f32> {
        step_intervals(num_steps)
            .into_iter()
            .map(|u| self.at(u))
            .collect()
    }
}

/// `torch.linspace(0, 1, num_steps + 1, dtype=float32)` as the golden fixtures record it,
/// bit for bit.
///
/// PyTorch does not return the correctly rounded `k/N`: it computes `step = 1/N` in f32 and
/// fills the first half as `step·k` and the second half as `1 − step·(N − k)`, counting from
/// the nearer end. The goldens (made with the reference on a CUDA device, where the compiler
/// contracts that expression) round `1 − step·(N − k)` once, as a fused multiply-add; a
/// separately rounded product differs in the last bit at a few points (e.g. `k = 35` of 48).
/// For `num_steps = 0` this returns `[0.0]`.
pub fn step_intervals(num_steps: usize) -> Vec<f32> {
    if num_steps == 0 {
        return vec![0.0];
    }
    let steps = num_steps + 1;
    let step = 1.0f32 / num_steps as f32;
    let halfway = steps / 2;
    (0..steps)
        .map(|idx| {
            if idx < halfway {
                // start (0) + step·idx: one rounding with or without fusion.
                step * idx as f32
            } else {
                (-step).mul_add((steps - idx - 1) as f32, 1.0)
            }
        })
        .collect()
}

/// One iteration of the sampling loop, in the order it executes.
///
/// Golden files (`golden/schedule.json`) name these fields `i`, `t`, `s`, `delta_f32`,
/// `guidance`; here `s` is called `t_next`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Loop index `i` (`N-1` for the first executed step, `0` for the last).
    pub index: usize,
    /// Time fed to both DiTs: `s[i+1]`.
    pub t: f32,
    /// Time after the Euler update: `s[i]` (> `t`).
    pub t_next: f32,
    /// `t_next − t` as the reference applies it: the difference of the two f32 values taken
    /// in f64 (a Python float) and rounded to f32 when multiplied into the f32 latent.
    pub delta: f32,
    /// CFG weight `g` of this step (`guidance_schedule[i]`, loop-index order):
    /// `v = g·v_cond + (1 − g)·v_uncond`.
    pub guidance: f32,
}

impl Step {
    /// `t_next − t` before the f32 rounding (the golden's `delta`).
    pub fn delta_f64(&self) -> f64 {
        f64::from(self.t_next) - f64::from(self.t)
    }

    /// 0-based position of this step in execution order, given the total step count.
    pub fn execution_position(&self, num_steps: usize) -> usize {
        num_steps - 1 - self.index
    }
}

/// A fully resolved sampling plan: the schedule values and the steps in execution order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// The logit-normal schedule the values came from (mean already resolution-adjusted).
    pub schedule: LogitNormalSchedule,
    /// `u_k`, `k = 0..=N` (PyTorch's f32 linspace).
    pub intervals: Vec<f32>,
    /// `s[k] = schedule(u_k)`, `k = 0..=N`; decreasing from `t_max` to `t_min`.
    pub sigmas: Vec<f32>,
    /// The `N` steps in execution order (loop index `N-1` first, `0` last).
    pub steps: Vec<Step>,
}

impl Schedule {
    /// Build the plan from a schedule and a guidance schedule in **loop-index order**
    /// (index 0 = the last executed step). The step count is `guidance.len()`.
    ///
    /// The caller is responsible for validating the guidance values (see
    /// [`super::SamplerParams::validate`]); this function only computes.
    pub fn new(schedule: LogitNormalSchedule, guidance_loop_order: &[f32]) -> Self {
        let num_steps = guidance_loop_order.len();
        let intervals = step_intervals(num_steps);
        let sigmas: Vec<f32> = intervals.iter().map(|&u| schedule.at(u)).collect();
        let steps = (0..num_steps)
            .rev()
            .map(|i| {
                let t = sigmas[i + 1];
                let t_next = sigmas[i];
                Step {
                    index: i,
                    t,
                    t_next,
                    delta: (f64::from(t_next) - f64::from(t)) as f32,
                    guidance: guidance_loop_order[i],
                }
            })
            .collect();
        Self {
            schedule,
            intervals,
            sigmas,
            steps,
        }
    }

    /// Number of steps `N`.
    pub fn num_steps(&self) -> usize {
        self.steps.len()
    }

    /// The guidance weights in sampling order (first executed step first), for display.
    pub fn guidance_in_sampling_order(&self) -> Vec<f32> {
        self.steps.iter().map(|s| s.guidance).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_are_the_reference_constants() {
        let s = LogitNormalSchedule::new(0.0, 1.0);
        // 1/(1+e^9) and 1/(1+e^-7.5), as in the spec.
        assert!((s.t_min() - 1.233_945_759_862_317_2e-4).abs() < 1e-19);
        assert!((s.t_max() - 0.999_447_221_363_076_4).abs() < 1e-15);
        assert_eq!(s.at(0.0), s.t_max() as f32);
        assert_eq!(s.at(1.0), s.t_min() as f32);
    }

    #[test]
    fn schedule_decreases_in_u() {
        let s = LogitNormalSchedule::for_resolution(1024, 1024, 0.5, 1.75);
        let sig = s.sigmas(64);
        for w in sig.windows(2) {
            assert!(w[0] > w[1], "{w:?}");
        }
    }

    #[test]
    fn linspace_endpoints_and_symmetry() {
        for n in 1..200 {
            let u = step_intervals(n);
            assert_eq!(u.len(), n + 1);
            assert_eq!(u[0], 0.0);
            assert_eq!(u[n], 1.0);
            for k in 0..n {
                assert!(u[k] < u[k + 1]);
            }
        }
        assert_eq!(step_intervals(0), vec![0.0]);
    }

    #[test]
    fn resolution_mean_examples() {
        assert_eq!(resolution_mean(512, 512, 0.0), 0.0);
        assert_eq!(resolution_mean(1024, 1024, 0.0), std::f64::consts::LN_2);
        assert_eq!(
            resolution_mean(1024, 1024, 0.5),
            0.5 + std::f64::consts::LN_2
        );
    }

    #[test]
    fn steps_run_from_noise_to_data() {
        let plan = Schedule::new(LogitNormalSchedule::new(0.0, 1.5), &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(plan.num_steps(), 4);
        let idx: Vec<usize> = plan.steps.iter().map(|s| s.index).collect();
        assert_eq!(idx, vec![3, 2, 1, 0]);
        assert_eq!(plan.guidance_in_sampling_order(), vec![4.0, 3.0, 2.0, 1.0]);
        assert_eq!(plan.steps[0].t, plan.sigmas[4]);
        assert_eq!(plan.steps[3].t_next, plan.sigmas[0]);
        for (pos, s) in plan.steps.iter().enumerate() {
            assert!(s.delta > 0.0);
            assert_eq!(s.execution_position(4), pos);
        }
        for w in plan.steps.windows(2) {
            assert_eq!(w[0].t_next, w[1].t);
        }
    }
}
