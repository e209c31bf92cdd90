//! The tensor schema of each component (the names and shapes the model expects; the files
//! holding them are `checkpoint_files`' business), with dimensions inferred from the shapes
//! themselves (so the tiny fixtures and the full model pass the same checks) and settings
//! that shapes cannot give (rope) read from `config.json` or the official defaults.
//!
//! The DiT and the language model are checked key by key (missing, unexpected, wrong shape,
//! quantised where the reference keeps floats); the VAE only for its anchor tensors and
//! dtypes, since its block structure varies with `ch_mult`.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::checkpoint_files::ComponentKind;
use super::component::{config_value, PlanView, Planned};
use super::container::StDtype;
use super::error::{Result, WeightsError};

/// Official `Ideogram4Config` values that tensor shapes cannot tell.
pub const DIT_ROPE_THETA: f64 = 5_000_000.0;
pub const DIT_MROPE_SECTION: [usize; 3] = [24, 20, 20];
pub const DIT_NORM_EPS: f64 = 1e-5;

/// Qwen3-VL-8B's rope settings (architecture §4.1), where `text_encoder/config.json` is silent.
pub const TEXT_ROPE_THETA: f64 = 5_000_000.0;
pub const TEXT_MROPE_SECTION: [usize; 3] = [24, 20, 20];

/// The rotary settings a Qwen3-VL `text_config` states, in the transformers-5
/// (`rope_parameters`) or transformers-4 (`rope_theta` + `rope_scaling`) spelling: the one
/// reading of them, for the loader's checks and for the text encoder. `None` where absent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TextRope {
    pub rope_type: Option<String>,
    pub theta: Option<f64>,
    pub mrope_section: Option<Vec<usize>>,
    pub interleaved: Option<bool>,
}

/// A config value of the wrong type: what was expected, what was found.
#[derive(Debug, Clone, PartialEq)]
pub struct BadValue {
    pub expected: String,
    pub found: String,
}

