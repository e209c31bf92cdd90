//! Every binding op against values computed on the host.

use ideogram4::mlx::{self, fast, random, Array, Dtype};

fn arr(v: &[f32], shape: &[usize]) -> Array {
    Array::from_slice(v, shape).expect("array")
}

fn close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "index {i}: got {g}, want {w} (tol {tol})"
        );
    }
}

fn vals(a: &Array) -> Vec<f32> {
    a.to_f32_vec().expect("copy out")
}

const X: [f32; 6] = [0.5, -1.25, 2.0, 0.1, -0.3, 1.7];

#[test]
fn creation_and_queries() {
    let a = arr(&X, &[2, 3]);
    assert_eq!(a.shape(), vec![2, 3]);
    assert_eq!(a.ndim(), 2);
    assert_eq!(a.dtype(), Dtype::F32);
    assert_eq!(a.size(), 6);
    assert_eq!(a.nbytes(), 24);
    assert_eq!(a.dim(-1).unwrap(), 3);
    assert!(a.dim(2).is_err());
    assert_eq!(vals(&a), X.to_vec());
    assert_eq!(a.to_bytes().unwrap().len(), 24);
    assert!(
        Array::from_slice(&X, &[4]).is_err(),
        "wrong element count must fail"
    );
    assert!(a.to_vec::<i32>().is_err(), "dtype mismatch must fail");
}

#[test]
fn every_dtype_round_trips() {
    let ints: Vec<i32> = vec![-3, 0, 7, 1 << 20];
    assert_eq!(
        Array::from_slice(&ints, &[4])
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        ints
    );
    let i64s: Vec<i64> = vec![-(1 << 40), 5];
    assert_eq!(
        Array::from_slice(&i64s, &[2])
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        i64s
    );
    let u8s: Vec<u8> = vec![0, 17, 255];
    assert_eq!(
        Array::from_slice(&u8s, &[3])
            .unwrap()
            .to_vec::<u8>()
            .unwrap(),
        u8s
    );
    let u32s: Vec<u32> = vec![0, u32::MAX];
    assert_eq!(
        Array::from_slice(&u32s, &[2])
            .unwrap()
            .to_vec::<u32>()
            .unwrap(),
        u32s
    );
    let f16s: Vec<half::f16> = [0.5f32, -2.0, 1000.0]
        .iter()
        .map(|v| half::f16::from_f32(*v))
        .collect();
    assert_eq!(
        Array::from_slice(&f16s, &[3])
            .unwrap()
            .to_vec::<half::f16>()
            .unwrap(),
        f16s
    );

    // f32 -> bf16 rounds to nearest even exactly like `half`, and converts back exactly.
    let src = [1.0f32, 3.140625, 1.0 + 1.0 / 256.0, -7.0625, 1e-3, 65504.0];
    let b = arr(&src, &[6]).astype(Dtype::Bf16).unwrap();
    assert_eq!(b.dtype(), Dtype::Bf16);
    let host: Vec<half::bf16> = src.iter().map(|v| half::bf16::from_f32(*v)).collect();
    assert_eq!(b.to_vec::<half::bf16>().unwrap(), host);
    assert_eq!(
        vals(&b),
        host.iter().map(|v| v.to_f32()).collect::<Vec<_>>()
    );

    let bools = arr(&[1.0, -1.0, 0.0], &[3]).gt(&Array::f32(0.0)).unwrap();
    assert_eq!(bools.dtype(), Dtype::Bool);
    assert_eq!(
        bools.astype(Dtype::U8).unwrap().to_vec::<u8>().unwrap(),
        vec![1, 0, 0]
    );
}

