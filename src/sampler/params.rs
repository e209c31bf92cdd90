//! User-facing sampler parameters: a preset or a custom {steps, mu, std, guidance}.

use serde::{Deserialize, Serialize};

use super::presets::Preset;
use super::schedule::{LogitNormalSchedule, Schedule};
use super::size::ImageSize;
use super::SamplerError;

/// Upper bound on the step count. The reference has none; this only keeps a typo
/// (`--steps 4800`) from queueing a job that would run for days.
pub const MAX_STEPS: usize = 1000;

/// Classifier-free guidance: one weight for every step, or one per step.
///
/// Serialises untagged: a number (`7.0`) or an array in **loop-index order**
/// (`[3.0, 7.0, …]`, index 0 = the last executed step, like `data/presets.json` and the
/// official `guidance_schedule` argument).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Guidance {
    /// The same weight for every step (the official `guidance_scale`, default 7.0).
    Constant(f32),
    /// One weight per step, loop-index order (index 0 = last executed step).
    Schedule(Vec<f32>),
}

impl Guidance {
    /// The per-step weights in loop-index order for `steps` steps.
    ///
    /// For a [`Guidance::Schedule`] whose length differs from `steps` this returns the list
    /// unchanged; [`SamplerParams::validate`] reports that case.
    pub fn loop_order(&self, steps: usize) -> Vec<f32> {
        match self {
            Guidance::Constant(g) => vec![*g; steps],
            Guidance::Schedule(list) => list.clone(),
        }
    }

    /// The per-step weights in sampling order (first executed step first), for display.
    pub fn sampling_order(&self, steps: usize) -> Vec<f32> {
        loop_to_sampling_order(&self.loop_order(steps))
    }
}

/// Custom sampler settings, with the official pipeline's meaning for each field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomSampler {
    /// Number of sampling steps (1 ..= [`MAX_STEPS`]).
    pub steps: usize,
    /// The pipeline's `mu`: the schedule mean at 512×512; the resolution shift
    /// `0.5·ln(W·H/512²)` is added to it (official default 0.5).
    pub mu: f64,
    /// Logit-normal standard deviation, > 0 (official default 1.0).
    pub std: f64,
    /// Guidance weight(s).
    pub guidance: Guidance,
}

impl Default for CustomSampler {
    /// The official `Ideogram4Pipeline.__call__` defaults except the step count (128 there;
    /// 48 here, the quality preset's count, so that a fresh Custom is not 2.5× slower).
    fn default() -> Self {
        Self {
            steps: 48,
            mu: 0.5,
            std: 1.0,
            guidance: Guidance::Constant(7.0),
        }
    }
}

/// What the sampler should do: an official preset or custom settings.
///
/// Serialised form (used in output `parameters` records and persisted UI state):
/// `{"preset": "V4_TURBO_12"}` or
/// `{"preset": "custom", "steps": 3, "mu": 0.25, "std": 1.3, "guidance": [2.5, 4.0, 6.0]}`
/// (`guidance` may also be a single number). Deserialising validates, so a hand-edited record
/// with a wrong-length schedule is rejected with the same message as the CLI gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ParamsWire", into = "ParamsWire")]
pub enum SamplerParams {
    /// One of the official presets.
    Preset(Preset),
    /// Custom settings.
    Custom(CustomSampler),
}

impl Default for SamplerParams {
    fn default() -> Self {
        SamplerParams::Preset(Preset::DEFAULT)
    }
}

impl From<Preset> for SamplerParams {
    fn from(p: Preset) -> Self {
        SamplerParams::Preset(p)
    }
}

impl SamplerParams {
    /// Custom settings, validated.
    pub fn custom(
        steps: usize,
        mu: f64,
        std: f64,
        guidance: Guidance,
    ) -> Result<Self, SamplerError> {
        let params = SamplerParams::Custom(CustomSampler {
            steps,
            mu,
            std,
            guidance,
        });
        params.validate()?;
        Ok(params)
    }

    /// The preset, if this is one.
    pub fn preset(&self) -> Option<Preset> {
        match self {
            SamplerParams::Preset(p) => Some(*p),
            SamplerParams::Custom(_) => None,
        }
    }

