//! Pod-level end-to-end tests: the static binary as a Kubernetes pod's
//! entrypoint in a real OCI runtime, `runc` (what containerd runs pods with).
//!
//! Each test writes OCI bundles the way the kubelet and containerd would for
//! a pod and runs them with `runc run`:
//!
//! - two root filesystems built here: a busybox-static image (shell and
//!   applets, `/etc/passwd` with `sandbox:x:1000:1000`) and a shell-less one
//!   holding only the static test workload at `/probe` and no `/etc/passwd`,
//!   like distroless;
//! - the static musl build (`cross/build.sh`) in a node directory mounted
//!   read-only at `/opt/openshell/bin`, as a `hostPath` directory volume (a
//!   directory, not the file: a bind mount of a file pins its inode and would
//!   never show a replaced binary);
//! - the policy in a ConfigMap-style directory (the kubelet's `..data`
//!   symlink layout) mounted read-only at `/etc/openshell`, a CDI spec
//!   directory read-only at `/var/run/cdi`;
//! - the Kubernetes default capability set (bounding, effective, permitted;
//!   bounding only for a non-root user), the RuntimeDefault seccomp profile
//!   from `tests/data/pods` (see its README), `readOnlyRootFilesystem`,
//!   containerd's masked and read-only paths, `/dev` as tmpfs, `/tmp` as a
//!   writable tmpfs, an emptyDir at `/tmp/ok`, new pid, ipc, uts, mount and
//!   network namespaces, `noNewPrivileges: false` (allowPrivilegeEscalation
//!   defaults to true).
//!
//! `runc --root` points into the test's scratch directory, so these
//! containers never mix with others on the machine. Guards delete every
//! container (`runc delete -f`) and the scratch directory (bundles, state)
//! when a test ends, also when it fails.
//!
//! Every refusal is paired with a control: the same pod without the
//! supervisor (`process.args` = the workload alone) shows the action
//! succeeding. Needs root, `runc`, a static `busybox`, `newuidmap` (rootless)
//! and the musl target; `tests/run.sh` installs them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::{
    Run, errors, has_line, is_static_elf, static_sandbox, status, target_dir, which,
    with_other_commit,
};

/// Where the pod sees the supervisor, its policy and the test workload.
const SANDBOX: &str = "/opt/openshell/bin/openshell-sandbox";
const POLICY: &str = "/etc/openshell/policy.yaml";
const PROBE: &str = "/probe";

/// The capability set containerd gives a Kubernetes container by default.
const K8S_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];
/// The same set as /proc/PID/status shows it.
const K8S_CAPS_MASK: &str = "00000000a80425fb";
const NO_CAPS: &str = "0000000000000000";

/// containerd's masked and read-only paths for a non-privileged container.
const MASKED_PATHS: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

const RUNTIME_DEFAULT: &str = include_str!("data/pods/runtime-default-amd64.json");

/// The host user a rootless runc runs as, and its subordinate id range.
const ROOTLESS_UID: u32 = 1500;
const SUBID_START: u32 = 100_000;
const SUBID_COUNT: u32 = 65536;

/// How long one container may run before the test gives up on it.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// Policy of the busybox pods: the image's system paths readable, the
/// emptyDir at /tmp/ok writable, the rest of /tmp (a writable tmpfs) not.
const BUSYBOX_POLICY: &str = "version: 1
filesystem_policy:
  read_only: [/bin, /etc, /proc, /probe]
  read_write: [/dev/null, /tmp/ok]
process: {run_as_user: sandbox}
";

struct Tools {
    runc: PathBuf,
    /// The static release build the pods run.
    sandbox: PathBuf,
    images: Images,
}

/// What the pod tests need, or `None` after a skip.
fn tools(test: &str) -> Option<&'static Tools> {
    if common::need_root(test) || common::need_abi(test, 1) {
        return None;
    }
    let Some(runc) = which("runc") else {
        common::skip(test, "needs runc (apt-get install runc)");
        return None;
    };
    match which("busybox") {
        Some(b) if is_static_elf(&b) => {}
        _ => {
            common::skip(
                test,
                "needs a static busybox (apt-get install busybox-static)",
            );
            return None;
        }
    }
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    Some(TOOLS.get_or_init(|| Tools {
        runc,
        sandbox: static_sandbox(),
        images: build_images(),
    }))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Image {
    Busybox,
    Distroless,
}

struct Images {
    busybox: PathBuf,
    distroless: PathBuf,
}

impl Images {
    fn path(&self, i: Image) -> &Path {
        match i {
            Image::Busybox => &self.busybox,
            Image::Distroless => &self.distroless,
        }
    }
}

