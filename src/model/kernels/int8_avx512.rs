//! Model stage, CPU kernels: the int8 product's panel on AVX-512 VNNI — 512-bit `vpdpbusd` of
//! shifted activation bytes and packed weights, 4 × rows i32 accumulators in registers, the
//! epilogue (shift, scales, bias, GELU) applied on their way out.

use std::arch::x86_64::*;

use super::int8::{Epilogue, Post, NR};

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
        let mut y = [_mm512_setzero_ps(); R];
        for (r, (cr, y)) in c.iter().zip(&mut y).enumerate() {
            let f = _mm512_cvtepi32_ps(_mm512_sub_epi32(cr[j], shift));
            // The same operations, in the same order, as the scalar epilogue.
            let s = _mm512_mul_ps(_mm512_set1_ps(ep.row_scale[r]), scale);
            *y = _mm512_add_ps(_mm512_mul_ps(f, s), bias);
        }
        if ep.post == Post::GeluErf {
            // The scalar `gelu_erf`'s operations on 16 lanes (the same bits), all rows at once.
            y = super::math::x86::gelu_erf16_n(y);
        }
        for (r, y) in y.iter().enumerate() {
            _mm512_mask_storeu_ps(out.as_mut_ptr().add(r * ldo + c0), mask, *y);
        }
    }
}