    /// Display label: the preset's official name or `"custom"` (also the `{preset}`
    /// placeholder of output file names).
    pub fn label(&self) -> &'static str {
        match self {
            SamplerParams::Preset(p) => p.name(),
            SamplerParams::Custom(_) => "custom",
        }
    }

    /// Number of steps.
    pub fn steps(&self) -> usize {
        match self {
            SamplerParams::Preset(p) => p.num_steps(),
            SamplerParams::Custom(c) => c.steps,
        }
    }

    /// The pipeline's `mu` (before the resolution shift).
    pub fn mu(&self) -> f64 {
        match self {
            SamplerParams::Preset(p) => p.mu(),
            SamplerParams::Custom(c) => c.mu,
        }
    }

    /// The logit-normal standard deviation.
    pub fn std(&self) -> f64 {
        match self {
            SamplerParams::Preset(p) => p.std(),
            SamplerParams::Custom(c) => c.std,
        }
    }

    /// Guidance per step in loop-index order (index 0 = last executed step).
    pub fn guidance_loop_order(&self) -> Vec<f32> {
        match self {
            SamplerParams::Preset(p) => p.guidance_schedule(),
            SamplerParams::Custom(c) => c.guidance.loop_order(c.steps),
        }
    }

    /// Guidance per step in sampling order (first executed step first), for the UI.
    pub fn guidance_sampling_order(&self) -> Vec<f32> {
        loop_to_sampling_order(&self.guidance_loop_order())
    }

    /// The same settings as an editable [`CustomSampler`] (what the UI shows when the user
    /// switches from a preset to Custom: the preset's values, unlocked).
    pub fn to_custom(&self) -> CustomSampler {
        match self {
            SamplerParams::Preset(p) => CustomSampler {
                steps: p.num_steps(),
                mu: p.mu(),
                std: p.std(),
                guidance: Guidance::Schedule(p.guidance_schedule()),
            },
            SamplerParams::Custom(c) => c.clone(),
        }
    }

    /// Check the settings. Presets are always valid.
    ///
    /// Rules: `1 ≤ steps ≤ MAX_STEPS`; `mu` finite; `std` finite and > 0; every guidance weight
    /// finite; a guidance schedule has exactly `steps` entries.
    pub fn validate(&self) -> Result<(), SamplerError> {
        let c = match self {
            SamplerParams::Preset(_) => return Ok(()),
            SamplerParams::Custom(c) => c,
        };
        if c.steps == 0 {
            return Err(SamplerError::ZeroSteps);
        }
        if c.steps > MAX_STEPS {
            return Err(SamplerError::TooManySteps {
                steps: c.steps,
                max: MAX_STEPS,
            });
        }
        if !c.mu.is_finite() {
            return Err(SamplerError::NotFinite {
                what: "mu",
                value: c.mu,
            });
        }
        if !c.std.is_finite() {
            return Err(SamplerError::NotFinite {
                what: "std",
                value: c.std,
            });
        }
        if c.std <= 0.0 {
            return Err(SamplerError::NonPositiveStd(c.std));
        }
        match &c.guidance {
            Guidance::Constant(g) => {
                if !g.is_finite() {
                    return Err(SamplerError::NotFinite {
                        what: "guidance",
                        value: f64::from(*g),
                    });
                }
            }
            Guidance::Schedule(list) => {
                if list.len() != c.steps {
                    return Err(SamplerError::GuidanceLength {
                        len: list.len(),
                        steps: c.steps,
                    });
                }
                if let Some((index, g)) = list.iter().enumerate().find(|(_, g)| !g.is_finite()) {
                    return Err(SamplerError::GuidanceNotFinite {
                        index,
                        value: f64::from(*g),
                    });
                }
            }
        }
        Ok(())
    }

    /// The resolution-aware logit-normal schedule for an image size.
    pub fn logit_normal(&self, size: ImageSize) -> LogitNormalSchedule {
        LogitNormalSchedule::for_resolution(size.width, size.height, self.mu(), self.std())
    }

    /// Validate and build the full sampling plan for an image size.
    ///
    /// The size itself is not checked here (the limits depend on the model; see
    /// [`super::validate_size`]).
    pub fn schedule(&self, size: ImageSize) -> Result<Schedule, SamplerError> {
        self.validate()?;
        Ok(Schedule::new(
            self.logit_normal(size),
            &self.guidance_loop_order(),
        ))
    }
}

