//! Inverse of the standard normal CDF in f64.
//!
//! The reference schedule calls `torch.special.ndtri` in float64, which is the Cephes
//! `ndtri` algorithm (S. L. Moshier, Cephes Math Library 2.8, the same code SciPy ships). We
//! use the same rational approximations so that the f64 intermediate matches the reference to
//! within an ulp or two, which keeps every f32-cast schedule value bit-identical (checked
//! against the golden schedules in `tests/sampler_golden.rs`).

// The coefficients are kept digit for digit as published so they can be checked against the
// Cephes source; the compiler rounds them to the same f64 either way.
#![allow(clippy::excessive_precision)]

/// sqrt(2π)
const S2PI: f64 = 2.506_628_274_631_000_502_42;

/// exp(-2): boundary between the central and the tail approximations.
const EXP_M2: f64 = 0.135_335_283_236_612_691_89;

// Central region 0 <= |y - 0.5| <= 3/8: x/sqrt(2π) = w + w³·P0(w²)/Q0(w²).
const P0: [f64; 5] = [
    -5.996_335_010_141_078_952_67E1,
    9.800_107_541_859_996_615_36E1,
    -5.667_628_574_690_702_934_39E1,
    1.393_126_093_872_796_795_03E1,
    -1.239_165_838_673_812_580_16E0,
];
const Q0: [f64; 8] = [
    1.954_488_583_381_417_598_34E0,
    4.676_279_128_988_815_384_53E0,
    8.636_024_213_908_905_905_75E1,
    -2.254_626_878_541_193_705_27E2,
    2.002_602_123_800_606_603_59E2,
    -8.203_722_561_683_333_399_12E1,
    1.590_562_251_262_116_955_15E1,
    -1.183_316_211_213_300_031_42E0,
];

// Tail, z = sqrt(-2 ln y) in [2, 8): y between exp(-2) and exp(-32).
const P1: [f64; 9] = [
    4.055_448_923_059_624_199_23E0,
    3.152_510_945_998_938_661_54E1,
    5.716_281_922_464_212_881_62E1,
    4.408_050_738_932_008_347_00E1,
    1.468_495_619_288_580_240_14E1,
    2.186_633_068_507_902_675_39E0,
    -1.402_560_791_713_544_958_75E-1,
    -3.504_246_268_278_482_034_18E-2,
    -8.574_567_851_546_854_136_11E-4,
];
const Q1: [f64; 8] = [
    1.577_998_832_564_667_497_31E1,
    4.539_076_351_288_792_105_84E1,
    4.131_720_382_546_720_304_40E1,
    1.504_253_856_929_075_034_08E1,
    2.504_649_462_083_094_159_79E0,
    -1.421_829_228_547_877_885_74E-1,
    -3.808_064_076_915_782_771_94E-2,
    -9.332_594_808_954_574_273_72E-4,
];

// Far tail, z in [8, 64): y between exp(-32) and exp(-2048).
const P2: [f64; 9] = [
    3.237_748_917_769_460_359_70E0,
    6.915_228_890_689_842_116_95E0,
    3.938_810_252_924_744_434_15E0,
    1.333_034_608_158_075_423_89E0,
    2.014_853_895_491_790_815_38E-1,
    1.237_166_348_178_200_213_58E-2,
    3.015_815_535_082_354_160_07E-4,
    2.658_069_746_867_375_508_32E-6,
    6.239_745_391_849_832_937_30E-9,
];
const Q2: [f64; 8] = [
    6.024_270_393_647_420_142_55E0,
    3.679_835_638_561_608_594_03E0,
    1.377_020_994_890_813_302_71E0,
    2.162_369_935_944_966_358_90E-1,
    1.342_040_060_885_431_890_37E-2,
    3.280_144_646_821_277_391_04E-4,
    2.892_478_647_453_806_839_36E-6,
    6.790_194_080_099_812_744_25E-9,
];

/// Horner evaluation, coefficients highest power first.
fn polevl(x: f64, coef: &[f64]) -> f64 {
    coef.iter().fold(0.0, |acc, &c| acc * x + c)
}

/// Horner evaluation with an implicit leading coefficient of 1.
fn p1evl(x: f64, coef: &[f64]) -> f64 {
    coef.iter().fold(1.0, |acc, &c| acc * x + c)
}

