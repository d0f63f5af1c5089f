//! `learn` on the real kernel: a workload is observed once, the learned
//! policy is checked rule by rule, and then enforced. Each test asserts
//! the rule learned for one way of naming a file (relative path, dirfd,
//! symlink, rename) or a port; the round trip also shows that what the
//! run did not do is refused under the learned policy while the same
//! action works without the sandbox (the control).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{BIN, Run, bare_as, chmod, open_dir, open_scratch, output_within, probe};
use openshell_sandbox::policy::model::Policy;

const UID: u32 = 1500;
const BASE: &str = "version: 1\nprocess: {run_as_user: 1500, run_as_group: 1500}\n";
const PYTHON: &str = "/usr/bin/python3";

/// Skip unless root, Landlock `abi` and seccomp user notification.
fn setup(test: &str, abi: u32) -> Option<PathBuf> {
    let d = open_scratch(test, abi)?;
    if openshell_sandbox::learn::check_kernel().is_err() {
        common::skip(test, "the kernel lacks seccomp user notification");
        return None;
    }
    Some(d)
}

/// Write the base policy `text` into a root-only directory for the
/// policies of test `d` (the supervisor refuses a policy anyone but root
/// could change); that directory.
fn policy_dir(d: &Path, text: &str) -> PathBuf {
    common::write_policy(d, text)
        .parent()
        .unwrap()
        .to_path_buf()
}

struct Learned {
    run: Run,
    text: String,
    policy: Policy,
    path: PathBuf,
}

impl Learned {
    fn fs(&self) -> openshell_sandbox::policy::model::FilesystemPolicy {
        self.policy.filesystem_policy.clone().unwrap()
    }

    fn has(&self, list: &str, path: &str) -> bool {
        let fs = self.fs();
        let l = match list {
            "read_only" => fs.read_only,
            "read_write" => fs.read_write,
            _ => fs.execute.unwrap_or_default(),
        };
        l.iter().any(|p| p == path)
    }

    fn explain(&self) -> String {
        format!("{}\n--- learned\n{}", self.run.explain(), self.text)
    }
}

/// `learn --policy BASE --output DIR/learned.yaml [args] -- workload`.
fn learn(d: &Path, args: &[&str], workload: &[&str]) -> Learned {
    learn_from(d, BASE, args, workload)
}

fn learn_from(d: &Path, base: &str, args: &[&str], workload: &[&str]) -> Learned {
    let dir = policy_dir(d, base);
    let base = dir.join("policy.yaml");
    let out = dir.join("learned.yaml");
    let _ = std::fs::remove_file(&out);
    let mut c = Command::new(BIN);
    c.arg("learn")
        .arg("--policy")
        .arg(&base)
        .arg("--output")
        .arg(&out)
        .args(args)
        .arg("--")
        .args(workload);
    let run = output_within(&mut c, 60);
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let policy = openshell_sandbox::policy::parse_bytes("learned.yaml", text.as_bytes())
        .unwrap_or_else(|e| panic!("learned policy invalid: {e:?}\n{}\n{text}", run.explain()));
    Learned {
        run,
        text,
        policy,
        path: out,
    }
}

/// `learn` as [`learn_from`] runs it, for a run whose output is not a
/// policy: its result only.
fn learn_from_unchecked(d: &Path, base: &str, workload: &[&str]) -> Run {
    let dir = policy_dir(d, base);
    let mut c = Command::new(BIN);
    c.arg("learn")
        .arg("--policy")
        .arg(dir.join("policy.yaml"))
        .arg("--output")
        .arg(dir.join("learned.yaml"))
        .arg("--")
        .args(workload);
    output_within(&mut c, 120)
}

fn enforce(l: &Learned, args: &[&str], workload: &[&str]) -> Run {
    let mut c = Command::new(BIN);
    c.arg("--policy")
        .arg(&l.path)
        .args(args)
        .arg("--")
        .args(workload);
    output_within(&mut c, 60)
}

fn file(parent: &str, name: &str) -> String {
    let f = Path::new(parent).join(name);
    common::write_file(&f, "data\n");
    chmod(&f, 0o666);
    f.display().to_string()
}

fn canonical(p: &str) -> String {
    std::fs::canonicalize(p).unwrap().display().to_string()
}

/// Accept and drain connections on a loopback port, in the background.
fn server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut s = s;
            let mut b = Vec::new();
            let _ = s.read_to_end(&mut b);
        }
    });
    port
}

