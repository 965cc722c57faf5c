//! Model stage, CPU kernels: the int8 product's panel on aarch64 NEON — `sdot` where the CPU has
//! the dotprod extension (Cortex-A55/A76 and later, Neoverse, Apple M), `smull` + `sadalp` on
//! plain ARMv8.0 NEON — then a 128-bit epilogue (scales, bias, GELU) in the scalar path's order.
//!
//! Both instructions multiply signed by signed bytes, so they take the activations as
//! `q = byte − 128` (`QRows::signed`, as the AVX2 kernel does) and the sums are `Σ q·w` itself,
//! without the shift the VNNI kernels take out afterwards: the same integers, so the scaled
//! results equal the scalar path's bit for bit. `smull` products are at most 127 · 127 = 16,129
//! and `sadalp` widens them to i32 before adding, so nothing saturates.

use std::arch::aarch64::*;

use super::int8::{Epilogue, Post, NR};

/// Rows per register block of the plain NEON path: 2 rows × 16 columns = 16 half-accumulators.
const RB: usize = 2;

/// `acc[i] + Σ_j a[4i + j] · b[4i + j]` for the four i32 lanes: one `sdot`. (`vdotq_s32` is
/// still unstable in `std::arch`, the instruction itself is not.)
#[target_feature(enable = "neon,dotprod")]
#[inline]
unsafe fn sdot(mut acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    std::arch::asm!(
        "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
        acc = inout(vreg) acc,
        a = in(vreg) a,
        b = in(vreg) b,
        options(pure, nomem, nostack, preserves_flags),
    );
    acc
}

/// The 4 activations `q` at `p`, repeated in every 32-bit lane (one `ld1r`).
#[target_feature(enable = "neon")]
#[inline]
unsafe fn broadcast_q(p: *const i8) -> int8x16_t {
    vreinterpretq_s8_s32(vdupq_n_s32(std::ptr::read_unaligned(p as *const i32)))
}

/// One panel of NR packed columns for up to MR rows of `kp` activations `q` each (`a`), with
/// `sdot`; the results go to `out` (row stride `ldo`, `ep.cols` columns).
#[target_feature(enable = "neon,dotprod")]
pub unsafe fn panel_dot(
    a: &[i8],
    rows: usize,
    kp: usize,
    wp: &[i8],
    ep: &Epilogue,
    out: &mut [f32],
    ldo: usize,
) {
    match rows {
        6 => dot_block::<6>(a, kp, wp, ep, out, ldo),
        5 => dot_block::<5>(a, kp, wp, ep, out, ldo),
        4 => dot_block::<4>(a, kp, wp, ep, out, ldo),
        3 => dot_block::<3>(a, kp, wp, ep, out, ldo),
        2 => dot_block::<2>(a, kp, wp, ep, out, ldo),
        _ => dot_block::<1>(a, kp, wp, ep, out, ldo),
    }
}

/// R rows, 16 columns at a time: 4R accumulators (4 columns each) and 4 weight registers.
#[target_feature(enable = "neon,dotprod")]
#[inline]
unsafe fn dot_block<const R: usize>(
    a: &[i8],
    kp: usize,
    wp: &[i8],
    ep: &Epilogue,
    out: &mut [f32],
    ldo: usize,
) {
    assert!(a.len() >= R * kp && wp.len() >= NR * kp && ep.cols <= NR);
    let ap = a.as_ptr();
    let mut cb = 0;
    while cb < ep.cols {
        let mut acc = [[vdupq_n_s32(0); 4]; R];
        let mut w = wp.as_ptr().add(cb * 4);
        for g in 0..kp / 4 {
            let wv = [
                vld1q_s8(w),
                vld1q_s8(w.add(16)),
                vld1q_s8(w.add(32)),
                vld1q_s8(w.add(48)),
            ];
            for (r, ar) in acc.iter_mut().enumerate() {
                let x = broadcast_q(ap.add(r * kp + g * 4));
                for (a, w) in ar.iter_mut().zip(&wv) {
                    *a = sdot(*a, x, *w);
                }
            }
            w = w.add(NR * 4);
        }
        epilogue::<R>(&acc, ep, 0, cb, out, ldo);
        cb += 16;
    }
}

/// [`panel_dot`] on plain NEON: `smull` + `sadalp`, RB rows at a time.
#[target_feature(enable = "neon")]
pub unsafe fn panel(
    a: &[i8],
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
            2 => block::<2>(a, r0, kp, wp, ep, out, ldo),
            _ => block::<1>(a, r0, kp, wp, ep, out, ldo),
        }
        r0 += n;
    }
}

