//! The parameters form: preset or Custom sampler settings, size, seed, model.

use crate::engine::ModelSpec;
use crate::sampler::{
    loop_to_sampling_order, sampling_to_loop_order, validate_size, CustomSampler, Guidance,
    ImageSize, Preset, SamplerParams, SizeLimits, PIXELS_PER_TOKEN,
};

use super::action::PresetChoice;

/// The form's rows, top to bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Preset,
    Steps,
    Mu,
    Std,
    Guidance,
    Width,
    Height,
    Aspect,
    Seed,
    SeedLock,
    Model,
}

impl Field {
    pub const ALL: [Field; 11] = [
        Field::Preset,
        Field::Steps,
        Field::Mu,
        Field::Std,
        Field::Guidance,
        Field::Width,
        Field::Height,
        Field::Aspect,
        Field::Seed,
        Field::SeedLock,
        Field::Model,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Field::Preset => "preset",
            Field::Steps => "steps",
            Field::Mu => "mu",
            Field::Std => "std",
            Field::Guidance => "guidance",
            Field::Width => "width",
            Field::Height => "height",
            Field::Aspect => "aspect",
            Field::Seed => "seed",
            Field::SeedLock => "seed mode",
            Field::Model => "model",
        }
    }

    /// Fields a preset fixes.
    pub fn preset_locked(self) -> bool {
        matches!(
            self,
            Field::Steps | Field::Mu | Field::Std | Field::Guidance
        )
    }
}

/// Width:height ratios offered by the aspect row. Sizes keep roughly the current pixel count.
pub const ASPECTS: [(u32, u32); 9] = [
    (1, 1),
    (4, 3),
    (3, 4),
    (3, 2),
    (2, 3),
    (16, 9),
    (9, 16),
    (21, 9),
    (9, 21),
];

#[derive(Debug, Clone, PartialEq)]
pub struct ParamsState {
    pub sampler: SamplerParams,
    /// The Custom settings, remembered while a preset is selected.
    pub custom: CustomSampler,
    pub size: ImageSize,
    pub seed: u64,
    /// Locked: every job uses the shown seed. Unlocked: a new seed after each submission.
    pub seed_locked: bool,
    pub model: ModelSpec,
    pub selected: usize,
    /// LoRA/LoKr adapters every queued job applies, in order.
    pub adapters: Vec<crate::model::adapter::AdapterUse>,
}

impl Default for ParamsState {
    fn default() -> Self {
        ParamsState {
            sampler: SamplerParams::default(),
            custom: CustomSampler::default(),
            size: ImageSize::default(),
            seed: 0,
            seed_locked: false,
            model: ModelSpec::Demo,
            selected: 0,
            adapters: Vec::new(),
        }
    }
}

/// Why a change was refused, for the status line.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub message: String,
    /// A preset fixes the value; choosing Custom unlocks it (the app names the key).
    pub locked: bool,
}

impl From<String> for Refusal {
    fn from(message: String) -> Refusal {
        Refusal {
            message,
            locked: false,
        }
    }
}

impl std::ops::Deref for Refusal {
    type Target = str;
    fn deref(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The presets in the order the picker lists them and Left/Right cycles through them.
pub const PRESET_ORDER: [PresetChoice; 7] = [
    PresetChoice::Quality48,
    PresetChoice::Default20,
    PresetChoice::Turbo12,
    PresetChoice::TurboTime8,
    PresetChoice::TurboTime4,
    PresetChoice::TurboTime2,
    PresetChoice::Custom,
];

impl ParamsState {
    pub fn field(&self) -> Field {
        Field::ALL[self.selected.min(Field::ALL.len() - 1)]
    }

    pub fn size_limits(&self) -> SizeLimits {
        match self.model {
            ModelSpec::Demo => SizeLimits::TinyModel,
            _ => SizeLimits::RealModel,
        }
    }

    pub fn is_custom(&self) -> bool {
        matches!(self.sampler, SamplerParams::Custom(_))
    }

    /// Every problem that would stop a job, in form order.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Err(e) = self.sampler.validate() {
            out.push(e.to_string());
        }
        if let Err(e) = validate_size(self.size, self.size_limits()) {
            out.push(e.to_string());
        }
        out
    }

    pub fn choose_preset(&mut self, choice: PresetChoice) {
        let preset = match choice {
            PresetChoice::Quality48 => Preset::Quality48,
            PresetChoice::Default20 => Preset::Default20,
            PresetChoice::Turbo12 => Preset::Turbo12,
            PresetChoice::TurboTime8 => Preset::TurboTime8,
            PresetChoice::TurboTime4 => Preset::TurboTime4,
            PresetChoice::TurboTime2 => Preset::TurboTime2,
            PresetChoice::Custom => {
                if !self.is_custom() {
                    // Unlocking starts from what was shown, so nothing jumps.
                    self.custom = self.sampler.to_custom();
                    self.sampler = SamplerParams::Custom(self.custom.clone());
                }
                return;
            }
        };
        if let SamplerParams::Custom(c) = &self.sampler {
            self.custom = c.clone();
        }
        self.sampler = SamplerParams::Preset(preset);
    }