const JOB: &str = r#"import decimal, email.utils, json, socket, sys
out, port = sys.argv[1], int(sys.argv[2])
with open(out + "/result.json", "w") as f:
    json.dump({"total": str(decimal.Decimal("1.5") * 2), "at": email.utils.formatdate(0)}, f)
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"hello")
s.close()
if len(sys.argv) > 3:
    what, arg = sys.argv[3].split(":", 1)
    try:
        if what == "read":
            open(arg).read()
        else:
            socket.create_connection(("127.0.0.1", int(arg))).close()
        print(what, "ok")
    except OSError as e:
        print(what, "errno", e.errno)
        sys.exit(3)
print("done")
"#;

#[test]
fn learn_round_trip_python_runs_under_its_learned_policy_and_nothing_more() {
    let t = "learn_round_trip_python_runs_under_its_learned_policy_and_nothing_more";
    let Some(d) = setup(t, 4) else { return };
    if !Path::new(PYTHON).exists() && common::skip(t, "needs /usr/bin/python3") {
        return;
    }
    let app = open_dir(&d, "app");
    let out = open_dir(&d, "out");
    let data = open_dir(&d, "data");
    let job = file(&app, "job.py");
    common::write_file(Path::new(&job), JOB);
    let secret = file(&data, "secret.txt");
    let (port, other) = (server(), server());
    let ws = d.display().to_string();
    let wd = ["--workdir", ws.as_str()];
    let ps = port.to_string();
    // A relative script path: resolved against the workload's cwd.
    let w = [PYTHON, "-B", "app/job.py", out.as_str(), ps.as_str()];

    let l = learn(&d, &wd, &w);
    assert_eq!(l.run.code, 0, "{}", l.explain());
    assert_eq!(l.run.stdout, "done\n", "{}", l.explain());
    // The learned rules.
    let python = canonical(PYTHON);
    assert!(l.has("execute", &python), "{}", l.explain());
    assert!(
        l.fs()
            .execute
            .unwrap()
            .iter()
            .any(|p| p.contains("ld-linux")),
        "the ELF interpreter is executable too\n{}",
        l.explain()
    );
    assert!(l.has("read_only", "/usr/lib/python3.11"), "{}", l.explain());
    assert!(
        l.has("read_only", &app),
        "sys.path[0] is listed\n{}",
        l.explain()
    );
    assert!(
        l.has("read_write", &out),
        "result.json is created there\n{}",
        l.explain()
    );
    assert!(!l.text.contains(&secret), "{}", l.explain());
    let net = l.policy.network.clone().unwrap();
    assert_eq!(net.connect_tcp, [port], "{}", l.explain());
    assert!(net.bind_tcp.is_empty(), "{}", l.explain());
    assert!(!l.fs().include_workdir);
    for p in l.fs().read_only.iter().chain(&l.fs().read_write) {
        assert!(
            !["/", "/usr", "/etc", "/usr/lib", "/home"].contains(&p.as_str()),
            "{p}"
        );
    }
    // `check` accepts it.
    let c = Run::from(
        Command::new(BIN)
            .arg("check")
            .arg(&l.path)
            .output()
            .unwrap(),
    );
    assert_eq!(c.code, 0, "{}", c.explain());

    // Under the learned policy the same run succeeds (result.json now
    // exists and is truncated: a write inside the learned directory).
    let r = enforce(&l, &wd, &w);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "done\n"),
        "{}\n{}",
        r.explain(),
        l.text
    );

    // What the run did not do is refused: another file, another port.
    let read = format!("read:{secret}");
    let r = enforce(&l, &wd, &[PYTHON, "-B", "app/job.py", &out, &ps, &read]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (3, "read errno 13\n"),
        "{}",
        r.explain()
    );
    let conn = format!("connect:{other}");
    let r = enforce(&l, &wd, &[PYTHON, "-B", "app/job.py", &out, &ps, &conn]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (3, "connect errno 13\n"),
        "{}",
        r.explain()
    );
    // The controls: both work without the sandbox, as the same uid.
    let job_abs = format!("{app}/job.py");
    let c = bare_as(UID, &[PYTHON, "-B", &job_abs, &out, &ps, &read]);
    assert_eq!(
        (c.code, c.stdout.as_str()),
        (0, "read ok\ndone\n"),
        "{}",
        c.explain()
    );
    let c = bare_as(UID, &[PYTHON, "-B", &job_abs, &out, &ps, &conn]);
    assert_eq!(
        (c.code, c.stdout.as_str()),
        (0, "connect ok\ndone\n"),
        "{}",
        c.explain()
    );
}