fn mkdirs(root: &Path, dirs: &[&str]) {
    for d in dirs {
        let p = root.join(d);
        fs::create_dir_all(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn put(root: &Path, path: &str, content: &[u8], mode: u32) {
    let p = root.join(path);
    fs::write(&p, content).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

/// What every image has so the runtime can mount into a read-only root:
/// the mount points, and the probe at /probe.
fn image_base(root: &Path) {
    mkdirs(
        root,
        &[
            "dev",
            "proc",
            "sys",
            "tmp",
            "etc/openshell",
            "opt/openshell/bin",
            "var/run/cdi",
        ],
    );
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    for f in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
        put(root, f, b"", 0o644);
    }
    put(root, "probe", &fs::read(common::probe()).unwrap(), 0o755);
}

/// Both root filesystems, built once per run under target/pods/images.
fn build_images() -> Images {
    let base = target_dir().join("pods/images");
    let _ = fs::remove_dir_all(&base);

    let bb = base.join("busybox");
    image_base(&bb);
    mkdirs(&bb, &["bin", "root", "home/sandbox"]);
    let busybox = which("busybox").unwrap();
    put(&bb, "bin/busybox", &fs::read(&busybox).unwrap(), 0o755);
    let list = Command::new(&busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = bb.join("bin").join(applet);
        if !applet.is_empty() && applet != "busybox" && !link.exists() {
            symlink("busybox", link).unwrap();
        }
    }
    assert!(bb.join("bin/sh").exists(), "busybox has no sh applet");
    put(
        &bb,
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nsandbox:x:1000:1000:sandbox:/home/sandbox:/bin/sh\n",
        0o644,
    );
    put(&bb, "etc/group", b"root:x:0:\nsandbox:x:1000:\n", 0o644);

    let dl = base.join("distroless");
    image_base(&dl);
    assert!(!dl.join("etc/passwd").exists() && !dl.join("bin").exists());
    Images {
        busybox: bb,
        distroless: dl,
    }
}

/// One container as the kubelet would ask for it.
#[derive(Clone)]
struct Pod {
    image: Image,
    args: Vec<String>,
    uid: u32,
    gid: u32,
    gpus: bool,
}

impl Pod {
    /// The supervisor as the entrypoint, then the workload.
    fn sandboxed(image: Image, workload: &[&str]) -> Pod {
        let mut args: Vec<String> = [SANDBOX, "--policy", POLICY, "--"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(workload.iter().map(|s| s.to_string()));
        Pod {
            image,
            args,
            uid: 0,
            gid: 0,
            gpus: false,
        }
    }

    /// The control: the same pod running the workload alone.
    fn bare(image: Image, workload: &[&str]) -> Pod {
        Pod {
            args: workload.iter().map(|s| s.to_string()).collect(),
            ..Pod::sandboxed(image, &[])
        }
    }

    /// `securityContext.runAsUser` / `runAsGroup`.
    fn user(mut self, uid: u32, gid: u32) -> Pod {
        self.uid = uid;
        self.gid = gid;
        self
    }

    fn gpus(mut self) -> Pod {
        self.gpus = true;
        self
    }
}

/// `sh -c SCRIPT` in the busybox image.
fn sh(script: &str) -> [&str; 3] {
    ["/bin/sh", "-c", script]
}

/// A scratch directory holding one test's node files, pod volumes, bundles
/// and runc state; removed (with every container) when dropped.
struct World {
    test: String,
    dir: PathBuf,
    tools: &'static Tools,
    rootless: bool,
    next: AtomicUsize,
    /// Ids of containers that may still exist, for the final sweep.
    ids: Mutex<Vec<String>>,
}

const ROOTLESS_SH: &str = r#"set -e
d=$1; uid=$2; shift 2
mount --bind "$d/passwd" /etc/passwd
mount --bind "$d/subid" /etc/subuid
mount --bind "$d/subid" /etc/subgid
exec setpriv --reuid "$uid" --regid "$uid" --clear-groups -- "$@"
"#;

impl World {
    fn new(test: &str, tools: &'static Tools, policy: &str) -> World {
        let dir = common::scratch(test);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let w = World {
            test: test.to_string(),
            dir,
            tools,
            rootless: false,
            next: AtomicUsize::new(0),
            ids: Mutex::new(Vec::new()),
        };
        // The node's copy of the binary (hostPath directory).
        mkdirs(&w.dir, &["node/bin", "cdi", "pod", "state"]);
        put(
            &w.dir,
            "node/bin/openshell-sandbox",
            &fs::read(&tools.sandbox).unwrap(),
            0o755,
        );
        // emptyDir: writable by whatever uid the workload has.
        let empty = w.dir.join("emptydir");
        fs::create_dir_all(&empty).unwrap();
        fs::set_permissions(&empty, fs::Permissions::from_mode(0o777)).unwrap();
        put(&w.dir, "pod/hosts", b"127.0.0.1\tlocalhost\n", 0o644);
        put(&w.dir, "pod/hostname", b"openshell-pod\n", 0o644);
        put(&w.dir, "pod/resolv.conf", b"nameserver 10.96.0.10\n", 0o644);
        put(&w.dir, "pod/termination-log", b"", 0o666);
        w.set_policy(policy);
        w
    }

    /// The same, with runc run rootless by host uid 1500 in a user
    /// namespace: container root is host 1500, container 1..65536 are
    /// 1500's subordinate ids (via the setuid `newuidmap`, as rootless
    /// Podman and containerd set up). `/etc/passwd`, `/etc/subuid` and
    /// `/etc/subgid` are replaced only inside a private mount namespace
    /// around runc; the host's files are untouched.
    fn rootless(test: &str, tools: &'static Tools, policy: &str) -> Option<World> {
        for (f, why) in [
            ("newuidmap", "needs newuidmap (apt-get install uidmap)"),
            ("newgidmap", "needs newgidmap (apt-get install uidmap)"),
            ("unshare", "needs unshare (util-linux)"),
            ("setpriv", "needs setpriv (util-linux)"),
        ] {
            if which(f).is_none() {
                common::skip(test, why);
                return None;
            }
        }
        // Kernels and distributions that refuse unprivileged user namespaces.
        let sysctl = |f: &str| {
            fs::read_to_string(format!("/proc/sys/{f}"))
                .ok()
                .map(|s| s.trim().to_string())
        };
        for (f, refusing) in [
            ("user/max_user_namespaces", "0"),
            ("kernel/unprivileged_userns_clone", "0"),
            ("kernel/apparmor_restrict_unprivileged_userns", "1"),
        ] {
            if sysctl(f).as_deref() == Some(refusing) {
                common::skip(
                    test,
                    &format!("unprivileged user namespaces are off ({f} = {refusing})"),
                );
                return None;
            }
        }
        if !Path::new("/etc/subuid").exists() || !Path::new("/etc/subgid").exists() {
            common::skip(test, "needs /etc/subuid and /etc/subgid to bind over");
            return None;
        }
        let mut w = World::new(test, tools, policy);
        w.rootless = true;
        let ids = w.dir.join("ids");
        fs::create_dir_all(&ids).unwrap();
        let mut passwd = fs::read_to_string("/etc/passwd").unwrap();
        passwd.push_str(&format!(
            "openshell-rootless:x:{ROOTLESS_UID}:{ROOTLESS_UID}::/nonexistent:/usr/sbin/nologin\n"
        ));
        fs::write(ids.join("passwd"), passwd).unwrap();
        fs::write(
            ids.join("subid"),
            format!("openshell-rootless:{SUBID_START}:{SUBID_COUNT}\n"),
        )
        .unwrap();
        // The runc state and XDG_RUNTIME_DIR belong to the rootless user.
        std::os::unix::fs::chown(w.dir.join("state"), Some(ROOTLESS_UID), Some(ROOTLESS_UID))
            .unwrap();
        Some(w)
    }

    /// Write the policy the way the kubelet updates a ConfigMap volume: a
    /// new timestamped directory, then `..data` swapped to it.
    fn set_policy(&self, policy: &str) {
        let cm = self.dir.join("configmap");
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let version = format!("..2026_01_01_00_00_00.{n:09}");
        mkdirs(&cm, &[&version]);
        put(
            &cm,
            &format!("{version}/policy.yaml"),
            policy.as_bytes(),
            0o644,
        );
        let tmp = cm.join("..data_tmp");
        let _ = fs::remove_file(&tmp);
        symlink(&version, &tmp).unwrap();
        fs::rename(&tmp, cm.join("..data")).unwrap();
        if fs::symlink_metadata(cm.join("policy.yaml")).is_err() {
            symlink("..data/policy.yaml", cm.join("policy.yaml")).unwrap();
        }
    }

    fn write_cdi(&self, name: &str, spec: &str) {
        put(&self.dir, &format!("cdi/{name}"), spec.as_bytes(), 0o644);
    }

    fn bind(&self, dest: &str, src: &str, mode: &str) -> Value {
        json!({
            "destination": dest,
            "type": "bind",
            "source": self.dir.join(src),
            "options": ["rbind", "rprivate", mode],
        })
    }

    /// config.json for `pod`.
    fn config(&self, pod: &Pod) -> Value {
        let caps: Vec<&str> = K8S_CAPS.to_vec();
        let none: Vec<&str> = Vec::new();
        let root = pod.uid == 0;
        let mut seccomp: Value = serde_json::from_str(RUNTIME_DEFAULT).unwrap();
        if std::env::consts::ARCH == "aarch64" {
            seccomp["architectures"] = json!(["SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64"]);
        }
        let mut mounts = vec![
            json!({"destination": "/proc", "type": "proc", "source": "proc",
                   "options": ["nosuid", "noexec", "nodev"]}),
            json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                   "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
            json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
            "options": if self.rootless {
                json!(["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"])
            } else {
                json!(["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"])
            }}),
            json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                   "options": ["nosuid", "noexec", "nodev"]}),
            json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                   "options": ["nosuid", "noexec", "nodev", "ro"]}),
        ];
        if !self.rootless {
            mounts.push(json!({"destination": "/sys/fs/cgroup", "type": "cgroup",
                "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}));
        }
        mounts.extend([
            self.bind("/etc/hosts", "pod/hosts", "ro"),
            self.bind("/dev/termination-log", "pod/termination-log", "rw"),
            self.bind("/etc/hostname", "pod/hostname", "ro"),
            self.bind("/etc/resolv.conf", "pod/resolv.conf", "ro"),
            json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                   "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
            json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                   "options": ["nosuid", "nodev", "mode=1777"]}),
            self.bind("/tmp/ok", "emptydir", "rw"),
            self.bind("/etc/openshell", "configmap", "ro"),
            self.bind("/opt/openshell/bin", "node/bin", "ro"),
            self.bind("/var/run/cdi", "cdi", "ro"),
        ]);
        let mut namespaces = vec![
            json!({"type": "pid"}),
            json!({"type": "ipc"}),
            json!({"type": "uts"}),
            json!({"type": "mount"}),
            json!({"type": "network"}),
        ];
        let mut linux = json!({
            "namespaces": [],
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
            "seccomp": seccomp,
        });
        if self.rootless {
            namespaces.push(json!({"type": "user"}));
            let map = json!([
                {"containerID": 0, "hostID": ROOTLESS_UID, "size": 1},
                {"containerID": 1, "hostID": SUBID_START, "size": SUBID_COUNT},
            ]);
            linux["uidMappings"] = map.clone();
            linux["gidMappings"] = map;
        } else {
            let mut rules = vec![json!({"allow": false, "access": "rwm"})];
            if pod.gpus {
                rules.push(json!({"allow": true, "type": "c", "major": 1, "minor": 3,
                                  "access": "rw"}));
            }
            linux["resources"] = json!({"devices": rules});
        }
        linux["namespaces"] = json!(namespaces);
        if pod.gpus {
            // The device plugin's allocation: two GPUs and the control node,
            // here all with /dev/null's numbers.
            linux["devices"] = json!(
                ["/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl"]
                    .iter()
                    .map(|p| json!({"path": p, "type": "c", "major": 1, "minor": 3,
                                "fileMode": 0o666, "uid": 0, "gid": 0}))
                    .collect::<Vec<_>>()
            );
        }
        // containerd adds the primary group as a supplementary one; runc
        // refuses any in a rootless container.
        let user = if self.rootless {
            json!({"uid": pod.uid, "gid": pod.gid})
        } else {
            json!({"uid": pod.uid, "gid": pod.gid, "additionalGids": [pod.gid]})
        };
        json!({
            "ociVersion": "1.0.2-dev",
            "process": {
                "terminal": false,
                "user": user,
                "args": pod.args,
                "env": [
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "HOSTNAME=openshell-pod",
                    "KUBERNETES_SERVICE_HOST=10.96.0.1",
                    "KUBERNETES_SERVICE_PORT=443",
                ],
                "cwd": "/",
                "capabilities": {
                    "bounding": caps,
                    "effective": if root { &caps } else { &none },
                    "permitted": if root { &caps } else { &none },
                },
                "noNewPrivileges": false,
                "oomScoreAdj": 1000,
            },
            "root": {"path": self.tools.images.path(pod.image), "readonly": true},
            "hostname": "openshell-pod",
            "mounts": mounts,
            "linux": linux,
        })
    }

    /// Write a bundle directory for `pod`.
    fn bundle(&self, name: &str, pod: &Pod) -> PathBuf {
        let b = self.dir.join("bundles").join(name);
        fs::create_dir_all(&b).unwrap();
        fs::set_permissions(&b, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(b.parent().unwrap(), fs::Permissions::from_mode(0o755)).unwrap();
        let text = serde_json::to_string_pretty(&self.config(pod)).unwrap();
        put(&b, "config.json", text.as_bytes(), 0o644);
        b
    }

    /// A runc command with this world's state directory (and, rootless,
    /// run by the rootless user).
    fn runc(&self, args: &[&str]) -> Command {
        let state = self.dir.join("state");
        if self.rootless {
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
                .arg(ROOTLESS_SH)
                .arg("sh")
                .arg(self.dir.join("ids"))
                .arg(ROOTLESS_UID.to_string())
                .arg(&self.tools.runc)
                .args(["--rootless", "true", "--root"])
                .arg(&state)
                .args(args)
                .env("XDG_RUNTIME_DIR", &state);
            c
        } else {
            let mut c = Command::new(&self.tools.runc);
            c.arg("--root").arg(&state).args(args);
            c
        }
    }

    /// Run a runc subcommand to completion (kill, delete).
    fn runc_quiet(&self, args: &[&str]) -> Run {
        Run::from(
            self.runc(args)
                .stdin(Stdio::null())
                .output()
                .expect("spawn runc"),
        )
    }

    fn new_id(&self, name: &str) -> String {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let id = format!("osb-{}-{name}-{}-{n}", self.test, std::process::id());
        self.ids.lock().unwrap().push(id.clone());
        id
    }

    /// Start `runc run` for an existing bundle.
    fn start(&self, name: &str, bundle: &Path) -> Running<'_> {
        let id = self.new_id(name);
        let mut child = self
            .runc(&["run", "--bundle", bundle.to_str().unwrap(), &id])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn runc run");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(l) = line else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Running {
            world: self,
            id,
            child: Some(child),
            lines,
            stdout: Vec::new(),
            stderr: Some(stderr),
        }
    }

    fn spawn(&self, name: &str, pod: &Pod) -> Running<'_> {
        let b = self.bundle(name, pod);
        self.start(name, &b)
    }

    /// Run one container to completion; what it printed goes to the test
    /// log (`--nocapture` shows it).
    fn run(&self, name: &str, pod: &Pod) -> Run {
        let r = self.spawn(name, pod).finish(RUN_TIMEOUT);
        note(&format!("{}/{name}", self.test), &r);
        r
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let ids = std::mem::take(&mut *self.ids.lock().unwrap_or_else(|e| e.into_inner()));
        for id in ids {
            let _ = self.runc_quiet(&["delete", "-f", &id]);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A container started with `runc run` in the foreground.
struct Running<'w> {
    world: &'w World,
    id: String,
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    stdout: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Running<'_> {
    /// Wait until the workload prints a line equal to `want`.
    fn wait_line(&mut self, want: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stdout.iter().any(|l| l == want) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.stdout.push(l),
                Err(_) => return false,
            }
        }
    }

    /// `runc kill ID SIGNAL`.
    fn kill(self, signal: &str) -> Self {
        let r = self.world.runc_quiet(&["kill", &self.id, signal]);
        if r.code != 0 {
            let e = r.explain();
            let f = self.finish(Duration::from_secs(5));
            panic!(
                "runc kill {signal}\n{e}\n--- the container\n{}",
                f.explain()
            );
        }
        self
    }

    /// Wait for the container to exit; its status is runc's.
    fn finish(mut self, timeout: Duration) -> Run {
        let deadline = Instant::now() + timeout;
        let status = {
            let child = self.child.as_mut().unwrap();
            loop {
                if let Some(s) = child.try_wait().unwrap() {
                    break Some(s);
                }
                if Instant::now() > deadline {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        let Some(status) = status else {
            let _ = self.world.runc_quiet(&["kill", &self.id, "KILL"]);
            let mut child = self.child.take().unwrap();
            let _ = child.wait();
            let r = self.collect(-1, None);
            panic!(
                "container {} still running after {timeout:?}; killed\n{}",
                self.id,
                r.explain()
            );
        };
        self.child = None;
        self.collect(status.code().unwrap_or(-1), status.signal())
    }

    fn collect(&mut self, code: i32, signal: Option<i32>) -> Run {
        // The pipe closes once every process of the container is gone.
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.stdout.push(l);
        }
        let mut stdout = self.stdout.join("\n");
        if !stdout.is_empty() {
            stdout.push('\n');
        }
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        Run {
            code,
            signal,
            stdout,
            stderr,
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = self.world.runc_quiet(&["kill", &self.id, "KILL"]);
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.world.runc_quiet(&["delete", "-f", &self.id]);
    }
}

// ---- assertions ----

/// One line per container: exit status, what it printed.
fn note(what: &str, r: &Run) {
    let out: Vec<&str> = r.stdout.lines().chain(errors(r)).collect();
    eprintln!("pod {what}: exit {}: {}", r.code, out.join(" | "));
}

fn exit(r: &Run, code: i32) {
    assert_eq!(r.code, code, "exit status\n{}", r.explain());
}

/// The pod ran with no capability left, as uid:gid, under no_new_privs and
/// seccomp.
fn unprivileged(r: &Run, uid: u32, gid: u32) {
    assert_eq!(status(r, "Uid"), format!("{uid}\t{uid}\t{uid}\t{uid}"));
    assert_eq!(status(r, "Gid"), format!("{gid}\t{gid}\t{gid}\t{gid}"));
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status(r, set), NO_CAPS, "{set}\n{}", r.explain());
    }
    assert_eq!(status(r, "NoNewPrivs"), "1", "{}", r.explain());
    assert_eq!(status(r, "Seccomp"), "2", "{}", r.explain());
}

