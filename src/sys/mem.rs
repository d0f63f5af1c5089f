//! `memcmp`, `bcmp`, `memcpy` and `memmove` for the static musl build.
//!
//! musl compares a byte at a time. A launch compares paths all the time
//! (sorted maps, binary searches, the syscall table), and a policy's paths
//! share long prefixes (`/opt/app/data/1`, `/opt/app/data/2`, ...), so at
//! 256 paths musl's `memcmp` was a quarter of the launch's instructions.
//! Defining the two symbols here keeps the archive's byte loop out of the
//! link; the C library's own callers use these too.
//!
//! musl's x86_64 `memcpy` copies an unaligned head and the tail with
//! single `movsb` instructions around a `rep movsq`. A launch makes about
//! 900 copies, nearly all of a few dozen bytes (paths, names, small
//! vectors), and on the x86_64 hosts measured each took 40 to 60 ns, ten
//! times what a copy by two overlapping loads takes ([`copy`]). musl's
//! `memmove` jumps into its `memcpy`, so both are defined here. aarch64's
//! musl copies with ARM's optimized routines and keeps them.
//!
//! Only the musl build defines the symbols: with glibc (the test build) the
//! C library's versions are already word-wise, and overriding them in a
//! dynamic program would interpose on every library in it. [`compare`] is
//! the same code as safe Rust for the unit tests, and the unit tests call
//! [`copy`]'s functions directly.

use std::cmp::Ordering;

/// Eight bytes read big-endian, so that integer order is byte order.
fn word(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_be_bytes(chunk))
}

/// `a` against `b` over their first `min(a.len(), b.len())` bytes, as
/// `memcmp` orders them (bytes unsigned); the lengths are not compared.
pub fn compare(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        match (word(a, i), word(b, i)) {
            (Some(x), Some(y)) if x != y => return x.cmp(&y),
            _ => i += 8,
        }
    }
    // The last bytes as one word ending at `n`: the bytes it shares with
    // the words above are equal, so its order is that of the rest.
    if i < n && n >= 8 {
        if let (Some(x), Some(y)) = (word(a, n - 8), word(b, n - 8)) {
            return x.cmp(&y);
        }
    }
    while i < n {
        match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => i += 1,
        }
    }
    Ordering::Equal
}

/// Copies for `memcpy` and `memmove` on x86_64: up to 32 bytes by two
/// overlapping loads of the widest size that fits, every byte read before
/// any is written, so the ranges may overlap; more by `rep movsb`, which
/// the CPUs this runs on execute as a fast string copy.
///
/// Nothing here may compile to a call of `memcpy` or `memmove` (it would
/// call itself): the loads have fixed sizes, and the variable-length copies
/// are assembly. The symbols are defined only in optimized builds, where
/// fixed-size loads are always emitted inline.
#[cfg(target_arch = "x86_64")]
pub mod copy {
    /// Copies `n <= 32` bytes from `src` to `dst`, reading them all first.
    ///
    /// # Safety
    /// `src` is readable and `dst` writable for `n` bytes; `n <= 32`.
    #[inline(always)]
    unsafe fn small(dst: *mut u8, src: *const u8, n: usize) {
        // SAFETY: each load and store lies within the first `n` bytes of its
        // range (the second of a pair ends at byte `n`), which the caller
        // guarantees; unaligned access is what `read_unaligned` and
        // `write_unaligned` are for. Both loads happen before either store.
        unsafe {
            if n >= 16 {
                let a = src.cast::<u128>().read_unaligned();
                let b = src.add(n - 16).cast::<u128>().read_unaligned();
                dst.cast::<u128>().write_unaligned(a);
                dst.add(n - 16).cast::<u128>().write_unaligned(b);
            } else if n >= 8 {
                let a = src.cast::<u64>().read_unaligned();
                let b = src.add(n - 8).cast::<u64>().read_unaligned();
                dst.cast::<u64>().write_unaligned(a);
                dst.add(n - 8).cast::<u64>().write_unaligned(b);
            } else if n >= 4 {
                let a = src.cast::<u32>().read_unaligned();
                let b = src.add(n - 4).cast::<u32>().read_unaligned();
                dst.cast::<u32>().write_unaligned(a);
                dst.add(n - 4).cast::<u32>().write_unaligned(b);
            } else if n >= 2 {
                let a = src.cast::<u16>().read_unaligned();
                let b = src.add(n - 2).cast::<u16>().read_unaligned();
                dst.cast::<u16>().write_unaligned(a);
                dst.add(n - 2).cast::<u16>().write_unaligned(b);
            } else if n == 1 {
                *dst = *src;
            }
        }
    }