/// Reverse a loop-index-order list (index 0 = last executed step) into sampling order
/// (first executed step first). The operation is its own inverse.
pub fn loop_to_sampling_order(loop_order: &[f32]) -> Vec<f32> {
    loop_order.iter().rev().copied().collect()
}

/// Reverse a sampling-order list (first executed step first) into loop-index order, the
/// order of `--guidance-schedule` and `data/presets.json`.
pub fn sampling_to_loop_order(sampling_order: &[f32]) -> Vec<f32> {
    sampling_order.iter().rev().copied().collect()
}

/// Parse a comma-separated guidance list as `--guidance-schedule` takes it
/// (`"3,7,7"`; whitespace around entries is ignored). The order is kept as written; for the
/// CLI that is loop-index order.
pub fn parse_guidance_list(text: &str) -> Result<Vec<f32>, SamplerError> {
    if text.trim().is_empty() {
        return Err(SamplerError::EmptyGuidanceList);
    }
    text.split(',')
        .enumerate()
        .map(|(index, item)| {
            let item = item.trim();
            let value: f32 = item.parse().map_err(|_| SamplerError::BadGuidanceEntry {
                index,
                text: item.to_string(),
            })?;
            if value.is_finite() {
                Ok(value)
            } else {
                Err(SamplerError::GuidanceNotFinite {
                    index,
                    value: f64::from(value),
                })
            }
        })
        .collect()
}

/// On-disk form of [`SamplerParams`]; see its docs.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamsWire {
    preset: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    steps: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mu: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    std: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    guidance: Option<Guidance>,
}

const CUSTOM_LABEL: &str = "custom";

impl From<SamplerParams> for ParamsWire {
    fn from(p: SamplerParams) -> Self {
        match p {
            SamplerParams::Preset(p) => ParamsWire {
                preset: p.name().to_string(),
                steps: None,
                mu: None,
                std: None,
                guidance: None,
            },
            SamplerParams::Custom(c) => ParamsWire {
                preset: CUSTOM_LABEL.to_string(),
                steps: Some(c.steps),
                mu: Some(c.mu),
                std: Some(c.std),
                guidance: Some(c.guidance),
            },
        }
    }
}

impl TryFrom<ParamsWire> for SamplerParams {
    type Error = SamplerError;

    fn try_from(w: ParamsWire) -> Result<Self, Self::Error> {
        if !w.preset.eq_ignore_ascii_case(CUSTOM_LABEL) {
            let preset: Preset = w.preset.parse()?;
            if w.steps.is_some() || w.mu.is_some() || w.std.is_some() || w.guidance.is_some() {
                return Err(SamplerError::PresetWithOverrides(preset));
            }
            return Ok(SamplerParams::Preset(preset));
        }
        let missing = |field: &'static str| SamplerError::MissingField(field);
        let params = SamplerParams::Custom(CustomSampler {
            steps: w.steps.ok_or_else(|| missing("steps"))?,
            mu: w.mu.ok_or_else(|| missing("mu"))?,
            std: w.std.ok_or_else(|| missing("std"))?,
            guidance: w.guidance.ok_or_else(|| missing("guidance"))?,
        });
        params.validate()?;
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(steps: usize, mu: f64, std: f64, guidance: Guidance) -> SamplerParams {
        SamplerParams::Custom(CustomSampler {
            steps,
            mu,
            std,
            guidance,
        })
    }

    #[test]
    fn validation_messages() {
        let cases: Vec<(SamplerParams, &str)> = vec![
            (custom(0, 0.5, 1.0, Guidance::Constant(7.0)), "at least 1"),
            (
                custom(5000, 0.5, 1.0, Guidance::Constant(7.0)),
                "at most 1000",
            ),
            (
                custom(4, 0.5, 0.0, Guidance::Constant(7.0)),
                "std must be > 0",
            ),
            (
                custom(4, 0.5, -1.0, Guidance::Constant(7.0)),
                "std must be > 0",
            ),
            (
                custom(4, f64::NAN, 1.0, Guidance::Constant(7.0)),
                "mu must be a finite",
            ),
            (
                custom(4, 0.5, f64::INFINITY, Guidance::Constant(7.0)),
                "std must be a finite",
            ),
            (
                custom(4, 0.5, 1.0, Guidance::Constant(f32::NAN)),
                "guidance must be a finite",
            ),
            (
                custom(4, 0.5, 1.0, Guidance::Schedule(vec![3.0, 7.0, 7.0])),
                "guidance schedule has 3 entries but steps is 4",
            ),
            (
                custom(2, 0.5, 1.0, Guidance::Schedule(vec![3.0, f32::INFINITY])),
                "guidance schedule entry 1",
            ),
        ];
        for (params, want) in cases {
            let err = params.validate().expect_err(want).to_string();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
        custom(3, 0.25, 1.3, Guidance::Schedule(vec![2.5, 4.0, 6.0]))
            .validate()
            .unwrap();
        for p in Preset::ALL {
            SamplerParams::Preset(p).validate().unwrap();
        }
    }

    #[test]
    fn serde_forms() {
        let p = SamplerParams::Preset(Preset::Turbo12);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"preset":"V4_TURBO_12"}"#);
        assert_eq!(serde_json::from_str::<SamplerParams>(&json).unwrap(), p);

        let c = custom(3, 0.25, 1.3, Guidance::Schedule(vec![2.5, 4.0, 6.0]));
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"preset":"custom","steps":3,"mu":0.25,"std":1.3,"guidance":[2.5,4.0,6.0]}"#
        );
        assert_eq!(serde_json::from_str::<SamplerParams>(&json).unwrap(), c);

