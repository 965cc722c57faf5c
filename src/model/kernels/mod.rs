//! Model stage, CPU kernels: the row-wise and element-wise math of the native CPU encoder
//! (LayerNorm, softmax, GELU, int8 quantization), each compiled three times — for
//! AVX-512, for AVX2 + FMA and for baseline x86-64 — and chosen once at run time, so one portable
//! binary runs the widest vectors the machine has (on aarch64 the baseline is NEON, one build).
//! The int8 matrix product has one file per instruction set (`int8_avx512`, `int8_avxvnni`,
//! `int8_avx2`, `int8_neon` on aarch64, the scalar loop in `int8`), chosen once as well
//! ([`int8_kernel`]).
//!
//! The kernels are plain Rust loops written so that LLVM vectorizes them (16 independent lanes,
//! no data-dependent branches); `dispatch!` compiles each body under the wider target features.

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

use std::sync::OnceLock;

/// The widest instruction set the kernels may use on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Base,
    Avx2,
    Avx512,
}

/// `NER_TAG_SIMD`, read once: `base`, `avx2` (an AVX2-only CPU: Zen 2/3, Haswell–Skylake) and
/// `avxvnni` (AVX2 + AVX-VNNI, no AVX-512: Alder Lake and later) lower what runs; on aarch64
/// `base` takes the scalar int8 loop and `neon` plain NEON where the CPU has dotprod.
fn requested() -> Option<&'static str> {
    static REQ: OnceLock<Option<String>> = OnceLock::new();
    REQ.get_or_init(|| std::env::var("NER_TAG_SIMD").ok())
        .as_deref()
}

/// Detected once; `NER_TAG_SIMD=base|avx2|avxvnni` lowers it (to test the fallbacks on a wide
/// machine).
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let detected = detect();
        let cap = match requested() {
            Some("base") => Level::Base,
            Some("avx2" | "avxvnni") => Level::Avx2,
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

/// The int8 matrix product's kernel: every one computes the same integers as `Scalar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Int8Kernel {
    /// The reference loop (`int8::scalar_panel`).
    Scalar,
    /// 256-bit `vpmaddubsw` + `vpmaddwd` on sign-split activations (`int8_avx2`).
    Avx2,
    /// 256-bit `vpdpbusd` of AVX-VNNI, without AVX-512 (`int8_avxvnni`).
    AvxVnni,
    /// 512-bit `vpdpbusd` of AVX-512 VNNI (`int8_avx512`).
    Avx512Vnni,
    /// aarch64 NEON `smull` + `sadalp` (`int8_neon`): every ARMv8 CPU.
    Neon,
    /// aarch64 NEON `sdot` of the dotprod extension (`int8_neon`).
    NeonDot,
}

impl Int8Kernel {
    pub fn name(self) -> &'static str {
        match self {
            Self::Scalar => "scalar",
            Self::Avx2 => "avx2 (vpmaddubsw)",
            Self::AvxVnni => "avx-vnni (256-bit vpdpbusd)",
            Self::Avx512Vnni => "avx512-vnni (512-bit vpdpbusd)",
            Self::Neon => "neon (smull + sadalp)",
            Self::NeonDot => "neon-dotprod (sdot)",
        }
    }

    /// Whether this CPU runs it (`Scalar` everywhere), whatever `NER_TAG_SIMD` says.
    pub fn runs_here(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = is_x86_feature_detected!("avx2");
            match self {
                Self::Scalar => true,
                Self::Avx2 => avx2,
                Self::AvxVnni => avx2 && is_x86_feature_detected!("avxvnni"),
                Self::Avx512Vnni => {
                    is_x86_feature_detected!("avx512f")
                        && is_x86_feature_detected!("avx512bw")
                        && is_x86_feature_detected!("avx512vnni")
                }
                Self::Neon | Self::NeonDot => false,
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            let neon = std::arch::is_aarch64_feature_detected!("neon");
            match self {
                Self::Scalar => true,
                Self::Neon => neon,
                Self::NeonDot => neon && std::arch::is_aarch64_feature_detected!("dotprod"),
                Self::Avx2 | Self::AvxVnni | Self::Avx512Vnni => false,
            }
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            self == Self::Scalar
        }
    }
}