#[test]
fn unary_math() {
    let a = arr(&X, &[6]);
    let pos = arr(&[0.25, 1.0, 4.0, 9.0], &[4]);
    let host = |f: fn(f32) -> f32| X.iter().map(|v| f(*v)).collect::<Vec<_>>();
    close(&vals(&a.exp().unwrap()), &host(f32::exp), 1e-6);
    close(&vals(&a.sin().unwrap()), &host(f32::sin), 1e-6);
    close(&vals(&a.cos().unwrap()), &host(f32::cos), 1e-6);
    close(&vals(&a.tanh().unwrap()), &host(f32::tanh), 1e-6);
    close(
        &vals(&a.sigmoid().unwrap()),
        &host(|v| 1.0 / (1.0 + (-v).exp())),
        1e-6,
    );
    close(&vals(&a.square().unwrap()), &host(|v| v * v), 1e-6);
    close(&vals(&a.abs().unwrap()), &host(f32::abs), 0.0);
    close(&vals(&a.neg().unwrap()), &host(|v| -v), 0.0);
    close(
        &vals(&a.silu().unwrap()),
        &host(|v| v / (1.0 + (-v).exp())),
        1e-6,
    );
    close(&vals(&a.floor().unwrap()), &host(f32::floor), 0.0);
    close(
        &vals(&pos.log().unwrap()),
        &[0.25f32.ln(), 0.0, 4f32.ln(), 9f32.ln()],
        1e-6,
    );
    close(&vals(&pos.sqrt().unwrap()), &[0.5, 1.0, 2.0, 3.0], 1e-6);
    close(
        &vals(&pos.rsqrt().unwrap()),
        &[2.0, 1.0, 0.5, 1.0 / 3.0],
        1e-6,
    );
    // Round half to even, as torch.round.
    close(
        &vals(&arr(&[0.5, 1.5, 2.5, -0.5], &[4]).round().unwrap()),
        &[0.0, 2.0, 2.0, -0.0],
        0.0,
    );
    let erf_ref = [
        0.520_499_9f32,
        -0.922_900_1,
        0.995_322_3,
        0.112_462_9,
        -0.328_626_8,
        0.983_790_5,
    ];
    close(&vals(&a.erf().unwrap()), &erf_ref, 1e-5);
}

#[test]
fn binary_and_broadcast() {
    let a = arr(&X, &[2, 3]);
    let row = arr(&[1.0, 2.0, 4.0], &[3]);
    let want = |f: fn(f32, f32) -> f32| {
        X.iter()
            .enumerate()
            .map(|(i, v)| f(*v, [1.0, 2.0, 4.0][i % 3]))
            .collect::<Vec<_>>()
    };
    close(&vals(&a.add(&row).unwrap()), &want(|x, y| x + y), 0.0);
    close(&vals(&a.sub(&row).unwrap()), &want(|x, y| x - y), 0.0);
    close(&vals(&a.mul(&row).unwrap()), &want(|x, y| x * y), 0.0);
    close(&vals(&a.div(&row).unwrap()), &want(|x, y| x / y), 1e-7);
    close(&vals(&a.maximum(&row).unwrap()), &want(f32::max), 0.0);
    close(&vals(&a.minimum(&row).unwrap()), &want(f32::min), 0.0);
    close(&vals(&a.add_scalar(1.5).unwrap()), &X.map(|v| v + 1.5), 0.0);
    close(
        &vals(&a.mul_scalar(-2.0).unwrap()),
        &X.map(|v| v * -2.0),
        0.0,
    );
    close(&vals(&a.sub_scalar(0.5).unwrap()), &X.map(|v| v - 0.5), 0.0);
    close(&vals(&a.div_scalar(4.0).unwrap()), &X.map(|v| v / 4.0), 0.0);
    // Scalars take the array's dtype: bf16 stays bf16.
    let b = a.astype(Dtype::Bf16).unwrap();
    assert_eq!(b.mul_scalar(3.0).unwrap().dtype(), Dtype::Bf16);
    assert_eq!(b.add_scalar(3.0).unwrap().dtype(), Dtype::Bf16);
}

#[test]
fn comparisons_where_clip() {
    let a = arr(&X, &[6]);
    let zero = Array::f32(0.0);
    let gt = a.gt(&zero).unwrap();
    let want_gt: Vec<u8> = X.iter().map(|v| u8::from(*v > 0.0)).collect();
    assert_eq!(
        gt.astype(Dtype::U8).unwrap().to_vec::<u8>().unwrap(),
        want_gt
    );
    for (f, op) in [
        (a.lt(&zero).unwrap(), (|v: f32| v < 0.0) as fn(f32) -> bool),
        (a.le(&Array::f32(2.0)).unwrap(), |v| v <= 2.0),
        (a.ge(&Array::f32(2.0)).unwrap(), |v| v >= 2.0),
        (a.eq(&Array::f32(2.0)).unwrap(), |v| v == 2.0),
        (a.ne(&Array::f32(2.0)).unwrap(), |v| v != 2.0),
    ] {
        let want: Vec<u8> = X.iter().map(|v| u8::from(op(*v))).collect();
        assert_eq!(f.astype(Dtype::U8).unwrap().to_vec::<u8>().unwrap(), want);
    }
    let w = Array::where_(&gt, &a, &a.mul_scalar(10.0).unwrap()).unwrap();
    close(
        &vals(&w),
        &X.map(|v| if v > 0.0 { v } else { v * 10.0 }),
        0.0,
    );
    close(
        &vals(&a.clip(Some(-0.5), Some(1.0)).unwrap()),
        &X.map(|v| v.clamp(-0.5, 1.0)),
        0.0,
    );
    close(
        &vals(&a.clip(None, Some(0.0)).unwrap()),
        &X.map(|v| v.min(0.0)),
        0.0,
    );
}

