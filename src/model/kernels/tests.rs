//! Kernels against plain f64 references, on every instruction-set level this machine has; `data`
//! and `close` serve the layer tests too.

use super::*;

pub(crate) fn data(n: usize, seed: u64, amp: f32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0) * amp
        })
        .collect()
}

pub(crate) fn close(a: f32, b: f64, tol: f64) -> bool {
    (f64::from(a) - b).abs() <= tol * (1.0 + b.abs())
}

#[test]
fn exp_and_erf_are_accurate() {
    for i in -20000..=20000 {
        let x = i as f32 * 0.0044;
        let e = math::exp(x);
        assert!(close(e, f64::from(x).exp(), 3e-7), "exp({x}) = {e}");
        let v = math::erf(x);
        assert!(
            (f64::from(v) - libm::erf(f64::from(x))).abs() < 6e-7,
            "erf({x}) = {v}"
        );
        let t = math::tanh(x);
        assert!(
            (f64::from(t) - f64::from(x).tanh()).abs() < 3e-7,
            "tanh({x}) = {t}"
        );
    }
    assert_eq!(math::exp(-100.0), 0.0);
    assert!(math::exp(88.0).is_finite());
}

#[test]
fn layer_norm_matches_reference() {
    for &h in &[7usize, 16, 33, 384] {
        let x0 = data(3 * h, h as u64, 4.0);
        let res = data(3 * h, 99, 1.0);
        let g = data(h, 5, 1.0);
        let b = data(h, 6, 1.0);
        let mut x = x0.clone();
        add_layer_norm(&mut x, &res, &g, &b, 1e-12);
        for r in 0..3 {
            let row: Vec<f64> = (0..h)
                .map(|j| f64::from(x0[r * h + j]) + f64::from(res[r * h + j]))
                .collect();
            let mean = row.iter().sum::<f64>() / h as f64;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / h as f64;
            for j in 0..h {
                let want =
                    (row[j] - mean) / (var + 1e-12).sqrt() * f64::from(g[j]) + f64::from(b[j]);
                assert!(
                    close(x[r * h + j], want, 1e-5),
                    "h={h} {} vs {want}",
                    x[r * h + j]
                );
            }
        }
    }
}

#[test]
fn softmax_and_activations_match_reference() {
    let x0 = data(37, 3, 20.0);
    let mut x = x0.clone();
    softmax_rows(&mut x, 37);
    let m = x0.iter().fold(f64::MIN, |a, &b| a.max(f64::from(b)));
    let z: f64 = x0.iter().map(|&v| (f64::from(v) - m).exp()).sum();
    for (a, &v) in x.iter().zip(&x0) {
        assert!(close(*a, (f64::from(v) - m).exp() / z, 1e-6));
    }
    let mut g = x0.clone();
    gelu_erf(&mut g);
    for (a, &v) in g.iter().zip(&x0) {
        let v = f64::from(v);
        assert!(close(
            *a,
            0.5 * v * (1.0 + libm::erf(v / 2f64.sqrt())),
            1e-6
        ));
    }
    let mut t = x0.clone();
    gelu_tanh(&mut t);
    for (a, &v) in t.iter().zip(&x0) {
        let v = f64::from(v);
        let want = 0.5
            * v
            * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v.powi(3))).tanh());
        assert!(close(*a, want, 1e-6));
    }
}

#[test]
fn quantize_row_rounds_and_shifts() {
    let mut out = [0u8; 6];
    quantize_row(&[0.0, 1.0, -1.0, 0.5, 2.5, -300.0], 1.0, &mut out);
    assert_eq!(out, [128, 129, 127, 128, 130, 1]);
    assert_eq!(
        max_abs(&data(40, 1, 3.0)[..]),
        data(40, 1, 3.0).iter().fold(0.0f32, |m, v| m.max(v.abs()))
    );
}
