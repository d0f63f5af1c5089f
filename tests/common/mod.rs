//! Shared helpers for the tests that spawn the real binary.
//!
//! A test that cannot run here (not root, kernel lacks a feature, tool
//! missing) calls [`skip`], which prints `SKIP <test>: <reason>` and
//! returns `true` — unless `OPENSHELL_TEST_STRICT=1`, where it panics, so a
//! green CI run means every test ran.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub const BIN: &str = env!("CARGO_BIN_EXE_openshell-sandbox");

pub fn strict() -> bool {
    std::env::var("OPENSHELL_TEST_STRICT").is_ok_and(|v| v == "1")
}

/// Append a skip to `target/test-skips.txt`, which tests/run.sh prints and
/// counts at the end (the test harness hides the output of passing tests).
fn record_skip(line: &str) {
    use std::io::Write as _;
    eprintln!("{line}");
    let path = target_dir().join("test-skips.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

/// Report a skip. Returns true (the caller returns) unless strict, where a
/// skip is a failure.
pub fn skip(test: &str, reason: &str) -> bool {
    if strict() {
        panic!("SKIP {test}: {reason} (OPENSHELL_TEST_STRICT=1 forbids skips)");
    }
    record_skip(&format!("SKIP {test}: {reason}"));
    true
}

#[allow(unsafe_code)]
pub fn is_root() -> bool {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Skip unless root. `if need_root("t") { return; }`
pub fn need_root(test: &str) -> bool {
    !is_root() && skip(test, "needs root")
}

/// The Landlock ABI of the running kernel (0 when unavailable).
#[allow(unsafe_code)]
pub fn landlock_abi() -> u32 {
    // SAFETY: NULL attr with size 0 and the VERSION flag reads no memory.
    let r = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, 0usize, 0usize, 1u32) };
    u32::try_from(r).unwrap_or(0)
}

/// Skip unless the kernel offers Landlock ABI `abi`.
///
/// `OPENSHELL_TEST_LANDLOCK_ABI` declares the ABI the test machine's kernel
/// is expected to have (CI sets it). A test needing more than that is a
/// counted skip even in strict mode — the kernel cannot run it — while a
/// kernel below the declared ABI fails, so an expected feature never goes
/// silently untested. Unset, any missing ABI is an ordinary skip.
pub fn need_abi(test: &str, abi: u32) -> bool {
    let have = landlock_abi();
    let expected = std::env::var("OPENSHELL_TEST_LANDLOCK_ABI")
        .ok()
        .and_then(|v| v.parse::<u32>().ok());
    if let Some(e) = expected {
        assert!(
            have >= e,
            "the kernel offers Landlock ABI {have} but OPENSHELL_TEST_LANDLOCK_ABI={e} expects at least that"
        );
    }
    if have >= abi {
        return false;
    }
    let reason = format!("needs Landlock ABI {abi}, kernel has {have}");
    match expected {
        Some(e) if e < abi => {
            record_skip(&format!(
                "SKIP {test}: {reason} (beyond the declared ABI {e}; counted)"
            ));
            true
        }
        _ => skip(test, &reason),
    }
}

pub fn target_dir() -> PathBuf {
    // .../target/debug/openshell-sandbox -> .../target
    Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// Where scratch directories live: a root-only directory in /run, not
/// beneath the checkout. The supervisor refuses a policy or CDI spec that
/// lies beneath a path the policy makes writable, and many test policies
/// grant /tmp, where a checkout may well be.
fn scratch_root() -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let run = Path::new("/run");
    if std::fs::metadata(run).is_ok_and(|m| m.uid() == 0 && m.mode() & 0o022 == 0) {
        run.join("openshell-sandbox-tests")
    } else {
        target_dir().join("test-scratch")
    }
}

/// A scratch directory unique to one test, removed and recreated.
pub fn scratch(test: &str) -> PathBuf {
    let d = scratch_root().join(test);
    remove_tree(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The mount points at or beneath `d` in this mount namespace, deepest
/// first (read with the supervisor's own mountinfo parser).
pub fn mounts_beneath(d: &Path) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let text = std::fs::read("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<PathBuf> = openshell_sandbox::probe::parse_mounts(&text)
        .unwrap_or_default()
        .into_iter()
        .map(|m| PathBuf::from(std::ffi::OsStr::from_bytes(&m.point)))
        .filter(|p| p.starts_with(d))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    points
}

/// Delete `d` and everything in it, after unmounting whatever a test
/// mounted beneath it. A run killed while a test had a system tree bound
/// there (a bind of /etc, say) leaves the mount behind, and a recursive
/// delete would go through it; if a mount cannot be taken away, nothing
/// is deleted and the test stops.
pub fn remove_tree(d: &Path) {
    for _ in 0..4 {
        for m in mounts_beneath(d) {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
    }
    let left = mounts_beneath(d);
    assert!(
        left.is_empty(),
        "{} still has mounts beneath it ({left:?}): not deleting it",
        d.display()
    );
    let _ = std::fs::remove_dir_all(d);
}

/// The static test workload (tests/probe/probe.c), built once per run.
pub fn probe() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probe/probe.c");
        let dir = target_dir().join("probe");
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("probe");
        let tmp = dir.join(format!("probe.{}", std::process::id()));
        let st = Command::new("gcc")
            .args(["-static", "-O2", "-o"])
            .arg(&tmp)
            .arg(&src)
            .status()
            .expect("gcc is needed to build the test workload (apt-get install gcc)");
        assert!(st.success(), "building tests/probe/probe.c failed");
        std::fs::rename(&tmp, &out).unwrap();
        out
    })
    .clone()
}

/// Write `policy` to `dir/policy.yaml` and return its path. The
/// supervisor refuses a policy anyone but root could change, so when `dir`
/// (or a directory above it) is writable by others, as many scratch
/// directories are on purpose, the policy goes to a root-only twin of it
/// under `target/test-policies` instead.
pub fn write_policy(dir: &Path, policy: &str) -> PathBuf {
    let dir = if root_only(dir) {
        dir.to_path_buf()
    } else {
        let rel = dir.strip_prefix(scratch_root()).unwrap_or(dir);
        let twin = scratch_root()
            .join("policies")
            .join(rel.strip_prefix("/").unwrap_or(rel));
        std::fs::create_dir_all(&twin).unwrap();
        twin
    };
    let p = dir.join("policy.yaml");
    std::fs::write(&p, policy).unwrap();
    p
}

/// `dir` and every directory above it are root's alone.
fn root_only(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    dir.ancestors()
        .all(|d| std::fs::metadata(d).is_ok_and(|m| m.uid() == 0 && m.mode() & 0o022 == 0))
}

/// A policy with the usual system paths, the probe's directory readable
/// and `extra` appended (YAML text at top level).
pub fn base_policy(extra_ro: &[&str], extra_rw: &[&str], extra: &str) -> String {
    let probe_dir = probe().parent().unwrap().display().to_string();
    let mut ro = vec!["/usr", "/bin", "/lib", "/etc", "/proc", probe_dir.as_str()];
    if Path::new("/lib64").exists() {
        ro.push("/lib64");
    }
    ro.extend_from_slice(extra_ro);
    let mut rw = vec!["/dev/null"];
    rw.extend_from_slice(extra_rw);
    format!(
        "version: 1\nfilesystem_policy:\n  read_only: [{}]\n  read_write: [{}]\n{extra}",
        ro.join(", "),
        rw.join(", ")
    )
}

pub struct Run {
    pub code: i32,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(o: Output) -> Run {
        use std::os::unix::process::ExitStatusExt;
        Run {
            code: o.status.code().unwrap_or(-1),
            signal: o.status.signal(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    pub fn explain(&self) -> String {
        format!(
            "exit={} signal={:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.signal, self.stdout, self.stderr
        )
    }
}

/// Run the sandbox with `policy` (a file path) and the given extra args,
/// then `-- workload...`.
pub fn sandbox(policy: &Path, args: &[&str], workload: &[&str]) -> Run {
    sandbox_env(policy, args, workload, &[])
}

pub fn sandbox_env(policy: &Path, args: &[&str], workload: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(BIN);
    c.arg("--policy")
        .arg(policy)
        .args(args)
        .arg("--")
        .args(workload);
    for (k, v) in env {
        c.env(k, v);
    }
    Run::from(
        c.stdin(Stdio::null())
            .output()
            .expect("spawn openshell-sandbox"),
    )
}

/// Run a workload without the sandbox (the control case).
pub fn bare(workload: &[&str]) -> Run {
    let (cmd, rest) = workload.split_first().unwrap();
    Run::from(
        Command::new(cmd)
            .args(rest)
            .stdin(Stdio::null())
            .output()
            .expect("spawn control workload"),
    )
}

/// Run the probe bare as an unprivileged uid (the control for root).
pub fn bare_as(uid: u32, workload: &[&str]) -> Run {
    let mut c = Command::new("setpriv");
    c.args([
        format!("--reuid={uid}"),
        format!("--regid={uid}"),
        "--clear-groups".to_string(),
        "--".to_string(),
    ]);
    c.args(workload);
    Run::from(c.stdin(Stdio::null()).output().expect("spawn setpriv"))
}

pub fn write_file(p: &Path, content: &str) {
    let mut f = std::fs::File::create(p).unwrap();
    f.write_all(content.as_bytes()).unwrap();
}

/// Run `c` (stdin from /dev/null) and fail the test, rather than hang it,
/// when it has not exited within `secs` seconds.
pub fn output_within(c: &mut Command, secs: u64) -> Run {
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn openshell-sandbox");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if child.try_wait().unwrap().is_some() {
            return Run::from(child.wait_with_output().unwrap());
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let r = Run::from(child.wait_with_output().unwrap());
            panic!("still running after {secs} s (killed)\n{}", r.explain());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Make a FIFO at `p` (nobody ever opens its write end).
pub fn mkfifo(p: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    #[allow(unsafe_code)]
    let r = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(r, 0, "mkfifo {}", p.display());
}

/// tests/probe/nolandlock.c, built once: `nolandlock ERRNO CMD...` runs CMD
/// with the landlock_* syscalls failing with ERRNO (a seccomp filter), as
/// on a kernel without Landlock or under a profile that blocks it.
pub fn nolandlock() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probe/nolandlock.c");
        let dir = probe().parent().unwrap().to_path_buf();
        let out = dir.join("nolandlock");
        let tmp = dir.join(format!("nolandlock.{}", std::process::id()));
        let st = Command::new("gcc")
            .args(["-static", "-O2", "-o"])
            .arg(&tmp)
            .arg(&src)
            .status()
            .expect("gcc is needed to build tests/probe/nolandlock.c");
        assert!(st.success(), "building tests/probe/nolandlock.c failed");
        std::fs::rename(&tmp, &out).unwrap();
        out
    })
    .clone()
}

/// Root, Landlock at `abi`, and a fresh scratch directory that is 0777, so
/// an outcome is the same whether the workload runs as root or as 1500
/// (root bypasses permission bits, never Landlock).
pub fn open_scratch(test: &str, abi: u32) -> Option<PathBuf> {
    if need_root(test) || need_abi(test, abi) {
        return None;
    }
    let d = scratch(test);
    chmod(&d, 0o777);
    Some(d)
}

pub fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `parent/name`, created and made 0777.
pub fn open_dir(parent: &Path, name: &str) -> String {
    let d = parent.join(name);
    std::fs::create_dir_all(&d).unwrap();
    chmod(&d, 0o777);
    d.display().to_string()
}

// ---- pods and runtimes: the static build, tool lookup, workload output

/// `cmd` on PATH.
pub fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(cmd))
        .find(|p| p.is_file())
}

