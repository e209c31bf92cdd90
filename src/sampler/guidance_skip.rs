//! Guidance truncation (`--cfg-end`, formats §7.5) and the guidance-1 test that lets a step
//! skip the unconditional forward.

use super::schedule::Step;
use super::SamplerError;

/// A step whose guidance is within this of 1 runs the conditional DiT only:
/// `v = g·v_pos + (1 − g)·v_neg = v_pos`.
pub const GUIDANCE_ONE_TOLERANCE: f32 = 1e-6;

/// Whether a step can skip the unconditional forward.
pub fn is_guidance_one(g: f32) -> bool {
    (g - 1.0).abs() < GUIDANCE_ONE_TOLERANCE
}

/// The number of leading (execution-order) steps that keep their guidance:
/// `max(1, round_half_even(cfg_end · steps))`, or `steps` without `cfg_end`.
pub fn cfg_cutoff(steps: usize, cfg_end: Option<f64>) -> usize {
    match cfg_end {
        None => steps,
        Some(f) => ((f * steps as f64).round_ties_even() as usize).clamp(1, steps.max(1)),
    }
}

/// `cfg_end` must lie in `(0, 1]`.
pub fn validate_cfg_end(cfg_end: f64) -> Result<(), SamplerError> {
    if cfg_end.is_finite() && cfg_end > 0.0 && cfg_end <= 1.0 {
        Ok(())
    } else {
        Err(SamplerError::NotFinite {
            what: "cfg_end (must be in (0, 1])",
            value: cfg_end,
        })
    }
}

/// Sets guidance 1.0 on every execution step at or after the cutoff.
pub fn apply_cfg_end(steps: &mut [Step], cfg_end: Option<f64>) {
    let cutoff = cfg_cutoff(steps.len(), cfg_end);
    for step in steps.iter_mut().skip(cutoff) {
        step.guidance = 1.0;
    }
}

/// Forward passes of a plan: one per step, plus one per step whose guidance is not 1.
pub fn dit_passes(steps: &[Step]) -> usize {
    steps
        .iter()
        .map(|s| if is_guidance_one(s.guidance) { 1 } else { 2 })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::{ImageSize, Preset, SamplerParams};

    #[test]
    fn cutoffs_round_half_to_even() {
        assert_eq!(cfg_cutoff(20, None), 20);
        assert_eq!(cfg_cutoff(5, Some(0.5)), 2); // 2.5 → 2 (half to even)
        assert_eq!(cfg_cutoff(3, Some(0.5)), 2); // 1.5 → 2
        assert_eq!(cfg_cutoff(10, Some(0.25)), 2); // 2.5 → 2
        assert_eq!(cfg_cutoff(10, Some(0.75)), 8); // 7.5 → 8
        assert_eq!(cfg_cutoff(25, Some(0.6)), 15);
        assert_eq!(cfg_cutoff(12, Some(0.01)), 1); // max(1, 0)
        assert_eq!(cfg_cutoff(12, Some(1.0)), 12);
    }

    #[test]
    fn truncation_keeps_the_preset_guidance_before_the_cutoff() {
        // V4_TURBO_12 in execution order: eleven 7.0 then one 3.0.
        let size = ImageSize::new(512, 512);
        let mut plan = SamplerParams::Preset(Preset::Turbo12)
            .schedule(size)
            .unwrap();
        apply_cfg_end(&mut plan.steps, Some(0.5));
        let g: Vec<f32> = plan.steps.iter().map(|s| s.guidance).collect();
        let mut want = vec![7.0; 6];
        want.extend([1.0; 6]);
        assert_eq!(g, want);
        assert_eq!(dit_passes(&plan.steps), 6 * 2 + 6);

        // 20 steps × 0.3 = 6: steps 0..6 guided (7.0), the rest 1.0 — the polish steps too.
        let mut plan = SamplerParams::Preset(Preset::Default20)
            .schedule(size)
            .unwrap();
        apply_cfg_end(&mut plan.steps, Some(0.3));
        let guided: Vec<usize> = plan
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| !is_guidance_one(s.guidance))
            .map(|(k, _)| k)
            .collect();
        assert_eq!(guided, (0..6).collect::<Vec<_>>());
        assert!(validate_cfg_end(0.0).is_err() && validate_cfg_end(1.5).is_err());
        assert!(validate_cfg_end(0.6).is_ok());
    }
}
