//! The binary's memory allocator: power-of-two size classes carved from a
//! static arena, with a free list per class; anything larger than the
//! largest class, more aligned than 16 bytes, or beyond the arena goes to
//! the C library's `malloc`.
//!
//! Why: musl's malloc gives an emptied group of slots back to the kernel
//! at once and maps a new one at the next allocation of that size. A
//! launch allocates and frees a few thousand short-lived blocks (policy
//! tree, plan, seccomp tables), which made ~100 mmap/munmap calls and the
//! page faults after them: about half of the launch's own time. Here a
//! freed block stays in its class for the next allocation of that size,
//! and the arena's pages are touched only as they are first used, so the
//! resident memory stays close to the live peak.
//!
//! The process is single-threaded by design; the lock only keeps the
//! allocator sound should a thread ever appear, and is never contended.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

/// Smallest block; also the alignment of every block.
const MIN: usize = 16;
/// Classes 16 B, 32 B, ... 64 KiB.
const CLASSES: usize = 13;

/// Arena memory, page aligned (so every block is `MIN`-aligned).
#[repr(C, align(4096))]
struct Memory<const N: usize>(UnsafeCell<[u8; N]>);

struct State {
    /// Offset of the first never-used byte.
    next: usize,
    /// Head of each class's free list; a free block holds the next one's
    /// address in its first word (null ends the list).
    free: [*mut u8; CLASSES],
}

/// The allocator over an arena of `N` bytes (`main.rs` uses 1 MiB, in
/// .bss: it costs no file size and no memory until touched).
pub struct Arena<const N: usize> {
    memory: Memory<N>,
    lock: AtomicBool,
    state: UnsafeCell<State>,
}

// SAFETY: `state` is only accessed with `lock` held (see `with_state`),
// and the memory of a block is only handed to one owner at a time.
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// The class of blocks that can hold `layout`, if any: the bits `size - 1`
/// needs, less those of `MIN - 1` (16 B is class 0, 17 to 32 B class 1).
/// Inlined and without a loop: every allocation and free asks it, and as
/// a call it was the launch's most expensive function (callgrind).
#[inline(always)]
fn class(layout: &Layout) -> Option<usize> {
    if layout.align() > MIN {
        return None;
    }
    let bits = usize::BITS - (layout.size().max(MIN) - 1).leading_zeros();
    let c = (bits - MIN.trailing_zeros()) as usize;
    (c < CLASSES).then_some(c)
}

impl<const N: usize> Arena<N> {
    pub const fn new() -> Self {
        Arena {
            memory: Memory(UnsafeCell::new([0; N])),
            lock: AtomicBool::new(false),
            state: UnsafeCell::new(State {
                next: 0,
                free: [std::ptr::null_mut(); CLASSES],
            }),
        }
    }

    fn base(&self) -> *mut u8 {
        self.memory.0.get().cast()
    }

    fn owns(&self, p: *mut u8) -> bool {
        let (p, base) = (p as usize, self.base() as usize);
        p >= base && p < base + N
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        // SAFETY: the lock is held, so this is the only reference to the
        // state until it is released below.
        let r = f(unsafe { &mut *self.state.get() });
        self.lock.store(false, Ordering::Release);
        r
    }

    /// A block of class `c` from the arena, null when it is used up.
    fn take(&self, c: usize) -> *mut u8 {
        let size = MIN << c;
        self.with_state(|s| {
            let head = s.free[c];
            if !head.is_null() {
                // SAFETY: `head` is a free block of this class, at least
                // MIN bytes and MIN-aligned, whose first word `give`
                // wrote; nobody else holds it.
                s.free[c] = unsafe { head.cast::<*mut u8>().read() };
                return head;
            }
            if N - s.next < size {
                return std::ptr::null_mut();
            }
            // SAFETY: `next + size <= N`, so the block lies in the arena.
            let p = unsafe { self.base().add(s.next) };
            s.next += size;
            p
        })
    }

    /// Put block `p` of class `c` on its free list.
    fn give(&self, p: *mut u8, c: usize) {
        self.with_state(|s| {
            // SAFETY: `p` is an arena block of class `c` (at least MIN
            // bytes, MIN-aligned) that its owner just gave back.
            unsafe { p.cast::<*mut u8>().write(s.free[c]) };
            s.free[c] = p;
        });
    }
}

