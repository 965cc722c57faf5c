//! Model stage, CPU kernels: bf16 matrix product for `--dtype bf16` on the CPU — weights rounded
//! to bf16 once at load, activations at every call, products summed in f32 by the kernel
//! [`super::bf16_kernel`] chose: AMX-BF16 tiles (`tdpbf16ps`, [`super::amx_gemm`]), AVX512-BF16
//! `vdpbf16ps` ([`super::bf16_avx512`]) or the scalar reference loop here that the latter is
//! tested against bit for bit.
//!
//! `vdpbf16ps` takes pairs of bf16 (two consecutive `k`) and adds, to each f32 accumulator, first
//! the product of the odd pair members, then that of the even ones, each addition rounded to
//! nearest even (the products of two bf16 are exact in f32). The scalar loop does the same
//! additions in the same order. Conversion to bf16 (round to nearest even, denormals to zero as
//! `vcvtne2ps2bf16` does) is one portable function ([`to_bf16_row`]) for every kernel.

use super::Bf16Kernel;

/// Output columns per packed panel: four 16-lane registers.
pub(super) const NR: usize = 64;
/// Rows per micro-kernel call.
pub(super) const MR: usize = 6;

/// `v` rounded to bf16, nearest even; denormals become zero of the same sign, NaN stays NaN.
pub fn to_bf16(v: f32) -> u16 {
    let b = v.to_bits();
    if v.is_nan() {
        return ((b >> 16) as u16) | 0x0040;
    }
    if v.abs() < f32::MIN_POSITIVE {
        return ((b >> 16) as u16) & 0x8000;
    }
    (b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

/// The f32 a bf16 stands for (exact).
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

super::dispatch! {
    /// `out[j] = to_bf16(x[j])` (the loop LLVM vectorizes; the same bits as [`to_bf16`]).
    pub fn to_bf16_row(x: &[f32], out: &mut [u16]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = to_bf16(v);
        }
    }
}

/// A weight matrix `(n, k)` rounded to bf16, laid out for the kernel.
pub struct BMatrix {
    n: usize,
    k: usize,
    /// `k` rounded up to a multiple of 2 (one `vdpbf16ps` lane takes a pair), or of 32 for AMX
    /// (one tile row of 64 bytes).
    kp: usize,
    /// Panels of NR columns: for each pair of `k`, NR × 2 values (column-major within a pair),
    /// zero past `n` and `k`.
    packed: Vec<u16>,
}

impl BMatrix {
    /// Rounds a row-major `(n, k)` f32 matrix to bf16, laid out for this process's kernel.
    pub fn pack(w: &[f32], n: usize, k: usize) -> Self {
        Self::pack_aligned(w, n, k, super::bf16_kernel().depth_align())
    }

    /// [`Self::pack`] with the depth padded to a multiple of `align` (2 or 32).
    pub(super) fn pack_aligned(w: &[f32], n: usize, k: usize, align: usize) -> Self {
        assert_eq!(w.len(), n * k);
        assert!(align.is_multiple_of(2));
        let kp = k.div_ceil(align) * align;
        let mut packed = vec![0u16; n.div_ceil(NR) * NR * kp];
        for c in 0..n {
            let (panel, col) = (c / NR, c % NR);
            for (j, &v) in w[c * k..(c + 1) * k].iter().enumerate() {
                packed[panel * NR * kp + (j / 2) * NR * 2 + col * 2 + j % 2] = to_bf16(v);
            }
        }
        Self { n, k, kp, packed }
    }

    pub fn rows(&self) -> usize {
        self.n
    }

    /// The weights as the kernel sees them, row-major `(n, k)` f32 (for the tests).
    #[cfg(test)]
    pub fn unpack(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.n * self.k);
        for c in 0..self.n {
            let (panel, col) = (c / NR, c % NR);
            for j in 0..self.k {
                let i = panel * NR * self.kp + (j / 2) * NR * 2 + col * 2 + j % 2;
                out.push(from_bf16(self.packed[i]));
            }
        }
        out
    }
}

thread_local! {
    /// Activations in bf16, reused between calls on this thread.
    static ROWS: std::cell::RefCell<Vec<u16>> = Default::default();
}

/// `out (m, n) = x (m, k) · wᵀ + bias`, through bf16, on this process's kernel.
pub fn matmul(x: &[f32], m: usize, w: &BMatrix, bias: &[f32], out: &mut [f32]) {
    matmul_on(super::bf16_kernel(), x, m, w, bias, out)
}

/// `m` rows of `k` activations rounded to bf16 in `a`, `kp` values a row (zeros past `k`), and
/// zero rows up to `rows`.
fn activations(x: &[f32], m: usize, k: usize, kp: usize, rows: usize, a: &mut Vec<u16>) {
    a.clear();
    a.resize(rows * kp, 0);
    for r in 0..m {
        to_bf16_row(&x[r * k..(r + 1) * k], &mut a[r * kp..r * kp + k]);
    }
}

