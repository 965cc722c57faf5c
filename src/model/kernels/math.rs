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

/// The error function, absolute error below 1.5e-7 (Abramowitz & Stegun 7.1.26).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A1: f32 = 0.254_829_6;
    const A2: f32 = -0.284_496_74;
    const A3: f32 = 1.421_413_8;
    const A4: f32 = -1.453_152_1;
    const A5: f32 = 1.061_405_4;
    let a = x.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t;
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

/// `tanh`, through `exp` (1 − 2 / (e^{2x} + 1)), exact to a few ulp away from 0 and saturating.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let e = exp(2.0 * x.clamp(-15.0, 15.0));
    1.0 - 2.0 / (e + 1.0)
}
