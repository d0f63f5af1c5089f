//! Read back the applied state before exec, and the `--report`.
//!
//! `/proc/self/status` is opened in step 5, before Landlock (the policy
//! need not grant /proc), and read at offset 0 in step 12: Uid, Gid (real,
//! effective, saved, filesystem), Groups, CapInh, CapPrm, CapEff, CapBnd,
//! CapAmb, NoNewPrivs and Seccomp, plus the securebits from
//! PR_GET_SECUREBITS. Anything that differs from the plan is a 125.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::Instant;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::error::{Error, Result};
use crate::plan::Plan;

/// Where `--report` goes.
pub enum ReportTarget {
    Stderr,
    File(File),
}

/// Files opened before Landlock so they can be read or written after it.
pub struct Handles {
    status: File,
    report: Option<ReportTarget>,
}

fn hex<S: Serializer>(v: &u64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:016x}"))
}

/// The state read back from the kernel; caps in /proc's hex notation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Readback {
    /// Real, effective, saved and filesystem uid.
    pub uid: [u32; 4],
    pub gid: [u32; 4],
    pub groups: Vec<u32>,
    #[serde(serialize_with = "hex")]
    pub cap_inh: u64,
    #[serde(serialize_with = "hex")]
    pub cap_prm: u64,
    #[serde(serialize_with = "hex")]
    pub cap_eff: u64,
    #[serde(serialize_with = "hex")]
    pub cap_bnd: u64,
    #[serde(serialize_with = "hex")]
    pub cap_amb: u64,
    pub no_new_privs: u32,
    /// 0 disabled, 1 strict, 2 filter.
    pub seccomp: u32,
    pub securebits: u32,
}

/// The supervisor's memory at the read-back, from the same
/// `/proc/self/status` text (kB lines; 0 when a line is missing). Not a
/// check: for the `--report` (`memory_kib`) and bench/run.sh.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// VmHWM: peak resident set so far.
    pub peak: u64,
    /// VmRSS, and its anonymous and file-backed parts.
    pub rss: u64,
    pub anon: u64,
    pub file: u64,
}

/// The memory lines of a `/proc/self/status` text. Pure.
pub fn parse_memory(text: &str) -> Memory {
    memory_of(&StatusLines::new(text))
}

fn memory_of(lines: &StatusLines<'_>) -> Memory {
    let kib = |name: &str| {
        lines
            .field(name)
            .ok()
            .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Memory {
        peak: kib("VmHWM"),
        rss: kib("VmRSS"),
        anon: kib("RssAnon"),
        file: kib("RssFile"),
    }
}

/// Phases the launch can mark (more than it has, so a mark never drops).
const PHASES: usize = 24;

/// Per-phase durations of the launch, for the `--report` (`timings_us`):
/// one monotonic clock read per phase, no allocation, always on. Each
/// mark is the time since the previous one; `total` is the sum.
#[derive(Clone, Copy, Debug)]
pub struct Timings {
    last: Instant,
    marks: [(&'static str, u64); PHASES],
    len: usize,
}

impl Default for Timings {
    fn default() -> Self {
        Timings::start()
    }
}

impl Timings {
    /// Start the clock now.
    pub fn start() -> Self {
        Timings {
            last: Instant::now(),
            marks: [("", 0); PHASES],
            len: 0,
        }
    }

    /// Record the time since the previous mark as `phase`.
    pub fn mark(&mut self, phase: &'static str) {
        let now = Instant::now();
        let ns = u64::try_from(now.duration_since(self.last).as_nanos()).unwrap_or(u64::MAX);
        if let Some(m) = self.marks.get_mut(self.len) {
            *m = (phase, ns);
            self.len += 1;
        }
        self.last = now;
    }

    /// The marks so far, in nanoseconds.
    pub fn phases(&self) -> &[(&'static str, u64)] {
        self.marks.get(..self.len).unwrap_or_default()
    }
}

/// Microseconds with one decimal.
fn micros(ns: u64) -> f64 {
    (ns / 100) as f64 / 10.0
}

impl Serialize for Timings {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.len + 1))?;
        for (phase, ns) in self.phases() {
            m.serialize_entry(phase, &micros(*ns))?;
        }
        let total = self.phases().iter().map(|(_, ns)| ns).sum();
        m.serialize_entry("total", &micros(total))?;
        m.end()
    }
}

/// Step 5: open `/proc/self/status` and the `--report` target (created
/// now, as root, written just before exec). Both are close-on-exec.
pub fn open_handles(report: Option<&str>) -> Result<Handles> {
    let status = crate::safepath::open_read("/proc/self/status").map_err(|e| {
        Error::apply("verify: /proc/self/status", crate::policy::io_cause(&e))
            .with_hint("the read-back before exec needs /proc mounted")
    })?;
    let report = match report {
        None => None,
        Some("-") => Some(ReportTarget::Stderr),
        // A new file renamed over the name: a link or file the workload
        // left there on an earlier launch is replaced, never written
        // through (see `safepath::create_replacing`).
        Some(p) => Some(ReportTarget::File(report_file(p).map_err(|e| {
            let err = Error::apply(format!("report {p}"), crate::policy::io_cause(&e));
            match e.raw_os_error() {
                // A directory stops the rename over the name, and one the
                // workload made on an earlier launch stops every later one.
                Some(libc::EISDIR) => err.with_hint(
                    "write the report outside the workload's writable paths, or remove the directory",
                ),
                // What only root could have put there (`/dev/null`, the
                // `/dev/stderr` link) is never replaced.
                None if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    err.with_hint("name a new or regular file, or - for standard error")
                }
                _ => err,
            }
        })?)),
    };
    Ok(Handles { status, report })
}

