//! Parity with the official reference: runs our code on the inputs recorded in golden sidecars
//! (`../shared/fixtures/golden/*.json` and their safetensors) and compares every output.
//!
//! Every sidecar names its `kind`, its `tensors` file (next to the sidecar) and the folders it
//! was computed from (`repos` by flavour, or `tokenizers`), resolved under the fixtures folder.
//! Each flavour a sidecar holds is run. A comparison is an allclose check,
//! `|ours − golden| ≤ atol + rtol·|golden|` element-wise (NaN fails), reported as one
//! [`Comparison`]: `{"case","output","max_abs_diff","tolerance":{"atol","rtol"},"pass"}`.
//!
//! Tolerances: the sidecar's `observed` block where it has one (`suggested_fp32_atol/rtol`);
//! for end-to-end runs the README's rule `atol = max(1e-4, 20 × |fp32 − fp64|)` of the
//! reference's own noise floor for that output, `rtol = 1e-4`; token ids, schedules and
//! dequantised weights exactly; uint8 images within 1 level.

mod e2e;
mod lora;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::mlx::{self, io, Array, Dtype};
use crate::model::dit::{Dit, DitOptions, QueryChunking};
use crate::model::latent::{latent_to_tokens, tokens_to_latent, LatentNorm};
use crate::model::linear::Compute;
use crate::model::packing::{PackedBatch, LLM_TOKEN_INDICATOR, OUTPUT_IMAGE_INDICATOR};
use crate::model::text_encoder::TextEncoder;
use crate::model::tokenizer::PromptTokenizer;
use crate::model::vae::{image_float, pixels_to_input, to_uint8, VaeDecoder, VaeEncoder};
use crate::pipeline::PipelineError;
use crate::sampler::{ImageSize, Preset, SamplerParams};
use crate::weights::{Checkpoint, ComponentKind};

/// `atol` / `rtol` of an allclose check.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Tolerance {
    pub atol: f64,
    pub rtol: f64,
}

impl Tolerance {
    pub const EXACT: Tolerance = Tolerance {
        atol: 0.0,
        rtol: 0.0,
    };
    /// uint8 images: at most one level apart.
    pub const ONE_LEVEL: Tolerance = Tolerance {
        atol: 1.0,
        rtol: 0.0,
    };

    /// The fixtures README's rule for fp32 results: `max(1e-4, 20 × noise floor)`, rtol 1e-4.
    pub fn from_noise_floor(fp32_vs_fp64: f64) -> Tolerance {
        Tolerance {
            atol: (20.0 * fp32_vs_fp64).max(1e-4),
            rtol: 1e-4,
        }
    }
}

/// One compared output.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// `<sidecar stem>/<flavour>` (plus a sub-case where a sidecar holds several).
    pub case: String,
    pub output: String,
    /// Largest absolute difference; infinite when shapes differ or a value is NaN.
    pub max_abs_diff: f64,
    pub tolerance: Tolerance,
    pub pass: bool,
}

impl Comparison {
    /// The harness's JSON object, keys in the documented order (a non-finite difference is
    /// written as `null`).
    pub fn to_json(&self) -> Value {
        // serde_json keeps a struct's field order when printing it.
        serde_json::to_value(self.line()).unwrap_or(Value::Null)
    }

    /// One JSON line: `{"case","output","max_abs_diff","tolerance":{"atol","rtol"},"pass"}`.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(&self.line()).unwrap_or_default()
    }

    fn line(&self) -> Line<'_> {
        Line {
            case: &self.case,
            output: &self.output,
            max_abs_diff: self.max_abs_diff.is_finite().then_some(self.max_abs_diff),
            tolerance: self.tolerance,
            pass: self.pass,
        }
    }
}

#[derive(serde::Serialize)]
struct Line<'a> {
    case: &'a str,
    output: &'a str,
    max_abs_diff: Option<f64>,
    tolerance: Tolerance,
    pass: bool,
}

