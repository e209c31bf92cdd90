//! Writes a full-size Ideogram 4 DiT in the bitsandbytes NF4 layout of
//! `ideogram-ai/ideogram-4-nf4` (all 458 state-dict keys with their real shapes, 211 NF4
//! linears with absmax/quant_map/quant_state siblings, bf16 biases and norms), filled with
//! random data: ≈5.2 GB, a single `diffusion_pytorch_model.safetensors` like the real repo.
//! It exists to measure load time and resident memory of a real-size checkpoint without
//! downloading one (see `examples/load_timing.rs`); it is not used by the test suite.
//!
//! ```text
//! cargo run --release --example gen_fullsize_nf4 -- /tmp/fullsize-nf4/transformer
//! cargo run --release --example load_timing -- /tmp/fullsize-nf4/transformer
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Official `Ideogram4Config` (architecture spec §5.1).
const EMB: usize = 4608;
const LAYERS: usize = 34;
const HEAD_DIM: usize = 256;
const INTER: usize = 12288;
const ADALN: usize = 512;
const IN_CH: usize = 128;
const LLM: usize = 53248;
const BLOCKSIZE: usize = 64;

enum Kind {
    Linear,
    Bf16,
}

struct Entry {
    name: String,
    shape: Vec<usize>,
    kind: Kind,
}

/// The state-dict inventory of architecture spec §5.2 (458 tensors).
fn inventory() -> Vec<Entry> {
    let mut v = Vec::new();
    let mut add = |name: String, shape: &[usize], kind: Kind| {
        v.push(Entry {
            name,
            shape: shape.to_vec(),
            kind,
        })
    };
    add("input_proj.weight".into(), &[EMB, IN_CH], Kind::Linear);
    add("input_proj.bias".into(), &[EMB], Kind::Bf16);
    add("llm_cond_norm.weight".into(), &[LLM], Kind::Bf16);
    add("llm_cond_proj.weight".into(), &[EMB, LLM], Kind::Linear);
    add("llm_cond_proj.bias".into(), &[EMB], Kind::Bf16);
    for m in ["mlp_in", "mlp_out"] {
        add(format!("t_embedding.{m}.weight"), &[EMB, EMB], Kind::Linear);
        add(format!("t_embedding.{m}.bias"), &[EMB], Kind::Bf16);
    }
    add("adaln_proj.weight".into(), &[ADALN, EMB], Kind::Linear);
    add("adaln_proj.bias".into(), &[ADALN], Kind::Bf16);
    add("embed_image_indicator.weight".into(), &[2, EMB], Kind::Bf16);
    add(
        "final_layer.linear.weight".into(),
        &[IN_CH, EMB],
        Kind::Linear,
    );
    add("final_layer.linear.bias".into(), &[IN_CH], Kind::Bf16);
    add(
        "final_layer.adaln_modulation.weight".into(),
        &[EMB, ADALN],
        Kind::Linear,
    );
    add(
        "final_layer.adaln_modulation.bias".into(),
        &[EMB],
        Kind::Bf16,
    );
    for n in 0..LAYERS {
        let p = |s: &str| format!("layers.{n}.{s}");
        add(p("attention.qkv.weight"), &[3 * EMB, EMB], Kind::Linear);
        add(p("attention.norm_q.weight"), &[HEAD_DIM], Kind::Bf16);
        add(p("attention.norm_k.weight"), &[HEAD_DIM], Kind::Bf16);
        add(p("attention.o.weight"), &[EMB, EMB], Kind::Linear);
        add(p("feed_forward.w1.weight"), &[INTER, EMB], Kind::Linear);
        add(p("feed_forward.w2.weight"), &[EMB, INTER], Kind::Linear);
        add(p("feed_forward.w3.weight"), &[INTER, EMB], Kind::Linear);
        for norm in [
            "attention_norm1",
            "attention_norm2",
            "ffn_norm1",
            "ffn_norm2",
        ] {
            add(p(&format!("{norm}.weight")), &[EMB], Kind::Bf16);
        }
        add(
            p("adaln_modulation.weight"),
            &[4 * EMB, ADALN],
            Kind::Linear,
        );
        add(p("adaln_modulation.bias"), &[4 * EMB], Kind::Bf16);
    }
    v
}

/// How one stored tensor's bytes are produced.
enum Fill {
    Random,
    /// bf16 values near 1.0 (norm weights, biases): random low mantissa bits.
    Bf16,
    /// float32 scales in [0.01, 0.03).
    Absmax,
    QuantMap,
    Bytes(Vec<u8>),
}

