//! Model stage, CPU kernels: the bf16 product's panel on AVX512-BF16 — 512-bit `vdpbf16ps` of
//! broadcast activation pairs and packed weight pairs, 4 × rows f32 accumulators in registers,
//! the bias added on their way out.

use std::arch::x86_64::*;
use std::mem::transmute;

use super::bf16::NR;

/// One panel of NR columns for up to MR rows: `out[r][c] = acc[r][c] + bias[c]` for the first
/// `bias.len()` columns.
#[target_feature(enable = "avx512f,avx512bf16")]
pub unsafe fn panel(
    a: &[u16],
    rows: usize,
    kp: usize,
    wp: &[u16],
    bias: &[f32],
    out: &mut [f32],
    ldo: usize,
) {
    match rows {
        6 => rows_n::<6>(a, kp, wp, bias, out, ldo),
        5 => rows_n::<5>(a, kp, wp, bias, out, ldo),
        4 => rows_n::<4>(a, kp, wp, bias, out, ldo),
        3 => rows_n::<3>(a, kp, wp, bias, out, ldo),
        2 => rows_n::<2>(a, kp, wp, bias, out, ldo),
        _ => rows_n::<1>(a, kp, wp, bias, out, ldo),
    }
}

#[target_feature(enable = "avx512f,avx512bf16")]
#[inline]
unsafe fn rows_n<const R: usize>(
    a: &[u16],
    kp: usize,
    wp: &[u16],
    bias: &[f32],
    out: &mut [f32],
    ldo: usize,
) {
    let cols = bias.len();
    assert!(a.len() >= R * kp && wp.len() >= NR * kp && kp.is_multiple_of(2));
    assert!(cols <= NR && out.len() >= (R - 1) * ldo + cols);
    let mut c = [[_mm512_setzero_ps(); 4]; R];
    let ap = a.as_ptr();
    let mut w = wp.as_ptr();
    for g in 0..kp / 2 {
        // SAFETY (transmutes): __m512i and __m512bh are both 64 bytes of lanes.
        let w0: __m512bh = transmute(_mm512_loadu_si512(w as *const _));
        let w1: __m512bh = transmute(_mm512_loadu_si512(w.add(32) as *const _));
        let w2: __m512bh = transmute(_mm512_loadu_si512(w.add(64) as *const _));
        let w3: __m512bh = transmute(_mm512_loadu_si512(w.add(96) as *const _));
        for (r, cr) in c.iter_mut().enumerate() {
            let pair = std::ptr::read_unaligned(ap.add(r * kp + g * 2) as *const i32);
            let x: __m512bh = transmute(_mm512_set1_epi32(pair));
            cr[0] = _mm512_dpbf16_ps(cr[0], x, w0);
            cr[1] = _mm512_dpbf16_ps(cr[1], x, w1);
            cr[2] = _mm512_dpbf16_ps(cr[2], x, w2);
            cr[3] = _mm512_dpbf16_ps(cr[3], x, w3);
        }
        w = w.add(NR * 2);
    }
    for j in 0..4 {
        let c0 = j * 16;
        if c0 >= cols {
            break;
        }
        let left = cols - c0;
        let mask: __mmask16 = if left >= 16 {
            0xFFFF
        } else {
            (1u16 << left) - 1
        };
        let b = _mm512_maskz_loadu_ps(mask, bias.as_ptr().add(c0));
        for (r, cr) in c.iter().enumerate() {
            let y = _mm512_add_ps(cr[j], b);
            _mm512_mask_storeu_ps(out.as_mut_ptr().add(r * ldo + c0), mask, y);
        }
    }
}
