//! The int8 product against an i32 reference, the fused epilogue, the quantization error.

use super::*;

fn lcg(seed: &mut u64) -> f32 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

/// The kernels of this architecture (the scalar one first); AMX, whose weights are laid out
/// with a deeper padding, has its own tests (`amx_tests`).
#[cfg(target_arch = "x86_64")]
const KERNELS: &[Int8Kernel] = &[
    Int8Kernel::Scalar,
    Int8Kernel::Avx2,
    Int8Kernel::AvxVnni,
    Int8Kernel::Avx512Vnni,
];
#[cfg(target_arch = "aarch64")]
const KERNELS: &[Int8Kernel] = &[Int8Kernel::Scalar, Int8Kernel::Neon, Int8Kernel::NeonDot];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const KERNELS: &[Int8Kernel] = &[Int8Kernel::Scalar];

/// The kernels this CPU runs; the scalar one always. Names those it cannot (on stderr), so a
/// run on a narrower machine says what it did not test.
fn kernels_here() -> Vec<Int8Kernel> {
    let (here, not): (Vec<Int8Kernel>, Vec<Int8Kernel>) =
        KERNELS.iter().partition(|k| k.runs_here());
    for k in not {
        eprintln!("int8 kernel {} not tested: this CPU lacks it", k.name());
    }
    assert_eq!(here[0], Int8Kernel::Scalar);
    here
}

/// `x · wᵀ + bias` from the unpacked integers: `Σ (byte − 128) · w` in i32, scaled as the
/// epilogue does.
fn reference(x: &[f32], m: usize, qm: &QMatrix, bias: &[f32]) -> Vec<f32> {
    let (n, k) = (qm.n, qm.k);
    let mut q = QRows::default();
    quantize_rows(x, m, k, qm.kp, &mut q);
    let mut want = vec![0f32; m * n];
    for r in 0..m {
        for c in 0..n {
            let mut s = 0i32;
            for j in 0..k {
                let a = i32::from(q.bytes[r * qm.kp + j]) - 128;
                s += a * i32::from(qm.at(c, j));
            }
            want[r * n + c] = s as f32 * (q.scale[r] * qm.scale[c]) + bias[c];
        }
    }
    want
}

/// Every kernel against the i32 reference, bit for bit, for `Post::None` and the fused GELU.
fn check_all_kernels(x: &[f32], w: &[f32], m: usize, k: usize, n: usize) {
    let qm = QMatrix::quantize(w, n, k);
    let bias: Vec<f32> = (0..n).map(|c| c as f32 * 0.25 - 3.0).collect();
    let want = reference(x, m, &qm, &bias);
    let mut want_gelu = want.clone();
    super::super::gelu_erf(&mut want_gelu);
    for kernel in kernels_here() {
        // NaN-filled: a column or row the kernel forgot to write fails the comparison.
        let mut got = vec![f32::NAN; m * n];
        matmul_on(kernel, x, m, &qm, &bias, &mut got, Post::None);
        assert_eq!(got, want, "m={m} k={k} n={n} kernel {}", kernel.name());
        let mut got = vec![f32::NAN; m * n];
        matmul_on(kernel, x, m, &qm, &bias, &mut got, Post::GeluErf);
        assert_eq!(
            got,
            want_gelu,
            "GELU m={m} k={k} n={n} kernel {}",
            kernel.name()
        );
    }
}

/// Every kernel against an i32 reference built from the unpacked integers, on odd shapes: every
/// remainder of rows (MR, the AVX2 kernel's blocks of 4), columns (NR, 16, 8) and depth (4, and
/// the AVX2 kernel's pairs of four: an odd number of groups of four).
#[test]
fn kernels_match_i32_reference_on_odd_shapes() {
    let mut seed = 7u64;
    for &m in &[1usize, 2, 3, 4, 5, 6, 7, 13] {
        for &k in &[1usize, 3, 4, 5, 8, 9, 12, 17, 64, 101] {
            for &n in &[1usize, 7, 8, 9, 16, 17, 63, 64, 65, 130] {
                let w: Vec<f32> = (0..n * k).map(|_| lcg(&mut seed)).collect();
                let x: Vec<f32> = (0..m * k).map(|_| 3.0 * lcg(&mut seed)).collect();
                check_all_kernels(&x, &w, m, k, n);
            }
        }
    }
}

/// Tall and skinny products, and the model's own shapes.
#[test]
fn kernels_match_on_tall_skinny_and_model_shapes() {
    let mut seed = 5u64;
    for &(m, k, n) in &[
        (1, 1, 1),
        (300, 3, 1),
        (1, 1001, 200),
        (257, 7, 9),
        (2, 1536, 3),
        (37, 384, 1152),
        (19, 1536, 384),
    ] {
        let w: Vec<f32> = (0..n * k).map(|_| lcg(&mut seed)).collect();
        let x: Vec<f32> = (0..m * k).map(|_| 5.0 * lcg(&mut seed)).collect();
        check_all_kernels(&x, &w, m, k, n);
    }
}

