//! The AMX products on emulated tiles (and on the CPU's, where a test process may use them)
//! against the scalar references: int8 bit for bit, bf16 bit for bit against a loop in
//! `tdpbf16ps`' order and within rounding of the `vdpbf16ps`-order scalar kernel; the emulator's
//! own instructions against hand-computed tiles; the tile configuration's bytes.

use super::amx::{Config, Op, Tiles, COLSB, ROWS};
use super::amx_emu::Emulated;
use super::bf16::{self, from_bf16, to_bf16, BMatrix};
use super::int8::{self, Post, QMatrix};
use super::{Bf16Kernel, Int8Kernel};

use super::amx_check::fill as random;

/// Rows around a block of 32, depth around a step of 64 bytes (and below 4), columns around a
/// tile (16), a block (32) and a panel (64).
const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (2, 3, 9),
    (31, 64, 16),
    (32, 65, 17),
    (33, 37, 33),
    (65, 130, 64),
    (7, 128, 65),
    (40, 200, 130),
    (3, 384, 9),
];

#[test]
fn configuration_is_palette_one_with_full_tiles() {
    let c = Config::full();
    assert_eq!(c.0[0], 1, "palette");
    assert!(c.0[1..16].iter().all(|&b| b == 0) && c.0[32..48].iter().all(|&b| b == 0));
    assert!(c.0[56..].iter().all(|&b| b == 0));
    for t in 0..8 {
        assert_eq!(c.shape(t), (ROWS, COLSB));
    }
}

/// `tdpbusd` and `tdpbf16ps` of the emulator on one tile each, against sums written out: the
/// unsigned × signed bytes at their extremes, the pairs in even-then-odd order.
#[test]
fn emulated_instructions_follow_the_pseudo_code() {
    let mut t = Emulated::new();
    let mut a = [0u8; ROWS * COLSB];
    let mut b = [0u8; ROWS * COLSB];
    for (i, v) in a.iter_mut().enumerate() {
        *v = if i % 7 == 0 {
            255
        } else {
            (i * 37 % 256) as u8
        };
    }
    for (i, v) in b.iter_mut().enumerate() {
        *v = if i % 5 == 0 {
            0x80
        } else {
            (i * 91 % 256) as u8
        };
    }
    let mut c = [0i32; ROWS * 16];
    unsafe {
        t.configure(&Config::full());
        t.zero::<0>();
        t.load::<4>(a.as_ptr(), COLSB);
        t.load::<6>(b.as_ptr(), COLSB);
        t.dot::<0, 4, 6>(Op::Int8);
        t.store::<0>(c.as_mut_ptr().cast(), COLSB);
    }
    for m in 0..ROWS {
        for n in 0..16 {
            let mut s = 0i32;
            for k in 0..16 {
                for i in 0..4 {
                    s += i32::from(a[m * 64 + 4 * k + i]) * i32::from(b[k * 64 + 4 * n + i] as i8);
                }
            }
            assert_eq!(c[m * 16 + n], s, "int8 ({m}, {n})");
        }
    }
    // bf16: one value large enough that the order of additions shows.
    let mut seed = 3;
    let xa: Vec<u16> = random(ROWS * 32, &mut seed, 2.0)
        .into_iter()
        .map(to_bf16)
        .collect();
    let mut xb: Vec<u16> = random(ROWS * 32, &mut seed, 2.0)
        .into_iter()
        .map(to_bf16)
        .collect();
    xb[1] = to_bf16(3.0e7);
    let mut c = [0f32; ROWS * 16];
    unsafe {
        t.zero::<1>();
        t.load::<5>(xa.as_ptr().cast(), COLSB);
        t.load::<7>(xb.as_ptr().cast(), COLSB);
        t.dot::<1, 5, 7>(Op::Bf16);
        t.store::<1>(c.as_mut_ptr().cast(), COLSB);
        t.release();
    }
    for m in 0..ROWS {
        for n in 0..16 {
            let mut s = 0f32;
            for k in 0..16 {
                for i in 0..2 {
                    s += from_bf16(xa[m * 32 + 2 * k + i]) * from_bf16(xb[k * 32 + 2 * n + i]);
                }
            }
            assert_eq!(c[m * 16 + n].to_bits(), s.to_bits(), "bf16 ({m}, {n})");
        }
    }
}