/// [`matmul`] on a given kernel, which must run on this CPU ([`Bf16Kernel::runs_here`]).
pub(super) fn matmul_on(
    kernel: Bf16Kernel,
    x: &[f32],
    m: usize,
    w: &BMatrix,
    bias: &[f32],
    out: &mut [f32],
) {
    let (n, k, kp) = (w.n, w.k, w.kp);
    assert!(x.len() >= m * k && out.len() >= m * n && bias.len() == n);
    assert!(
        kernel.runs_here(),
        "{} kernel on a CPU without it",
        kernel.name()
    );
    #[cfg(target_arch = "x86_64")]
    if kernel == Bf16Kernel::Amx {
        return amx_matmul(&mut super::amx::Hardware, x, m, w, bias, out);
    }
    ROWS.with_borrow_mut(|a| {
        activations(x, m, k, kp, m, a);
        let mut acc = [0f32; MR * NR];
        for panel in 0..n.div_ceil(NR) {
            let c0 = panel * NR;
            let cols = NR.min(n - c0);
            let wp = &w.packed[c0 * kp..(c0 + NR) * kp];
            let bias = &bias[c0..c0 + cols];
            let mut r0 = 0;
            while r0 < m {
                let rows = MR.min(m - r0);
                let ar = &a[r0 * kp..(r0 + rows) * kp];
                let dst = &mut out[r0 * n + c0..];
                match kernel {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `runs_here` checked the CPU features; `ar` holds rows × kp values,
                    // `wp` NR × kp, `dst` rows of stride n with `cols` columns each.
                    Bf16Kernel::Avx512Bf16 => unsafe {
                        super::bf16_avx512::panel(ar, rows, kp, wp, bias, dst, n)
                    },
                    _ => {
                        scalar_panel(ar, rows, kp, wp, &mut acc);
                        for r in 0..rows {
                            for c in 0..cols {
                                dst[r * n + c] = acc[r * NR + c] + bias[c];
                            }
                        }
                    }
                }
                r0 += rows;
            }
        }
    })
}

#[cfg(target_arch = "x86_64")]
/// [`matmul`] on AMX tiles (the CPU's, or the tests' emulated ones): blocks of 32 × 32 from
/// [`super::amx_gemm::panel`], then the bias.
pub(super) fn amx_matmul<T: super::amx::Tiles>(
    tiles: &mut T,
    x: &[f32],
    m: usize,
    w: &BMatrix,
    bias: &[f32],
    out: &mut [f32],
) {
    use super::amx_gemm::{panel, Acc, BLOCK, DEPTH_BYTES};
    let (n, k, kp) = (w.n, w.k, w.kp);
    assert!(x.len() >= m * k && out.len() >= m * n && bias.len() == n);
    assert!(
        (2 * kp).is_multiple_of(DEPTH_BYTES),
        "weights not laid out for AMX"
    );
    ROWS.with_borrow_mut(|a| {
        // Whole blocks of rows for the tile loads; what the padding rows hold is never written.
        activations(x, m, k, kp, m.div_ceil(BLOCK) * BLOCK, a);
        // SAFETY: the configuration is loaded before the products and released after; `panel`'s
        // other conditions are the asserts above, the rows' padding, and the packed panels of
        // NR × kp values (u16 read as their bytes).
        unsafe {
            let bytes = std::slice::from_raw_parts(a.as_ptr().cast::<u8>(), 2 * a.len());
            tiles.configure(&super::amx::Config::full());
            for p in 0..n.div_ceil(NR) {
                let c0 = p * NR;
                let packed = &w.packed[c0 * kp..(c0 + NR) * kp];
                let wp = std::slice::from_raw_parts(packed.as_ptr().cast::<u8>(), 2 * packed.len());
                let each = |r0: usize, rows: usize, cc: usize, cols: usize, acc: &Acc<f32>| {
                    let c = c0 + cc;
                    for r in 0..rows {
                        let d = &mut out[(r0 + r) * n + c..][..cols];
                        for (j, o) in d.iter_mut().enumerate() {
                            *o = acc.0[r * BLOCK + j] + bias[c + j];
                        }
                    }
                };
                panel(
                    tiles,
                    super::amx::Op::Bf16,
                    bytes,
                    2 * kp,
                    m,
                    wp,
                    NR.min(n - c0),
                    each,
                );
            }
            tiles.release();
        }
    })
}

/// Reference path: `acc[r][c] = Σ_pairs (a_odd · w_odd then a_even · w_even)` in f32, as
/// `vdpbf16ps` adds them.
fn scalar_panel(a: &[u16], rows: usize, kp: usize, wp: &[u16], acc: &mut [f32]) {
    for r in 0..rows {
        let row = &a[r * kp..(r + 1) * kp];
        for c in 0..NR {
            let mut s = 0f32;
            for g in 0..kp / 2 {
                let w = &wp[g * NR * 2 + c * 2..][..2];
                s += from_bf16(row[g * 2 + 1]) * from_bf16(w[1]);
                s += from_bf16(row[g * 2]) * from_bf16(w[0]);
            }
            acc[r * NR + c] = s;
        }
    }
}

#[cfg(test)]
#[path = "bf16_tests.rs"]
mod tests;