fn p() -> String {
    probe().display().to_string()
}

#[test]
fn learn_resolves_a_relative_path_against_the_working_directory() {
    let t = "learn_resolves_a_relative_path_against_the_working_directory";
    let Some(d) = setup(t, 1) else { return };
    let rel = open_dir(&d, "rel");
    let f = file(&rel, "f");
    let ws = d.display().to_string();
    let l = learn(&d, &["--workdir", &ws], &[&p(), "openrw", "rel/f"]);
    assert_eq!(l.run.stdout, "ok: rel/f\n", "{}", l.explain());
    assert_eq!(
        l.fs().read_write,
        std::slice::from_ref(&f),
        "{}",
        l.explain()
    );
    assert!(l.fs().read_only.is_empty(), "{}", l.explain());
    assert_eq!(
        l.fs().execute.unwrap(),
        [canonical(&p())],
        "{}",
        l.explain()
    );
    let r = enforce(&l, &["--workdir", &ws], &[&p(), "openrw", "rel/f"]);
    assert_eq!(r.stdout, "ok: rel/f\n", "{}", r.explain());
    // A sibling the run did not open stays closed.
    let g = file(&rel, "g");
    let r = enforce(&l, &["--workdir", &ws], &[&p(), "openrw", &g]);
    assert_eq!(
        r.stdout,
        format!("errno=EACCES(13): {g}\n"),
        "{}",
        r.explain()
    );
    let c = bare_as(UID, &[&p(), "openrw", &g]);
    assert_eq!(c.stdout, format!("ok: {g}\n"), "{}", c.explain());
}

#[test]
fn learn_resolves_openat_against_its_directory_descriptor() {
    let t = "learn_resolves_openat_against_its_directory_descriptor";
    let Some(d) = setup(t, 1) else { return };
    if !Path::new(PYTHON).exists() && common::skip(t, "needs /usr/bin/python3") {
        return;
    }
    let sub = open_dir(&d, "sub");
    let f = file(&sub, "f");
    let wd = open_dir(&d, "wd");
    // openat(dirfd of sub, "f"): the dirfd is an O_PATH descriptor, which
    // needs no rule itself.
    let code = format!(
        "import os\nfd = os.open({sub:?}, os.O_PATH | os.O_DIRECTORY)\nos.close(os.open('f', os.O_RDONLY, dir_fd=fd))\nprint('ok')"
    );
    let l = learn(&d, &["--workdir", &wd], &[PYTHON, "-B", "-c", &code]);
    assert_eq!(l.run.stdout, "ok\n", "{}", l.explain());
    assert!(l.has("read_only", &f), "{}", l.explain());
    assert!(!l.has("read_only", &sub), "{}", l.explain());
    assert!(
        !l.text.contains(&format!("\"{ws}\"", ws = d.display())),
        "{}",
        l.explain()
    );
    let r = enforce(&l, &["--workdir", &wd], &[PYTHON, "-B", "-c", &code]);
    assert_eq!(r.stdout, "ok\n", "{}", r.explain());
}

#[test]
fn learn_grants_the_target_of_a_symlink_not_the_link() {
    let t = "learn_grants_the_target_of_a_symlink_not_the_link";
    let Some(d) = setup(t, 1) else { return };
    let real = open_dir(&d, "real");
    let target = file(&real, "target");
    let links = open_dir(&d, "links");
    let link = format!("{links}/link");
    std::os::unix::fs::symlink("../real/target", &link).unwrap();
    let l = learn(&d, &[], &[&p(), "read", &link]);
    assert_eq!(l.run.stdout, format!("ok: {link}\n"), "{}", l.explain());
    assert_eq!(l.fs().read_only, [target], "{}", l.explain());
    assert!(l.fs().read_write.is_empty(), "{}", l.explain());
    let r = enforce(&l, &[], &[&p(), "read", &link]);
    assert_eq!(r.stdout, format!("ok: {link}\n"), "{}", r.explain());
}

