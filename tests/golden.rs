//! Golden plans: the whole plan for a policy on a described host, compared
//! with a reviewed file in tests/golden/. The plan is pure, so these need
//! no privileges. Each plan is also rendered as `plan --format text` and
//! compared with NAME.txt. Regenerate deliberately with `UPDATE_GOLDEN=1
//! cargo test --test golden` and review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use openshell_sandbox::capabilities::CapState;
use openshell_sandbox::plan::{self, RunOptions};
use openshell_sandbox::policy::{self, Origin, Source};
use openshell_sandbox::probe::{HostFacts, LandlockSupport, PathKind};

const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nsandbox:x:1000:1000:sandbox:/sandbox:/bin/sh\n";
const GROUP: &str = "root:x:0:\nvideo:x:44:\nsandbox:x:1000:\n";

/// The container runtimes' default capability set (containerd, Docker):
/// CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP,
/// NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP.
const RUNTIME_CAPS: u64 = 0xa804_25fb;

fn host(landlock: LandlockSupport, uid: u32) -> HostFacts {
    let mut paths = openshell_sandbox::sort::FastMap::default();
    for d in [
        "/usr", "/bin", "/sbin", "/lib", "/etc", "/proc", "/tmp", "/sandbox", "/dev/shm",
    ] {
        paths.insert(d.to_string(), Ok(PathKind::Directory));
    }
    for c in ["/dev/null", "/dev/zero", "/dev/urandom"] {
        paths.insert(c.to_string(), Ok(PathKind::CharDevice));
    }
    HostFacts {
        landlock,
        pid: 4242,
        uid,
        gid: uid,
        passwd: Some(PASSWD.into()),
        group: Some(GROUP.into()),
        paths,
        env: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("HOME".into(), "/root".into()),
            ("LANG".into(), "C.UTF-8".into()),
            ("LC_ALL".into(), "C".into()),
            ("SECRET_TOKEN".into(), "hunter2".into()),
            ("LD_PRELOAD".into(), "/evil.so".into()),
        ],
        memfd_noexec: Some(0),
        // Root holds the runtime's set; a non-root start only has it in
        // its bounding set.
        caps: CapState {
            effective: if uid == 0 { RUNTIME_CAPS } else { 0 },
            permitted: if uid == 0 { RUNTIME_CAPS } else { 0 },
            inheritable: 0,
            bounding: RUNTIME_CAPS,
        },
        ..HostFacts::default()
    }
}

fn golden(name: &str, file: &str, h: &HostFacts, opts: RunOptions) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(repo.join(file)).unwrap();
    let policy = policy::parse_str(file, &text).unwrap();
    let source = Source {
        origin: Origin::Flag,
        path: Some(PathBuf::from(file)),
    };
    let p = plan::build(&policy, &source, &opts, h);
    golden_text(name, &openshell_sandbox::plan_text::render(&p));
    let got = serde_json::to_value(&p).unwrap();
    let path = repo.join("tests/golden").join(format!("{name}.json"));
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        return;
    }
    let want: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("missing {}; run with UPDATE_GOLDEN=1", path.display())),
    )
    .unwrap();
    if got != want {
        panic!(
            "plan differs from {}:\n--- got\n{}\n",
            path.display(),
            serde_json::to_string_pretty(&got).unwrap()
        );
    }
}

/// `plan --format text` for the same plan, compared with
/// tests/golden/NAME.txt byte for byte.
fn golden_text(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.txt"));
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with UPDATE_GOLDEN=1", path.display()));
    if got != want {
        panic!(
            "text plan differs from {}:\n--- got\n{got}--- want\n{want}",
            path.display()
        );
    }
}

fn opts(cmd: &[&str]) -> RunOptions {
    RunOptions {
        command: cmd.iter().map(std::ffi::OsString::from).collect(),
        ..RunOptions::default()
    }
}

#[test]
fn default_policy_as_root_on_abi7() {
    golden(
        "default_root_abi7",
        "policy/default.yaml",
        &host(LandlockSupport::Available { abi: 7 }, 0),
        opts(&["/bin/true"]),
    );
}