    /// Where the current sampler stands in [`PRESET_ORDER`].
    pub fn preset_index(&self) -> usize {
        let current = match self.sampler.preset() {
            Some(Preset::Quality48) => PresetChoice::Quality48,
            Some(Preset::Default20) => PresetChoice::Default20,
            Some(Preset::Turbo12) => PresetChoice::Turbo12,
            Some(Preset::TurboTime8) => PresetChoice::TurboTime8,
            Some(Preset::TurboTime4) => PresetChoice::TurboTime4,
            Some(Preset::TurboTime2) => PresetChoice::TurboTime2,
            None => PresetChoice::Custom,
        };
        PRESET_ORDER.iter().position(|c| *c == current).unwrap_or(0)
    }

    fn cycle_preset(&mut self, forward: bool) {
        let (now, n) = (self.preset_index(), PRESET_ORDER.len());
        let next = if forward {
            (now + 1) % n
        } else {
            (now + n - 1) % n
        };
        self.choose_preset(PRESET_ORDER[next]);
    }

    /// Chooses a preset and says what changed beyond the name, if anything.
    pub fn choose_preset_noted(&mut self, choice: PresetChoice) -> Option<String> {
        self.choose_preset(choice);
        let mut note = (choice == PresetChoice::Custom)
            .then(|| "Custom: steps, mu, std and guidance are unlocked".to_string());
        if let Some((repo, _)) = self.sampler.preset().and_then(Preset::required_adapter) {
            note = Some(format!(
                "{}: one DiT pass per step with the TurboTime LoRA ({repo}; get it \
                 with `ideogram4-tui models download {repo}`)",
                self.sampler.label()
            ));
        }
        note
    }

    /// The refusal for changing `field` while a preset fixes it.
    pub fn locked(&self, field: Field) -> Refusal {
        Refusal {
            message: format!(
                "{} is locked by preset {}",
                field.label(),
                self.sampler.label()
            ),
            locked: true,
        }
    }

    fn with_custom(&mut self, f: impl FnOnce(&mut CustomSampler)) -> Result<(), Refusal> {
        let refusal = self.locked(self.field());
        match &mut self.sampler {
            SamplerParams::Custom(c) => {
                f(c);
                self.custom = c.clone();
                Ok(())
            }
            SamplerParams::Preset(_) => Err(refusal),
        }
    }

    /// Guidance per step in sampling order (first step first), as displayed.
    pub fn guidance_sampling_order(&self) -> Vec<f32> {
        self.sampler.guidance_sampling_order()
    }

    /// Sets the per-step guidance from a sampling-order list (Custom only).
    pub fn set_guidance_sampling_order(&mut self, values: Vec<f32>) -> Result<(), Refusal> {
        self.with_custom(|c| {
            c.steps = values.len();
            c.guidance = Guidance::Schedule(sampling_to_loop_order(&values));
        })
    }

    /// Left/Right on the selected row.
    pub fn adjust(&mut self, up: bool) -> Result<(), Refusal> {
        let sign = if up { 1.0 } else { -1.0 };
        match self.field() {
            Field::Preset => self.cycle_preset(up),
            Field::Steps => self.with_custom(|c| {
                let steps = if up {
                    c.steps + 1
                } else {
                    c.steps.saturating_sub(1).max(1)
                };
                resize_steps(c, steps);
            })?,
            Field::Mu => self.with_custom(|c| c.mu = round2(c.mu + 0.05 * sign))?,
            Field::Std => self.with_custom(|c| c.std = round2((c.std + 0.05 * sign).max(0.05)))?,
            Field::Guidance => self.with_custom(|c| {
                c.guidance = match &c.guidance {
                    Guidance::Constant(g) => Guidance::Constant((g + 0.5 * sign as f32).max(0.0)),
                    Guidance::Schedule(list) => Guidance::Schedule(
                        list.iter()
                            .map(|g| (g + 0.5 * sign as f32).max(0.0))
                            .collect(),
                    ),
                }
            })?,
            Field::Width => {
                self.size.width = step_side(self.size.width, up);
            }
            Field::Height => {
                self.size.height = step_side(self.size.height, up);
            }
            Field::Aspect => self.cycle_aspect(up),
            Field::Seed => {
                self.seed = if up {
                    self.seed.wrapping_add(1)
                } else {
                    self.seed.wrapping_sub(1)
                };
            }
            Field::SeedLock => self.seed_locked = !self.seed_locked,
            Field::Model => {}
        }
        Ok(())
    }