struct Stored {
    name: String,
    dtype: &'static str,
    shape: Vec<usize>,
    nbytes: usize,
    fill: Fill,
}

fn stored_tensors() -> Vec<Stored> {
    let mut out = Vec::new();
    for e in inventory() {
        let n: usize = e.shape.iter().product();
        match e.kind {
            Kind::Bf16 => out.push(Stored {
                name: e.name,
                dtype: "BF16",
                shape: e.shape,
                nbytes: 2 * n,
                fill: Fill::Bf16,
            }),
            Kind::Linear => {
                let packed = n.div_ceil(2);
                let blocks = n.div_ceil(BLOCKSIZE);
                let state = format!(
                    "{{\"quant_type\": \"nf4\", \"blocksize\": {BLOCKSIZE}, \"dtype\": \"bfloat16\", \"shape\": [{}, {}]}}",
                    e.shape[0], e.shape[1]
                )
                .into_bytes();
                out.push(Stored {
                    name: e.name.clone(),
                    dtype: "U8",
                    shape: vec![packed, 1],
                    nbytes: packed,
                    fill: Fill::Random,
                });
                out.push(Stored {
                    name: format!("{}.absmax", e.name),
                    dtype: "F32",
                    shape: vec![blocks],
                    nbytes: 4 * blocks,
                    fill: Fill::Absmax,
                });
                out.push(Stored {
                    name: format!("{}.quant_map", e.name),
                    dtype: "F32",
                    shape: vec![16],
                    nbytes: 64,
                    fill: Fill::QuantMap,
                });
                out.push(Stored {
                    name: format!("{}.quant_state.bitsandbytes__nf4", e.name),
                    dtype: "U8",
                    shape: vec![state.len()],
                    nbytes: state.len(),
                    fill: Fill::Bytes(state),
                });
            }
        }
    }
    out
}

/// xorshift64*: fast, and good enough for filler bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn main() -> std::io::Result<()> {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/fullsize-nf4/transformer"));
    std::fs::create_dir_all(&dir)?;
    let tensors = stored_tensors();
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut offset = 0usize;
    for t in &tensors {
        header.insert(
            t.name.clone(),
            serde_json::json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, offset + t.nbytes]}),
        );
        offset += t.nbytes;
    }
    let mut json = serde_json::to_vec(&serde_json::Value::Object(header))?;
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    let path = dir.join("diffusion_pytorch_model.safetensors");
    let mut w = BufWriter::with_capacity(8 << 20, File::create(&path)?);
    w.write_all(&(json.len() as u64).to_le_bytes())?;
    w.write_all(&json)?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let codebook = ideogram4::weights::NF4_CODEBOOK;
    let mut buf = vec![0u8; 1 << 20];
    for t in &tensors {
        let mut left = t.nbytes;
        while left > 0 {
            let chunk = left.min(buf.len());
            let b = &mut buf[..chunk];
            match &t.fill {
                Fill::Random => b.chunks_mut(8).for_each(|c| {
                    let r = rng.next().to_le_bytes();
                    c.copy_from_slice(&r[..c.len()]);
                }),
                Fill::Bf16 => b.chunks_exact_mut(2).for_each(|c| {
                    let v = half::bf16::from_f32(1.0 + (rng.next() % 1000) as f32 * 1e-4);
                    c.copy_from_slice(&v.to_le_bytes());
                }),
                Fill::Absmax => b.chunks_exact_mut(4).for_each(|c| {
                    let v = 0.01 + (rng.next() % 1000) as f32 * 2e-5;
                    c.copy_from_slice(&v.to_le_bytes());
                }),
                Fill::QuantMap => b
                    .chunks_exact_mut(4)
                    .zip(codebook)
                    .for_each(|(c, v)| c.copy_from_slice(&v.to_le_bytes())),
                Fill::Bytes(bytes) => b.copy_from_slice(bytes),
            }
            w.write_all(b)?;
            left -= chunk;
        }
    }
    w.flush()?;
    let params: usize = inventory()
        .iter()
        .map(|e| e.shape.iter().product::<usize>())
        .sum();
    println!(
        "wrote {} ({} tensors, {} parameters, {:.2} GB)",
        path.display(),
        tensors.len(),
        params,
        (8 + json.len() + offset) as f64 / 1e9
    );
    Ok(())
}
