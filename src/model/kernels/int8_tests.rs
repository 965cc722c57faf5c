//! The int8 product against an i32 reference, the fused epilogue, the quantization error.

use super::*;

fn lcg(seed: &mut u64) -> f32 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

/// VNNI and scalar paths against an i32 reference built from the unpacked integers, on odd
/// shapes: every remainder of rows (MR), columns (NR) and depth (4).
#[test]
fn kernel_matches_i32_reference_on_odd_shapes() {
    let mut seed = 7u64;
    for &m in &[1usize, 2, 5, 6, 7, 13] {
        for &k in &[1usize, 3, 4, 5, 17, 64, 101] {
            for &n in &[1usize, 9, 16, 63, 64, 65, 130] {
                let w: Vec<f32> = (0..n * k).map(|_| lcg(&mut seed)).collect();
                let x: Vec<f32> = (0..m * k).map(|_| 3.0 * lcg(&mut seed)).collect();
                let qm = QMatrix::quantize(&w, n, k);
                let mut q = QRows::default();
                quantize_rows(&x, m, k, qm.kp, &mut q);
                let bias: Vec<f32> = (0..n).map(|c| c as f32 * 0.25).collect();
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
                let mut got = vec![0f32; m * n];
                matmul(&x, m, &qm, &bias, &mut got, Post::None);
                assert_eq!(got, want, "m={m} k={k} n={n} vnni={}", has_vnni());
                // The scalar panel agrees with whatever path ran above.
                let mut acc = vec![0i32; MR * NR];
                let rows = m.min(MR);
                scalar_panel(
                    &q.bytes[..rows * qm.kp],
                    rows,
                    qm.kp,
                    &qm.packed[..NR * qm.kp],
                    &mut acc,
                );
                for r in 0..rows {
                    for c in 0..n.min(NR) {
                        let s = acc[r * NR + c] - qm.shift[c];
                        let v = s as f32 * (q.scale[r] * qm.scale[c]) + bias[c];
                        assert_eq!(v, want[r * n + c]);
                    }
                }
            }
        }
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
    let mut seed = 11u64;
    let (m, k, n) = (4, 384, 40);
    let w: Vec<f32> = (0..n * k).map(|_| lcg(&mut seed) * 0.05).collect();
    let x: Vec<f32> = (0..m * k).map(|_| lcg(&mut seed)).collect();
    let qm = QMatrix::quantize(&w, n, k);
    let mut got = vec![0f32; m * n];
    matmul(&x, m, &qm, &vec![0.0; n], &mut got, Post::None);
    for r in 0..m {
        for c in 0..n {
            let exact: f32 = (0..k).map(|j| x[r * k + j] * w[c * k + j]).sum();
            assert!(
                (got[r * n + c] - exact).abs() < 0.02,
                "{} vs {exact}",
                got[r * n + c]
            );
        }
    }
    let deq = qm.dequantize();
    assert!(deq
        .iter()
        .zip(&w)
        .all(|(a, b)| (a - b).abs() <= 0.05 / 254.0 + 1e-7));
}