    /// Applies a typed value to the selected row.
    pub fn set_from_text(&mut self, field: Field, text: &str) -> Result<(), Refusal> {
        let t = text.trim();
        let num = |what: &str| -> Result<f64, Refusal> {
            t.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("{what}: {t:?} is not a number").into())
        };
        let int = |what: &str| -> Result<u64, Refusal> {
            t.parse::<u64>()
                .map_err(|_| format!("{what}: {t:?} is not a whole number").into())
        };
        match field {
            Field::Steps => {
                let n = int("steps")? as usize;
                if n == 0 || n > crate::sampler::MAX_STEPS {
                    return Err(format!("steps must be 1..={}", crate::sampler::MAX_STEPS).into());
                }
                self.with_custom(|c| resize_steps(c, n))
            }
            Field::Mu => {
                let v = num("mu")?;
                self.with_custom(|c| c.mu = v)
            }
            Field::Std => {
                let v = num("std")?;
                if v <= 0.0 {
                    return Err(format!("std must be > 0 (got {v})").into());
                }
                self.with_custom(|c| c.std = v)
            }
            Field::Guidance => {
                if t.contains(',') {
                    let list = crate::sampler::parse_guidance_list(t).map_err(|e| e.to_string())?;
                    self.set_guidance_sampling_order(list)
                } else {
                    let v = num("guidance")? as f32;
                    self.with_custom(|c| c.guidance = Guidance::Constant(v))
                }
            }
            Field::Width => {
                self.size.width = int("width")? as u32;
                Ok(())
            }
            Field::Height => {
                self.size.height = int("height")? as u32;
                Ok(())
            }
            Field::Aspect => {
                let (w, h) = t
                    .split_once([':', 'x'])
                    .and_then(|(a, b)| {
                        Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?))
                    })
                    .filter(|(a, b)| *a > 0 && *b > 0)
                    .ok_or_else(|| format!("aspect: {t:?} is not W:H"))?;
                self.size = size_for_aspect(self.size, w, h);
                Ok(())
            }
            Field::Seed => {
                self.seed = int("seed")?;
                Ok(())
            }
            Field::Model => {
                if t.is_empty() {
                    return Err(String::from("model: empty").into());
                }
                self.model = ModelSpec::parse(t);
                Ok(())
            }
            Field::Preset => {
                let preset: Preset = t
                    .parse()
                    .map_err(|e: crate::sampler::SamplerError| e.to_string())?;
                self.sampler = SamplerParams::Preset(preset);
                Ok(())
            }
            Field::SeedLock => {
                self.seed_locked = matches!(t, "locked" | "lock" | "on" | "true" | "1");
                Ok(())
            }
        }
    }

    /// Text to prefill when editing a row.
    pub fn value_text(&self, field: Field) -> String {
        match field {
            Field::Preset => self.sampler.label().to_string(),
            Field::Steps => self.sampler.steps().to_string(),
            Field::Mu => fmt_num(self.sampler.mu()),
            Field::Std => fmt_num(self.sampler.std()),
            Field::Guidance => guidance_text(&self.sampler),
            Field::Width => self.size.width.to_string(),
            Field::Height => self.size.height.to_string(),
            Field::Aspect => aspect_text(self.size),
            Field::Seed => self.seed.to_string(),
            Field::SeedLock => if self.seed_locked {
                "locked"
            } else {
                "new each job"
            }
            .into(),
            Field::Model => self.model.to_string(),
        }
    }

    pub fn cycle_aspect(&mut self, forward: bool) {
        let (w, h) = (self.size.width.max(1), self.size.height.max(1));
        let current = ASPECTS.iter().position(|(a, b)| {
            (u64::from(w) * u64::from(*b)).abs_diff(u64::from(h) * u64::from(*a)) * 20
                <= u64::from(h) * u64::from(*a)
        });
        let next = match (current, forward) {
            (Some(i), true) => (i + 1) % ASPECTS.len(),
            (Some(i), false) => (i + ASPECTS.len() - 1) % ASPECTS.len(),
            (None, _) => 0,
        };
        let (a, b) = ASPECTS[next];
        self.size = size_for_aspect(self.size, a, b);
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn step_side(v: u32, up: bool) -> u32 {
    let snapped = v / PIXELS_PER_TOKEN * PIXELS_PER_TOKEN;
    if up {
        snapped + PIXELS_PER_TOKEN
    } else if snapped == v {
        v.saturating_sub(PIXELS_PER_TOKEN).max(PIXELS_PER_TOKEN)
    } else {
        snapped.max(PIXELS_PER_TOKEN)
    }
}

/// Changes the step count; a per-step schedule keeps its final (polish) steps and repeats its
/// first weight for added steps.
fn resize_steps(c: &mut CustomSampler, steps: usize) {
    if let Guidance::Schedule(list) = &c.guidance {
        let mut sampling = loop_to_sampling_order(list);
        let first = sampling.first().copied().unwrap_or(7.0);
        while sampling.len() < steps {
            sampling.insert(0, first);
        }
        while sampling.len() > steps {
            sampling.remove(0);
        }
        c.guidance = Guidance::Schedule(sampling_to_loop_order(&sampling));
    }
    c.steps = steps;
}

/// A size with aspect `a:b` and about the same pixel count, sides multiples of 16.
pub fn size_for_aspect(size: ImageSize, a: u32, b: u32) -> ImageSize {
    let area = f64::from(size.width.max(16)) * f64::from(size.height.max(16));
    let w = (area * f64::from(a) / f64::from(b)).sqrt();
    let h = w * f64::from(b) / f64::from(a);
    let snap = |v: f64| ((v / 16.0).round() as u32).max(1) * 16;
    ImageSize::new(snap(w), snap(h))
}

pub fn aspect_text(size: ImageSize) -> String {
    let (w, h) = (size.width.max(1), size.height.max(1));
    for (a, b) in ASPECTS {
        if (u64::from(w) * u64::from(b)).abs_diff(u64::from(h) * u64::from(a)) * 20
            <= u64::from(h) * u64::from(a)
        {
            return format!("{a}:{b}");
        }
    }
    let g = gcd(w, h);
    format!("{}:{}", w / g, h / g)
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

pub fn fmt_num(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Guidance as text in sampling order: one number when constant, else a comma list.
pub fn guidance_text(sampler: &SamplerParams) -> String {
    if let SamplerParams::Custom(CustomSampler {
        guidance: Guidance::Constant(g),
        ..
    }) = sampler
    {
        return fmt_num(f64::from(*g));
    }
    sampler
        .guidance_sampling_order()
        .iter()
        .map(|g| fmt_num(f64::from(*g)))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_lock_and_custom_unlocks_with_same_values() {
        let mut p = ParamsState::default();
        p.choose_preset(PresetChoice::Turbo12);
        p.selected = 1; // steps
        let err = p.adjust(true).unwrap_err();
        assert!(err.contains("locked by preset V4_TURBO_12"), "{err}");
        p.choose_preset(PresetChoice::Custom);
        assert_eq!(p.sampler.steps(), 12);
        assert_eq!(p.sampler.mu(), 0.5);
        p.adjust(true).unwrap();
        assert_eq!(p.sampler.steps(), 13);
        // The new step goes in front; the final polish step at 3.0 stays last.
        let g = p.guidance_sampling_order();
        assert_eq!(g.len(), 13);
        assert_eq!(*g.last().unwrap(), 3.0);
        assert!(p.sampler.validate().is_ok());
        p.choose_preset(PresetChoice::Default20);
        p.choose_preset(PresetChoice::Custom);
        assert_eq!(p.sampler.steps(), 20, "Custom starts from the preset shown");
    }

    #[test]
    fn guidance_displayed_in_sampling_order() {
        let mut p = ParamsState::default();
        p.choose_preset(PresetChoice::Default20);
        let g = p.guidance_sampling_order();
        assert_eq!(&g[..2], &[7.0, 7.0]);
        assert_eq!(&g[18..], &[3.0, 3.0]);
        p.choose_preset(PresetChoice::Custom);
        p.set_from_text(Field::Guidance, "1, 2, 3").unwrap();
        assert_eq!(p.sampler.steps(), 3);
        assert_eq!(p.sampler.guidance_loop_order(), vec![3.0, 2.0, 1.0]);
        assert_eq!(guidance_text(&p.sampler), "1,2,3");
    }

    #[test]
    fn sizes_and_aspects() {
        let mut p = ParamsState {
            model: ModelSpec::Repo("x/y".into()),
            ..ParamsState::default()
        };
        p.cycle_aspect(true);
        assert_eq!(aspect_text(p.size), "4:3");
        assert_eq!(p.size.width % 16, 0);
        assert!(p.problems().is_empty(), "{:?}", p.problems());
        p.set_from_text(Field::Width, "1000").unwrap();
        assert!(p.problems()[0].contains("not a multiple of 16"));
        p.selected = Field::ALL.iter().position(|f| *f == Field::Width).unwrap();
        p.adjust(true).unwrap();
        assert_eq!(p.size.width, 1008);
        assert_eq!(
            size_for_aspect(ImageSize::new(64, 64), 16, 9),
            ImageSize::new(80, 48)
        );
        assert!(p.set_from_text(Field::Seed, "-1").is_err());
    }
}