/// The int8 kernel of this process, decided once: the widest the CPU has, below the
/// `NER_TAG_SIMD` cap (`avx2` keeps `vpmaddubsw` even where AVX-VNNI exists, `neon` keeps
/// `smull` where dotprod exists, `base` the scalar loop).
pub fn int8_kernel() -> Int8Kernel {
    static KERNEL: OnceLock<Int8Kernel> = OnceLock::new();
    *KERNEL.get_or_init(choose_int8)
}

#[cfg(not(target_arch = "aarch64"))]
fn choose_int8() -> Int8Kernel {
    let vnni256 = requested() != Some("avx2") && Int8Kernel::AvxVnni.runs_here();
    match level() {
        Level::Base => Int8Kernel::Scalar,
        Level::Avx512 if Int8Kernel::Avx512Vnni.runs_here() => Int8Kernel::Avx512Vnni,
        _ if vnni256 => Int8Kernel::AvxVnni,
        _ => Int8Kernel::Avx2,
    }
}

#[cfg(target_arch = "aarch64")]
fn choose_int8() -> Int8Kernel {
    match requested() {
        Some("base") => Int8Kernel::Scalar,
        _ if !Int8Kernel::Neon.runs_here() => Int8Kernel::Scalar,
        Some("neon") => Int8Kernel::Neon,
        _ if Int8Kernel::NeonDot.runs_here() => Int8Kernel::NeonDot,
        _ => Int8Kernel::Neon,
    }
}

/// The bf16 matrix product's kernel (`--dtype bf16` on the CPU): every one computes the same
/// floats as `Scalar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bf16Kernel {
    /// The reference loop (`bf16::scalar_panel`): tests only, far slower than f32.
    Scalar,
    /// 512-bit `vdpbf16ps` of AVX512-BF16 (`bf16_avx512`): Intel Cooper Lake, Sapphire Rapids and
    /// later, AMD Zen 4 and later.
    Avx512Bf16,
}

impl Bf16Kernel {
    pub const ALL: &'static [Bf16Kernel] = &[Self::Scalar, Self::Avx512Bf16];

    pub fn name(self) -> &'static str {
        match self {
            Self::Scalar => "scalar",
            Self::Avx512Bf16 => "avx512-bf16 (vdpbf16ps)",
        }
    }

    /// Whether this CPU runs it (`Scalar` everywhere), whatever `NER_TAG_SIMD` says.
    pub fn runs_here(self) -> bool {
        match self {
            Self::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx512Bf16 => {
                is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Self::Avx512Bf16 => false,
        }
    }
}

/// The bf16 kernel of this process, decided once: `vdpbf16ps` where the CPU has it and
/// `NER_TAG_SIMD` does not cap the kernels below AVX-512, else the scalar loop — which
/// `--dtype bf16` refuses to run ([`bf16_fast`]).
pub fn bf16_kernel() -> Bf16Kernel {
    static KERNEL: OnceLock<Bf16Kernel> = OnceLock::new();
    *KERNEL.get_or_init(|| match level() {
        Level::Avx512 if Bf16Kernel::Avx512Bf16.runs_here() => Bf16Kernel::Avx512Bf16,
        _ => Bf16Kernel::Scalar,
    })
}

/// Whether bf16 products run in hardware here (what `--dtype bf16` on the CPU needs).
pub fn bf16_fast() -> bool {
    bf16_kernel() != Bf16Kernel::Scalar
}

/// What runs here, in one line: `simd avx512, int8 avx512-vnni (512-bit vpdpbusd), bf16 …`.
pub fn describe() -> String {
    let level = match level() {
        Level::Base if cfg!(target_arch = "aarch64") => "neon",
        Level::Base if cfg!(target_arch = "x86_64") => "baseline x86-64",
        Level::Base => "baseline",
        Level::Avx2 => "avx2+fma",
        Level::Avx512 => "avx512",
    };
    let bf16 = match bf16_fast() {
        true => bf16_kernel().name(),
        false => "none",
    };
    format!("simd {level}, int8 {}, bf16 {bf16}", int8_kernel().name())
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
