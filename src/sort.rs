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

/// FNV-1a, for the hash maps of the launch path (the walker's directory
/// cache and writable set, the plan's path maps). Their keys are paths from
/// the root-owned policy and the host's own directories, so the standard
/// library's SipHash, which resists chosen keys, buys nothing there and
/// cost most of a path lookup: hashing was about 3K instructions per
/// policy path at 256 paths (callgrind). FNV-1a costs a few per byte.
#[derive(Default, Clone, Copy)]
pub struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// A `HashMap` hashed with [`Fnv`].
pub type FnvMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;
/// A `HashSet` hashed with [`Fnv`].
pub type FnvSet<K> = std::collections::HashSet<K, std::hash::BuildHasherDefault<Fnv>>;
