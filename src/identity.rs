//! Who the workload runs as.
//!
//! Names are resolved by reading the image's `/etc/passwd` and `/etc/group`
//! (the binary is static: no NSS). Numeric ids need no files. Without a
//! policy identity the workload runs as the image's `sandbox` user when it
//! exists, else as 65534:65534 (`nobody`/`nogroup` by convention). A
//! numeric user with no passwd entry and no `run_as_group` gets gid = uid.
//!
//! When the supervisor itself starts unprivileged (`runAsNonRoot`,
//! rootless) it keeps its identity; a policy asking for another one is a
//! blocker, since only root could switch.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::policy::Policy;
use crate::policy::model::Id;
use crate::probe::HostFacts;

pub const NOBODY: u32 = 65534;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IdentityPlan {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups after the switch (`None`: unchanged, because
    /// the supervisor started unprivileged and cannot call setgroups).
    pub groups: Option<Vec<u32>>,
    /// Started unprivileged: the supplementary groups the workload keeps
    /// from the supervisor (the read-back compares them). Group 0 among
    /// them is a blocker, like a primary gid 0.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inherited_groups: Vec<u32>,
    pub user_name: Option<String>,
    pub home: String,
    pub shell: Option<String>,
    /// Where the identity came from, in words.
    pub source: String,
    /// uid the supervisor started as.
    pub starting_uid: u32,
    /// Whether setgroups/setresgid/setresuid will run.
    pub switch: bool,
    #[serde(skip)]
    pub blocker: Option<crate::error::Finding>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswdEntry<'a> {
    pub name: &'a str,
    pub uid: u32,
    pub gid: u32,
    pub home: &'a str,
    pub shell: &'a str,
}

/// The entries of `/etc/passwd` text, in file order, read as they are
/// needed; malformed lines are skipped. The entries borrow from `text`:
/// an image's passwd has dozens of lines, a launch looks up one user and
/// the plan keeps at most that one.
pub fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    crate::bytes::lines(text)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            // name:password:uid:gid:gecos:home:shell[:...]
            let [name, _, uid, gid, _, home, shell] = first_fields(l)?;
            let uid = uid.parse().ok()?;
            let gid = gid.parse().ok()?;
            Some(PasswdEntry {
                name,
                uid,
                gid,
                home,
                shell,
            })
        })
}

/// What [`find_entry`] looks a user up by.
#[derive(Clone, Copy, Debug)]
enum Key<'k> {
    Uid(u32),
    Name(&'k str),
}

/// The first entry of `/etc/passwd` text that `key` names: the same as
/// `passwd_entries(text).find(..)`, but a line is read whole only when its
/// name, or its uid field, matches. A launch looks the workload's user up
/// twice, and the image's `nobody` is often the last of dozens of lines.
fn find_entry<'t>(text: &'t str, key: Key<'_>) -> Option<PasswdEntry<'t>> {
    // A first field ends at its first colon: no entry has such a name (and
    // the prefix test below would take `daemon:x` for `daemon`).
    if matches!(key, Key::Name(n) if n.contains(':')) {
        return None;
    }
    crate::bytes::lines(text)
        .filter(|l| !l.starts_with('#'))
        .filter(|l| match key {
            Key::Name(n) => l.as_bytes().get(n.len()) == Some(&b':') && l.starts_with(n),
            Key::Uid(u) => first_fields::<3>(l).is_some_and(|[_, _, uid]| uid.parse() == Ok(u)),
        })
        .find_map(|l| passwd_entries(l).next())
}

/// Every entry of `/etc/passwd` text (see [`passwd_entries`]).
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry<'_>> {
    passwd_entries(text).collect()
}

/// The first `N` colon-separated fields of a passwd or group line (the
/// last one ends at the next colon, if any), or `None` when it has fewer.
/// One pass over the line's bytes, by `bytes::find`: std's splitter cost
/// about 1,900 instructions a passwd line, and a launch looks a user up
/// twice, in every line above it (the image's `nobody` is often the last).
fn first_fields<const N: usize>(line: &str) -> Option<[&str; N]> {
    let mut out = [""; N];
    let mut rest = line;
    for (k, field) in out.iter_mut().enumerate() {
        match crate::bytes::find(rest.as_bytes(), b':') {
            // `:` is ASCII: both cuts are on character boundaries.
            Some(at) => {
                *field = rest.get(..at)?;
                rest = rest.get(at + 1..)?;
            }
            None if k + 1 == N => *field = rest,
            None => return None,
        }
    }
    Some(out)
}

