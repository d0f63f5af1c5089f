//! Sorting through one shared instantiation of the standard library's sort.
//!
//! `slice::sort*` is generic over the element type and the comparison, so
//! every call site with a new type or closure gets its own copy of the
//! sort (3–6 KiB each with its small-sort networks and merge code); about
//! twenty of them made up some 70 KiB of the release binary. These
//! helpers sort a list of indices with one comparison type (a `dyn`
//! closure) and then move the elements into that order, so the sort itself
//! exists once. The lists sorted here are short (paths, groups, ports,
//! syscall rules, diagnostics); the cost is one extra allocation and an
//! indirect call per comparison. Results are those of the stable
//! `sort_by`: equal elements keep their order.

use std::cmp::Ordering;

/// Like `v.sort_by(cmp)` (stable).
pub fn sort_by<T>(v: &mut Vec<T>, mut cmp: impl FnMut(&T, &T) -> Ordering) {
    if v.len() < 2 {
        return;
    }
    let order = sorted_indices(v.len(), &mut |a, b| cmp(&v[a], &v[b]));
    let mut slots: Vec<Option<T>> = v.drain(..).map(Some).collect();
    v.extend(order.iter().filter_map(|&i| slots[i].take()));
}

/// Like `v.sort_by_key(key)` (stable).
pub fn sort_by_key<T, K: Ord>(v: &mut Vec<T>, mut key: impl FnMut(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// Like `v.sort()`.
pub fn sort<T: Ord>(v: &mut Vec<T>) {
    sort_by(v, T::cmp);
}

/// Like `v.sort(); v.dedup()`.
pub fn sort_dedup<T: Ord>(v: &mut Vec<T>) {
    sort(v);
    v.dedup();
}

/// The indices `0..n` in the order `cmp` gives them, ties in index order.
#[inline(never)]
fn sorted_indices(n: usize, cmp: &mut dyn FnMut(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    // Many lists here come from one already sorted (the writable set from
    // the sorted rules, the candidate paths again at plan time): n - 1
    // comparisons say so, instead of a merge sort's n log n. For 256
    // paths this halved the sorting's instructions (callgrind).
    if (1..n).all(|i| cmp(i - 1, i) != Ordering::Greater) {
        return order;
    }
    order.sort_by(|&a, &b| cmp(a, b));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_sorts() {
        let words = ["pear", "fig", "apple", "fig", "kiwi", "date", "apple", ""];
        let mut a: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        let mut b = a.clone();
        sort(&mut a);
        b.sort();
        assert_eq!(a, b);

        let mut a: Vec<u16> = vec![443, 80, 8080, 80, 0, 22, 443];
        let mut b = a.clone();
        sort_dedup(&mut a);
        b.sort_unstable();
        b.dedup();
        assert_eq!(a, b);

        let mut e: Vec<Vec<u8>> = Vec::new();
        sort(&mut e);
        assert!(e.is_empty());
    }

    #[test]
    fn is_stable() {
        // Keyed on the first field only: ties keep their input order.
        let mut a: Vec<(u32, &str)> =
            vec![(3, "a"), (1, "b"), (3, "c"), (2, "d"), (1, "e"), (3, "f")];
        let mut b = a.clone();
        sort_by_key(&mut a, |x| x.0);
        b.sort_by_key(|x| x.0);
        assert_eq!(a, b);
        assert_eq!(
            a,
            [(1, "b"), (1, "e"), (2, "d"), (3, "a"), (3, "c"), (3, "f")]
        );
    }
}

/// A word-at-a-time hash for the hash maps of the launch path (the
/// walker's directory cache and writable set, the held descriptors, the
/// plan's path maps, the YAML reader's hidden paths, at most one an
/// error, and a CDI spec's edits). Their keys come from the root-owned
/// policy, the host's own directories and CDI specs (root-owned, or
/// refused); the workload chooses none of them. So the standard
/// library's SipHash, which resists chosen keys, buys nothing there and
/// cost most of a path lookup
/// (about 3K instructions per policy path at 256 paths, callgrind). This
/// takes eight bytes per multiply (FNV-1a, used before, took one, and was
/// still a tenth of a 256-path launch's instructions); `finish` folds the
/// high half of a wide multiply into the low one, so that the low bits
/// `HashMap` picks buckets by depend on every input byte.
#[derive(Default, Clone, Copy)]
pub struct WordHash(u64);

const SEED: u64 = 0x243f_6a88_85a3_08d3;
const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

impl WordHash {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(23) ^ word).wrapping_mul(MUL);
    }
}

impl std::hash::Hasher for WordHash {
    fn finish(&self) -> u64 {
        let wide = u128::from(self.0 ^ SEED) * u128::from(MUL);
        (wide as u64) ^ ((wide >> 64) as u64)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while let Some((word, tail)) = rest.split_first_chunk::<8>() {
            self.mix(u64::from_le_bytes(*word));
            rest = tail;
        }
        // The last 1..=7 bytes, with their count in the top byte so that
        // trailing zero bytes still change the hash.
        let mut last = [0u8; 8];
        for (d, s) in last.iter_mut().zip(rest) {
            *d = *s;
        }
        last[7] = rest.len() as u8;
        self.mix(u64::from_le_bytes(last));
    }
}

/// A `HashMap` hashed with [`WordHash`].
pub type FastMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<WordHash>>;
/// A `HashSet` hashed with [`WordHash`].
pub type FastSet<K> = std::collections::HashSet<K, std::hash::BuildHasherDefault<WordHash>>;

#[cfg(test)]
mod hash_tests {
    use super::{FastSet, WordHash};
    use std::hash::{BuildHasher, BuildHasherDefault};

    fn hash(s: &str) -> u64 {
        BuildHasherDefault::<WordHash>::default().hash_one(s)
    }

    /// Every single-byte change of a string, at every place and length
    /// across the word boundaries, changes the hash, and so do trailing
    /// zero bytes.
    #[test]
    fn each_byte_changes_the_hash() {
        for n in 0..40usize {
            let base: String = (0..n).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            let h = hash(&base);
            for at in 0..n {
                let mut b = base.clone().into_bytes();
                b[at] = b'/';
                let changed = String::from_utf8(b).unwrap();
                assert_ne!(hash(&changed), h, "n={n} at={at}");
            }
            let mut longer = base.clone();
            longer.push('\0');
            assert_ne!(hash(&longer), h, "n={n}: a trailing zero byte");
        }
    }

    /// The buckets a map picks (the low bits) spread paths that share a
    /// long prefix and differ only at the end, as a policy's do.
    #[test]
    fn low_bits_spread_paths_with_a_shared_prefix() {
        let mut buckets = [0u32; 256];
        for i in 0..4096 {
            let p = format!("/opt/app/data/{i}");
            buckets[(hash(&p) & 0xff) as usize] += 1;
        }
        // 16 a bucket on average; a hash that left the low bits to the
        // first bytes would put all 4096 in one.
        let max = buckets.iter().copied().max().unwrap();
        assert!(max <= 40, "fullest bucket {max}");
        let set: FastSet<String> = (0..1000).map(|i| format!("/a/{i}")).collect();
        assert_eq!(set.len(), 1000);
        assert!(set.contains("/a/999") && !set.contains("/a/1000"));
    }
}