fn report_file(p: &str) -> std::io::Result<File> {
    let abs = if p.starts_with('/') {
        p.to_string()
    } else {
        let cwd = std::env::current_dir()?;
        let cwd = cwd
            .to_str()
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EILSEQ))?;
        format!("{}/{p}", cwd.trim_end_matches('/'))
    };
    crate::safepath::create_replacing(
        &crate::policy::paths::normalize(&abs),
        &crate::safepath::Trust::default(),
        0o644,
    )
}

fn read_status(f: &File) -> Result<String> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = f
            .read_at(&mut chunk, buf.len() as u64)
            .map_err(|e| Error::apply("verify: /proc/self/status", crate::policy::io_cause(&e)))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    String::from_utf8(buf).map_err(|_| Error::apply("verify: /proc/self/status", "not UTF-8"))
}

/// The `/proc/self/status` lines the read-back and the memory report
/// use, found in one pass (the text has about 60 lines; a search from
/// the top for each of 14 names read most of them 14 times).
const STATUS_NAMES: [&str; 14] = [
    "Uid",
    "Gid",
    "Groups",
    "CapInh",
    "CapPrm",
    "CapEff",
    "CapBnd",
    "CapAmb",
    "NoNewPrivs",
    "Seccomp",
    "VmHWM",
    "VmRSS",
    "RssAnon",
    "RssFile",
];

/// The values of the [`STATUS_NAMES`] lines of a status text, trimmed;
/// the first line of each name counts.
struct StatusLines<'a>([Option<&'a str>; STATUS_NAMES.len()]);

impl<'a> StatusLines<'a> {
    fn new(text: &'a str) -> Self {
        let mut found = [None; STATUS_NAMES.len()];
        for line in crate::bytes::lines(text) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if let Some(slot) = STATUS_NAMES
                .iter()
                .position(|n| *n == name)
                .and_then(|i| found.get_mut(i))
            {
                if slot.is_none() {
                    *slot = Some(value.trim());
                }
            }
        }
        StatusLines(found)
    }

    fn field(&self, name: &str) -> Result<&'a str> {
        debug_assert!(
            STATUS_NAMES.contains(&name),
            "{name} is not in STATUS_NAMES"
        );
        STATUS_NAMES
            .iter()
            .position(|n| *n == name)
            .and_then(|i| self.0.get(i).copied().flatten())
            .ok_or_else(|| Error::apply("verify", format!("/proc/self/status has no {name} line")))
    }
}

fn bad(name: &str, v: &str) -> Error {
    Error::apply(
        "verify",
        format!("/proc/self/status: cannot parse {name}: {v:?}"),
    )
}

fn ids(lines: &StatusLines<'_>, name: &str) -> Result<[u32; 4]> {
    let v = lines.field(name)?;
    let n: Vec<u32> = v
        .split_whitespace()
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad(name, v))?;
    n.try_into().map_err(|_| bad(name, v))
}

fn caps(lines: &StatusLines<'_>, name: &str) -> Result<u64> {
    let v = lines.field(name)?;
    u64::from_str_radix(v, 16).map_err(|_| bad(name, v))
}

fn num(lines: &StatusLines<'_>, name: &str) -> Result<u32> {
    let v = lines.field(name)?;
    v.parse().map_err(|_| bad(name, v))
}

/// Parse the lines the read-back needs. Pure.
pub fn parse_status(text: &str, securebits: u32) -> Result<Readback> {
    status_of(&StatusLines::new(text), securebits)
}

