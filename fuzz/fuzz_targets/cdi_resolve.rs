//! Request resolution over parsed specs. The input is a request line
//! (names separated by blanks; `*` stands for every device the specs
//! define), then spec files separated by NUL bytes, the even-numbered ones
//! at the lower priority. Checks: never a panic or hang; resolution is
//! all-or-nothing bookkeeping (every request is found or missing, once);
//! the merged edits are collapsed as documented; every load error that
//! has a location lies inside its file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openshell_sandbox::cdi::{resolve, scan};
use openshell_sandbox::policy::paths;
use openshell_sandbox_fuzz::{assert_inside, lines};

fn depth(p: &str) -> usize {
    let p = paths::normalize(p);
    if p == "/" { 1 } else { p.matches('/').count() }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (head, rest) = text.split_once('\n').unwrap_or((text, ""));
    let texts: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('\0').collect()
    };
    let dirs = vec!["/etc/cdi".to_string(), "/var/run/cdi".to_string()];
    let files = texts
        .iter()
        .enumerate()
        .map(|(i, t)| scan::SpecFile {
            priority: i % 2,
            path: format!("{}/{i:03}.yaml", dirs[i % 2]),
            content: Ok(t.to_string()),
        })
        .collect();
    let reg = scan::build(&dirs, files, Vec::new());

    for e in &reg.errors {
        assert!(!e.message.is_empty(), "an empty message: {e}");
        let Some(m) = e.mark else { continue };
        let i: usize = e
            .file
            .rsplit('/')
            .next()
            .and_then(|f| f.strip_suffix(".yaml"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("an error for an unknown file: {e}"));
        assert_inside(&lines(texts[i]), m.line, m.col, e);
    }
    for n in reg.names() {
        let (s, d) = reg
            .lookup(&n)
            .unwrap_or_else(|| panic!("{n:?} listed but not found"));
        assert_eq!(s.qualified(&d.name), n);
    }

    let mut requests = Vec::new();
    for w in head.split_whitespace() {
        if w == "*" {
            requests.extend(reg.names());
        } else {
            requests.push(w.to_string());
        }
    }
    let r = resolve::resolve(&reg, &requests);

    // Every distinct request is found or missing, exactly once, in order.
    let mut distinct: Vec<&String> = Vec::new();
    for q in &requests {
        if !distinct.contains(&q) {
            distinct.push(q);
        }
    }
    assert_eq!(r.found.len() + r.missing.len(), distinct.len());
    for f in &r.found {
        assert!(
            reg.devices.contains_key(&f.name),
            "found {:?} is not in the registry",
            f.name
        );
        assert_eq!(reg.devices.get(&f.name), Some(&(f.spec, f.device)));
    }
    for m in &r.missing {
        assert!(
            !reg.devices.contains_key(m),
            "missing {m:?} is in the registry"
        );
    }
    let found: Vec<&String> = r.found.iter().map(|f| &f.name).collect();
    let order: Vec<&String> = distinct
        .iter()
        .copied()
        .filter(|q| reg.devices.contains_key(*q))
        .collect();
    assert_eq!(found, order, "found devices out of request order");

    // The merged edits are collapsed.
    let m = &r.merged;
    for (i, (k, _)) in m.env.iter().enumerate() {
        assert!(!m.env[..i].iter().any(|(o, _)| o == k), "env {k:?} twice");
    }
    for (i, g) in m.gids.iter().enumerate() {
        assert!(*g != 0, "GID 0 kept");
        assert!(!m.gids[..i].contains(g), "GID {g} twice");
    }
    for (i, (n, who)) in m.nodes.iter().enumerate() {
        assert!(
            !m.nodes[..i].iter().any(|(o, _)| o.path == n.path),
            "node {:?} twice",
            n.path
        );
        assert!(
            who.iter().all(|w| found.contains(&w)),
            "node owner not requested"
        );
    }
    for (i, (mt, who)) in m.mounts.iter().enumerate() {
        assert!(
            !m.mounts[..i]
                .iter()
                .any(|(o, _)| o.container_path == mt.container_path),
            "mount {:?} twice",
            mt.container_path
        );
        assert!(
            who.iter().all(|w| found.contains(&w)),
            "mount owner not requested"
        );
    }
    assert!(
        m.mounts
            .windows(2)
            .all(|w| depth(&w[0].0.container_path) <= depth(&w[1].0.container_path)),
        "mounts not sorted by depth"
    );
    for (_, who) in &m.hooks {
        assert!(
            who.iter().all(|w| found.contains(&w)),
            "hook owner not requested"
        );
    }
    for (i, nd) in m.net_devices.iter().enumerate() {
        assert!(
            !m.net_devices[..i]
                .iter()
                .any(|o| o.host_interface_name == nd.host_interface_name),
            "net device {:?} twice",
            nd.host_interface_name
        );
    }
    for f in &r.found {
        let v = resolve::device_view(&reg, f);
        assert!(v.gids.iter().all(|g| *g != 0));
    }
});
