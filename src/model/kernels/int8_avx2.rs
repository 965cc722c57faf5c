//! Model stage, CPU kernels: the int8 product's panel on AVX2 without VNNI — 256-bit `vpmaddubsw`
//! and `vpmaddwd` over the shifted activation bytes `q + 128 ∈ [1, 255]`, as the VNNI kernels
//! take them. Exact: weights are at most 32 in magnitude ([`super::int8::W_MAX`]), so each
//! `vpmaddubsw` pair sum is at most 2 · 255 · 32 = 16,320, and the sums of two groups of four `k`
//! add in i16 (`vpaddw`, at most 32,640) before one `vpmaddwd` widens them to i32; the shift comes
//! back out in the epilogue with the weights' column sums, so the results equal the scalar path's
//! bit for bit. Per eight `k` and row: two broadcasts, four `vpmaddubsw`, two `vpaddw`, two
//! `vpmaddwd`, two `vpaddd` for 16 columns — six multiply µops per 128 multiply-adds where one
//! group at a time takes eight. The 256-bit epilogue here (with the vector GELU of `math::x86`)
//! serves the AVX-VNNI kernel too.

use std::arch::x86_64::*;

use super::int8::{Epilogue, Post, NR};
use super::math::x86::gelu_erf8_n;

/// Rows per register block: 4 rows × 16 columns = 8 accumulators, 4 weight registers (two groups).
const RB: usize = 4;

/// One panel of NR packed columns for up to MR rows of `kp` shifted activation bytes each (`a`);
/// the results go to `out` (row stride `ldo`, `ep.cols` columns).
#[target_feature(enable = "avx2")]
pub unsafe fn panel(
    a: &[u8],
    rows: usize,
    kp: usize,
    wp: &[i8],
    ep: &Epilogue,
    out: &mut [f32],
    ldo: usize,
) {
    let mut r0 = 0;
    while r0 < rows {
        let n = (rows - r0).min(RB);
        match n {
            4 => block::<4>(a, r0, kp, wp, ep, out, ldo),
            3 => block::<3>(a, r0, kp, wp, ep, out, ldo),
            2 => block::<2>(a, r0, kp, wp, ep, out, ldo),
            _ => block::<1>(a, r0, kp, wp, ep, out, ldo),
        }
        r0 += n;
    }
}

/// Rows `r0..r0 + R` of the panel, 16 columns at a time.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn block<const R: usize>(
    a: &[u8],
    r0: usize,
    kp: usize,
    wp: &[i8],
    ep: &Epilogue,
    out: &mut [f32],
    ldo: usize,
) {
    assert!(a.len() >= (r0 + R) * kp && wp.len() >= NR * kp);
    let ones = _mm256_set1_epi16(1);
    let ap = a.as_ptr();
    let groups = kp / 4;
    let mut cb = 0;
    while cb < ep.cols {
        let mut acc = [[_mm256_setzero_si256(); 2]; R];
        let mut w = wp.as_ptr().add(cb * 4);
        // Two groups of four `k` at a time: their `vpmaddubsw` pair sums add in i16 (`vpaddw`,
        // at most 4 · 255 · 32 = 32,640 in magnitude: exact), then one `vpmaddwd` widens them.
        let mut g = 0;
        while g + 2 <= groups {
            let w0 = _mm256_loadu_si256(w as *const __m256i);
            let w1 = _mm256_loadu_si256(w.add(32) as *const __m256i);
            let v0 = _mm256_loadu_si256(w.add(NR * 4) as *const __m256i);
            let v1 = _mm256_loadu_si256(w.add(NR * 4 + 32) as *const __m256i);
            for (r, ar) in acc.iter_mut().enumerate() {
                let off = (r0 + r) * kp + g * 4;
                let x = _mm256_set1_epi32(std::ptr::read_unaligned(ap.add(off) as *const i32));
                let y = _mm256_set1_epi32(std::ptr::read_unaligned(ap.add(off + 4) as *const i32));
                let p0 = _mm256_add_epi16(_mm256_maddubs_epi16(x, w0), _mm256_maddubs_epi16(y, v0));
                let p1 = _mm256_add_epi16(_mm256_maddubs_epi16(x, w1), _mm256_maddubs_epi16(y, v1));
                ar[0] = _mm256_add_epi32(ar[0], _mm256_madd_epi16(p0, ones));
                ar[1] = _mm256_add_epi32(ar[1], _mm256_madd_epi16(p1, ones));
            }
            w = w.add(2 * NR * 4);
            g += 2;
        }
        if g < groups {
            let w0 = _mm256_loadu_si256(w as *const __m256i);
            let w1 = _mm256_loadu_si256(w.add(32) as *const __m256i);
            for (r, ar) in acc.iter_mut().enumerate() {
                let off = (r0 + r) * kp + g * 4;
                let x = _mm256_set1_epi32(std::ptr::read_unaligned(ap.add(off) as *const i32));
                let p0 = _mm256_maddubs_epi16(x, w0);
                let p1 = _mm256_maddubs_epi16(x, w1);
                ar[0] = _mm256_add_epi32(ar[0], _mm256_madd_epi16(p0, ones));
                ar[1] = _mm256_add_epi32(ar[1], _mm256_madd_epi16(p1, ones));
            }
        }
        epilogue::<R, 2>(&acc, true, ep, r0, cb, out, ldo);
        cb += 16;
    }
}

