//! Model stage, CPU kernels: scalar building blocks (sums, dot products, exp, erf, tanh) written
//! branch-free so that they vectorize inside the `dispatch!`ed kernels that inline them.

/// Sum with 16 independent accumulators (vectorizes; the order is fixed, so results repeat).
#[inline(always)]
pub fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let mut chunks = x.chunks_exact(16);
    for c in &mut chunks {
        for l in 0..16 {
            acc[l] += c[l];
        }
    }
    let tail: f32 = chunks.remainder().iter().sum();
    reduce16(&acc) + tail
}

#[inline(always)]
fn reduce16(acc: &[f32; 16]) -> f32 {
    let mut a = [0f32; 8];
    for l in 0..8 {
        a[l] = acc[l] + acc[l + 8];
    }
    (a[0] + a[4]) + (a[1] + a[5]) + ((a[2] + a[6]) + (a[3] + a[7]))
}

// erf as an odd rational function on [−4, 4] (beyond it erf is ±1 in f32), the numerator's
// coefficients of x·P(x²) and the denominator's Q(x²) from the highest power down (Eigen's
// `generic_fast_erf_float`): absolute error below 4e-7, no `exp`, one division.
const ERF_CLAMP: f32 = 4.0;
const ERF_P: [f32; 7] = [
    -2.7261424e-10,
    2.7706815e-08,
    -2.101024e-06,
    -5.6925062e-05,
    -7.3499064e-04,
    -2.9546e-03,
    -1.6096033e-02,
];
const ERF_Q: [f32; 5] = [
    -1.45660715e-05,
    -2.1337405e-04,
    -1.682827e-03,
    -7.3733293e-03,
    -1.4264739e-02,
];

/// `e^x` to about 2 ulp over the f32 range (Cody–Waite reduction, degree-6 polynomial); 0 below
/// −87.3, saturating at e^88 above 88.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer
    let below = x < -87.336_54;
    let x = x.clamp(-87.336_54, 88.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let y = p * r * r + r + 1.0;
    // 2^n for n in [-126, 127]: n + 127 lands in the low mantissa bits of n + 127 + 2^23, and the
    // shift moves it into the exponent (no float-to-int conversion, so this vectorizes).
    let scale = f32::from_bits((n + (127.0 + 8_388_608.0)).to_bits() << 23);
    if below {
        0.0
    } else {
        y * scale
    }
}

/// The error function, absolute error below 4e-7: `x·P(x²) / Q(x²)` on `x` clamped to [−4, 4]
/// (see `ERF_P`). Until 2026-12-01 this was Abramowitz & Stegun 7.1.26 (1.5e-7, through `exp`):
/// the rational costs half the operations, which the int8 epilogues' GELU feels.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-ERF_CLAMP, ERF_CLAMP);
    let x2 = x * x;
    let mut p = ERF_P[0];
    for c in &ERF_P[1..] {
        p = p * x2 + c;
    }
    let p = p * x;
    let mut q = ERF_Q[0];
    for c in &ERF_Q[1..] {
        q = q * x2 + c;
    }
    p / q
}

/// Hugging Face "gelu" of one value: `x · Φ(x)` with [`erf`] (what `gelu_erf` applies).
#[inline(always)]
pub fn gelu_erf(v: f32) -> f32 {
    0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2))
}

/// `tanh`, through `exp` (1 − 2 / (e^{2x} + 1)), exact to a few ulp away from 0 and saturating.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let e = exp(2.0 * x.clamp(-15.0, 15.0));
    1.0 - 2.0 / (e + 1.0)
}

/// [`gelu_erf`] on 8 and 16 lanes with AVX2 and AVX-512 intrinsics, for the int8 epilogues: the
/// scalar operations in the scalar order (no FMA, a true division), so every lane equals
/// `gelu_erf` of it bit for bit (`int8_tests.rs` sweeps the f32 range to check).
#[cfg(target_arch = "x86_64")]
pub(super) mod x86 {
    use super::*;
    use std::arch::x86_64::*;