fn status_of(text: &StatusLines<'_>, securebits: u32) -> Result<Readback> {
    let g = text.field("Groups")?;
    let mut groups: Vec<u32> = g
        .split_whitespace()
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad("Groups", g))?;
    crate::sort::sort(&mut groups);
    Ok(Readback {
        uid: ids(text, "Uid")?,
        gid: ids(text, "Gid")?,
        groups,
        cap_inh: caps(text, "CapInh")?,
        cap_prm: caps(text, "CapPrm")?,
        cap_eff: caps(text, "CapEff")?,
        cap_bnd: caps(text, "CapBnd")?,
        cap_amb: caps(text, "CapAmb")?,
        no_new_privs: num(text, "NoNewPrivs")?,
        seccomp: num(text, "Seccomp")?,
        securebits,
    })
}

/// Compare a read-back with the plan. Pure.
pub fn compare(rb: &Readback, plan: &Plan) -> Result<()> {
    let id = &plan.identity;
    let c = &plan.capabilities;
    let mismatch = |what: &str, got: String, want: String| {
        Err(Error::apply(
            "verify",
            format!("{what} is {got}, the plan says {want}"),
        ))
    };
    if rb.uid != [id.uid; 4] {
        return mismatch("Uid", format!("{:?}", rb.uid), format!("{:?}", [id.uid; 4]));
    }
    if rb.gid != [id.gid; 4] {
        return mismatch("Gid", format!("{:?}", rb.gid), format!("{:?}", [id.gid; 4]));
    }
    // Switched: the groups set; started unprivileged: the ones inherited
    // (group 0 among them already stopped the launch).
    let mut want = id
        .groups
        .clone()
        .unwrap_or_else(|| id.inherited_groups.clone());
    crate::sort::sort_dedup(&mut want);
    if rb.groups != want {
        return mismatch("Groups", format!("{:?}", rb.groups), format!("{want:?}"));
    }
    for (name, got, want) in [
        ("CapInh", rb.cap_inh, c.mask),
        ("CapPrm", rb.cap_prm, c.mask),
        ("CapEff", rb.cap_eff, c.mask),
        ("CapAmb", rb.cap_amb, c.mask),
        ("CapBnd", rb.cap_bnd, c.bounding),
    ] {
        if got != want {
            return mismatch(name, format!("{got:016x}"), format!("{want:016x}"));
        }
    }
    if rb.no_new_privs != 1 {
        return mismatch("NoNewPrivs", rb.no_new_privs.to_string(), "1".into());
    }
    if rb.seccomp != 2 {
        return mismatch("Seccomp", rb.seccomp.to_string(), "2 (filter)".into());
    }
    let bits = crate::capabilities::securebits_value(&c.securebits);
    if !c.securebits.is_empty() && rb.securebits != bits {
        return mismatch(
            "securebits",
            format!("{:#x}", rb.securebits),
            format!("{bits:#x}"),
        );
    }
    Ok(())
}

/// Step 12: read back and compare with the plan; also the memory lines.
/// `securebits` was read before the filter went in (step 8 locked them):
/// a policy may deny `prctl` to its workload, and after step 11 that
/// denies it to the supervisor too.
pub fn readback(h: &Handles, plan: &Plan, securebits: u32) -> Result<(Readback, Memory)> {
    let text = read_status(&h.status)?;
    let lines = StatusLines::new(&text);
    let rb = status_of(&lines, securebits)?;
    compare(&rb, plan)?;
    Ok((rb, memory_of(&lines)))
}