/// A 64-bit little-endian ELF executable without a program interpreter.
pub fn is_static_elf(p: &Path) -> bool {
    let Ok(b) = std::fs::read(p) else {
        return false;
    };
    let u16_at = |o: usize| b.get(o..o + 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
    let u32_at = |o: usize| {
        b.get(o..o + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    };
    let u64_at = |o: usize| {
        b.get(o..o + 8)
            .map(|s| u64::from_le_bytes(s.try_into().unwrap()))
    };
    if b.get(..6) != Some(b"\x7fELF\x02\x01") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(32), u16_at(54), u16_at(56)) else {
        return false;
    };
    (0..usize::from(phnum)).all(|i| {
        let at = phoff as usize + i * usize::from(phentsize);
        // PT_INTERP = 3
        u32_at(at).is_some_and(|ty| ty != 3)
    })
}

/// The static musl build of this tree, made (or found up to date) by
/// `cross/build.sh`, once per test binary: the debug build is dynamic and
/// would not run in a busybox or distroless image.
pub fn static_sandbox() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let arch = std::env::consts::ARCH;
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new(root.join("cross/build.sh"))
            .arg(arch)
            .current_dir(root)
            .env("CARGO_TARGET_DIR", target_dir())
            .stdin(Stdio::null())
            .output()
            .expect("run cross/build.sh");
        assert!(
            out.status.success(),
            "cross/build.sh {arch} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let p = target_dir().join(format!(
            "{arch}-unknown-linux-musl/release/openshell-sandbox"
        ));
        assert!(
            is_static_elf(&p),
            "{} is not a static executable",
            p.display()
        );
        p
    })
    .clone()
}

