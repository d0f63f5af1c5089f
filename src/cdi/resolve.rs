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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    pub env: Vec<(String, String)>,
    pub nodes: Vec<(DeviceNode, Vec<String>)>,
    pub mounts: Vec<(Mount, Vec<String>)>,
    pub hooks: Vec<(Hook, Vec<String>)>,
    pub gids: Vec<u32>,
    pub intel_rdt: Option<IntelRdt>,
    pub net_devices: Vec<NetDevice>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    pub found: Vec<Found>,
    /// Requested names no spec provides, in request order.
    pub missing: Vec<String>,
    /// The edits of the found devices (empty of meaning when `missing` is
    /// not empty: nothing may be applied then).
    pub merged: Merged,
}

fn add_owner(owners: &mut Vec<String>, who: &[String]) {
    for w in who {
        if !owners.contains(w) {
            owners.push(w.clone());
        }
    }
}

/// Merge edit blocks in order; each block comes with the device names it
/// is applied for.
pub fn merge<'a>(blocks: impl IntoIterator<Item = (&'a ContainerEdits, Vec<String>)>) -> Merged {
    let mut m = Merged::default();
    for (ed, who) in blocks {
        for e in &ed.env {
            let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
            match m.env.iter_mut().find(|(n, _)| n == k) {
                Some(slot) => slot.1 = v.to_string(),
                None => m.env.push((k.to_string(), v.to_string())),
            }
        }
        for n in &ed.device_nodes {
            let mut owners = Vec::new();
            if let Some(i) = m.nodes.iter().position(|(o, _)| o.path == n.path) {
                owners = m.nodes.remove(i).1;
            }
            add_owner(&mut owners, &who);
            m.nodes.push((n.clone(), owners));
        }
        for mt in &ed.mounts {
            let mut owners = Vec::new();
            if let Some(i) = m
                .mounts
                .iter()
                .position(|(o, _)| o.container_path == mt.container_path)
            {
                owners = m.mounts.remove(i).1;
            }
            add_owner(&mut owners, &who);
            m.mounts.push((mt.clone(), owners));
        }
        for h in &ed.hooks {
            m.hooks.push((h.clone(), who.clone()));
        }
        for g in &ed.additional_gids {
            if *g != 0 && !m.gids.contains(g) {
                m.gids.push(*g);
            }
        }
        if let Some(r) = &ed.intel_rdt {
            m.intel_rdt = Some(r.clone());
        }
        for nd in &ed.net_devices {
            m.net_devices
                .retain(|o| o.host_interface_name != nd.host_interface_name);
            m.net_devices.push(nd.clone());
        }
    }
    // Shallower mounts first, keeping the order among equal depths.
    super::sort_stable_by_key(&mut m.mounts, |(mt, _)| {
        depth(&crate::policy::paths::normalize(&mt.container_path))
    });
    m
}

fn depth(p: &str) -> usize {
    if p == "/" {
        return 1;
    }
    p.matches('/').count()
}

/// Resolve `requests` (fully-qualified names, in order) against `reg`.
pub fn resolve(reg: &Registry, requests: &[String]) -> Resolution {
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
pub fn device_view(reg: &Registry, f: &Found) -> Merged {
    let Some(spec) = reg.specs.get(f.spec) else {
        return Merged::default();
    };
    let mut b = vec![(&spec.edits, vec![f.name.clone()])];
    if let Some(d) = spec.devices.get(f.device) {
        b.push((&d.edits, vec![f.name.clone()]));
    }
    merge(b)
}