    /// `gelu_erf` of each lane.
    #[cfg(test)]
    #[target_feature(enable = "avx2")]
    #[inline]
    pub unsafe fn gelu_erf8(v: __m256) -> __m256 {
        gelu_erf8_n([v])[0]
    }

    /// [`gelu_erf8`] of `N` vectors, each step taken over all of them: the same operations on
    /// every lane (the same bits), with `N` independent dependency chains in flight — one
    /// vector's chain alone (~60 cycles of latency: two polynomials, a division) leaves the
    /// multipliers idle, which made GELU a tenth of an int8 run on Zen 3.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub unsafe fn gelu_erf8_n<const N: usize>(v: [__m256; N]) -> [__m256; N] {
        let ps = _mm256_set1_ps;
        // `clamp` as min(max(·)) with the value second: a NaN passes through, as in `clamp`.
        let x = v.map(|v| {
            let x = _mm256_mul_ps(v, ps(std::f32::consts::FRAC_1_SQRT_2));
            _mm256_min_ps(ps(ERF_CLAMP), _mm256_max_ps(ps(-ERF_CLAMP), x))
        });
        let x2 = x.map(|x| _mm256_mul_ps(x, x));
        let mut p = [ps(ERF_P[0]); N];
        for &c in &ERF_P[1..] {
            for i in 0..N {
                p[i] = _mm256_add_ps(_mm256_mul_ps(p[i], x2[i]), ps(c));
            }
        }
        for i in 0..N {
            p[i] = _mm256_mul_ps(p[i], x[i]);
        }
        let mut q = [ps(ERF_Q[0]); N];
        for &c in &ERF_Q[1..] {
            for i in 0..N {
                q[i] = _mm256_add_ps(_mm256_mul_ps(q[i], x2[i]), ps(c));
            }
        }
        let mut out = v;
        for i in 0..N {
            let erf = _mm256_div_ps(p[i], q[i]);
            out[i] = _mm256_mul_ps(_mm256_mul_ps(ps(0.5), v[i]), _mm256_add_ps(ps(1.0), erf));
        }
        out
    }

    /// `gelu_erf` of each lane.
    #[cfg(test)]
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub unsafe fn gelu_erf16(v: __m512) -> __m512 {
        gelu_erf16_n([v])[0]
    }

    /// [`gelu_erf16`] of `N` vectors, each step over all of them (as [`gelu_erf8_n`]).
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub unsafe fn gelu_erf16_n<const N: usize>(v: [__m512; N]) -> [__m512; N] {
        let ps = _mm512_set1_ps;
        let x = v.map(|v| {
            let x = _mm512_mul_ps(v, ps(std::f32::consts::FRAC_1_SQRT_2));
            _mm512_min_ps(ps(ERF_CLAMP), _mm512_max_ps(ps(-ERF_CLAMP), x))
        });
        let x2 = x.map(|x| _mm512_mul_ps(x, x));
        let mut p = [ps(ERF_P[0]); N];
        for &c in &ERF_P[1..] {
            for i in 0..N {
                p[i] = _mm512_add_ps(_mm512_mul_ps(p[i], x2[i]), ps(c));
            }
        }
        for i in 0..N {
            p[i] = _mm512_mul_ps(p[i], x[i]);
        }
        let mut q = [ps(ERF_Q[0]); N];
        for &c in &ERF_Q[1..] {
            for i in 0..N {
                q[i] = _mm512_add_ps(_mm512_mul_ps(q[i], x2[i]), ps(c));
            }
        }
        let mut out = v;
        for i in 0..N {
            let erf = _mm512_div_ps(p[i], q[i]);
            out[i] = _mm512_mul_ps(_mm512_mul_ps(ps(0.5), v[i]), _mm512_add_ps(ps(1.0), erf));
        }
        out
    }
}