/// Compares two equally long value lists (`got` is ours).
pub fn compare(
    case: &str,
    output: &str,
    got: &[f64],
    want: &[f64],
    tolerance: Tolerance,
) -> Comparison {
    let mut max = 0f64;
    let mut pass = got.len() == want.len();
    if !pass {
        max = f64::INFINITY;
    }
    for (&g, &w) in got.iter().zip(want) {
        let d = (g - w).abs();
        // A NaN difference compares false: it fails.
        let within = d <= tolerance.atol + tolerance.rtol * w.abs();
        pass &= within;
        max = max.max(if d.is_nan() { f64::INFINITY } else { d });
    }
    Comparison {
        case: case.to_string(),
        output: output.to_string(),
        max_abs_diff: max,
        tolerance,
        pass,
    }
}

fn compare_f32(case: &str, output: &str, got: &[f32], want: &[f32], tol: Tolerance) -> Comparison {
    let g: Vec<f64> = got.iter().map(|&v| f64::from(v)).collect();
    let w: Vec<f64> = want.iter().map(|&v| f64::from(v)).collect();
    compare(case, output, &g, &w, tol)
}

fn compare_ids(case: &str, output: &str, got: &[u32], want: &[i64]) -> Comparison {
    let g: Vec<f64> = got.iter().map(|&v| f64::from(v)).collect();
    let w: Vec<f64> = want.iter().map(|&v| v as f64).collect();
    compare(case, output, &g, &w, Tolerance::EXACT)
}

/// Why a sidecar could not be run (as opposed to a comparison that failed).
#[derive(Debug, thiserror::Error)]
pub enum ParityError {
    #[error("{path}: {message}")]
    Sidecar { path: PathBuf, message: String },
    #[error("sidecar kind {0:?} is not one this harness knows")]
    UnknownKind(String),
    #[error("{0} is missing")]
    Missing(PathBuf),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Mlx(#[from] mlx::Error),
}

/// The model layers' errors reach the harness the way the pipeline reports them.
macro_rules! through_pipeline {
    ($($error:ty),* $(,)?) => {$(
        impl From<$error> for ParityError {
            fn from(e: $error) -> Self {
                ParityError::Pipeline(e.into())
            }
        }
    )*};
}

through_pipeline!(
    crate::weights::WeightsError,
    crate::model::dit::DitError,
    crate::model::text_encoder::TextEncoderError,
    crate::model::vae::VaeError,
    crate::model::latent::LatentError,
    crate::model::tokenizer::TokenizerError,
    crate::model::packing::PackingError,
    crate::sampler::SamplerError,
);

pub type Result<T> = std::result::Result<T, ParityError>;

/// How to run the harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParityOptions {
    /// Numerics of our side; the goldens' tight tolerances are for float32.
    pub compute: Compute,
    /// A folder a sidecar names that does not exist under the fixtures folder is reported
    /// on stderr and skipped instead of being an error (the 11 MB real tokenizer is not
    /// copied into the repository's test fixtures).
    pub skip_missing: bool,
}

impl Default for ParityOptions {
    fn default() -> Self {
        ParityOptions {
            compute: Compute::CPU,
            skip_missing: false,
        }
    }
}

/// A sidecar with its tensors.
struct Golden {
    path: PathBuf,
    stem: String,
    json: Value,
    tensors: HashMap<String, Array>,
}