/// Writes the emptyDir accepts and the rest of /tmp (a writable tmpfs)
/// refuses only under the policy.
const WRITES: &str = "/probe write /tmp/ok/f; /probe write /tmp/denied";

// ---- scenarios ----

#[test]
fn pod_as_root_runs_workload_as_policy_user_without_privileges() {
    let t = "pod_as_root_runs_workload_as_policy_user_without_privileges";
    let Some(tools) = tools(t) else { return };
    let w = World::new(t, tools, BUSYBOX_POLICY);

    // Control: what the runtime gives the pod (root, the Kubernetes set,
    // RuntimeDefault, privilege escalation allowed).
    let c = w.run("control", &Pod::bare(Image::Busybox, &[PROBE, "status"]));
    exit(&c, 0);
    assert_eq!(status(&c, "Uid"), "0\t0\t0\t0");
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(status(&c, set), K8S_CAPS_MASK, "{set}\n{}", c.explain());
    }
    assert_eq!(status(&c, "CapInh"), NO_CAPS);
    assert_eq!(status(&c, "NoNewPrivs"), "0");
    assert_eq!(status(&c, "Seccomp"), "2");

    // The image's `sandbox` user, named by the policy, resolved from the
    // image's /etc/passwd.
    let r = w.run(
        "sandboxed",
        &Pod::sandboxed(Image::Busybox, &[PROBE, "status"]),
    );
    exit(&r, 0);
    unprivileged(&r, 1000, 1000);
    assert_eq!(status(&r, "Groups"), "", "{}", r.explain());
}