#[test]
fn bitwise_ops_on_bytes() {
    let bytes: Vec<u8> = vec![0x00, 0x1f, 0xa5, 0xff];
    let a = Array::from_slice(&bytes, &[4]).unwrap();
    let hi = a.right_shift(&a.scalar_like(4.0).unwrap()).unwrap();
    let lo = a.bitwise_and(&a.scalar_like(15.0).unwrap()).unwrap();
    assert_eq!(
        hi.to_vec::<u8>().unwrap(),
        bytes.iter().map(|b| b >> 4).collect::<Vec<_>>()
    );
    assert_eq!(
        lo.to_vec::<u8>().unwrap(),
        bytes.iter().map(|b| b & 15).collect::<Vec<_>>()
    );
    let sh = lo.left_shift(&lo.scalar_like(4.0).unwrap()).unwrap();
    assert_eq!(
        sh.to_vec::<u8>().unwrap(),
        bytes.iter().map(|b| (b & 15) << 4).collect::<Vec<_>>()
    );
    let or = sh.bitwise_or(&hi).unwrap();
    assert_eq!(
        or.to_vec::<u8>().unwrap(),
        bytes.iter().map(|b| b.rotate_left(4)).collect::<Vec<_>>()
    );
}

#[test]
fn matmul_and_addmm() {
    let (m, k, n) = (4, 5, 3);
    let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.3).sin()).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.7).cos()).collect();
    let mut want = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            want[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
        }
    }
    let (am, bm) = (arr(&a, &[m, k]), arr(&b, &[k, n]));
    close(&vals(&am.matmul(&bm).unwrap()), &want, 1e-6);
    // Batched with broadcasting, and x @ Wᵀ through t().
    let batched = am
        .expand_dims(&[0])
        .unwrap()
        .broadcast_to(&[2, m, k])
        .unwrap();
    assert_eq!(batched.matmul(&bm).unwrap().shape(), vec![2, m, n]);
    let wt = bm.t().unwrap().contiguous().unwrap();
    close(&vals(&am.matmul(&wt.t().unwrap()).unwrap()), &want, 1e-6);
    let c = arr(&vec![1.0; m * n], &[m, n]);
    let fused = c.addmm(&am, &bm, 2.0, 0.5).unwrap();
    close(
        &vals(&fused),
        &want.iter().map(|v| 2.0 * v + 0.5).collect::<Vec<_>>(),
        1e-6,
    );
    // BLAS called directly agrees.
    let mut hc = vec![0f32; m * n];
    mlx::blas::sgemm(m, n, k, &a, &b, &mut hc).unwrap();
    close(&hc, &want, 1e-6);
}

#[test]
fn reductions() {
    let a = arr(&X, &[2, 3]);
    close(&vals(&a.sum(&[1], false).unwrap()), &[1.25, 1.5], 1e-6);
    close(&vals(&a.sum(&[0], true).unwrap()), &[0.6, -1.55, 3.7], 1e-6);
    assert_eq!(a.sum(&[0], true).unwrap().shape(), vec![1, 3]);
    close(
        &vals(&a.mean(&[1], false).unwrap()),
        &[1.25 / 3.0, 0.5],
        1e-6,
    );
    close(&vals(&a.max(&[1], false).unwrap()), &[2.0, 1.7], 0.0);
    close(&vals(&a.min(&[0], false).unwrap()), &[0.1, -1.25, 1.7], 0.0);
    close(&vals(&a.sum_all().unwrap()), &[2.75], 1e-6);
    close(&vals(&a.max_all().unwrap()), &[2.0], 0.0);
    let m = 1.25f32 / 3.0;
    let var = [0.5f32, -1.25, 2.0]
        .iter()
        .map(|v| (v - m).powi(2))
        .sum::<f32>()
        / 3.0;
    close(
        &vals(&a.var(&[1], false).unwrap()).as_slice()[..1],
        &[var],
        1e-5,
    );
    let sm = vals(&a.softmax(&[-1]).unwrap());
    let e: Vec<f32> = X[..3].iter().map(|v| v.exp()).collect();
    let s: f32 = e.iter().sum();
    close(&sm[..3], &e.iter().map(|v| v / s).collect::<Vec<_>>(), 1e-6);
    close(
        &vals(&a.logsumexp(&[1], false).unwrap())[..1],
        &[s.ln()],
        1e-6,
    );
    assert_eq!(
        a.argmax(1, false)
            .unwrap()
            .astype(Dtype::I32)
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        vec![2, 2]
    );
}

