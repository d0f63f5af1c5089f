//! Replacing the node's binary while pods start from it, and the checks
//! `openshell-sandbox install` makes before it replaces anything.
//!
//! The race tests run `DEST --version` in a loop (at least 500 launches)
//! while DEST is replaced 50 times, alternating between two builds that
//! print different versions: A (the test binary) and B (A with its
//! embedded commit id rewritten). A launch fails when the exec fails
//! (ENOENT, ETXTBSY, ENOEXEC, ...), the process dies or exits non-zero, or
//! it prints anything but A's or B's version line.
//!
//! How the replacements are made:
//!
//! - `docker cp`: the daemon extracts the copied tar with moby's
//!   pkg/archive (`Unpack` -> `createTarFile`), which removes the existing
//!   path, creates it again with the mode from the tar header
//!   (`O_CREAT|O_WRONLY|O_TRUNC`), streams the bytes through that fd, closes
//!   it, then chowns, chmods and sets the times. `kubectl cp` runs `tar x`
//!   in the container, which also unlinks before it writes. The emulation
//!   does the same, in 256 KiB writes with a short pause between them, as
//!   a stream from the client arrives. A launch in that window finds no
//!   file (ENOENT) or a file that is open for writing (ETXTBSY); a copy that
//!   stops half way (client killed, disk full) leaves a truncated binary.
//! - in place: open the existing file `O_WRONLY|O_TRUNC` and write, as
//!   `cp new DEST` does. The kernel refuses that open with ETXTBSY while a
//!   launch runs (the writer retries, counting the refusals), and refuses
//!   launches while it writes.
//! - `openshell-sandbox install` (`--from` a staged copy, or the staged
//!   copy installing itself): required to cause no failed launch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{BIN, scratch};

const LAUNCHES: usize = 500;
const REPLACEMENTS: usize = 50;
const CHUNK: usize = 256 * 1024;
const PAUSE: Duration = Duration::from_micros(200);
const LAUNCH_EVERY: Duration = Duration::from_millis(1);

fn errno_name(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ETXTBSY) => "ETXTBSY".into(),
        Some(libc::ENOENT) => "ENOENT".into(),
        Some(libc::ENOEXEC) => "ENOEXEC".into(),
        Some(libc::EACCES) => "EACCES".into(),
        Some(n) => format!("errno {n}"),
        None => e.to_string(),
    }
}

/// The tests here write executables and run them. A test thread that
/// forks while another holds a freshly written executable open for writing
/// makes that exec fail with ETXTBSY (the fd lives in the child until its
/// exec closes it), so the tests of this file run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn version_line(bin: &Path) -> String {
    let o = Command::new(bin).arg("--version").output().unwrap();
    assert!(o.status.success(), "{} --version failed", bin.display());
    String::from_utf8(o.stdout).unwrap()
}