#[test]
fn pod_as_root_landlock_refuses_write_outside_read_write() {
    let t = "pod_as_root_landlock_refuses_write_outside_read_write";
    let Some(tools) = tools(t) else { return };
    let w = World::new(t, tools, BUSYBOX_POLICY);

    // Control as the same uid: /tmp is a writable tmpfs.
    let c = w.run(
        "control",
        &Pod::bare(Image::Busybox, &sh(WRITES)).user(1000, 1000),
    );
    exit(&c, 0);
    has_line(&c, "ok: /tmp/ok/f");
    has_line(&c, "ok: /tmp/denied");

    let r = w.run("sandboxed", &Pod::sandboxed(Image::Busybox, &sh(WRITES)));
    exit(&r, 1);
    has_line(&r, "ok: /tmp/ok/f");
    has_line(&r, "errno=EACCES(13): /tmp/denied");
}

#[test]
fn pod_exit_codes_propagate() {
    let t = "pod_exit_codes_propagate";
    let Some(tools) = tools(t) else { return };
    let w = World::new(t, tools, BUSYBOX_POLICY);

    for code in [0, 3] {
        let r = w.run(
            &format!("exit{code}"),
            &Pod::sandboxed(Image::Busybox, &[PROBE, "exit", &code.to_string()]),
        );
        exit(&r, code);
    }

    let r = w.run(
        "missing",
        &Pod::sandboxed(Image::Busybox, &["/nonexistent"]),
    );
    exit(&r, 127);
    assert_eq!(
        errors(&r),
        ["openshell-sandbox: workload /nonexistent: no such file or directory"],
        "{}",
        r.explain()
    );

    // A bad policy: nothing runs, one line names the file, place and cause.
    w.set_policy("version: 1\nfilesystem_policy:\n  read_write: [tmp/x]\n");
    let r = w.run(
        "badpolicy",
        &Pod::sandboxed(Image::Busybox, &[PROBE, "exit", "0"]),
    );
    exit(&r, 125);
    assert_eq!(r.stdout, "", "{}", r.explain());
    assert_eq!(
        errors(&r),
        [
            "openshell-sandbox: /etc/openshell/policy.yaml:3:16: filesystem_policy.read_write[0]: \"tmp/x\" is not an absolute path",
            "hint: write it from the root, e.g. \"/tmp/x\"",
        ],
        "{}",
        r.explain()
    );
}

