//! Model stage, CPU kernels: int8 matrix product for `--quantize int8` — weights quantized per
//! output channel once at load, activations per row at every call (dynamic quantization), i32
//! accumulation in the kernel [`super::int8_kernel`] chose: AMX tiles, AVX-512 VNNI, AVX-VNNI,
//! AVX2, NEON (aarch64, with or without `sdot`), or the scalar reference loop here that the
//! others are tested against bit for bit.
//!
//! `vpdpbusd` multiplies unsigned by signed bytes, so activations `q ∈ [-127, 127]` are stored
//! shifted as `q + 128 ∈ [1, 255]` and the shift is taken back out exactly with the weights'
//! column sums: `Σ (q + 128)·w = Σ q·w + 128·Σ w`. Everything up to the final scaling is integer
//! arithmetic, so every kernel agrees with the scalar path bit for bit — the same output on
//! every CPU.
//!
//! Weights take 65 levels (`|w| ≤ 32`, [`W_MAX`]): then AVX2's `vpmaddubsw`, which adds two
//! u8 × i8 products in a saturating i16, never saturates on the shifted bytes (`2 · 255 · 32 =
//! 16,320`), and two of its results still add exactly in i16 (`4 · 255 · 32 = 32,640 < 32,767`)
//! before one `vpmaddwd` widens them. CoNLL-2003 valid F1 of the shared bert-minilm checkpoint:
//! 0.8989 at |w| ≤ 32, 0.8997 at ≤ 63, 0.8986 at ≤ 127, f32 0.8975 (`ner-tag eval --quantize
//! int8`).

use super::Int8Kernel;

/// Output columns per packed panel: four 16-lane registers.
pub(super) const NR: usize = 64;
/// Rows per micro-kernel call.
pub(super) const MR: usize = 6;

/// The largest quantized weight magnitude (see the module doc).
pub const W_MAX: f32 = 32.0;

/// A weight matrix `(n, k)` quantized to int8 (`|w| ≤ W_MAX`), laid out for the kernel.
pub struct QMatrix {
    n: usize,
    k: usize,
    /// `k` rounded up to a multiple of 4 (one `vpdpbusd` lane takes 4 bytes), or of 64 for AMX
    /// (one tile row); the padding is zero weights.
    kp: usize,
    /// Panels of NR columns: for each group of 4 `k`, NR × 4 bytes (column-major within a group).
    packed: Vec<i8>,
    /// Per output channel: dequantization scale and 128 × the sum of its quantized weights.
    scale: Vec<f32>,
    shift: Vec<i32>,
}

impl QMatrix {
    /// Quantizes a row-major `(n, k)` f32 matrix, symmetric per output row (channel), laid out
    /// for this process's kernel.
    pub fn quantize(w: &[f32], n: usize, k: usize) -> Self {
        Self::quantize_aligned(w, n, k, super::int8_kernel().depth_align())
    }

    /// [`Self::quantize`] with the depth padded to a multiple of `align` (4 or 64), for any
    /// kernel whose [`Int8Kernel::depth_align`] divides it.
    pub(super) fn quantize_aligned(w: &[f32], n: usize, k: usize, align: usize) -> Self {
        assert_eq!(w.len(), n * k);
        assert!(align.is_multiple_of(4));
        let kp = k.div_ceil(align) * align;
        let panels = n.div_ceil(NR);
        let mut packed = vec![0i8; panels * NR * kp];
        let mut scale = vec![0f32; n];
        let mut shift = vec![0i32; n];
        for c in 0..n {
            let row = &w[c * k..(c + 1) * k];
            let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = if amax > 0.0 { amax / W_MAX } else { 1.0 };
            scale[c] = s;
            let (panel, col) = (c / NR, c % NR);
            let mut total = 0i32;
            for (j, &v) in row.iter().enumerate() {
                let q = (v / s).round().clamp(-W_MAX, W_MAX) as i8;
                total += i32::from(q);
                packed[panel * NR * kp + (j / 4) * NR * 4 + col * 4 + j % 4] = q;
            }
            shift[c] = 128 * total;
        }
        Self {
            n,
            k,
            kp,
            packed,
            scale,
            shift,
        }
    }

    pub fn rows(&self) -> usize {
        self.n
    }

    /// Quantized weight `(c, j)` (for the tests).
    #[cfg(test)]
    fn at(&self, c: usize, j: usize) -> i8 {
        let (panel, col) = (c / NR, c % NR);
        self.packed[panel * NR * self.kp + (j / 4) * NR * 4 + col * 4 + j % 4]
    }

    /// The dequantized weights, row-major `(n, k)`: what the int8 model computes with.
    #[cfg(test)]
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.n * self.k);
        for c in 0..self.n {
            for j in 0..self.k {
                out.push(f32::from(self.at(c, j)) * self.scale[c]);
            }
        }
        out
    }
}