fn executable_copy(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Two runnable builds that print different version lines.
struct Builds {
    a: PathBuf,
    b: PathBuf,
    a_bytes: Vec<u8>,
    b_bytes: Vec<u8>,
    a_line: String,
    b_line: String,
}

/// A is the test binary; B is A with every copy of its commit id replaced
/// by another id of the same length, so it runs the same code and prints
/// another version line. Without a commit id (a build outside git) B is
/// A, and the launches cannot tell the two apart.
fn builds(dir: &Path) -> Builds {
    let a_bytes = fs::read(BIN).unwrap();
    let json: serde_json::Value = serde_json::from_slice(
        &Command::new(BIN)
            .args(["version", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let commit = json["commit"].as_str().unwrap().to_string();
    let mut b_bytes = a_bytes.clone();
    if commit.len() >= 12 && commit.bytes().all(|c| c.is_ascii_hexdigit()) {
        let other: Vec<u8> = commit
            .chars()
            .map(|c| {
                let d = c.to_digit(16).unwrap();
                char::from_digit((d + 1) % 16, 16).unwrap() as u8
            })
            .collect();
        let needle = commit.as_bytes();
        let mut i = 0;
        while let Some(at) = b_bytes[i..].windows(needle.len()).position(|w| w == needle) {
            b_bytes[i + at..i + at + needle.len()].copy_from_slice(&other);
            i += at + needle.len();
        }
    }
    let (a, b) = (dir.join("a"), dir.join("b"));
    executable_copy(&a, &a_bytes);
    executable_copy(&b, &b_bytes);
    let (a_line, b_line) = (version_line(&a), version_line(&b));
    if a_line == b_line {
        eprintln!("note: no commit id to rewrite ({commit:?}): builds A and B are identical");
    }
    Builds {
        a,
        b,
        a_bytes,
        b_bytes,
        a_line,
        b_line,
    }
}

#[derive(Default, Debug)]
struct Tally {
    launches: usize,
    saw_a: usize,
    saw_b: usize,
    /// Launches that started while a replacement was in progress.
    during_replacement: usize,
    failures: BTreeMap<String, usize>,
}

impl Tally {
    fn failed(&self) -> usize {
        self.failures.values().sum()
    }

    fn report(&self, how: &str, extra: &str) -> String {
        format!(
            "hot replacement by {how}: {} launches ({} during a replacement), \
             {} failed {:?}, {} saw A, {} saw B{extra}",
            self.launches,
            self.during_replacement,
            self.failed(),
            self.failures,
            self.saw_a,
            self.saw_b
        )
    }
}

/// One launch of `dest --version`: which build answered, or why it failed.
fn launch(dest: &Path, builds: &Builds) -> Result<char, String> {
    let out = Command::new(dest)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("exec {}", errno_name(&e)))?;
    if let Some(sig) = out.status.signal() {
        return Err(format!("signal {sig}"));
    }
    if !out.status.success() {
        return Err(format!("exit {}", out.status.code().unwrap_or(-1)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    if text == builds.a_line {
        Ok('A')
    } else if text == builds.b_line {
        Ok('B')
    } else {
        Err("garbled output".into())
    }
}

/// Launch `dest` in a loop while `replace(i)` runs 50 times; after each
/// replacement wait for 10 more launches, so launches land both during
/// replacements and on the settled file between them.
fn race(dest: &Path, builds: &Builds, mut replace: impl FnMut(usize)) -> Tally {
    let done = AtomicBool::new(false);
    let replacing = AtomicBool::new(false);
    let launches = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let launcher = s.spawn(|| {
            let mut t = Tally::default();
            let mut next = Instant::now();
            while !(done.load(Ordering::SeqCst) && t.launches >= LAUNCHES) {
                // Pods start at a pace, not in a tight loop: a failed exec
                // returns at once and would otherwise inflate the count.
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                next = Instant::now() + LAUNCH_EVERY;
                let during = replacing.load(Ordering::SeqCst);
                match launch(dest, builds) {
                    Ok('A') => t.saw_a += 1,
                    Ok(_) => t.saw_b += 1,
                    Err(kind) => *t.failures.entry(kind).or_default() += 1,
                }
                t.launches += 1;
                t.during_replacement += usize::from(during);
                launches.fetch_add(1, Ordering::SeqCst);
            }
            t
        });
        for i in 0..REPLACEMENTS {
            replacing.store(true, Ordering::SeqCst);
            replace(i);
            replacing.store(false, Ordering::SeqCst);
            let after = launches.load(Ordering::SeqCst);
            while launches.load(Ordering::SeqCst) < after + LAUNCHES / REPLACEMENTS {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        done.store(true, Ordering::SeqCst);
        launcher.join().unwrap()
    })
}

/// Even replacements install B, odd ones A (DEST starts as A).
fn pick(i: usize, builds: &Builds) -> (&Path, &[u8]) {
    if i % 2 == 0 {
        (&builds.b, &builds.b_bytes)
    } else {
        (&builds.a, &builds.a_bytes)
    }
}

/// What `docker cp` does to an existing file (see the module comment).
fn docker_cp(bytes: &[u8], dest: &Path) {
    match fs::remove_file(dest) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("remove {}: {e}", dest.display()),
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(dest)
        .unwrap();
    for chunk in bytes.chunks(CHUNK) {
        f.write_all(chunk).unwrap();
        std::thread::sleep(PAUSE);
    }
    drop(f);
    fs::set_permissions(dest, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Rewrite the existing inode; returns how often the open met ETXTBSY.
fn overwrite_in_place(bytes: &[u8], dest: &Path) -> usize {
    let mut refused = 0;
    let mut f = loop {
        match OpenOptions::new().write(true).truncate(true).open(dest) {
            Ok(f) => break f,
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                refused += 1;
                std::thread::sleep(Duration::from_micros(100));
            }
            Err(e) => panic!("open {}: {e}", dest.display()),
        }
    };
    for chunk in bytes.chunks(CHUNK) {
        f.write_all(chunk).unwrap();
        std::thread::sleep(PAUSE);
    }
    refused
}

fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".install-"))
        .collect()
}

#[test]
fn docker_cp_style_replacement_breaks_concurrent_launches() {
    let _serial = serial();
    let dir = scratch("hot_replace_docker_cp");
    let builds = builds(&dir);
    let dest = dir.join("node").join("openshell-sandbox");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();

    executable_copy(&dest, &builds.a_bytes);
    let started = Instant::now();
    let t = race(&dest, &builds, |i| docker_cp(pick(i, &builds).1, &dest));
    println!(
        "{}",
        t.report(
            "docker cp (unlink, create, write)",
            &format!(", {:.1} s", started.elapsed().as_secs_f64())
        )
    );
    assert!(t.launches >= LAUNCHES, "{t:?}");

    executable_copy(&dest, &builds.a_bytes);
    let started = Instant::now();
    let mut refused = 0;
    let t = race(&dest, &builds, |i| {
        refused += overwrite_in_place(pick(i, &builds).1, &dest);
    });
    println!(
        "{}",
        t.report(
            "in-place rewrite (O_WRONLY|O_TRUNC)",
            &format!(
                ", the writer's open met ETXTBSY {refused} times, {:.1} s",
                started.elapsed().as_secs_f64()
            )
        )
    );
    assert!(t.launches >= LAUNCHES, "{t:?}");
    // Failures are expected here and only reported: this is the problem
    // `install` exists to solve.
}

#[test]
fn install_never_exposes_a_partial_binary_to_concurrent_launches() {
    let _serial = serial();
    let dir = scratch("hot_replace_install");
    let builds = builds(&dir);
    let dest = dir.join("node").join("openshell-sandbox");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    executable_copy(&dest, &builds.a_bytes);

    let started = Instant::now();
    let t = race(&dest, &builds, |i| {
        let (staged, _) = pick(i, &builds);
        // Alternate the two documented forms: the running binary installs
        // a staged file, and the staged file installs itself.
        let out = if i % 4 < 2 {
            Command::new(BIN)
                .arg("install")
                .arg("--from")
                .arg(staged)
                .arg(&dest)
                .output()
        } else {
            Command::new(staged).arg("install").arg(&dest).output()
        }
        .unwrap();
        assert!(
            out.status.success(),
            "install {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("installed "));
    });
    println!(
        "{}",
        t.report(
            "openshell-sandbox install",
            &format!(", {:.1} s", started.elapsed().as_secs_f64())
        )
    );
    assert!(t.launches >= LAUNCHES, "{t:?}");
    assert!(
        t.during_replacement > 0,
        "no launch overlapped an install: {t:?}"
    );
    assert_eq!(t.failed(), 0, "install exposed a broken binary: {t:?}");
    if builds.a_line != builds.b_line {
        assert!(t.saw_a > 0 && t.saw_b > 0, "{t:?}");
    }
    assert_eq!(leftovers(dest.parent().unwrap()), Vec::<String>::new());
}

#[test]
fn install_replaces_a_running_binary_without_disturbing_it() {
    let _serial = serial();
    let dir = scratch("install_running");
    let builds = builds(&dir);
    let dest = dir.join("openshell-sandbox");
    executable_copy(&dest, &builds.a_bytes);
    let old_ino = fs::metadata(&dest).unwrap().ino();

    // A long-running process from DEST: the PID-1-style parent (`--init`,
    // embedded default policy) of a workload that waits for a line on the
    // pipe we hold open.
    let mut running = Command::new(&dest)
        .args([
            "--init",
            "--log-level",
            "error",
            "--",
            "/bin/sh",
            "-c",
            "read x; echo \"got: $x\"",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let exe = PathBuf::from(format!("/proc/{}/exe", running.id()));
    let real = fs::canonicalize(&dest).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::read_link(&exe).ok().as_deref() != Some(real.as_path()) {
        assert!(
            Instant::now() < deadline,
            "the process never ran {}",
            dest.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    // Control: writing into the running file, as `cp` would, is refused.
    let in_place = OpenOptions::new().write(true).open(&dest);
    assert_eq!(
        in_place.err().and_then(|e| e.raw_os_error()),
        Some(libc::ETXTBSY)
    );

    let out = Command::new(BIN)
        .arg("install")
        .arg("--from")
        .arg(&builds.b)
        .arg(&dest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("installed {}: {}", dest.display(), builds.b_line)
    );
    assert_ne!(fs::metadata(&dest).unwrap().ino(), old_ino);
    assert_eq!(fs::read(&dest).unwrap(), builds.b_bytes);
    assert_eq!(version_line(&dest), builds.b_line);
    // The running process still runs the old, now unlinked, inode.
    assert_eq!(
        fs::read_link(&exe).unwrap(),
        PathBuf::from(format!("{} (deleted)", real.display()))
    );

    let mut stdin = running.stdin.take().unwrap();
    stdin.write_all(b"version: 1\n").unwrap();
    drop(stdin);
    let out = running.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got: version: 1\n");
}

#[test]
fn install_copies_itself_with_mode_0755() {
    let _serial = serial();
    let dir = scratch("install_self");
    let builds = builds(&dir);
    let dest = dir.join("bin").join("openshell-sandbox");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let out = Command::new(&builds.b)
        .arg("install")
        .arg(&dest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("installed {}: {}", dest.display(), builds.b_line)
    );
    let meta = fs::metadata(&dest).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
    assert_eq!(fs::read(&dest).unwrap(), builds.b_bytes);
    assert_eq!(leftovers(dest.parent().unwrap()), Vec::<String>::new());
}

/// Run `BIN install --from FROM DEST` where DEST holds build A; expect exit
/// 1, exactly one of the `stderr` texts, DEST untouched and no temporary
/// file left.
fn refused(
    test: &str,
    from: &dyn Fn(&Path, &Builds) -> PathBuf,
    stderr: &dyn Fn(&Path) -> Vec<String>,
) {
    let dir = scratch(test);
    let builds = builds(&dir);
    let dest = dir.join("node").join("openshell-sandbox");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    executable_copy(&dest, &builds.a_bytes);
    let src = from(&dir, &builds);
    let out = Command::new(BIN)
        .arg("install")
        .arg("--from")
        .arg(&src)
        .arg(&dest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let got = String::from_utf8_lossy(&out.stderr).into_owned();
    let want = stderr(&src);
    assert!(
        want.contains(&got),
        "stderr {got:?}, expected one of {want:?}"
    );
    assert_eq!(fs::read(&dest).unwrap(), builds.a_bytes, "DEST changed");
    assert_eq!(leftovers(dest.parent().unwrap()), Vec::<String>::new());
}

#[test]
fn install_refuses_a_half_written_binary() {
    let _serial = serial();
    // What an interrupted `docker cp` leaves behind: the first 64 KiB.
    refused(
        "install_half_written",
        &|dir, b| {
            let p = dir.join("half");
            executable_copy(&p, &b.a_bytes[..64 * 1024]);
            p
        },
        &|src| {
            // Where the truncated image faults depends on its layout.
            ["signal: 11 (SIGSEGV)", "signal: 7 (SIGBUS)"]
                .iter()
                .map(|s| {
                    format!(
                        "openshell-sandbox: install: {}: --version failed: {s}\n",
                        src.display()
                    )
                })
                .collect()
        },
    );
}

#[test]
fn install_refuses_a_binary_for_another_machine() {
    let _serial = serial();
    let (other, name, ours) = if cfg!(target_arch = "x86_64") {
        (183u16, "aarch64", "x86_64")
    } else {
        (62u16, "x86_64", "aarch64")
    };
    refused(
        "install_other_machine",
        &|dir, b| {
            let p = dir.join("foreign");
            let mut bytes = b.a_bytes.clone();
            bytes[18..20].copy_from_slice(&other.to_le_bytes());
            executable_copy(&p, &bytes);
            p
        },
        &|src| {
            vec![format!(
                "openshell-sandbox: install: {} is built for {name}, this node runs {ours}\n\
                 hint: install the bundle built for this node's architecture\n",
                src.display()
            )]
        },
    );
}

#[test]
fn install_refuses_a_script_that_prints_a_version() {
    let _serial = serial();
    refused(
        "install_script",
        &|dir, _| {
            let p = dir.join("fake");
            executable_copy(&p, b"#!/bin/sh\necho 'openshell-sandbox 9.9.9 (fake)'\n");
            p
        },
        &|src| {
            vec![format!(
                "openshell-sandbox: install: {} is not an ELF executable\n",
                src.display()
            )]
        },
    );
}

#[test]
fn install_refuses_a_binary_whose_version_check_fails() {
    let _serial = serial();
    for (tool, cause) in [
        ("false", "--version failed: exit status: 1".to_string()),
        ("true", {
            let o = Command::new("true").arg("--version").output().unwrap();
            let line = String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            format!("--version printed {line:?}, not an openshell-sandbox version")
        }),
    ] {
        let path = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap();
        refused(
            &format!("install_check_{tool}"),
            &|_, _| path.clone(),
            &|src| {
                vec![format!(
                    "openshell-sandbox: install: {}: {cause}\n",
                    src.display()
                )]
            },
        );
    }
}

#[test]
fn install_reports_missing_source_and_unusable_destination() {
    let _serial = serial();
    refused(
        "install_missing_source",
        &|dir, _| dir.join("nope"),
        &|src| {
            vec![format!(
                "openshell-sandbox: install: cannot open {}: ENOENT\n",
                src.display()
            )]
        },
    );

    let dir = scratch("install_bad_dest");
    let run = |dest: &Path| {
        let out = Command::new(BIN).arg("install").arg(dest).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert_eq!(
        run(&dir),
        format!(
            "openshell-sandbox: install: {} is a directory\n",
            dir.display()
        )
    );
    let missing = dir.join("missing");
    assert_eq!(
        run(&missing.join("openshell-sandbox")),
        format!(
            "openshell-sandbox: install: cannot create a temporary file in {}: ENOENT\n",
            missing.display()
        )
    );
}
