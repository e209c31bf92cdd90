//! `kind: "lora_dit_forward"`: both transformers of each flavour with every case's adapter
//! attached at run time, against the reference with the adapter merged into the weights;
//! the unpatched outputs are checked once per flavour, and after each case the adapter is
//! detached and the outputs must equal the unpatched ones exactly (nothing is reloaded).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{compare_f32, Comparison, Result, Runner, Tolerance};
use crate::mlx::Dtype;
use crate::model::adapter::Adapter;
use crate::model::dit::Dit;
use crate::weights::ComponentKind;

/// Like `dit_forward`'s float32 tolerances (the sidecar has no `observed` block).
const TOLERANCE: Tolerance = Tolerance {
    atol: 1e-4,
    rtol: 1e-4,
};

struct Case {
    adapter: String,
    strength: f64,
    cond_out: String,
    uncond_out: String,
    base_cond_out: String,
    base_uncond_out: String,
}

impl Runner<'_> {
    pub(super) fn lora_dit_forward(&self, emit: &mut dyn FnMut(Comparison)) -> Result<()> {
        let g = self.golden;
        let cases = g.member("cases", Value::as_array)?;
        let mut by_flavour: BTreeMap<String, Vec<Case>> = BTreeMap::new();
        for (i, c) in cases.iter().enumerate() {
            let text = |key: &str| -> Result<String> {
                c.get(key)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| g.err(format!("cases[{i}].{key} is missing")))
            };
            let strength = c
                .get("strength")
                .and_then(Value::as_f64)
                .ok_or_else(|| g.err(format!("cases[{i}].strength is missing")))?;
            by_flavour.entry(text("flavour")?).or_default().push(Case {
                adapter: text("adapter")?,
                strength,
                cond_out: text("cond_out")?,
                uncond_out: text("uncond_out")?,
                base_cond_out: text("base_cond_out")?,
                base_uncond_out: text("base_uncond_out")?,
            });
        }
        let repos: BTreeMap<String, String> = g.folders("repos")?.into_iter().collect();
        let options = self.dit_options();
        let beside = g.path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
        let cond_packed = self.packed("cond")?;
        let uncond_packed = self.packed("uncond")?;
        for (flavour, cases) in by_flavour {
            let repo = repos
                .get(&flavour)
                .ok_or_else(|| g.err(format!("no repo for flavour {flavour}")))?;
            let Some(ckpt) = self.checkpoint(repo)? else {
                continue;
            };
            let load = |kind: ComponentKind, expand: bool| -> Result<Dit> {
                let mut component = ckpt.load_component(kind)?;
                if expand {
                    component.expand_quantized(Dtype::Bf16)?;
                }
                Ok(Dit::from_component(&mut component, options)?)
            };
            // The text projection is patched too when an adapter names it: `cond_out`
            // recomputes it.
            let run = |cond: &Dit, uncond: &Dit| -> Result<(Vec<f32>, Vec<f32>)> {
                Ok((
                    self.cond_out(cond, &cond_packed)?,
                    self.uncond_out(uncond, &uncond_packed)?,
                ))
            };
            // The stored weights as the loader gives them: the unpatched goldens.
            let cond = load(ComponentKind::Transformer, false)?;
            let uncond = load(ComponentKind::UnconditionalTransformer, false)?;
            let (c, u) = run(&cond, &uncond)?;
            let name = format!("{}/{flavour}", g.stem);
            let first = &cases[0];
            emit(compare_f32(
                &name,
                "base_cond_out",
                &c,
                &g.f32s(&first.base_cond_out)?,
                TOLERANCE,
            ));
            emit(compare_f32(
                &name,
                "base_uncond_out",
                &u,
                &g.f32s(&first.base_uncond_out)?,
                TOLERANCE,
            ));
            // The generator merged into `bnb.functional.dequantize_4bit(W)`, which returns the
            // quant state's dtype (bf16): its patched NF4 models hold bf16-rounded bases. The
            // adapters run on such a base here, so the comparison is like for like (measured:
            // ~1e-6 this way, 0.006–0.011 against the unrounded base, whatever the adapter).
            let expand = flavour == "nf4";
            let (mut cond, mut uncond) = if expand {
                (
                    load(ComponentKind::Transformer, true)?,
                    load(ComponentKind::UnconditionalTransformer, true)?,
                )
            } else {
                (cond, uncond)
            };
            let targets = cond.adapter_targets();
            let (base_c, base_u) = run(&cond, &uncond)?;
            for (id, case) in cases.iter().enumerate() {
                let id = id as u64 + 1;
                let name = format!("{}/{flavour}/{}@{}", g.stem, case.adapter, case.strength);
                let adapter = Adapter::load(&beside.join(&case.adapter), &targets)
                    .map_err(|e| g.err(e.to_string()))?;
                cond.attach_adapter(id, &adapter, case.strength, false)?;
                uncond.attach_adapter(id, &adapter, case.strength, false)?;
                let (c, u) = run(&cond, &uncond)?;
                emit(compare_f32(
                    &name,
                    "cond_out",
                    &c,
                    &g.f32s(&case.cond_out)?,
                    TOLERANCE,
                ));
                emit(compare_f32(
                    &name,
                    "uncond_out",
                    &u,
                    &g.f32s(&case.uncond_out)?,
                    TOLERANCE,
                ));
                cond.detach_adapter(id);
                uncond.detach_adapter(id);
                // Detaching restores the base exactly (nothing was merged or reloaded).
                let (c, u) = run(&cond, &uncond)?;
                emit(compare_f32(
                    &name,
                    "cond_out_after_detach",
                    &c,
                    &base_c,
                    Tolerance::EXACT,
                ));
                emit(compare_f32(
                    &name,
                    "uncond_out_after_detach",
                    &u,
                    &base_u,
                    Tolerance::EXACT,
                ));
            }
        }
        Ok(())
    }
}
