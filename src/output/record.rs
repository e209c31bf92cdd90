//! The `parameters` record embedded in every output.

use serde::{Deserialize, Serialize};

use crate::sampler::{ImageSize, SamplerParams};

/// Version of the record layout; bump when a field changes meaning.
pub const RECORD_VERSION: u32 = 1;

/// Record field: the plain idea a magic prompt expanded into the caption.
pub const IDEA_FIELD: &str = "idea";
/// Record field: the magic prompt backend and model that expanded it.
pub const MAGIC_PROMPT_FIELD: &str = "magic_prompt";

/// Everything needed to make the same image again (never token ids or keys).
///
/// JSON form (what [`super::save_image`] embeds when given `record.to_value()`):
///
/// ```json
/// {"record_version":1,"program":"ideogram4-tui","version":"0.1.0",
///  "caption":"{\"high_level_description\": …}",
///  "sampler":{"preset":"V4_TURBO_12"},"seed":42,"width":1024,"height":1024,
///  "model":"ideogram-ai/ideogram-4-nf4","weight_format":"nf4"}
/// ```
///
/// Unknown fields are kept in [`GenerationRecord::extra`], so a record written by a newer
/// version still loads and re-saves without loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationRecord {
    /// Layout version ([`RECORD_VERSION`]).
    pub record_version: u32,
    /// Program that wrote the file.
    pub program: String,
    /// Its version.
    pub version: String,
    /// The caption exactly as it was tokenized (the model reads it verbatim).
    pub caption: String,
    /// Preset or custom sampler settings.
    pub sampler: SamplerParams,
    /// Seed of the initial noise.
    pub seed: u64,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Model: `demo`, a local folder or a repository id.
    pub model: String,
    /// Weight format of the model as loaded, e.g. `nf4`, `fp8`, `bf16`.
    pub weight_format: String,
    /// Fields this version does not know about.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl GenerationRecord {
    /// A record stamped with this program's name and version.
    pub fn new(
        caption: impl Into<String>,
        sampler: SamplerParams,
        seed: u64,
        size: ImageSize,
        model: impl Into<String>,
        weight_format: impl Into<String>,
    ) -> Self {
        Self {
            record_version: RECORD_VERSION,
            program: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            caption: caption.into(),
            sampler,
            seed,
            width: size.width,
            height: size.height,
            model: model.into(),
            weight_format: weight_format.into(),
            extra: serde_json::Map::new(),
        }
    }

    /// The image size.
    pub fn size(&self) -> ImageSize {
        ImageSize::new(self.width, self.height)
    }

    /// Notes that the caption was expanded from `idea` by the magic prompt `backend`
    /// (backend and model, e.g. `openrouter anthropic/claude-opus-4.8`; never a key).
    pub fn set_idea(&mut self, idea: &str, backend: &str) {
        self.extra.insert(IDEA_FIELD.into(), idea.into());
        self.extra.insert(MAGIC_PROMPT_FIELD.into(), backend.into());
    }

    /// The idea the caption was expanded from, if it was.
    pub fn idea(&self) -> Option<&str> {
        self.extra.get(IDEA_FIELD)?.as_str()
    }

    /// As a JSON value, for [`super::save_image`].
    pub fn to_value(&self) -> serde_json::Value {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::{Guidance, Preset};

    #[test]
    fn round_trips_and_keeps_unknown_fields() {
        let mut rec = GenerationRecord::new(
            "{\"high_level_description\": \"x\"}\n",
            SamplerParams::custom(3, 0.25, 1.3, Guidance::Schedule(vec![2.5, 4.0, 6.0])).unwrap(),
            u64::MAX,
            ImageSize::new(64, 48),
            "demo",
            "bf16",
        );
        rec.extra
            .insert("compute_dtype".into(), serde_json::json!("f32"));
        let text = serde_json::to_string(&rec).unwrap();
        let back: GenerationRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, rec);
        assert_eq!(back.seed, u64::MAX);
        assert_eq!(back.extra["compute_dtype"], "f32");
        assert_eq!(rec.to_value()["sampler"]["preset"], "custom");

        let p = GenerationRecord::new(
            "c",
            Preset::Turbo12.into(),
            1,
            ImageSize::default(),
            "m",
            "nf4",
        );
        assert_eq!(
            p.to_value()["sampler"],
            serde_json::json!({"preset": "V4_TURBO_12"})
        );
        assert_eq!(p.program, "ideogram4-tui");
    }
}
