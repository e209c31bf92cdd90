//! Query-chunked attention: same values as whole-sequence attention, and the score matrix
//! held at once shrinks with the chunk (what keeps 1024² generation within memory).

use ideogram4::mlx::{self, memory, random, Array, Dtype};
use ideogram4::model::dit::{attend, Kernels, QueryChunking};

const B: usize = 2;
const H: usize = 4;
const L: usize = 1536;
const D: usize = 64;

/// q, k, v with unit-variance entries and segment ids where row 1 has 100 padding slots.
fn inputs() -> (Array, Array, Array, Vec<i32>) {
    let key = random::key(3).unwrap();
    let (k1, rest) = random::split(&key).unwrap();
    let (k2, k3) = random::split(&rest).unwrap();
    let q = random::normal(&[B, H, L, D], Dtype::F32, 0.0, 1.0, &k1).unwrap();
    let k = random::normal(&[B, H, L, D], Dtype::F32, 0.0, 1.0, &k2).unwrap();
    let v = random::normal(&[B, H, L, D], Dtype::F32, 0.0, 1.0, &k3).unwrap();
    let segments: Vec<i32> = (0..B * L)
        .map(|i| if (L..L + 100).contains(&i) { -1 } else { 1 })
        .collect();
    mlx::eval(&[&q, &k, &v]).unwrap();
    (q, k, v, segments)
}

/// Evaluates `attend` and returns (values, peak bytes above the live inputs).
fn run(chunking: QueryChunking, kernels: Kernels) -> (Vec<f32>, usize) {
    let (q, k, v, s) = inputs();
    memory::clear_cache();
    let base = memory::active();
    memory::reset_peak();
    let out = attend(&q, &k, &v, Some(&s), chunking, kernels).unwrap();
    out.eval().unwrap();
    let peak = memory::peak().saturating_sub(base);
    (out.to_vec::<f32>().unwrap(), peak)
}

fn chunked_equals_whole_and_holds_far_less(kernels: Kernels) {
    let (whole, whole_peak) = run(QueryChunking::Whole, kernels);
    // 200 does not divide 1536: the last chunk is short.
    let (chunked, chunked_peak) = run(QueryChunking::Rows(200), kernels);
    let max = whole
        .iter()
        .zip(&chunked)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let scores = B * H * L * L * 4;
    eprintln!(
        "{kernels:?}: max|Δ| {max:.3e}; peak above inputs: whole {:.1} MB, chunked {:.1} MB (one full score matrix {:.1} MB)",
        whole_peak as f64 / 1e6,
        chunked_peak as f64 / 1e6,
        scores as f64 / 1e6
    );
    assert!(whole.iter().all(|x| x.is_finite()));
    assert!(max <= 1e-6, "chunked differs from whole by {max}");
    assert!(
        whole_peak >= scores,
        "whole attention should hold the full score matrix"
    );
    assert!(
        chunked_peak < scores / 2,
        "chunked attention held {chunked_peak} bytes"
    );
}

#[test]
fn chunked_equals_whole_with_mlx_kernels() {
    chunked_equals_whole_and_holds_far_less(Kernels::Mlx);
}

#[test]
fn chunked_equals_whole_with_host_kernels() {
    chunked_equals_whole_and_holds_far_less(Kernels::Host);
}

#[test]
fn host_softmax_matches_mlx_attention() {
    let (host, _) = run(QueryChunking::Rows(512), Kernels::Host);
    let (mlx_out, _) = run(QueryChunking::Rows(512), Kernels::Mlx);
    let max = host
        .iter()
        .zip(&mlx_out)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("host vs MLX attention: max|Δ| {max:.3e}");
    assert!(max <= 1e-5, "host softmax path differs by {max}");
}

#[test]
fn padding_rows_attend_only_to_padding() {
    let (q, k, v, s) = inputs();
    let out = attend(
        &q,
        &k,
        &v,
        Some(&s),
        QueryChunking::Rows(512),
        Kernels::Host,
    )
    .unwrap();
    // Row 1's padding queries see exactly the 100 padding keys: recompute them alone.
    let pad = |a: &Array| {
        a.slice(
            &[1, 0, 0, 0],
            &[2, H as isize, 100, D as isize],
            &[1, 1, 1, 1],
        )
        .unwrap()
    };
    let alone = attend(
        &pad(&q),
        &pad(&k),
        &pad(&v),
        None,
        QueryChunking::Whole,
        Kernels::Mlx,
    )
    .unwrap();
    let got = pad(&out).to_vec::<f32>().unwrap();
    let want = alone.to_vec::<f32>().unwrap();
    let max = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max <= 1e-6, "padding rows differ by {max}");
}