// SAFETY: every block handed out is either from `System` or an arena
// block of a class at least `layout.size()` bytes and MIN-aligned (only
// layouts with align <= MIN get one); a block goes back to where it came
// from (`owns`), and an arena block is on no free list while it is owned.
unsafe impl<const N: usize> GlobalAlloc for Arena<N> {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(c) = class(&layout) {
            let p = self.take(c);
            if !p.is_null() {
                return p;
            }
        }
        // SAFETY: the caller's layout has a non-zero size.
        unsafe { System.alloc(layout) }
    }

    #[inline(never)]
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        match class(&layout) {
            Some(c) if self.owns(p) => self.give(p, c),
            // SAFETY: not an arena block, so `System` allocated it with
            // this layout.
            _ => unsafe { System.dealloc(p, layout) },
        }
    }

    #[inline(never)]
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.owns(p) {
            // SAFETY: `System` allocated `p` with `layout`.
            return unsafe { System.realloc(p, layout, new_size) };
        }
        // SAFETY: the caller guarantees `new_size`, rounded up to the
        // alignment, does not overflow.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if class(&new).is_some() && class(&new) == class(&layout) {
            return p; // the block already fits
        }
        // SAFETY: `new` has a non-zero size (caller's guarantee).
        let q = unsafe { self.alloc(new) };
        if !q.is_null() {
            // SAFETY: both blocks hold at least the smaller size and are
            // distinct (`p` is still owned by the caller); `p` is then
            // freed with the layout it was allocated with.
            unsafe {
                std::ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                self.dealloc(p, layout);
            }
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn classes() {
        assert_eq!(class(&layout(1, 1)), Some(0));
        assert_eq!(class(&layout(16, 8)), Some(0));
        assert_eq!(class(&layout(17, 8)), Some(1));
        assert_eq!(class(&layout(65536, 16)), Some(12));
        assert_eq!(class(&layout(65537, 1)), None);
        assert_eq!(class(&layout(8, 32)), None);
        // The smallest power of two at least the size (and MIN), as a class.
        let reference = |size: usize| {
            let p = size.max(MIN).checked_next_power_of_two()?;
            let c = (p.trailing_zeros() - MIN.trailing_zeros()) as usize;
            (c < CLASSES).then_some(c)
        };
        let huge = [1 << 40, (1 << 62) + 1, isize::MAX as usize - 15];
        for size in (0..=70_000).chain(huge) {
            assert_eq!(class(&layout(size, 1)), reference(size), "size {size}");
        }
    }

    #[test]
    fn blocks_are_distinct_aligned_reused_and_fall_back() {
        let a: Box<Arena<4096>> = Box::default();
        // SAFETY: every pointer below comes from `a` (or its fallback) and
        // is freed once with the layout it was allocated with.
        unsafe {
            let l24 = layout(24, 8);
            let p = a.alloc(l24);
            let q = a.alloc(l24);
            assert!(a.owns(p) && a.owns(q) && p != q);
            assert_eq!(
                (p as usize % MIN, (q as usize).abs_diff(p as usize)),
                (0, 32)
            );
            p.write_bytes(0xaa, 24);
            q.write_bytes(0xbb, 24);
            assert_eq!((*p.add(23), *q), (0xaa, 0xbb));
            a.dealloc(p, l24);
            assert_eq!(a.alloc(layout(32, 16)), p, "a freed block serves its class");
            // Larger than the arena, or over-aligned: the C library.
            let big = layout(8192, 8);
            let b = a.alloc(big);
            assert!(!b.is_null() && !a.owns(b));
            a.dealloc(b, big);
            let al = layout(64, 64);
            let c = a.alloc(al);
            assert!(!c.is_null() && !a.owns(c) && c as usize % 64 == 0);
            a.dealloc(c, al);
            // Exhaust the arena: 4096 - 64 bytes left, then the fallback.
            let l1k = layout(1024, 8);
            let blocks: Vec<*mut u8> = (0..4).map(|_| a.alloc(l1k)).collect();
            assert_eq!(blocks.iter().filter(|b| a.owns(**b)).count(), 3);
            for b in blocks {
                a.dealloc(b, l1k);
            }
            a.dealloc(p, l24);
            a.dealloc(q, l24);
        }
    }

    #[test]
    fn realloc_keeps_contents_in_and_out_of_the_arena() {
        let a: Box<Arena<8192>> = Box::default();
        // SAFETY: as above; `realloc` hands back the only live pointer.
        unsafe {
            let mut l = layout(10, 1);
            let mut p = a.alloc(l);
            for i in 0..10 {
                *p.add(i) = i as u8;
            }
            let same = a.realloc(p, l, 16);
            assert_eq!(same, p, "same class: grown in place");
            l = layout(16, 1);
            // 8 KiB arena: 32 KiB comes from the C library, and stays there.
            for (size, in_arena) in [(100, true), (3000, true), (20000, false), (50, false)] {
                p = a.realloc(p, l, size);
                assert!(!p.is_null());
                assert_eq!(a.owns(p), in_arena, "after realloc to {size}");
                l = layout(size, 1);
                for i in 0..10 {
                    assert_eq!(*p.add(i), i as u8, "after realloc to {size}");
                }
            }
            a.dealloc(p, l);
        }
    }
}