/// Parse `/etc/group` text into (name, gid, members).
pub fn parse_group(text: &str) -> Vec<(String, u32, Vec<String>)> {
    crate::bytes::lines(text)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            // name:password:gid:members[:...]
            let [name, _, gid, members] = first_fields(l)?;
            let members = members
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect();
            Some((name.to_string(), gid.parse().ok()?, members))
        })
        .collect()
}

fn numeric(id: &Id) -> Option<u32> {
    if id.0.bytes().all(|b| b.is_ascii_digit()) {
        id.0.parse().ok()
    } else {
        None
    }
}

fn lookup_group(host: &HostFacts, id: &Id, what: &str) -> Result<u32, String> {
    if let Some(n) = numeric(id) {
        return Ok(n);
    }
    let groups = host.group.as_deref().map(parse_group).unwrap_or_default();
    match groups.iter().find(|(n, _, _)| *n == id.0) {
        Some((_, 0, _)) => Err(format!("{what} {:?} is gid 0 (root)", id.0)),
        Some((_, gid, _)) => Ok(*gid),
        None if host.group.is_none() => Err(format!(
            "{what} {:?} cannot be resolved: the image has no /etc/group (use a numeric id)",
            id.0
        )),
        None => Err(format!("{what} {:?} not found in /etc/group", id.0)),
    }
}

/// Who the workload runs as: its uid, its passwd entry if any, where
/// the choice came from, and why a named user could not be found.
struct User<'a> {
    uid: u32,
    entry: Option<PasswdEntry<'a>>,
    source: &'static str,
    unresolved: Option<String>,
}

/// The user part of [`plan`]: `run_as_user` (a number, or a name looked
/// up in the image's passwd), else the user the supervisor started as
/// when that is not root, else the image's `sandbox` user, else 65534.
fn user<'a>(run_as_user: Option<&Id>, host: &'a HostFacts) -> User<'a> {
    let find = |key: Key<'_>| host.passwd.as_deref().and_then(|t| find_entry(t, key));
    let found = |uid, entry, source| User {
        uid,
        entry,
        source,
        unresolved: None,
    };
    match run_as_user {
        Some(u) => match numeric(u) {
            Some(n) => found(n, find(Key::Uid(n)), "policy"),
            None => match find(Key::Name(&u.0)) {
                Some(e) => found(e.uid, Some(e), "policy"),
                None => User {
                    uid: NOBODY,
                    entry: None,
                    source: "policy",
                    unresolved: Some(if host.passwd.is_none() {
                        format!(
                            "user {:?} cannot be resolved: the image has no /etc/passwd (use a numeric id)",
                            u.0
                        )
                    } else {
                        format!("user {:?} not found in /etc/passwd", u.0)
                    }),
                },
            },
        },
        None if host.uid != 0 => found(
            host.uid,
            find(Key::Uid(host.uid)),
            "current user (started unprivileged)",
        ),
        None => match find(Key::Name("sandbox")) {
            Some(e) => found(e.uid, Some(e), "default: the image's sandbox user"),
            None => found(
                NOBODY,
                None,
                "default: 65534 (the image has no sandbox user)",
            ),
        },
    }
}

/// The uid [`plan`] gives the workload, without the rest of the plan:
/// resolve needs it first, to distrust what that uid owns.
pub fn workload_uid(policy: &Policy, host: &HostFacts) -> u32 {
    let run_as_user = policy.process.as_ref().and_then(|p| p.run_as_user.as_ref());
    // A numeric user, or the uid an unprivileged supervisor keeps, is the
    // uid whatever its passwd entry says: no need to look for the entry
    // (the plan does, for its home and shell).
    match run_as_user.map(numeric) {
        Some(Some(n)) => n,
        None if host.uid != 0 => host.uid,
        _ => user(run_as_user, host).uid,
    }
}

