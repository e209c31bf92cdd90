//! Shared helpers of the DiT tests: golden fixtures, model loading, comparisons.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use ideogram4::mlx::{io, Array, Dtype};
use ideogram4::model::dit::{Dit, DitOptions, QueryChunking};
use ideogram4::model::linear::Compute;
use ideogram4::model::packing::PackedBatch;
use ideogram4::weights::{Checkpoint, ComponentKind};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A golden safetensors file and its JSON sidecar.
pub struct Golden {
    pub tensors: HashMap<String, Array>,
    pub sidecar: serde_json::Value,
}

impl Golden {
    pub fn open(stem: &str) -> Golden {
        let dir = fixtures().join("golden");
        let st =
            io::load_safetensors(&dir.join(format!("{stem}.safetensors"))).expect("golden tensors");
        let sidecar = std::fs::read(dir.join(format!("{stem}.json")))
            .map(|b| serde_json::from_slice(&b).expect("sidecar JSON"))
            .unwrap_or(serde_json::Value::Null);
        Golden {
            tensors: st.tensors.into_iter().collect(),
            sidecar,
        }
    }

    pub fn get(&self, name: &str) -> &Array {
        self.tensors
            .get(name)
            .unwrap_or_else(|| panic!("golden tensor {name} missing"))
    }

    pub fn i32s(&self, name: &str) -> Vec<i32> {
        self.get(name)
            .astype(Dtype::I32)
            .unwrap()
            .to_vec::<i32>()
            .unwrap()
    }

    pub fn f32s(&self, name: &str) -> Vec<f32> {
        self.get(name).to_f32_vec().unwrap()
    }

    /// The packed layout of `input.<branch>.*`.
    pub fn packed(&self, branch: &str) -> PackedBatch {
        let shape = self.get(&format!("input.{branch}.indicator")).shape();
        let pos = self.i32s(&format!("input.{branch}.position_ids"));
        PackedBatch::from_parts(
            shape[0],
            shape[1],
            self.i32s(&format!("input.{branch}.indicator")),
            self.i32s(&format!("input.{branch}.segment_ids")),
            pos.chunks(3).map(|p| [p[0], p[1], p[2]]).collect(),
        )
        .expect("golden layout")
    }

    /// `(atol, rtol)` the sidecar suggests for an fp32 comparison.
    pub fn fp32_tolerance(&self, flavour: &str, key: &str) -> (f32, f32) {
        let o = &self.sidecar["observed"][flavour][key];
        let atol = o["suggested_fp32_atol"]
            .as_f64()
            .expect("suggested_fp32_atol") as f32;
        let rtol = o["suggested_fp32_rtol"]
            .as_f64()
            .expect("suggested_fp32_rtol") as f32;
        (atol, rtol)
    }

    pub fn bf16_atol(&self, flavour: &str, key: &str) -> f32 {
        self.sidecar["observed"][flavour][key]["suggested_bf16_atol"]
            .as_f64()
            .expect("bf16 atol") as f32
    }

    pub fn times(&self, branch: &str) -> Vec<f32> {
        self.f32s(&format!("input.{branch}.t"))
    }
}

pub fn options(compute: Compute) -> DitOptions {
    DitOptions {
        compute,
        chunking: QueryChunking::Whole,
    }
}

/// Loads the conditional or unconditional DiT of a tiny fixture repo.
pub fn load_dit(flavour: &str, kind: ComponentKind, options: DitOptions) -> Dit {
    let ckpt =
        Checkpoint::open(&fixtures().join(format!("tiny-ideogram4-{flavour}"))).expect("tiny repo");
    let mut component = ckpt.load_component(kind).expect("component");
    Dit::from_component(&mut component, options).expect("DiT")
}

/// Max |got − want| and whether every element is within `atol + rtol·|want|`.
pub fn compare(got: &[f32], want: &[f32], atol: f32, rtol: f32) -> (f32, bool) {
    assert_eq!(got.len(), want.len(), "length mismatch");
    let mut max = 0f32;
    let mut ok = true;
    for (&g, &w) in got.iter().zip(want) {
        let d = (g - w).abs();
        // NaN fails too.
        if d.is_nan() || d > atol + rtol * w.abs() {
            ok = false;
        }
        max = max.max(if d.is_nan() { f32::INFINITY } else { d });
    }
    (max, ok)
}

/// Rows `rows` of axis 1 of a `[B, L, C]` host tensor.
pub fn take_rows(
    v: &[f32],
    b: usize,
    l: usize,
    c: usize,
    rows: std::ops::Range<usize>,
) -> Vec<f32> {
    (0..b)
        .flat_map(|bi| {
            v[(bi * l + rows.start) * c..(bi * l + rows.end) * c]
                .iter()
                .copied()
        })
        .collect()
}

/// Positions of every row whose indicator is 2.
pub fn image_rows(v: &[f32], indicator: &[i32], c: usize) -> Vec<f32> {
    indicator
        .iter()
        .enumerate()
        .filter(|(_, &i)| i == 2)
        .flat_map(|(r, _)| v[r * c..(r + 1) * c].iter().copied())
        .collect()
}

/// Conditional forward of the golden inputs: text conditioning on the text region, then the
/// full sequence. Returns `[B, L, C]` as host floats.
pub fn cond_forward(dit: &Dit, g: &Golden) -> Vec<f32> {
    let packed = g.packed("cond");
    let seq = dit.sequence(&packed).unwrap();
    let llm = g
        .get("input.cond.llm_features")
        .slice_axis(1, 0, packed.text_len())
        .unwrap();
    let text = dit.text_conditioning(&llm, &seq).unwrap();
    let out = dit
        .forward(g.get("input.cond.x"), &g.times("cond"), &seq, Some(&text))
        .unwrap();
    out.to_vec::<f32>().unwrap()
}

/// Unconditional forward (image-only layout, no text).
pub fn uncond_forward(dit: &Dit, g: &Golden) -> Vec<f32> {
    let packed = g.packed("uncond");
    let seq = dit.sequence(&packed).unwrap();
    let out = dit
        .forward(g.get("input.uncond.x"), &g.times("uncond"), &seq, None)
        .unwrap();
    out.to_vec::<f32>().unwrap()
}
