//! Real container runtimes playing what `deploy/` ships, the way users run
//! the binary: a Kubernetes Pod manifest played by `podman kube play`
//! (rootful, and rootless as a non-root user), CDI devices injected by
//! `podman run --device`, and the node's binary replaced under load through
//! a real `dockerd` with `docker cp`.
//!
//! Scenarios:
//!
//! - `deploy/pod.yaml` played as written (the image, the hostPath of the
//!   node directory and the workload's `args` swapped for the test's, and a
//!   second emptyDir added): the exit code passes through, the granted
//!   emptyDir is writable, the other is refused, NoNewPrivs is 1, the
//!   supervisor adds its seccomp filter to the runtime's, PID 1 is the
//!   supervisor and forwards `podman stop`'s SIGTERM. The controls are the
//!   same manifest without the supervisor (`command` is the workload),
//!   where both emptyDirs are writable, and with `allowPrivilegeEscalation`
//!   true, where only the supervisor sets NoNewPrivs.
//! - CDI: fake device nodes (made with mknod, the numbers of /dev/null and
//!   /dev/zero) described by a spec in a private `/etc/cdi`; podman injects
//!   them, the supervisor grants only the policy's device, a control
//!   without the supervisor opens both, and a device the runtime did not
//!   inject stops the launch with 125 and a line naming it.
//! - The node installer's init container (`deploy/node-installer.yaml`):
//!   its command, run with its securityContext, installs the binary.
//! - Hot replacement: a "node" container holds the binary directory
//!   read-write, two "pod" containers launch the binary from it read-only
//!   in a loop, and the binary is replaced 100 times per method. Plain
//!   `docker cp` onto the live path: failed launches are counted and
//!   printed, not asserted (they depend on timing). The README's recipe
//!   (`docker cp` to a staging path, then `install`): no failed launch,
//!   asserted. An interrupted `docker cp` (a tar stream cut half way) to
//!   the staging path leaves a truncated file there that `install` refuses,
//!   and the live binary stays whole; the same cut stream onto the live
//!   path is printed for comparison.
//!
//! Isolation: every runtime gets private state under the test's scratch
//! directory. Podman runs with its own `CONTAINERS_CONF` and
//! `CONTAINERS_STORAGE_CONF` (graphroot and runroot in scratch, the `vfs`
//! driver), `HOME` and `XDG_RUNTIME_DIR`; dockerd with its own
//! `--data-root`, `--exec-root`, `--pidfile` and unix socket, no iptables
//! and no bridge. Images are built here from busybox-static (`podman
//! import` / `docker import` of a tarball), nothing is pulled. Guards
//! remove every pod, container, volume and image, stop daemons (and
//! rootless podman's pause process) by pid and delete the scratch
//! directory, also when a test fails.
//!
//! Host notes, handled here rather than by hand:
//!
//! - Root on some machines lacks CAP_SYS_RESOURCE, and podman's default
//!   rlimits (nofile and nproc raised to the maximum) then fail with
//!   `error setting rlimit type 7` (or 6): the private containers.conf
//!   sets `default_ulimits` no higher than this process's own.
//! - Rootless podman has no network without slirp4netns or pasta: every
//!   play and run uses `--network none`.
//! - Rootless needs a user with subordinate ids: `openshell-rootless` is
//!   created (`useradd --system`) and given 65536 subuids and subgids if it
//!   has none; both stay for later runs.
//! - `podman kube play` chowns a ConfigMap volume it creates to the pod's
//!   `runAsUser`, and the supervisor rightly refuses a policy in a
//!   directory the workload's uid owns. Creating the volume first with
//!   `podman volume create --opt o=uid=0,gid=0 openshell-policy` keeps it
//!   root's, and kube play fills it (deploy/README.md says so too).
//! - Podman 4.3 (Debian 12) has no `cdi_spec_dirs` setting and reads
//!   `/etc/cdi` and `/var/run/cdi` only, so the CDI test runs podman in a
//!   private mount namespace with the test's spec directory bound over
//!   `/etc/cdi` (created empty, and removed afterwards, if absent).
//! - `kube play` builds its infra image from `catatonit`.
//!
//! containerd's CRI plugin (the kubelet's own path) is not exercised:
//! Debian ships no `crictl`, and a CRI client means gRPC and protobuf
//! dependencies for a path that runs the same runc with the same kind of
//! OCI spec as `tests/pods.rs`, which writes those specs field by field as
//! containerd would, and as `kube play` does here from a real manifest.
//!
//! Needs root, podman, catatonit, docker.io (dockerd), uidmap, busybox-static
//! and the musl target; `tests/run.sh` installs them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    BIN, Run, errors, has_line, static_sandbox, status, target_dir, which, with_other_commit,
};

const IMAGE: &str = "localhost/openshell-test/busybox:latest";
const SANDBOX: &str = "/opt/openshell/bin/openshell-sandbox";
const ROOTLESS_USER: &str = "openshell-rootless";
/// How long one runtime command may take before the test gives up.
const CMD_TIMEOUT: u64 = 120;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Skip unless root and every command is on PATH.
fn need(test: &str, cmds: &[(&str, &str)]) -> bool {
    if common::need_root(test) || common::need_abi(test, 1) {
        return true;
    }
    for (cmd, pkg) in cmds {
        if which(cmd).is_none() {
            return common::skip(test, &format!("needs {cmd} (apt-get install {pkg})"));
        }
    }
    false
}