/// Rows `r0..r0 + R`, 16 columns at a time. Per weight register (4 columns × 4 bytes), `lo`
/// collects columns 0–1 and `hi` columns 2–3, two i32 lanes per column (bytes 0+1 and 2+3);
/// `vpaddq_s32(lo, hi)` adds each column's two lanes into the four columns' sums.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn block<const R: usize>(
    a: &[i8],
    r0: usize,
    kp: usize,
    wp: &[i8],
    ep: &Epilogue,
    out: &mut [f32],
    ldo: usize,
) {
    assert!(a.len() >= (r0 + R) * kp && wp.len() >= NR * kp && ep.cols <= NR);
    let ap = a.as_ptr();
    let mut cb = 0;
    while cb < ep.cols {
        let mut lo = [[vdupq_n_s32(0); 4]; R];
        let mut hi = [[vdupq_n_s32(0); 4]; R];
        let mut w = wp.as_ptr().add(cb * 4);
        for g in 0..kp / 4 {
            let wv = [
                vld1q_s8(w),
                vld1q_s8(w.add(16)),
                vld1q_s8(w.add(32)),
                vld1q_s8(w.add(48)),
            ];
            for (r, (lr, hr)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
                // q0 q1 q2 q3 q0 q1 q2 q3: one column's 4 bytes twice, against two columns.
                let x = vget_low_s8(broadcast_q(ap.add((r0 + r) * kp + g * 4)));
                for ((l, h), w) in lr.iter_mut().zip(hr.iter_mut()).zip(&wv) {
                    *l = vpadalq_s16(*l, vmull_s8(x, vget_low_s8(*w)));
                    *h = vpadalq_s16(*h, vmull_s8(x, vget_high_s8(*w)));
                }
            }
            w = w.add(NR * 4);
        }
        let mut acc = [[vdupq_n_s32(0); 4]; R];
        for ((ar, lr), hr) in acc.iter_mut().zip(&lo).zip(&hi) {
            for ((a, l), h) in ar.iter_mut().zip(lr).zip(hr) {
                *a = vpaddq_s32(*l, *h);
            }
        }
        epilogue::<R>(&acc, ep, r0, cb, out, ldo);
        cb += 16;
    }
}

/// Writes rows `r0..r0 + R` × panel columns `cb..cb + 16` (those below `ep.cols`) of the i32 sums
/// `Σ q·w`: the scalar epilogue's operations in its order (a multiply, then an add: no fused
/// multiply-add), then GELU.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn epilogue<const R: usize>(
    acc: &[[int32x4_t; 4]; R],
    ep: &Epilogue,
    r0: usize,
    cb: usize,
    out: &mut [f32],
    ldo: usize,
) {
    let width = ep.cols.saturating_sub(cb).min(16);
    if width == 0 {
        return;
    }
    assert!(ep.row_scale.len() >= r0 + R && out.len() >= (r0 + R - 1) * ldo + cb + width);
    assert!(ep.scale.len() >= ep.cols && ep.bias.len() >= ep.cols);
    for j in 0..4 {
        let c = cb + 4 * j;
        if c >= ep.cols {
            break;
        }
        let left = (ep.cols - c).min(4);
        let (mut sc, mut bi) = ([0f32; 4], [0f32; 4]);
        sc[..left].copy_from_slice(&ep.scale[c..c + left]);
        bi[..left].copy_from_slice(&ep.bias[c..c + left]);
        let (scale, bias) = (vld1q_f32(sc.as_ptr()), vld1q_f32(bi.as_ptr()));
        for (r, ar) in acc.iter().enumerate() {
            let s = vmulq_f32(vdupq_n_f32(ep.row_scale[r0 + r]), scale);
            let y = vaddq_f32(vmulq_f32(vcvtq_f32_s32(ar[j]), s), bias);
            let mut t = [0f32; 4];
            vst1q_f32(t.as_mut_ptr(), y);
            let row = (r0 + r) * ldo + c;
            out[row..row + left].copy_from_slice(&t[..left]);
        }
    }
    if ep.post == Post::GeluErf {
        for r in r0..r0 + R {
            super::gelu_erf(&mut out[r * ldo + cb..r * ldo + cb + width]);
        }
    }
}
