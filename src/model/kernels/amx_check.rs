//! Model stage, CPU kernels: the AMX products' self-check — before AMX is chosen, it computes a
//! few odd-shaped products on this CPU's tiles and must give the scalar loop's bits (int8) or
//! stay within bf16's rounding of it (bf16; `tdpbf16ps` sums in another order). A CPU, VM or
//! kernel that does anything else keeps the VNNI / AVX512-BF16 kernels, and `--stats` says so.

use std::sync::OnceLock;

use super::amx::{self, Op};
use super::bf16::BMatrix;
use super::int8::{Post, QMatrix};
use super::{Bf16Kernel, Int8Kernel};

/// The int8 check's outcome, once [`int8`] ran.
static INT8: OnceLock<Result<(), String>> = OnceLock::new();

/// Products of every remainder the tile loop has: rows past a block of 32, columns past a
/// half panel and a panel, depth past one step of 64 bytes.
const SHAPES: &[(usize, usize, usize)] =
    &[(45, 200, 100), (32, 64, 64), (1, 384, 9), (70, 130, 130)];

/// Deterministic inputs in [-scale, scale).
pub(super) fn fill(len: usize, seed: &mut u64, scale: f32) -> Vec<f32> {
    (0..len)
        .map(|_| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((*seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Why the CPU's AMX for `op` cannot be asked, if it cannot.
fn unavailable(op: Op) -> Option<String> {
    if !amx::cpu_has(op) {
        return Some("the CPU lacks it".into());
    }
    (!amx::request()).then(|| amx::refusal().unwrap_or("refused").to_string())
}

/// Whether AMX-INT8 runs here, computes the scalar loop's bits, and is faster than `vectors`
/// (the kernel it would replace) on a product of the model's shape (checked once; every kernel
/// gives the same bits, so the race cannot change an output). `NER_TAG_SIMD=amx` takes AMX
/// wherever it is exact, whatever the race says.
pub fn int8(vectors: Int8Kernel) -> &'static Result<(), String> {
    INT8.get_or_init(|| {
        int8_exact()?;
        let (m, k, n) = (256, 384, 384);
        let mut seed = 17u64;
        let w = fill(n * k, &mut seed, 1.0);
        let x = fill(m * k, &mut seed, 4.0);
        let bias = vec![0f32; n];
        let qm = QMatrix::quantize_aligned(&w, n, k, Int8Kernel::Amx.depth_align());
        let mut out = vec![0f32; m * n];
        let mut best = |kernel: Int8Kernel| {
            (0..5)
                .map(|_| {
                    let t = std::time::Instant::now();
                    super::int8::matmul_on(kernel, &x, m, &qm, &bias, &mut out, Post::None);
                    t.elapsed()
                })
                .min()
                .unwrap()
        };
        let (tiles, vector) = (best(Int8Kernel::Amx), best(vectors));
        if tiles >= vector && super::requested() != Some("amx") {
            return Err(format!(
                "a {m}×{k}×{n} product took {tiles:?} on its tiles, {vector:?} on {}",
                vectors.name()
            ));
        }
        Ok(())
    })
}

/// Whether AMX-INT8 runs here and computes the scalar loop's bits.
fn int8_exact() -> Result<(), String> {
    if let Some(why) = unavailable(Op::Int8) {
        return Err(why);
    }
    let mut seed = 11u64;
    for &(m, k, n) in SHAPES {
        let w = fill(n * k, &mut seed, 1.0);
        let x = fill(m * k, &mut seed, 4.0);
        let bias = fill(n, &mut seed, 1.0);
        let qm = QMatrix::quantize_aligned(&w, n, k, Int8Kernel::Amx.depth_align());
        for post in [Post::None, Post::GeluErf] {
            let mut want = vec![f32::NAN; m * n];
            let mut got = vec![f32::NAN; m * n];
            super::int8::matmul_on(Int8Kernel::Scalar, &x, m, &qm, &bias, &mut want, post);
            super::int8::matmul_on(Int8Kernel::Amx, &x, m, &qm, &bias, &mut got, post);
            if want
                .iter()
                .zip(&got)
                .any(|(a, b)| a.to_bits() != b.to_bits())
            {
                return Err(format!(
                    "its {m}×{k}×{n} int8 self-check differed from the scalar loop"
                ));
            }
        }
    }
    Ok(())
}

/// Whether AMX-BF16 runs here and stays within bf16 rounding of the scalar loop (checked once).
pub fn bf16() -> &'static Result<(), String> {
    static RESULT: OnceLock<Result<(), String>> = OnceLock::new();
    RESULT.get_or_init(|| {
        if let Some(why) = unavailable(Op::Bf16) {
            return Err(why);
        }
        let mut seed = 13u64;
        for &(m, k, n) in SHAPES {
            let w = fill(n * k, &mut seed, 1.0);
            let x = fill(m * k, &mut seed, 4.0);
            let bias = fill(n, &mut seed, 1.0);
            let bm = BMatrix::pack_aligned(&w, n, k, Bf16Kernel::Amx.depth_align());
            let mut want = vec![f32::NAN; m * n];
            let mut got = vec![f32::NAN; m * n];
            super::bf16::matmul_on(Bf16Kernel::Scalar, &x, m, &bm, &bias, &mut want);
            super::bf16::matmul_on(Bf16Kernel::Amx, &x, m, &bm, &bias, &mut got);
            for r in 0..m {
                for c in 0..n {
                    // Reordering k sums moves an f32 result by at most k · 2⁻²⁴ · Σ|terms|.
                    let terms: f32 = (0..k).map(|j| (x[r * k + j] * w[c * k + j]).abs()).sum();
                    let (a, b) = (want[r * n + c], got[r * n + c]);
                    if !b.is_finite() || (a - b).abs() > 1e-4 * terms + 1e-6 {
                        return Err(format!(
                            "its {m}×{k}×{n} bf16 self-check differed from the scalar loop"
                        ));
                    }
                }
            }
        }
        Ok(())
    })
}

/// Why AMX is not used although the CPU has it (`None` where it is used or absent), for
/// `--stats`; `allowed` is whether `NER_TAG_SIMD` lets it run.
pub fn why_off(allowed: bool) -> Option<String> {
    let ops: Vec<(Op, &str)> = [(Op::Int8, "int8"), (Op::Bf16, "bf16")]
        .into_iter()
        .filter(|&(op, _)| amx::cpu_has(op))
        .collect();
    if ops.is_empty() {
        return None;
    }
    if !allowed {
        return Some("NER_TAG_SIMD caps the kernels below it".into());
    }
    let whys: Vec<String> = ops
        .iter()
        .filter_map(|&(op, name)| {
            let result = match op {
                // Choosing the int8 kernel runs the check (it races the kernel AMX would replace).
                Op::Int8 => {
                    super::int8_kernel();
                    INT8.get()
                }
                Op::Bf16 => Some(bf16()),
            };
            result?.as_ref().err().map(|why| format!("{name}: {why}"))
        })
        .collect();
    (!whys.is_empty()).then(|| whys.join("; "))
}