/// Activations of `m` rows quantized per row: shifted bytes (`kp` per row) and scales.
#[derive(Default)]
pub struct QRows {
    pub bytes: Vec<u8>,
    pub scale: Vec<f32>,
    /// For the NEON kernels: `q` of every byte (`bytes` − 128, as i8).
    signed: Vec<i8>,
}

impl QRows {
    /// Fills `signed` from `bytes`.
    fn split_signs(&mut self) {
        self.signed.clear();
        self.signed
            .extend(self.bytes.iter().map(|&b| (b ^ 0x80) as i8));
    }
}

/// Quantizes `m` rows of `k` floats, symmetric per row, stored shifted by 128.
pub fn quantize_rows(x: &[f32], m: usize, k: usize, kp: usize, q: &mut QRows) {
    // Every byte is written below except the padding of rows whose k is not a multiple of 4.
    q.bytes.resize(m * kp, 128);
    if kp != k {
        q.bytes.fill(128);
    }
    q.scale.clear();
    for r in 0..m {
        let row = &x[r * k..(r + 1) * k];
        let amax = super::max_abs(row);
        let s = if amax > 0.0 { amax / 127.0 } else { 1.0 };
        q.scale.push(s);
        super::quantize_row(row, 1.0 / s, &mut q.bytes[r * kp..r * kp + k]);
    }
}

/// What the product's epilogue applies after scaling and bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Post {
    None,
    /// GELU with the exact error function, fused into the epilogue.
    GeluErf,
}

/// The per-call parts of one panel's epilogue.
pub(super) struct Epilogue<'a> {
    /// Per-row activation scales of these rows.
    pub row_scale: &'a [f32],
    /// Per-column shift, scale and bias of this panel's columns.
    pub shift: &'a [i32],
    pub scale: &'a [f32],
    pub bias: &'a [f32],
    pub cols: usize,
    pub post: Post,
}

thread_local! {
    /// Quantized activations, reused between calls on this thread.
    static ROWS: std::cell::RefCell<QRows> = Default::default();
}

/// `out (m, n) = post(x (m, k) · wᵀ + bias)`, through int8, on this process's kernel.
pub fn matmul(x: &[f32], m: usize, w: &QMatrix, bias: &[f32], out: &mut [f32], post: Post) {
    matmul_on(super::int8_kernel(), x, m, w, bias, out, post)
}

/// [`matmul`] on a given kernel, which must run on this CPU ([`Int8Kernel::runs_here`]).
pub(super) fn matmul_on(
    kernel: Int8Kernel,
    x: &[f32],
    m: usize,
    w: &QMatrix,
    bias: &[f32],
    out: &mut [f32],
    post: Post,
) {
    let (n, k, kp) = (w.n, w.k, w.kp);
    assert!(x.len() >= m * k && out.len() >= m * n && bias.len() == n);
    assert!(
        kernel.runs_here(),
        "{} kernel on a CPU without it",
        kernel.name()
    );
    #[cfg(target_arch = "x86_64")]
    if kernel == Int8Kernel::Amx {
        return amx_matmul(&mut super::amx::Hardware, x, m, w, bias, out, post);
    }
    ROWS.with_borrow_mut(|q| {
        quantize_rows(x, m, k, kp, q);
        if matches!(kernel, Int8Kernel::Neon | Int8Kernel::NeonDot) {
            q.split_signs();
        }
        let mut acc = [0i32; MR * NR];
        for panel in 0..n.div_ceil(NR) {
            let c0 = panel * NR;
            let cols = NR.min(n - c0);
            let wp = &w.packed[c0 * kp..(c0 + NR) * kp];
            let mut r0 = 0;
            while r0 < m {
                let rows = MR.min(m - r0);
                let a = &q.bytes[r0 * kp..(r0 + rows) * kp];
                let ep = Epilogue {
                    row_scale: &q.scale[r0..r0 + rows],
                    shift: &w.shift[c0..c0 + cols],
                    scale: &w.scale[c0..c0 + cols],
                    bias: &bias[c0..c0 + cols],
                    cols,
                    post,
                };
                let dst = &mut out[r0 * n + c0..];
                // SAFETY (every arm): `runs_here` checked the CPU features; `a` holds rows × kp
                // bytes (as do the signed and magnitude rows), `wp` NR × kp, `dst` rows of stride
                // n with `cols` columns each.
                #[cfg(target_arch = "x86_64")]
                let simd = match kernel {
                    Int8Kernel::Avx512Vnni => {
                        unsafe { super::int8_avx512::panel(a, rows, kp, wp, &ep, dst, n) };
                        true
                    }
                    Int8Kernel::AvxVnni => {
                        unsafe { super::int8_avxvnni::panel(a, rows, kp, wp, &ep, dst, n) };
                        true
                    }
                    Int8Kernel::Avx2 => {
                        unsafe { super::int8_avx2::panel(a, rows, kp, wp, &ep, dst, n) };
                        true
                    }
                    Int8Kernel::Scalar
                    | Int8Kernel::Amx
                    | Int8Kernel::Neon
                    | Int8Kernel::NeonDot => false,
                };
                #[cfg(target_arch = "aarch64")]
                let simd = match kernel {
                    Int8Kernel::NeonDot => {
                        let qs = &q.signed[r0 * kp..(r0 + rows) * kp];
                        unsafe { super::int8_neon::panel_dot(qs, rows, kp, wp, &ep, dst, n) };
                        true
                    }
                    Int8Kernel::Neon => {
                        let qs = &q.signed[r0 * kp..(r0 + rows) * kp];
                        unsafe { super::int8_neon::panel(qs, rows, kp, wp, &ep, dst, n) };
                        true
                    }
                    Int8Kernel::Scalar
                    | Int8Kernel::Avx2
                    | Int8Kernel::AvxVnni
                    | Int8Kernel::Avx512Vnni
                    | Int8Kernel::Amx => false,
                };
                #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
                let simd = false;
                if !simd {
                    scalar_panel(a, rows, kp, wp, &mut acc);
                    for r in 0..rows {
                        let d = &mut dst[r * n..r * n + cols];
                        finish_row(
                            &acc[r * NR..],
                            ep.shift,
                            ep.scale,
                            ep.bias,
                            ep.row_scale[r],
                            post,
                            d,
                        );
                    }
                }
                r0 += rows;
            }
        }
    })
}