/// Φ⁻¹(y): the x with P(N(0,1) ≤ x) = y.
///
/// `ndtri(0) = -∞`, `ndtri(1) = +∞`, NaN outside `[0, 1]` or for NaN input (as
/// `torch.special.ndtri`). Relative error ≤ ~1e-15 over the whole domain.
pub fn ndtri(y0: f64) -> f64 {
    if y0.is_nan() || !(0.0..=1.0).contains(&y0) {
        return f64::NAN;
    }
    if y0 == 0.0 {
        return f64::NEG_INFINITY;
    }
    if y0 == 1.0 {
        return f64::INFINITY;
    }

    // Work on the lower half and mirror, so the tail formulas see a small y.
    let (mut y, negate) = if y0 > 1.0 - EXP_M2 {
        (1.0 - y0, false)
    } else {
        (y0, true)
    };

    if y > EXP_M2 {
        y -= 0.5;
        let y2 = y * y;
        let x = y + y * (y2 * polevl(y2, &P0) / p1evl(y2, &Q0));
        return x * S2PI;
    }

    let x = (-2.0 * y.ln()).sqrt();
    let x0 = x - x.ln() / x;
    let z = 1.0 / x;
    let x1 = if x < 8.0 {
        z * polevl(z, &P1) / p1evl(z, &Q1)
    } else {
        z * polevl(z, &P2) / p1evl(z, &Q2)
    };
    let x = x0 - x1;
    if negate {
        -x
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::ndtri;

    /// Quantiles with published high-precision values (e.g. Abramowitz & Stegun tables,
    /// Wichura's AS241 test values), covering the central region and both tails.
    #[test]
    fn matches_known_quantiles() {
        let cases: [(f64, f64); 8] = [
            (0.5, 0.0),
            (0.975, 1.959_963_984_540_054),
            (0.025, -1.959_963_984_540_054),
            (0.841_344_746_068_542_9, 1.0),
            (0.25, -0.674_489_750_196_081_7),
            (1e-10, -6.361_340_902_404_056),
            // exp(-32) < 1e-20 < exp(-2048): far-tail branch.
            (1e-20, -9.262_340_089_798_408),
            (2.866_515_718_791_939e-7, -5.0),
        ];
        for (p, want) in cases {
            let got = ndtri(p);
            let tol = 1e-14 * want.abs().max(1.0);
            assert!(
                (got - want).abs() <= tol,
                "ndtri({p}) = {got}, want {want} (diff {})",
                (got - want).abs()
            );
        }
    }

    #[test]
    fn limits_and_domain() {
        assert_eq!(ndtri(0.0), f64::NEG_INFINITY);
        assert_eq!(ndtri(1.0), f64::INFINITY);
        assert!(ndtri(-0.1).is_nan());
        assert!(ndtri(1.1).is_nan());
        assert!(ndtri(f64::NAN).is_nan());
    }

    #[test]
    fn odd_symmetry() {
        for k in 1..1000 {
            let p = k as f64 / 1000.0;
            let a = ndtri(p);
            let b = ndtri(1.0 - p);
            assert!(
                (a + b).abs() <= 1e-13 * a.abs().max(1.0),
                "p={p}: {a} vs {b}"
            );
        }
    }

    /// Independent check: Φ(ndtri(p)) = p, with Φ from a high-accuracy erfc series
    /// (Taylor for small |x|, continued fraction for the tails), all in f64.
    #[test]
    fn inverts_the_normal_cdf() {
        for k in 1..2000 {
            let p = k as f64 / 2000.0;
            let x = ndtri(p);
            let back = normal_cdf(x);
            assert!(((back - p) / p).abs() < 1e-13, "p={p}: x={x}, Φ(x)={back}");
        }
        for e in [1e-5, 1e-8, 1e-12, 1e-16, 1e-30, 1e-100] {
            let x = ndtri(e);
            let back = normal_cdf(x);
            assert!(((back - e) / e).abs() < 1e-12, "p={e}: x={x}, Φ(x)={back}");
        }
    }

    /// Φ(x) via erfc; accurate to ~1e-15 relative, independent of the Cephes tables above.
    fn normal_cdf(x: f64) -> f64 {
        0.5 * erfc(-x / std::f64::consts::SQRT_2)
    }

    fn erfc(x: f64) -> f64 {
        if x < 0.0 {
            return 2.0 - erfc(-x);
        }
        if x < 2.0 {
            // erf Taylor series: 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
            let mut term = x;
            let mut sum = x;
            let x2 = x * x;
            for n in 1..200 {
                let n = f64::from(n);
                term *= -x2 / n;
                let add = term / (2.0 * n + 1.0);
                sum += add;
                if add.abs() <= 1e-17 * sum.abs() {
                    break;
                }
            }
            1.0 - sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // Lentz continued fraction for erfc(x) = exp(-x²)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
            let tiny = 1e-300;
            let mut f = x;
            let mut c = x;
            let mut d = 0.0;
            for k in 1..500 {
                let a = k as f64 / 2.0;
                d = x + a * d;
                d = if d == 0.0 { tiny } else { d };
                c = x + a / c;
                c = if c == 0.0 { tiny } else { c };
                d = 1.0 / d;
                let delta = c * d;
                f *= delta;
                if (delta - 1.0).abs() < 1e-16 {
                    break;
                }
            }
            (-x * x).exp() / (f * std::f64::consts::PI.sqrt())
        }
    }
}
