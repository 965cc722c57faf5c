//! Model stage, CPU kernels: Intel AMX — whether the CPU has the tiles and Linux lets this
//! process use them, the one tile configuration both AMX products use, and the tile
//! instructions (inline `asm!`) behind the [`Tiles`] trait. The products themselves
//! (`amx_gemm`) are written against the trait, so the tests run them unchanged on the emulated
//! tiles of `amx_emu` on any CPU.
//!
//! Linux keeps AMX's 8 KiB of tile data off until a process asks for it
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`), and grants it only if every
//! thread's alternate signal stack can hold a signal frame with the tiles in it — Rust gives
//! each thread an 8 KiB one, too small. So the binary asks once, first thing in `main`, while
//! its main thread is alone, after giving that thread a larger alternate stack ([`request`]);
//! threads started later give themselves one ([`crate::altstack`]).
//! Anything that goes wrong (no AMX, an older kernel, a refusal) leaves the VNNI and
//! AVX512-BF16 kernels in charge, and `--stats` says why.

use std::sync::OnceLock;

/// Rows of a tile, and bytes in each row: the configuration every AMX product here uses.
pub const ROWS: usize = 16;
pub const COLSB: usize = 64;

/// The two AMX matrix instructions ner-tag uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `tdpbusd`: u8 × i8 quads summed into i32 (AMX-INT8).
    Int8,
    /// `tdpbf16ps`: bf16 pairs summed into f32 (AMX-BF16).
    Bf16,
}

/// Whether the CPU has AMX-TILE and `op`'s extension, with palette 1 at least as large as the
/// configuration here (8 tiles of 16 rows × 64 bytes).
pub fn cpu_has(op: Op) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__cpuid, __cpuid_count};
        // Leaves past the maximum are not read.
        if __cpuid(0).eax < 0x1d {
            return false;
        }
        let edx = __cpuid_count(7, 0).edx;
        let ext = match op {
            Op::Int8 => 25,
            Op::Bf16 => 22,
        };
        if edx >> 24 & 1 == 0 || edx >> ext & 1 == 0 || __cpuid_count(0x1d, 0).eax < 1 {
            return false;
        }
        let palette = __cpuid_count(0x1d, 1);
        let (bytes_per_row, names) = (palette.ebx & 0xffff, palette.ebx >> 16);
        bytes_per_row as usize >= COLSB && names >= 8 && palette.ecx & 0xffff >= ROWS as u32
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = op;
        false
    }
}

/// The outcome of asking the OS for the tile data, once per process.
static PERMISSION: OnceLock<Result<(), String>> = OnceLock::new();

/// Asks Linux for AMX tile data for this process, once, if the CPU has AMX. Call it before the
/// process starts other threads (the binary does, first thing in `main`); later calls return
/// the first answer. Never fails loudly: a refusal only keeps AMX off.
pub fn request() -> bool {
    PERMISSION.get_or_init(ask).is_ok()
}

/// Why AMX is off although the CPU has it (`None` when it is on, or the CPU lacks it).
pub fn refusal() -> Option<&'static str> {
    match PERMISSION.get_or_init(ask) {
        Err(why) if cpu_has(Op::Int8) || cpu_has(Op::Bf16) => Some(why),
        _ => None,
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn ask() -> Result<(), String> {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    if !cpu_has(Op::Int8) && !cpu_has(Op::Bf16) {
        return Err("the CPU has no AMX".into());
    }
    // Linux refuses the grant while a thread's alternate stack is too small for a frame with
    // the tiles in it: this thread's first (the only one yet), the later ones as they start.
    crate::altstack::ensure(crate::altstack::SIZE).map_err(|e| format!("sigaltstack: {e}"))?;
    // SAFETY: a plain system call on this process's own state.
    let r = unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        )
    };
    if r != 0 {
        return Err(format!(
            "Linux refused the tile data ({})",
            std::io::Error::last_os_error()
        ));
    }
    crate::altstack::needed_from_now();
    Ok(())
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn ask() -> Result<(), String> {
    Err("AMX is used on Linux only".into())
}

/// `ldtilecfg`'s 64 bytes: palette 1, every tile [`ROWS`] × [`COLSB`].
#[repr(C, align(64))]
pub struct Config(pub(super) [u8; 64]);

impl Config {
    pub fn full() -> Self {
        let mut c = [0u8; 64];
        c[0] = 1;
        for t in 0..8 {
            c[16 + 2 * t..18 + 2 * t].copy_from_slice(&(COLSB as u16).to_le_bytes());
            c[48 + t] = ROWS as u8;
        }
        Self(c)
    }

    /// Tile `t`'s rows and bytes per row.
    #[cfg(test)]
    pub fn shape(&self, t: usize) -> (usize, usize) {
        let colsb = u16::from_le_bytes([self.0[16 + 2 * t], self.0[17 + 2 * t]]);
        (usize::from(self.0[48 + t]), usize::from(colsb))
    }
}

/// The tile instructions, one method each; `T`, `C`, `A`, `B` name tile registers `tmm0..7`.
///
/// # Safety
/// Every method but `configure` needs a configuration loaded on this thread; `load` and `store`
/// touch `ROWS` rows of `COLSB` bytes at `p + row · stride`, which must be valid.
#[allow(clippy::missing_safety_doc)] // one contract for all, above
pub trait Tiles {
    unsafe fn configure(&mut self, cfg: &Config);
    unsafe fn zero<const T: usize>(&mut self);
    unsafe fn load<const T: usize>(&mut self, p: *const u8, stride: usize);
    unsafe fn store<const T: usize>(&mut self, p: *mut u8, stride: usize);
    /// `C += A · B` by `op`.
    unsafe fn dot<const C: usize, const A: usize, const B: usize>(&mut self, op: Op);
    unsafe fn release(&mut self);
}

/// The CPU's own tiles (only where [`cpu_has`] and [`request`] said yes).
#[cfg(target_arch = "x86_64")]
pub struct Hardware;

#[cfg(target_arch = "x86_64")]
impl Tiles for Hardware {
    #[inline(always)]
    unsafe fn configure(&mut self, cfg: &Config) {
        std::arch::asm!("ldtilecfg [{c}]", c = in(reg) cfg.0.as_ptr(), options(nostack, readonly));
    }

    #[inline(always)]
    unsafe fn zero<const T: usize>(&mut self) {
        std::arch::asm!("tilezero tmm{t}", t = const T, options(nostack, nomem));
    }

    #[inline(always)]
    unsafe fn load<const T: usize>(&mut self, p: *const u8, stride: usize) {
        std::arch::asm!(
            "tileloadd tmm{t}, [{p} + {s}*1]",
            t = const T,
            p = in(reg) p,
            s = in(reg) stride,
            options(nostack, readonly)
        );
    }

    #[inline(always)]
    unsafe fn store<const T: usize>(&mut self, p: *mut u8, stride: usize) {
        std::arch::asm!(
            "tilestored [{p} + {s}*1], tmm{t}",
            t = const T,
            p = in(reg) p,
            s = in(reg) stride,
            options(nostack)
        );
    }

    #[inline(always)]
    unsafe fn dot<const C: usize, const A: usize, const B: usize>(&mut self, op: Op) {
        match op {
            Op::Int8 => std::arch::asm!(
                "tdpbusd tmm{c}, tmm{a}, tmm{b}",
                c = const C, a = const A, b = const B,
                options(nostack, nomem)
            ),
            Op::Bf16 => std::arch::asm!(
                "tdpbf16ps tmm{c}, tmm{a}, tmm{b}",
                c = const C, a = const A, b = const B,
                options(nostack, nomem)
            ),
        }
    }

    #[inline(always)]
    unsafe fn release(&mut self) {
        std::arch::asm!("tilerelease", options(nostack, nomem));
    }
}