#[test]
fn int8_on_tiles_equals_the_scalar_loop_bit_for_bit() {
    let mut seed = 21;
    let align = Int8Kernel::Amx.depth_align();
    for &(m, k, n) in SHAPES {
        let w = random(n * k, &mut seed, 1.0);
        let x = random(m * k, &mut seed, 3.0);
        let bias = random(n, &mut seed, 2.0);
        let qm = QMatrix::quantize_aligned(&w, n, k, align);
        let narrow = QMatrix::quantize_aligned(&w, n, k, 4);
        assert_eq!(
            qm.dequantize(),
            narrow.dequantize(),
            "padding changed the weights"
        );
        for post in [Post::None, Post::GeluErf] {
            let mut want = vec![f32::NAN; m * n];
            int8::matmul_on(Int8Kernel::Scalar, &x, m, &narrow, &bias, &mut want, post);
            let mut got = vec![f32::NAN; m * n];
            int8::amx_matmul(&mut Emulated::new(), &x, m, &qm, &bias, &mut got, post);
            assert_eq!(bits(&got), bits(&want), "emulated {m}×{k}×{n} {post:?}");
            if Int8Kernel::Amx.runs_here() {
                let mut got = vec![f32::NAN; m * n];
                int8::matmul_on(Int8Kernel::Amx, &x, m, &qm, &bias, &mut got, post);
                assert_eq!(bits(&got), bits(&want), "AMX {m}×{k}×{n} {post:?}");
            }
        }
    }
    if !Int8Kernel::Amx.runs_here() {
        eprintln!("int8 on AMX tiles: emulated only (this process may not use the CPU's)");
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// `tdpbf16ps`' sum, written out: over the pairs of `k` in order, the even member's product
/// then the odd one's, each addition rounded (the products of bf16 are exact in f32).
fn tdp_reference(x: &[f32], m: usize, k: usize, bm: &BMatrix, bias: &[f32]) -> Vec<f32> {
    let n = bias.len();
    let w = bm.unpack();
    let mut out = vec![0f32; m * n];
    for r in 0..m {
        for c in 0..n {
            let mut s = 0f32;
            for j in 0..k {
                s += from_bf16(to_bf16(x[r * k + j])) * w[c * k + j];
            }
            out[r * n + c] = s + bias[c];
        }
    }
    out
}

#[test]
fn bf16_on_tiles_sums_in_tdpbf16ps_order_and_stays_close_to_the_scalar_loop() {
    let mut seed = 23;
    for &(m, k, n) in SHAPES {
        let w = random(n * k, &mut seed, 1.0);
        let x = random(m * k, &mut seed, 3.0);
        let bias = random(n, &mut seed, 2.0);
        let bm = BMatrix::pack_aligned(&w, n, k, Bf16Kernel::Amx.depth_align());
        let mut got = vec![f32::NAN; m * n];
        bf16::amx_matmul(&mut Emulated::new(), &x, m, &bm, &bias, &mut got);
        let want = tdp_reference(&x, m, k, &bm, &bias);
        assert_eq!(bits(&got), bits(&want), "emulated {m}×{k}×{n}");
        let mut vdp = vec![f32::NAN; m * n];
        bf16::matmul_on(Bf16Kernel::Scalar, &x, m, &bm, &bias, &mut vdp);
        for (i, (a, b)) in got.iter().zip(&vdp).enumerate() {
            let (r, c) = (i / n, i % n);
            let terms: f32 = (0..k).map(|j| (x[r * k + j] * w[c * k + j]).abs()).sum();
            assert!(
                (a - b).abs() <= k as f32 * f32::EPSILON * terms + 1e-6,
                "{m}×{k}×{n} ({r}, {c}): {a} vs {b}"
            );
        }
        if Bf16Kernel::Amx.runs_here() {
            let mut hw = vec![f32::NAN; m * n];
            bf16::matmul_on(Bf16Kernel::Amx, &x, m, &bm, &bias, &mut hw);
            let close = hw
                .iter()
                .zip(&got)
                .all(|(a, b)| (a - b).abs() <= 1e-4 * a.abs().max(1.0));
            assert!(close, "AMX {m}×{k}×{n} far from the emulated tiles");
        }
    }
}

/// Where the CPU lacks AMX, the self-checks say so and the kernels chosen are not AMX.
#[test]
fn without_amx_the_self_checks_refuse_and_say_why() {
    if !super::amx::cpu_has(Op::Int8) {
        let why = super::amx_check::int8(Int8Kernel::Scalar)
            .as_ref()
            .unwrap_err();
        assert!(why.contains("lacks"), "{why}");
        assert_ne!(super::int8_kernel(), Int8Kernel::Amx);
    }
    if !super::amx::cpu_has(Op::Bf16) {
        assert!(super::amx_check::bf16().is_err());
        assert_ne!(super::bf16_kernel(), Bf16Kernel::Amx);
    }
    if !super::amx::cpu_has(Op::Int8) && !super::amx::cpu_has(Op::Bf16) {
        assert_eq!(super::amx_check::why_off(true), None);
        assert!(!super::describe().contains("amx"));
    }
}