/// The bytes of `bin` (whose build commit is `bin version --json`'s) with
/// every copy of that commit id rewritten: the same code, another
/// `--version` line, to tell two builds apart in hot-replacement tests.
pub fn with_other_commit(bin: &Path, bytes: &[u8]) -> Vec<u8> {
    let info: serde_json::Value = serde_json::from_slice(
        &Command::new(bin)
            .args(["version", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let commit = info["commit"].as_str().unwrap().to_string();
    assert!(
        commit.len() >= 12 && commit.bytes().all(|c| c.is_ascii_hexdigit()),
        "the build has no commit id to tell two versions apart: {commit:?}"
    );
    let other: String = commit
        .chars()
        .map(|c| char::from_digit((c.to_digit(16).unwrap() + 1) % 16, 16).unwrap())
        .collect();
    let mut b = bytes.to_vec();
    let mut at = 0;
    while let Some(i) = b[at..]
        .windows(commit.len())
        .position(|w| w == commit.as_bytes())
    {
        b[at + i..at + i + commit.len()].copy_from_slice(other.as_bytes());
        at += i + commit.len();
    }
    b
}

/// The workload printed exactly `line`.
pub fn has_line(r: &Run, line: &str) {
    assert!(
        r.stdout.lines().any(|l| l == line),
        "expected the line {line:?}\n{}",
        r.explain()
    );
}

/// The value of a `/proc/self/status` line the workload printed.
pub fn status(r: &Run, key: &str) -> String {
    r.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key}: line\n{}", r.explain()))
        .trim()
        .to_string()
}

/// The supervisor's lines that are neither info nor the warnings about
/// what this kernel does not enforce (every best_effort launch here logs
/// those): what a failed launch says.
pub fn errors(r: &Run) -> Vec<&str> {
    r.stderr
        .lines()
        .filter(|l| !l.starts_with("openshell-sandbox: info: "))
        .filter(|l| !l.starts_with("openshell-sandbox: warning: not enforced: "))
        .collect()
}