/// Write the `--report` (what `apply` returns: the read-back, Landlock and
/// seccomp status, as JSON), just before exec.
pub fn write_report(h: &Handles, applied: &impl Serialize) -> Result<()> {
    let Some(target) = &h.report else {
        return Ok(());
    };
    let mut text =
        serde_json::to_string_pretty(applied).map_err(|e| Error::Internal(e.to_string()))?;
    text.push('\n');
    let r = match target {
        ReportTarget::Stderr => std::io::stderr().write_all(text.as_bytes()),
        ReportTarget::File(f) => {
            let mut f: &File = f;
            f.write_all(text.as_bytes())
        }
    };
    r.map_err(|e| {
        Error::apply(
            "report",
            format!("write failed: {}", crate::policy::io_cause(&e)),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tprobe\nUid:\t1500\t1500\t1500\t1500\nGid:\t1500\t1500\t1500\t1500\nGroups:\t1700 1600 \nCapInh:\t0000000000000400\nCapPrm:\t0000000000000400\nCapEff:\t0000000000000400\nCapBnd:\t0000000000000400\nCapAmb:\t0000000000000400\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n";

    fn plan() -> Plan {
        let policy = crate::policy::parse_str(
            "t.yaml",
            "version: 1\nprocess: {run_as_user: 1500, supplementary_groups: [1600, 1700]}\ncapabilities: {keep: [NET_BIND_SERVICE]}\n",
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let host = crate::probe::HostFacts {
            caps: crate::capabilities::CapState {
                effective: (1 << 41) - 1,
                permitted: (1 << 41) - 1,
                inheritable: 0,
                bounding: (1 << 41) - 1,
            },
            ..Default::default()
        };
        crate::plan::build(
            &policy,
            &crate::policy::select_source(None, None, false),
            &crate::plan::RunOptions::default(),
            &host,
        )
    }

    #[test]
    fn timings_serialize_in_order_with_a_total() {
        let mut t = Timings::start();
        t.mark("load");
        t.mark("plan");
        let v = serde_json::to_value(t).unwrap_or_else(|e| panic!("{e}"));
        let keys: Vec<&String> = v
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys.len(), 3);
        let sum: f64 = t.phases().iter().map(|(_, ns)| *ns as f64).sum::<f64>() / 1000.0;
        assert!(
            (v["total"].as_f64().unwrap_or(-1.0) - sum).abs() < 0.2,
            "{v}"
        );
        assert_eq!(
            t.phases().iter().map(|(p, _)| *p).collect::<Vec<_>>(),
            ["load", "plan"]
        );
    }

    #[test]
    fn parses_memory_lines() {
        let m = parse_memory(
            "VmHWM:\t    1552 kB\nVmRSS:\t    1536 kB\nRssAnon:\t     176 kB\nRssFile:\t    1360 kB\n",
        );
        assert_eq!(
            m,
            Memory {
                peak: 1552,
                rss: 1536,
                anon: 176,
                file: 1360
            }
        );
        assert_eq!(parse_memory(STATUS), Memory::default());
    }

    #[test]
    fn a_status_line_counts_by_its_whole_name_and_the_first_one_wins() {
        let text = "UidX:\t0 0 0 0\nUid:\t7 7 7 7\nUid:\t0 0 0 0\nVmRSS:\t  12 kB\r\n";
        let lines = StatusLines::new(text);
        assert_eq!(lines.field("Uid").ok(), Some("7 7 7 7"));
        assert_eq!(ids(&lines, "Uid").ok(), Some([7; 4]));
        assert_eq!(parse_memory(text).rss, 12);
        assert_eq!(
            lines.field("Gid").err().map(|e| e.to_string()).as_deref(),
            Some("verify: /proc/self/status has no Gid line")
        );
    }

    #[test]
    fn parses_status() {
        let rb = parse_status(STATUS, 0x2f).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rb.uid, [1500; 4]);
        assert_eq!(rb.groups, [1600, 1700]);
        assert_eq!((rb.cap_amb, rb.no_new_privs, rb.seccomp), (0x400, 1, 2));
        let e = parse_status("Uid:\t1\n", 0).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("verify: /proc/self/status has no Groups line")
        );
    }

    #[test]
    fn matching_readback_passes_and_each_difference_fails() {
        let p = plan();
        assert!(p.blockers.is_empty(), "{:?}", p.blockers);
        let rb = parse_status(STATUS, 0x2f).unwrap_or_else(|e| panic!("{e}"));
        assert!(compare(&rb, &p).is_ok());
        type Change = fn(&mut Readback);
        let cases: [(Change, &str); 6] = [
            (
                |r| r.uid[2] = 0,
                "verify: Uid is [1500, 1500, 0, 1500], the plan says [1500, 1500, 1500, 1500]",
            ),
            (
                |r| r.groups = vec![0],
                "verify: Groups is [0], the plan says [1600, 1700]",
            ),
            (
                |r| r.cap_eff = 0x600,
                "verify: CapEff is 0000000000000600, the plan says 0000000000000400",
            ),
            (
                |r| r.no_new_privs = 0,
                "verify: NoNewPrivs is 0, the plan says 1",
            ),
            (
                |r| r.seccomp = 0,
                "verify: Seccomp is 0, the plan says 2 (filter)",
            ),
            (
                |r| r.securebits = 0,
                "verify: securebits is 0x0, the plan says 0x2f",
            ),
        ];
        for (change, msg) in cases {
            let mut r = rb.clone();
            change(&mut r);
            assert_eq!(
                compare(&r, &p).err().map(|e| e.to_string()).as_deref(),
                Some(msg)
            );
        }
    }
}
