//! Model stage, CPU kernels: the row-wise and element-wise math of the native CPU encoder
//! (LayerNorm, softmax, GELU, attention for short windows), each compiled three times — for
//! AVX-512, for AVX2 + FMA and for baseline x86-64 — and chosen once at run time, so one portable
//! binary runs the widest vectors the machine has.
//!
//! The kernels are plain Rust loops written so that LLVM vectorizes them (16 independent lanes,
//! no data-dependent branches); `dispatch!` compiles each body under the wider target features.

pub mod int8;
pub mod math;

use std::sync::OnceLock;

/// The widest instruction set the kernels may use on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Base,
    Avx2,
    Avx512,
}

/// Detected once; `NER_TAG_SIMD=base|avx2` lowers it (to test the fallbacks on a wide machine).
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let detected = detect();
        let cap = match std::env::var("NER_TAG_SIMD").as_deref() {
            Ok("base") => Level::Base,
            Ok("avx2") => Level::Avx2,
            _ => Level::Avx512,
        };
        match (detected, cap) {
            (Level::Base, _) | (_, Level::Base) => Level::Base,
            (Level::Avx2, _) | (_, Level::Avx2) => Level::Avx2,
            _ => Level::Avx512,
        }
    })
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Level {
    if is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512dq")
        && is_x86_feature_detected!("fma")
    {
        Level::Avx512
    } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        Level::Avx2
    } else {
        Level::Base
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Level {
    Level::Base
}

/// Defines `pub fn NAME(args) -> R` whose body is compiled for AVX-512, AVX2 + FMA and the
/// baseline, dispatched on [`level`]. The body must be safe code.
macro_rules! dispatch {
    ($(#[$m:meta])* pub fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn imp($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
                unsafe fn v4($($arg: $ty),*) $(-> $ret)? { imp($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn v3($($arg: $ty),*) $(-> $ret)? { imp($($arg),*) }
                match $crate::model::kernels::level() {
                    // SAFETY: `level` reports these features only where the CPU has them.
                    $crate::model::kernels::Level::Avx512 => return unsafe { v4($($arg),*) },
                    $crate::model::kernels::Level::Avx2 => return unsafe { v3($($arg),*) },
                    $crate::model::kernels::Level::Base => {}
                }
            }
            imp($($arg),*)
        }
    };
}
#[allow(unused_imports)]
pub(crate) use dispatch;

use math::{exp, sum};

dispatch! {
    /// `x ← LayerNorm(x + residual)` row by row (`residual` may be empty: plain LayerNorm), with
    /// the biased variance PyTorch uses.
    pub fn add_layer_norm(x: &mut [f32], residual: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
        let h = gamma.len();
        for (r, row) in x.chunks_exact_mut(h).enumerate() {
            if !residual.is_empty() {
                for (a, b) in row.iter_mut().zip(&residual[r * h..(r + 1) * h]) {
                    *a += *b;
                }
            }
            let mean = sum(row) / h as f32;
            let mut sq = [0f32; 16];
            let mut chunks = row.chunks_exact(16);
            for c in &mut chunks {
                for l in 0..16 {
                    let d = c[l] - mean;
                    sq[l] += d * d;
                }
            }
            let tail: f32 = chunks.remainder().iter().map(|v| (v - mean) * (v - mean)).sum();
            let var = (sum(&sq) + tail) / h as f32;
            let inv = 1.0 / (var + eps).sqrt();
            for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
                *v = (*v - mean) * inv * g + b;
            }
        }
    }
}

dispatch! {
    /// Softmax of one row in place, in f32.
    pub fn softmax(row: &mut [f32]) {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        for v in row.iter_mut() {
            *v = exp(*v - max);
        }
        let inv = 1.0 / sum(row);
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

dispatch! {
    /// Hugging Face "gelu": `x · Φ(x)` with the exact error function.
    pub fn gelu_erf(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = 0.5 * *v * (1.0 + math::erf(*v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

dispatch! {
    /// "gelu_new": the tanh approximation.
    pub fn gelu_tanh(x: &mut [f32]) {
        const C: f32 = 0.797_884_6; // sqrt(2 / pi)
        for v in x.iter_mut() {
            let u = C * (*v + 0.044715 * *v * *v * *v);
            *v = 0.5 * *v * (1.0 + math::tanh(u));
        }
    }
}

dispatch! {
    pub fn relu(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = v.max(0.0);
        }
    }
}

dispatch! {
    pub fn silu(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v /= 1.0 + exp(-*v);
        }
    }
}

/// Where one head of one window lives in the fused QKV buffer and in the output.
#[derive(Debug, Clone, Copy)]
pub struct HeadView {
    /// Row stride of the QKV buffer (3 × hidden) and of the output (hidden).
    pub qkv_stride: usize,
    pub out_stride: usize,
    /// Offsets of this head's query, key and value columns in a QKV row; of its output columns.
    pub q: usize,
    pub k: usize,
    pub v: usize,
    pub o: usize,
    pub head_dim: usize,
    pub scale: f32,
}

dispatch! {
    /// Softmax attention of one head over one unpadded window of `len` tokens whose first row is
    /// row 0 of `qkv` and `out`: `out = softmax(q kᵀ · scale) v`. `scratch` is reused: it holds
    /// the head's keys transposed (`head_dim` × `len` rounded up to 16) and one row of scores.
    pub fn attend(qkv: &[f32], out: &mut [f32], len: usize, hv: HeadView, scratch: &mut Vec<f32>) {
        let d = hv.head_dim;
        let lp = len.div_ceil(16) * 16;
        scratch.clear();
        scratch.resize(d * lp + lp, 0.0);
        let (kt, scores) = scratch.split_at_mut(d * lp);
        // kᵀ scaled, zero-padded to lp columns: the score row is then a sum of full-width axpys.
        for j in 0..len {
            let k = &qkv[j * hv.qkv_stride + hv.k..][..d];
            for (c, &v) in k.iter().enumerate() {
                kt[c * lp + j] = v * hv.scale;
            }
        }
        for i in 0..len {
            let q = &qkv[i * hv.qkv_stride + hv.q..][..d];
            // Scores, 16 keys at a time, accumulated in registers over the head dimension.
            for (jb, s) in scores.chunks_exact_mut(16).enumerate() {
                let mut acc = [0f32; 16];
                for (c, &qc) in q.iter().enumerate() {
                    let k: &[f32; 16] = kt[c * lp + jb * 16..][..16].try_into().unwrap();
                    for l in 0..16 {
                        acc[l] += qc * k[l];
                    }
                }
                s.copy_from_slice(&acc);
            }
            let row = &mut scores[..len];
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            for s in row.iter_mut() {
                *s = exp(*s - max);
            }
            let inv = 1.0 / sum(row);
            let o = &mut out[i * hv.out_stride + hv.o..][..d];
            if d % 16 == 0 {
                // Output, 16 columns at a time, accumulated in registers over the keys.
                for (cb, o) in o.chunks_exact_mut(16).enumerate() {
                    let mut acc = [0f32; 16];
                    for (j, &p) in row.iter().enumerate() {
                        let v: &[f32; 16] =
                            qkv[j * hv.qkv_stride + hv.v + cb * 16..][..16].try_into().unwrap();
                        for l in 0..16 {
                            acc[l] += p * v[l];
                        }
                    }
                    for l in 0..16 {
                        o[l] = acc[l] * inv;
                    }
                }
            } else {
                o.fill(0.0);
                for (j, &p) in row.iter().enumerate() {
                    let v = &qkv[j * hv.qkv_stride + hv.v..][..d];
                    for (a, b) in o.iter_mut().zip(v) {
                        *a += p * b;
                    }
                }
                for a in o.iter_mut() {
                    *a *= inv;
                }
            }
        }
    }
}

dispatch! {
    /// `dst[r] = bias` for every row: the starting value a biased matrix product accumulates onto.
    pub fn fill_rows(dst: &mut [f32], bias: &[f32]) {
        for row in dst.chunks_exact_mut(bias.len()) {
            row.copy_from_slice(bias);
        }
    }
}

dispatch! {
    /// Largest magnitude in `x` (0 for an empty slice).
    pub fn max_abs(x: &[f32]) -> f32 {
        let mut acc = [0f32; 16];
        let mut chunks = x.chunks_exact(16);
        for c in &mut chunks {
            for l in 0..16 {
                acc[l] = acc[l].max(c[l].abs());
            }
        }
        let tail = chunks.remainder().iter().fold(0f32, |m, v| m.max(v.abs()));
        acc.iter().fold(tail, |m, &v| m.max(v))
    }
}

dispatch! {
    /// `out[j] = round(x[j] · inv) + 128`, rounding half to even, clamped to [1, 255].
    pub fn quantize_row(x: &[f32], inv: f32, out: &mut [u8]) {
        const ROUND: f32 = 12_582_912.0;
        for (o, &v) in out.iter_mut().zip(x) {
            let q = ((v * inv + ROUND) - ROUND).clamp(-127.0, 127.0);
            *o = (q as i32 + 128) as u8;
        }
    }
}

#[cfg(test)]
mod tests;
