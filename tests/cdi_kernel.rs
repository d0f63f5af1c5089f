//! CDI on the real kernel (root): fake GPU nodes and what the workload can
//! open.
//!
//! Each test runs in a private mount namespace (`unshare --mount`) with a
//! tmpfs on /dev holding fake GPU nodes: character devices with
//! /dev/null's (1:3) or /dev/zero's (1:5) numbers, named /dev/nvidia0,
//! /dev/nvidia1, /dev/nvidiactl and /dev/nvidia-uvm. A CDI spec in a
//! scratch directory describes them. The host's /dev is never touched.
//!
//! Tests that need the whole apply phase (Landlock, identity, fds) skip
//! with a reason while this build lacks it; the plan-time refusals and the
//! kernel behaviour the CUDA grant relies on run regardless.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::{BIN, Run};

const SETUP: &str = r#"set -e
mount -t tmpfs -o mode=0755 fakedev /dev
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/urandom c 1 9
mknod -m 666 /dev/nvidia0 c 1 3
mknod -m 666 /dev/nvidia1 c 1 5
mknod -m 666 /dev/nvidiactl c 1 3
mknod -m 666 /dev/nvidia-uvm c 1 5
exec "$@"
"#;

const SPEC: &str = r#"cdiVersion: 0.7.0
kind: nvidia.com/gpu
devices:
- name: "0"
  containerEdits:
    deviceNodes: [{path: /dev/nvidia0, type: c, major: 1, minor: 3}]
- name: "1"
  containerEdits:
    deviceNodes: [{path: /dev/nvidia1, type: c, major: 1, minor: 5}]
- name: "7"
  containerEdits:
    deviceNodes: [{path: /dev/nvidia7, type: c, major: 195, minor: 7}]
- name: fake
  containerEdits:
    deviceNodes: [{path: /dev/nvidia0, type: c, major: 195, minor: 0}]
- name: all
  containerEdits:
    deviceNodes:
    - {path: /dev/nvidia0, type: c, major: 1, minor: 3}
    - {path: /dev/nvidia1, type: c, major: 1, minor: 5}
containerEdits:
  env: [NVIDIA_VISIBLE_DEVICES=void, CDI_TEST_VAR=from-spec]
  deviceNodes:
  - {path: /dev/nvidiactl, type: c, major: 1, minor: 3}
  - {path: /dev/nvidia-uvm, type: c, major: 1, minor: 5}
  additionalGids: [4242]
"#;

/// A spec directory for the fake GPUs.
fn spec_dir(test: &str, spec: &str) -> PathBuf {
    let d = common::scratch(test).join("cdi");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("fake-gpu.yaml"), spec).unwrap();
    d
}

/// Run `argv` in a private mount namespace with the fake /dev.
fn in_fake_gpu_ns(argv: &[String], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new("unshare");
    c.args([
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        SETUP,
        "sh",
    ])
    .args(argv)
    .env_remove("NVIDIA_VISIBLE_DEVICES")
    .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    Run::from(c.output().expect("spawn unshare"))
}

fn policy(test: &str, extra: &str) -> PathBuf {
    let d = common::scratch(&format!("{test}-policy"));
    let text = common::base_policy(
        &[],
        &[],
        &format!("process: {{run_as_user: 1500, run_as_group: 1500}}\n{extra}"),
    );
    common::write_policy(&d, &text)
}

/// The sandbox with `args`, then the probe with `probe_args`, in the
/// fake-GPU namespace.
fn sandboxed(policy: &Path, args: &[&str], probe_args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut argv: Vec<String> = vec![
        BIN.into(),
        "--policy".into(),
        policy.display().to_string(),
        "--log-level".into(),
        "error".into(),
    ];
    argv.extend(args.iter().map(|s| s.to_string()));
    argv.push("--".into());
    argv.push(common::probe().display().to_string());
    argv.extend(probe_args.iter().map(|s| s.to_string()));
    in_fake_gpu_ns(&argv, env)
}