impl TextRope {
    pub fn read(text: &Value) -> std::result::Result<TextRope, BadValue> {
        let bad = |expected: String, v: &Value| BadValue {
            expected,
            found: v.to_string(),
        };
        let params = text
            .get("rope_parameters")
            .filter(|v| v.is_object())
            .or_else(|| text.get("rope_scaling").filter(|v| v.is_object()));
        let field = |key: &str| params.and_then(|p| p.get(key)).filter(|v| !v.is_null());
        let theta = match field("rope_theta").or_else(|| text.get("rope_theta")) {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_f64()
                    .ok_or_else(|| bad("a number `rope_theta`".into(), v))?,
            ),
        };
        let mrope_section = field("mrope_section")
            .map(|v| {
                v.as_array()
                    .and_then(|a| a.iter().map(|n| n.as_u64().map(|n| n as usize)).collect())
                    .ok_or_else(|| bad("a list of integers `mrope_section`".into(), v))
            })
            .transpose()?;
        Ok(TextRope {
            rope_type: field("rope_type")
                .or_else(|| field("type"))
                .and_then(Value::as_str)
                .map(str::to_string),
            theta,
            mrope_section,
            interleaved: field("mrope_interleaved").and_then(Value::as_bool),
        })
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DitDims {
    pub emb_dim: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub head_dim: usize,
    pub intermediate_size: usize,
    pub adaln_dim: usize,
    pub in_channels: usize,
    pub llm_features_dim: usize,
    pub rope_theta: f64,
    pub mrope_section: [usize; 3],
    pub norm_eps: f64,
    /// Whether rope settings came from `transformer/config.json` (else official defaults).
    pub rope_from_config: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TextEncoderDims {
    pub hidden_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub intermediate_size: usize,
    pub vocab_size: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub mrope_section: Vec<usize>,
    pub mrope_interleaved: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VaeDims {
    pub z_channels: usize,
    /// Output channels of the decoder's up blocks in execution order (`up_blocks.0` first).
    pub up_block_channels: Vec<usize>,
    pub out_channels: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum ModelDims {
    Dit(DitDims),
    TextEncoder(TextEncoderDims),
    Vae(VaeDims),
}

impl ModelDims {
    pub fn dit(&self) -> Option<&DitDims> {
        match self {
            ModelDims::Dit(d) => Some(d),
            _ => None,
        }
    }

    pub fn text_encoder(&self) -> Option<&TextEncoderDims> {
        match self {
            ModelDims::TextEncoder(d) => Some(d),
            _ => None,
        }
    }

    pub fn vae(&self) -> Option<&VaeDims> {
        match self {
            ModelDims::Vae(d) => Some(d),
            _ => None,
        }
    }
}

pub(crate) fn check(
    kind: ComponentKind,
    view: &PlanView<'_>,
    config: Option<&Value>,
    config_path: &Path,
) -> Result<ModelDims> {
    match kind {
        ComponentKind::Transformer | ComponentKind::UnconditionalTransformer => {
            check_dit(view, config, config_path).map(ModelDims::Dit)
        }
        ComponentKind::TextEncoder => {
            check_text_encoder(view, config, config_path).map(ModelDims::TextEncoder)
        }
        ComponentKind::Vae => check_vae(view).map(ModelDims::Vae),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A Linear weight: may be stored dense, NF4 or FP8.
    Linear,
    /// Everything else: must be a dense float tensor.
    Float,
}

struct Expect {
    name: String,
    shape: Vec<usize>,
    role: Role,
}

fn e(name: impl Into<String>, shape: &[usize], role: Role) -> Expect {
    Expect {
        name: name.into(),
        shape: shape.to_vec(),
        role,
    }
}

/// The logical shape of `name`, or an error saying which tensor the inference needed.
fn anchor(view: &PlanView<'_>, name: &str, rank: usize, why: &str) -> Result<Vec<usize>> {
    let Some(p) = view.get(name) else {
        return Err(WeightsError::MissingTensor {
            path: view.any_path().to_path_buf(),
            tensor: name.to_string(),
            expected: why.to_string(),
        });
    };
    let shape = p.shape();
    if shape.len() != rank || shape.contains(&0) {
        return Err(WeightsError::tensor(
            view.path_of(name),
            name,
            format!("a non-empty {rank}-D tensor ({why})"),
            format!("shape {shape:?}"),
        ));
    }
    Ok(shape)
}

/// Both dimensions of a required 2-D anchor tensor (`[out, in]` for a projection).
fn anchor_2d(view: &PlanView<'_>, name: &str, why: &str) -> Result<(usize, usize)> {
    anchor(view, name, 2, why).map(|d| (d[0], d[1]))
}

/// Counts `prefix{N}.` blocks and checks they are numbered 0..count.
fn count_layers(view: &PlanView<'_>, prefix: &str) -> Result<usize> {
    let mut seen = BTreeSet::new();
    for name in view.names() {
        if let Some(rest) = name.strip_prefix(prefix) {
            if let Some(n) = rest.split('.').next().and_then(|s| s.parse::<usize>().ok()) {
                seen.insert(n);
            }
        }
    }
    let count = seen.len();
    if let Some(missing) = (0..count).find(|i| !seen.contains(i)) {
        return Err(WeightsError::MissingTensor {
            path: view.any_path().to_path_buf(),
            tensor: format!("{prefix}{missing}.*"),
            expected: format!(
                "blocks numbered 0..{count} (found {:?})",
                seen.iter().collect::<Vec<_>>()
            ),
        });
    }
    Ok(count)
}

fn divide(view: &PlanView<'_>, name: &str, total: usize, part: usize, what: &str) -> Result<usize> {
    if part == 0 || total % part != 0 {
        return Err(WeightsError::tensor(
            view.path_of(name),
            name,
            format!("a size divisible by {what} {part}"),
            format!("{total}"),
        ));
    }
    Ok(total / part)
}

/// Compares the plan with `expected`; `allow_extra` decides which unlisted names are fine.
fn compare(
    view: &PlanView<'_>,
    expected: &[Expect],
    model: &str,
    allow_extra: &dyn Fn(&str) -> bool,
) -> Result<()> {
    let mut listed = BTreeSet::new();
    for x in expected {
        listed.insert(x.name.as_str());
        let Some(p) = view.get(&x.name) else {
            return Err(WeightsError::MissingTensor {
                path: view.any_path().to_path_buf(),
                tensor: x.name.clone(),
                expected: format!("shape {:?} in the {model} schema", x.shape),
            });
        };
        let shape = p.shape();
        if shape != x.shape {
            return Err(WeightsError::tensor(
                view.path_of(&x.name),
                &x.name,
                format!("shape {:?} ({model})", x.shape),
                format!("shape {shape:?}"),
            ));
        }
        check_dtype(view, &x.name, p, x.role)?;
    }
    for name in view.names() {
        if !listed.contains(name) && !allow_extra(name) {
            let p = view.get(name).expect("name from the plan");
            return Err(WeightsError::tensor(
                view.path_of(name),
                name,
                format!("only tensors of the {model} schema"),
                format!("an unexpected tensor ({} {:?})", p.format(), p.shape()),
            ));
        }
    }
    Ok(())
}

fn check_dtype(view: &PlanView<'_>, name: &str, p: &Planned, role: Role) -> Result<()> {
    match (role, p.dense_dtype()) {
        (_, Some(d)) if d.is_float() => Ok(()),
        (_, Some(d)) => Err(WeightsError::tensor(
            view.path_of(name),
            name,
            "a floating-point tensor (BF16, F16 or F32)",
            d.name(),
        )),
        (Role::Linear, None) => Ok(()),
        // GGUF and MLX affine files also quantise tensors used as plain arrays; the loader
        // expands those once (`Weight::expanded_dense`).
        (Role::Float, None)
            if matches!(
                p.format(),
                super::weight::WeightFormat::Ggml(_) | super::weight::WeightFormat::Affine(_)
            ) =>
        {
            Ok(())
        }
        (Role::Float, None) => Err(WeightsError::tensor(
            view.path_of(name),
            name,
            "a dense floating-point tensor (only Linear weights are quantised)",
            p.format().name(),
        )),
    }
}

fn config_usize(config: Option<&Value>, key: &str, path: &Path) -> Result<Option<usize>> {
    let expected = format!("a non-negative integer `{key}`");
    config_value(config, key, path, &expected, |v| {
        v.as_u64().map(|n| n as usize)
    })
}

fn config_f64(config: Option<&Value>, key: &str, path: &Path) -> Result<Option<f64>> {
    config_value(
        config,
        key,
        path,
        &format!("a number `{key}`"),
        Value::as_f64,
    )
}

fn config_section(config: Option<&Value>, key: &str, path: &Path) -> Result<Option<Vec<usize>>> {
    let expected = format!("a list of integers `{key}`");
    config_value(config, key, path, &expected, |v| {
        let items = v.as_array()?;
        items
            .iter()
            .map(|x| x.as_u64().map(|n| n as usize))
            .collect()
    })
}

/// A config value that shapes also determine must agree with them.
fn agree(
    path: &Path,
    key: &str,
    from_config: Option<usize>,
    inferred: usize,
    source: &str,
) -> Result<()> {
    match from_config {
        Some(c) if c != inferred => Err(WeightsError::Config {
            path: path.to_path_buf(),
            expected: format!("`{key}` = {inferred} (inferred from {source})"),
            found: format!("{c}"),
        }),
        _ => Ok(()),
    }
}

fn check_dit(view: &PlanView<'_>, config: Option<&Value>, cpath: &Path) -> Result<DitDims> {
    let (emb, cin) = anchor_2d(
        view,
        "input_proj.weight",
        "input_proj gives emb_dim and in_channels",
    )?;
    let head_dim = anchor(
        view,
        "layers.0.attention.norm_q.weight",
        1,
        "norm_q gives head_dim",
    )?[0];
    let inter = anchor(
        view,
        "layers.0.feed_forward.w1.weight",
        2,
        "w1 gives intermediate_size",
    )?[0];
    let adaln = anchor(view, "adaln_proj.weight", 2, "adaln_proj gives adaln_dim")?[0];
    let llm = anchor(
        view,
        "llm_cond_proj.weight",
        2,
        "llm_cond_proj gives llm_features_dim",
    )?[1];
    let heads = divide(
        view,
        "layers.0.attention.norm_q.weight",
        emb,
        head_dim,
        "head_dim",
    )?;
    let layers = count_layers(view, "layers.")?;

    use Role::*;
    let mut x = vec![
        e("input_proj.weight", &[emb, cin], Linear),
        e("input_proj.bias", &[emb], Float),
        e("llm_cond_norm.weight", &[llm], Float),
        e("llm_cond_proj.weight", &[emb, llm], Linear),
        e("llm_cond_proj.bias", &[emb], Float),
        e("t_embedding.mlp_in.weight", &[emb, emb], Linear),
        e("t_embedding.mlp_in.bias", &[emb], Float),
        e("t_embedding.mlp_out.weight", &[emb, emb], Linear),
        e("t_embedding.mlp_out.bias", &[emb], Float),
        e("adaln_proj.weight", &[adaln, emb], Linear),
        e("adaln_proj.bias", &[adaln], Float),
        e("embed_image_indicator.weight", &[2, emb], Float),
        e("final_layer.linear.weight", &[cin, emb], Linear),
        e("final_layer.linear.bias", &[cin], Float),
        e("final_layer.adaln_modulation.weight", &[emb, adaln], Linear),
        e("final_layer.adaln_modulation.bias", &[emb], Float),
    ];
    for n in 0..layers {
        let p = |s: &str| format!("layers.{n}.{s}");
        x.extend([
            e(p("attention.qkv.weight"), &[3 * emb, emb], Linear),
            e(p("attention.norm_q.weight"), &[head_dim], Float),
            e(p("attention.norm_k.weight"), &[head_dim], Float),
            e(p("attention.o.weight"), &[emb, emb], Linear),
            e(p("feed_forward.w1.weight"), &[inter, emb], Linear),
            e(p("feed_forward.w2.weight"), &[emb, inter], Linear),
            e(p("feed_forward.w3.weight"), &[inter, emb], Linear),
            e(p("attention_norm1.weight"), &[emb], Float),
            e(p("attention_norm2.weight"), &[emb], Float),
            e(p("ffn_norm1.weight"), &[emb], Float),
            e(p("ffn_norm2.weight"), &[emb], Float),
            e(p("adaln_modulation.weight"), &[4 * emb, adaln], Linear),
            e(p("adaln_modulation.bias"), &[4 * emb], Float),
        ]);
    }
    compare(
        view,
        &x,
        &format!("Ideogram 4 DiT (emb_dim {emb}, {layers} layers)"),
        &|_| false,
    )?;

    agree(
        cpath,
        "num_attention_heads",
        config_usize(config, "num_attention_heads", cpath)?,
        heads,
        "emb_dim / head_dim",
    )?;
    agree(
        cpath,
        "attention_head_dim",
        config_usize(config, "attention_head_dim", cpath)?,
        head_dim,
        "norm_q",
    )?;
    agree(
        cpath,
        "num_layers",
        config_usize(config, "num_layers", cpath)?,
        layers,
        "layers.N",
    )?;
    agree(
        cpath,
        "intermediate_size",
        config_usize(config, "intermediate_size", cpath)?,
        inter,
        "w1",
    )?;
    agree(
        cpath,
        "adaln_dim",
        config_usize(config, "adaln_dim", cpath)?,
        adaln,
        "adaln_proj",
    )?;
    agree(
        cpath,
        "in_channels",
        config_usize(config, "in_channels", cpath)?,
        cin,
        "input_proj",
    )?;
    agree(
        cpath,
        "llm_features_dim",
        config_usize(config, "llm_features_dim", cpath)?,
        llm,
        "llm_cond_proj",
    )?;

    let theta = config_f64(config, "rope_theta", cpath)?;
    let section = config_section(config, "mrope_section", cpath)?;
    let mrope_section = match &section {
        None => DIT_MROPE_SECTION,
        Some(s) if s.len() == 3 => [s[0], s[1], s[2]],
        Some(s) => {
            return Err(WeightsError::Config {
                path: cpath.to_path_buf(),
                expected: "`mrope_section` with 3 entries".into(),
                found: format!("{s:?}"),
            })
        }
    };
    // The reference indexes frequencies 1,4,.. (H) and 2,5,.. (W) up to 3*section.
    let half = head_dim / 2;
    if 3 * mrope_section[1] > half || 3 * mrope_section[2] > half {
        return Err(WeightsError::Config {
            path: cpath.to_path_buf(),
            expected: format!("`mrope_section` with 3*H and 3*W <= head_dim/2 = {half}"),
            found: format!("{mrope_section:?}"),
        });
    }
    Ok(DitDims {
        emb_dim: emb,
        num_layers: layers,
        num_heads: heads,
        head_dim,
        intermediate_size: inter,
        adaln_dim: adaln,
        in_channels: cin,
        llm_features_dim: llm,
        rope_theta: theta.unwrap_or(DIT_ROPE_THETA),
        mrope_section,
        norm_eps: config_f64(config, "norm_eps", cpath)?.unwrap_or(DIT_NORM_EPS),
        rope_from_config: theta.is_some() || section.is_some(),
    })
}

fn check_text_encoder(
    view: &PlanView<'_>,
    config: Option<&Value>,
    cpath: &Path,
) -> Result<TextEncoderDims> {
    const P: &str = "language_model.";
    let (vocab, hidden) = anchor_2d(
        view,
        "language_model.embed_tokens.weight",
        "embed_tokens gives vocab and hidden size",
    )?;
    let l0 = "language_model.layers.0.";
    // The first dimension of a layer-0 tensor of the given rank.
    let first =
        |name: &str, rank, why| anchor(view, &format!("{l0}{name}"), rank, why).map(|d| d[0]);
    let head_dim = first("self_attn.q_norm.weight", 1, "q_norm gives head_dim")?;
    let q = first("self_attn.q_proj.weight", 2, "q_proj gives the head count")?;
    let k = first(
        "self_attn.k_proj.weight",
        2,
        "k_proj gives the KV head count",
    )?;
    let inter = first(
        "mlp.gate_proj.weight",
        2,
        "gate_proj gives intermediate_size",
    )?;
    let heads = divide(
        view,
        &format!("{l0}self_attn.q_proj.weight"),
        q,
        head_dim,
        "head_dim",
    )?;
    let kv_heads = divide(
        view,
        &format!("{l0}self_attn.k_proj.weight"),
        k,
        head_dim,
        "head_dim",
    )?;
    let layers = count_layers(view, "language_model.layers.")?;

    use Role::*;
    let mut x = vec![e(
        "language_model.embed_tokens.weight",
        &[vocab, hidden],
        Float,
    )];
    if view.get("language_model.norm.weight").is_some() {
        x.push(e("language_model.norm.weight", &[hidden], Float));
    }
    for n in 0..layers {
        let p = |s: &str| format!("language_model.layers.{n}.{s}");
        x.extend([
            e(p("input_layernorm.weight"), &[hidden], Float),
            e(p("post_attention_layernorm.weight"), &[hidden], Float),
            e(
                p("self_attn.q_proj.weight"),
                &[heads * head_dim, hidden],
                Linear,
            ),
            e(
                p("self_attn.k_proj.weight"),
                &[kv_heads * head_dim, hidden],
                Linear,
            ),
            e(
                p("self_attn.v_proj.weight"),
                &[kv_heads * head_dim, hidden],
                Linear,
            ),
            e(
                p("self_attn.o_proj.weight"),
                &[hidden, heads * head_dim],
                Linear,
            ),
            e(p("self_attn.q_norm.weight"), &[head_dim], Float),
            e(p("self_attn.k_norm.weight"), &[head_dim], Float),
            e(p("mlp.gate_proj.weight"), &[inter, hidden], Linear),
            e(p("mlp.up_proj.weight"), &[inter, hidden], Linear),
            e(p("mlp.down_proj.weight"), &[hidden, inter], Linear),
        ]);
    }
    // Outside the language model (vision tower, heads) is not ours to check: it is skipped.
    compare(
        view,
        &x,
        &format!("Qwen3-VL language model (hidden {hidden}, {layers} layers)"),
        &|n| !n.starts_with(P),
    )?;

    let text = config.and_then(|c| c.get("text_config"));
    agree(
        cpath,
        "text_config.hidden_size",
        config_usize(text, "hidden_size", cpath)?,
        hidden,
        "embed_tokens",
    )?;
    agree(
        cpath,
        "text_config.num_hidden_layers",
        config_usize(text, "num_hidden_layers", cpath)?,
        layers,
        "language_model.layers.N",
    )?;
    agree(
        cpath,
        "text_config.num_attention_heads",
        config_usize(text, "num_attention_heads", cpath)?,
        heads,
        "q_proj / head_dim",
    )?;
    agree(
        cpath,
        "text_config.num_key_value_heads",
        config_usize(text, "num_key_value_heads", cpath)?,
        kv_heads,
        "k_proj / head_dim",
    )?;
    agree(
        cpath,
        "text_config.head_dim",
        config_usize(text, "head_dim", cpath)?,
        head_dim,
        "q_norm",
    )?;
    agree(
        cpath,
        "text_config.intermediate_size",
        config_usize(text, "intermediate_size", cpath)?,
        inter,
        "gate_proj",
    )?;

    let rope = match text {
        Some(t) => TextRope::read(t).map_err(|b| WeightsError::Config {
            path: cpath.to_path_buf(),
            expected: b.expected,
            found: b.found,
        })?,
        None => TextRope::default(),
    };
    Ok(TextEncoderDims {
        hidden_size: hidden,
        num_layers: layers,
        num_heads: heads,
        num_kv_heads: kv_heads,
        head_dim,
        intermediate_size: inter,
        vocab_size: vocab,
        rms_norm_eps: config_f64(text, "rms_norm_eps", cpath)?.unwrap_or(1e-6),
        rope_theta: rope.theta.unwrap_or(TEXT_ROPE_THETA),
        mrope_section: rope
            .mrope_section
            .unwrap_or_else(|| TEXT_MROPE_SECTION.to_vec()),
        mrope_interleaved: rope.interleaved.unwrap_or(true),
    })
}

fn check_vae(view: &PlanView<'_>) -> Result<VaeDims> {
    let pq = anchor(
        view,
        "post_quant_conv.weight",
        4,
        "post_quant_conv gives z_channels",
    )?;
    let conv_in = anchor(
        view,
        "decoder.conv_in.weight",
        4,
        "the decoder input convolution",
    )?;
    let conv_out = anchor(
        view,
        "decoder.conv_out.weight",
        4,
        "the decoder output convolution",
    )?;
    if conv_in[1] != pq[0] {
        return Err(WeightsError::tensor(
            view.path_of("decoder.conv_in.weight"),
            "decoder.conv_in.weight",
            format!("{} input channels (post_quant_conv output)", pq[0]),
            format!("shape {conv_in:?}"),
        ));
    }
    let blocks = count_layers(view, "decoder.up_blocks.")?;
    let mut up_block_channels = Vec::with_capacity(blocks);
    for k in 0..blocks {
        let name = format!("decoder.up_blocks.{k}.resnets.0.conv1.weight");
        up_block_channels.push(anchor(view, &name, 4, "each up block starts with a resnet")?[0]);
    }
    for name in view.names() {
        let p = view.get(name).expect("name from the plan");
        let int_buffer = name.ends_with("num_batches_tracked");
        if !int_buffer {
            check_dtype(view, name, p, Role::Float)?;
        } else if p.dense_dtype().is_some_and(StDtype::is_float) {
            return Err(WeightsError::tensor(
                view.path_of(name),
                name,
                "an integer counter",
                p.format().name(),
            ));
        }
    }
    Ok(VaeDims {
        z_channels: pq[0],
        up_block_channels,
        out_channels: conv_out[0],
    })
}