#[test]
fn shapes_and_indexing() {
    let a = arr(&X, &[2, 3]);
    assert_eq!(a.reshape(&[3, 2]).unwrap().shape(), vec![3, 2]);
    assert_eq!(a.reshape_infer(&[-1]).unwrap().shape(), vec![6]);
    let t = a.transpose(&[1, 0]).unwrap();
    close(&vals(&t), &[0.5, 0.1, -1.25, -0.3, 2.0, 1.7], 0.0);
    close(&vals(&a.t().unwrap()), &vals(&t), 0.0);
    assert_eq!(a.expand_dims(&[0, 2]).unwrap().shape(), vec![1, 2, 1, 3]);
    assert_eq!(
        a.expand_dims(&[0]).unwrap().squeeze(&[]).unwrap().shape(),
        vec![2, 3]
    );
    assert_eq!(a.broadcast_to(&[4, 2, 3]).unwrap().shape(), vec![4, 2, 3]);
    let c = mlx::concatenate(&[&a, &a], 0).unwrap();
    assert_eq!(c.shape(), vec![4, 3]);
    let s = mlx::stack(&[&a, &a], 0).unwrap();
    assert_eq!(s.shape(), vec![2, 2, 3]);
    let parts = a.split_at(&[1], 1).unwrap();
    assert_eq!(parts.len(), 2);
    close(&vals(&parts[0]), &[0.5, 0.1], 0.0);
    close(&vals(&parts[1]), &[-1.25, 2.0, -0.3, 1.7], 0.0);
    let eq = a.split_equal(3, 1).unwrap();
    assert_eq!(eq.len(), 3);
    assert!(a.split_equal(2, 1).is_err());
    close(
        &vals(&a.slice(&[0, 1], &[2, 3], &[1, 2]).unwrap()),
        &[-1.25, -0.3],
        0.0,
    );
    close(
        &vals(&a.slice_axis(1, 1, 3).unwrap()),
        &[-1.25, 2.0, -0.3, 1.7],
        0.0,
    );
    let upd = a
        .slice_update(&arr(&[9.0, 9.0], &[2, 1]), &[0, 0], &[2, 1], &[1, 1])
        .unwrap();
    close(&vals(&upd), &[9.0, -1.25, 2.0, 9.0, -0.3, 1.7], 0.0);
    let idx = Array::from_slice(&[2i32, 0], &[2]).unwrap();
    close(
        &vals(&a.take(&idx, Some(1)).unwrap()),
        &[2.0, 0.5, 1.7, 0.1],
        0.0,
    );
    close(&vals(&a.take(&idx, None).unwrap()), &[2.0, 0.5], 0.0);
    let along = Array::from_slice(&[1i32, 2], &[2, 1]).unwrap();
    close(
        &vals(&a.take_along_axis(&along, 1).unwrap()),
        &[-1.25, 1.7],
        0.0,
    );
    close(
        &vals(&arr(&[1.0, 2.0], &[2]).repeat(2, 0).unwrap()),
        &[1.0, 1.0, 2.0, 2.0],
        0.0,
    );
    close(
        &vals(&arr(&[1.0, 2.0], &[2]).tile(&[2]).unwrap()),
        &[1.0, 2.0, 1.0, 2.0],
        0.0,
    );
    let p = arr(&[1.0, 2.0], &[1, 2]).pad(&[(1, 1, 2)], -1.0).unwrap();
    close(&vals(&p), &[-1.0, 1.0, 2.0, -1.0, -1.0], 0.0);
}