/// `plan --format FORMAT` of `policy` for `device` in the fake-GPU
/// namespace; its output (it must succeed).
fn plan_in_ns(policy: &Path, device: &str, cdi_dir: &Path, format: &str) -> String {
    let argv: Vec<String> = [
        BIN,
        "plan",
        "--policy",
        policy.to_str().unwrap(),
        "--device",
        device,
        "--cdi-dir",
        cdi_dir.to_str().unwrap(),
        "--format",
        format,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let r = in_fake_gpu_ns(&argv, &[]);
    assert_eq!(r.code, 0, "{}", r.explain());
    r.stdout
}

/// The control: the probe as uid 1500 without the sandbox, same namespace.
fn control(probe_args: &[&str]) -> Run {
    let mut argv: Vec<String> = [
        "setpriv",
        "--reuid=1500",
        "--regid=1500",
        "--clear-groups",
        "--",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.push(common::probe().display().to_string());
    argv.extend(probe_args.iter().map(|s| s.to_string()));
    in_fake_gpu_ns(&argv, &[])
}

fn ok(r: &Run) {
    assert!(
        r.code == 0 && r.stdout.starts_with("ok"),
        "expected ok\n{}",
        r.explain()
    );
}

fn errno(r: &Run, name: &str) {
    assert!(
        r.code == 1 && r.stdout.starts_with(&format!("errno={name}(")),
        "expected {name}\n{}",
        r.explain()
    );
}

/// Whether this build can apply a plan at all (Landlock, identity and the
/// fd/session steps land from other work); tests that launch a workload
/// skip with the reason otherwise.
fn need_apply(test: &str) -> bool {
    static AVAILABLE: OnceLock<Result<(), String>> = OnceLock::new();
    let r = AVAILABLE.get_or_init(|| {
        let p = policy("cdi-apply-check", "");
        let r = common::sandbox(&p, &[], &[common::probe().to_str().unwrap(), "true"]);
        if r.code == 0 {
            Ok(())
        } else {
            Err(r.stderr.lines().last().unwrap_or("").to_string())
        }
    });
    match r {
        Ok(()) => false,
        Err(why) => common::skip(test, &format!("this build cannot apply a plan yet: {why}")),
    }
}

fn need(test: &str) -> bool {
    common::need_root(test) || need_apply(test)
}

#[test]
fn sandbox_blocks_gpu_node_not_requested() {
    let t = "sandbox_blocks_gpu_node_not_requested";
    if need(t) || common::need_abi(t, 5) {
        return;
    }
    let dir = spec_dir(t, SPEC);
    let p = policy(t, "");
    let args = [
        "--device",
        "nvidia.com/gpu=0",
        "--cdi-dir",
        dir.to_str().unwrap(),
    ];
    ok(&sandboxed(&p, &args, &["openrw", "/dev/nvidia0"], &[]));
    ok(&sandboxed(&p, &args, &["openrw", "/dev/nvidiactl"], &[]));
    ok(&sandboxed(&p, &args, &["openrw", "/dev/nvidia-uvm"], &[]));
    // The driver answers the ioctl (ENOTTY from /dev/null's driver), not
    // Landlock (EACCES): the same as without the sandbox.
    errno(
        &sandboxed(&p, &args, &["ioctl", "/dev/nvidia0"], &[]),
        "ENOTTY",
    );
    errno(&control(&["ioctl", "/dev/nvidia0"]), "ENOTTY");
    // GPU 1 is present and world-writable, but not requested.
    errno(
        &sandboxed(&p, &args, &["openrw", "/dev/nvidia1"], &[]),
        "EACCES",
    );
    ok(&control(&["openrw", "/dev/nvidia1"]));
}

#[test]
fn sandbox_all_opens_both_gpus() {
    let t = "sandbox_all_opens_both_gpus";
    if need(t) {
        return;
    }
    let dir = spec_dir(t, SPEC);
    let p = policy(t, "");
    let args = [
        "--device",
        "nvidia.com/gpu=all",
        "--cdi-dir",
        dir.to_str().unwrap(),
    ];
    ok(&sandboxed(&p, &args, &["openrw", "/dev/nvidia0"], &[]));
    ok(&sandboxed(&p, &args, &["openrw", "/dev/nvidia1"], &[]));
}

#[test]
fn nvidia_visible_devices_selects_only_gpu1() {
    let t = "nvidia_visible_devices_selects_only_gpu1";
    if need(t) {
        return;
    }
    let dir = spec_dir(t, SPEC);
    let p = policy(t, "");
    let args = ["--cdi-dir", dir.to_str().unwrap()];
    let env = [("NVIDIA_VISIBLE_DEVICES", "1")];
    ok(&sandboxed(&p, &args, &["openrw", "/dev/nvidia1"], &env));
    errno(
        &sandboxed(&p, &args, &["openrw", "/dev/nvidia0"], &env),
        "EACCES",
    );
    ok(&control(&["openrw", "/dev/nvidia0"]));
}

#[test]
fn policy_device_list_is_honoured() {
    let t = "policy_device_list_is_honoured";
    if need(t) {
        return;
    }
    let dir = spec_dir(t, SPEC);
    let p = policy(
        t,
        &format!(
            "devices:\n  cdi:\n    spec_dirs: [{}]\n    devices: [nvidia.com/gpu=1]\n",
            dir.display()
        ),
    );
    ok(&sandboxed(&p, &[], &["openrw", "/dev/nvidia1"], &[]));
    errno(
        &sandboxed(&p, &[], &["openrw", "/dev/nvidia0"], &[]),
        "EACCES",
    );
}

/// A policy that names devices is the upper bound: NVIDIA_VISIBLE_DEVICES
/// (`all` in NVIDIA's CUDA base images) may narrow it, never widen it.
#[test]
fn nvidia_visible_devices_cannot_widen_the_policy() {
    let t = "nvidia_visible_devices_cannot_widen_the_policy";
    if need(t) {
        return;
    }
    let dir = spec_dir(t, SPEC);
    let p = policy(
        t,
        &format!(
            "devices:\n  cdi:\n    spec_dirs: [{}]\n    devices: [nvidia.com/gpu=0]\n",
            dir.display()
        ),
    );
    // `all` leaves the policy's list as it is: GPU 1 stays closed.
    let all = [("NVIDIA_VISIBLE_DEVICES", "all")];
    ok(&sandboxed(&p, &[], &["openrw", "/dev/nvidia0"], &all));
    errno(
        &sandboxed(&p, &[], &["openrw", "/dev/nvidia1"], &all),
        "EACCES",
    );
    // A device the policy does not name stops the launch, naming it.
    let r = sandboxed(
        &p,
        &[],
        &["openrw", "/dev/nvidia1"],
        &[("NVIDIA_VISIBLE_DEVICES", "0,1")],
    );
    assert_eq!(r.code, 125, "{}", r.explain());
    assert_eq!(r.stdout, "", "{}", r.explain());
    assert!(
        r.stderr.contains(
            "openshell-sandbox: cdi: device \"nvidia.com/gpu=1\" requested by NVIDIA_VISIBLE_DEVICES is not allowed (the flags and the policy name: nvidia.com/gpu=0)\n"
        ),
        "{}",
        r.explain()
    );
    // `void` (set by NVIDIA's CDI specs) does not take the policy's GPU away.
    ok(&sandboxed(
        &p,
        &[],
        &["openrw", "/dev/nvidia0"],
        &[("NVIDIA_VISIBLE_DEVICES", "void")],
    ));
    // Control: both nodes open without the sandbox.
    ok(&control(&["openrw", "/dev/nvidia0"]));
    ok(&control(&["openrw", "/dev/nvidia1"]));
}

#[test]
fn cdi_env_and_additional_gid_reach_the_workload() {
    let t = "cdi_env_and_additional_gid_reach_the_workload";
    if need(t) {
        return;
    }
    let dir = spec_dir(t, SPEC);
    let p = policy(t, "");
    let args = [
        "--device",
        "nvidia.com/gpu=0",
        "--cdi-dir",
        dir.to_str().unwrap(),
    ];
    let r = sandboxed(&p, &args, &["env"], &[]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        r.stdout.lines().any(|l| l == "CDI_TEST_VAR=from-spec"),
        "{}",
        r.explain()
    );
    assert!(
        r.stdout.lines().any(|l| l == "NVIDIA_VISIBLE_DEVICES=void"),
        "{}",
        r.explain()
    );
    let r = sandboxed(&p, &args, &["status"], &[]);
    let groups = r
        .stdout
        .lines()
        .find(|l| l.starts_with("Groups:"))
        .unwrap_or("");
    assert!(
        groups.split_whitespace().any(|g| g == "4242"),
        "{}",
        r.explain()
    );
}

#[test]
fn cuda_thread_names_writable_only_with_an_nvidia_grant() {
    let t = "cuda_thread_names_writable_only_with_an_nvidia_grant";
    if need(t) {
        return;
    }
    let dir = spec_dir(t, SPEC);
    let p = policy(t, "");
    let args = [
        "--device",
        "nvidia.com/gpu=0",
        "--cdi-dir",
        dir.to_str().unwrap(),
    ];
    let r = sandboxed(&p, &args, &["comm"], &[]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert_eq!(
        r.stdout
            .lines()
            .filter(|l| l.starts_with("ok: /proc/self/task/"))
            .count(),
        2
    );
    // Without a GPU, /proc stays read-only.
    errno(&sandboxed(&p, &[], &["comm"], &[]), "EACCES");
    ok(&control(&["comm"]));
}

#[test]
fn cuda_thread_name_grant_survives_dentry_eviction() {
    let t = "cuda_thread_name_grant_survives_dentry_eviction";
    if need(t) {
        return;
    }
    // The workload waits, the dentry cache is dropped, then it names its
    // threads: the pinned /proc/self/task keeps the rule's inode.
    let dir = spec_dir(t, SPEC);
    let p = policy(t, "");
    let script = format!(
        "echo ready; read x; exec {} comm",
        common::probe().display()
    );
    let mut child = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            SETUP,
            "sh",
        ])
        .arg(BIN)
        .args(["--policy", p.to_str().unwrap(), "--log-level", "error"])
        .args([
            "--device",
            "nvidia.com/gpu=0",
            "--cdi-dir",
            dir.to_str().unwrap(),
        ])
        .args(["--", "/bin/sh", "-c", &script])
        .env_remove("NVIDIA_VISIBLE_DEVICES")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    std::fs::write("/proc/sys/vm/drop_caches", "2\n").unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let mut r = Run::from(child.wait_with_output().unwrap());
    r.stdout = format!("{first}{rest}");
    assert_eq!(first, "ready\n", "{}", r.explain());
    assert_eq!(r.code, 0, "{}", r.explain());
    assert_eq!(
        r.stdout
            .lines()
            .filter(|l| l.starts_with("ok: /proc/self/task/"))
            .count(),
        2,
        "{}",
        r.explain()
    );
}

#[test]
fn fallback_creates_the_missing_node() {
    let t = "fallback_creates_the_missing_node";
    if need(t) {
        return;
    }
    let spec = "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: \"5\"\n  containerEdits:\n    deviceNodes: [{path: /dev/nvidia5, type: c, major: 1, minor: 3, fileMode: 438}]\n";
    let dir = spec_dir(t, spec);
    let p = policy(t, "devices: {cdi: {runtime_applied: false}}\n");
    let args = [
        "--device",
        "nvidia.com/gpu=5",
        "--cdi-dir",
        dir.to_str().unwrap(),
    ];
    ok(&sandboxed(&p, &args, &["openrw", "/dev/nvidia5"], &[]));
}

/// A missing node whose spec gives only a `hostPath` is created with the
/// type and major:minor of the node there. A link the workload planted
/// above that node on an earlier launch would choose which host node is
/// copied: it is not followed, and a host path in a directory the
/// workload may write is not used at all. The control copies a node from
/// a root-owned directory, and shows that a privileged `lstat` follows
/// the planted link to a node.
#[test]
fn fallback_copies_a_host_node_only_through_directories_root_holds() {
    let t = "fallback_copies_a_host_node_only_through_directories_root_holds";
    if need(t) {
        return;
    }
    let d = common::scratch(t);
    let host = d.join("host");
    std::fs::create_dir_all(&host).unwrap();
    let node = host.join("gpu");
    let st = Command::new("mknod")
        .args(["-m", "666", node.to_str().unwrap(), "c", "1", "3"])
        .status()
        .unwrap();
    assert!(st.success());
    let rw = d.join("rw");
    std::fs::create_dir_all(&rw).unwrap();
    common::chmod(&rw, 0o777);
    // The planted link, as the workload leaves it: its own, beneath its
    // read-write directory.
    let link = rw.join("dir");
    std::os::unix::fs::symlink(&host, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(1500), Some(1500)).unwrap();
    // A node the workload could have moved into its directory.
    let moved = rw.join("gpu");
    std::fs::hard_link(&node, &moved).unwrap();
    let spec = |host_path: &Path| {
        format!(
            "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: \"5\"\n  containerEdits:\n    deviceNodes: [{{path: /dev/nvidia5, hostPath: {}}}]\n",
            host_path.display()
        )
    };
    let pd = common::scratch(&format!("{t}-policy"));
    let text = common::base_policy(
        &[],
        &[rw.to_str().unwrap()],
        "process: {run_as_user: 1500, run_as_group: 1500}\ndevices: {cdi: {runtime_applied: false}}\n",
    );
    let p = common::write_policy(&pd, &text);
    let run = |host_path: &Path, name: &str| {
        let dir = d.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("gpu.yaml"), spec(host_path)).unwrap();
        let args = [
            "--device",
            "nvidia.com/gpu=5",
            "--cdi-dir",
            dir.to_str().unwrap(),
        ];
        sandboxed(&p, &args, &["openrw", "/dev/nvidia5"], &[])
    };
    // Control: the node in a directory only root may change is copied.
    ok(&run(&node, "cdi-control"));
    // Control: a privileged lstat through the link finds a node.
    use std::os::unix::fs::FileTypeExt;
    let through = link.join("gpu");
    assert!(
        std::fs::symlink_metadata(&through)
            .unwrap()
            .file_type()
            .is_char_device()
    );
    let refused = |r: &Run, needle: &str| {
        assert_eq!(r.code, 125, "{}", r.explain());
        assert_eq!(r.stdout, "", "the workload must not run: {}", r.explain());
        assert!(
            r.stderr.contains("device node /dev/nvidia5"),
            "{}",
            r.explain()
        );
        assert!(r.stderr.contains(needle), "{}", r.explain());
    };
    let r = run(&through, "cdi-link");
    refused(
        &r,
        &format!(
            "its host path {}: symlink {} -> ",
            through.display(),
            link.display()
        ),
    );
    refused(&r, "is not followed");
    let r = run(&moved, "cdi-moved");
    refused(
        &r,
        &format!(
            "its host path {}: is not used: {} is writable under the policy, so the workload could choose which host node is copied",
            moved.display(),
            rw.display()
        ),
    );
}