#[test]
fn pod_run_as_non_root_still_applies_landlock_and_seccomp() {
    let t = "pod_run_as_non_root_still_applies_landlock_and_seccomp";
    let Some(tools) = tools(t) else { return };
    let w = World::new(t, tools, BUSYBOX_POLICY);
    // PER_LINUX32: RuntimeDefault allows it, the supervisor's filter does not.
    let script = format!("/probe status; {WRITES}; /probe personality 0x0008");

    let c = w.run(
        "control",
        &Pod::bare(Image::Busybox, &sh(&script)).user(1000, 1000),
    );
    exit(&c, 0);
    assert_eq!(status(&c, "Uid"), "1000\t1000\t1000\t1000");
    assert_eq!(status(&c, "CapBnd"), K8S_CAPS_MASK);
    assert_eq!(status(&c, "CapEff"), NO_CAPS);
    assert_eq!(status(&c, "NoNewPrivs"), "0");
    has_line(&c, "ok: /tmp/denied");
    has_line(&c, "ok: personality");

    let r = w.run(
        "sandboxed",
        &Pod::sandboxed(Image::Busybox, &sh(&script)).user(1000, 1000),
    );
    exit(&r, 1);
    assert_eq!(status(&r, "Uid"), "1000\t1000\t1000\t1000");
    assert_eq!(status(&r, "CapEff"), NO_CAPS);
    assert_eq!(status(&r, "NoNewPrivs"), "1");
    assert_eq!(status(&r, "Seccomp"), "2");
    has_line(&r, "ok: /tmp/ok/f");
    has_line(&r, "errno=EACCES(13): /tmp/denied");
    has_line(&r, "errno=EPERM(1): personality");
}