/// Decide the workload identity.
pub fn plan(policy: &Policy, host: &HostFacts) -> IdentityPlan {
    let proc_ = policy.process.clone().unwrap_or_default();
    let mut blocker = None;
    let mut fail = |m: String| {
        if blocker.is_none() {
            blocker = Some(crate::error::Finding::new("identity", m));
        }
    };

    let User {
        uid,
        entry,
        source,
        unresolved,
    } = user(proc_.run_as_user.as_ref(), host);
    if let Some(m) = unresolved {
        fail(m);
    }
    if uid == 0 {
        fail("the workload would run as uid 0 (root)".to_string());
    }

    let gid = match &proc_.run_as_group {
        Some(g) => lookup_group(host, g, "group").unwrap_or_else(|e| {
            fail(e);
            NOBODY
        }),
        None if proc_.run_as_user.is_none() && host.uid != 0 => host.gid,
        None => match &entry {
            Some(e) => e.gid,
            None if proc_.run_as_user.is_none() => NOBODY,
            None => uid,
        },
    };
    if gid == 0 {
        fail("the workload's group would be gid 0 (root)".to_string());
    }

    let mut groups = Vec::new();
    for g in &proc_.supplementary_groups {
        match lookup_group(host, g, "supplementary group") {
            Ok(0) => fail(format!("supplementary group {:?} is gid 0 (root)", g.0)),
            Ok(n) => {
                if !groups.contains(&n) {
                    groups.push(n);
                }
            }
            Err(e) => fail(e),
        }
    }

    let switch = host.uid == 0;
    // Step 6 proves the workload cannot become root again: setresuid(0,
    // 0, 0) must fail. A supervisor whose ids differ (a setuid wrapper,
    // `setpriv --ruid` alone) is not one user to keep or switch from, and
    // one started as another user with CAP_SETUID in effect could set
    // uid 0 at that step: said here, so `plan` shows what a launch meets.
    if let Some(m) = host.mixed_ids {
        fail(format!(
            "the supervisor started with uids {:?} and gids {:?} (real, effective, saved): it is not one user",
            m.uid, m.gid
        ));
    }
    // (uid_t)-1 is not an id: setresuid and setresgid read it as "leave
    // this one unchanged", so a switch to it would keep root's. The
    // policy's numbers are range-checked; the image's passwd and group
    // are not the policy's.
    if uid == u32::MAX || gid == u32::MAX || groups.contains(&u32::MAX) {
        fail(format!(
            "uid {uid}, gid {gid}: {} is not an id (setresuid and setresgid read it as \"unchanged\")",
            u32::MAX
        ));
    }
    // A switch needs CAP_SETGID (setgroups, setresgid) and CAP_SETUID
    // (setresuid); a root start without them stops at step 6.
    if switch {
        use crate::capabilities::{CAP_SETGID, CAP_SETUID, bit, names};
        let missing = (bit(CAP_SETUID) | bit(CAP_SETGID)) & !host.caps.effective;
        if missing != 0 {
            fail(format!(
                "the supervisor runs as root without {}, so it cannot switch to uid {uid} gid {gid}",
                names(missing)
            ));
        }
    }
    if !switch
        && host.caps.effective & crate::capabilities::bit(crate::capabilities::CAP_SETUID) != 0
    {
        fail(format!(
            "the supervisor runs as uid {} with CAP_SETUID in effect, so it could become root again",
            host.uid
        ));
    }
    if !switch {
        if uid != host.uid || gid != host.gid {
            fail(format!(
                "the supervisor runs as uid {} gid {} and cannot switch to uid {uid} gid {gid}",
                host.uid, host.gid
            ));
        }
        if !groups.is_empty() {
            fail(format!(
                "the supervisor runs as uid {} and cannot set supplementary groups",
                host.uid
            ));
        }
        if host.groups.contains(&0) {
            fail(format!(
                "the supervisor runs as uid {} with supplementary group 0 (root), which it cannot drop, and the workload would keep it",
                host.uid
            ));
        }
    }

    IdentityPlan {
        uid,
        gid,
        groups: if switch { Some(groups) } else { None },
        inherited_groups: if switch {
            Vec::new()
        } else {
            let mut g = host.groups.clone();
            crate::sort::sort_dedup(&mut g);
            g
        },
        user_name: entry.map(|e| e.name.to_string()),
        home: entry
            .map(|e| e.home)
            .filter(|h| !h.is_empty())
            .unwrap_or("/")
            .to_string(),
        shell: entry.map(|e| e.shell).filter(|s| !s.is_empty()).map(str::to_string),
        source: source.to_string(),
        starting_uid: host.uid,
        switch,
        blocker: blocker.map(|b| {
            if b.cause.starts_with("the supervisor runs as root without") {
                b.with_hint("add them to the container, e.g. Kubernetes securityContext.capabilities.add: [SETUID, SETGID] (they are dropped before the workload starts)")
            } else if b.cause.contains("(real, effective, saved)") || b.cause.contains("CAP_SETUID in effect") {
                b.with_hint("start the supervisor as root, or as one user (every id the same) without CAP_SETUID")
            } else if switch {
                b
            } else if b.cause.contains("supplementary group 0") {
                b.with_hint("remove group 0 from the pod's securityContext.supplementalGroups (docker: --group-add 0), or start the supervisor as root so it can set the groups")
            } else {
                b.with_hint("set securityContext.runAsUser/runAsGroup to match, or remove process.run_as_user/run_as_group from the policy")
            }
        }),
    }
}