impl Golden {
    fn open(path: &Path) -> Result<Golden> {
        let bad = |message: String| ParityError::Sidecar {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let json: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tensors = match json.get("tensors").and_then(Value::as_str) {
            Some(file) => {
                let p = path.parent().unwrap_or(Path::new(".")).join(file);
                if !p.is_file() {
                    return Err(ParityError::Missing(p));
                }
                io::load_safetensors(&p)?.tensors.into_iter().collect()
            }
            None => HashMap::new(),
        };
        Ok(Golden {
            path: path.to_path_buf(),
            stem,
            json,
            tensors,
        })
    }

    fn err(&self, message: impl Into<String>) -> ParityError {
        ParityError::Sidecar {
            path: self.path.clone(),
            message: message.into(),
        }
    }

    /// Compares `got` with the golden tensor of the same name.
    fn against(&self, case: &str, name: &str, got: &[f32], tol: Tolerance) -> Result<Comparison> {
        Ok(compare_f32(case, name, got, &self.f32s(name)?, tol))
    }

    /// [`Self::against`] for a model input in NCHW, which must match exactly.
    fn against_input(&self, case: &str, name: &str, input: &Array) -> Result<Comparison> {
        self.against(case, name, &nchw(input)?, Tolerance::from_noise_floor(0.0))
    }

    /// The top-level member `key`, read as `kind` (an object, a list).
    fn member<'a, T: ?Sized>(
        &'a self,
        key: &str,
        kind: fn(&'a Value) -> Option<&'a T>,
    ) -> Result<&'a T> {
        self.json
            .get(key)
            .and_then(kind)
            .ok_or_else(|| self.err(format!("`{key}` is missing")))
    }

    fn get(&self, name: &str) -> Result<&Array> {
        self.tensors
            .get(name)
            .ok_or_else(|| self.err(format!("tensor {name:?} is missing")))
    }

    fn f32s(&self, name: &str) -> Result<Vec<f32>> {
        Ok(self.get(name)?.to_f32_vec()?)
    }

    fn i64s(&self, name: &str) -> Result<Vec<i64>> {
        Ok(self.get(name)?.astype(Dtype::I64)?.to_vec::<i64>()?)
    }

    fn i32s(&self, name: &str) -> Result<Vec<i32>> {
        Ok(self.get(name)?.astype(Dtype::I32)?.to_vec::<i32>()?)
    }

    fn value(&self, pointer: &str) -> Result<&Value> {
        self.json
            .pointer(pointer)
            .ok_or_else(|| self.err(format!("{pointer} is missing")))
    }

    fn f64_at(&self, pointer: &str) -> Result<f64> {
        self.value(pointer)?
            .as_f64()
            .ok_or_else(|| self.err(format!("{pointer} is not a number")))
    }

    fn usize_at(&self, pointer: &str) -> Result<usize> {
        self.value(pointer)?
            .as_u64()
            .map(|v| v as usize)
            .ok_or_else(|| self.err(format!("{pointer} is not a count")))
    }

    fn f32_list(&self, pointer: &str) -> Result<Vec<f32>> {
        self.value(pointer)?
            .as_array()
            .and_then(|a| a.iter().map(|v| v.as_f64().map(|x| x as f32)).collect())
            .ok_or_else(|| self.err(format!("{pointer} is not a list of numbers")))
    }

    /// `(atol, rtol)` of `observed/<path>` (`suggested_fp32_atol`, `suggested_fp32_rtol`).
    fn observed_tolerance(&self, path: &str) -> Result<Tolerance> {
        Ok(Tolerance {
            atol: self.f64_at(&format!("/observed/{path}/suggested_fp32_atol"))?,
            rtol: self.f64_at(&format!("/observed/{path}/suggested_fp32_rtol"))?,
        })
    }

    /// `(flavour, folder name)` pairs of `repos` (or `tokenizers`), in file order.
    fn folders(&self, key: &str) -> Result<Vec<(String, String)>> {
        Ok(self
            .member(key, Value::as_object)?
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
            .collect())
    }
}