fn put(path: &Path, content: &[u8], mode: u32) {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn mkdir(path: &Path, mode: u32) {
    fs::create_dir_all(path).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A busybox-static root filesystem with the probe at /probe and a
/// `sandbox` user (1000), as a tarball to import.
fn image_tar(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for d in [
        "bin",
        "dev",
        "proc",
        "sys",
        "etc/openshell",
        "opt/openshell/bin",
    ] {
        mkdir(&root.join(d), 0o755);
    }
    for d in ["tmp", "var/tmp"] {
        mkdir(&root.join(d), 0o1777);
    }
    let busybox = which("busybox").unwrap();
    put(
        &root.join("bin/busybox"),
        &fs::read(&busybox).unwrap(),
        0o755,
    );
    let list = Command::new(&busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = root.join("bin").join(applet);
        if !applet.is_empty() && applet != "busybox" && !link.exists() {
            symlink("busybox", link).unwrap();
        }
    }
    put(
        &root.join("etc/passwd"),
        b"root:x:0:0:root:/root:/bin/sh\nsandbox:x:1000:1000:sandbox:/tmp:/bin/sh\n",
        0o644,
    );
    put(
        &root.join("etc/group"),
        b"root:x:0:\nsandbox:x:1000:\n",
        0o644,
    );
    put(
        &root.join("probe"),
        &fs::read(common::probe()).unwrap(),
        0o755,
    );
    let tar = dir.join("busybox.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["--numeric-owner", "-cf"])
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success(), "tar of the image failed");
    let _ = fs::remove_dir_all(&root);
    tar
}

/// A node's binary directory holding the static build.
fn node_bin(dir: &Path) -> PathBuf {
    let d = dir.join("node/bin");
    mkdir(&dir.join("node"), 0o755);
    mkdir(&d, 0o755);
    put(
        &d.join("openshell-sandbox"),
        &fs::read(static_sandbox()).unwrap(),
        0o755,
    );
    d
}

/// `podman`'s rlimits, no higher than this process's own (root without
/// CAP_SYS_RESOURCE cannot raise them, and podman's defaults would).
fn default_ulimits() -> String {
    let hard = |r| {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `l` is a valid rlimit the call fills in.
        #[allow(unsafe_code)]
        let ok = unsafe { libc::getrlimit(r, &mut l) } == 0;
        assert!(ok, "getrlimit");
        l.rlim_max
    };
    let nofile = hard(libc::RLIMIT_NOFILE).min(65536);
    let nproc = hard(libc::RLIMIT_NPROC).min(4096);
    format!("[\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]")
}

/// Run `c` to completion within CMD_TIMEOUT. Its output goes to files,
/// not pipes: podman's conmon and cleanup processes can hold an inherited
/// pipe open for many seconds after the command itself has exited.
fn run(c: &mut Command) -> Run {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = target_dir().join("runtimes-output");
    fs::create_dir_all(&dir).unwrap();
    let n = N.fetch_add(1, Ordering::SeqCst);
    let out = dir.join(format!("{}-{n}.out", std::process::id()));
    let err = dir.join(format!("{}-{n}.err", std::process::id()));
    let what = describe(c);
    let mut child = c
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out).unwrap())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(CMD_TIMEOUT);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let read = |p: &Path| {
        let s = String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
        let _ = fs::remove_file(p);
        s
    };
    let (stdout, stderr) = (read(&out), read(&err));
    let Some(status) = status else {
        panic!("{what}: still running after {CMD_TIMEOUT} s (killed)\n{stdout}\n{stderr}");
    };
    use std::os::unix::process::ExitStatusExt;
    Run {
        code: status.code().unwrap_or(-1),
        signal: status.signal(),
        stdout,
        stderr,
    }
}