/// Step 6: setgroups -> setresgid -> setresuid, each checked, keeping the
/// capabilities the plan still needs across the switch (PR_SET_KEEPCAPS,
/// then the effective set re-raised), then check that setresuid(0, 0, 0)
/// fails. Without `switch` (started unprivileged) only the check runs.
pub fn switch(id: &IdentityPlan, caps: &crate::capabilities::CapabilityPlan) -> Result<()> {
    if id.switch {
        crate::capabilities::prepare_switch(caps.mask)?;
        let groups = id.groups.as_deref().unwrap_or(&[]);
        setgroups(groups).map_err(|e| {
            let shown = if groups.len() <= 16 {
                format!("{groups:?}")
            } else {
                format!("{} groups", groups.len())
            };
            let err = Error::apply("identity", format!("setgroups({shown}) failed: {e}"));
            // Only a refusal is about privileges.
            if e == "EPERM" {
                err.with_hint(SETID_HINT)
            } else {
                err
            }
        })?;
        let (u, g) = (id.uid, id.gid);
        setresgid(g).map_err(|e| {
            Error::apply("identity", format!("setresgid({g}, {g}, {g}) failed: {e}"))
                .with_hint(SETID_HINT)
        })?;
        setresuid(u).map_err(|e| {
            Error::apply("identity", format!("setresuid({u}, {u}, {u}) failed: {e}"))
                .with_hint(SETID_HINT)
        })?;
        crate::capabilities::finish_switch(caps.mask)?;
    }
    if setresuid(0).is_ok() {
        return Err(Error::apply(
            "identity",
            "setresuid(0, 0, 0) succeeded after the switch",
        ));
    }
    Ok(())
}

const SETID_HINT: &str =
    "the container must grant CAP_SETUID and CAP_SETGID to a supervisor that starts as root";

fn setgroups(groups: &[u32]) -> std::result::Result<(), String> {
    crate::sys::setgroups(groups).map_err(crate::capabilities::errno_name)
}

fn setresgid(g: u32) -> std::result::Result<(), String> {
    crate::sys::setresgid(g).map_err(crate::capabilities::errno_name)
}

fn setresuid(u: u32) -> std::result::Result<(), String> {
    crate::sys::setresuid(u).map_err(crate::capabilities::errno_name)
}

