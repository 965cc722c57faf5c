//! Model stage, CPU kernels: the int8 product's panel on AVX-VNNI (AVX2-class CPUs with VNNI and
//! no AVX-512: Alder Lake and later, Zen 5) — 256-bit `vpdpbusd` of the shifted activation bytes
//! and the packed weights, 16 columns × up to MR rows of i32 accumulators in registers, then
//! the 256-bit epilogue of `int8_avx2` (shift, scales, bias, GELU).

use std::arch::x86_64::*;

use super::int8::{Epilogue, NR};
use super::int8_avx2::epilogue;

/// One panel of NR packed columns for up to MR rows of `kp` shifted bytes each (`a`); the
/// results go to `out` (row stride `ldo`, `ep.cols` columns).
#[target_feature(enable = "avx2,avxvnni")]
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
        6 => block::<6>(a, kp, wp, ep, out, ldo),
        5 => block::<5>(a, kp, wp, ep, out, ldo),
        4 => block::<4>(a, kp, wp, ep, out, ldo),
        3 => block::<3>(a, kp, wp, ep, out, ldo),
        2 => block::<2>(a, kp, wp, ep, out, ldo),
        _ => block::<1>(a, kp, wp, ep, out, ldo),
    }
}

/// R rows: 2R accumulators and 2 weight registers per 16 columns.
#[target_feature(enable = "avx2,avxvnni")]
#[inline]
unsafe fn block<const R: usize>(
    a: &[u8],
    kp: usize,
    wp: &[i8],
    ep: &Epilogue,
    out: &mut [f32],
    ldo: usize,
) {
    assert!(a.len() >= R * kp && wp.len() >= NR * kp);
    let ap = a.as_ptr();
    let mut cb = 0;
    while cb < ep.cols {
        let mut acc = [[_mm256_setzero_si256(); 2]; R];
        let mut w = wp.as_ptr().add(cb * 4);
        for g in 0..kp / 4 {
            let w0 = _mm256_loadu_si256(w as *const __m256i);
            let w1 = _mm256_loadu_si256(w.add(32) as *const __m256i);
            for (r, ar) in acc.iter_mut().enumerate() {
                let x = _mm256_set1_epi32(std::ptr::read_unaligned(
                    ap.add(r * kp + g * 4) as *const i32
                ));
                ar[0] = _mm256_dpbusd_avx_epi32(ar[0], x, w0);
                ar[1] = _mm256_dpbusd_avx_epi32(ar[1], x, w1);
            }
            w = w.add(NR * 4);
        }
        epilogue::<R, 2>(&acc, true, ep, 0, cb, out, ldo);
        cb += 16;
    }
}
