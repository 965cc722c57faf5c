//! Process: alternate signal stacks large enough for a signal frame that carries AMX tile state.
//!
//! Once Linux has granted a process AMX's tile data (`model::kernels::amx::request`), a signal
//! frame holds the 8 KiB of tiles as well: ~11 KiB on Sapphire Rapids. Rust gives every thread
//! it starts an alternate stack sized by `AT_MINSIGSTKSZ`, which the kernel computes without
//! the tiles, so after the grant that `sigaltstack` call fails (and Rust ignores it): the
//! thread has no alternate stack, and a stack overflow there ends the process by a bare
//! SIGSEGV instead of Rust's "thread has overflowed its stack" message. So every thread the
//! binary starts calls [`for_this_thread`] first: a no-op unless the grant happened, else a
//! [`SIZE`] alternate stack for the thread (kept for the thread's life; ours live as long as
//! the process, or close to it).

use std::sync::atomic::{AtomicBool, Ordering};

/// Alternate stack size: a frame with AVX-512 and tile state, with room to spare for the
/// handler itself.
pub const SIZE: usize = 64 << 10;

/// Set once the process holds the AMX tile permission.
static NEEDED: AtomicBool = AtomicBool::new(false);

/// Records that signal frames now carry tile state: threads started from now on need a
/// [`SIZE`] alternate stack ([`for_this_thread`]).
pub fn needed_from_now() {
    NEEDED.store(true, Ordering::Release);
}

/// Gives the calling thread a [`SIZE`] alternate signal stack if the process holds the AMX
/// permission and the thread's own is missing or smaller. Never fails loudly: a thread left
/// without one still computes; only a stack overflow there loses its message.
pub fn for_this_thread() {
    if NEEDED.load(Ordering::Acquire) {
        let _ = ensure(SIZE);
    }
}

/// Makes sure the calling thread's alternate signal stack is enabled and at least `size`
/// bytes, installing a new one (leaked: it must outlive every signal the thread may take on
/// it) when it is not. Returns the size now in place.
#[cfg(unix)]
pub fn ensure(size: usize) -> std::io::Result<usize> {
    // SAFETY: plain system calls on this thread's own signal state; the stack handed to the
    // kernel is leaked, so it stays valid for as long as the thread may use it.
    unsafe {
        let mut old: libc::stack_t = std::mem::zeroed();
        if libc::sigaltstack(std::ptr::null(), &mut old) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if old.ss_flags & libc::SS_DISABLE == 0 && old.ss_size >= size {
            return Ok(old.ss_size);
        }
        if old.ss_flags & libc::SS_ONSTACK != 0 {
            // Running on the alternate stack (inside a handler): it cannot be swapped now.
            return Err(std::io::Error::from_raw_os_error(libc::EPERM));
        }
        let stack: &'static mut [u8] = Box::leak(vec![0u8; size].into_boxed_slice());
        let new = libc::stack_t {
            ss_sp: stack.as_mut_ptr().cast(),
            ss_flags: 0,
            ss_size: size,
        };
        if libc::sigaltstack(&new, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(size)
}

#[cfg(not(unix))]
pub fn ensure(_size: usize) -> std::io::Result<usize> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn current() -> (usize, bool) {
        // SAFETY: reads this thread's alternate stack into a local.
        unsafe {
            let mut s: libc::stack_t = std::mem::zeroed();
            assert_eq!(libc::sigaltstack(std::ptr::null(), &mut s), 0);
            (s.ss_size, s.ss_flags & libc::SS_DISABLE == 0)
        }
    }

    #[test]
    fn a_thread_gets_a_stack_of_the_size_asked_and_keeps_a_larger_one() {
        std::thread::spawn(|| {
            assert_eq!(ensure(SIZE).unwrap(), SIZE);
            assert_eq!(current(), (SIZE, true));
            // Already large enough: left as it is.
            assert_eq!(ensure(SIZE / 2).unwrap(), SIZE);
            assert_eq!(current(), (SIZE, true));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_disabled_stack_is_replaced() {
        std::thread::spawn(|| {
            // SAFETY: turns this thread's alternate stack off (the test's own thread).
            unsafe {
                let off = libc::stack_t {
                    ss_sp: std::ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
                assert_eq!(libc::sigaltstack(&off, std::ptr::null_mut()), 0);
            }
            assert!(!current().1);
            assert_eq!(ensure(SIZE).unwrap(), SIZE);
            assert_eq!(current(), (SIZE, true));
        })
        .join()
        .unwrap();
    }
}