    /// `memcpy`: `n` bytes from `src` to `dst`, first to last.
    ///
    /// # Safety
    /// `src` is readable and `dst` writable for `n` bytes. The ranges may
    /// overlap only with `dst` below `src` (a forward copy).
    pub unsafe fn forward(dst: *mut u8, src: *const u8, n: usize) {
        if n <= 32 {
            // SAFETY: the caller's contract, and n <= 32.
            unsafe { small(dst, src, n) };
            return;
        }
        // SAFETY: `rep movsb` copies `rcx` bytes from `rsi` to `rdi`, a byte
        // at a time in order (as if; the CPU may move more at once only where
        // the result is the same), which the caller's contract allows. The
        // direction flag is clear on entry to an asm block.
        unsafe {
            core::arch::asm!(
                "rep movsb",
                inout("rcx") n => _,
                inout("rdi") dst => _,
                inout("rsi") src => _,
                options(nostack, preserves_flags),
            );
        }
    }

    /// `memmove`: `n` bytes from `src` to `dst`, the ranges possibly
    /// overlapping.
    ///
    /// # Safety
    /// `src` is readable and `dst` writable for `n` bytes.
    pub unsafe fn overlapping(dst: *mut u8, src: *const u8, n: usize) {
        // A forward copy is right unless `dst` lies within `src..src + n`
        // (the distance wraps around for `dst` below `src`).
        if n <= 32 || (dst as usize).wrapping_sub(src as usize) >= n {
            // SAFETY: the caller's contract; `small` reads before it writes,
            // and a larger forward copy has `dst` below or past `src`'s range.
            unsafe { forward(dst, src, n) };
            return;
        }
        // SAFETY: with the direction flag set, `rep movsb` copies from the
        // last byte down (`rsi`, `rdi` at the last bytes), so a byte of
        // `src` is read before the copy reaches it; `n > 32`, so the
        // subtractions stay within the ranges. The flag is cleared again
        // before the block ends, as Rust requires.
        unsafe {
            core::arch::asm!(
                "std",
                "rep movsb",
                "cld",
                inout("rcx") n => _,
                inout("rdi") dst.add(n - 1) => _,
                inout("rsi") src.add(n - 1) => _,
                options(nostack),
            );
        }
    }
}

#[cfg(all(target_env = "musl", not(test)))]
mod symbols {
    /// The `memcmp` result for `ord`: only its sign is specified.
    fn sign(ord: std::cmp::Ordering) -> i32 {
        ord as i32
    }

    /// `memcmp(3)`.
    ///
    /// # Safety
    /// `a` and `b` point to at least `n` readable bytes (the C contract).
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        if n == 0 {
            return 0;
        }
        // SAFETY: the caller guarantees `n` readable bytes at each pointer,
        // and they are not written while compared (the C contract).
        let (a, b) = unsafe {
            (
                std::slice::from_raw_parts(a, n),
                std::slice::from_raw_parts(b, n),
            )
        };
        sign(super::compare(a, b))
    }

    /// `bcmp(3)`: zero when equal, otherwise any other value.
    ///
    /// # Safety
    /// As [`memcmp`].
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        // SAFETY: the same contract as `memcmp`, passed on unchanged.
        unsafe { memcmp(a, b, n) }
    }

    /// `memcpy(3)`, in optimized builds (see [`super::copy`]).
    ///
    /// # Safety
    /// `src` readable and `dst` writable for `n` bytes, the ranges apart
    /// (the C contract).
    #[cfg(all(target_arch = "x86_64", not(debug_assertions)))]
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        // SAFETY: the C contract is stronger than `forward`'s.
        unsafe { super::copy::forward(dst, src, n) };
        dst
    }

    /// `memmove(3)`, in optimized builds.
    ///
    /// # Safety
    /// `src` readable and `dst` writable for `n` bytes (the C contract).
    #[cfg(all(target_arch = "x86_64", not(debug_assertions)))]
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        // SAFETY: the same contract as `overlapping`'s.
        unsafe { super::copy::overlapping(dst, src, n) };
        dst
    }
}

