//! Requests -> merged edits, the way the reference library injects them.
//!
//! For each requested device in order: its spec's spec-level edits the
//! first time that spec is seen, then the device's own edits. Then the
//! merged list is collapsed as the edits would land in a container: env
//! keeps each name's first position and takes its last value; device nodes
//! are keyed by path and mounts by container path (a later one replaces an
//! earlier one and moves to the end); mounts are then stably sorted by
//! depth; hooks are kept in order; GID 0 and repeated GIDs are dropped;
//! the last `intelRdt` wins; net devices are keyed by host interface.
//! Names are matched byte-exactly, and resolution is all-or-nothing: the
//! caller must not apply anything when `missing` is not empty.

use crate::sort::{FastMap, FastSet};

use super::scan::Registry;
use super::spec::{ContainerEdits, DeviceNode, Hook, IntelRdt, Mount, NetDevice};

/// A requested device that exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    /// Index of its spec in the registry.
    pub spec: usize,
    pub device: usize,
}

/// Edits after collapsing; each entry remembers the devices that asked
/// for it (spec-level edits name every device of that spec requested).
/// Entries are the registry's own, borrowed: a plan merges a spec's edits
/// once for the request and again for each device's own view, and cloning
/// every mount (its options a string each) each time was most of a device's
/// planning.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Merged<'a> {
    pub env: Vec<(String, String)>,
    pub nodes: Vec<(&'a DeviceNode, Vec<String>)>,
    pub mounts: Vec<(&'a Mount, Vec<String>)>,
    pub hooks: Vec<(&'a Hook, Vec<String>)>,
    pub gids: Vec<u32>,
    pub intel_rdt: Option<&'a IntelRdt>,
    pub net_devices: Vec<&'a NetDevice>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolution<'a> {
    pub found: Vec<Found>,
    /// Requested names no spec provides, in request order.
    pub missing: Vec<String>,
    /// The edits of the found devices (empty of meaning when `missing` is
    /// not empty: nothing may be applied then).
    pub merged: Merged<'a>,
}

fn add_owner(owners: &mut Vec<String>, who: &[String]) {
    for w in who {
        if !owners.contains(w) {
            owners.push(w.clone());
        }
    }
}

/// A list keyed by `K` where a later entry replaces an earlier one with the
/// same key and moves to the end. Replaced slots are left empty and
/// skipped at the end, so each insert is O(1) on average instead of a
/// search and a shift of the whole list.
struct Keyed<K, T> {
    slots: Vec<Option<T>>,
    index: FastMap<K, usize>,
}

impl<K: std::hash::Hash + Eq, T> Keyed<K, T> {
    /// Room for `n` entries, so that no insert regrows the index.
    fn with_capacity(n: usize) -> Self {
        Keyed {
            slots: Vec::with_capacity(n),
            index: FastMap::with_capacity_and_hasher(n, Default::default()),
        }
    }

    /// Remove the entry with `key` (if any) and return it.
    fn take(&mut self, key: &K) -> Option<T> {
        let i = self.index.remove(key)?;
        self.slots.get_mut(i).and_then(Option::take)
    }

    fn push(&mut self, key: K, v: T) {
        self.index.insert(key, self.slots.len());
        self.slots.push(Some(v));
    }

    fn into_vec(self) -> Vec<T> {
        self.slots.into_iter().flatten().collect()
    }
}

/// Merge edit blocks in order; each block comes with the device names it
/// is applied for. Linear in the number of entries (hash-indexed), so a
/// spec with hundreds of thousands of env entries or mounts merges in
/// well under a second.
pub fn merge<'a>(
    blocks: impl IntoIterator<Item = (&'a ContainerEdits, Vec<String>)>,
) -> Merged<'a> {
    let blocks: Vec<_> = blocks.into_iter().collect();
    let total = |len: fn(&ContainerEdits) -> usize| blocks.iter().map(|(ed, _)| len(ed)).sum();
    let mut m = Merged::default();
    // env: first position, last value.
    let mut env_index: FastMap<&str, usize> =
        FastMap::with_capacity_and_hasher(total(|ed| ed.env.len()), Default::default());
    let mut nodes: Keyed<&str, (&DeviceNode, Vec<String>)> =
        Keyed::with_capacity(total(|ed| ed.device_nodes.len()));
    let mut mounts: Keyed<&str, (&Mount, Vec<String>)> =
        Keyed::with_capacity(total(|ed| ed.mounts.len()));
    let mut nets: Keyed<&str, &NetDevice> = Keyed::with_capacity(total(|ed| ed.net_devices.len()));
    let mut gids = FastSet::default();
    for (ed, who) in blocks {
        for e in &ed.env {
            let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
            match env_index.get(k).and_then(|i| m.env.get_mut(*i)) {
                Some(slot) => slot.1 = v.to_string(),
                None => {
                    env_index.insert(k, m.env.len());
                    m.env.push((k.to_string(), v.to_string()));
                }
            }
        }
        for n in &ed.device_nodes {
            let mut owners = nodes
                .take(&n.path.as_str())
                .map(|o| o.1)
                .unwrap_or_default();
            add_owner(&mut owners, &who);
            nodes.push(&n.path, (n, owners));
        }
        for mt in &ed.mounts {
            let mut owners = mounts
                .take(&mt.container_path.as_str())
                .map(|o| o.1)
                .unwrap_or_default();
            add_owner(&mut owners, &who);
            mounts.push(&mt.container_path, (mt, owners));
        }
        for h in &ed.hooks {
            m.hooks.push((h, who.clone()));
        }
        for g in &ed.additional_gids {
            if *g != 0 && gids.insert(*g) {
                m.gids.push(*g);
            }
        }
        if let Some(r) = &ed.intel_rdt {
            m.intel_rdt = Some(r);
        }
        for nd in &ed.net_devices {
            nets.take(&nd.host_interface_name.as_str());
            nets.push(&nd.host_interface_name, nd);
        }
    }
    m.nodes = nodes.into_vec();
    m.net_devices = nets.into_vec();
    // Shallower mounts first, keeping the order among equal depths: a
    // stable sort by depth.
    m.mounts = mounts.into_vec();
    m.mounts
        .sort_by_cached_key(|mt| depth(&mt.0.container_path));
    m
}

/// The `/`s in `p`'s normal form (`/` itself counts one), counted in one
/// pass without building it: its components that are not empty or `.`.
fn depth(p: &str) -> usize {
    let (mut n, mut len, mut dot) = (0usize, 0usize, false);
    for &b in p.as_bytes().iter().chain(b"/") {
        if b == b'/' {
            n += usize::from(len > 1 || (len == 1 && !dot));
            len = 0;
        } else {
            dot = len == 0 && b == b'.';
            len += 1;
        }
    }
    if p.starts_with('/') {
        n.max(1)
    } else {
        n.saturating_sub(1)
    }
}

/// Resolve `requests` (fully-qualified names, in order) against `reg`.
pub fn resolve<'a>(reg: &'a Registry, requests: &[String]) -> Resolution<'a> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for r in requests {
        match reg.devices.get(r) {
            Some((s, d)) if !found.iter().any(|f: &Found| f.name == *r) => found.push(Found {
                name: r.clone(),
                spec: *s,
                device: *d,
            }),
            Some(_) => {}
            None => {
                if !missing.contains(r) {
                    missing.push(r.clone());
                }
            }
        }
    }
    let merged = merge(blocks(reg, &found));
    Resolution {
        found,
        missing,
        merged,
    }
}