#[test]
fn pod_rootless_runc_in_a_user_namespace_runs_the_sandbox() {
    let t = "pod_rootless_runc_in_a_user_namespace_runs_the_sandbox";
    let Some(tools) = tools(t) else { return };
    let Some(w) = World::rootless(t, tools, BUSYBOX_POLICY) else {
        return;
    };
    let script = format!("/probe status; cat /proc/self/uid_map; {WRITES}");

    let c = w.run(
        "control",
        &Pod::bare(Image::Busybox, &sh(&script)).user(1000, 1000),
    );
    exit(&c, 0);
    has_line(&c, "ok: /tmp/denied");

    // The supervisor starts as root of the user namespace (host uid 1500)
    // and switches to the image's sandbox user (host uid 100999).
    let r = w.run("sandboxed", &Pod::sandboxed(Image::Busybox, &sh(&script)));
    exit(&r, 1);
    unprivileged(&r, 1000, 1000);
    let map: Vec<String> = r
        .stdout
        .lines()
        .filter(|l| l.split_whitespace().count() == 3)
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        map,
        [
            format!("0 {ROOTLESS_UID} 1"),
            format!("1 {SUBID_START} {SUBID_COUNT}")
        ],
        "{}",
        r.explain()
    );
    has_line(&r, "ok: /tmp/ok/f");
    has_line(&r, "errno=EACCES(13): /tmp/denied");
}

