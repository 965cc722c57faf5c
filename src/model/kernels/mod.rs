//! Model stage, CPU kernels: the row-wise and element-wise math of the native CPU encoder
//! (LayerNorm, softmax, GELU, int8 quantization), each compiled three times — for
//! AVX-512, for AVX2 + FMA and for baseline x86-64 — and chosen once at run time, so one portable
//! binary runs the widest vectors the machine has (on aarch64 the baseline is NEON, one build).
//! The int8 and bf16 matrix products have one file per instruction set (`int8_avx512`,
//! `int8_avxvnni`, `int8_avx2`, `int8_neon` on aarch64, `bf16_avx512`, AMX tiles for both in
//! `amx` + `amx_gemm`, the scalar loops in `int8` and `bf16`), chosen once as well
//! (`select`: [`int8_kernel`], [`bf16_kernel`]).
//!
//! The kernels are plain Rust loops written so that LLVM vectorizes them (16 independent lanes,
//! no data-dependent branches); `dispatch!` compiles each body under the wider target features.

pub mod amx;
mod amx_check;
#[cfg(all(test, target_arch = "x86_64"))]
mod amx_emu;
#[cfg(target_arch = "x86_64")]
mod amx_gemm;
#[cfg(all(test, target_arch = "x86_64"))]
mod amx_tests;
pub mod bf16;
#[cfg(target_arch = "x86_64")]
mod bf16_avx512;
pub mod int8;
#[cfg(target_arch = "x86_64")]
mod int8_avx2;
#[cfg(target_arch = "x86_64")]
mod int8_avx512;
#[cfg(target_arch = "x86_64")]
mod int8_avxvnni;
#[cfg(target_arch = "aarch64")]
mod int8_neon;
pub mod math;

mod select;

pub use select::*;

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
    /// Softmax of each row of `len` values in place, in f32.
    pub fn softmax_rows(x: &mut [f32], len: usize) {
        for row in x.chunks_exact_mut(len) {
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
}

dispatch! {
    /// Hugging Face "gelu": `x · Φ(x)` with the exact error function.
    pub fn gelu_erf(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = math::gelu_erf(*v);
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
                // `max` as a compare and select: one `vmaxps`, no NaN fix-up (which `f32::max`
                // adds; the same result, as `acc` is never NaN).
                let v = c[l].abs();
                acc[l] = if v > acc[l] { v } else { acc[l] };
            }
        }
        let tail = chunks.remainder().iter().fold(0f32, |m, v| m.max(v.abs()));
        acc.iter().fold(tail, |m, &v| m.max(v))
    }
}

dispatch! {
    /// `out[j] = round(x[j] · inv) + 128`, rounding half to even, clamped to [1, 255].
    pub fn quantize_row(x: &[f32], inv: f32, out: &mut [u8]) {
        // Adding 2^23 + 128 leaves round(v) + 128 in the low mantissa bits: no float-to-int
        // conversion, so the loop vectorizes.
        const SHIFT: f32 = 8_388_608.0 + 128.0;
        for (o, &v) in out.iter_mut().zip(x) {
            *o = ((v * inv).clamp(-127.0, 127.0) + SHIFT).to_bits() as u8;
        }
    }
}

dispatch! {
    /// The int8 product's epilogue for one row: `dst = (acc − shift) · row_scale · scale + bias`.
    pub fn dequantize_row(acc: &[i32], shift: &[i32], scale: &[f32], bias: &[f32], row_scale: f32, dst: &mut [f32]) {
        let n = dst.len();
        let (acc, shift, scale, bias) = (&acc[..n], &shift[..n], &scale[..n], &bias[..n]);
        for c in 0..n {
            dst[c] = (acc[c] - shift[c]) as f32 * (row_scale * scale[c]) + bias[c];
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
