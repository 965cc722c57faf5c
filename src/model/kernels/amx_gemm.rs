//! Model stage, CPU kernels: the int8 and bf16 matrix products' inner loop on AMX tiles —
//! blocks of 32 rows × 32 columns held in four accumulator tiles (`tmm0–3`), fed by two
//! activation tiles (`tmm4–5`) and two weight tiles (`tmm6–7`), 64 bytes of depth per step.
//!
//! The weights are read straight from the panels the VNNI and AVX512-BF16 kernels use: a
//! panel of 64 columns stores, for each group of 4 `k` (int8) or pair of `k` (bf16), one
//! 256-byte row of 64 columns × 4 bytes. Sixteen such rows, 256 bytes apart, starting at
//! column `16 j`, are exactly the "VNNI layout" a weight tile wants: row `g` holds, for each of
//! 16 columns, the 4 bytes of group `g`. So AMX needs no packing of its own — only the depth
//! padded to 64 bytes with zero weights (`QMatrix` / `BMatrix` do it when AMX was chosen) and
//! the activations padded to a whole number of 32-row blocks (their contents do not matter:
//! each output row depends on its own activation row only, and padded rows are not written).

use super::amx::{Op, Tiles, COLSB, ROWS};

/// Rows and columns of one block (2 × 2 tiles).
pub const BLOCK: usize = 32;
/// Depth, in bytes, that the packed rows of a product must be a multiple of.
pub const DEPTH_BYTES: usize = COLSB;
/// Bytes of one packed panel row: 64 columns × 4 bytes.
const PANEL_ROW: usize = 256;
/// Bytes of one accumulator row in [`Acc`].
const ACC_ROW: usize = BLOCK * 4;

/// One block's accumulators, 32 rows of 32 lanes (`i32` for int8, `f32` for bf16).
#[repr(C, align(64))]
pub struct Acc<E>(pub [E; BLOCK * BLOCK]);

/// Runs `op` over one panel for `m` rows: for each block, `each(r0, rows, c0, cols, acc)` gets
/// the accumulators of rows `r0..r0 + rows` and panel columns `c0..c0 + cols`
/// (`acc.0[r · 32 + c]` for `r < rows`, `c < cols`).
///
/// # Safety
/// A tile configuration ([`super::amx::Config::full`]) is loaded on this thread; `a` holds
/// `m.div_ceil(32) · 32` rows of `lda` bytes, `lda` a multiple of 64; `wp` holds `lda / 4`
/// panel rows of 256 bytes; `E` is 4 bytes.
#[allow(clippy::too_many_arguments)]
pub unsafe fn panel<T: Tiles, E: Copy + Default>(
    t: &mut T,
    op: Op,
    a: &[u8],
    lda: usize,
    m: usize,
    wp: &[u8],
    cols: usize,
    mut each: impl FnMut(usize, usize, usize, usize, &Acc<E>),
) {
    assert!(lda.is_multiple_of(DEPTH_BYTES) && std::mem::size_of::<E>() == 4);
    assert!(a.len() >= m.div_ceil(BLOCK) * BLOCK * lda && wp.len() >= lda / 4 * PANEL_ROW);
    assert!(cols <= 64);
    let steps = lda / DEPTH_BYTES;
    let mut acc = Acc([E::default(); BLOCK * BLOCK]);
    for c0 in (0..cols).step_by(BLOCK) {
        let b = wp.as_ptr().add(c0 * 4);
        for r0 in (0..m).step_by(BLOCK) {
            block(t, op, a.as_ptr().add(r0 * lda), lda, b, steps, &mut acc);
            each(r0, BLOCK.min(m - r0), c0, BLOCK.min(cols - c0), &acc);
        }
    }
}

/// `acc = a (32 rows) · b (32 columns)` over `steps` × 64 bytes of depth.
#[inline(always)]
unsafe fn block<T: Tiles, E>(
    t: &mut T,
    op: Op,
    a: *const u8,
    lda: usize,
    b: *const u8,
    steps: usize,
    acc: &mut Acc<E>,
) {
    t.zero::<0>();
    t.zero::<1>();
    t.zero::<2>();
    t.zero::<3>();
    for s in 0..steps {
        let a = a.add(s * COLSB);
        let b = b.add(s * ROWS * PANEL_ROW);
        t.load::<4>(a, lda);
        t.load::<5>(a.add(ROWS * lda), lda);
        t.load::<6>(b, PANEL_ROW);
        t.load::<7>(b.add(COLSB), PANEL_ROW);
        t.dot::<0, 4, 6>(op);
        t.dot::<1, 4, 7>(op);
        t.dot::<2, 5, 6>(op);
        t.dot::<3, 5, 7>(op);
    }
    let c = acc.0.as_mut_ptr().cast::<u8>();
    t.store::<0>(c, ACC_ROW);
    t.store::<1>(c.add(COLSB), ACC_ROW);
    t.store::<2>(c.add(ROWS * ACC_ROW), ACC_ROW);
    t.store::<3>(c.add(ROWS * ACC_ROW + COLSB), ACC_ROW);
}
