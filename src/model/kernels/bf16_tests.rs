//! The bf16 product: every kernel against the scalar loop bit for bit, the scalar loop against
//! an f64 product of the rounded values, the rounding itself.

use super::*;

fn lcg(seed: &mut u64) -> f32 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

/// The kernels this CPU runs that give the scalar loop's bits (all but AMX, which sums pairs in
/// the other order: `amx_tests`); the scalar one always. Names those it cannot (on stderr).
fn kernels_here() -> Vec<Bf16Kernel> {
    let (here, not): (Vec<Bf16Kernel>, Vec<Bf16Kernel>) = Bf16Kernel::ALL
        .iter()
        .filter(|&&k| k != Bf16Kernel::Amx)
        .partition(|k| k.runs_here());
    for k in not {
        eprintln!("bf16 kernel {} not tested: this CPU lacks it", k.name());
    }
    assert_eq!(here[0], Bf16Kernel::Scalar);
    here
}

fn random(len: usize, seed: &mut u64, scale: f32) -> Vec<f32> {
    (0..len).map(|_| lcg(seed) * scale).collect()
}

#[test]
fn rounding_is_nearest_even_and_flushes_denormals() {
    assert_eq!(to_bf16(1.0), 0x3f80);
    assert_eq!(to_bf16(-2.5), 0xc020);
    // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
    assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
    // 1 + 3·2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: even is 1 + 2^-6.
    assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
    assert_eq!(to_bf16(1.0 + 1.0 / 256.0 + 1.0 / 65536.0), 0x3f81);
    assert_eq!(to_bf16(f32::MAX), 0x7f80, "rounds up to infinity");
    assert_eq!(to_bf16(f32::INFINITY), 0x7f80);
    assert_eq!(to_bf16(f32::NEG_INFINITY), 0xff80);
    assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
    assert_eq!(to_bf16(1e-40), 0x0000);
    assert_eq!(to_bf16(-1e-40), 0x8000);
    let mut seed = 7;
    let xs = random(1000, &mut seed, 100.0);
    let mut row = vec![0u16; xs.len()];
    to_bf16_row(&xs, &mut row);
    for (&x, &h) in xs.iter().zip(&row) {
        assert_eq!(h, to_bf16(x), "dispatched conversion of {x}");
        let back = from_bf16(h);
        assert!((back - x).abs() <= x.abs() / 256.0, "{x} → {back}");
    }
}

/// The scalar loop against an f64 product of the same bf16 values, within f32 summation error,
/// and every other kernel against the scalar loop bit for bit, on odd shapes: k odd (a padded
/// pair), n not a multiple of 16 or 64, m not a multiple of MR.
#[test]
fn kernels_match_the_scalar_loop_on_odd_shapes() {
    let mut seed = 42;
    for &(m, k, n) in &[
        (1, 1, 1),
        (2, 3, 17),
        (7, 33, 65),
        (6, 64, 64),
        (13, 129, 130),
        (5, 384, 200),
        (25, 1536, 96),
    ] {
        let x = random(m * k, &mut seed, 3.0);
        let w = random(n * k, &mut seed, 0.5);
        let bias = random(n, &mut seed, 1.0);
        let bm = BMatrix::pack(&w, n, k);
        let wr = bm.unpack();
        let mut xr = vec![0u16; x.len()];
        to_bf16_row(&x, &mut xr);
        let mut want = vec![f32::NAN; m * n];
        matmul_on(Bf16Kernel::Scalar, &x, m, &bm, &bias, &mut want);
        for r in 0..m {
            for c in 0..n {
                let (mut exact, mut mag) = (0f64, 0f64);
                for j in 0..k {
                    let p = f64::from(from_bf16(xr[r * k + j])) * f64::from(wr[c * k + j]);
                    exact += p;
                    mag += p.abs();
                }
                let got = f64::from(want[r * n + c]) - f64::from(bias[c]);
                let tol = mag * k as f64 * f64::from(f32::EPSILON) + 1e-6;
                assert!(
                    (got - exact).abs() <= tol,
                    "m={m} k={k} n={n} ({r},{c}): {got} vs {exact}"
                );
            }
        }
        for kernel in kernels_here() {
            let mut got = vec![f32::NAN; m * n];
            matmul_on(kernel, &x, m, &bm, &bias, &mut got);
            assert_eq!(
                got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "m={m} k={k} n={n} kernel {}",
                kernel.name()
            );
        }
    }
}

/// The rounded product stays close to the f32 one: relative error of a dot product of 384
/// N(0,1)-like values well under 1% (bf16 keeps 8 significant bits).
#[test]
fn bf16_product_is_close_to_f32() {
    let (m, k, n) = (8, 384, 64);
    let mut seed = 3;
    let x = random(m * k, &mut seed, 1.0);
    let w = random(n * k, &mut seed, 1.0);
    let bias = vec![0f32; n];
    let bm = BMatrix::pack(&w, n, k);
    let mut got = vec![0f32; m * n];
    matmul(&x, m, &bm, &bias, &mut got);
    let (mut err, mut norm) = (0f64, 0f64);
    for r in 0..m {
        for c in 0..n {
            let exact: f64 = (0..k)
                .map(|j| f64::from(x[r * k + j]) * f64::from(w[c * k + j]))
                .sum();
            err += (f64::from(got[r * n + c]) - exact).powi(2);
            norm += exact * exact;
        }
    }
    let rel = (err / norm).sqrt();
    assert!(rel < 0.01, "relative error {rel}");
}