#[test]
fn learn_grants_both_directories_of_a_rename() {
    let t = "learn_grants_both_directories_of_a_rename";
    let Some(d) = setup(t, 2) else { return };
    let a = open_dir(&d, "a");
    let b = open_dir(&d, "b");
    let x = file(&a, "x");
    let y = format!("{b}/y");
    let l = learn(&d, &[], &[&p(), "rename", &x, &y]);
    assert_eq!(l.run.stdout, format!("ok: {y}\n"), "{}", l.explain());
    assert_eq!(l.fs().read_write, [a.clone(), b.clone()], "{}", l.explain());
    // Again under the learned policy (refer across the two directories).
    std::fs::remove_file(&y).unwrap();
    file(&a, "x");
    let r = enforce(&l, &[], &[&p(), "rename", &x, &y]);
    assert_eq!(r.stdout, format!("ok: {y}\n"), "{}", r.explain());
    // A third directory is not writable.
    let c = open_dir(&d, "c");
    let z = format!("{c}/z");
    let r = enforce(&l, &[], &[&p(), "rename", &y, &z]);
    assert_eq!(
        r.stdout,
        format!("errno=EACCES(13): {z}\n"),
        "{}",
        r.explain()
    );
}

#[test]
fn learn_grants_nothing_for_a_name_that_exists_or_is_missing_before_any_check() {
    // `mkdir -p` asks for every directory above the one it makes, and
    // `rm -f` removes names that are not there: the kernel fails those
    // with EEXIST and ENOENT before it checks any access, so they need no
    // rule, also in a directory the workload may write by its modes.
    let t = "learn_grants_nothing_for_a_name_that_exists_or_is_missing_before_any_check";
    let Some(d) = setup(t, 1) else { return };
    let open = open_dir(&d, "open");
    let there = open_dir(Path::new(&open), "there");
    let missing = format!("{open}/missing");
    let made = format!("{there}/made");
    let script = format!(
        "{p} mkdir {there}; {p} unlink {missing}; {p} mkdir {made}",
        p = p()
    );
    let l = learn(&d, &[], &["/bin/sh", "-c", &script]);
    assert_eq!(
        l.run.stdout,
        format!("errno=EEXIST(17): {there}\nerrno=ENOENT(2): {missing}\nok: {made}\n"),
        "{}",
        l.explain()
    );
    // The control: the directory made is granted, and nothing above it.
    assert_eq!(
        l.fs().read_write,
        std::slice::from_ref(&there),
        "{}",
        l.explain()
    );
    std::fs::remove_dir(&made).unwrap();
    let r = enforce(&l, &[], &["/bin/sh", "-c", &script]);
    assert_eq!(r.stdout, l.run.stdout, "{}", r.explain());
}

#[test]
fn learn_leaves_out_a_name_a_policy_cannot_hold() {
    // The workload chooses its file names; one with a line break is never
    // a rule a policy may hold, and learning goes on without it.
    let t = "learn_leaves_out_a_name_a_policy_cannot_hold";
    let Some(d) = setup(t, 1) else { return };
    let odd_dir = open_dir(&d, "odd");
    let odd = file(&odd_dir, "a\nb");
    let plain_dir = open_dir(&d, "plain");
    let plain = file(&plain_dir, "c");
    let script = format!("{p} read '{odd}'; {p} read {plain}", p = p());
    let l = learn(&d, &[], &["/bin/sh", "-c", &script]);
    assert_eq!(l.run.code, 0, "{}", l.explain());
    assert_eq!(
        l.run.stdout,
        format!("ok: {odd}\nok: {plain}\n"),
        "{}",
        l.explain()
    );
    // The control: the plain name is learned; the odd one is not.
    assert!(l.has("read_only", &plain), "{}", l.explain());
    assert!(
        !l.text.contains("a\\nb") && !l.text.contains("a\nb"),
        "{}",
        l.explain()
    );
    assert!(l.text.contains("control character"), "{}", l.explain());
}