/// The rule for a device node is added on the node the plan checked or
/// the fallback created, never on what a link at its name leads to. Here
/// the spec's own `create-symlinks` hook, run as root after the plan and
/// after the fallback creates its nodes, puts a link to /dev/zero (1:5)
/// where /dev/nvidia0 (1:3, found) or /dev/nvidia5 (1:3, created) was:
/// the rule is dropped and the workload cannot open the name. The control
/// links another name and the workload opens the node.
#[test]
fn sandbox_never_grants_a_node_swapped_after_the_plan() {
    let t = "sandbox_never_grants_a_node_swapped_after_the_plan";
    if need(t) {
        return;
    }
    let spec = |node: &str, link: &str| {
        format!(
            "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: \"0\"\n  containerEdits:\n    deviceNodes: [{{path: {node}, type: c, major: 1, minor: 3}}]\n    hooks:\n    - {{hookName: createContainer, path: /usr/bin/nvidia-cdi-hook, args: [nvidia-cdi-hook, create-symlinks, --link, \"{link}\"]}}\n"
        )
    };
    let p = policy(t, "devices: {cdi: {runtime_applied: false}}\n");
    let run = |name: &str, node: &str, link: &str| {
        let dir = spec_dir(&format!("{t}-{name}"), &spec(node, link));
        let args = [
            "--log-level",
            "warn",
            "--device",
            "nvidia.com/gpu=0",
            "--cdi-dir",
            dir.to_str().unwrap(),
        ];
        sandboxed(&p, &args, &["openrw", node], &[])
    };
    for node in ["/dev/nvidia0", "/dev/nvidia5"] {
        ok(&run("control", node, "nvidia0::/dev/nvidia-alias"));
        // The policy is best_effort: the rule is dropped (with a warning)
        // and the workload runs without the node.
        let r = run("swap", node, &format!("zero::{node}"));
        errno(&r, "EACCES");
        assert!(
            r.stderr.contains(&format!(
                "filesystem rule for {node} skipped: symlink {node} -> zero stands where a device node was planned: a node's own name is never followed"
            )),
            "{}",
            r.explain()
        );
    }
}

