//! The binary's allocator: mimalloc for everything a run allocates and frees over and over
//! (activations, windows, records), the system allocator for blocks of [`HUGE`] bytes and more
//! (an enormous line's text, a large checkpoint read whole).
//!
//! Why split: forward passes allocate and free large activation buffers per layer; mimalloc keeps
//! them mapped instead of returning them to the kernel each time (glibc's malloc spent up to a
//! third of the run in page faults on long windows). But a 100 MB line read by doubling its
//! buffer went through mimalloc blocks of 1, 2 … 128 MB, each freed block kept mapped until
//! mimalloc's purge came round: peak RSS reached 2.5× the line while it was read. glibc serves
//! such blocks with `mmap`, grows them in place with `mremap` and unmaps them when freed, so the
//! line costs its own size.

use std::alloc::{GlobalAlloc, Layout, System};

use mimalloc::MiMalloc;

/// Blocks this large (bytes) go to the system allocator.
pub const HUGE: usize = 32 << 20;

pub struct Split;

fn huge(size: usize) -> bool {
    size >= HUGE
}

// SAFETY: every block is freed (and resized) by the allocator that made it, told apart by its
// size, which `GlobalAlloc` callers must pass unchanged (`Layout` on dealloc, the old layout on
// realloc); a block that changes sides on realloc is copied into a new block of the other side.
unsafe impl GlobalAlloc for Split {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match huge(layout.size()) {
            true => unsafe { System.alloc(layout) },
            false => unsafe { MiMalloc.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match huge(layout.size()) {
            true => unsafe { System.alloc_zeroed(layout) },
            false => unsafe { MiMalloc.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match huge(layout.size()) {
            true => unsafe { System.dealloc(ptr, layout) },
            false => unsafe { MiMalloc.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match (huge(layout.size()), huge(new_size)) {
            (true, true) => unsafe { System.realloc(ptr, layout, new_size) },
            (false, false) => unsafe { MiMalloc.realloc(ptr, layout, new_size) },
            _ => {
                // SAFETY: the caller guarantees `new_size`, rounded up to the alignment, fits.
                let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
                let out = unsafe { self.alloc(new) };
                if !out.is_null() {
                    let n = layout.size().min(new_size);
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, out, n);
                        self.dealloc(ptr, layout);
                    }
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_move_between_the_two_allocators_intact() {
        let a = Split;
        let align = 64;
        unsafe {
            let small = Layout::from_size_align(1000, align).unwrap();
            let p = a.alloc(small);
            for i in 0..1000 {
                *p.add(i) = (i % 251) as u8;
            }
            // small → huge → bigger huge → small: the bytes kept each time are the same.
            let p = a.realloc(p, small, HUGE + 5);
            assert_eq!(p as usize % align, 0);
            let big = Layout::from_size_align(HUGE + 5, align).unwrap();
            *p.add(HUGE + 4) = 7;
            let p = a.realloc(p, big, 2 * HUGE);
            let bigger = Layout::from_size_align(2 * HUGE, align).unwrap();
            assert_eq!(*p.add(HUGE + 4), 7);
            let p = a.realloc(p, bigger, 500);
            for i in 0..500 {
                assert_eq!(*p.add(i), (i % 251) as u8);
            }
            a.dealloc(p, Layout::from_size_align(500, align).unwrap());
            let z = a.alloc_zeroed(big);
            assert!((0..HUGE + 5).step_by(4093).all(|i| *z.add(i) == 0));
            a.dealloc(z, big);
        }
    }
}