#[test]
fn pod_pid1_forwards_term_to_the_workload() {
    let t = "pod_pid1_forwards_term_to_the_workload";
    let Some(tools) = tools(t) else { return };
    let w = World::new(t, tools, BUSYBOX_POLICY);

    // A workload that TERM kills: the container exits 128+15.
    let mut p = w.spawn(
        "killed",
        &Pod::sandboxed(
            Image::Busybox,
            &sh("echo \"ready $PPID $(cat /proc/1/comm)\"; exec /probe sleep 30"),
        ),
    );
    // PID 1 is the supervisor (comm is cut at 15 bytes), the workload its child.
    let ready = "ready 1 openshell-sandb";
    assert!(
        p.wait_line(ready, Duration::from_secs(10)),
        "no {ready:?} from the workload\n{}",
        p.finish(Duration::from_secs(1)).explain()
    );
    let p = p.kill("TERM");
    let r = p.finish(Duration::from_secs(10));
    note(&format!("{t}/killed"), &r);
    exit(&r, 143);

    // A workload that handles TERM: it sees the signal and exits 0.
    let mut p = w.spawn(
        "handled",
        &Pod::sandboxed(Image::Busybox, &[PROBE, "signals", "1"]),
    );
    assert!(
        p.wait_line("ready", Duration::from_secs(10)),
        "no ready line\n{}",
        p.finish(Duration::from_secs(1)).explain()
    );
    let p = p.kill("TERM");
    let r = p.finish(Duration::from_secs(10));
    note(&format!("{t}/handled"), &r);
    exit(&r, 0);
    has_line(&r, "signal 15");
}

#[test]
fn pod_pid1_reaps_orphaned_zombies() {
    let t = "pod_pid1_reaps_orphaned_zombies";
    let Some(tools) = tools(t) else { return };
    let w = World::new(t, tools, BUSYBOX_POLICY);

    // Control: the workload itself as PID 1 inherits the orphan and never
    // reaps it.
    // `probe orphan` leaves a grandchild that exits 200 ms after its parent,
    // then looks at it 800 ms later.
    let c = w.run("control", &Pod::bare(Image::Busybox, &[PROBE, "orphan"]));
    exit(&c, 1);
    assert!(
        c.stdout.contains("not reaped: grandchild ") && c.stdout.contains(", state Z"),
        "{}",
        c.explain()
    );

    let r = w.run(
        "sandboxed",
        &Pod::sandboxed(Image::Busybox, &[PROBE, "orphan"]),
    );
    exit(&r, 0);
    has_line(&r, "ok: grandchild reaped");
}

/// The fake GPUs' CDI spec: /dev/null's numbers, as the OCI devices have.
const FAKE_GPU_SPEC: &str = r#"cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
- name: "0"
  containerEdits:
    deviceNodes: [{path: /dev/nvidia0, type: c, major: 1, minor: 3}]
- name: "1"
  containerEdits:
    deviceNodes: [{path: /dev/nvidia1, type: c, major: 1, minor: 3}]
containerEdits:
  deviceNodes: [{path: /dev/nvidiactl, type: c, major: 1, minor: 3}]
"#;

#[test]
fn pod_fake_gpus_only_the_requested_gpu_opens() {
    let t = "pod_fake_gpus_only_the_requested_gpu_opens";
    let Some(tools) = tools(t) else { return };
    let policy = format!("{BUSYBOX_POLICY}devices: {{cdi: {{devices: [nvidia.com/gpu=0]}}}}\n");
    let w = World::new(t, tools, &policy);
    w.write_cdi("nvidia.yaml", FAKE_GPU_SPEC);
    let script =
        "/probe openrw /dev/nvidia0; /probe openrw /dev/nvidiactl; /probe openrw /dev/nvidia1";

    // Control: the pod was given both GPUs.
    let c = w.run(
        "control",
        &Pod::bare(Image::Busybox, &sh(script))
            .user(1000, 1000)
            .gpus(),
    );
    exit(&c, 0);
    has_line(&c, "ok: /dev/nvidia1");

    let r = w.run(
        "sandboxed",
        &Pod::sandboxed(Image::Busybox, &sh(script)).gpus(),
    );
    exit(&r, 1);
    has_line(&r, "ok: /dev/nvidia0");
    has_line(&r, "ok: /dev/nvidiactl");
    has_line(&r, "errno=EACCES(13): /dev/nvidia1");
}

