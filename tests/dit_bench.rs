//! `bench dit` on a small configuration: it runs end to end, its FLOP count matches the
//! formula written out by hand, and the random NF4 model produces finite velocities.

use ideogram4::bench::dit::{self as bench, BenchSetup};
use ideogram4::mlx::{random, Dtype};
use ideogram4::model::dit::{Dit, DitConfig, DitOptions, QueryChunking};
use ideogram4::model::linear::Compute;
use ideogram4::model::packing::PackedBatch;

fn small() -> DitConfig {
    DitConfig {
        emb_dim: 128,
        num_layers: 2,
        num_heads: 2,
        intermediate_size: 256,
        adanln_dim: 32,
        in_channels: 16,
        llm_features_dim: 192,
        rope_theta: 5_000_000.0,
        mrope_section: [10, 7, 7],
        norm_eps: 1e-5,
    }
}

/// Blocks (qkv 3D², o D², w1/w3/w2 3·D·I per token; adaLN 4D·A per sample; QKᵀ and PV
/// L²·D each) plus input (C·D) and final (D·C per token, D·A per sample) projections.
fn hand_macs(c: &DitConfig, len: u64) -> u64 {
    let (d, i, a, ch, layers) = (
        c.emb_dim as u64,
        c.intermediate_size as u64,
        c.adanln_dim as u64,
        c.in_channels as u64,
        c.num_layers as u64,
    );
    let block = len * (4 * d * d + 3 * d * i) + 4 * d * a + 2 * len * len * d;
    layers * block + len * ch * d + d * a + len * d * ch
}

#[test]
fn small_bench_counts_the_documented_flops() {
    let setup = BenchSetup {
        config: small(),
        text_tokens: 8,
        grid: (4, 6),
        runs: 1,
        ..BenchSetup::mid_size()
    };
    let r = bench::run(&setup).expect("bench runs");
    let (lc, lu) = (8 + 24, 24);
    assert_eq!((r.cond_tokens, r.uncond_tokens), (lc, lu));
    let want = 2.0
        * (hand_macs(&setup.config, lc as u64) + hand_macs(&setup.config, lu as u64)) as f64
        / 1e9;
    assert!(
        (r.step_gflop - want).abs() < 1e-12,
        "counted {} GFLOP, formula {want}",
        r.step_gflop
    );
    for v in [
        r.seconds_per_step,
        r.achieved_gflops,
        r.sgemm_gflops,
        r.efficiency,
        r.text_conditioning_seconds,
    ] {
        assert!(v.is_finite() && v > 0.0, "bench figure {v}");
    }
    let json = serde_json::to_value(&r).unwrap();
    for key in [
        "seconds_per_step",
        "achieved_gflops",
        "sgemm_gflops",
        "efficiency",
        "text_conditioning_seconds",
    ] {
        assert!(json.get(key).is_some(), "JSON key {key}");
    }
}

#[test]
fn random_nf4_model_gives_finite_velocities_with_both_dequantisers() {
    let packed = PackedBatch::new(&[5, 3], 3, 4).unwrap();
    let mut outs = Vec::new();
    for compute in [
        Compute::CPU,
        Compute {
            dequant: ideogram4::model::linear::Dequant::Graph,
            ..Compute::CPU
        },
    ] {
        let dit = Dit::random_nf4(
            &small(),
            DitOptions {
                compute,
                chunking: QueryChunking::Rows(7),
            },
            11,
        )
        .unwrap();
        let seq = dit.sequence(&packed).unwrap();
        let key = random::key(1).unwrap();
        let (k1, k2) = random::split(&key).unwrap();
        let llm = random::normal(&[2, 5, 192], Dtype::F32, 0.0, 1.0, &k1).unwrap();
        let x = random::normal(&[2, 17, 16], Dtype::F32, 0.0, 1.0, &k2).unwrap();
        let text = dit.text_conditioning(&llm, &seq).unwrap();
        let v = dit.velocity(&x, &[0.2, 0.9], &seq, Some(&text)).unwrap();
        assert_eq!(v.shape(), vec![2, 12, 16]);
        let v = v.to_vec::<f32>().unwrap();
        assert!(v.iter().all(|x| x.is_finite()));
        outs.push(v);
    }
    // Host and graph dequantisation are bit-identical, so the forwards agree exactly.
    assert_eq!(outs[0], outs[1]);
}