fn describe(c: &Command) -> String {
    std::iter::once(c.get_program())
        .chain(c.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run and require exit 0.
fn ok(mut c: Command) -> Run {
    let what = describe(&c);
    let r = run(&mut c);
    assert_eq!(r.code, 0, "{what}\n{}", r.explain());
    r
}

// ---- podman ----

/// A rootless user with subordinate ids, created if absent.
fn rootless_user(test: &str) -> Option<(u32, u32)> {
    for (cmd, pkg) in [
        ("newuidmap", "uidmap"),
        ("newgidmap", "uidmap"),
        ("useradd", "passwd"),
        ("usermod", "passwd"),
        ("setpriv", "util-linux"),
    ] {
        if which(cmd).is_none() {
            common::skip(test, &format!("needs {cmd} (apt-get install {pkg})"));
            return None;
        }
    }
    for (f, refusing) in [
        ("user/max_user_namespaces", "0"),
        ("kernel/unprivileged_userns_clone", "0"),
        ("kernel/apparmor_restrict_unprivileged_userns", "1"),
    ] {
        let v = fs::read_to_string(format!("/proc/sys/{f}")).unwrap_or_default();
        if v.trim() == refusing {
            common::skip(
                test,
                &format!("unprivileged user namespaces are off ({f} = {refusing})"),
            );
            return None;
        }
    }
    let id = |flag: &str| {
        let o = Command::new("id")
            .args([flag, ROOTLESS_USER])
            .output()
            .ok()?;
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .flatten()
    };
    if id("-u").is_none() {
        ok({
            let mut c = Command::new("useradd");
            c.args([
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                "--user-group",
                ROOTLESS_USER,
            ]);
            c
        });
    }
    // Subordinate ids after every range already handed out.
    let has = |f: &str| {
        fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with(&format!("{ROOTLESS_USER}:")))
    };
    if !has("/etc/subuid") || !has("/etc/subgid") {
        for f in ["/etc/subuid", "/etc/subgid"] {
            if !Path::new(f).exists() {
                put(Path::new(f), b"", 0o644);
            }
        }
        let mut start: u64 = 200_000;
        for f in ["/etc/subuid", "/etc/subgid"] {
            for l in fs::read_to_string(f).unwrap_or_default().lines() {
                let p: Vec<&str> = l.split(':').collect();
                if let (Some(s), Some(n)) = (p.get(1), p.get(2))
                    && let (Ok(s), Ok(n)) = (s.parse::<u64>(), n.parse::<u64>())
                {
                    start = start.max(s + n);
                }
            }
        }
        let range = format!("{start}-{}", start + 65535);
        ok({
            let mut c = Command::new("usermod");
            if !has("/etc/subuid") {
                c.args(["--add-subuids", &range]);
            }
            if !has("/etc/subgid") {
                c.args(["--add-subgids", &range]);
            }
            c.arg(ROOTLESS_USER);
            c
        });
    }
    Some((id("-u")?, id("-g")?))
}

/// `/etc/cdi` on the host, created (empty) when absent so a private mount
/// namespace can bind the test's specs over it; removed again if it was
/// created here and is still empty.
struct EtcCdi {
    created: bool,
}

impl EtcCdi {
    fn ensure() -> EtcCdi {
        let p = Path::new("/etc/cdi");
        let created = !p.exists();
        if created {
            mkdir(p, 0o755);
        }
        EtcCdi { created }
    }
}

impl Drop for EtcCdi {
    fn drop(&mut self) {
        if self.created {
            let _ = fs::remove_dir("/etc/cdi");
        }
    }
}

/// One private podman: its own configuration, storage, runtime directory
/// and image; rootless when `user` is set.
struct Podman {
    dir: PathBuf,
    user: Option<(u32, u32)>,
    /// A directory bound over /etc/cdi for every podman command.
    cdi: Option<PathBuf>,
    /// Pod names played, removed with their volumes when dropped.
    pods: std::cell::RefCell<Vec<String>>,
}

impl Podman {
    fn new(test: &str, user: Option<(u32, u32)>) -> Podman {
        // A run killed half way may have left podman's shm mounts behind.
        let dir = common::scratch(test);
        unmount_beneath(&dir);
        let _ = fs::remove_dir_all(&dir);
        mkdir(&dir, 0o755);
        let p = Podman {
            dir: dir.clone(),
            user,
            cdi: None,
            pods: Default::default(),
        };
        let state = dir.join("podman");
        for d in ["home", "xdg", "graph", "run", "tmp"] {
            mkdir(&state.join(d), 0o700);
        }
        put(
            &state.join("containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = {}\n\n[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\ntmp_dir = \"{}\"\n",
                default_ulimits(),
                state.join("tmp").display()
            )
            .as_bytes(),
            0o644,
        );
        put(
            &state.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                state.join("graph").display(),
                state.join("run").display()
            )
            .as_bytes(),
            0o644,
        );
        if let Some((uid, gid)) = user {
            for d in ["", "home", "xdg", "graph", "run", "tmp"] {
                std::os::unix::fs::chown(state.join(d), Some(uid), Some(gid)).unwrap();
            }
        }
        let tar = image_tar(&dir);
        ok(p.cmd(&["import", tar.to_str().unwrap(), IMAGE]));
        p
    }

    fn state(&self, f: &str) -> PathBuf {
        self.dir.join("podman").join(f)
    }

    /// A podman command with this instance's environment (and user, and
    /// private /etc/cdi).
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = match (&self.user, &self.cdi) {
            (Some((uid, gid)), None) => {
                let mut c = Command::new("setpriv");
                c.args([
                    format!("--reuid={uid}"),
                    format!("--regid={gid}"),
                    "--clear-groups".to_string(),
                    "--".to_string(),
                    "podman".to_string(),
                ]);
                c
            }
            (None, Some(cdi)) => {
                let mut c = Command::new("unshare");
                c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
                    .arg("mount --bind \"$0\" /etc/cdi && exec podman \"$@\"")
                    .arg(cdi);
                c
            }
            (None, None) => Command::new("podman"),
            (Some(_), Some(_)) => unreachable!("the CDI test is rootful"),
        };
        c.args(args)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", self.state("home"))
            .env("XDG_RUNTIME_DIR", self.state("xdg"))
            .env("CONTAINERS_CONF", self.state("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.state("storage.conf"))
            .current_dir(&self.dir);
        c
    }

    fn run(&self, args: &[&str]) -> Run {
        run(&mut self.cmd(args))
    }

    /// `podman kube play` of `manifest`, then the container's exit code and
    /// logs once it has exited. The pod and its emptyDir volumes are
    /// removed afterwards.
    fn play(&self, pod: &str, manifest: &str) -> Run {
        let r = self.start(pod, manifest);
        assert_eq!(r.code, 0, "kube play {pod}\n{}", r.explain());
        let r = self.finish(pod);
        self.down(pod);
        r
    }

    fn start(&self, pod: &str, manifest: &str) -> Run {
        let file = self.dir.join(format!("{pod}.yaml"));
        put(&file, manifest.as_bytes(), 0o644);
        self.pods.borrow_mut().push(pod.to_string());
        self.run(&["kube", "play", "--network", "none", file.to_str().unwrap()])
    }

    /// `podman run` (`args` after `run`) to completion: its exit code and
    /// logs; the container is removed. Detached, then watched: attached,
    /// `podman run` 4.3 here waits out a 20 s conmon timeout after the
    /// container has exited.
    fn container(&self, args: &[&str]) -> Run {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!("osb-run-{}", N.fetch_add(1, Ordering::SeqCst));
        let mut a = vec!["run", "-d", "--name", &name];
        a.extend_from_slice(args);
        let r = self.run(&a);
        if r.code != 0 {
            let _ = self.run(&["rm", "-f", &name]);
            return r;
        }
        let r = self.exited(&name);
        let _ = self.run(&["rm", "-f", &name]);
        r
    }

    /// Wait for the pod's workload container; its exit code and logs.
    fn finish(&self, pod: &str) -> Run {
        let r = self.exited(&format!("{pod}-workload"));
        eprintln!(
            "pod {pod}: exit {}: {}",
            r.code,
            r.stdout
                .lines()
                .chain(errors(&r))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        r
    }

    /// Wait for container `name` to exit: its exit code and logs.
    fn exited(&self, name: &str) -> Run {
        // `podman wait` (4.3) sometimes sleeps 20 s past a kube container's
        // exit; its state says the same at once.
        let deadline = Instant::now() + Duration::from_secs(CMD_TIMEOUT);
        let code = loop {
            let s = self.run(&[
                "inspect",
                "--format",
                "{{.State.Status}} {{.State.ExitCode}}",
                name,
            ]);
            assert_eq!(s.code, 0, "podman inspect {name}\n{}", s.explain());
            if let Some(("exited" | "stopped", code)) = s.stdout.trim().split_once(' ') {
                break code.parse().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "{name} still running\n{}",
                s.explain()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let logs = self.run(&["logs", name]);
        Run {
            code,
            signal: None,
            stdout: logs.stdout,
            stderr: logs.stderr,
        }
    }

    fn down(&self, pod: &str) {
        let _ = self.run(&["pod", "rm", "-f", pod]);
        let _ = self.run(&["volume", "rm", "-f", "workspace", "other"]);
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        for pod in self.pods.borrow().iter() {
            let _ = self.run(&["pod", "rm", "-f", pod]);
        }
        let _ = self.run(&["rm", "-a", "-f"]);
        let _ = self.run(&["pod", "rm", "-a", "-f"]);
        let _ = self.run(&["volume", "rm", "-a", "-f"]);
        let _ = self.run(&["rmi", "-a", "-f"]);
        // Rootless podman keeps a pause process holding its user namespace.
        for pidfile in [
            self.state("tmp").join("pause.pid"),
            self.state("xdg").join("libpod/tmp/pause.pid"),
        ] {
            if let Some(pid) = fs::read_to_string(&pidfile)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
                .filter(|p| *p > 1)
            {
                // SAFETY: kill has no memory arguments.
                #[allow(unsafe_code)]
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        unmount_beneath(&self.dir);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `s` with `from` replaced by `to`; `from` must occur exactly once, so a
/// change to the manifest breaks the test loudly rather than silently.
fn swap(s: &str, from: &str, to: &str) -> String {
    assert_eq!(
        s.matches(from).count(),
        1,
        "expected {from:?} once in the manifest"
    );
    s.replacen(from, to, 1)
}

/// The line of `s` starting with `prefix` replaced by `to`.
fn swap_line(s: &str, prefix: &str, to: &str) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| l.starts_with(prefix)).collect();
    assert_eq!(lines.len(), 1, "expected one line starting {prefix:?}");
    swap(s, &format!("{}\n", lines[0]), to)
}

/// `policy.yaml` of the manifest's ConfigMap (the block scalar).
fn configmap_policy(manifest: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for l in manifest.lines() {
        if l == "  policy.yaml: |" {
            inside = true;
        } else if inside {
            if let Some(rest) = l.strip_prefix("    ") {
                out.push_str(rest);
                out.push('\n');
            } else if l.trim().is_empty() {
                out.push('\n');
            } else {
                break;
            }
        }
    }
    assert!(!out.is_empty(), "no policy.yaml in the ConfigMap");
    out
}

/// How the test plays deploy/pod.yaml.
struct Variant<'a> {
    pod: &'a str,
    /// The workload's argv.
    workload: &'a [&'a str],
    /// Keep the supervisor as the entrypoint (false: the control).
    sandboxed: bool,
    /// `allowPrivilegeEscalation` as shipped (false) or true.
    escalation: bool,
}

/// deploy/pod.yaml with the test's image, node directory, workload, pod
/// name and a second emptyDir at /other.
fn example_pod(bin_dir: &Path, v: &Variant) -> String {
    let m = fs::read_to_string(repo().join("deploy/pod.yaml")).unwrap();
    let m = swap(
        &m,
        "  name: openshell-example\n",
        &format!("  name: {}\n", v.pod),
    );
    let m = swap_line(&m, "    image: ", &format!("    image: {IMAGE}\n"));
    let m = swap(
        &m,
        "      path: /opt/openshell/bin\n",
        &format!("      path: {}\n", bin_dir.display()),
    );
    let argv = serde_json::to_string(v.workload).unwrap();
    let m = if v.sandboxed {
        swap_line(&m, "    args: ", &format!("    args: {argv}\n"))
    } else {
        let m = swap_line(&m, "    command: ", &format!("    command: {argv}\n"));
        swap_line(&m, "    args: ", "")
    };
    let m = if v.escalation {
        swap(
            &m,
            "      allowPrivilegeEscalation: false\n",
            "      allowPrivilegeEscalation: true\n",
        )
    } else {
        m
    };
    let m = swap(
        &m,
        "    volumeMounts:\n",
        "    volumeMounts:\n    - name: other\n      mountPath: /other\n",
    );
    swap(
        &m,
        "  volumes:\n",
        "  volumes:\n  - name: other\n    emptyDir: {}\n",
    )
}

/// What each example pod's workload reports, then exit 7.
const REPORT: &str = r#"echo "pid1 $(cat /proc/1/comm) ppid $PPID"
grep -E '^(NoNewPrivs|Seccomp|Seccomp_filters):' /proc/self/status
for d in /workspace /other; do
  if echo x > "$d/f"; then echo "ok: $d"; else echo "denied: $d"; fi
done
exit 7"#;

/// Waits for SIGTERM, which the supervisor must forward.
const TERM: &str = r#"trap 'echo "got TERM"; exit 42' TERM
echo "ready $$ $PPID"
while :; do sleep 1; done"#;

/// The example Pod, played by `podman`: every assertion of the issue, with
/// its controls.
fn example_pod_scenario(p: &Podman) {
    let bin = node_bin(&p.dir);
    // Kubernetes ConfigMap volumes are root's; podman's kube play would
    // chown one it creates to runAsUser.
    let v = p.run(&[
        "volume",
        "create",
        "--opt",
        "o=uid=0,gid=0",
        "openshell-policy",
    ]);
    assert_eq!(v.code, 0, "{}", v.explain());
    let report = ["/bin/sh", "-c", REPORT];

    // Control: the workload alone, privilege escalation allowed.
    let c = p.play(
        "osb-control",
        &example_pod(
            &bin,
            &Variant {
                pod: "osb-control",
                workload: &report,
                sandboxed: false,
                escalation: true,
            },
        ),
    );
    assert_eq!(c.code, 7, "{}", c.explain());
    has_line(&c, "ok: /workspace");
    has_line(&c, "ok: /other");
    assert_eq!(status(&c, "NoNewPrivs"), "0", "{}", c.explain());
    assert_eq!(status(&c, "Seccomp"), "2", "{}", c.explain());
    let runtime_filters: u32 = status(&c, "Seccomp_filters").parse().unwrap();

    for escalation in [false, true] {
        let pod = if escalation {
            "osb-escalation"
        } else {
            "osb-example"
        };
        let r = p.play(
            pod,
            &example_pod(
                &bin,
                &Variant {
                    pod,
                    workload: &report,
                    sandboxed: true,
                    escalation,
                },
            ),
        );
        assert_eq!(r.code, 7, "exit code passes through\n{}", r.explain());
        // comm is cut at 15 bytes.
        has_line(&r, "pid1 openshell-sandb ppid 1");
        has_line(&r, "ok: /workspace");
        has_line(&r, "denied: /other");
        // `podman logs` may merge the streams: look at both.
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(
            all.contains("/other/f: Permission denied"),
            "{}",
            r.explain()
        );
        assert_eq!(status(&r, "NoNewPrivs"), "1", "{}", r.explain());
        assert_eq!(status(&r, "Seccomp"), "2", "{}", r.explain());
        let filters: u32 = status(&r, "Seccomp_filters").parse().unwrap();
        assert!(
            filters > runtime_filters,
            "the supervisor's filter comes on top of the runtime's {runtime_filters}: {filters}\n{}",
            r.explain()
        );
        assert!(
            all.contains("openshell-sandbox: info: landlock: fully enforced"),
            "{}",
            r.explain()
        );
    }

    // PID 1 forwards `podman stop`'s SIGTERM to the workload.
    let pod = "osb-term";
    let s = p.start(
        pod,
        &example_pod(
            &bin,
            &Variant {
                pod,
                workload: &["/bin/sh", "-c", TERM],
                sandboxed: true,
                escalation: false,
            },
        ),
    );
    assert_eq!(s.code, 0, "{}", s.explain());
    let name = format!("{pod}-workload");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let l = p.run(&["logs", &name]);
        if l.stdout.lines().any(|l| l.starts_with("ready ")) {
            // The workload is not PID 1: its parent is.
            assert!(
                l.stdout
                    .lines()
                    .any(|l| l.starts_with("ready ") && l.ends_with(" 1")),
                "{}",
                l.explain()
            );
            break;
        }
        assert!(Instant::now() < deadline, "never ready\n{}", l.explain());
        std::thread::sleep(Duration::from_millis(100));
    }
    let t = Instant::now();
    let st = p.run(&["stop", "-t", "20", &name]);
    let took = t.elapsed();
    assert_eq!(st.code, 0, "{}", st.explain());
    let r = p.finish(pod);
    p.down(pod);
    eprintln!("podman stop took {:.1}s", took.as_secs_f64());
    assert_eq!(
        r.code,
        42,
        "the workload's TERM handler ran\n{}",
        r.explain()
    );
    has_line(&r, "got TERM");
    assert!(
        took < Duration::from_secs(15),
        "stop fell back to SIGKILL: {took:?}"
    );
}

#[test]
fn podman_kube_play_example_pod_rootful() {
    let t = "podman_kube_play_example_pod_rootful";
    if need(
        t,
        &[
            ("podman", "podman"),
            ("catatonit", "catatonit"),
            ("busybox", "busybox-static"),
        ],
    ) {
        return;
    }
    let started = Instant::now();
    let p = Podman::new(t, None);
    example_pod_scenario(&p);
    eprintln!("{t}: {:.1}s", started.elapsed().as_secs_f64());
}

#[test]
fn podman_kube_play_example_pod_rootless() {
    let t = "podman_kube_play_example_pod_rootless";
    if need(
        t,
        &[
            ("podman", "podman"),
            ("catatonit", "catatonit"),
            ("busybox", "busybox-static"),
        ],
    ) {
        return;
    }
    let Some(user) = rootless_user(t) else {
        return;
    };
    let started = Instant::now();
    let p = Podman::new(t, Some(user));
    // Really rootless: container root is the user, not host root.
    let m = p.container(&["--network", "none", IMAGE, "cat", "/proc/self/uid_map"]);
    assert_eq!(m.code, 0, "{}", m.explain());
    let first: Vec<&str> = m
        .stdout
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        first,
        ["0", &user.0.to_string(), "1"],
        "uid_map\n{}",
        m.explain()
    );
    example_pod_scenario(&p);
    eprintln!("{t}: {:.1}s", started.elapsed().as_secs_f64());
}

/// Character devices with /dev/null's and /dev/zero's numbers.
fn mknod(path: &Path, major: u32, minor: u32) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    #[allow(unsafe_code)]
    let r = unsafe {
        libc::mknod(
            c.as_ptr(),
            libc::S_IFCHR | 0o666,
            libc::makedev(major, minor),
        )
    };
    assert_eq!(r, 0, "mknod {}", path.display());
    fs::set_permissions(path, fs::Permissions::from_mode(0o666)).unwrap();
}

const CDI_KIND: &str = "openshell.test/fakegpu";

#[test]
fn podman_cdi_injected_device_only_the_granted_node_opens() {
    let t = "podman_cdi_injected_device_only_the_granted_node_opens";
    if need(
        t,
        &[
            ("podman", "podman"),
            ("unshare", "util-linux"),
            ("busybox", "busybox-static"),
        ],
    ) {
        return;
    }
    let _etc_cdi = EtcCdi::ensure();
    let mut p = Podman::new(t, None);
    let bin = node_bin(&p.dir);
    let devs = p.dir.join("devs");
    mkdir(&devs, 0o755);
    mknod(&devs.join("fake0"), 1, 3);
    mknod(&devs.join("fake1"), 1, 5);
    let cdi = p.dir.join("cdi");
    mkdir(&cdi, 0o755);
    put(
        &cdi.join("fakegpu.yaml"),
        format!(
            "cdiVersion: 0.5.0\nkind: {CDI_KIND}\ndevices:\n- name: \"0\"\n  containerEdits:\n    deviceNodes: [{{path: /dev/fakegpu0, hostPath: {}, permissions: rw}}]\n- name: \"1\"\n  containerEdits:\n    deviceNodes: [{{path: /dev/fakegpu1, hostPath: {}, permissions: rw}}]\n",
            devs.join("fake0").display(),
            devs.join("fake1").display()
        )
        .as_bytes(),
        0o644,
    );
    p.cdi = Some(cdi.clone());
    let policy_dir = p.dir.join("policy");
    mkdir(&policy_dir, 0o755);
    put(
        &policy_dir.join("policy.yaml"),
        format!(
            "version: 1
filesystem_policy:
  read_only: [/bin, /etc, /proc, /probe]
  read_write: [/dev/null]
process: {{run_as_user: sandbox}}
devices: {{cdi: {{devices: [{CDI_KIND}=0]}}}}
"
        )
        .as_bytes(),
        0o644,
    );
    let script = "/probe openrw /dev/fakegpu0; /probe openrw /dev/fakegpu1";
    let vols = [
        format!("{}:/opt/openshell/bin:ro", bin.display()),
        format!("{}:/etc/openshell:ro", policy_dir.display()),
        format!("{}:/etc/cdi:ro", cdi.display()),
    ];
    let podman_run = |devices: &[&str], user: &str, argv: &[&str]| {
        let mut args: Vec<String> = ["--network", "none", "--read-only"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(["--user".to_string(), user.to_string()]);
        for d in devices {
            args.extend(["--device".to_string(), format!("{CDI_KIND}={d}")]);
        }
        for v in &vols {
            args.extend(["-v".to_string(), v.clone()]);
        }
        args.push(IMAGE.to_string());
        args.extend(argv.iter().map(|s| s.to_string()));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = p.container(&a);
        eprintln!(
            "podman run --device {devices:?}: exit {}: {}",
            r.code,
            r.stdout
                .lines()
                .chain(errors(&r))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        r
    };
    let sandboxed = |script: &str| {
        vec![
            SANDBOX.to_string(),
            "--".to_string(),
            "/bin/sh".to_string(),
            "-c".to_string(),
            script.to_string(),
        ]
    };

    // Control: without the supervisor the container opens both nodes the
    // runtime injected.
    let c = podman_run(&["0", "1"], "1000:1000", &["/bin/sh", "-c", script]);
    assert_eq!(c.code, 0, "{}", c.explain());
    has_line(&c, "ok: /dev/fakegpu0");
    has_line(&c, "ok: /dev/fakegpu1");

    // The sandbox grants exactly the policy's device.
    let argv = sandboxed(script);
    let a: Vec<&str> = argv.iter().map(String::as_str).collect();
    let r = podman_run(&["0", "1"], "0:0", &a);
    assert_eq!(r.code, 1, "{}", r.explain());
    has_line(&r, "ok: /dev/fakegpu0");
    has_line(&r, "errno=EACCES(13): /dev/fakegpu1");

    // The runtime did not inject the device the policy asks for.
    let r = podman_run(&["1"], "0:0", &a);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert_eq!(r.stdout, "", "nothing ran\n{}", r.explain());
    assert_eq!(
        errors(&r)[0],
        format!("openshell-sandbox: cdi: device node /dev/fakegpu0 ({CDI_KIND}=0): does not exist"),
        "{}",
        r.explain()
    );
    assert!(
        errors(&r)[1].starts_with("hint: the container runtime did not inject this device"),
        "{}",
        r.explain()
    );
}

/// The node installer's init container: its command from
/// deploy/node-installer.yaml, run with the securityContext it asks for
/// (root, no capability, no privilege escalation, read-only root), installs
/// the binary into an empty node directory.
#[test]
fn podman_node_installer_command_installs_the_binary() {
    let t = "podman_node_installer_command_installs_the_binary";
    if need(t, &[("podman", "podman"), ("busybox", "busybox-static")]) {
        return;
    }
    let p = Podman::new(t, None);
    let m = fs::read_to_string(repo().join("deploy/node-installer.yaml")).unwrap();
    for want in [
        "          runAsUser: 0\n",
        "          allowPrivilegeEscalation: false\n",
        "          readOnlyRootFilesystem: true\n",
        "            drop: [ALL]\n",
        "          path: /opt/openshell/bin\n",
        "        - name: bin\n          mountPath: /host/opt/openshell/bin\n",
    ] {
        assert!(m.contains(want), "node-installer.yaml lacks {want:?}");
    }
    let line = m
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with("command: [\"/openshell-sandbox\", \"install\"")
        })
        .expect("the init container's install command");
    let argv: Vec<String> =
        serde_json::from_str(line.trim_start().strip_prefix("command: ").unwrap()).unwrap();
    // The installer image: the static binary alone at /openshell-sandbox.
    let img = p.dir.join("installer");
    mkdir(&img, 0o755);
    put(
        &img.join("openshell-sandbox"),
        &fs::read(static_sandbox()).unwrap(),
        0o755,
    );
    let tar = p.dir.join("installer.tar");
    assert!(
        Command::new("tar")
            .arg("-C")
            .arg(&img)
            .args(["--numeric-owner", "-cf"])
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap()
            .success()
    );
    ok(p.cmd(&[
        "import",
        tar.to_str().unwrap(),
        "localhost/openshell-test/installer",
    ]));
    let host = p.dir.join("host-bin");
    mkdir(&host, 0o755);
    let vol = format!("{}:/host/opt/openshell/bin", host.display());
    let mut args = vec![
        "--network",
        "none",
        "--user",
        "0",
        "--cap-drop",
        "all",
        "--security-opt",
        "no-new-privileges",
        "--read-only",
        "-v",
        &vol,
        "localhost/openshell-test/installer",
    ];
    args.extend(argv.iter().map(String::as_str));
    let r = p.container(&args);
    eprintln!("installer: exit {}: {}", r.code, r.stdout.trim());
    assert_eq!(r.code, 0, "{}", r.explain());
    let installed = host.join("openshell-sandbox");
    assert_eq!(
        fs::read(&installed).unwrap(),
        fs::read(static_sandbox()).unwrap()
    );
    let mode = fs::metadata(&installed).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o755);
}

