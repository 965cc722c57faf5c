//! Model stage, CPU kernels: int8 matrix product for `--quantize int8` — weights quantized per
//! output channel once at load, activations per row at every call (dynamic quantization), i32
//! accumulation with AVX-512 VNNI (`vpdpbusd`) where the CPU has it, a scalar loop elsewhere.
//!
//! `vpdpbusd` multiplies unsigned by signed bytes, so activations `q ∈ [-127, 127]` are stored
//! shifted as `q + 128 ∈ [1, 255]` and the shift is taken back out exactly with the weights'
//! column sums: `Σ (q + 128)·w = Σ q·w + 128·Σ w`. Everything up to the final scaling is integer
//! arithmetic, so the VNNI and scalar paths agree bit for bit.

/// Output columns per packed panel: four 16-lane registers.
const NR: usize = 64;
/// Rows per micro-kernel call.
const MR: usize = 6;

/// A weight matrix `(n, k)` quantized to int8, laid out for the kernel.
pub struct QMatrix {
    n: usize,
    k: usize,
    /// `k` rounded up to a multiple of 4 (one `vpdpbusd` lane takes 4 bytes).
    kp: usize,
    /// Panels of NR columns: for each group of 4 `k`, NR × 4 bytes (column-major within a group).
    packed: Vec<i8>,
    /// Per output channel: dequantization scale and 128 × the sum of its quantized weights.
    scale: Vec<f32>,
    shift: Vec<i32>,
}

impl QMatrix {
    /// Quantizes a row-major `(n, k)` f32 matrix, symmetric per output row (channel).
    pub fn quantize(w: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(w.len(), n * k);
        let kp = k.div_ceil(4) * 4;
        let panels = n.div_ceil(NR);
        let mut packed = vec![0i8; panels * NR * kp];
        let mut scale = vec![0f32; n];
        let mut shift = vec![0i32; n];
        for c in 0..n {
            let row = &w[c * k..(c + 1) * k];
            let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = if amax > 0.0 { amax / 127.0 } else { 1.0 };
            scale[c] = s;
            let (panel, col) = (c / NR, c % NR);
            let mut total = 0i32;
            for (j, &v) in row.iter().enumerate() {
                let q = (v / s).round().clamp(-127.0, 127.0) as i8;
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
struct Epilogue<'a> {
    /// Per-row activation scales of these rows.
    row_scale: &'a [f32],
    /// Per-column shift, scale and bias of this panel's columns.
    shift: &'a [i32],
    scale: &'a [f32],
    bias: &'a [f32],
    cols: usize,
    post: Post,
}

thread_local! {
    /// Quantized activations, reused between calls on this thread.
    static ROWS: std::cell::RefCell<QRows> = Default::default();
}

/// `out (m, n) = post(x (m, k) · wᵀ + bias)`, through int8.
pub fn matmul(x: &[f32], m: usize, w: &QMatrix, bias: &[f32], out: &mut [f32], post: Post) {
    let (n, k, kp) = (w.n, w.k, w.kp);
    assert!(x.len() >= m * k && out.len() >= m * n && bias.len() == n);
    ROWS.with_borrow_mut(|q| {
        quantize_rows(x, m, k, kp, q);
        let vnni = has_vnni();
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
                if vnni {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `has_vnni` checked the CPU features; `a` holds rows × kp bytes, `wp`
                    // NR × kp, `dst` rows of stride n with `cols` columns each.
                    unsafe {
                        vnni::panel(a, rows, kp, wp, &ep, dst, n)
                    };
                } else {
                    scalar_panel(a, rows, kp, wp, &mut acc);
                    for r in 0..rows {
                        let d = &mut dst[r * n..r * n + cols];
                        super::dequantize_row(
                            &acc[r * NR..],
                            ep.shift,
                            ep.scale,
                            ep.bias,
                            ep.row_scale[r],
                            d,
                        );
                        if post == Post::GeluErf {
                            super::gelu_erf(d);
                        }
                    }
                }
                r0 += rows;
            }
        }
    })
}

/// Whether the VNNI kernel runs here (AVX-512 VNNI, not lowered by `NER_TAG_SIMD`).
pub fn has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::level() == super::Level::Avx512 && is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
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

#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;

