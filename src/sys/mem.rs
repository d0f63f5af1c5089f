//! `memcmp` and `bcmp` for the static musl build, eight bytes at a time.
//!
//! musl compares a byte at a time. A launch compares paths all the time
//! (sorted maps, binary searches, the syscall table), and a policy's paths
//! share long prefixes (`/opt/app/data/1`, `/opt/app/data/2`, ...), so at
//! 256 paths musl's `memcmp` was a quarter of the launch's instructions.
//! Defining the two symbols here keeps the archive's byte loop out of the
//! link; the C library's own callers use these too.
//!
//! Only the musl build defines the symbols: with glibc (the test build) the
//! C library's versions are already word-wise, and overriding them in a
//! dynamic program would interpose on every library in it. [`compare`] is
//! the same code as safe Rust for the unit tests.

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
}

#[cfg(test)]
mod tests {
    use super::compare;
    use proptest::prelude::*;

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
