//! Model stage, CPU kernels (tests): AMX tiles emulated in plain Rust, after the pseudo-code of
//! Intel's SDM for `ldtilecfg`, `tilezero`, `tileloadd`, `tilestored`, `tdpbusd` and
//! `tdpbf16ps`, so the AMX products run — and are checked against the scalar references — on
//! any CPU. What real tiles do differently, if anything, the start-up self-check
//! (`amx_check`) catches before AMX is used.

use super::amx::{Config, Op, Tiles};
use super::bf16::from_bf16;

/// Eight tiles of up to 16 rows × 64 bytes, and their configured shapes.
pub struct Emulated {
    data: [[[u8; 64]; 16]; 8],
    shape: [(usize, usize); 8],
    configured: bool,
}

impl Emulated {
    pub fn new() -> Self {
        Self {
            data: [[[0; 64]; 16]; 8],
            shape: [(0, 0); 8],
            configured: false,
        }
    }

    fn lane(&self, t: usize, r: usize, i: usize) -> [u8; 4] {
        self.data[t][r][4 * i..4 * i + 4].try_into().unwrap()
    }
}

/// bf16 → f32 with denormals read as zero (the instruction's DAZ).
fn daz(h: u16) -> f32 {
    let v = from_bf16(h);
    if v.is_subnormal() {
        0.0 * v.signum()
    } else {
        v
    }
}

/// `c + a · b` rounded once (the product of two bf16 is exact in f32), denormal results flushed
/// to zero (FTZ).
fn fma_ftz(c: f32, a: f32, b: f32) -> f32 {
    let r = a.mul_add(b, c);
    if r.is_subnormal() {
        0.0 * r.signum()
    } else {
        r
    }
}

impl Tiles for Emulated {
    unsafe fn configure(&mut self, cfg: &Config) {
        for t in 0..8 {
            self.shape[t] = cfg.shape(t);
        }
        self.data = [[[0; 64]; 16]; 8];
        self.configured = true;
    }

    unsafe fn zero<const T: usize>(&mut self) {
        assert!(self.configured);
        self.data[T] = [[0; 64]; 16];
    }

    unsafe fn load<const T: usize>(&mut self, p: *const u8, stride: usize) {
        assert!(self.configured);
        let (rows, colsb) = self.shape[T];
        self.data[T] = [[0; 64]; 16];
        for r in 0..rows {
            let src = std::slice::from_raw_parts(p.add(r * stride), colsb);
            self.data[T][r][..colsb].copy_from_slice(src);
        }
    }

    unsafe fn store<const T: usize>(&mut self, p: *mut u8, stride: usize) {
        assert!(self.configured);
        let (rows, colsb) = self.shape[T];
        for r in 0..rows {
            let dst = std::slice::from_raw_parts_mut(p.add(r * stride), colsb);
            dst.copy_from_slice(&self.data[T][r][..colsb]);
        }
    }

    unsafe fn dot<const C: usize, const A: usize, const B: usize>(&mut self, op: Op) {
        assert!(self.configured);
        let (m_rows, c_colsb) = self.shape[C];
        let (a_rows, a_colsb) = self.shape[A];
        let (b_rows, b_colsb) = self.shape[B];
        // The instruction's #UD conditions on shapes, as assertions.
        assert!(a_rows == m_rows && b_colsb == c_colsb && a_colsb / 4 == b_rows);
        for m in 0..m_rows {
            for n in 0..c_colsb / 4 {
                let mut c = self.lane(C, m, n);
                for k in 0..a_colsb / 4 {
                    let (a, b) = (self.lane(A, m, k), self.lane(B, k, n));
                    c = match op {
                        Op::Int8 => {
                            let mut s = i32::from_le_bytes(c);
                            for i in 0..4 {
                                s = s.wrapping_add(i32::from(a[i]) * i32::from(b[i] as i8));
                            }
                            s.to_le_bytes()
                        }
                        Op::Bf16 => {
                            let bf = |x: [u8; 4], i: usize| {
                                daz(u16::from_le_bytes([x[2 * i], x[2 * i + 1]]))
                            };
                            let mut s = f32::from_le_bytes(c);
                            s = fma_ftz(s, bf(a, 0), bf(b, 0));
                            s = fma_ftz(s, bf(a, 1), bf(b, 1));
                            s.to_le_bytes()
                        }
                    };
                }
                self.data[C][m][4 * n..4 * n + 4].copy_from_slice(&c);
            }
        }
    }

    unsafe fn release(&mut self) {
        self.configured = false;
        self.data = [[[0; 64]; 16]; 8];
    }
}