#[test]
fn learn_output_holds_the_learned_policy_alone_whatever_the_workload_did_to_it() {
    // A kept capability past file modes lets the workload, which learns
    // without Landlock, write into root's output file during the run:
    // what it wrote must not stay behind the learned policy.
    let t = "learn_output_holds_the_learned_policy_alone_whatever_the_workload_did_to_it";
    let Some(d) = setup(t, 1) else { return };
    let base = "version: 1\nprocess: {run_as_user: 1500, run_as_group: 1500}\ncapabilities: {keep: [DAC_OVERRIDE, FOWNER], bypass_acknowledged: [DAC_OVERRIDE, FOWNER]}\n";
    let out = policy_dir(&d, base).join("learned.yaml");
    let out = out.display();
    // It also keeps another name for the file, through which it (or a
    // descriptor it passed on) could change the file after learn ends.
    let kept = format!("{}/kept", open_dir(&d, "open"));
    let script = format!(
        "printf '\\n%04000d\\nseccomp:\\n  allow: [ptrace]\\n' 0 >> {out} && chmod 666 {out} && ln {out} {kept} && stat -c %i {out}"
    );
    let l = learn_from(&d, base, &[], &["/bin/sh", "-c", &script]);
    // The control: the workload did write into the file.
    assert_eq!(l.run.code, 0, "{}", l.explain());
    assert!(std::fs::metadata(&kept).is_ok(), "{}", l.explain());
    assert!(!l.text.contains("ptrace"), "{}", l.explain());
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(&l.path).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid()), (0o644, 0), "{}", l.explain());
    // The policy is a new file: the one the workload could reach is not it,
    // and holds nothing.
    assert_ne!(l.run.stdout.trim(), m.ino().to_string(), "{}", l.explain());
    assert_eq!(std::fs::read(&kept).unwrap(), b"", "{}", l.explain());
}

#[test]
fn learn_that_cannot_write_a_policy_says_why_in_the_output() {
    // 400 programs read one by one, by name, need more rules than a
    // policy holds: learn fails, and the output it emptied before the run
    // says why instead of holding nothing.
    let t = "learn_that_cannot_write_a_policy_says_why_in_the_output";
    let Some(d) = setup(t, 1) else { return };
    let mut names: Vec<String> = std::fs::read_dir("/usr/bin")
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().ok()?;
            e.file_type()
                .unwrap()
                .is_file()
                .then(|| format!("/usr/bin/{name}"))
        })
        .collect();
    names.sort();
    names.truncate(400);
    assert_eq!(names.len(), 400, "this host's /usr/bin is too small");
    let out = policy_dir(&d, BASE).join("learned.yaml");
    std::fs::write(&out, "version: 1 # reviewed earlier\n").unwrap();
    let script = format!(
        "for f in {}; do {} read $f >/dev/null; done",
        names.join(" "),
        p()
    );
    let l = learn_from_unchecked(&d, BASE, &["/bin/sh", "-c", &script]);
    assert_eq!(l.code, 125, "{}", l.explain());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with("# openshell-sandbox learn: no policy: ") && text.contains("256"),
        "{text}\n{}",
        l.explain()
    );
}

#[test]
fn learn_keeps_denied_syscalls_denied() {
    let t = "learn_keeps_denied_syscalls_denied";
    let Some(d) = setup(t, 1) else { return };
    // A default deny rule (user namespaces) and a policy one on a call
    // learn observes (mkdir): both refused under learn as in a normal run.
    let base = format!("{BASE}seccomp: {{deny: [mkdir, mkdirat]}}\n");
    let l = learn_from(&d, &base, &[], &[&p(), "unshare", "0x10000000"]);
    assert_eq!(l.run.stdout, "errno=EPERM(1): unshare\n", "{}", l.explain());
    let c = bare_as(UID, &[&p(), "unshare", "0x10000000"]);
    assert_eq!(c.stdout, "ok: unshare\n", "{}", c.explain());
    let nd = format!("{}/new", d.display());
    let l = learn_from(&d, &base, &[], &[&p(), "mkdir", &nd]);
    assert_eq!(
        l.run.stdout,
        format!("errno=EPERM(1): {nd}\n"),
        "{}",
        l.explain()
    );
    assert!(l.fs().read_write.is_empty(), "{}", l.explain());
    assert!(
        l.text.contains("deny:"),
        "the base filter is kept\n{}",
        l.explain()
    );
    let c = bare_as(UID, &[&p(), "mkdir", &nd]);
    assert_eq!(c.stdout, format!("ok: {nd}\n"), "{}", c.explain());
}

#[test]
fn learn_follows_forks_and_ends_when_the_workload_dies_mid_call() {
    let t = "learn_follows_forks_and_ends_when_the_workload_dies_mid_call";
    let Some(d) = setup(t, 1) else { return };
    // A background child keeps making observed calls while the shell that
    // started it is killed: learn reaps, kills the rest and writes what
    // it saw, without hanging.
    let l = learn(
        &d,
        &[],
        &[
            "/bin/sh",
            "-c",
            "(while :; do cat /etc/hostname >/dev/null; done) & sleep 0.5; kill -9 $$",
        ],
    );
    assert_eq!(l.run.code, 137, "{}", l.explain());
    assert!(
        l.has("execute", &canonical("/usr/bin/cat")),
        "{}",
        l.explain()
    );
    assert!(
        l.has("read_only", &canonical("/etc/hostname")),
        "{}",
        l.explain()
    );
    assert!(l.has("read_write", "/dev/null"), "{}", l.explain());
}