/// The edit blocks for `found`, in application order: each spec's
/// spec-level edits the first time it is seen (owned by every requested
/// device of that spec), then each device's edits.
pub fn blocks<'a>(reg: &'a Registry, found: &[Found]) -> Vec<(&'a ContainerEdits, Vec<String>)> {
    let mut out = Vec::new();
    let mut seen: Vec<usize> = Vec::new();
    for f in found {
        let Some(spec) = reg.specs.get(f.spec) else {
            continue;
        };
        if !seen.contains(&f.spec) {
            seen.push(f.spec);
            let owners = found
                .iter()
                .filter(|o| o.spec == f.spec)
                .map(|o| o.name.clone())
                .collect();
            out.push((&spec.edits, owners));
        }
        if let Some(d) = spec.devices.get(f.device) {
            out.push((&d.edits, vec![f.name.clone()]));
        }
    }
    out
}

/// What one device needs on its own: its spec's spec-level edits, then
/// its own.
pub fn device_view<'a>(reg: &'a Registry, f: &Found) -> Merged<'a> {
    let Some(spec) = reg.specs.get(f.spec) else {
        return Merged::default();
    };
    let mut b = vec![(&spec.edits, vec![f.name.clone()])];
    if let Some(d) = spec.devices.get(f.device) {
        b.push((&d.edits, vec![f.name.clone()]));
    }
    merge(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edits(env: &[&str], mounts: &[&str], nodes: &[&str], gids: &[u32]) -> ContainerEdits {
        ContainerEdits {
            env: env.iter().map(|e| e.to_string()).collect(),
            mounts: mounts
                .iter()
                .map(|p| Mount {
                    host_path: format!("/host{p}"),
                    container_path: p.to_string(),
                    ..Default::default()
                })
                .collect(),
            device_nodes: nodes
                .iter()
                .map(|p| DeviceNode {
                    path: p.to_string(),
                    ..Default::default()
                })
                .collect(),
            additional_gids: gids.to_vec(),
            ..Default::default()
        }
    }

    fn who(n: &str) -> Vec<String> {
        vec![n.to_string()]
    }

    #[test]
    fn merge_order_and_override_rules() {
        let spec = edits(
            &["A=spec", "B=1", "NOEQ"],
            &["/usr/lib/x/deep", "/opt"],
            &["/dev/ctl"],
            &[5, 0, 4],
        );
        let dev = edits(
            &["B=2", "C=3=3", "A=dev"],
            &["/opt", "/lib"],
            &["/dev/n0", "/dev/ctl"],
            &[4, 6, 5],
        );
        let m = merge([(&spec, who("a")), (&dev, who("b"))]);
        // env: first position, last value; a value may hold `=`.
        let env: Vec<(&str, &str)> = m
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(env, [("A", "dev"), ("B", "2"), ("NOEQ", ""), ("C", "3=3")]);
        // nodes: a later one replaces and moves to the end, owners merged.
        let nodes: Vec<(&str, Vec<String>)> = m
            .nodes
            .iter()
            .map(|(n, o)| (n.path.as_str(), o.clone()))
            .collect();
        assert_eq!(
            nodes,
            [
                ("/dev/n0", who("b")),
                ("/dev/ctl", vec!["a".to_string(), "b".to_string()])
            ]
        );
        // mounts: replaced ones move to the end, then a stable sort by depth.
        let mounts: Vec<&str> = m
            .mounts
            .iter()
            .map(|(mt, _)| mt.container_path.as_str())
            .collect();
        assert_eq!(mounts, ["/opt", "/lib", "/usr/lib/x/deep"]);
        // gids: 0 and repeats dropped, first-seen order.
        assert_eq!(m.gids, [5, 4, 6]);
    }

    #[test]
    fn depth_counts_the_slashes_of_the_normal_form() {
        for p in [
            "/",
            "//",
            "/.",
            "/a",
            "/a/",
            "/a//b/./c",
            "/a/.b",
            "/..",
            "a",
            "a/b",
            ".",
            "",
            "./a/.",
        ] {
            let n = crate::policy::paths::normalize(p);
            let want = if n == "/" { 1 } else { n.matches('/').count() };
            assert_eq!(depth(p), want, "{p}");
        }
    }

    #[test]
    fn merging_200k_env_entries_and_mounts_is_linear() {
        // A quadratic merge of this much took minutes (40k env entries:
        // 4.6 s, 200k: 103 s). Every name and mount path appears twice.
        let n = 100_000;
        let env: Vec<String> = (0..2 * n).map(|i| format!("V{}={i}", i % n)).collect();
        let mounts: Vec<String> = (0..2 * n).map(|i| format!("/m/{}", i % n)).collect();
        let ed = ContainerEdits {
            env,
            mounts: mounts
                .iter()
                .map(|p| Mount {
                    host_path: p.clone(),
                    container_path: p.clone(),
                    ..Default::default()
                })
                .collect(),
            additional_gids: (1..=2 * n as u32).map(|g| g % n as u32 + 1).collect(),
            ..Default::default()
        };
        let m = merge([(&ed, who("a"))]);
        assert_eq!(m.env.len(), n);
        assert_eq!(m.env.first(), Some(&("V0".to_string(), n.to_string())));
        assert_eq!(m.mounts.len(), n);
        assert_eq!(m.gids.len(), n);
    }
}