    use super::{Epilogue, Post, NR};

    /// One panel of NR columns for up to MR rows: 4 × rows i32 accumulators live in registers,
    /// then are scaled, biased (and passed through GELU) on their way to `out`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn panel(
        a: &[u8],
        rows: usize,
        kp: usize,
        wp: &[i8],
        ep: &Epilogue,
        out: &mut [f32],
        ldo: usize,
    ) {
        match rows {
            6 => rows_n::<6>(a, kp, wp, ep, out, ldo),
            5 => rows_n::<5>(a, kp, wp, ep, out, ldo),
            4 => rows_n::<4>(a, kp, wp, ep, out, ldo),
            3 => rows_n::<3>(a, kp, wp, ep, out, ldo),
            2 => rows_n::<2>(a, kp, wp, ep, out, ldo),
            _ => rows_n::<1>(a, kp, wp, ep, out, ldo),
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    #[inline]
    unsafe fn rows_n<const R: usize>(
        a: &[u8],
        kp: usize,
        wp: &[i8],
        ep: &Epilogue,
        out: &mut [f32],
        ldo: usize,
    ) {
        assert!(a.len() >= R * kp && wp.len() >= NR * kp && ep.row_scale.len() >= R);
        assert!(out.len() >= (R - 1) * ldo + ep.cols && ep.cols <= NR);
        let mut c = [[_mm512_setzero_si512(); 4]; R];
        let ap = a.as_ptr();
        let mut w = wp.as_ptr();
        for g in 0..kp / 4 {
            let w0 = _mm512_loadu_si512(w as *const _);
            let w1 = _mm512_loadu_si512(w.add(64) as *const _);
            let w2 = _mm512_loadu_si512(w.add(128) as *const _);
            let w3 = _mm512_loadu_si512(w.add(192) as *const _);
            for (r, cr) in c.iter_mut().enumerate() {
                let x = _mm512_set1_epi32(std::ptr::read_unaligned(
                    ap.add(r * kp + g * 4) as *const i32
                ));
                cr[0] = _mm512_dpbusd_epi32(cr[0], x, w0);
                cr[1] = _mm512_dpbusd_epi32(cr[1], x, w1);
                cr[2] = _mm512_dpbusd_epi32(cr[2], x, w2);
                cr[3] = _mm512_dpbusd_epi32(cr[3], x, w3);
            }
            w = w.add(NR * 4);
        }
        for j in 0..4 {
            let c0 = j * 16;
            if c0 >= ep.cols {
                break;
            }
            let left = ep.cols - c0;
            let mask: __mmask16 = if left >= 16 {
                0xFFFF
            } else {
                (1u16 << left) - 1
            };
            let shift = _mm512_maskz_loadu_epi32(mask, ep.shift.as_ptr().add(c0));
            let scale = _mm512_maskz_loadu_ps(mask, ep.scale.as_ptr().add(c0));
            let bias = _mm512_maskz_loadu_ps(mask, ep.bias.as_ptr().add(c0));
            for (r, cr) in c.iter().enumerate() {
                let f = _mm512_cvtepi32_ps(_mm512_sub_epi32(cr[j], shift));
                // The same operations, in the same order, as the scalar epilogue.
                let s = _mm512_mul_ps(_mm512_set1_ps(ep.row_scale[r]), scale);
                let mut y = _mm512_add_ps(_mm512_mul_ps(f, s), bias);
                if ep.post == Post::GeluErf {
                    let mut t = [0f32; 16];
                    _mm512_storeu_ps(t.as_mut_ptr(), y);
                    for v in t.iter_mut() {
                        *v = 0.5
                            * *v
                            * (1.0 + super::super::math::erf(*v * std::f32::consts::FRAC_1_SQRT_2));
                    }
                    y = _mm512_loadu_ps(t.as_ptr());
                }
                _mm512_mask_storeu_ps(out.as_mut_ptr().add(r * ldo + c0), mask, y);
            }
        }
    }
}

#[cfg(test)]
#[path = "int8_tests.rs"]
mod tests;