/// The worst case for 16-bit intermediates: every activation at ±127 (bytes 255 and 1) and every
/// weight at ±W_MAX, signs aligned so that all products add up (`vpmaddubsw` pairs at 2 · 255 · 32 =
/// 16,320 on the shifted bytes), or alternate.
#[test]
fn kernels_are_exact_at_full_scale() {
    let (m, k, n) = (7, 1537, 70);
    let sign = |i: usize| {
        if (i * 7 + i / 3).is_multiple_of(2) {
            1.0f32
        } else {
            -1.0
        }
    };
    let x: Vec<f32> = (0..m * k).map(|i| 2.5 * sign(i % k)).collect();
    let mut w: Vec<f32> = (0..n * k)
        .map(|i| {
            let (c, j) = (i / k, i % k);
            if c % 2 == 0 {
                sign(j)
            } else {
                -sign(j)
            }
        })
        .collect();
    w[5] = 0.0;
    check_all_kernels(&x, &w, m, k, n);
    let qm = QMatrix::quantize(&w, n, k);
    let mut got = vec![0f32; m * n];
    matmul_on(
        Int8Kernel::Scalar,
        &x,
        m,
        &qm,
        &vec![0.0; n],
        &mut got,
        Post::None,
    );
    // Column 1 is the all-negative one: 1537 · 127 · W_MAX products of −1 scale.
    assert!((got[1] + 1537.0 * 2.5).abs() < 1e-2, "{}", got[1]);
}

/// The kernel `matmul` picks runs here, and `describe` names it.
#[test]
fn dispatch_picks_a_kernel_this_cpu_runs() {
    let k = super::super::int8_kernel();
    assert!(k.runs_here());
    assert!(super::super::describe().contains(k.name()));
    #[cfg(target_arch = "x86_64")]
    if super::super::level() == super::super::Level::Base {
        assert_eq!(k, Int8Kernel::Scalar);
    }
    // On aarch64 NEON is always there: the scalar loop only when asked for, `sdot` wherever
    // the CPU has it and `neon` does not hold it back.
    #[cfg(target_arch = "aarch64")]
    match super::super::requested() {
        Some("base") => assert_eq!(k, Int8Kernel::Scalar),
        Some("neon") => assert_eq!(k, Int8Kernel::Neon),
        _ if Int8Kernel::NeonDot.runs_here() => assert_eq!(k, Int8Kernel::NeonDot),
        _ => assert_eq!(k, Int8Kernel::Neon),
    }
}

#[test]
fn fused_gelu_equals_gelu_after_the_product() {
    let mut seed = 3u64;
    let (m, k, n) = (7, 40, 70);
    let w: Vec<f32> = (0..n * k).map(|_| lcg(&mut seed)).collect();
    let x: Vec<f32> = (0..m * k).map(|_| lcg(&mut seed)).collect();
    let bias: Vec<f32> = (0..n).map(|_| lcg(&mut seed)).collect();
    let qm = QMatrix::quantize(&w, n, k);
    let mut plain = vec![0f32; m * n];
    matmul(&x, m, &qm, &bias, &mut plain, Post::None);
    super::super::gelu_erf(&mut plain);
    let mut fused = vec![0f32; m * n];
    matmul(&x, m, &qm, &bias, &mut fused, Post::GeluErf);
    assert_eq!(fused, plain);
}

#[test]
fn quantization_error_is_small() {
    const BOUND: f32 = 0.023;
    let mut seed = 11u64;
    let (m, k, n) = (4, 384, 40);
    let w: Vec<f32> = (0..n * k).map(|_| lcg(&mut seed) * 0.05).collect();
    let x: Vec<f32> = (0..m * k).map(|_| lcg(&mut seed)).collect();
    let qm = QMatrix::quantize(&w, n, k);
    let mut got = vec![0f32; m * n];
    matmul(&x, m, &qm, &vec![0.0; n], &mut got, Post::None);
    // Bound: what is measured (printed with --nocapture) plus ~30%: 5.65e-3 with 8-bit
    // weights; 9.92e-3 with 7-bit (|w| ≤ 63); 1.78e-2 with the |w| ≤ 32 every kernel uses since
    // the AVX2 kernel's i16 pairs (2026-12-01).
    let mut worst = 0f32;
    for r in 0..m {
        for c in 0..n {
            let exact: f32 = (0..k).map(|j| x[r * k + j] * w[c * k + j]).sum();
            worst = worst.max((got[r * n + c] - exact).abs());
        }
    }
    eprintln!("int8 quantization error: at most {worst:.3e} (products up to 0.79)");
    assert!(worst < BOUND, "error {worst}");
    let deq = qm.dequantize();
    assert!(deq
        .iter()
        .zip(&w)
        .all(|(a, b)| (a - b).abs() <= 0.05 / (2.0 * super::W_MAX) + 1e-7));
}