#[test]
fn pod_shell_less_image_with_numeric_identity() {
    let t = "pod_shell_less_image_with_numeric_identity";
    let Some(tools) = tools(t) else { return };
    let w = World::new(
        t,
        tools,
        "version: 1
filesystem_policy:
  read_only: [/probe, /proc]
  read_write: [/dev/null, /tmp/ok]
process: {run_as_user: 1500, run_as_group: 1500}
",
    );
    let r = w.run(
        "numeric",
        &Pod::sandboxed(Image::Distroless, &[PROBE, "status"]),
    );
    exit(&r, 0);
    unprivileged(&r, 1500, 1500);

    // A name needs the image's /etc/passwd, which this image lacks.
    w.set_policy("version: 1\nprocess: {run_as_user: sandbox}\n");
    let r = w.run(
        "named",
        &Pod::sandboxed(Image::Distroless, &[PROBE, "status"]),
    );
    exit(&r, 125);
    assert_eq!(
        errors(&r),
        [
            "openshell-sandbox: identity: user \"sandbox\" cannot be resolved: the image has no /etc/passwd (use a numeric id)"
        ],
        "{}",
        r.explain()
    );
}

/// Launches of the binary as a container entrypoint while the node's copy
/// is replaced, and replacements.
const HOT_LAUNCHES: usize = 120;
const HOT_REPLACEMENTS: usize = 6;

#[test]
fn pod_hot_replacement_every_launch_runs_old_or_new() {
    let t = "pod_hot_replacement_every_launch_runs_old_or_new";
    let Some(tools) = tools(t) else { return };
    let w = World::new(t, tools, BUSYBOX_POLICY);

    // Build A is the static binary; B is A with its commit id rewritten
    // (the same code, another `--version` line).
    let a_bytes = fs::read(&tools.sandbox).unwrap();
    let version_of = |p: &Path| {
        let o = Command::new(p).arg("--version").output().unwrap();
        assert!(o.status.success());
        String::from_utf8(o.stdout).unwrap()
    };
    let b_bytes = with_other_commit(&tools.sandbox, &a_bytes);
    mkdirs(&w.dir, &["stage"]);
    put(&w.dir, "stage/a", &a_bytes, 0o755);
    put(&w.dir, "stage/b", &b_bytes, 0o755);
    let stage = |n: &str| w.dir.join("stage").join(n);
    let (a_line, b_line) = (version_of(&stage("a")), version_of(&stage("b")));
    assert_ne!(a_line, b_line);
    let dest = w.dir.join("node/bin/openshell-sandbox");

    // The entrypoint alone: `openshell-sandbox --version`.
    let pod = Pod::bare(Image::Busybox, &[SANDBOX, "--version"]);
    let bundle = w.bundle("launch", &pod);
    let launched = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::<String>::new());
    let seen = Mutex::new((0usize, 0usize));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while launched.fetch_add(1, Ordering::SeqCst) < HOT_LAUNCHES {
                    let r = w.start("launch", &bundle).finish(RUN_TIMEOUT);
                    if r.code == 0 && r.stdout == a_line {
                        seen.lock().unwrap().0 += 1;
                    } else if r.code == 0 && r.stdout == b_line {
                        seen.lock().unwrap().1 += 1;
                    } else {
                        failures.lock().unwrap().push(r.explain());
                    }
                }
            });
        }
        s.spawn(|| {
            for i in 0..HOT_REPLACEMENTS {
                // Spread the replacements over the launches.
                let due = (i + 1) * HOT_LAUNCHES / (HOT_REPLACEMENTS + 1);
                while launched.load(Ordering::SeqCst) < due {
                    std::thread::sleep(Duration::from_millis(5));
                }
                let from = stage(if i % 2 == 0 { "b" } else { "a" });
                let o = Command::new(&tools.sandbox)
                    .arg("install")
                    .arg("--from")
                    .arg(&from)
                    .arg(&dest)
                    .output()
                    .unwrap();
                assert!(
                    o.status.success(),
                    "install --from {} failed: {}",
                    from.display(),
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        });
    });
    let failures = failures.into_inner().unwrap();
    let (saw_a, saw_b) = seen.into_inner().unwrap();
    eprintln!(
        "hot replacement: {} launches in {:.1}s, {HOT_REPLACEMENTS} installs, {saw_a} ran A, {saw_b} ran B, {} failed",
        saw_a + saw_b + failures.len(),
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} launches failed; first:\n{}",
        failures.len(),
        failures[0]
    );
    assert!(saw_a + saw_b >= 100);
    assert!(
        saw_a > 0 && saw_b > 0,
        "both versions should have run: A {saw_a}, B {saw_b}"
    );
}