#[test]
fn creation_ops() {
    close(
        &vals(&mlx::arange(0.0, 5.0, 2.0, Dtype::F32).unwrap()),
        &[0.0, 2.0, 4.0],
        0.0,
    );
    close(
        &vals(&mlx::linspace(0.0, 1.0, 5, Dtype::F32).unwrap()),
        &[0.0, 0.25, 0.5, 0.75, 1.0],
        1e-7,
    );
    close(
        &vals(&mlx::zeros(&[2, 2], Dtype::F32).unwrap()),
        &[0.0; 4],
        0.0,
    );
    close(
        &vals(&mlx::ones(&[3], Dtype::Bf16).unwrap()),
        &[1.0; 3],
        0.0,
    );
    let f = mlx::full(&[2], 7.5, Dtype::F16).unwrap();
    assert_eq!(f.dtype(), Dtype::F16);
    close(&vals(&f), &[7.5, 7.5], 0.0);
    assert_eq!(
        Array::scalar(3.0, Dtype::I32)
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        vec![3]
    );
    let filled = Array::from_fn_bytes(&[3], Dtype::F32, |b| {
        for (i, c) in b.chunks_mut(4).enumerate() {
            c.copy_from_slice(&(i as f32 * 2.0).to_le_bytes());
        }
    })
    .unwrap();
    close(&vals(&filled), &[0.0, 2.0, 4.0], 0.0);
}

#[test]
fn conv2d_matches_host() {
    // NHWC input 1x3x3x2, OHWI weight 2x2x2x2, stride 1, padding 0.
    let x: Vec<f32> = (0..18).map(|i| i as f32 * 0.1 - 0.5).collect();
    let w: Vec<f32> = (0..16).map(|i| (i as f32 * 0.37).sin()).collect();
    let got = vals(
        &arr(&x, &[1, 3, 3, 2])
            .conv2d(&arr(&w, &[2, 2, 2, 2]), (1, 1), (0, 0), (1, 1), 1)
            .unwrap(),
    );
    let mut want = vec![0f32; 2 * 2 * 2];
    for oy in 0..2 {
        for ox in 0..2 {
            for o in 0..2 {
                let mut acc = 0f32;
                for ky in 0..2 {
                    for kx in 0..2 {
                        for c in 0..2 {
                            acc += x[((oy + ky) * 3 + (ox + kx)) * 2 + c]
                                * w[((o * 2 + ky) * 2 + kx) * 2 + c];
                        }
                    }
                }
                want[(oy * 2 + ox) * 2 + o] = acc;
            }
        }
    }
    close(&got, &want, 1e-6);
    // Padding 1 keeps the spatial size for a 3x3 kernel.
    let k3 = mlx::ones(&[4, 3, 3, 2], Dtype::F32).unwrap();
    let y = arr(&x, &[1, 3, 3, 2])
        .conv2d(&k3, (1, 1), (1, 1), (1, 1), 1)
        .unwrap();
    assert_eq!(y.shape(), vec![1, 3, 3, 4]);
}

#[test]
fn fast_norms() {
    let a = arr(&X, &[2, 3]);
    let w = arr(&[1.0, 2.0, 0.5], &[3]);
    let got = vals(&fast::rms_norm(&a, Some(&w), 1e-6).unwrap());
    let mut want = Vec::new();
    for r in X.chunks(3) {
        let ms = r.iter().map(|v| v * v).sum::<f32>() / 3.0;
        let inv = 1.0 / (ms + 1e-6).sqrt();
        want.extend(r.iter().zip([1.0, 2.0, 0.5]).map(|(v, g)| v * inv * g));
    }
    close(&got, &want, 1e-5);
    let got = vals(&fast::layer_norm(&a, None, None, 1e-6).unwrap());
    let mut want = Vec::new();
    for r in X.chunks(3) {
        let m = r.iter().sum::<f32>() / 3.0;
        let var = r.iter().map(|v| (v - m).powi(2)).sum::<f32>() / 3.0;
        want.extend(r.iter().map(|v| (v - m) / (var + 1e-6).sqrt()));
    }
    close(&got, &want, 1e-5);
}

#[test]
fn rope_matches_host() {
    // (B=1, H=1, L=3, D=4), non-traditional (rotate halves), base 10000.
    let x: Vec<f32> = (0..12).map(|i| (i as f32 * 0.45).cos()).collect();
    let got = vals(
        &fast::rope(
            &arr(&x, &[1, 1, 3, 4]),
            4,
            false,
            fast::RopeFreqs::Base(10000.0),
            1.0,
            2,
        )
        .unwrap(),
    );
    let mut want = vec![0f32; 12];
    for l in 0..3 {
        let pos = (l + 2) as f32;
        for i in 0..2 {
            let theta = pos * 10000f32.powf(-(2.0 * i as f32) / 4.0);
            let (a, b) = (x[l * 4 + i], x[l * 4 + i + 2]);
            want[l * 4 + i] = a * theta.cos() - b * theta.sin();
            want[l * 4 + i + 2] = a * theta.sin() + b * theta.cos();
        }
    }
    close(&got, &want, 1e-5);
}