/// A node found where someone other than root could change which node
/// the name holds is not granted: here a sticky directory, where a node
/// the workload owns could have been moved in (it owns every node the
/// fallback made for it). The control is root's node in the same
/// directory, which only root can move.
#[test]
fn sandbox_never_grants_a_node_others_could_have_moved_in() {
    let t = "sandbox_never_grants_a_node_others_could_have_moved_in";
    if need(t) {
        return;
    }
    let stk = common::scratch(t).join("stk");
    std::fs::create_dir_all(&stk).unwrap();
    common::chmod(&stk, 0o1777);
    for (name, owner) in [("root", 0), ("theirs", 1500)] {
        let n = stk.join(name);
        let st = Command::new("mknod")
            .args(["-m", "666", n.to_str().unwrap(), "c", "1", "3"])
            .status()
            .unwrap();
        assert!(st.success());
        std::os::unix::fs::lchown(&n, Some(owner), Some(owner)).unwrap();
    }
    let p = policy(t, "");
    let run = |name: &str| {
        let node = stk.join(name);
        let spec = format!(
            "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: \"0\"\n  containerEdits:\n    deviceNodes: [{{path: {}, type: c, major: 1, minor: 3}}]\n",
            node.display()
        );
        let dir = spec_dir(&format!("{t}-{name}"), &spec);
        let args = [
            "--device",
            "nvidia.com/gpu=0",
            "--cdi-dir",
            dir.to_str().unwrap(),
        ];
        sandboxed(&p, &args, &["openrw", node.to_str().unwrap()], &[])
    };
    ok(&run("root"));
    let r = run("theirs");
    assert_eq!(r.code, 125, "{}", r.explain());
    assert_eq!(r.stdout, "", "the workload must not run: {}", r.explain());
    let theirs = stk.join("theirs");
    assert!(
        r.stderr.contains(&format!(
            "cdi: device node {} (nvidia.com/gpu=0): is not used: {} is owned by uid 1500 in the sticky directory {}, so the workload could choose which node is granted",
            theirs.display(),
            theirs.display(),
            stk.display()
        )),
        "{}",
        r.explain()
    );
}