/// Writes rows `r0..r0 + R` × panel columns `cb..cb + 8·C` (those below `ep.cols`) of i32 sums:
/// `acc − shift` (when `shifted`), then the scalar epilogue's operations in its order, then GELU
/// (`math::x86::gelu_erf8_n` over the block's rows, the scalar `gelu_erf`'s bits) before the
/// store.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) unsafe fn epilogue<const R: usize, const C: usize>(
    acc: &[[__m256i; C]; R],
    shifted: bool,
    ep: &Epilogue,
    r0: usize,
    cb: usize,
    out: &mut [f32],
    ldo: usize,
) {
    let width = ep.cols.saturating_sub(cb).min(8 * C);
    if width == 0 {
        return;
    }
    assert!(ep.row_scale.len() >= r0 + R && out.len() >= (r0 + R - 1) * ldo + cb + width);
    assert!(ep.shift.len() >= ep.cols && ep.scale.len() >= ep.cols && ep.bias.len() >= ep.cols);
    for j in 0..C {
        let c = cb + 8 * j;
        if c >= ep.cols {
            break;
        }
        let left = (ep.cols - c).min(8);
        let (shift, scale, bias) = if left == 8 {
            (
                _mm256_loadu_si256(ep.shift.as_ptr().add(c) as *const __m256i),
                _mm256_loadu_ps(ep.scale.as_ptr().add(c)),
                _mm256_loadu_ps(ep.bias.as_ptr().add(c)),
            )
        } else {
            let (mut sh, mut sc, mut bi) = ([0i32; 8], [0f32; 8], [0f32; 8]);
            sh[..left].copy_from_slice(&ep.shift[c..c + left]);
            sc[..left].copy_from_slice(&ep.scale[c..c + left]);
            bi[..left].copy_from_slice(&ep.bias[c..c + left]);
            (
                _mm256_loadu_si256(sh.as_ptr() as *const __m256i),
                _mm256_loadu_ps(sc.as_ptr()),
                _mm256_loadu_ps(bi.as_ptr()),
            )
        };
        let mut y = [_mm256_setzero_ps(); R];
        for (r, (ar, y)) in acc.iter().zip(&mut y).enumerate() {
            let v = if shifted {
                _mm256_sub_epi32(ar[j], shift)
            } else {
                ar[j]
            };
            let s = _mm256_mul_ps(_mm256_set1_ps(ep.row_scale[r0 + r]), scale);
            *y = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(v), s), bias);
        }
        if ep.post == Post::GeluErf {
            // All rows' chains at once (`gelu_erf8_n`): the same bits as one at a time.
            y = gelu_erf8_n(y);
        }
        for (r, &y) in y.iter().enumerate() {
            let dst = out.as_mut_ptr().add((r0 + r) * ldo + c);
            if left == 8 {
                _mm256_storeu_ps(dst, y);
            } else {
                let mut t = [0f32; 8];
                _mm256_storeu_ps(t.as_mut_ptr(), y);
                std::ptr::copy_nonoverlapping(t.as_ptr(), dst, left);
            }
        }
    }
}