#[test]
fn agent_network_on_abi3_drops_tcp_rules() {
    golden(
        "agent_network_abi3",
        "policy/examples/agent-network.yaml",
        &host(LandlockSupport::Available { abi: 3 }, 0),
        RunOptions {
            workdir: Some("/sandbox".into()),
            ..opts(&["agent"])
        },
    );
}

#[test]
fn server_allowed_to_listen_without_unix_sockets_on_abi7() {
    golden(
        "server_listen_abi7",
        "tests/data/server-listen.yaml",
        &host(LandlockSupport::Available { abi: 7 }, 0),
        opts(&["/usr/bin/server"]),
    );
}

#[test]
fn strict_policy_on_abi3_is_blocked() {
    golden(
        "strict_abi3",
        "policy/examples/strict.yaml",
        &host(LandlockSupport::Available { abi: 3 }, 0),
        opts(&["/usr/bin/app"]),
    );
}

#[test]
fn minimal_policy_without_landlock_best_effort() {
    golden(
        "minimal_no_landlock",
        "policy/examples/minimal.yaml",
        &host(LandlockSupport::NotImplemented, 0),
        opts(&["sh"]),
    );
}

#[test]
fn gpu_policy_with_flag_and_env_requests_as_pid1() {
    let mut h = host(LandlockSupport::Available { abi: 7 }, 0);
    h.pid = 1;
    h.env.push(("NVIDIA_VISIBLE_DEVICES".into(), "1".into()));
    golden(
        "gpu_pid1",
        "policy/examples/gpu.yaml",
        &h,
        RunOptions {
            devices: vec!["nvidia.com/gpu=0".into(), "nvidia.com/gpu=1".into()],
            ..opts(&["python3", "train.py"])
        },
    );
}

#[test]
fn unprivileged_start_asking_for_another_user_is_blocked() {
    golden(
        "nonroot_mismatch",
        "policy/examples/strict.yaml",
        &host(LandlockSupport::Available { abi: 7 }, 1500),
        opts(&["/usr/bin/app"]),
    );
}

#[test]
fn default_policy_started_unprivileged_on_merged_usr() {
    // /bin, /lib and /sbin are links into /usr (a trusted, root-owned
    // link is followed; the plan shows where it leads). Started as uid
    // 1500 without CAP_SETPCAP, the identity and the bounding set stay.
    let mut h = host(LandlockSupport::Available { abi: 7 }, 1500);
    for (link, to, ino) in [
        ("/bin", "/usr/bin", 11),
        ("/lib", "/usr/lib", 12),
        ("/sbin", "/usr/sbin", 13),
    ] {
        h.resolved.insert(
            link.to_string(),
            openshell_sandbox::probe::ResolvedPath {
                path: to.to_string(),
                dev: 1,
                ino,
                kernel_fs: Some(false),
                mount_id: None,
            },
        );
    }
    golden(
        "default_nonroot_merged_usr",
        "policy/default.yaml",
        &h,
        RunOptions {
            workdir: Some("/sandbox".into()),
            ..opts(&["/bin/sh", "-c", "id"])
        },
    );
}

#[test]
fn port_and_ports_opens_only_ports() {
    golden(
        "port_and_ports_abi7",
        "tests/data/port-and-ports.yaml",
        &host(LandlockSupport::Available { abi: 7 }, 0),
        opts(&["/usr/bin/client"]),
    );
}

#[test]
fn the_text_plan_says_what_the_bounding_set_keeps() {
    let render = |yaml: &str| {
        let policy = policy::parse_str("p.yaml", yaml).unwrap();
        let source = Source {
            origin: Origin::Flag,
            path: Some(PathBuf::from("p.yaml")),
        };
        let h = host(LandlockSupport::Available { abi: 7 }, 0);
        let p = plan::build(&policy, &source, &opts(&["/bin/app"]), &h);
        openshell_sandbox::plan_text::render(&p)
    };
    let kept = render("version: 1\ncapabilities: {keep: [NET_BIND_SERVICE]}\n");
    assert!(
        kept.contains("NET_BIND_SERVICE kept; bounding set reduced to the kept capabilities;"),
        "{kept}"
    );
    let none = render("version: 1\n");
    assert!(none.contains("none kept; bounding set cleared;"), "{none}");
}