/// The fallback gives a node it creates to the workload (or the spec's
/// owner): in a directory others may write, even a sticky one, the owner
/// could then move it, so no node is created there. The control creates
/// the same node in a directory only root may write. `plan` says so
/// beforehand: a blocker, and the device not granted.
#[test]
fn fallback_creates_no_node_where_others_may_write() {
    let t = "fallback_creates_no_node_where_others_may_write";
    if need(t) {
        return;
    }
    let d = common::scratch(t);
    let stk = d.join("stk");
    let own = d.join("own");
    for (dir, mode) in [(&stk, 0o1777), (&own, 0o755)] {
        std::fs::create_dir_all(dir).unwrap();
        common::chmod(dir, mode);
    }
    let p = policy(t, "devices: {cdi: {runtime_applied: false}}\n");
    let specs_for = |dir: &Path, name: &str| {
        let spec = format!(
            "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: \"5\"\n  containerEdits:\n    deviceNodes: [{{path: {}, type: c, major: 1, minor: 3}}]\n",
            dir.join("nvidia5").display()
        );
        spec_dir(&format!("{t}-{name}"), &spec)
    };
    let run = |dir: &Path, name: &str| {
        let node = dir.join("nvidia5");
        let specs = specs_for(dir, name);
        let args = [
            "--device",
            "nvidia.com/gpu=5",
            "--cdi-dir",
            specs.to_str().unwrap(),
        ];
        sandboxed(&p, &args, &["openrw", node.to_str().unwrap()], &[])
    };
    let plan = |dir: &Path, name: &str, format: &str| {
        plan_in_ns(&p, "nvidia.com/gpu=5", &specs_for(dir, name), format)
    };
    let refusal = format!(
        "{} is writable by group or others (mode 1777), so the workload could move the node once it owns it",
        stk.display()
    );
    ok(&run(&own, "own"));
    let own_plan = plan(&own, "own", "text");
    assert!(
        own_plan.contains(&format!(
            "nvidia.com/gpu=5 (from flag): granted: {}/nvidia5 (read_write)",
            own.display()
        )) && !own_plan.contains("BLOCKED"),
        "{own_plan}"
    );
    let r = run(&stk, "stk");
    assert_eq!(r.code, 125, "{}", r.explain());
    assert_eq!(r.stdout, "", "the workload must not run: {}", r.explain());
    assert!(r.stderr.contains(&refusal), "{}", r.explain());
    assert!(!stk.join("nvidia5").exists());
    let stk_plan = plan(&stk, "stk", "text");
    assert!(
        stk_plan.contains(&format!(
            "nvidia.com/gpu=5 (from flag): not granted: {}/nvidia5 (blocked)",
            stk.display()
        )),
        "{stk_plan}"
    );
    let v: serde_json::Value = serde_json::from_str(&plan(&stk, "stk", "json")).unwrap();
    let blockers: Vec<&str> = v["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["cause"].as_str())
        .collect();
    assert_eq!(
        blockers,
        [format!(
            "device node {}/nvidia5 (nvidia.com/gpu=5): does not exist, and is not created: {refusal}",
            stk.display()
        )],
        "{v}"
    );
}

/// A refused mknod's hint names the cause the supervisor can tell: with
/// CAP_MKNOD held, where the node is to be refused it (sysfs holds no
/// device nodes); the control runs the supervisor without CAP_MKNOD (a
/// root exec takes its bounding set), where the capability is the cause.
#[test]
fn a_refused_mknod_is_hinted_by_its_cause() {
    let t = "a_refused_mknod_is_hinted_by_its_cause";
    if need(t) {
        return;
    }
    let spec = "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: \"5\"\n  containerEdits:\n    deviceNodes: [{path: /sys/openshell-test-node, type: c, major: 1, minor: 3}]\n- name: \"6\"\n  containerEdits:\n    deviceNodes: [{path: /dev/nvidia6, type: c, major: 1, minor: 3}]\n";
    let dir = spec_dir(t, spec);
    let p = policy(t, "devices: {cdi: {runtime_applied: false}}\n");
    let run = |device: &str, prefix: &[&str]| {
        let mut argv: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
        argv.extend(
            [
                BIN,
                "--policy",
                p.to_str().unwrap(),
                "--log-level",
                "error",
                "--device",
                device,
                "--cdi-dir",
                dir.to_str().unwrap(),
                "--",
                "/bin/true",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        in_fake_gpu_ns(&argv, &[])
    };
    let sysfs = run("nvidia.com/gpu=5", &[]);
    assert_eq!(sysfs.code, 125, "{}", sysfs.explain());
    assert_eq!(
        sysfs.stderr,
        "openshell-sandbox: cdi: device node /sys/openshell-test-node: mknod failed: EPERM\nhint: mknod was refused with CAP_MKNOD held: by the filesystem of its directory or by the container's devices cgroup; let the container runtime inject the device (devices.cdi.runtime_applied: true)\n"
    );
    let without = run("nvidia.com/gpu=6", &["setpriv", "--bounding-set", "-mknod"]);
    assert_eq!(without.code, 125, "{}", without.explain());
    assert_eq!(
        without.stderr,
        "openshell-sandbox: cdi: device node /dev/nvidia6: mknod failed: EPERM\nhint: creating device nodes needs CAP_MKNOD; let the container runtime inject the device (devices.cdi.runtime_applied: true)\n"
    );
}

/// The emulated update-ldcache's refusals are found by the plan: `plan`
/// shows the blocker, and `run` stops before the fallback changes anything
/// (before, the node was created, then the hook refused). The control is
/// the same spec once the planted link is gone: no blocker. (The hook
/// itself is not run here: it would change the host's /etc.)
#[test]
fn plan_predicts_an_ldcache_refusal_and_run_changes_nothing_first() {
    let t = "plan_predicts_an_ldcache_refusal_and_run_changes_nothing_first";
    if need(t) {
        return;
    }
    // Not the spec directory's scratch (spec_dir empties that).
    let d = common::scratch(&format!("{t}-lib"));
    let lib = d.join("drv");
    let wl = d.join("wl");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::create_dir_all(&wl).unwrap();
    std::os::unix::fs::chown(&wl, Some(1500), Some(1500)).unwrap();
    let link = lib.join("libx.so.1");
    std::os::unix::fs::symlink(wl.join("libx.so.1"), &link).unwrap();
    let spec = format!(
        "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: \"5\"\n  containerEdits:\n    deviceNodes: [{{path: /dev/nvidia5, type: c, major: 1, minor: 3}}]\n    hooks:\n    - {{hookName: createContainer, path: /usr/bin/nvidia-cdi-hook, args: [nvidia-cdi-hook, update-ldcache, --folder, {}]}}\n",
        lib.display()
    );
    let dir = spec_dir(t, &spec);
    let p = policy(t, "devices: {cdi: {runtime_applied: false}}\n");
    let cause = format!(
        "hook update-ldcache: folder {}: {}/libx.so.1 leads to {}/libx.so.1: {} is owned by uid 1500, so the workload could choose libraries that root processes would load",
        lib.display(),
        lib.display(),
        wl.display(),
        wl.display()
    );
    let plan = || {
        let out = plan_in_ns(&p, "nvidia.com/gpu=5", &dir, "json");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["blockers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["cause"].as_str().map(str::to_string))
            .collect::<Vec<String>>()
    };
    assert_eq!(plan(), std::slice::from_ref(&cause));
    let script = format!(
        "{BIN} --policy {} --log-level error --device nvidia.com/gpu=5 --cdi-dir {} -- /bin/true; echo rc=$?; if test -e /dev/nvidia5; then echo created; else echo absent; fi",
        p.display(),
        dir.display()
    );
    let r = in_fake_gpu_ns(&["sh".into(), "-c".into(), script], &[]);
    assert_eq!(r.stdout, "rc=125\nabsent\n", "{}", r.explain());
    assert!(r.stderr.contains(&cause), "{}", r.explain());
    std::fs::remove_file(&link).unwrap();
    assert_eq!(plan(), Vec::<String>::new());
}

/// The emulated create-symlinks and chmod hooks act as root only in
/// directories root alone can change, and their refusals are planned:
/// `plan` shows the blocker, and `run` stops before the fallback changes
/// anything (no node, no directory made in the workload's, no mode set).
/// A link the workload planted so that the spec's link looks made already
/// is never read through. The controls are the same hooks in a directory
/// only root may write: no blocker, and the link and mode are made.
#[test]
fn hooks_in_the_workloads_directories_are_planned_refusals_that_change_nothing() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let t = "hooks_in_the_workloads_directories_are_planned_refusals_that_change_nothing";
    if need(t) {
        return;
    }
    let d = common::scratch(&format!("{t}-dirs"));
    let wl = d.join("wl");
    let own = d.join("own");
    std::fs::create_dir_all(&wl).unwrap();
    std::fs::create_dir_all(&own).unwrap();
    std::os::unix::fs::chown(&wl, Some(1500), Some(1500)).unwrap();
    for f in [wl.join("f"), own.join("f")] {
        std::fs::write(&f, "").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    std::os::unix::fs::chown(wl.join("f"), Some(1500), Some(1500)).unwrap();
    let (wl, own) = (wl.display().to_string(), own.display().to_string());
    let p = policy(t, "devices: {cdi: {runtime_applied: false}}\n");
    let spec = |hook: &str| {
        format!(
            "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: \"5\"\n  containerEdits:\n    deviceNodes: [{{path: /dev/nvidia5, type: c, major: 1, minor: 3}}]\n    hooks:\n    - {{hookName: createContainer, path: /usr/bin/nvidia-cdi-hook, args: [nvidia-cdi-hook, {hook}]}}\n"
        )
    };
    // The plan's blockers, then the launch: its exit and whether the node
    // was made.
    let launch = |name: &str, hook: &str| {
        let dir = spec_dir(&format!("{t}-{name}"), &spec(hook));
        let out = plan_in_ns(&p, "nvidia.com/gpu=5", &dir, "json");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let blockers: Vec<String> = v["blockers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["cause"].as_str().map(str::to_string))
            .collect();
        let script = format!(
            "{BIN} --policy {} --log-level error --device nvidia.com/gpu=5 --cdi-dir {} -- /bin/true; echo rc=$?; if test -e /dev/nvidia5; then echo created; else echo absent; fi",
            p.display(),
            dir.display()
        );
        (
            blockers,
            in_fake_gpu_ns(&["sh".into(), "-c".into(), script], &[]),
        )
    };
    let refused = |name: &str, hook: &str, cause: &str| {
        let (blockers, r) = launch(name, hook);
        assert_eq!(blockers, [cause], "{name}");
        assert_eq!(r.stdout, "rc=125\nabsent\n", "{name}: {}", r.explain());
        assert!(r.stderr.contains(cause), "{name}: {}", r.explain());
    };
    let swap =
        format!("{wl} is owned by uid 1500, so the workload could swap what is created there");
    refused(
        "symlink",
        &format!("create-symlinks, --link, \"/dev/null::{wl}/newdir/lnk\""),
        &format!("hook create-symlinks: {wl}/newdir/lnk -> /dev/null: {swap}"),
    );
    assert!(
        !Path::new(&format!("{wl}/newdir")).exists(),
        "root made a directory in the workload's"
    );
    // Planted: newdir -> elsewhere, where lnk already points to /dev/null.
    std::fs::create_dir_all(format!("{wl}/elsewhere")).unwrap();
    std::os::unix::fs::symlink("/dev/null", format!("{wl}/elsewhere/lnk")).unwrap();
    std::os::unix::fs::symlink("elsewhere", format!("{wl}/newdir")).unwrap();
    for p in ["elsewhere", "elsewhere/lnk", "newdir"] {
        std::os::unix::fs::lchown(format!("{wl}/{p}"), Some(1500), Some(1500)).unwrap();
    }
    let (blockers, r) = launch(
        "planted",
        &format!("create-symlinks, --link, \"/dev/null::{wl}/newdir/lnk\""),
    );
    assert_eq!(r.stdout, "rc=125\nabsent\n", "planted: {}", r.explain());
    assert_eq!(blockers.len(), 1, "{blockers:?}");
    assert!(
        blockers[0].starts_with(&format!(
            "hook create-symlinks: {wl}/newdir/lnk -> /dev/null: "
        )),
        "{blockers:?}"
    );
    refused(
        "chmod",
        &format!("chmod, --mode, \"4755\", --path, {wl}/f"),
        &format!(
            "hook chmod: {wl}/f: {wl} is owned by uid 1500, so the workload could choose what root changes the mode of"
        ),
    );
    let mode = |f: &str| std::fs::metadata(f).unwrap().mode() & 0o7777;
    assert_eq!(mode(&format!("{wl}/f")), 0o700);
    // Controls.
    for (name, hook) in [
        (
            "own-symlink",
            format!("create-symlinks, --link, \"/dev/null::{own}/sub/lnk\""),
        ),
        (
            "own-chmod",
            format!("chmod, --mode, \"755\", --path, {own}/f"),
        ),
    ] {
        let (blockers, r) = launch(name, &hook);
        assert!(blockers.is_empty(), "{name}: {blockers:?}");
        assert_eq!(r.stdout, "rc=0\ncreated\n", "{name}: {}", r.explain());
    }
    assert_eq!(
        std::fs::read_link(format!("{own}/sub/lnk")).unwrap(),
        Path::new("/dev/null")
    );
    assert_eq!(mode(&format!("{own}/f")), 0o755);
}

// ------------------------------------------------ refused before apply

#[test]
fn missing_device_node_is_a_setup_failure() {
    let t = "missing_device_node_is_a_setup_failure";
    if common::need_root(t) {
        return;
    }
    let dir = spec_dir(t, SPEC);
    let p = policy(t, "");
    let args = [
        "--device",
        "nvidia.com/gpu=7",
        "--cdi-dir",
        dir.to_str().unwrap(),
    ];
    let r = sandboxed(&p, &args, &["true"], &[]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert_eq!(
        r.stderr,
        "openshell-sandbox: cdi: device node /dev/nvidia7 (nvidia.com/gpu=7): does not exist\nhint: the container runtime did not inject this device: check the pod's CDI device request, or set devices.cdi.runtime_applied: false to let the supervisor create it\n"
    );
}

#[test]
fn sandbox_refuses_a_node_with_other_numbers_than_the_spec() {
    let t = "sandbox_refuses_a_node_with_other_numbers_than_the_spec";
    if common::need_root(t) {
        return;
    }
    // /dev/nvidia0 is /dev/null's 1:3 here, the spec says 195:0: a node
    // swapped for another device must not be granted.
    let dir = spec_dir(t, SPEC);
    let p = policy(t, "");
    let args = [
        "--device",
        "nvidia.com/gpu=fake",
        "--cdi-dir",
        dir.to_str().unwrap(),
    ];
    let r = sandboxed(&p, &args, &["true"], &[]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert_eq!(
        r.stderr,
        "openshell-sandbox: cdi: device node /dev/nvidia0 (nvidia.com/gpu=fake): is c 1:3, the spec says c 195:0\nhint: the spec does not describe this node: regenerate the CDI spec (e.g. nvidia-ctk cdi generate)\n"
    );
}

#[test]
fn plan_in_the_fake_gpu_namespace_grants_only_gpu0() {
    let t = "plan_in_the_fake_gpu_namespace_grants_only_gpu0";
    if common::need_root(t) {
        return;
    }
    let dir = spec_dir(t, SPEC);
    let p = policy(t, "");
    let out = plan_in_ns(&p, "nvidia.com/gpu=0", &dir, "json");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let blockers: Vec<&serde_json::Value> = v["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["object"].as_str().unwrap().starts_with("cdi"))
        .collect();
    assert!(blockers.is_empty(), "{blockers:?}");
    let rules: Vec<(&str, &str)> = v["filesystem"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["origin"] == "device")
        .map(|r| (r["path"].as_str().unwrap(), r["kind"].as_str().unwrap()))
        .collect();
    for n in ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm"] {
        assert!(rules.contains(&(n, "char_device")), "{n}: {rules:?}");
    }
    assert!(
        !rules.iter().any(|(p, _)| *p == "/dev/nvidia1"),
        "{rules:?}"
    );
    assert!(
        rules.contains(&("/proc/self/task", "directory")),
        "{rules:?}"
    );
    assert_eq!(v["devices"]["nodes"][0]["found"], "c 1:3");
}

// --------------------------------------- the kernel behaviour CUDA needs

/// A tiny program that restricts itself with Landlock (write access only
/// beneath /proc/self/task), optionally keeps that directory open, says
/// `ready`, waits for a line on stdin, then names its threads through
/// /proc/self/task/TID/comm.
const COMM_HELPER: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/landlock.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static void name(const char *who) {
	char p[64];
	snprintf(p, sizeof p, "/proc/self/task/%d/comm", (int)gettid());
	int fd = open(p, O_WRONLY);
	if (fd < 0 || write(fd, "x", 1) != 1) printf("%s: %s\n", who, strerror(errno));
	else printf("%s: ok\n", who);
	if (fd >= 0) close(fd);
}
static void *thread(void *a) { (void)a; name("thread"); return 0; }

int main(int argc, char **argv) {
	int pin = argc > 1 && !strcmp(argv[1], "pin");
	struct landlock_ruleset_attr ra = { .handled_access_fs = LANDLOCK_ACCESS_FS_WRITE_FILE };
	int rs = syscall(SYS_landlock_create_ruleset, &ra, sizeof ra, 0);
	int fd = open("/proc/self/task", O_PATH | O_CLOEXEC);
	struct landlock_path_beneath_attr pb = { .allowed_access = LANDLOCK_ACCESS_FS_WRITE_FILE, .parent_fd = fd };
	if (rs < 0 || fd < 0 || syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0)
	    || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
	    || syscall(SYS_landlock_restrict_self, rs, 0)) {
		printf("setup: %s\n", strerror(errno));
		return 2;
	}
	if (!pin) close(fd);
	printf("ready\n");
	fflush(stdout);
	char line[8];
	if (!fgets(line, sizeof line, stdin)) return 2;
	name("main");
	pthread_t t;
	pthread_create(&t, 0, thread, 0);
	pthread_join(t, 0);
	int other = open("/proc/self/comm", O_WRONLY);
	printf("outside: %s\n", other < 0 ? strerror(errno) : "ok");
	return 0;
}
"#;

fn comm_helper() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = common::scratch("cdi-comm-helper");
        let src = dir.join("comm.c");
        std::fs::write(&src, COMM_HELPER).unwrap();
        let out = dir.join("comm");
        let st = Command::new("gcc")
            .args(["-static", "-O2", "-pthread", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("gcc");
        assert!(st.success(), "building the comm helper failed");
        out
    })
    .clone()
}

/// Run the helper; with `drop`, evict the dentry cache while it waits.
fn comm_run(pin: bool, drop: bool) -> String {
    let mut c = Command::new(comm_helper());
    if pin {
        c.arg("pin");
    }
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert_eq!(first, "ready\n");
    if drop {
        // Reclaim unused dentries and inodes (not the page cache).
        std::fs::write("/proc/sys/vm/drop_caches", "2\n").unwrap();
    }
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{rest}");
    rest
}

#[test]
fn landlock_rule_on_proc_self_task_covers_only_own_thread_names() {
    let t = "landlock_rule_on_proc_self_task_covers_only_own_thread_names";
    if common::need_root(t) || common::need_abi(t, 1) {
        return;
    }
    // Pinned, so that a cache drop by a test running alongside cannot
    // evict the dentry (see the next test).
    assert_eq!(
        comm_run(true, false),
        "main: ok\nthread: ok\noutside: Permission denied\n"
    );
}

#[test]
fn proc_task_rule_is_lost_when_its_dentry_is_evicted_unless_pinned() {
    let t = "proc_task_rule_is_lost_when_its_dentry_is_evicted_unless_pinned";
    if common::need_root(t) || common::need_abi(t, 1) {
        return;
    }
    // procfs makes a new inode for /proc/PID/task after eviction; the rule
    // named the old one. This is why apply keeps the directory open.
    assert_eq!(
        comm_run(false, true),
        "main: Permission denied\nthread: Permission denied\noutside: Permission denied\n"
    );
    assert_eq!(
        comm_run(true, true),
        "main: ok\nthread: ok\noutside: Permission denied\n"
    );
}