        let k = custom(20, 0.5, 1.0, Guidance::Constant(5.5));
        let json = serde_json::to_string(&k).unwrap();
        assert_eq!(serde_json::from_str::<SamplerParams>(&json).unwrap(), k);
    }

    #[test]
    fn serde_rejects_invalid_records() {
        let bad = [
            (
                r#"{"preset":"custom","steps":3,"mu":0.25,"std":1.3,"guidance":[1,2]}"#,
                "2 entries",
            ),
            (
                r#"{"preset":"custom","steps":3,"mu":0.25,"guidance":7}"#,
                "need `std`",
            ),
            (r#"{"preset":"V4_SLOW"}"#, "unknown preset"),
            (r#"{"preset":"V4_TURBO_12","steps":4}"#, "cannot be changed"),
            (
                r#"{"preset":"custom","steps":3,"mu":0.25,"std":-1,"guidance":7}"#,
                "std must be > 0",
            ),
        ];
        for (json, want) in bad {
            let err = serde_json::from_str::<SamplerParams>(json)
                .expect_err(json)
                .to_string();
            assert!(
                err.contains(want),
                "{json}: {err:?} should contain {want:?}"
            );
        }
    }

    #[test]
    fn order_conversions() {
        let loop_order = Preset::Default20.guidance_schedule();
        let sampling = loop_to_sampling_order(&loop_order);
        assert_eq!(sampling.first(), Some(&7.0));
        assert_eq!(&sampling[18..], &[3.0, 3.0]);
        assert_eq!(sampling_to_loop_order(&sampling), loop_order);
        assert_eq!(
            SamplerParams::Preset(Preset::Default20).guidance_sampling_order(),
            sampling
        );
        assert_eq!(
            Guidance::Schedule(vec![1.0, 2.0, 3.0]).sampling_order(3),
            vec![3.0, 2.0, 1.0]
        );
        assert_eq!(Guidance::Constant(4.0).loop_order(2), vec![4.0, 4.0]);
    }

    #[test]
    fn to_custom_keeps_the_preset_values() {
        let p = SamplerParams::Preset(Preset::Turbo12);
        let c = SamplerParams::Custom(p.to_custom());
        assert_eq!(c.steps(), 12);
        assert_eq!(c.mu(), 0.5);
        assert_eq!(c.std(), 1.75);
        assert_eq!(c.guidance_loop_order(), p.guidance_loop_order());
        let size = ImageSize::new(1024, 768);
        assert_eq!(c.schedule(size).unwrap(), p.schedule(size).unwrap());
        assert_eq!(c.label(), "custom");
        assert_eq!(p.label(), "V4_TURBO_12");
    }

    #[test]
    fn guidance_list_parsing() {
        assert_eq!(
            parse_guidance_list("3, 7,7.5").unwrap(),
            vec![3.0, 7.0, 7.5]
        );
        let err = parse_guidance_list("3,x,7").unwrap_err().to_string();
        assert!(err.contains("entry 1") && err.contains("\"x\""), "{err}");
        assert!(parse_guidance_list("  ").is_err());
        assert!(parse_guidance_list("3,,7").is_err());
        assert!(parse_guidance_list("3,inf").is_err());
    }
}