#[cfg(test)]
mod tests {
    use super::compare;
    use proptest::prelude::*;

    /// `copy::forward` and `copy::overlapping` against `copy_within` (the
    /// reference, a `memmove`), for every length to 100, both directions,
    /// every offset within a word and every overlap distance in -40..=40.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn copies_match_copy_within_for_every_length_offset_and_overlap() {
        let fresh = || -> Vec<u8> { (0..256u32).map(|i| (i * 131 + 7) as u8).collect() };
        for n in 0..=100usize {
            for src in 0..8usize {
                for shift in -40isize..=40 {
                    let Some(dst) = src.checked_add_signed(shift + 120) else {
                        continue;
                    };
                    let src = src + 120;
                    if dst + n > 256 || src + n > 256 {
                        continue;
                    }
                    let mut want = fresh();
                    want.copy_within(src..src + n, dst);
                    let mut got = fresh();
                    let p = got.as_mut_ptr();
                    // SAFETY: both ranges lie within `got` (checked above).
                    unsafe { super::copy::overlapping(p.add(dst), p.add(src), n) };
                    assert_eq!(got, want, "memmove n={n} src={src} dst={dst}");
                    // A forward copy is right whenever dst is not inside
                    // src's range.
                    if dst <= src || dst >= src + n {
                        let mut got = fresh();
                        let p = got.as_mut_ptr();
                        // SAFETY: as above.
                        unsafe { super::copy::forward(p.add(dst), p.add(src), n) };
                        assert_eq!(got, want, "memcpy n={n} src={src} dst={dst}");
                    }
                }
            }
        }
    }

    /// Large copies, past `small`'s 32 bytes by far, apart and overlapping.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn large_copies_match_copy_within() {
        for (n, src, dst) in [
            (4096, 0, 5000),
            (5000, 3, 100),
            (5000, 100, 3),
            (8191, 1, 0),
        ] {
            let mut want: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
            let mut got = want.clone();
            want.copy_within(src..src + n, dst);
            let p = got.as_mut_ptr();
            // SAFETY: both ranges lie within the 10,000 bytes.
            unsafe { super::copy::overlapping(p.add(dst), p.add(src), n) };
            assert_eq!(got, want, "n={n} src={src} dst={dst}");
        }
    }

    /// The reference: a byte at a time, as musl does.
    fn bytewise(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
        let n = a.len().min(b.len());
        a[..n].cmp(&b[..n])
    }

    #[test]
    fn every_length_and_every_place_of_the_first_difference() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(compare(&a, &a), std::cmp::Ordering::Equal, "n={n}");
            for at in 0..n {
                for (x, y) in [(0u8, 1u8), (0x7f, 0x80), (0xff, 0x00), (0x80, 0x7f)] {
                    let mut l = a.clone();
                    let mut r = a.clone();
                    l[at] = x;
                    r[at] = y;
                    // A later difference must not change the answer.
                    if at + 1 < n {
                        l[n - 1] = 0xff;
                        r[n - 1] = 0x00;
                    }
                    assert_eq!(compare(&l, &r), bytewise(&l, &r), "n={n} at={at}");
                    assert_eq!(compare(&r, &l), bytewise(&r, &l), "n={n} at={at}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn orders_as_a_byte_at_a_time(
            prefix in proptest::collection::vec(any::<u8>(), 0..40),
            a in proptest::collection::vec(any::<u8>(), 0..20),
            b in proptest::collection::vec(any::<u8>(), 0..20),
        ) {
            let l = [prefix.as_slice(), &a].concat();
            let r = [prefix.as_slice(), &b].concat();
            prop_assert_eq!(compare(&l, &r), bytewise(&l, &r));
        }
    }
}