/// Runs one sidecar, handing every comparison to `emit`.
pub fn run_sidecar(
    fixtures: &Path,
    sidecar: &Path,
    options: &ParityOptions,
    emit: &mut dyn FnMut(Comparison),
) -> Result<()> {
    let golden = Golden::open(sidecar)?;
    let kind = golden
        .json
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let runner = Runner {
        fixtures,
        options,
        golden: &golden,
    };
    match kind.as_str() {
        "schedule" => runner.schedule(emit),
        "dit_forward" => runner.dit_forward(emit),
        "text_encoder" => runner.text_encoder(emit),
        "vae_decode" => runner.vae_decode(emit),
        "vae_encode" => runner.vae_encode(emit),
        "pipeline_e2e" => runner.pipeline_e2e(emit),
        "tokenizer" => runner.tokenizer(emit),
        "quant_formats" => runner.quant_formats(emit),
        "lora_dit_forward" => runner.lora_dit_forward(emit),
        other => Err(ParityError::UnknownKind(other.to_string())),
    }
}

struct Runner<'a> {
    fixtures: &'a Path,
    options: &'a ParityOptions,
    golden: &'a Golden,
}

impl Runner<'_> {
    fn case(&self, flavour: &str) -> String {
        format!("{}/{flavour}", self.golden.stem)
    }

    /// The folder `name` under the fixtures folder; `None` when missing and skipping is on.
    fn folder(&self, name: &str) -> Result<Option<PathBuf>> {
        let p = self.fixtures.join(name);
        if p.exists() {
            return Ok(Some(p));
        }
        if self.options.skip_missing {
            eprintln!(
                "parity: {} needs {}, which is absent: skipped",
                self.golden.stem,
                p.display()
            );
            return Ok(None);
        }
        Err(ParityError::Missing(p))
    }

    /// The golden's `repos` that are present, opened one at a time as the loop reaches them:
    /// `(flavour, case name, checkpoint)`.
    fn checkpoints(
        &self,
    ) -> Result<impl Iterator<Item = Result<(String, String, Checkpoint)>> + '_> {
        let repos = self.golden.folders("repos")?;
        Ok(repos.into_iter().filter_map(move |(flavour, repo)| {
            let ckpt = self.checkpoint(&repo).transpose()?;
            Some(ckpt.map(|c| (flavour.clone(), self.case(&flavour), c)))
        }))
    }

    fn checkpoint(&self, name: &str) -> Result<Option<Checkpoint>> {
        match self.folder(name)? {
            Some(p) => Ok(Some(Checkpoint::open(&p)?)),
            None => Ok(None),
        }
    }

    fn schedule(&self, emit: &mut dyn FnMut(Comparison)) -> Result<()> {
        let g = self.golden;
        let presets = g.member("presets", Value::as_object)?;
        for (name, preset) in presets {
            let p: Preset = name.parse()?;
            let resolutions = preset
                .get("resolutions")
                .and_then(Value::as_object)
                .ok_or_else(|| g.err(format!("{name}: `resolutions` is missing")))?;
            for (res, r) in resolutions {
                let base = format!("/presets/{name}/resolutions/{res}");
                let size = ImageSize::new(
                    g.usize_at(&format!("{base}/width"))? as u32,
                    g.usize_at(&format!("{base}/height"))? as u32,
                );
                let plan = SamplerParams::Preset(p).schedule(size)?;
                let case = format!("{}/{name}/{res}", g.stem);
                let list = |key: &str| -> Result<Vec<f64>> {
                    r.get("loop")
                        .and_then(Value::as_array)
                        .and_then(|l| l.iter().map(|s| s.get(key)?.as_f64()).collect())
                        .ok_or_else(|| g.err(format!("{base}/loop/*/{key} is missing")))
                };
                let ours = |f: &dyn Fn(&crate::sampler::Step) -> f32| -> Vec<f64> {
                    plan.steps.iter().map(|s| f64::from(f(s))).collect()
                };
                let sigmas: Vec<f64> = plan.sigmas.iter().map(|&v| f64::from(v)).collect();
                let want_s: Vec<f64> = g
                    .f32_list(&format!("{base}/s"))?
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect();
                emit(compare(&case, "s", &sigmas, &want_s, Tolerance::EXACT));
                emit(compare(
                    &case,
                    "loop.t",
                    &ours(&|s| s.t),
                    &list("t")?,
                    Tolerance::EXACT,
                ));
                emit(compare(
                    &case,
                    "loop.delta_f32",
                    &ours(&|s| s.delta),
                    &list("delta_f32")?,
                    Tolerance::EXACT,
                ));
                emit(compare(
                    &case,
                    "loop.guidance",
                    &ours(&|s| s.guidance),
                    &list("guidance")?,
                    Tolerance::EXACT,
                ));
            }
        }
        Ok(())
    }

    fn packed(&self, branch: &str) -> Result<PackedBatch> {
        let g = self.golden;
        let shape = g.get(&format!("input.{branch}.indicator"))?.shape();
        let pos = g.i32s(&format!("input.{branch}.position_ids"))?;
        Ok(PackedBatch::from_parts(
            shape[0],
            shape[1],
            g.i32s(&format!("input.{branch}.indicator"))?,
            g.i32s(&format!("input.{branch}.segment_ids"))?,
            pos.chunks(3).map(|p| [p[0], p[1], p[2]]).collect(),
        )?)
    }

    /// The DiT options of every DiT case: whole-sequence attention, as the reference.
    fn dit_options(&self) -> DitOptions {
        DitOptions {
            compute: self.options.compute,
            chunking: QueryChunking::Whole,
        }
    }

    /// `cond` on the golden's conditional input (`packed` from [`Runner::packed`]), with its
    /// text conditioning computed from the stored features.
    fn cond_out(&self, cond: &Dit, packed: &PackedBatch) -> Result<Vec<f32>> {
        let g = self.golden;
        let seq = cond.sequence(packed)?;
        let llm = g
            .get("input.cond.llm_features")?
            .slice_axis(1, 0, packed.text_len())?;
        let text = cond.text_conditioning(&llm, &seq)?;
        let x = g.get("input.cond.x")?;
        Ok(cond
            .forward(x, &g.f32s("input.cond.t")?, &seq, Some(&text))?
            .to_f32_vec()?)
    }

    /// `uncond` on the golden's unconditional input.
    fn uncond_out(&self, uncond: &Dit, packed: &PackedBatch) -> Result<Vec<f32>> {
        let g = self.golden;
        let seq = uncond.sequence(packed)?;
        let x = g.get("input.uncond.x")?;
        Ok(uncond
            .forward(x, &g.f32s("input.uncond.t")?, &seq, None)?
            .to_f32_vec()?)
    }

    fn dit_forward(&self, emit: &mut dyn FnMut(Comparison)) -> Result<()> {
        let g = self.golden;
        let options = self.dit_options();
        let packed = self.packed("cond")?;
        let uncond_packed = self.packed("uncond")?;
        let indicator = g.i32s("input.cond.indicator")?;
        let channels = g.get("input.cond.x")?.dim(-1)?;
        let image_rows = |v: &[f32]| -> Vec<f32> {
            v.chunks(channels)
                .zip(&indicator)
                .filter(|(_, &i)| i == OUTPUT_IMAGE_INDICATOR)
                .flat_map(|(row, _)| row.iter().copied())
                .collect()
        };
        for present in self.checkpoints()? {
            let (flavour, case, ckpt) = present?;
            let cond = Dit::from_component(
                &mut ckpt.load_component(ComponentKind::Transformer)?,
                options,
            )?;
            let out = self.cond_out(&cond, &packed)?;
            let want = g.f32s(&format!("{flavour}.cond_out"))?;
            emit(compare_f32(
                &case,
                "cond_out_image_positions",
                &image_rows(&out),
                &image_rows(&want),
                g.observed_tolerance(&format!("{flavour}/cond_out_image_positions"))?,
            ));
            emit(compare_f32(
                &case,
                "cond_out_all_positions",
                &out,
                &want,
                g.observed_tolerance(&format!("{flavour}/cond_out_all_positions"))?,
            ));
            drop(cond);

            let uncond = Dit::from_component(
                &mut ckpt.load_component(ComponentKind::UnconditionalTransformer)?,
                options,
            )?;
            let out = self.uncond_out(&uncond, &uncond_packed)?;
            emit(compare_f32(
                &case,
                "uncond_out",
                &out,
                &g.f32s(&format!("{flavour}.uncond_out"))?,
                g.observed_tolerance(&format!("{flavour}/uncond_out"))?,
            ));
        }
        Ok(())
    }

    fn text_encoder(&self, emit: &mut dyn FnMut(Comparison)) -> Result<()> {
        let g = self.golden;
        let token_ids = g.get("token_ids")?;
        let ids = g.i64s("token_ids")?;
        let indicator = g.i64s("indicator")?;
        let seq_len = token_ids.dim(1)?;
        let prompts: Vec<String> = g
            .value("/prompts")?
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        for present in self.checkpoints()? {
            let (flavour, case, ckpt) = present?;
            // The prompts' ids as our tokenizer makes them, against the text slots.
            let tokenizer = PromptTokenizer::from_file(ckpt.tokenizer_path())?;
            for (b, prompt) in prompts.iter().enumerate() {
                let row = &ids[b * seq_len..(b + 1) * seq_len];
                let ind = &indicator[b * seq_len..(b + 1) * seq_len];
                let want: Vec<i64> = row
                    .iter()
                    .zip(ind)
                    .filter(|(_, &i)| i == i64::from(LLM_TOKEN_INDICATOR))
                    .map(|(&id, _)| id)
                    .collect();
                emit(compare_ids(
                    &case,
                    &format!("token_ids[{b}]"),
                    &tokenizer.encode_prompt(prompt)?,
                    &want,
                ));
            }
            let encoder = TextEncoder::from_checkpoint(&ckpt, self.options.compute)?;
            let features = encoder
                .encode(token_ids, g.get("text_position_ids")?, g.get("indicator")?)?
                .to_f32_vec()?;
            emit(compare_f32(
                &case,
                "features",
                &features,
                &g.f32s(&format!("{flavour}.features"))?,
                g.observed_tolerance(&flavour)?,
            ));
        }
        Ok(())
    }

    fn vae_decode(&self, emit: &mut dyn FnMut(Comparison)) -> Result<()> {
        let g = self.golden;
        let (gh, gw) = (g.usize_at("/grid_h")?, g.usize_at("/grid_w")?);
        for present in self.checkpoints()? {
            let (_, case, ckpt) = present?;
            let vae = VaeDecoder::from_checkpoint(&ckpt, self.options.compute)?;
            let z = g.get("z")?;
            let norm = LatentNorm::ideogram4()?.truncated(z.dim(-1)?)?;
            let latent = tokens_to_latent(z, &norm, gh, gw)?;
            emit(g.against_input(&case, "decoder_input", &latent)?);
            let decoded = vae.decode(&latent)?;
            emit(g.against(
                &case,
                "decoder_output",
                &nchw(&decoded)?,
                g.observed_tolerance("decoder_output")?,
            )?);
            emit(g.against(
                &case,
                "image_float_prequant",
                &image_float(&decoded)?.to_f32_vec()?,
                g.observed_tolerance("decoder_output").map(|t| Tolerance {
                    atol: t.atol * 127.5,
                    rtol: t.rtol,
                })?,
            )?);
            emit(g.against(
                &case,
                "image_uint8",
                &to_uint8(&decoded)?.to_f32_vec()?,
                Tolerance::ONE_LEVEL,
            )?);
        }
        Ok(())
    }

    /// The encoder on the golden's images: the input mapping, the `quant_conv` output and
    /// the normalised tokens an image-to-image job starts from. Float32 uses the README's
    /// noise-floor rule; other compute dtypes get the decoder golden's bf16-sized slack
    /// (`0.1` absolute, scaled by the output's range).
    fn vae_encode(&self, emit: &mut dyn FnMut(Comparison)) -> Result<()> {
        let g = self.golden;
        let (b, h, w) = (
            g.usize_at("/batch")?,
            g.usize_at("/image_height")?,
            g.usize_at("/image_width")?,
        );
        let floor = g.f64_at("/observed/encoder_output_fp32_vs_fp64_max_abs")?;
        let tolerance = if self.options.compute.dtype == Dtype::F32 {
            Tolerance::from_noise_floor(floor)
        } else {
            Tolerance {
                atol: 0.1 * g.f64_at("/observed/encoder_output_stats/max_abs")?.max(1.0),
                rtol: 0.0,
            }
        };
        // NCHW uint8 → NHWC bytes.
        let pixels = g
            .get("image_uint8_nchw")?
            .transpose(&[0, 2, 3, 1])?
            .astype(Dtype::U8)?
            .to_vec::<u8>()?;
        let input = pixels_to_input(&pixels, b, h, w)?;
        for present in self.checkpoints()? {
            let (_, case, ckpt) = present?;
            emit(g.against_input(&case, "encoder_input", &input)?);
            let encoder = VaeEncoder::from_checkpoint(&ckpt, self.options.compute)?;
            let moments = encoder.encode(&input)?;
            emit(g.against(&case, "encoder_output", &nchw(&moments)?, tolerance)?);
            let mean = encoder.mean(&moments)?;
            let norm = LatentNorm::new(g.f32s("latent_shift")?, g.f32s("latent_scale")?)?;
            let tokens = latent_to_tokens(&mean, &norm)?;
            emit(g.against(
                &case,
                "latent_normalized",
                &tokens.to_f32_vec()?, // Normalising divides by scales below one: the encoder's slack grows with it.
                Tolerance {
                    atol: tolerance.atol / norm.scale().iter().copied().fold(1.0, f32::min) as f64,
                    rtol: tolerance.rtol,
                },
            )?);
        }
        Ok(())
    }

    fn tokenizer(&self, emit: &mut dyn FnMut(Comparison)) -> Result<()> {
        let g = self.golden;
        let cases = g
            .value("/cases")?
            .as_array()
            .ok_or_else(|| g.err("cases is not a list"))?;
        for (name, folder) in g.folders("tokenizers")? {
            let Some(dir) = self.folder(&folder)? else {
                continue;
            };
            let tokenizer = PromptTokenizer::from_file(&dir.join("tokenizer.json"))?;
            let key = format!("{name}_ids");
            for (i, c) in cases.iter().enumerate() {
                let label = c
                    .get("label")
                    .and_then(Value::as_str)
                    .map_or_else(|| i.to_string(), String::from);
                let prompt = c
                    .get("prompt")
                    .and_then(Value::as_str)
                    .ok_or_else(|| g.err(format!("cases[{i}].prompt is missing")))?;
                let want: Vec<i64> = c
                    .get(&key)
                    .and_then(Value::as_array)
                    .and_then(|a| a.iter().map(Value::as_i64).collect())
                    .ok_or_else(|| g.err(format!("cases[{i}].{key} is missing")))?;
                // The ids without the 2048 limit: some cases are long on purpose.
                let got = tokenizer.encode_raw(&crate::model::tokenizer::chat_string(prompt))?;
                emit(compare_ids(
                    &format!("{}/{name}/{label}", g.stem),
                    &key,
                    &got,
                    &want,
                ));
            }
        }
        Ok(())
    }

    fn quant_formats(&self, emit: &mut dyn FnMut(Comparison)) -> Result<()> {
        let g = self.golden;
        let repos: HashMap<String, String> = g.folders("repos")?.into_iter().collect();
        let mut checks: Vec<(String, ComponentKind, String, String)> = Vec::new();
        if let Some(nf4) = g.json.get("nf4").and_then(Value::as_object) {
            for (label, entry) in nf4 {
                let key = entry
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or_else(|| g.err(format!("nf4.{label}.key is missing")))?;
                let kind = if label.starts_with("te_") {
                    ComponentKind::TextEncoder
                } else {
                    ComponentKind::Transformer
                };
                checks.push((
                    "nf4".into(),
                    kind,
                    key.into(),
                    format!("{label}.dequantized"),
                ));
            }
        }
        for name in g.tensors.keys() {
            if let Some(key) = name
                .strip_prefix("dit_fp8.")
                .and_then(|k| k.strip_suffix(".dequantized"))
            {
                checks.push((
                    "fp8".into(),
                    ComponentKind::Transformer,
                    key.into(),
                    name.clone(),
                ));
            }
        }
        checks.sort_by(|a, b| a.3.cmp(&b.3));
        for (flavour, kind, key, tensor) in checks {
            let repo = repos
                .get(&flavour)
                .ok_or_else(|| g.err(format!("no {flavour} repo")))?;
            let Some(ckpt) = self.checkpoint(repo)? else {
                continue;
            };
            let name = key.clone();
            let component = ckpt.load_component_filtered(kind, &|n| n == name)?;
            let weight = component
                .get(&key)
                .ok_or_else(|| g.err(format!("{repo} has no {key}")))?;
            emit(compare_f32(
                &self.case(&flavour),
                &tensor,
                &weight.dequantize(Dtype::F32)?.to_f32_vec()?,
                &g.f32s(&tensor)?,
                Tolerance::EXACT,
            ));
        }
        Ok(())
    }
}