/// The worst case of the AVX2 kernel's i16 sums over two groups of four `k`: every activation at
/// +127 (byte 255) and every weight at +W_MAX or −W_MAX, so each 16-bit lane adds four products
/// of the same sign: ±4 · 255 · 32 = ±32,640, next to the i16 limits.
#[test]
fn kernels_are_exact_at_the_i16_limit() {
    assert!(4.0 * 255.0 * W_MAX <= f32::from(i16::MAX));
    let (m, k, n) = (5, 41, 19);
    let x = vec![2.5f32; m * k];
    let w: Vec<f32> = (0..n * k)
        .map(|i| if (i / k) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    check_all_kernels(&x, &w, m, k, n);
}

/// The vector GELUs of the int8 epilogues (`math::x86`) against the scalar `gelu_erf` of the
/// f32 path, bit for bit, over a sweep of the whole f32 range (every 2,039th bit pattern, both
/// signs) and the special values.
#[cfg(target_arch = "x86_64")]
#[test]
fn vector_gelu_is_the_scalar_gelu_bit_for_bit() {
    use std::arch::x86_64::*;
    let mut xs: Vec<f32> = (0..u32::MAX / 2_039)
        .map(|i| f32::from_bits(i * 2_039))
        .collect();
    xs.extend([
        0.0,
        -0.0,
        1.0,
        -1.0,
        f32::MIN_POSITIVE,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::EPSILON,
    ]);
    // The model's range, densely.
    xs.extend((-200_000..200_000).map(|i| i as f32 * 1e-4));
    while !xs.len().is_multiple_of(16) {
        xs.push(0.5);
    }
    let mut want = xs.clone();
    super::super::gelu_erf(&mut want);
    for (&x, &w) in xs.iter().zip(&want) {
        let s = super::super::math::gelu_erf(x);
        assert!(
            s.to_bits() == w.to_bits() || (s.is_nan() && w.is_nan()),
            "{x}: {s} vs {w}"
        );
    }
    let same = |got: &[f32], want: &[f32], xs: &[f32], what: &str| {
        for ((g, w), x) in got.iter().zip(want).zip(xs) {
            assert!(
                g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                "{what} gelu({x:e}) = {g:e}, scalar {w:e}"
            );
        }
    };
    if is_x86_feature_detected!("avx2") {
        use super::super::math::x86::{gelu_erf8, gelu_erf8_n};
        let mut got = vec![0f32; xs.len()];
        for (x, g) in xs.chunks_exact(8).zip(got.chunks_exact_mut(8)) {
            // SAFETY: AVX2 is there; both chunks hold 8 floats.
            unsafe { _mm256_storeu_ps(g.as_mut_ptr(), gelu_erf8(_mm256_loadu_ps(x.as_ptr()))) };
        }
        same(&got, &want, &xs, "avx2");
        // Three vectors at once, as the int8 epilogue takes a block's rows.
        let mut got = vec![f32::NAN; xs.len()];
        for (x, g) in xs.chunks_exact(24).zip(got.chunks_exact_mut(24)) {
            // SAFETY: AVX2 is there; both chunks hold 24 floats.
            unsafe {
                let v = gelu_erf8_n([0, 8, 16].map(|o| _mm256_loadu_ps(x.as_ptr().add(o))));
                for (o, v) in [0, 8, 16].into_iter().zip(v) {
                    _mm256_storeu_ps(g.as_mut_ptr().add(o), v);
                }
            }
        }
        let n = xs.len() / 24 * 24;
        assert!(n > 0);
        same(&got[..n], &want[..n], &xs[..n], "avx2 ×3");
    } else {
        eprintln!("8-lane GELU not tested: this CPU lacks AVX2");
    }
    if is_x86_feature_detected!("avx512f") {
        use super::super::math::x86::{gelu_erf16, gelu_erf16_n};
        let mut got = vec![0f32; xs.len()];
        for (x, g) in xs.chunks_exact(16).zip(got.chunks_exact_mut(16)) {
            // SAFETY: AVX-512F is there; both chunks hold 16 floats.
            unsafe { _mm512_storeu_ps(g.as_mut_ptr(), gelu_erf16(_mm512_loadu_ps(x.as_ptr()))) };
        }
        same(&got, &want, &xs, "avx512");
        let mut got = vec![f32::NAN; xs.len()];
        for (x, g) in xs.chunks_exact(48).zip(got.chunks_exact_mut(48)) {
            // SAFETY: AVX-512F is there; both chunks hold 48 floats.
            unsafe {
                let v = gelu_erf16_n([0, 16, 32].map(|o| _mm512_loadu_ps(x.as_ptr().add(o))));
                for (o, v) in [0, 16, 32].into_iter().zip(v) {
                    _mm512_storeu_ps(g.as_mut_ptr().add(o), v);
                }
            }
        }
        let n = xs.len() / 48 * 48;
        assert!(n > 0);
        same(&got[..n], &want[..n], &xs[..n], "avx512 ×3");
    } else {
        eprintln!("16-lane GELU not tested: this CPU lacks AVX-512F");
    }
}