/// Add the CDI devices' additional GIDs to the supplementary groups the
/// switch sets (0 and repeats skipped). Without a switch the groups stay as
/// the supervisor started; the CDI plan checks the GIDs are among them.
pub fn add_device_groups(id: &mut IdentityPlan, gids: &[u32]) {
    if let Some(groups) = &mut id.groups {
        for g in gids {
            if *g != 0 && !groups.contains(g) {
                groups.push(*g);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str =
        "root:x:0:0:root:/root:/bin/sh\nsandbox:x:1000:1000::/home/sandbox:/bin/sh\nbad line\n";
    const GROUP: &str = "root:x:0:\nsandbox:x:1000:\nvideo:x:44:sandbox\n";

    /// `find_entry` finds what a search of every parsed entry finds, for
    /// names and uids present, absent, repeated, prefixes of other names,
    /// on malformed lines, spelled with leading zeros or out of range.
    #[test]
    fn find_entry_is_the_first_parsed_entry_that_matches() {
        let text = "#comment:x:7:7::/:/bin/sh\n\
                    root:x:0:0:root:/root:/bin/sh\n\
                    san:x:5:5::/home/san:/bin/sh\n\
                    sandbox:x:1000:1000\n\
                    sandbox:x:1001:1001::/home/sandbox:/bin/sh\n\
                    padded:x:0065534:7::/:/bin/false\n\
                    big:x:4294967296:1::/:/bin/false\n\
                    nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
                    \n\
                    dup:x:1001:9::/:/bin/sh\n\
                    last:x:77:77::/:/bin/sh";
        let all = parse_passwd(text);
        for name in [
            "root", "san", "sandbox", "sand", "sandboxx", "nobody", "dup", "last", "", "#comment",
            "absent", "root:x", "san:x:5", ":",
        ] {
            let want = all.iter().find(|e| e.name == name).copied();
            assert_eq!(find_entry(text, Key::Name(name)), want, "name {name:?}");
        }
        for uid in [0, 5, 7, 1000, 1001, 65534, 77, 4_294_967_295, 123] {
            let want = all.iter().find(|e| e.uid == uid).copied();
            assert_eq!(find_entry(text, Key::Uid(uid)), want, "uid {uid}");
        }
        // Control: the lookups above do find entries, past the first line.
        assert_eq!(
            find_entry(text, Key::Uid(1001)).map(|e| e.name),
            Some("sandbox")
        );
        assert_eq!(
            find_entry(text, Key::Uid(65534)).map(|e| e.name),
            Some("padded")
        );
    }

    proptest::proptest! {
        #[test]
        fn find_entry_agrees_with_a_search_of_the_parsed_entries(
            lines in proptest::collection::vec("[a-c]{0,2}(:[0-9x]{0,2}){0,7}", 0..12),
            name in "[a-c:x]{0,4}",
            uid in 0u32..20,
        ) {
            let text = lines.join("\n");
            let all = parse_passwd(&text);
            proptest::prop_assert_eq!(
                find_entry(&text, Key::Name(&name)),
                all.iter().find(|e| e.name == name).copied()
            );
            proptest::prop_assert_eq!(
                find_entry(&text, Key::Uid(uid)),
                all.iter().find(|e| e.uid == uid).copied()
            );
        }
    }

    #[test]
    fn first_fields_are_the_string_splitters_first() {
        for line in [
            "",
            ":",
            "::",
            "a",
            "a:",
            ":a",
            "a::b",
            "a:b:c",
            "a:b:c:",
            "a:b:c:d",
            "root:x:0:0:root:/root:/bin/sh",
            "root:x:0:0:root:/root:/bin/sh:extra:more",
            "root:x:0:0:root:/root",
            "é:ü:",
        ] {
            let all: Vec<&str> = line.split(':').collect();
            let want3 = (all.len() >= 3).then(|| [all[0], all[1], all[2]]);
            assert_eq!(first_fields::<3>(line), want3, "{line:?}");
            let want7 =
                (all.len() >= 7).then(|| [all[0], all[1], all[2], all[3], all[4], all[5], all[6]]);
            assert_eq!(first_fields::<7>(line), want7, "{line:?}");
            let want4 = (all.len() >= 4).then(|| [all[0], all[1], all[2], all[3]]);
            assert_eq!(first_fields::<4>(line), want4, "{line:?}");
            assert_eq!(first_fields::<1>(line), Some([all[0]]), "{line:?}");
        }
    }

    fn host(uid: u32) -> HostFacts {
        // Root starts with every capability, as a container's root does
        // (the ones Kubernetes leaves it include SETUID and SETGID).
        let all = (1u64 << 41) - 1;
        HostFacts {
            uid,
            gid: uid,
            passwd: Some(PASSWD.into()),
            group: Some(GROUP.into()),
            caps: if uid == 0 {
                crate::capabilities::CapState {
                    effective: all,
                    permitted: all,
                    inheritable: 0,
                    bounding: all,
                }
            } else {
                crate::capabilities::CapState::default()
            },
            ..HostFacts::default()
        }
    }

    fn policy(y: &str) -> Policy {
        crate::policy::parse_str("t.yaml", y).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn workload_uid_is_the_plans_uid() {
        let no_passwd = HostFacts {
            passwd: None,
            ..host(0)
        };
        for doc in [
            "version: 1\n",
            "version: 1\nprocess: {run_as_user: 1500}\n",
            "version: 1\nprocess: {run_as_user: sandbox}\n",
            "version: 1\nprocess: {run_as_user: nosuchuser}\n",
            "version: 1\nprocess: {run_as_group: 1500}\n",
            "version: 1\nprocess: {run_as_user: \"007\"}\n",
            "version: 1\nprocess: {run_as_user: \"sandbox2\"}\n",
        ] {
            let p = policy(doc);
            for h in [host(0), host(1000), host(4242), no_passwd.clone()] {
                assert_eq!(
                    workload_uid(&p, &h),
                    plan(&p, &h).uid,
                    "{doc} uid {}",
                    h.uid
                );
            }
        }
    }

    #[test]
    fn a_root_start_without_setuid_or_setgid_is_a_blocker() {
        let p = policy("version: 1\n");
        assert!(plan(&p, &host(0)).blocker.is_none());
        let mut h = host(0);
        h.caps.effective &= !(1 << crate::capabilities::CAP_SETUID);
        let b = plan(&p, &h).blocker.unwrap_or_else(|| panic!("no blocker"));
        assert_eq!(
            b.cause,
            "the supervisor runs as root without CAP_SETUID, so it cannot switch to uid 1000 gid 1000"
        );
        assert!(
            b.hint
                .as_deref()
                .unwrap_or_default()
                .contains("add: [SETUID, SETGID]")
        );
    }

    #[test]
    fn the_id_that_means_unchanged_is_a_blocker() {
        // (uid_t)-1 from the image's files: setresuid(-1, ...) would
        // change nothing.
        let mut h = host(0);
        h.passwd = Some(
            "neg:x:4294967295:1600::/tmp:/bin/sh\nng:x:1600:4294967295::/tmp:/bin/sh\n".into(),
        );
        h.group = Some("negg:x:4294967295:\n".into());
        for doc in [
            "version: 1\nprocess: {run_as_user: neg}\n",
            "version: 1\nprocess: {run_as_user: ng}\n",
            "version: 1\nprocess: {run_as_user: 1600, run_as_group: negg}\n",
            "version: 1\nprocess: {run_as_user: 1600, supplementary_groups: [negg]}\n",
        ] {
            let b = plan(&policy(doc), &h)
                .blocker
                .unwrap_or_else(|| panic!("{doc}"));
            assert!(
                b.cause.contains("4294967295 is not an id"),
                "{doc}: {}",
                b.cause
            );
        }
        // Control: the largest id that is one.
        h.passwd = Some("big:x:4294967294:4294967294::/tmp:/bin/sh\n".into());
        let p = plan(&policy("version: 1\nprocess: {run_as_user: big}\n"), &h);
        assert!(p.blocker.is_none(), "{:?}", p.blocker);
    }

    #[test]
    fn default_is_the_images_sandbox_user() {
        let p = plan(&policy("version: 1\n"), &host(0));
        assert_eq!(
            (p.uid, p.gid, p.home.as_str()),
            (1000, 1000, "/home/sandbox")
        );
        assert_eq!(p.groups, Some(vec![]));
        assert!(p.blocker.is_none());
    }

    #[test]
    fn default_without_sandbox_user_is_65534() {
        let mut h = host(0);
        h.passwd = Some("root:x:0:0::/root:/bin/sh\n".into());
        let p = plan(&policy("version: 1\n"), &h);
        assert_eq!((p.uid, p.gid), (NOBODY, NOBODY));
    }

    #[test]
    fn numeric_user_without_entry_gets_gid_equal_uid() {
        let p = plan(
            &policy("version: 1\nprocess: {run_as_user: 1500}\n"),
            &host(0),
        );
        assert_eq!((p.uid, p.gid), (1500, 1500));
    }

    #[test]
    fn names_resolve_from_image_files() {
        let p = plan(
            &policy(
                "version: 1\nprocess: {run_as_user: sandbox, supplementary_groups: [video, 7]}\n",
            ),
            &host(0),
        );
        assert_eq!((p.uid, p.gid), (1000, 1000));
        assert_eq!(p.groups, Some(vec![44, 7]));
    }

    #[test]
    fn unknown_name_and_missing_files_block() {
        let p = plan(
            &policy("version: 1\nprocess: {run_as_user: app}\n"),
            &host(0),
        );
        assert_eq!(
            p.blocker.map(|b| b.text()).as_deref(),
            Some("identity: user \"app\" not found in /etc/passwd")
        );
        let mut h = host(0);
        h.passwd = None;
        let p = plan(&policy("version: 1\nprocess: {run_as_user: app}\n"), &h);
        assert!(
            p.blocker
                .map(|b| b.text())
                .unwrap_or_default()
                .contains("the image has no /etc/passwd")
        );
    }

    #[test]
    fn unprivileged_start_keeps_identity_and_refuses_another() {
        let p = plan(&policy("version: 1\n"), &host(1500));
        assert_eq!((p.uid, p.gid, p.switch), (1500, 1500, false));
        assert!(p.blocker.is_none());
        let p = plan(
            &policy("version: 1\nprocess: {run_as_user: 1600}\n"),
            &host(1500),
        );
        let b = p.blocker.map(|b| b.text()).unwrap_or_default();
        assert!(
            b.starts_with(
                "identity: the supervisor runs as uid 1500 gid 1500 and cannot switch to uid 1600"
            ),
            "{b}"
        );
        assert!(b.contains("hint: set securityContext.runAsUser"));
    }
}