#[test]
fn attention_matches_host() {
    let (l, d) = (3usize, 4usize);
    let q: Vec<f32> = (0..l * d).map(|i| (i as f32 * 0.3).sin()).collect();
    let k: Vec<f32> = (0..l * d).map(|i| (i as f32 * 0.2).cos()).collect();
    let v: Vec<f32> = (0..l * d).map(|i| i as f32 * 0.1).collect();
    let scale = 0.5f32;
    let host = |causal: bool| {
        let mut out = vec![0f32; l * d];
        for i in 0..l {
            let s: Vec<f32> = (0..l)
                .map(|j| {
                    if causal && j > i {
                        f32::NEG_INFINITY
                    } else {
                        (0..d).map(|c| q[i * d + c] * k[j * d + c]).sum::<f32>() * scale
                    }
                })
                .collect();
            let mx = s.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f32> = s.iter().map(|x| (x - mx).exp()).collect();
            let z: f32 = e.iter().sum();
            for c in 0..d {
                out[i * d + c] = (0..l).map(|j| e[j] / z * v[j * d + c]).sum();
            }
        }
        out
    };
    let (qa, ka, va) = (
        arr(&q, &[1, 1, l, d]),
        arr(&k, &[1, 1, l, d]),
        arr(&v, &[1, 1, l, d]),
    );
    let plain = fast::scaled_dot_product_attention(&qa, &ka, &va, scale, fast::Mask::None).unwrap();
    close(&vals(&plain), &host(false), 1e-5);
    let causal =
        fast::scaled_dot_product_attention(&qa, &ka, &va, scale, fast::Mask::Causal).unwrap();
    close(&vals(&causal), &host(true), 1e-5);
    // A boolean mask equal to causal gives the same result.
    let tri: Vec<u8> = (0..l * l).map(|i| u8::from(i % l <= i / l)).collect();
    let mask = Array::from_slice(&tri, &[l, l])
        .unwrap()
        .astype(Dtype::Bool)
        .unwrap();
    let masked =
        fast::scaled_dot_product_attention(&qa, &ka, &va, scale, fast::Mask::Array(&mask)).unwrap();
    close(&vals(&masked), &host(true), 1e-5);
}

#[test]
fn random_normal_is_deterministic_per_key() {
    let draw = |seed| {
        random::normal(&[64], Dtype::F32, 0.0, 1.0, &random::key(seed).unwrap())
            .unwrap()
            .to_vec::<f32>()
            .unwrap()
    };
    let (a, b, c) = (draw(42), draw(42), draw(43));
    assert_eq!(a, b);
    assert_ne!(a, c);
    let mean = a.iter().sum::<f32>() / 64.0;
    assert!(mean.abs() < 0.5, "mean {mean}");
    let (k1, k2) = random::split(&random::key(7).unwrap()).unwrap();
    assert_ne!(k1.to_vec::<u32>().unwrap(), k2.to_vec::<u32>().unwrap());
    let u = random::uniform(&[100], Dtype::F32, 2.0, 3.0, &k1)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert!(u.iter().all(|v| (2.0..3.0).contains(v)));
}

#[test]
fn safetensors_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.safetensors");
    let a = arr(&X, &[2, 3]);
    let b = Array::from_slice(&[1u8, 2, 3], &[3])
        .unwrap()
        .astype(Dtype::U8)
        .unwrap();
    let c = a.astype(Dtype::Bf16).unwrap();
    mlx::io::save_safetensors(&path, &[("a", &a), ("b", &b), ("c", &c)]).unwrap();
    let f = mlx::io::load_safetensors(&path).unwrap();
    let get = |n: &str| &f.tensors.iter().find(|(k, _)| k == n).unwrap().1;
    assert_eq!(vals(get("a")), X.to_vec());
    assert_eq!(get("b").to_vec::<u8>().unwrap(), vec![1, 2, 3]);
    assert_eq!(get("c").dtype(), Dtype::Bf16);
    let missing = mlx::io::load_safetensors(&dir.path().join("nope.safetensors")).unwrap_err();
    assert!(!missing.message.is_empty());
}

#[test]
fn devices() {
    assert_eq!(mlx::default_device(), mlx::Device::Cpu);
    mlx::set_default_device(mlx::Device::Cpu).unwrap();
    if !mlx::device::gpu_available() {
        assert!(mlx::set_default_device(mlx::Device::Gpu).is_err());
    }
    assert!(mlx::device::version().starts_with("0."));
}