const USAGE: &str = "usage: parity --fixtures DIR [--skip-missing] SIDECAR.json...\n  \
    e.g. parity --fixtures ../shared/fixtures ../shared/fixtures/golden/*.json";

/// The harness's command line (`examples/parity.rs`): JSON lines on `out`, diagnostics on
/// `err`; returns the exit status: 0 when everything passed, 1 when a comparison failed or a
/// sidecar could not be run, 2 for bad arguments.
pub fn command_line(
    args: impl IntoIterator<Item = std::ffi::OsString>,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> u8 {
    let mut fixtures: Option<PathBuf> = None;
    let mut sidecars = Vec::new();
    let mut options = ParityOptions::default();
    let mut args = args.into_iter();
    // Write failures on stdout/stderr cannot be reported anywhere; they are ignored.
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--fixtures") => fixtures = args.next().map(PathBuf::from),
            Some("--skip-missing") => options.skip_missing = true,
            Some("-h" | "--help") => {
                let _ = writeln!(out, "{USAGE}");
                return 0;
            }
            Some(s) if s.starts_with("--") => {
                let _ = writeln!(err, "unknown option {s}\n{USAGE}");
                return 2;
            }
            _ => sidecars.push(PathBuf::from(arg)),
        }
    }
    let Some(fixtures) = fixtures else {
        let _ = writeln!(err, "--fixtures DIR is required\n{USAGE}");
        return 2;
    };
    if sidecars.is_empty() {
        let _ = writeln!(err, "no sidecar given\n{USAGE}");
        return 2;
    }
    let (mut passed, mut failed, mut broken) = (0usize, 0usize, 0usize);
    for sidecar in &sidecars {
        let result = run_sidecar(&fixtures, sidecar, &options, &mut |c| {
            let _ = writeln!(out, "{}", c.to_json_line());
            if c.pass {
                passed += 1;
            } else {
                failed += 1;
            }
        });
        if let Err(e) = result {
            let _ = writeln!(err, "{}: {e}", sidecar.display());
            broken += 1;
        }
    }
    let _ = writeln!(
        err,
        "parity: {passed} passed, {failed} failed, {broken} sidecar(s) could not be run"
    );
    u8::from(failed > 0 || broken > 0)
}

/// NHWC → NCHW host values (the goldens store PyTorch's layout).
fn nchw(x: &Array) -> mlx::Result<Vec<f32>> {
    x.transpose(&[0, 3, 1, 2])?.to_f32_vec()
}