// ---- docker ----

/// A dockerd started for one test, with private paths, stopped by pid.
struct Dockerd {
    /// Data root, logs and the client's configuration.
    dir: PathBuf,
    /// Exec root, socket and pid file: a short path, since containerd's
    /// sockets beneath it must fit a unix socket address (108 bytes).
    run: PathBuf,
    docker: PathBuf,
    child: Option<Child>,
}

impl Dockerd {
    fn start(dir: &Path) -> Dockerd {
        let dockerd = which("dockerd").unwrap();
        // The client that came with this dockerd, if there is one beside it.
        let docker = dockerd
            .parent()
            .map(|d| d.join("docker"))
            .filter(|p| p.is_file())
            .or_else(|| which("docker"))
            .expect("a docker client (apt-get install docker.io)");
        let d = dir.join("docker");
        mkdir(&d, 0o700);
        let run = PathBuf::from(format!("/run/osb-dockerd-{}", std::process::id()));
        let _ = fs::remove_dir_all(&run);
        mkdir(&run, 0o700);
        let log = fs::File::create(d.join("dockerd.log")).unwrap();
        let child = Command::new(&dockerd)
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(run.join("exec"))
            .arg("--pidfile")
            .arg(run.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", run.join("docker.sock").display()))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--bridge=none",
                "--userland-proxy=false",
                "--storage-driver=vfs",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn dockerd");
        let dd = Dockerd {
            dir: d,
            run,
            docker,
            child: Some(child),
        };
        let t = Instant::now();
        loop {
            let r = dd.run(&["version", "--format", "{{.Server.Version}}"]);
            if r.code == 0 {
                eprintln!(
                    "dockerd {} ready in {:.2}s",
                    r.stdout.trim(),
                    t.elapsed().as_secs_f64()
                );
                break;
            }
            if t.elapsed() > Duration::from_secs(30) {
                let log = fs::read_to_string(dd.dir.join("dockerd.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                panic!(
                    "dockerd not ready after 30 s\n{}\nlast lines of its log:\n{}",
                    r.explain(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        dd
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.docker);
        c.arg("-H")
            .arg(format!("unix://{}", self.run.join("docker.sock").display()))
            .args(args)
            .env("DOCKER_CONFIG", self.dir.join("client"));
        c
    }

    fn run(&self, args: &[&str]) -> Run {
        run(&mut self.cmd(args))
    }

    fn ok(&self, args: &[&str]) -> Run {
        ok(self.cmd(args))
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ps = self.run(&["ps", "-aq"]);
        let ids: Vec<&str> = ps.stdout.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids);
            let _ = self.run(&args);
        }
        let _ = self.run(&["image", "rm", "-f", IMAGE]);
        let _ = self.run(&["image", "prune", "-a", "-f"]);
        // dockerd by the pid it wrote (its own child here), then the
        // containerd it started, should dockerd not have stopped it.
        let pid = fs::read_to_string(self.run.join("dockerd.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        let containerd = fs::read_to_string(self.run.join("exec/containerd/containerd.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        let mut child = self.child.take().unwrap();
        let kill = |pid: i32, sig| {
            // SAFETY: kill has no memory arguments.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(pid, sig)
            }
        };
        if let Some(pid) = pid.filter(|p| *p > 1) {
            kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        if let Some(pid) = containerd.filter(|p| *p > 1)
            && kill(pid, 0) == 0
        {
            kill(pid, libc::SIGKILL);
        }
        unmount_beneath(&self.run);
        unmount_beneath(&self.dir);
        let _ = fs::remove_dir_all(&self.run);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Detach every mount at or beneath `dir`, deepest first (dockerd binds its
/// data root onto itself and may leave that mount behind).
fn unmount_beneath(dir: &Path) {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
        // SAFETY: `c` is a NUL-terminated path that outlives the call.
        #[allow(unsafe_code)]
        unsafe {
            libc::umount2(c.as_ptr(), libc::MNT_DETACH);
        }
    }
}

/// Two runnable builds that print different version lines: A is the static
/// build, B the same bytes with the embedded commit id rewritten.
struct Builds {
    a: Vec<u8>,
    b: Vec<u8>,
    a_line: String,
    b_line: String,
}

fn builds(dir: &Path) -> Builds {
    let a = fs::read(static_sandbox()).unwrap();
    let b = with_other_commit(&static_sandbox(), &a);
    let line = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        put(&p, bytes, 0o755);
        let o = Command::new(&p).arg("--version").output().unwrap();
        assert!(o.status.success());
        String::from_utf8(o.stdout).unwrap().trim_end().to_string()
    };
    let (a_line, b_line) = (line("a", &a), line("b", &b));
    assert_ne!(a_line, b_line);
    Builds {
        a,
        b,
        a_line,
        b_line,
    }
}

const REPLACEMENTS: usize = 100;

/// The pod containers' loop: launch the node's binary, tell A from B from a
/// failure, and print the tally on SIGTERM.
const LAUNCH_LOOP: &str = r#"a=0; b=0; f=0; stop=0
trap 'stop=1' TERM
echo ready
while [ "$stop" = 0 ]; do
  out=$(/opt/openshell/bin/openshell-sandbox --version 2>&1); rc=$?
  if [ "$rc" = 0 ] && [ "$out" = "$A" ]; then a=$((a+1))
  elif [ "$rc" = 0 ] && [ "$out" = "$B" ]; then b=$((b+1))
  else f=$((f+1)); [ "$f" -le 3 ] && echo "failed: exit $rc: $out"
  fi
  usleep 2000
done
echo "launches a=$a b=$b failed=$f""#;

#[derive(Debug, Default)]
struct Tally {
    a: u64,
    b: u64,
    failed: u64,
    samples: Vec<String>,
}

/// Start two pod containers launching from the node directory read-only.
fn start_pods(d: &Dockerd, bin: &Path, builds: &Builds, round: &str) -> Vec<String> {
    let vol = format!("{}:/opt/openshell/bin:ro", bin.display());
    let a = format!("A={}", builds.a_line);
    let b = format!("B={}", builds.b_line);
    let names: Vec<String> = (0..2).map(|i| format!("osb-pod-{round}-{i}")).collect();
    for n in &names {
        d.ok(&[
            "run",
            "-d",
            "--name",
            n,
            "--network",
            "none",
            "--read-only",
            "--user",
            "1000:1000",
            "-v",
            &vol,
            "-e",
            &a,
            "-e",
            &b,
            IMAGE,
            "/bin/sh",
            "-c",
            LAUNCH_LOOP,
        ]);
    }
    for n in &names {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !d.run(&["logs", n]).stdout.contains("ready") {
            assert!(Instant::now() < deadline, "pod {n} never ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    names
}

fn stop_pods(d: &Dockerd, names: &[String]) -> Tally {
    let mut t = Tally::default();
    for n in names {
        d.ok(&["kill", "-s", "TERM", n]);
    }
    for n in names {
        let w = d.ok(&["wait", n]);
        assert_eq!(w.stdout.trim(), "0", "pod {n} exit");
        let logs = d.ok(&["logs", n]).stdout;
        let last = logs
            .lines()
            .find_map(|l| l.strip_prefix("launches "))
            .unwrap_or_else(|| panic!("no tally from {n}:\n{logs}"));
        for kv in last.split_whitespace() {
            let (k, v) = kv.split_once('=').unwrap();
            let v: u64 = v.parse().unwrap();
            match k {
                "a" => t.a += v,
                "b" => t.b += v,
                "failed" => t.failed += v,
                _ => panic!("{last}"),
            }
        }
        t.samples.extend(
            logs.lines()
                .filter(|l| l.starts_with("failed: "))
                .map(str::to_string),
        );
        d.ok(&["rm", "-f", n]);
    }
    t
}

/// A tar stream holding `name` with `bytes`, cut in the middle of the
/// file's data, as an interrupted `docker cp` leaves the daemon.
fn cut_tar(dir: &Path, name: &str, bytes: &[u8]) -> Vec<u8> {
    let src = dir.join("cut");
    mkdir(&src, 0o755);
    put(&src.join(name), bytes, 0o755);
    let tar = dir.join("cut.tar");
    assert!(
        Command::new("tar")
            .arg("-C")
            .arg(&src)
            .args(["--numeric-owner", "-cf"])
            .arg(&tar)
            .arg(name)
            .status()
            .unwrap()
            .success()
    );
    let t = fs::read(&tar).unwrap();
    let _ = fs::remove_dir_all(&src);
    t[..512 + bytes.len() / 2].to_vec()
}

/// `docker cp - NODE:DIR` fed a cut stream.
fn docker_cp_cut(d: &Dockerd, stream: &[u8], dest_dir: &str) -> Run {
    let mut child = d
        .cmd(&["cp", "-", &format!("osb-node:{dest_dir}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(stream);
    }
    Run::from(child.wait_with_output().unwrap())
}

#[test]
fn docker_hot_replacement_docker_cp_and_the_install_recipe() {
    let t = "docker_hot_replacement_docker_cp_and_the_install_recipe";
    if need(
        t,
        &[
            ("dockerd", "docker.io"),
            ("busybox", "busybox-static"),
            ("tar", "tar"),
        ],
    ) {
        return;
    }
    let started = Instant::now();
    let dir = common::scratch(t);
    mkdir(&dir, 0o755);
    let stage = dir.join("stage");
    mkdir(&stage, 0o755);
    let builds = builds(&stage);
    let bin = node_bin(&dir);
    let live = bin.join("openshell-sandbox");
    put(&live, &builds.a, 0o755);
    let tar = image_tar(&dir);
    let d = Dockerd::start(&dir);
    d.ok(&["import", tar.to_str().unwrap(), IMAGE]);
    // The node: the binary directory read-write, a writable root with
    // /var/tmp for staging.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "osb-node",
        "--network",
        "none",
        "-v",
        &format!("{}:/opt/openshell/bin", bin.display()),
        IMAGE,
        "sleep",
        "100000",
    ]);
    let staged = |i: usize| {
        stage
            .join(if i % 2 == 0 { "b" } else { "a" })
            .display()
            .to_string()
    };

    // 1. Plain `docker cp` onto the live path.
    let pods = start_pods(&d, &bin, &builds, "cp");
    let t1 = Instant::now();
    let mut cp_failed = 0;
    for i in 0..REPLACEMENTS {
        let r = d.run(&["cp", &staged(i), &format!("osb-node:{SANDBOX}")]);
        if r.code != 0 {
            cp_failed += 1;
        }
    }
    let cp_secs = t1.elapsed().as_secs_f64();
    let plain = stop_pods(&d, &pods);
    eprintln!(
        "docker cp onto the live path: {REPLACEMENTS} replacements in {cp_secs:.1}s ({cp_failed} copies failed); launches: {} ran A, {} ran B, {} FAILED; e.g. {:?}",
        plain.a, plain.b, plain.failed, plain.samples
    );
    assert_eq!(cp_failed, 0, "docker cp itself failed");
    assert!(plain.a + plain.b + plain.failed > 0);

    // 2. The README's recipe: stage, then install.
    put(&live, &builds.a, 0o755);
    let pods = start_pods(&d, &bin, &builds, "install");
    let t2 = Instant::now();
    for i in 0..REPLACEMENTS {
        d.ok(&["cp", &staged(i), "osb-node:/var/tmp/openshell-sandbox.new"]);
        d.ok(&[
            "exec",
            "osb-node",
            "/var/tmp/openshell-sandbox.new",
            "install",
            SANDBOX,
        ]);
    }
    let install_secs = t2.elapsed().as_secs_f64();
    let recipe = stop_pods(&d, &pods);
    eprintln!(
        "docker cp to staging + install: {REPLACEMENTS} replacements in {install_secs:.1}s; launches: {} ran A, {} ran B, {} failed; e.g. {:?}",
        recipe.a, recipe.b, recipe.failed, recipe.samples
    );
    assert_eq!(
        recipe.failed, 0,
        "launches failed under the recipe: {:?}",
        recipe.samples
    );
    assert!(
        recipe.a > 0 && recipe.b > 0,
        "both versions should have run: {recipe:?}"
    );
    // 100 replacements alternate B, A, ...: A is live at the end.
    assert_eq!(fs::read(&live).unwrap(), builds.a);

    // 3. An interrupted copy. To the staging path: the cut stream leaves a
    // truncated file there, `install` refuses it, the live binary is whole.
    let cut = cut_tar(&dir, "openshell-sandbox.new", &builds.b);
    let r = docker_cp_cut(&d, &cut, "/var/tmp");
    assert_ne!(r.code, 0, "the cut stream was accepted\n{}", r.explain());
    let size = d.run(&[
        "exec",
        "osb-node",
        "stat",
        "-c",
        "%s",
        "/var/tmp/openshell-sandbox.new",
    ]);
    let staged_size: usize = size.stdout.trim().parse().unwrap_or(0);
    assert!(
        staged_size < builds.b.len(),
        "the staging file should be truncated: {staged_size}"
    );
    let i = d.run(&[
        "exec",
        "osb-node",
        "/var/tmp/openshell-sandbox.new",
        "install",
        SANDBOX,
    ]);
    let i2 = d.run(&[
        "exec",
        "osb-node",
        SANDBOX,
        "install",
        "--from",
        "/var/tmp/openshell-sandbox.new",
        SANDBOX,
    ]);
    eprintln!(
        "interrupted docker cp to staging: staged file {staged_size} of {} bytes; install: exit {} ({}); install --from: exit {} ({})",
        builds.b.len(),
        i.code,
        i.stderr.trim(),
        i2.code,
        i2.stderr.trim()
    );
    assert_ne!(i.code, 0, "{}", i.explain());
    assert_ne!(i2.code, 0, "{}", i2.explain());
    assert_eq!(
        fs::read(&live).unwrap(),
        builds.a,
        "the live binary changed"
    );
    let v = d.ok(&["exec", "osb-node", SANDBOX, "--version"]);
    assert_eq!(v.stdout.trim_end(), builds.a_line);

    // For comparison: the same cut stream onto the live path.
    let cut = cut_tar(&dir, "openshell-sandbox", &builds.b);
    let r = docker_cp_cut(&d, &cut, "/opt/openshell/bin");
    let left = fs::read(&live).unwrap_or_default();
    let v = d.run(&["exec", "osb-node", SANDBOX, "--version"]);
    eprintln!(
        "interrupted docker cp onto the live path: docker cp exit {}; live file {} of {} bytes; --version: exit {}",
        r.code,
        left.len(),
        builds.b.len(),
        v.code
    );
    drop(d);
    let _ = fs::remove_dir_all(&dir);
    eprintln!("{t}: {:.1}s", started.elapsed().as_secs_f64());
}

/// Every policy `deploy/` ships passes `check`.
#[test]
fn deploy_policies_pass_check() {
    let dir = repo().join("deploy");
    let mut n = 0;
    for f in ["pod.yaml", "pod-gpu.yaml"] {
        let m = fs::read_to_string(dir.join(f)).unwrap();
        let policy = configmap_policy(&m);
        let tmp = target_dir().join(format!("deploy-check-{}-{f}", std::process::id()));
        fs::write(&tmp, &policy).unwrap();
        let o = Command::new(BIN).arg("check").arg(&tmp).output().unwrap();
        let _ = fs::remove_file(&tmp);
        assert!(
            o.status.success(),
            "deploy/{f}: the ConfigMap's policy fails check:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        n += 1;
    }
    assert_eq!(n, 2);
}