#[cfg(target_arch = "x86_64")]
/// [`matmul`] on AMX tiles (the CPU's, or the tests' emulated ones): blocks of 32 × 32 from
/// [`super::amx_gemm::panel`], the same epilogue as the other kernels (so the same bits).
pub(super) fn amx_matmul<T: super::amx::Tiles>(
    tiles: &mut T,
    x: &[f32],
    m: usize,
    w: &QMatrix,
    bias: &[f32],
    out: &mut [f32],
    post: Post,
) {
    use super::amx_gemm::{panel, Acc, BLOCK, DEPTH_BYTES};
    let (n, k, kp) = (w.n, w.k, w.kp);
    assert!(x.len() >= m * k && out.len() >= m * n && bias.len() == n);
    assert!(
        kp.is_multiple_of(DEPTH_BYTES),
        "weights not laid out for AMX"
    );
    ROWS.with_borrow_mut(|q| {
        quantize_rows(x, m, k, kp, q);
        // Whole blocks of rows for the tile loads; what the padding rows hold is never written.
        q.bytes.resize(m.div_ceil(BLOCK) * BLOCK * kp, 128);
        // SAFETY: the configuration is loaded before the products and released after; `panel`'s
        // other conditions are the asserts above, `q.bytes`' padding, and the packed panels of
        // NR × kp bytes (i8 read as the bytes they are).
        unsafe {
            tiles.configure(&super::amx::Config::full());
            for p in 0..n.div_ceil(NR) {
                let c0 = p * NR;
                let packed = &w.packed[c0 * kp..(c0 + NR) * kp];
                let wp = std::slice::from_raw_parts(packed.as_ptr().cast::<u8>(), packed.len());
                let each = |r0: usize, rows: usize, cc: usize, cols: usize, acc: &Acc<i32>| {
                    let c = c0 + cc;
                    for r in 0..rows {
                        let d = &mut out[(r0 + r) * n + c..][..cols];
                        let (shift, scale, bias) = (&w.shift[c..], &w.scale[c..], &bias[c..]);
                        finish_row(
                            &acc.0[r * BLOCK..],
                            shift,
                            scale,
                            bias,
                            q.scale[r0 + r],
                            post,
                            d,
                        );
                    }
                };
                panel(
                    tiles,
                    super::amx::Op::Int8,
                    &q.bytes,
                    kp,
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

/// The portable epilogue of one row: `dst = post((acc − shift) · row_scale · scale + bias)`, the
/// operations (and so the bits) of the SIMD kernels' own epilogues.
fn finish_row(
    acc: &[i32],
    shift: &[i32],
    scale: &[f32],
    bias: &[f32],
    row_scale: f32,
    post: Post,
    dst: &mut [f32],
) {
    super::dequantize_row(acc, shift, scale, bias, row_scale, dst);
    if post == Post::GeluErf {
        super::gelu_erf(dst);
    }
}

/// Reference path: `acc[r][c] = Σ_j a[r][j] · w[c][j]` over one panel, in i32.
fn scalar_panel(a: &[u8], rows: usize, kp: usize, wp: &[i8], acc: &mut [i32]) {
    for r in 0..rows {
        let row = &a[r * kp..(r + 1) * kp];
        for c in 0..NR {
            let mut s = 0i32;
            for g in 0..kp / 4 {
                let w = &wp[g * NR * 4 + c * 4..][..4];
                for j in 0..4 {
                    s += i32::from(row[g * 4 + j]) * i32::from(w[j]);
                }
            }
            acc[r * NR + c] = s;
        }
    }
}

#[cfg(test)]
#[path = "int8_tests.rs"]
mod tests;
