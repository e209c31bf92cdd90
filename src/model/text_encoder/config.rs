//! `text_encoder/config.json` (a transformers `Qwen3VLConfig`): the text model's sizes and
//! its rotary settings, in the transformers-5 (`rope_parameters`) or transformers-4
//! (`rope_theta` + `rope_scaling`) spelling.

use serde_json::Value;

use super::{Result, TextEncoderError};
use crate::weights::schema::{TextRope, TEXT_MROPE_SECTION, TEXT_ROPE_THETA};

/// Sizes and constants of the Qwen3-VL text model.
#[derive(Debug, Clone, PartialEq)]
pub struct TextEncoderConfig {
    pub hidden_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub intermediate_size: usize,
    pub vocab_size: usize,
    pub rms_norm_eps: f32,
    pub rope_theta: f64,
    /// Frequencies per MRoPE axis (temporal, height, width), interleaved as in Qwen3-VL.
    pub mrope_section: [usize; 3],
}

fn config_error(message: impl Into<String>) -> TextEncoderError {
    TextEncoderError::Config(message.into())
}

fn usize_field(obj: &Value, key: &str) -> Result<Option<usize>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                config_error(format!("text_config.{key} is not a non-negative integer"))
            }),
    }
}

fn required(obj: &Value, key: &str) -> Result<usize> {
    usize_field(obj, key)?.ok_or_else(|| config_error(format!("text_config.{key} is missing")))
}

fn f64_field(obj: &Value, key: &str) -> Result<Option<f64>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| config_error(format!("{key} is not a number"))),
    }
}

impl TextEncoderConfig {
    /// Qwen3-VL-8B-Instruct's language model, the shipped text encoder.
    pub fn qwen3_vl_8b() -> TextEncoderConfig {
        TextEncoderConfig {
            hidden_size: 4096,
            num_layers: 36,
            num_heads: 32,
            num_kv_heads: 8,
            head_dim: 128,
            intermediate_size: 12288,
            vocab_size: 151936,
            rms_norm_eps: 1e-6,
            rope_theta: TEXT_ROPE_THETA,
            mrope_section: TEXT_MROPE_SECTION,
        }
    }

    /// Reads a `Qwen3VLConfig` (its `text_config`) or a bare text config.
    pub fn from_json(json: &Value) -> Result<TextEncoderConfig> {
        let text = json.get("text_config").unwrap_or(json);
        if !text.is_object() {
            return Err(config_error("text_config is not an object"));
        }
        let hidden_size = required(text, "hidden_size")?;
        let num_heads = required(text, "num_attention_heads")?;
        let num_kv_heads = usize_field(text, "num_key_value_heads")?.unwrap_or(num_heads);
        let head_dim = match usize_field(text, "head_dim")? {
            Some(d) => d,
            None if num_heads > 0 => hidden_size / num_heads,
            None => 0,
        };
        if let Some(act) = text.get("hidden_act").and_then(Value::as_str) {
            if act != "silu" {
                return Err(config_error(format!(
                    "hidden_act {act:?} is not supported (silu)"
                )));
            }
        }
        let (rope_theta, mrope_section) = rope_settings(text)?;
        let config = TextEncoderConfig {
            hidden_size,
            num_layers: required(text, "num_hidden_layers")?,
            num_heads,
            num_kv_heads,
            head_dim,
            intermediate_size: required(text, "intermediate_size")?,
            vocab_size: required(text, "vocab_size")?,
            rms_norm_eps: f64_field(text, "rms_norm_eps")?.unwrap_or(1e-6) as f32,
            rope_theta,
            mrope_section,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        let ok = self.num_heads > 0
            && self.num_kv_heads > 0
            && self.num_heads % self.num_kv_heads == 0
            && self.head_dim > 0
            && self.head_dim % 2 == 0
            && self.rope_theta > 0.0;
        if ok {
            Ok(())
        } else {
            Err(config_error(format!(
                "unsupported attention shape: {} heads, {} key/value heads, head_dim {}, \
                 rope_theta {}",
                self.num_heads, self.num_kv_heads, self.head_dim, self.rope_theta
            )))
        }
    }
}

/// `(rope_theta, mrope_section)` as [`TextRope`] reads them. A missing `rope_theta` is the
/// official value (architecture §4.1, as the loader and the DiT assume); a missing
/// `mrope_section` is an error, since no default would be right for another model's heads.
fn rope_settings(text: &Value) -> Result<(f64, [usize; 3])> {
    let rope = TextRope::read(text)
        .map_err(|b| config_error(format!("expected {}, found {}", b.expected, b.found)))?;
    // transformers 4 spells the default multimodal rotary "mrope".
    if let Some(kind) = rope
        .rope_type
        .filter(|k| !matches!(k.as_str(), "default" | "mrope"))
    {
        return Err(config_error(format!(
            "rope_type {kind:?} is not supported (default)"
        )));
    }
    let theta = rope.theta.unwrap_or(TEXT_ROPE_THETA);
    let section = rope
        .mrope_section
        .ok_or_else(|| config_error("mrope_section is missing"))?;
    let mrope_section: [usize; 3] = section
        .clone()
        .try_into()
        .map_err(|_| config_error(format!("mrope_section {section:?} is not three integers")))?;
    Ok((theta, mrope_section))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text_config(rope: Value) -> Value {
        let mut t = json!({
            "hidden_size": 4096, "num_hidden_layers": 36, "num_attention_heads": 32,
            "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 12288,
            "vocab_size": 151936, "rms_norm_eps": 1e-6, "hidden_act": "silu"
        });
        for (k, v) in rope.as_object().unwrap() {
            t[k] = v.clone();
        }
        json!({ "model_type": "qwen3_vl", "text_config": t })
    }

    #[test]
    fn reads_transformers5_rope_parameters() {
        let c = TextEncoderConfig::from_json(&text_config(json!({
            "rope_parameters": {"rope_type": "default", "rope_theta": 5000000.0,
                                "mrope_section": [24, 20, 20], "mrope_interleaved": true}
        })))
        .unwrap();
        assert_eq!(c.rope_theta, 5e6);
        assert_eq!(c.mrope_section, [24, 20, 20]);
        assert_eq!((c.num_heads, c.num_kv_heads, c.head_dim), (32, 8, 128));
    }

    #[test]
    fn reads_transformers4_rope_theta_and_scaling() {
        let c = TextEncoderConfig::from_json(&text_config(json!({
            "rope_theta": 5000000,
            "rope_scaling": {"rope_type": "default", "mrope_section": [24, 20, 20],
                             "mrope_interleaved": true}
        })))
        .unwrap();
        assert_eq!(c.rope_theta, 5e6);
        assert_eq!(c.mrope_section, [24, 20, 20]);
    }

    #[test]
    fn rejects_other_rope_types_and_missing_sections() {
        let yarn = text_config(json!({
            "rope_parameters": {"rope_type": "yarn", "rope_theta": 1e6, "mrope_section": [1, 1, 1]}
        }));
        assert!(TextEncoderConfig::from_json(&yarn).is_err());
        let no_section = text_config(json!({ "rope_theta": 1e6 }));
        assert!(TextEncoderConfig::from_json(&no_section).is_err());
    }
}
