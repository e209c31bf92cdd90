//! The three official sampler presets (`sampler_configs.py`).
//!
//! Each guidance schedule is a run of "polish" steps at 3.0 at the start of the list (loop
//! index 0 = the final executed step) followed by 7.0 for every other step. The full lists
//! are checked against `data/presets.json` in `tests/sampler_golden.rs`.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::SamplerError;

/// A named official preset. Serialises as its official name, e.g. `"V4_QUALITY_48"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Preset {
    /// 48 steps, mu 0.0, std 1.5; last 3 steps at guidance 3.0, the rest 7.0.
    /// The official CLI default.
    #[serde(rename = "V4_QUALITY_48")]
    Quality48,
    /// 20 steps, mu 0.0, std 1.75; last 2 steps at guidance 3.0, the rest 7.0.
    #[serde(rename = "V4_DEFAULT_20")]
    Default20,
    /// 12 steps, mu 0.5, std 1.75; last step at guidance 3.0, the rest 7.0.
    #[serde(rename = "V4_TURBO_12")]
    Turbo12,
    /// TurboTime LoRA (§7.3): 8 steps, mu 0.5, std 1.75, guidance 1 at every step, so the
    /// unconditional DiT is never run nor loaded. Needs [`Preset::required_adapter`].
    #[serde(rename = "V4_TURBOTIME_8")]
    TurboTime8,
    /// TurboTime LoRA, 4 steps.
    #[serde(rename = "V4_TURBOTIME_4")]
    TurboTime4,
    /// TurboTime LoRA, 2 steps.
    #[serde(rename = "V4_TURBOTIME_2")]
    TurboTime2,
}

struct PresetSpec {
    name: &'static str,
    num_steps: usize,
    mu: f64,
    std: f64,
    /// Number of final steps (loop indices `0..polish_steps`) at [`POLISH_GUIDANCE`].
    polish_steps: usize,
    /// Guidance of the other steps ([`MAIN_GUIDANCE`], or 1 for TurboTime).
    main_guidance: f32,
}

const POLISH_GUIDANCE: f32 = 3.0;
const MAIN_GUIDANCE: f32 = 7.0;

impl Preset {
    /// All presets, in the order the UI lists them (slowest/best first).
    pub const ALL: [Preset; 3] = [Preset::Quality48, Preset::Default20, Preset::Turbo12];

    /// The TurboTime presets (community LoRA, not official), fastest last.
    pub const TURBOTIME: [Preset; 3] = [Preset::TurboTime8, Preset::TurboTime4, Preset::TurboTime2];

    /// Every preset, official first: what lists and pickers show.
    pub const EVERY: [Preset; 6] = [
        Preset::Quality48,
        Preset::Default20,
        Preset::Turbo12,
        Preset::TurboTime8,
        Preset::TurboTime4,
        Preset::TurboTime2,
    ];

    /// The adapter repository a preset cannot run without (`owner/name`, file).
    pub fn required_adapter(self) -> Option<(&'static str, &'static str)> {
        match self {
            Preset::TurboTime8 | Preset::TurboTime4 | Preset::TurboTime2 => Some((
                crate::model::adapter::TURBOTIME_REPO,
                crate::model::adapter::TURBOTIME_FILE,
            )),
            _ => None,
        }
    }

    /// The preset the official `run_inference.py` (and our CLI) uses by default.
    pub const DEFAULT: Preset = Preset::Quality48;

    fn spec(self) -> PresetSpec {
        match self {
            Preset::Quality48 => PresetSpec {
                name: "V4_QUALITY_48",
                num_steps: 48,
                mu: 0.0,
                std: 1.5,
                polish_steps: 3,
                main_guidance: MAIN_GUIDANCE,
            },
            Preset::Default20 => PresetSpec {
                name: "V4_DEFAULT_20",
                num_steps: 20,
                mu: 0.0,
                std: 1.75,
                polish_steps: 2,
                main_guidance: MAIN_GUIDANCE,
            },
            Preset::Turbo12 => PresetSpec {
                name: "V4_TURBO_12",
                num_steps: 12,
                mu: 0.5,
                std: 1.75,
                polish_steps: 1,
                main_guidance: MAIN_GUIDANCE,
            },
            Preset::TurboTime8 => turbotime("V4_TURBOTIME_8", 8),
            Preset::TurboTime4 => turbotime("V4_TURBOTIME_4", 4),
            Preset::TurboTime2 => turbotime("V4_TURBOTIME_2", 2),
        }
    }

    /// The official name, e.g. `"V4_TURBO_12"`.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Number of sampling steps.
    pub fn num_steps(self) -> usize {
        self.spec().num_steps
    }

    /// The pipeline's `mu` (before the resolution shift).
    pub fn mu(self) -> f64 {
        self.spec().mu
    }

    /// The logit-normal standard deviation.
    pub fn std(self) -> f64 {
        self.spec().std
    }

    /// Per-step guidance in **loop-index order** (index 0 = the last executed step).
    pub fn guidance_schedule(self) -> Vec<f32> {
        let spec = self.spec();
        (0..spec.num_steps)
            .map(|i| {
                if i < spec.polish_steps {
                    POLISH_GUIDANCE
                } else {
                    spec.main_guidance
                }
            })
            .collect()
    }
}

/// sglang's `V4_TURBOTIME_LORA_{2,4,8}`: mu 0.5, std 1.75, guidance 1 at every step.
fn turbotime(name: &'static str, num_steps: usize) -> PresetSpec {
    PresetSpec {
        name,
        num_steps,
        mu: 0.5,
        std: 1.75,
        polish_steps: 0,
        main_guidance: 1.0,
    }
}

display_as_name!(Preset);

impl FromStr for Preset {
    type Err = SamplerError;

    /// Accepts the official names case-insensitively (`v4_turbo_12` works too).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Preset::EVERY
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| SamplerError::UnknownPreset(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Preset::EVERY {
            assert_eq!(p.name().parse::<Preset>().unwrap(), p);
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.name())
            );
        }
        assert_eq!("v4_turbo_12".parse::<Preset>().unwrap(), Preset::Turbo12);
        for (p, steps) in Preset::TURBOTIME.into_iter().zip([8, 4, 2]) {
            assert_eq!(p.num_steps(), steps);
            assert_eq!(p.guidance_schedule(), vec![1.0; steps]);
            assert_eq!((p.mu(), p.std()), (0.5, 1.75));
            assert!(p.required_adapter().is_some());
        }
        assert!(Preset::ALL.iter().all(|p| p.required_adapter().is_none()));
        let err = "V4_FAST".parse::<Preset>().unwrap_err().to_string();
        assert!(
            err.contains("V4_FAST") && err.contains("V4_QUALITY_48"),
            "{err}"
        );
    }
}