/// `nonotify CMD...`: runs CMD with `seccomp(SECCOMP_GET_ACTION_AVAIL)`
/// failing with EOPNOTSUPP, as on a kernel without user notification.
fn nonotify(d: &Path) -> PathBuf {
    let src = d.join("nonotify.c");
    std::fs::write(
        &src,
        r#"#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_seccomp, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SECCOMP_GET_ACTION_AVAIL, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EOPNOTSUPP),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog p = {6, f};
	if (argc < 2 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p)) return 126;
	execv(argv[1], argv + 1);
	return 127;
}
"#,
    )
    .unwrap();
    let out = d.join("nonotify");
    let st = Command::new("gcc")
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .expect("gcc is needed to build the nonotify helper");
    assert!(st.success());
    out
}

#[test]
fn learn_refuses_a_kernel_without_user_notification() {
    let t = "learn_refuses_a_kernel_without_user_notification";
    let Some(d) = setup(t, 1) else { return };
    let helper = nonotify(&d);
    let base = policy_dir(&d, BASE).join("policy.yaml");
    let out = d.join("never.yaml");
    let mut c = Command::new(helper);
    c.arg(BIN)
        .arg("learn")
        .arg("--policy")
        .arg(&base)
        .arg("--output")
        .arg(&out)
        .arg("--")
        .arg(p())
        .arg("true");
    let r = output_within(&mut c, 30);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(
        r.stderr.starts_with(
            "openshell-sandbox: learn: the kernel lacks seccomp user notification (SECCOMP_RET_USER_NOTIF: EOPNOTSUPP)\nhint: run learn on a node with Linux >= 5.5"
        ),
        "{}",
        r.explain()
    );
    assert!(
        r.stdout.is_empty(),
        "the workload never ran\n{}",
        r.explain()
    );
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn learn_refuses_an_output_directory_the_workload_could_change() {
    let t = "learn_refuses_an_output_directory_the_workload_could_change";
    let Some(d) = setup(t, 1) else { return };
    let dir = policy_dir(&d, BASE);
    // Learning runs without Landlock: in a directory its uid owns, the
    // workload could move the file away and plant its own policy at the
    // name. The script does exactly that, so a run that started would show.
    let outdir = d.join("out");
    std::fs::create_dir(&outdir).unwrap();
    std::os::unix::fs::chown(&outdir, Some(1500), Some(1500)).unwrap();
    let out = outdir.join("learned.yaml");
    let script = format!(
        "mv {o} {o}.moved; printf 'version: 1\\n# planted\\n' > {o}; echo tampered",
        o = out.display()
    );
    let learn_to = |out: &Path, script: &str| {
        output_within(
            Command::new(BIN)
                .arg("learn")
                .arg("--policy")
                .arg(dir.join("policy.yaml"))
                .arg("--output")
                .arg(out)
                .args(["--", "/bin/sh", "-c", script]),
            60,
        )
    };
    let run = learn_to(&out, &script);
    assert_eq!(run.code, 125, "{}", run.explain());
    assert!(!run.stdout.contains("tampered"), "{}", run.explain());
    assert!(!out.exists(), "{}", run.explain());
    assert!(
        run.stderr.contains(&format!(
            "--output {}: the workload could replace the learned policy there: ",
            out.display()
        )) && run
            .stderr
            .contains("hint: write the learned policy to a directory only root can change"),
        "{}",
        run.explain()
    );
    // Control: in a directory only root can change, the same workload
    // runs, cannot touch the file, and the learned policy is there.
    let root_out = dir.join("learned.yaml");
    let _ = std::fs::remove_file(&root_out);
    let script_ok = script.replace(&out.display().to_string(), &root_out.display().to_string());
    let run = learn_to(&root_out, &script_ok);
    assert_eq!(run.code, 0, "{}", run.explain());
    assert!(run.stdout.contains("tampered"), "{}", run.explain());
    let text = std::fs::read_to_string(&root_out).unwrap();
    assert!(!text.contains("# planted"), "{text}");
    assert!(text.contains("Calls observed"), "{text}");
}
