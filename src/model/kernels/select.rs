//! Model stage, CPU kernels: which kernels run — the instruction-set level of the row-wise
//! kernels, the int8 and bf16 matrix products' kernels — each decided once per process, capped
//! by `NER_TAG_SIMD`, and described in one line for `--stats` and the benchmark.

use std::sync::OnceLock;

use super::amx;

/// The widest instruction set the kernels may use on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Base,
    Avx2,
    Avx512,
}

/// `NER_TAG_SIMD`, read once: `base`, `avx2` (an AVX2-only CPU: Zen 2/3, Haswell–Skylake),
/// `avxvnni` (AVX2 + AVX-VNNI, no AVX-512: Alder Lake and later) and `avx512` (AVX-512 without
/// AMX: Ice Lake, Zen 4/5) lower what runs, `amx` takes AMX-INT8 wherever it is exact even
/// if the start-up race found it slower; on aarch64 `base` takes the scalar int8 loop and `neon` plain NEON where the CPU has dotprod.
pub(super) fn requested() -> Option<&'static str> {
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
    /// AMX-INT8 `tdpbusd` on 16 × 64-byte tiles (`amx_gemm`): Intel Sapphire Rapids and later,
    /// on Linux once the process was granted the tile state ([`amx::request`]).
    Amx,
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
            Self::Amx => "amx (tdpbusd tiles)",
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
                Self::Amx => amx::cpu_has(amx::Op::Int8) && amx::request(),
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
                Self::Avx2 | Self::AvxVnni | Self::Avx512Vnni | Self::Amx => false,
            }
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            self == Self::Scalar
        }
    }
}

impl Int8Kernel {
    /// What the weights' depth must be padded to for it (zero weights).
    pub fn depth_align(self) -> usize {
        match self {
            Self::Amx => amx::COLSB,
            _ => 4,
        }
    }
}

/// Whether `NER_TAG_SIMD` lets AMX run: not when it caps the kernels at `avx512` (VNNI and
/// AVX512-BF16) or below.
fn amx_allowed() -> bool {
    level() == Level::Avx512 && requested() != Some("avx512")
}

/// The int8 kernel of this process, decided once: the widest the CPU has, below the
/// `NER_TAG_SIMD` cap (`avx512` keeps VNNI where AMX exists, `avx2` keeps `vpmaddubsw` even
/// where AVX-VNNI exists, `neon` keeps `smull` where dotprod exists, `base` the scalar loop).
/// AMX is taken only once it computed the scalar loop's bits on this CPU, and a model-sized
/// product faster than the vector kernel it would replace ([`super::amx_check`]).
pub fn int8_kernel() -> Int8Kernel {
    static KERNEL: OnceLock<Int8Kernel> = OnceLock::new();
    *KERNEL.get_or_init(choose_int8)
}

#[cfg(not(target_arch = "aarch64"))]
fn choose_int8() -> Int8Kernel {
    let vnni256 = requested() != Some("avx2") && Int8Kernel::AvxVnni.runs_here();
    let vectors = match level() {
        Level::Base => return Int8Kernel::Scalar,
        Level::Avx512 if Int8Kernel::Avx512Vnni.runs_here() => Int8Kernel::Avx512Vnni,
        _ if vnni256 => Int8Kernel::AvxVnni,
        _ => Int8Kernel::Avx2,
    };
    match amx_allowed() && super::amx_check::int8(vectors).is_ok() {
        true => Int8Kernel::Amx,
        false => vectors,
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
    /// AMX-BF16 `tdpbf16ps` on 16 × 64-byte tiles (`amx_gemm`): Intel Sapphire Rapids and later,
    /// on Linux once the process was granted the tile state. Sums each pair in the other order,
    /// so not `vdpbf16ps`' bits (see `bf16`).
    Amx,
    /// 512-bit `vdpbf16ps` of AVX512-BF16 (`bf16_avx512`): Intel Cooper Lake, Sapphire Rapids and
    /// later, AMD Zen 4 and later.
    Avx512Bf16,
}

impl Bf16Kernel {
    pub const ALL: &'static [Bf16Kernel] = &[Self::Scalar, Self::Avx512Bf16, Self::Amx];

    pub fn name(self) -> &'static str {
        match self {
            Self::Scalar => "scalar",
            Self::Avx512Bf16 => "avx512-bf16 (vdpbf16ps)",
            Self::Amx => "amx (tdpbf16ps tiles)",
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
            Self::Amx => amx::cpu_has(amx::Op::Bf16) && amx::request(),
        }
    }

    /// What the weights' depth must be padded to for it (zero weights), in bf16 values.
    pub fn depth_align(self) -> usize {
        match self {
            Self::Amx => amx::COLSB / 2,
            _ => 2,
        }
    }
}

/// The bf16 kernel of this process, decided once: `vdpbf16ps` where the CPU has it and
/// `NER_TAG_SIMD` does not cap the kernels below AVX-512, else the scalar loop — which
/// `--dtype bf16` refuses to run ([`bf16_fast`]).
pub fn bf16_kernel() -> Bf16Kernel {
    static KERNEL: OnceLock<Bf16Kernel> = OnceLock::new();
    *KERNEL.get_or_init(|| match level() {
        _ if amx_allowed() && super::amx_check::bf16().is_ok() => Bf16Kernel::Amx,
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
    let mut line = format!("simd {level}, int8 {}, bf16 {bf16}", int8_kernel().name());
    if let Some(why) = super::amx_check::why_off(amx_allowed()) {
        line.push_str(&format!(" (amx off: {why})"));
    }
    line
}
