//! Attacks on the supervisor's privileged path handling.
//!
//! The supervisor opens policy paths as root before it drops privilege.
//! A workload that may write the parent of a policy path can replace the
//! path with a symlink during one launch (a container restart keeps its
//! volumes) and wait for the next launch to apply the rule to whatever the
//! link names. Each test here plants the link in a first sandboxed run, as
//! the workload would, and attacks in a second. Each has a control: the
//! same access made without the sandbox, as the workload's uid, succeeds,
//! so the refusal comes from the sandbox and not from file modes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{BIN, Run, bare_as, probe, sandbox};

const PROCESS: &str = "process: {run_as_user: 1500, run_as_group: 1500}\n";

fn setup(test: &str) -> Option<PathBuf> {
    hold_mount_table(false);
    common::open_scratch(test, 1)
}

/// [`setup`] for a test that mounts or unmounts: it holds the mount table
/// alone while it runs.
fn setup_mounting(test: &str) -> Option<PathBuf> {
    hold_mount_table(true);
    common::open_scratch(test, 1)
}

/// The host's mount table is shared by this binary's tests, which run
/// two at a time. A launch that reads the table while another test mounts
/// or unmounts may find a mount point gone from the walk above it, and
/// then refuses its read-write rules (rightly: it fails closed on a table
/// it cannot check), which made an unrelated test's plan differ. So a
/// test that changes the table holds it alone, and every other test that
/// launches shares it.
static MOUNT_TABLE: std::sync::RwLock<()> = std::sync::RwLock::new(());

enum MountHold {
    Shared(#[allow(dead_code)] std::sync::RwLockReadGuard<'static, ()>),
    Alone(#[allow(dead_code)] std::sync::RwLockWriteGuard<'static, ()>),
}

thread_local! {
    /// This test's hold, released when its thread ends (or when the next
    /// test on the same thread takes its own).
    static MOUNT_HOLD: std::cell::RefCell<Option<MountHold>> =
        const { std::cell::RefCell::new(None) };
}

fn hold_mount_table(alone: bool) {
    MOUNT_HOLD.with(|h| {
        // A previous test's hold on this thread goes first: a thread never
        // waits for a lock it holds itself.
        h.borrow_mut().take();
        let hold = if alone {
            MountHold::Alone(
                MOUNT_TABLE
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            )
        } else {
            MountHold::Shared(
                MOUNT_TABLE
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            )
        };
        *h.borrow_mut() = Some(hold);
    });
}

use common::{chmod, open_dir as mkdir};

fn file(parent: &Path, name: &str) -> String {
    let f = parent.join(name);
    common::write_file(&f, "secret\n");
    chmod(&f, 0o666);
    f.display().to_string()
}

fn pr() -> String {
    probe().display().to_string()
}

fn policy(d: &Path, name: &str, ro: &[&str], rw: &[&str], extra: &str) -> PathBuf {
    policy_as(d, name, ro, rw, PROCESS, extra)
}

/// [`policy`] with its own `process:` line.
fn policy_as(
    d: &Path,
    name: &str,
    ro: &[&str],
    rw: &[&str],
    process: &str,
    extra: &str,
) -> PathBuf {
    let sub = d.join(name);
    std::fs::create_dir_all(&sub).unwrap();
    // Inside `filesystem_policy` an omitted include_workdir means false.
    let text = common::base_policy(ro, rw, &format!("{process}{extra}")).replace(
        "filesystem_policy:\n",
        "filesystem_policy:\n  include_workdir: true\n",
    );
    common::write_policy(&sub, &text)
}

fn process_in(workdir: &str) -> String {
    format!("process: {{run_as_user: 1500, run_as_group: 1500, workdir: {workdir}}}\n")
}

/// Launch 1: the workload, confined to `data`, replaces `link` with a
/// symlink to `/`.
fn plant(d: &Path, data: &str, link: &str) {
    let p = policy(d, "plant", &[], &[data], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "symlink", "/", link]);
    assert_eq!(r.stdout, format!("ok: {link}\n"), "{}", r.explain());
    let meta = std::fs::symlink_metadata(link).unwrap();
    assert!(meta.file_type().is_symlink());
    use std::os::unix::fs::MetadataExt;
    assert_eq!(meta.uid(), 1500, "the workload owns the planted link");
}

fn control_ok(args: &[&str], line: &str) {
    let p = pr();
    let mut w = vec![p.as_str()];
    w.extend_from_slice(args);
    let r = bare_as(1500, &w);
    assert_eq!(r.stdout, format!("{line}\n"), "control: {}", r.explain());
}

fn denied(r: &Run, line: &str) {
    assert_eq!(r.stdout, format!("{line}\n"), "{}", r.explain());
    assert_eq!(r.code, 1, "{}", r.explain());
}

fn refused(r: &Run, needle: &str) {
    assert_eq!(r.code, 125, "{}", r.explain());
    assert_eq!(r.stdout, "", "the workload must not run: {}", r.explain());
    assert!(r.stderr.contains(needle), "{}", r.explain());
}

#[test]
fn sandbox_blocks_workdir_symlink_planted_by_an_earlier_launch() {
    let t = "sandbox_blocks_workdir_symlink_planted_by_an_earlier_launch";
    let Some(d) = setup(t) else { return };
    let data = mkdir(&d, "data");
    let outside = mkdir(&d, "outside");
    let target = format!("{outside}/f");
    let link = format!("{data}/wd");
    plant(&d, &data, &link);

    // Launch 2: the workdir (include_workdir, the default) is the link.
    let p = policy_as(&d, "attack", &[], &[&data], &process_in(&link), "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "write", &target]);
    denied(&r, &format!("errno=EACCES(13): {target}"));
    assert!(
        r.stderr.contains(&format!(
            "filesystem rule for {link} skipped: symlink {link} -> / is not followed"
        )),
        "{}",
        r.explain()
    );
    control_ok(&["write", &target], &format!("ok: {target}"));
}

#[test]
fn sandbox_refuses_workdir_symlink_planted_by_an_earlier_launch_under_hard_requirement() {
    let t = "sandbox_refuses_workdir_symlink_planted_by_an_earlier_launch_under_hard_requirement";
    let Some(d) = setup(t) else { return };
    let data = mkdir(&d, "data");
    let link = format!("{data}/wd");
    plant(&d, &data, &link);
    let p = policy_as(
        &d,
        "attack",
        &[],
        &[&data],
        &process_in(&link),
        "landlock: {compatibility: hard_requirement}\n",
    );
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    refused(
        &r,
        &format!("openshell-sandbox: landlock: {link}: symlink {link} -> / is not followed: "),
    );
    assert!(
        r.stderr.contains(
            "so the workload could have planted it (landlock.compatibility is hard_requirement)\n"
        ),
        "{}",
        r.explain()
    );
}

#[test]
fn sandbox_blocks_nested_read_only_symlink_planted_by_an_earlier_launch() {
    let t = "sandbox_blocks_nested_read_only_symlink_planted_by_an_earlier_launch";
    let Some(d) = setup(t) else { return };
    let data = mkdir(&d, "data");
    let secret = file(&d, "secret");
    let link = format!("{data}/ro");
    plant(&d, &data, &link);
    let p = policy(&d, "attack", &[&link], &[&data], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "read", &secret]);
    denied(&r, &format!("errno=EACCES(13): {secret}"));
    assert!(
        r.stderr
            .contains(&format!("symlink {link} -> / is not followed")),
        "{}",
        r.explain()
    );
    control_ok(&["read", &secret], &format!("ok: {secret}"));
}

#[test]
fn sandbox_refuses_cdi_mount_symlink_planted_by_an_earlier_launch() {
    let t = "sandbox_refuses_cdi_mount_symlink_planted_by_an_earlier_launch";
    let Some(d) = setup(t) else { return };
    let data = mkdir(&d, "data");
    let secret = file(&d, "secret");
    let link = format!("{data}/models");
    plant(&d, &data, &link);
    // The spec directory is root's (0755): specs anyone else could write
    // are not read at all (see the planted-spec test).
    let cdi = common::scratch(&format!("{t}-cdi")).display().to_string();
    std::fs::write(
        Path::new(&cdi).join("models.yaml"),
        format!(
            "cdiVersion: 0.7.0\nkind: example.com/models\ndevices:\n- name: m\n  containerEdits:\n    mounts: [{{hostPath: /srv/models, containerPath: {link}, options: [ro, bind]}}]\n"
        ),
    )
    .unwrap();
    let p = policy(&d, "attack", &[], &[&data], "");
    let r = sandbox(
        &p,
        &[
            "--exec",
            "--cdi-dir",
            &cdi,
            "--device",
            "example.com/models=m",
        ],
        &[&pr(), "read", &secret],
    );
    refused(
        &r,
        &format!("cdi: mount {link} (example.com/models=m): symlink {link} -> / is not followed"),
    );
    control_ok(&["read", &secret], &format!("ok: {secret}"));
}

/// With `filesystem_policy.execute` listed (W^X), a CDI mount's rule
/// grants execute only beneath those paths, as the policy's own rules do:
/// what a mount shows may be what the workload writes under another name.
/// Here the workload's program runs through none of: a container path
/// beneath its writable directory where nothing was mounted (a directory
/// it made on an earlier launch), and a read-only bind of that writable
/// directory, and a root link beneath an execute path that leads to that
/// directory (a link to `/` is as broad as `/`). The control is the
/// driver's program, mounted read-only beneath an `execute` path, which
/// runs; the mount's path is readable in every case. Nor does a bind of
/// the writable directory, or of the directory above it, or a hard link of
/// the program, beneath an execute path: the rule would be on the writable
/// directory or the program itself, and the workload would run its
/// program under the writable name.
#[test]
fn sandbox_never_lets_a_cdi_mount_execute_outside_the_policys_execute_paths() {
    let t = "sandbox_never_lets_a_cdi_mount_execute_outside_the_policys_execute_paths";
    let Some(d) = setup_mounting(t) else { return };
    let data = mkdir(&d, "data");
    let drv = mkdir(&d, "drv");
    let exe = mkdir(&d, "exe");
    let beneath = format!("{data}/cudalib");
    // Launch 1's doing: its own directory and program where the mount
    // would be.
    std::fs::create_dir_all(&beneath).unwrap();
    std::fs::copy(probe(), format!("{beneath}/prog")).unwrap();
    std::fs::copy(probe(), format!("{data}/prog")).unwrap();
    for p in [
        &beneath,
        &format!("{beneath}/prog"),
        &format!("{data}/prog"),
    ] {
        std::os::unix::fs::chown(p, Some(1500), Some(1500)).unwrap();
    }
    std::fs::copy(probe(), format!("{drv}/prog")).unwrap();
    let shown = mkdir(&d, "shown");
    let _s = Mounted::bind_ro(&data, &shown);
    let at_exe = mkdir(Path::new(&exe), "drv");
    let _x = Mounted::bind_ro(&drv, &at_exe);
    let rexe_dir = InRun::dir(t);
    let rexe = rexe_dir.path();
    let probe_dir = probe().parent().unwrap().display().to_string();
    let p = policy(&d, "wx", &[], &[&data], "");
    let text = std::fs::read_to_string(&p).unwrap().replacen(
        "filesystem_policy:\n",
        &format!("filesystem_policy:\n  execute: [/usr, /bin, /lib, {probe_dir}, {exe}, {rexe}]\n"),
        1,
    );
    std::fs::write(&p, text).unwrap();
    let cdi = common::scratch(&format!("{t}-cdi")).display().to_string();
    let run = |at: &str, prog: &str| {
        std::fs::write(
            Path::new(&cdi).join("drv.yaml"),
            format!(
                "cdiVersion: 0.7.0\nkind: example.com/drv\ndevices:\n- name: d\n  containerEdits:\n    mounts: [{{hostPath: {drv}, containerPath: {at}, options: [ro, nosuid, nodev, bind]}}]\n"
            ),
        )
        .unwrap();
        let args = ["--exec", "--cdi-dir", &cdi, "--device", "example.com/drv=d"];
        let read = sandbox(&p, &args, &[&pr(), "read", prog]);
        assert_eq!(read.stdout, format!("ok: {prog}\n"), "{}", read.explain());
        sandbox(&p, &args, &[&pr(), "exec", prog, "true"])
    };
    // A root link beneath an execute path, to the writable directory: the
    // rule goes where it leads. (In root's /run: the scratch directory is
    // one others may write, where no link is followed.)
    let link = format!("{rexe}/lnk");
    std::os::unix::fs::symlink(&data, &link).unwrap();
    for (at, prog) in [
        (beneath.clone(), format!("{beneath}/prog")),
        (shown.clone(), format!("{shown}/prog")),
        (link.clone(), format!("{link}/prog")),
    ] {
        let r = run(&at, &prog);
        denied(&r, &format!("errno=EACCES(13): {prog}"));
    }
    // And one to `/`: as broad as `/` spelled so.
    let root_link = format!("{rexe}/root");
    std::os::unix::fs::symlink("/", &root_link).unwrap();
    std::fs::write(
        Path::new(&cdi).join("drv.yaml"),
        format!(
            "cdiVersion: 0.7.0\nkind: example.com/drv\ndevices:\n- name: d\n  containerEdits:\n    mounts: [{{hostPath: {drv}, containerPath: {root_link}, options: [ro, nosuid, nodev, bind]}}]\n"
        ),
    )
    .unwrap();
    let r = sandbox(
        &p,
        &["--exec", "--cdi-dir", &cdi, "--device", "example.com/drv=d"],
        &[&pr(), "true"],
    );
    refused(
        &r,
        &format!(
            "cdi: mount {root_link} (example.com/drv=d): / is too broad to grant from a CDI spec"
        ),
    );
    // Binds of the writable directory and of the one above it, beneath
    // an execute path: the workload's program, by its own name.
    let bound = mkdir(Path::new(&exe), "bound");
    let _b = Mounted::bind_ro(&data, &bound);
    let above = mkdir(Path::new(&exe), "above");
    let _a = Mounted::bind_ro(&d.display().to_string(), &above);
    // And a second name of the workload's program, a hard link root made
    // beneath the execute path: a file mount, no mount table involved.
    let linked = format!("{exe}/linked");
    std::fs::hard_link(format!("{data}/prog"), &linked).unwrap();
    for at in [&bound, &above, &linked] {
        let prog = format!("{data}/prog");
        let r = run(at, &prog);
        denied(&r, &format!("errno=EACCES(13): {prog}"));
    }
    let ok = run(&at_exe, &format!("{at_exe}/prog"));
    assert_eq!(
        ok.code,
        0,
        "control: the driver's program runs\n{}",
        ok.explain()
    );
}

/// A CDI mount path that is a bind of `/` or of a system tree is as broad
/// as the tree, however it is spelled: its rule would be on the tree's own
/// directory, under every name. Refused; the control, a bind of a
/// directory of the test's own at the same kind of place, is granted.
#[test]
fn sandbox_refuses_a_cdi_mount_that_is_a_bind_of_a_system_tree() {
    let t = "sandbox_refuses_a_cdi_mount_that_is_a_bind_of_a_system_tree";
    let Some(d) = setup_mounting(t) else { return };
    let drv = mkdir(&d, "drv");
    std::fs::copy(probe(), format!("{drv}/prog")).unwrap();
    let p = policy(&d, "p", &[], &[], "");
    let cdi = common::scratch(&format!("{t}-cdi")).display().to_string();
    let at_dir = InRun::dir(t);
    let at = at_dir.path();
    let run = |src: &str| {
        let _m = Mounted::bind_ro(src, &at);
        std::fs::write(
            Path::new(&cdi).join("drv.yaml"),
            format!(
                "cdiVersion: 0.7.0\nkind: example.com/drv\ndevices:\n- name: d\n  containerEdits:\n    mounts: [{{hostPath: {src}, containerPath: {at}, options: [ro, nosuid, nodev, bind]}}]\n"
            ),
        )
        .unwrap();
        let args = ["--exec", "--cdi-dir", &cdi, "--device", "example.com/drv=d"];
        sandbox(&p, &args, &[&pr(), "read", &format!("{at}/prog")])
    };
    for tree in ["/", "/etc"] {
        let r = run(tree);
        refused(
            &r,
            &format!(
                "cdi: mount {at} (example.com/drv=d): {at} is / or a system tree (another mount of it), too broad to grant from a CDI spec"
            ),
        );
    }
    let ok = run(&drv);
    assert_eq!(
        ok.stdout,
        format!("ok: {at}/prog\n"),
        "control: {}",
        ok.explain()
    );
}

/// An entry of root's in root-owned /run, removed when dropped: a link
/// to `/` (trusted, so it is followed, and the rule it names is judged by
/// the inode it reaches), or a directory, mode 755, where links are
/// root's to make, and followed.
struct InRun(PathBuf);

impl InRun {
    /// The entry's name, with whatever an earlier run left there removed.
    fn clear(test: &str) -> PathBuf {
        let p = PathBuf::from(format!("/run/openshell-test-{test}-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let _ = std::fs::remove_dir_all(&p);
        p
    }
    fn root_link(test: &str) -> InRun {
        let p = Self::clear(test);
        std::os::unix::fs::symlink("/", &p).unwrap();
        InRun(p)
    }
    fn dir(test: &str) -> InRun {
        let p = Self::clear(test);
        std::fs::create_dir_all(&p).unwrap();
        chmod(&p, 0o755);
        InRun(p)
    }
    fn path(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for InRun {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn sandbox_refuses_workdir_root_in_every_spelling() {
    let t = "sandbox_refuses_workdir_root_in_every_spelling";
    let Some(d) = setup(t) else { return };
    let link = InRun::root_link("wd");
    let p = policy(&d, "p", &[], &[], "");
    let mut spellings: Vec<String> = ["/", "//", "/./", "/./."]
        .iter()
        .map(|s| s.to_string())
        .collect();
    spellings.push(link.path());
    for w in &spellings {
        let r = sandbox(&p, &["--exec", "--workdir", w], &[&pr(), "true"]);
        refused(&r, "/ is never writable");
    }
    // Spellings with `..` are refused before any of that, and so are a
    // relative or empty workdir.
    for w in ["/tmp/..", "/usr/../", "/usr/bin/../..", ".", "", "tmp"] {
        let r = sandbox(&p, &["--exec", "--workdir", w], &[&pr(), "true"]);
        refused(&r, "openshell-sandbox: --workdir: ");
    }
    spellings.retain(|w| !w.contains(".."));
    // The control: the same workdirs without the workdir rule run.
    let p2 = policy(&d, "p2", &[], &[], "");
    let text = std::fs::read_to_string(&p2)
        .unwrap()
        .replace("include_workdir: true", "include_workdir: false");
    std::fs::write(&p2, text).unwrap();
    for w in &spellings {
        let r = sandbox(&p2, &["--exec", "--workdir", w], &[&pr(), "true"]);
        assert_eq!(r.code, 0, "workdir {w}: {}", r.explain());
    }
}

#[test]
fn sandbox_refuses_read_write_rule_that_resolves_to_root() {
    let t = "sandbox_refuses_read_write_rule_that_resolves_to_root";
    let Some(d) = setup(t) else { return };
    let link = InRun::root_link("rw");
    let l = link.path();
    let p = policy(&d, "p", &[], &[&l], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    refused(
        &r,
        &format!("filesystem_policy.read_write: {l} (resolves to /) is never writable"),
    );
    // The same link as a read_only rule is fine: it is trusted.
    let p = policy(&d, "p2", &[&l], &[], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
}

#[test]
fn sandbox_refuses_read_write_rules_beneath_proc_and_sys() {
    let t = "sandbox_refuses_read_write_rules_beneath_proc_and_sys";
    let Some(d) = setup(t) else { return };
    for (i, path) in ["/proc/sys", "/proc/self/fd", "/sys/fs/cgroup"]
        .iter()
        .enumerate()
    {
        let p = policy(&d, &format!("p{i}"), &[], &[path], "");
        let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
        assert_eq!(r.code, 125, "{path}\n{}", r.explain());
        assert!(
            r.stderr.contains("filesystem_policy.read_write: ")
                && r.stderr.contains(" is never writable"),
            "{path}\n{}",
            r.explain()
        );
        // Control: the same path read-only runs.
        let p = policy(&d, &format!("r{i}"), &[path], &[], "");
        let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
        assert_eq!(r.code, 0, "{path}\n{}", r.explain());
    }
    // The workdir too.
    let p = policy(&d, "wd", &[], &[], "");
    let r = sandbox(&p, &["--exec", "--workdir", "/proc/self"], &[&pr(), "true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(r.stderr.contains("workdir: "), "{}", r.explain());
}

#[test]
fn sandbox_refuses_read_write_rules_on_proc_and_sys_mounted_elsewhere() {
    let t = "sandbox_refuses_read_write_rules_on_proc_and_sys_mounted_elsewhere";
    let Some(d) = setup_mounting(t) else { return };
    // A node agent's /host/proc, /host/sys: kernel interfaces wherever
    // they are mounted.
    let proc2 = mkdir(&d, "proc2");
    let sys2 = mkdir(&d, "sys2");
    let mounted = |fs: &str, at: &str| {
        Command::new("mount")
            .args(["-t", fs, fs, at])
            .status()
            .unwrap()
            .success()
    };
    assert!(mounted("proc", &proc2) && mounted("sysfs", &sys2));
    struct Unmount(Vec<String>);
    impl Drop for Unmount {
        fn drop(&mut self) {
            for m in &self.0 {
                let _ = Command::new("umount").arg(m).status();
            }
        }
    }
    let _u = Unmount(vec![proc2.clone(), sys2.clone()]);
    for (i, path) in [
        proc2.clone(),
        format!("{proc2}/sys"),
        format!("{sys2}/kernel"),
    ]
    .iter()
    .enumerate()
    {
        let p = policy(&d, &format!("p{i}"), &[], &[path], "");
        let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
        assert_eq!(r.code, 125, "{path}\n{}", r.explain());
        assert!(
            r.stderr.contains(" is never writable"),
            "{path}\n{}",
            r.explain()
        );
        // Control: read-only, the same path runs.
        let p = policy(&d, &format!("r{i}"), &[path], &[], "");
        let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
        assert_eq!(r.code, 0, "{path}\n{}", r.explain());
    }
    // A directory of the test's own, read-write, runs (the control for
    // the filesystem check itself).
    let own = mkdir(&d, "own");
    let p = policy(&d, "own", &[], &[&own], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
}

#[test]
fn sandbox_refuses_read_write_rules_above_a_kernel_filesystem_mount() {
    let t = "sandbox_refuses_read_write_rules_above_a_kernel_filesystem_mount";
    let Some(d) = setup_mounting(t) else { return };
    // Landlock's rights beneath a directory reach into the mounts below
    // it: a procfs mounted under a writable directory would be writable
    // through it (the workload's own /proc/self/attr, /proc/self/comm).
    let up = mkdir(&d, "up");
    let inner = mkdir(&Path::new(&up).join("sub"), "p");
    let beside = mkdir(&d, "beside");
    // Control first, nothing mounted: both rules run.
    for (i, dir) in [&up, &beside].iter().enumerate() {
        let p = policy(&d, &format!("c{i}"), &[], &[dir], "");
        let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
        assert_eq!(r.code, 0, "{dir}\n{}", r.explain());
    }
    let _u = Mounted::new(&["-t", "proc", "proc"], &inner);
    let p = policy(&d, "rw", &[], &[&up], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(
        r.stderr
            .contains(&format!("{up} has proc mounted at {inner} beneath it")),
        "{}",
        r.explain()
    );
    // The same directory as the workdir (a read-write rule of its own).
    let p = policy_as(&d, "wd", &[], &[], &process_in(&up), "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(r.stderr.contains("workdir"), "{}", r.explain());
    // Controls with the mount in place: read-only over it, and a
    // read-write directory beside it, run.
    let p = policy(&d, "ro", &[&up], &[&beside], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
}

/// `mount ARGS...`, undone when the guard drops.
struct Mounted(String);

impl Mounted {
    fn new(args: &[&str], at: &str) -> Mounted {
        let ok = Command::new("mount")
            .args(args)
            .arg(at)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount {args:?} {at}");
        Mounted(at.to_string())
    }
}

impl Mounted {
    /// A read-only bind of `src` (a system tree) at `at`: the test needs
    /// the mount to be there, never to write through it, and a bind left
    /// behind by a killed run then cannot be written or emptied through.
    fn bind_ro(src: &str, at: &str) -> Mounted {
        let m = Mounted::new(&["--bind", src], at);
        let ok = Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(at)
            .status()
            .unwrap()
            .success();
        assert!(ok, "remount {at} read-only");
        m
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_scratch_directory_is_never_emptied_through_a_mount_left_in_it() {
    let t = "a_scratch_directory_is_never_emptied_through_a_mount_left_in_it";
    let Some(d) = setup_mounting(t) else { return };
    // These tests bind system trees into their scratch directories; a run
    // killed meanwhile leaves the bind, and the next run's scratch() must
    // take it away before deleting, not delete through it. Shown with a
    // directory of the test's own standing in for /etc.
    let keep = common::scratch(&format!("{t}_kept"));
    common::write_file(&keep.join("file"), "kept\n");
    let at = mkdir(&d, "bound");
    let ok = Command::new("mount")
        .args(["--bind", keep.to_str().unwrap(), &at])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    // Left behind on purpose: scratch() below is what a new run does.
    let again = common::scratch(t);
    assert!(again.exists());
    assert!(keep.join("file").exists(), "deleted through the mount");
    assert!(common::mounts_beneath(&again).is_empty());
}

#[test]
fn sandbox_refuses_a_kernel_filesystem_reached_through_a_bind_of_the_rule() {
    let t = "sandbox_refuses_a_kernel_filesystem_reached_through_a_bind_of_the_rule";
    let Some(d) = setup_mounting(t) else { return };
    // A Landlock rule is on the directory's inode, so it covers the
    // directory wherever it is mounted: a procfs beneath another mount of
    // the rule's directory (a bind) is as writable as one beneath the
    // rule's own path.
    let data = mkdir(&d, "data");
    let sub = mkdir(Path::new(&data), "sub");
    let bind = mkdir(&d, "bind");
    let r = {
        let p = policy(&d, "c", &[], &[&data], "");
        sandbox(&p, &["--exec"], &[&pr(), "true"])
    };
    assert_eq!(r.code, 0, "control, nothing mounted\n{}", r.explain());
    let b = Mounted::new(&["--bind", &data], &bind);
    // Control: the bind alone changes nothing.
    let p = policy(&d, "b0", &[], &[&data], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    // The rule names the directory, the procfs lies beneath the bind.
    let beneath_bind = format!("{bind}/sub");
    let m = Mounted::new(&["-t", "proc", "proc"], &beneath_bind);
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(
        r.stderr.contains(&format!(
            "{data} has proc mounted at {beneath_bind} beneath it"
        )),
        "{}",
        r.explain()
    );
    drop(m);
    // The rule names the bind, the procfs lies beneath the directory.
    let m = Mounted::new(&["-t", "proc", "proc"], &sub);
    let p = policy(&d, "b1", &[], &[&bind], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(r.stderr.contains("has proc mounted at"), "{}", r.explain());
    drop(m);
    drop(b);
}

#[test]
fn sandbox_refuses_a_read_write_bind_of_a_system_tree() {
    let t = "sandbox_refuses_a_read_write_bind_of_a_system_tree";
    let Some(d) = setup_mounting(t) else { return };
    // A bind of /etc elsewhere is /etc under another name: the system
    // trees are recognised by inode too, not only by how a rule spells
    // them.
    let bind = mkdir(&d, "etc-bind");
    let p = policy(&d, "c", &[], &[&bind], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "control, nothing mounted\n{}", r.explain());
    let b = Mounted::bind_ro("/etc", &bind);
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(
        r.stderr.contains(&format!("{bind} is never writable")),
        "{}",
        r.explain()
    );
    // Control: the same bind read-only runs.
    let p = policy(&d, "ro", &[&bind], &[], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    drop(b);
}

#[test]
fn sandbox_refuses_a_system_tree_mounted_again_beneath_a_read_write_directory() {
    let t = "sandbox_refuses_a_system_tree_mounted_again_beneath_a_read_write_directory";
    let Some(d) = setup_mounting(t) else { return };
    // A read-write rule reaches into every mount below it: a bind of /etc
    // (or of the whole root filesystem) inside the directory would make
    // the system tree writable through it.
    let up = mkdir(&d, "up");
    let at = mkdir(Path::new(&up), "x");
    let p = policy(&d, "c", &[], &[&up], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "control, nothing mounted\n{}", r.explain());
    // Where a tree is a link (merged /usr: /bin -> usr/bin), a bind of
    // where it leads is the tree too.
    let led = |tree: &str| {
        let c = std::fs::canonicalize(tree).unwrap();
        let c = c.to_str().unwrap().to_string();
        let shown = if c == tree {
            tree.to_string()
        } else {
            format!("{tree} ({c})")
        };
        (c, shown)
    };
    let (bin, bin_shown) = led("/bin");
    let (lib, lib_shown) = led("/lib");
    for (tree, shown) in [
        ("/etc", "/etc"),
        ("/", "/"),
        (bin.as_str(), bin_shown.as_str()),
        (lib.as_str(), lib_shown.as_str()),
    ] {
        let m = Mounted::bind_ro(tree, &at);
        let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
        assert_eq!(r.code, 125, "{tree}\n{}", r.explain());
        assert!(
            r.stderr.contains(&format!(
                "{up} has {shown} mounted again at {at} beneath it"
            )),
            "{tree}\n{}",
            r.explain()
        );
        // The workdir too.
        let w = policy(&d, "w", &[], &[], "");
        let r = sandbox(&w, &["--exec", "--workdir", &up], &[&pr(), "true"]);
        assert_eq!(r.code, 125, "{tree}\n{}", r.explain());
        drop(m);
    }
    // Control: a bind of a directory that is no system tree runs.
    let other = mkdir(&d, "other");
    let m = Mounted::new(&["--bind", &other], &at);
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    drop(m);
}

#[test]
fn sandbox_refuses_an_mqueue_beneath_a_read_write_directory() {
    let t = "sandbox_refuses_an_mqueue_beneath_a_read_write_directory";
    let Some(d) = setup_mounting(t) else { return };
    // An mqueue mount holds the IPC namespace's POSIX queues, which
    // seccomp keeps from the workload: not beneath a writable directory.
    let up = mkdir(&d, "up");
    let p = policy(&d, "c", &[], &[&up], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "control, nothing mounted\n{}", r.explain());
    let at = mkdir(Path::new(&up), "m");
    let _m = Mounted::new(&["-t", "mqueue", "mqueue"], &at);
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(
        r.stderr.contains(&format!("has mqueue mounted at {at}")),
        "{}",
        r.explain()
    );
    // A devpts is not refused: /dev/pts may be granted for terminals.
    let pts = mkdir(&d, "pts-up");
    let pts_at = mkdir(Path::new(&pts), "pts");
    let _p = Mounted::new(&["-t", "devpts", "-o", "newinstance", "devpts"], &pts_at);
    let p = policy(&d, "pts", &[], &[&pts], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
}

#[test]
fn a_kernel_mount_covered_by_a_later_mount_stops_nothing() {
    let t = "a_kernel_mount_covered_by_a_later_mount_stops_nothing";
    let Some(d) = setup_mounting(t) else { return };
    // proc at y/a/b/p, then a tmpfs over y/a: no path leads to the proc
    // mount any more, and a launch with an unrelated writable directory
    // runs (the walk above the mount point no longer finds y/a/b).
    let y = mkdir(&d, "y");
    let a = mkdir(Path::new(&y), "a");
    let b = mkdir(Path::new(&a), "b");
    let p_at = mkdir(Path::new(&b), "p");
    let _proc = Mounted::new(&["-t", "proc", "proc"], &p_at);
    let own = mkdir(&d, "own");
    let pol = policy(&d, "own", &[], &[&own], "");
    let r = sandbox(&pol, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let over = Mounted::new(&["-t", "tmpfs", "tmpfs"], &a);
    let r = sandbox(&pol, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    // Control: with the tmpfs gone the proc mount is reachable again, and
    // a writable directory above it is refused.
    drop(over);
    let pol_y = policy(&d, "y", &[], &[&y], "");
    let r = sandbox(&pol_y, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
}

#[test]
fn sandbox_refuses_an_inherited_working_directory_a_mount_covers() {
    let t = "sandbox_refuses_an_inherited_working_directory_a_mount_covers";
    let Some(d) = setup_mounting(t) else { return };
    // The shell enters c/in, then covers c with a tmpfs and starts the
    // sandbox there: its working directory is one no path reaches, and
    // Landlock would judge it by the tree above it that no path shows.
    let c = mkdir(&d, "c");
    let inner = mkdir(Path::new(&c), "in");
    let own = mkdir(&d, "own");
    let p = policy(&d, "p", &[], &[&own], "");
    let run = |cover: bool| {
        let script = format!(
            "cd '{inner}' && {} exec \"$0\" --policy '{}' --exec -- /bin/sh -c pwd",
            if cover {
                format!("mount -t tmpfs tmpfs '{c}' &&")
            } else {
                String::new()
            },
            p.display()
        );
        let out = Command::new("unshare")
            .args([
                "-m",
                "--propagation",
                "private",
                "/bin/sh",
                "-c",
                &script,
                BIN,
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Control: not covered, the workload starts there.
    let (code, stdout, stderr) = run(false);
    assert_eq!(
        (code, stdout.as_str()),
        (Some(0), format!("{inner}\n").as_str()),
        "{stderr}"
    );
    let (code, _, stderr) = run(true);
    assert_eq!(code, Some(125), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the inherited working directory {inner} cannot be entered by its path"
        )),
        "{stderr}"
    );
}

#[test]
fn sandbox_refuses_a_read_write_directory_on_the_hosts_devtmpfs() {
    let t = "sandbox_refuses_a_read_write_directory_on_the_hosts_devtmpfs";
    let Some(d) = setup_mounting(t) else { return };
    // statfs cannot tell a devtmpfs from a tmpfs; the mount table can.
    let at = mkdir(&d, "devt");
    let _m = Mounted::new(&["-t", "devtmpfs", "devtmpfs"], &at);
    let dir = std::fs::read_dir(&at)
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path().display().to_string())
        .expect("a directory in the devtmpfs");
    let p = policy(&d, "rw", &[], &[&dir], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(
        r.stderr.contains(&format!(
            "{dir} is on the host's devtmpfs (mounted at {at})"
        )),
        "{}",
        r.explain()
    );
    // Controls: the same directory read-only runs, and so does a device
    // file there made read-write (the rule is on the node alone).
    let p = policy(&d, "ro", &[&dir], &[], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let null = format!("{at}/null");
    let p = policy(&d, "null", &[], &[&null], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    // A tmpfs mounted at q/NAME, then the devtmpfs over q: the path's
    // spelling points at the tmpfs, which the devtmpfs hides; the opened
    // directory's mount ID tells them apart.
    let name = Path::new(&dir)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let q = mkdir(&d, "q");
    let hidden = mkdir(Path::new(&q), &name);
    let _t = Mounted::new(&["-t", "tmpfs", "tmpfs"], &hidden);
    let p = policy(&d, "hidden", &[], &[&hidden], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "control, the tmpfs on top\n{}", r.explain());
    let over = Mounted::new(&["-t", "devtmpfs", "devtmpfs"], &q);
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(
        r.stderr.contains("is on the host's devtmpfs"),
        "{}",
        r.explain()
    );
    drop(over);
}

#[test]
fn plan_shows_where_a_trusted_link_leads() {
    let t = "plan_shows_where_a_trusted_link_leads";
    let Some(d) = setup(t) else { return };
    let link = InRun::root_link("plan");
    let l = link.path();
    let p = policy(&d, "p", &[&l], &[], "");
    let out = Command::new(BIN)
        .args(["plan", "--format", "json", "--policy"])
        .arg(&p)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rule = v["filesystem"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == l.as_str())
        .unwrap()
        .clone();
    assert_eq!(rule["resolved"], "/", "{rule}");
}

#[test]
fn plan_says_a_read_only_rule_beneath_read_write_is_writable() {
    let t = "plan_says_a_read_only_rule_beneath_read_write_is_writable";
    let Some(d) = setup(t) else { return };
    let data = mkdir(&d, "data");
    let ro = mkdir(Path::new(&data), "ro");
    let p = policy(&d, "p", &[&ro], &[&data], "");
    let out = Command::new(BIN)
        .args(["plan", "--format", "json", "--policy"])
        .arg(&p)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["widened"],
        serde_json::json!([format!(
            "filesystem: read_only {ro} lies beneath read_write {data}, so it is writable too (Landlock rights beneath a path add up)"
        )])
    );
    // And it is: the control shows the write the policy reads as denying.
    let f = format!("{ro}/f");
    let r = sandbox(&p, &["--exec"], &[&pr(), "write", &f]);
    assert_eq!(r.stdout, format!("ok: {f}\n"), "{}", r.explain());
}

#[test]
fn plan_says_when_a_writable_path_overlaps_an_execute_path() {
    let t = "plan_says_when_a_writable_path_overlaps_an_execute_path";
    let Some(d) = setup(t) else { return };
    let data = mkdir(&d, "data");
    let bin = mkdir(Path::new(&data), "bin");
    let probe_dir = probe().parent().unwrap().display().to_string();
    let plan_of = |name: &str, rw: &str, exec: &str| {
        let sub = d.join(name);
        std::fs::create_dir_all(&sub).unwrap();
        let text = common::base_policy(&[], &[rw], PROCESS).replace(
            "filesystem_policy:\n",
            &format!(
                "filesystem_policy:\n  execute: [/usr, /bin, /lib, /lib64, {probe_dir}, {exec}]\n"
            ),
        );
        let p = common::write_policy(&sub, &text);
        let out = Command::new(BIN)
            .args(["plan", "--format", "json", "--policy"])
            .arg(&p)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (p, v["widened"].clone())
    };
    // read_write at an execute path.
    let (p, widened) = plan_of("same", &bin, &bin);
    assert_eq!(
        widened,
        serde_json::json!([format!(
            "filesystem: read_write {bin} lies at or beneath execute {bin}, so programs written there can run (W^X does not hold there)"
        )])
    );
    // And so it is: a program the workload copies there runs.
    let copy = format!("{bin}/copy");
    let r = sandbox(
        &p,
        &["--exec"],
        &[
            "/bin/sh",
            "-c",
            &format!("cp {} {copy} && {copy} write {bin}/x", pr()),
        ],
    );
    assert_eq!(r.stdout, format!("ok: {bin}/x\n"), "{}", r.explain());
    // The launch's log says it as the plan does.
    assert!(
        r.stderr.contains(&format!(
            "warning: widened: filesystem: read_write {bin} lies at or beneath execute {bin}"
        )),
        "{}",
        r.explain()
    );
    // An execute path beneath a read_write one.
    let (_, widened) = plan_of("beneath", &data, &bin);
    assert_eq!(
        widened,
        serde_json::json!([format!(
            "filesystem: execute {bin} lies beneath read_write {data}, so programs written there can run (W^X does not hold there)"
        )])
    );
    // The same overlap spelled through a trusted link (as /lib -> usr/lib
    // or /var/run -> /run spell the host's trees) is said all the same.
    let link = InRun::root_link("wx");
    let via = format!("{}{bin}", link.path());
    let (_, widened) = plan_of("linked", &via, &bin);
    // Two rules name the one directory: both sides say it.
    assert_eq!(
        widened,
        serde_json::json!([
            format!(
                "filesystem: execute {bin} lies beneath read_write {via} (resolves to {bin}), so programs written there can run (W^X does not hold there)"
            ),
            format!(
                "filesystem: read_write {via} (resolves to {bin}) lies at or beneath execute {bin}, so programs written there can run (W^X does not hold there)"
            )
        ])
    );
    // Control: apart, nothing is said, and a copied program does not run.
    let other = mkdir(&d, "other");
    let (p, widened) = plan_of("apart", &other, &bin);
    assert_eq!(widened, serde_json::json!([]));
    let copy = format!("{other}/copy");
    let r = sandbox(
        &p,
        &["--exec"],
        &[
            "/bin/sh",
            "-c",
            &format!("cp {} {copy} && {copy} write {other}/x", pr()),
        ],
    );
    assert_ne!(r.code, 0, "{}", r.explain());
    assert!(!r.stdout.contains("ok:"), "{}", r.explain());
    assert!(!r.stderr.contains("widened"), "{}", r.explain());
}

#[test]
fn sandbox_report_never_writes_through_a_planted_link() {
    let t = "sandbox_report_never_writes_through_a_planted_link";
    let Some(d) = setup(t) else { return };
    let data = mkdir(&d, "data");
    let victim = d.join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let victim = victim.display().to_string();
    let link = format!("{data}/report.json");
    // Launch 1 plants report.json -> the victim file.
    let p = policy(&d, "plant", &[], &[&data], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "symlink", &victim, &link]);
    assert_eq!(r.stdout, format!("ok: {link}\n"), "{}", r.explain());
    // Launch 2 writes its report there.
    let r = sandbox(&p, &["--exec", "--report", &link], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the link was replaced by a file"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&link).unwrap()).unwrap();
    assert!(report.get("landlock").is_some(), "{report}");
    // The control: a privileged writer that opens the name follows the
    // link the workload planted.
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    std::fs::write(&link, "overwritten\n").unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "overwritten\n");
}

#[test]
fn sandbox_report_does_not_hang_on_a_planted_fifo() {
    let t = "sandbox_report_does_not_hang_on_a_planted_fifo";
    let Some(d) = setup(t) else { return };
    let data = mkdir(&d, "data");
    let fifo = format!("{data}/report.json");
    let p = policy(&d, "plant", &[], &[&data], "");
    let r = sandbox(
        &p,
        &["--exec"],
        &["/bin/sh", "-c", &format!("mkfifo {fifo}")],
    );
    assert_eq!(r.code, 0, "{}", r.explain());
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let mut c = Command::new("timeout");
    c.args(["20", BIN, "--policy"]).arg(&p).args([
        "--exec",
        "--report",
        &fifo,
        "--",
        &pr(),
        "true",
    ]);
    let r = Run::from(c.stdin(Stdio::null()).output().unwrap());
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_file()
    );
}

#[test]
fn sandbox_report_on_a_planted_directory_stops_with_a_hint() {
    let t = "sandbox_report_on_a_planted_directory_stops_with_a_hint";
    let Some(d) = setup(t) else { return };
    let data = mkdir(&d, "data");
    let name = format!("{data}/report.json");
    let p = policy(&d, "plant", &[], &[&data], "");
    // The control: the report is written where nothing was planted.
    let r = sandbox(&p, &["--exec", "--report", &name], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    std::fs::remove_file(&name).unwrap();
    let r = sandbox(&p, &["--exec"], &[&pr(), "mkdir", &name]);
    assert_eq!(r.stdout, format!("ok: {name}\n"), "{}", r.explain());
    let r = sandbox(&p, &["--exec", "--report", &name], &[&pr(), "true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(!r.stdout.contains("ok"), "{}", r.explain());
    assert!(
        r.stderr.contains(&format!("report {name}: is a directory"))
            && r.stderr.contains("outside the workload's writable paths"),
        "{}",
        r.explain()
    );
}

#[test]
fn sandbox_report_never_replaces_what_only_root_put_there() {
    // The report replaces what the workload could have planted at its
    // name; a device node, FIFO or link in a directory only root may
    // write (the host's /dev/null, the /dev/stderr link) is root's own,
    // and the launch stops instead of replacing it.
    let t = "sandbox_report_never_replaces_what_only_root_put_there";
    let Some(d) = setup(t) else { return };
    let root_dir = InRun::dir(t);
    let dir = root_dir.path();
    let p = policy(&d, "p", &[], &[], "");
    let node = format!("{dir}/null");
    let fifo = format!("{dir}/fifo");
    let link = format!("{dir}/stderr");
    let made = std::process::Command::new("mknod")
        .args(["-m", "666", &node, "c", "1", "3"])
        .status()
        .unwrap();
    assert!(made.success());
    nix::unistd::mkfifo(
        fifo.as_str(),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    std::os::unix::fs::symlink("/proc/self/fd/2", &link).unwrap();
    use std::os::unix::fs::FileTypeExt;
    for (name, kind) in [
        (&node, "character device"),
        (&fifo, "fifo"),
        (&link, "symbolic link"),
    ] {
        let before = std::fs::symlink_metadata(name).unwrap().file_type();
        let r = sandbox(&p, &["--exec", "--report", name], &[&pr(), "true"]);
        assert_eq!(r.code, 125, "{name}: {}", r.explain());
        assert!(
            r.stderr.contains(&format!(
                "{name} is a {kind} only root could have put there"
            )) && r.stderr.contains("or - for standard error"),
            "{}",
            r.explain()
        );
        let after = std::fs::symlink_metadata(name).unwrap().file_type();
        assert_eq!(
            (after.is_char_device(), after.is_fifo(), after.is_symlink()),
            (
                before.is_char_device(),
                before.is_fifo(),
                before.is_symlink()
            ),
            "{name} was replaced"
        );
    }
    // The control: a regular file of root's there is replaced by the
    // report, and a link the workload could have planted (in a directory
    // it may write) is replaced too (sandbox_report_never_writes_through_a_planted_link).
    let file = format!("{dir}/report.json");
    std::fs::write(&file, "old\n").unwrap();
    let r = sandbox(&p, &["--exec", "--report", &file], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(std::fs::read_to_string(&file).unwrap().contains("landlock"));
    // Sticky alone changes nothing where only root may write (1755).
    chmod(&root_dir.0, 0o1755);
    let r = sandbox(&p, &["--exec", "--report", &fifo], &[&pr(), "true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    // In a sticky directory others may write, anyone may have moved an
    // object of root's in (from any directory they may write): there it
    // is replaced.
    chmod(&root_dir.0, 0o1777);
    let r = sandbox(&p, &["--exec", "--report", &fifo], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(std::fs::symlink_metadata(&fifo).unwrap().is_file());
}

/// The CDI fallback writes as root: ld.so configuration, hook links, chmod.
/// A directory or file the workload could have replaced by a link (owned
/// by the workload's uid here) must stop the step, never be written
/// through. The control writes through the same link as root and reaches
/// the victim.
#[test]
fn cdi_fallback_never_writes_through_a_planted_link() {
    use openshell_sandbox::cdi::grants::{Emulation, Link};
    let t = "cdi_fallback_never_writes_through_a_planted_link";
    if common::need_root(t) {
        return;
    }
    let root = common::scratch(t);
    let victim = common::scratch(&format!("{t}-victim"));
    std::fs::create_dir_all(root.join("etc")).unwrap();
    let plant = |link: &Path, target: &Path| {
        std::os::unix::fs::symlink(target, link).unwrap();
        std::os::unix::fs::lchown(link, Some(1500), Some(1500)).unwrap();
    };
    // ld.so.conf.d -> the victim directory.
    plant(&root.join("etc/ld.so.conf.d"), &victim);
    let e = openshell_sandbox::cdi::fallback::emulate(
        &root,
        &Emulation::UpdateLdcache {
            folders: vec!["/opt/gpu/lib".into()],
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("is not followed"), "{e}");
    assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0);
    // create-symlinks beneath a planted directory link.
    std::fs::create_dir_all(root.join("usr")).unwrap();
    plant(&root.join("usr/lib"), &victim);
    let e = openshell_sandbox::cdi::fallback::emulate(
        &root,
        &Emulation::CreateSymlinks {
            links: vec![Link {
                target: "libcuda.so.1".into(),
                link: "/usr/lib/libcuda.so".into(),
            }],
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("is not followed"), "{e}");
    assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0);
    // chmod of a planted link to a victim file.
    let vf = victim.join("f");
    std::fs::write(&vf, "x").unwrap();
    chmod(&vf, 0o600);
    std::fs::create_dir_all(root.join("dev")).unwrap();
    plant(&root.join("dev/nvidia-caps"), &vf);
    let e = openshell_sandbox::cdi::fallback::emulate(
        &root,
        &Emulation::Chmod {
            mode: 0o666,
            paths: vec!["/dev/nvidia-caps".into()],
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("is not followed"), "{e}");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&vf).unwrap().mode() & 0o7777, 0o600);
    // Control: a privileged writer that follows the links reaches the victim.
    std::fs::write(root.join("etc/ld.so.conf.d/x.conf"), "/x\n").unwrap();
    assert!(victim.join("x.conf").exists());
    chmod(&root.join("dev/nvidia-caps"), 0o666);
    assert_eq!(std::fs::metadata(&vf).unwrap().mode() & 0o7777, 0o666);
}

/// The policy file itself is opened as root: a link the workload planted
/// where a later launch reads its policy is refused, while the links a
/// Kubernetes ConfigMap volume is made of (root-owned, on a root-owned
/// directory) are followed.
#[test]
fn sandbox_refuses_a_policy_file_link_the_workload_planted() {
    let t = "sandbox_refuses_a_policy_file_link_the_workload_planted";
    let Some(d) = setup(t) else { return };
    let data = mkdir(&d, "data");
    let good = policy(&d, "good", &[], &[&data], "");
    let link = format!("{data}/policy.yaml");
    let p = policy(&d, "plant", &[], &[&data], "");
    let r = sandbox(
        &p,
        &["--exec"],
        &[&pr(), "symlink", good.to_str().unwrap(), &link],
    );
    assert_eq!(r.stdout, format!("ok: {link}\n"), "{}", r.explain());
    let r = sandbox(Path::new(&link), &["--exec"], &[&pr(), "true"]);
    refused(
        &r,
        &format!(
            "openshell-sandbox: policy {link}: symlink {link} -> {} is not followed",
            good.display()
        ),
    );
    // Control: the link itself leads to a valid policy.
    let r = sandbox(&good, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    // A ConfigMap-shaped directory: policy.yaml -> ..data/policy.yaml,
    // ..data -> ..2026_11_30, all root-owned in root-owned /run.
    let cm = PathBuf::from(format!("/run/openshell-test-cm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cm);
    std::fs::create_dir_all(cm.join("..2026_11_30")).unwrap();
    std::fs::copy(&good, cm.join("..2026_11_30/policy.yaml")).unwrap();
    std::os::unix::fs::symlink("..2026_11_30", cm.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/policy.yaml", cm.join("policy.yaml")).unwrap();
    let r = sandbox(&cm.join("policy.yaml"), &["--exec"], &[&pr(), "true"]);
    std::fs::remove_dir_all(&cm).unwrap();
    assert_eq!(r.code, 0, "{}", r.explain());
}

/// A root-owned link to the policy, in a directory the policy itself makes
/// writable: loading trusts it (root's link, nothing writable known yet),
/// but the workload could replace it for the next launch, so the launch
/// stops once the plan knows what is writable.
#[test]
fn sandbox_refuses_a_policy_reached_through_a_writable_directory() {
    let t = "sandbox_refuses_a_policy_reached_through_a_writable_directory";
    let Some(d) = setup(t) else { return };
    let good = policy(&d, "good", &[], &[], "");
    // Root's own directories, mode 0755: by file modes only root writes
    // there; the policy is what makes `data` writable.
    let root = PathBuf::from(format!(
        "/run/openshell-test-pollink-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&root);
    for sub in ["data", "elsewhere"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    let data = root.join("data").display().to_string();
    let text = std::fs::read_to_string(&good)
        .unwrap()
        .replace("read_write: [", &format!("read_write: [{data}, "));
    let bad = common::write_policy(&d.join("bad"), &text);
    let link = format!("{data}/policy.yaml");
    std::os::unix::fs::symlink(&bad, &link).unwrap();
    let r = sandbox(Path::new(&link), &["--exec"], &[&pr(), "true"]);
    // Control: the same root-owned link where the policy grants nothing
    // is followed.
    let trusted = root.join("elsewhere/policy.yaml");
    std::os::unix::fs::symlink(&bad, &trusted).unwrap();
    let c = sandbox(&trusted, &["--exec"], &[&pr(), "true"]);
    std::fs::remove_dir_all(&root).unwrap();
    refused(
        &r,
        &format!(
            "openshell-sandbox: policy {link}: the workload could rewrite its own policy: symlink {link} -> {} is not followed",
            bad.display()
        ),
    );
    assert_eq!(c.code, 0, "{}", c.explain());
}

/// A CDI spec grants nodes, mounts and groups. One the workload wrote on an
/// earlier launch into a spec directory it may write (`/var/run/cdi` under
/// a `read_write: [/run]` grant) is never read.
#[test]
fn sandbox_never_reads_a_cdi_spec_the_workload_planted() {
    let t = "sandbox_never_reads_a_cdi_spec_the_workload_planted";
    let Some(d) = setup(t) else { return };
    let run = mkdir(&d, "run");
    let cdi = mkdir(Path::new(&run), "cdi");
    let secret_dir = mkdir(&d, "secret");
    let secret = file(Path::new(&secret_dir), "s.txt");
    // Launch 1 writes a spec granting a mount of the secret directory.
    let p = policy(&d, "plant", &[], &[&run], "");
    let spec = format!(
        "cdiVersion: 0.7.0\nkind: example.com/gpu\ndevices:\n- name: \"0\"\n  containerEdits:\n    mounts: [{{hostPath: {secret_dir}, containerPath: {secret_dir}, options: [ro, bind]}}]\n"
    );
    let spec_path = format!("{cdi}/evil.yaml");
    let r = sandbox(
        &p,
        &["--exec"],
        &[
            "/bin/sh",
            "-c",
            &format!("printf '%s' '{spec}' > {spec_path}"),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.explain());
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&spec_path).unwrap().uid(), 1500);
    // Launch 2 asks for the device.
    let r = sandbox(
        &p,
        &["--exec", "--cdi-dir", &cdi, "--device", "example.com/gpu=0"],
        &[&pr(), "read", &secret],
    );
    refused(&r, "cdi: device \"example.com/gpu=0\" not found");
    assert!(
        r.stderr
            .contains("so someone other than root could have written it"),
        "{}",
        r.explain()
    );
    // Control: the same spec written by root is read, and the mount grants
    // the directory.
    std::fs::remove_file(&spec_path).unwrap();
    let root_cdi = common::scratch(&format!("{t}-rootcdi"));
    std::fs::write(root_cdi.join("good.yaml"), &spec).unwrap();
    let r = sandbox(
        &p,
        &[
            "--exec",
            "--cdi-dir",
            root_cdi.to_str().unwrap(),
            "--device",
            "example.com/gpu=0",
        ],
        &[&pr(), "read", &secret],
    );
    assert_eq!(r.stdout, format!("ok: {secret}\n"), "{}", r.explain());
}

/// The emulated update-ldcache hook puts directories on every root
/// process's library path. A folder the workload can write (here beneath
/// its read_write tree, where launch 1 left a library) is refused.
#[test]
fn cdi_ldcache_hook_refuses_a_folder_the_workload_can_write() {
    use openshell_sandbox::cdi::grants::Emulation;
    let t = "cdi_ldcache_hook_refuses_a_folder_the_workload_can_write";
    if common::need_root(t) {
        return;
    }
    let root = common::scratch(t);
    std::fs::create_dir_all(root.join("etc/ld.so.conf.d")).unwrap();
    let vol = root.join("vol/lib");
    std::fs::create_dir_all(&vol).unwrap();
    std::os::unix::fs::chown(&vol, Some(1500), Some(1500)).unwrap();
    std::fs::write(vol.join("libz.so.1"), "planted").unwrap();
    let e = openshell_sandbox::cdi::fallback::emulate(
        &root,
        &Emulation::UpdateLdcache {
            folders: vec!["/vol/lib".into()],
        },
    )
    .unwrap_err();
    assert!(
        e.to_string().contains(&format!(
            "hook update-ldcache: folder /vol/lib: {} is owned by uid 1500, so the workload could place libraries there that root processes would load",
            vol.display()
        )),
        "{e}"
    );
    assert_eq!(
        std::fs::read_dir(root.join("etc/ld.so.conf.d"))
            .unwrap()
            .count(),
        0
    );
    // Control: the same folder owned by root is added.
    std::os::unix::fs::chown(&vol, Some(0), Some(0)).unwrap();
    openshell_sandbox::cdi::fallback::emulate(
        &root,
        &Emulation::UpdateLdcache {
            folders: vec!["/vol/lib".into()],
        },
    )
    .unwrap();
    assert_eq!(cdi_ldconf(&root), "/vol/lib\n");
}

/// An image's ldconfig at `root`/sbin: it only leaves a mark that it ran
/// (returned).
fn fake_ldconfig(root: &Path) -> PathBuf {
    std::fs::create_dir_all(root.join("sbin")).unwrap();
    let marker = root.join("ran");
    let ldconfig = root.join("sbin/ldconfig");
    std::fs::write(
        &ldconfig,
        format!("#!/bin/sh\ntouch {}\n", marker.display()),
    )
    .unwrap();
    chmod(&ldconfig, 0o755);
    marker
}

/// The file the emulated update-ldcache writes the spec's folders to.
fn cdi_ldconf(root: &Path) -> String {
    std::fs::read_to_string(root.join("etc/ld.so.conf.d/00-openshell-cdi.conf")).unwrap()
}

/// The emulated update-ldcache hook runs the image's ldconfig as root,
/// which links and caches what it finds in every directory the image's
/// library path lists, not only the spec's folders. One the workload can
/// write (here its own, where launch 1 left a library) is refused before
/// anything is written or run. The control gives the directory to root.
#[test]
fn cdi_ldcache_hook_refuses_an_image_library_path_the_workload_can_write() {
    use openshell_sandbox::cdi::grants::Emulation;
    let t = "cdi_ldcache_hook_refuses_an_image_library_path_the_workload_can_write";
    if common::need_root(t) {
        return;
    }
    let root = common::scratch(t);
    std::fs::create_dir_all(root.join("etc/ld.so.conf.d")).unwrap();
    std::fs::write(root.join("etc/ld.so.conf.d/app.conf"), "/vol/lib\n").unwrap();
    let vol = root.join("vol/lib");
    std::fs::create_dir_all(&vol).unwrap();
    std::os::unix::fs::chown(&vol, Some(1500), Some(1500)).unwrap();
    std::fs::write(vol.join("libevil.so.1"), "planted").unwrap();
    std::fs::create_dir_all(root.join("drv/lib")).unwrap();
    // The image's ldconfig: marks that it ran.
    let marker = fake_ldconfig(&root);
    let hook = Emulation::UpdateLdcache {
        folders: vec!["/drv/lib".into()],
    };
    let e = openshell_sandbox::cdi::fallback::emulate(&root, &hook).unwrap_err();
    assert!(
        e.to_string().contains(&format!(
            "hook update-ldcache: the image's library path lists /vol/lib: {} is owned by uid 1500, so root's ldconfig would link and cache libraries the workload put there",
            vol.display()
        )),
        "{e}"
    );
    assert!(!marker.exists(), "ldconfig ran");
    assert!(!root.join("etc/ld.so.conf.d/00-openshell-cdi.conf").exists());
    // Control: the same directory owned by root.
    std::os::unix::fs::chown(&vol, Some(0), Some(0)).unwrap();
    openshell_sandbox::cdi::fallback::emulate(&root, &hook).unwrap();
    assert!(marker.exists(), "ldconfig did not run");
    assert_eq!(cdi_ldconf(&root), "/drv/lib\n");
}

/// Root's ldconfig reads more than the directories it is given: it follows
/// a library's link wherever it leads, and reads the hwcap subdirectories
/// (`glibc-hwcaps/*`, `tls`, ...); it writes its auxiliary cache beneath
/// /var/cache/ldconfig. Each of these, where the workload can write, would
/// let it choose a library root processes load, or where root writes: the
/// hook is refused before anything is written or run. A link to nothing
/// yet is judged by where it would lead. The control: the same layout
/// with every link leading to root's files, a link without `.so` in its
/// name (never read as a library) leading into the workload's directory,
/// and a root-owned auxiliary cache directory.
#[test]
fn cdi_ldcache_hook_judges_what_ldconfig_reads_and_writes_in_the_library_path() {
    use openshell_sandbox::cdi::grants::Emulation;
    use std::os::unix::fs::symlink;
    let t = "cdi_ldcache_hook_judges_what_ldconfig_reads_and_writes_in_the_library_path";
    if common::need_root(t) {
        return;
    }
    let root = common::scratch(t);
    let drv = root.join("drv/lib");
    let img = root.join("img/lib");
    let real = root.join("real");
    let vol = root.join("vol/app");
    for d in [
        &drv,
        &img,
        &real,
        &vol,
        &root.join("etc/ld.so.conf.d"),
        &root.join("var/cache/ldconfig"),
    ] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(root.join("etc/ld.so.conf.d/img.conf"), "/img/lib\n").unwrap();
    std::os::unix::fs::chown(&vol, Some(1500), Some(1500)).unwrap();
    std::fs::write(vol.join("libapp.so.1"), "the workload's").unwrap();
    std::fs::write(real.join("libapp.so.1"), "root's").unwrap();
    let marker = fake_ldconfig(&root);
    let hook = Emulation::UpdateLdcache {
        folders: vec!["/drv/lib".into()],
    };
    let refused = |what: &str| {
        let e = openshell_sandbox::cdi::fallback::emulate(&root, &hook).unwrap_err();
        assert!(e.to_string().contains(what), "{what}: {e}");
        assert!(!marker.exists(), "{what}: ldconfig ran");
        assert!(!root.join("etc/ld.so.conf.d/00-openshell-cdi.conf").exists());
    };
    let wl = vol.display().to_string();
    // A link in the spec's folder to the workload's file.
    symlink(vol.join("libapp.so.1"), drv.join("libapp.so.1")).unwrap();
    refused(&format!(
        "hook update-ldcache: folder /drv/lib: {}/libapp.so.1 leads to {wl}/libapp.so.1: {wl} is owned by uid 1500",
        drv.display()
    ));
    std::fs::remove_file(drv.join("libapp.so.1")).unwrap();
    // A link to nothing yet, in a directory the workload can create it in.
    symlink(vol.join("later/libapp.so.1"), drv.join("libapp.so.1")).unwrap();
    refused(&format!(
        "{}/libapp.so.1 leads to {wl}/later/libapp.so.1: {wl} is owned by uid 1500",
        drv.display()
    ));
    std::fs::remove_file(drv.join("libapp.so.1")).unwrap();
    // A glibc-hwcaps subdirectory the workload owns.
    let hw = drv.join("glibc-hwcaps/x86-64-v2");
    std::fs::create_dir_all(&hw).unwrap();
    std::os::unix::fs::chown(&hw, Some(1500), Some(1500)).unwrap();
    refused(&format!("{} is owned by uid 1500", hw.display()));
    std::os::unix::fs::chown(&hw, Some(0), Some(0)).unwrap();
    // A link in a directory the image lists.
    symlink(vol.join("libapp.so.1"), img.join("libimg.so.1")).unwrap();
    refused("hook update-ldcache: the image's library path lists /img/lib: ");
    std::fs::remove_file(img.join("libimg.so.1")).unwrap();
    // The auxiliary cache's directory.
    let aux = root.join("var/cache/ldconfig");
    std::os::unix::fs::chown(&aux, Some(1500), Some(1500)).unwrap();
    refused(&format!(
        "hook update-ldcache: /var/cache/ldconfig, where ldconfig writes its auxiliary cache as root: {} is owned by uid 1500",
        aux.display()
    ));
    std::os::unix::fs::chown(&aux, Some(0), Some(0)).unwrap();
    // A library file the workload owns (its inode may have a name where
    // it writes), and one group may write.
    let own = drv.join("libown.so.1");
    std::fs::write(&own, "").unwrap();
    std::os::unix::fs::chown(&own, Some(1500), Some(1500)).unwrap();
    refused(&format!("{} is owned by uid 1500", own.display()));
    std::os::unix::fs::chown(&own, Some(0), Some(0)).unwrap();
    chmod(&own, 0o664);
    refused(&format!(
        "{} is writable by group or others (mode 664)",
        own.display()
    ));
    chmod(&own, 0o644);
    // A link to nothing yet in a sticky directory anyone may add to.
    let sticky = root.join("sticky");
    std::fs::create_dir_all(&sticky).unwrap();
    chmod(&sticky, 0o1777);
    symlink(sticky.join("later.so"), drv.join("libsticky.so.1")).unwrap();
    refused(&format!(
        "{}/libsticky.so.1 leads to {}/later.so: {} may be written by group or others (mode 1777), who could create it",
        drv.display(),
        sticky.display(),
        sticky.display()
    ));
    std::fs::remove_file(drv.join("libsticky.so.1")).unwrap();
    // The ldconfig it runs as root: a link into the workload's directory,
    // then a script whose interpreter is there.
    let ldconfig = root.join("sbin/ldconfig");
    let theirs = vol.join("ldconfig");
    std::fs::rename(&ldconfig, &theirs).unwrap();
    symlink(&theirs, &ldconfig).unwrap();
    refused(&format!(
        "hook update-ldcache: /sbin/ldconfig, which it runs as root: {} leads to {}: {wl} is owned by uid 1500, so the workload could choose what runs",
        ldconfig.display(),
        theirs.display()
    ));
    std::fs::remove_file(&ldconfig).unwrap();
    let script = std::fs::read_to_string(&theirs).unwrap();
    std::fs::write(
        &ldconfig,
        script.replacen("#!/bin/sh", &format!("#!{wl}/sh"), 1),
    )
    .unwrap();
    chmod(&ldconfig, 0o755);
    std::fs::copy("/bin/sh", vol.join("sh")).unwrap();
    refused(&format!(
        "hook update-ldcache: /sbin/ldconfig, which it runs as root: its interpreter {wl}/sh: {wl} is owned by uid 1500"
    ));
    std::fs::write(&ldconfig, script).unwrap();
    // Control.
    symlink(real.join("libapp.so.1"), drv.join("libapp.so.1")).unwrap();
    symlink(real.join("libapp.so.1"), hw.join("libapp.so.1")).unwrap();
    symlink(real.join("libapp.so.1"), img.join("libimg.so.1")).unwrap();
    symlink(&vol, drv.join("notes")).unwrap();
    openshell_sandbox::cdi::fallback::emulate(&root, &hook).unwrap();
    assert!(marker.exists(), "ldconfig did not run");
    assert_eq!(cdi_ldconf(&root), "/drv/lib\n");
}

/// A directory the policy makes writable is as writable through another
/// mount of it (a volume mounted twice, a bind of a directory inside it):
/// a spec there is judged by the directory, not by how the spec directory
/// is spelled. The controls: the spec is valid and readable through the
/// bind, and is read there when the policy does not make its directory
/// writable.
#[test]
fn sandbox_never_reads_a_cdi_spec_through_another_mount_of_a_writable_directory() {
    let t = "sandbox_never_reads_a_cdi_spec_through_another_mount_of_a_writable_directory";
    let Some(d) = setup_mounting(t) else { return };
    let root = common::scratch(&format!("{t}-root"));
    let shared = root.join("shared");
    let cdi = shared.join("cdi");
    std::fs::create_dir_all(&cdi).unwrap();
    std::fs::write(
        cdi.join("good.yaml"),
        "cdiVersion: 0.3.0\nkind: example.com/dev\ndevices: [{name: a, containerEdits: {env: [FROM_SPEC=1]}}]\n",
    )
    .unwrap();
    let alias = root.join("alias");
    std::fs::create_dir_all(&alias).unwrap();
    let (shared, cdi, alias) = (
        shared.to_str().unwrap().to_string(),
        cdi.to_str().unwrap().to_string(),
        alias.to_str().unwrap().to_string(),
    );
    let m = Mounted::new(&["--bind", &cdi], &alias);
    let args = [
        "--exec",
        "--cdi-dir",
        &alias,
        "--device",
        "example.com/dev=a",
    ];
    let p = policy(&d, "shared", &[], &[&shared], "");
    let r = sandbox(&p, &args, &[&pr(), "true"]);
    refused(&r, "cdi: device \"example.com/dev=a\" not found");
    assert!(
        r.stderr.contains(&format!(
            "spec skipped: {alias}/good.yaml: not read: {alias} is writable under the policy, so someone other than root could have written it"
        )),
        "{}",
        r.explain()
    );
    // Controls: through the bind the spec is there and valid, and it is
    // read when the policy makes another directory writable.
    let r = common::output_within(Command::new(BIN).args(["devices", "--cdi-dir", &alias]), 20);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "example.com/dev=a\n"),
        "{}",
        r.explain()
    );
    let other = mkdir(&d, "other");
    let p = policy(&d, "other", &[], &[&other], "");
    let r = sandbox(&p, &args, &[&pr(), "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    drop(m);
}

/// Root's ldconfig follows `include` lines (relative, globbed, several a
/// line) and reads `DIR=TYPE` lines as DIR: what it would read is judged
/// whole or the hook is refused, before anything is written or run. The
/// control is the usual layout, with a `=TYPE` line and a comment.
#[test]
fn cdi_ldcache_hook_refuses_an_image_library_path_it_cannot_judge_whole() {
    use openshell_sandbox::cdi::grants::Emulation;
    let t = "cdi_ldcache_hook_refuses_an_image_library_path_it_cannot_judge_whole";
    if common::need_root(t) {
        return;
    }
    let root = common::scratch(t);
    let vol = root.join("vol/lib");
    std::fs::create_dir_all(&vol).unwrap();
    std::os::unix::fs::chown(&vol, Some(1500), Some(1500)).unwrap();
    std::fs::create_dir_all(root.join("drv/lib")).unwrap();
    let marker = fake_ldconfig(&root);
    let hook = Emulation::UpdateLdcache {
        folders: vec!["/drv/lib".into()],
    };
    let usual = "include /etc/ld.so.conf.d/*.conf\n";
    let vol_s = vol.display().to_string();
    for (conf, app, owner, want) in [
        (
            "include /etc/ld.so.conf.d/*.conf\ninclude /opt/inc/x.conf\n",
            "",
            0,
            "/etc/ld.so.conf includes /opt/inc/x.conf, which is not followed here".to_string(),
        ),
        (
            usual,
            "\tinclude ../../vol/x.conf\n",
            0,
            "/etc/ld.so.conf.d/app.conf includes ../../vol/x.conf, which is not followed here".to_string(),
        ),
        (
            "include /etc/ld.so.conf.d/*.conf /vol/x.conf\n",
            "",
            0,
            "/etc/ld.so.conf includes /etc/ld.so.conf.d/*.conf /vol/x.conf, which is not followed here".to_string(),
        ),
        (
            usual,
            "lib/here\n",
            0,
            "/etc/ld.so.conf.d/app.conf lists \"lib/here\", not an absolute path".to_string(),
        ),
        (
            usual,
            "/opt/lib\n",
            1500,
            format!("/etc/ld.so.conf.d/app.conf: {}/etc/ld.so.conf.d/app.conf is owned by uid 1500", root.display()),
        ),
        (
            usual,
            "/vol/lib=libc6\n",
            0,
            format!("the image's library path lists /vol/lib: {vol_s} is owned by uid 1500"),
        ),
    ] {
        let _ = std::fs::remove_dir_all(root.join("etc"));
        std::fs::create_dir_all(root.join("etc/ld.so.conf.d")).unwrap();
        std::fs::write(root.join("etc/ld.so.conf"), conf).unwrap();
        let app_path = root.join("etc/ld.so.conf.d/app.conf");
        std::fs::write(&app_path, app).unwrap();
        std::os::unix::fs::chown(&app_path, Some(owner), None).unwrap();
        let e = openshell_sandbox::cdi::fallback::emulate(&root, &hook)
            .expect_err(&format!("{conf:?} {app:?}"));
        assert!(e.to_string().contains(&want), "{conf:?} {app:?}: {e}");
        assert!(!marker.exists(), "ldconfig ran: {conf:?} {app:?}");
        assert!(!root.join("etc/ld.so.conf.d/00-openshell-cdi.conf").exists());
    }
    // Control: the usual layout (Fedora's relative include), a `=TYPE`
    // line and a comment.
    std::fs::write(root.join("etc/ld.so.conf"), "include ld.so.conf.d/*.conf\n").unwrap();
    std::fs::write(
        root.join("etc/ld.so.conf.d/app.conf"),
        "/opt/lib=libc6 # the image's own\nhwcap 1 x\n",
    )
    .unwrap();
    std::os::unix::fs::chown(root.join("etc/ld.so.conf.d/app.conf"), Some(0), None).unwrap();
    openshell_sandbox::cdi::fallback::emulate(&root, &hook).unwrap();
    assert!(marker.exists(), "ldconfig did not run");
}

/// A policy the workload could rewrite is its policy on the next launch.
#[test]
fn sandbox_refuses_a_policy_file_the_workload_can_rewrite() {
    let t = "sandbox_refuses_a_policy_file_the_workload_can_rewrite";
    let Some(d) = setup(t) else { return };
    let data = mkdir(&d, "data");
    // Beneath its own read_write tree.
    let inside = Path::new(&data).join("policy.yaml");
    std::fs::write(&inside, common::base_policy(&[], &[&data], PROCESS)).unwrap();
    let r = sandbox(&inside, &["--exec"], &[&pr(), "true"]);
    refused(
        &r,
        &format!(
            "openshell-sandbox: policy {}: the workload could rewrite its own policy: it lies beneath {data}, which the policy makes writable",
            inside.display()
        ),
    );
    // Owned by the workload's uid, elsewhere.
    let owned = policy(&d, "owned", &[], &[&data], "");
    std::os::unix::fs::chown(&owned, Some(1500), Some(1500)).unwrap();
    let r = sandbox(&owned, &["--exec"], &[&pr(), "true"]);
    refused(&r, "it is owned by uid 1500, the workload's");
    // Writable by the workload's group, reachable through another mount
    // of the same volume that no path rule names: refused all the same.
    std::os::unix::fs::chown(&owned, Some(0), Some(1500)).unwrap();
    chmod(&owned, 0o664);
    let r = sandbox(&owned, &["--exec"], &[&pr(), "true"]);
    refused(
        &r,
        &format!(
            "{} is writable by group or others (mode 664), so someone other than root could change it",
            owned.display()
        ),
    );
    // Control: the same policy, root's alone and outside, runs.
    chmod(&owned, 0o644);
    std::os::unix::fs::chown(&owned, Some(0), Some(0)).unwrap();
    let r = sandbox(&owned, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
}

/// A name the workload chose (a planted link's target) is shown escaped:
/// it cannot forge a line of the supervisor's log.
#[test]
fn sandbox_log_cannot_be_forged_by_a_planted_name() {
    let t = "sandbox_log_cannot_be_forged_by_a_planted_name";
    let Some(d) = setup(t) else { return };
    let data = mkdir(&d, "data");
    let link = format!("{data}/ro");
    let target = "/x\nopenshell-sandbox: info: landlock: all good";
    let p = policy(&d, "plant", &[], &[&data], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "symlink", target, &link]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let p = policy(&d, "attack", &[&link], &[&data], "");
    let r = sandbox(&p, &["--exec"], &[&pr(), "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        !r.stderr
            .lines()
            .any(|l| l == "openshell-sandbox: info: landlock: all good"),
        "{}",
        r.explain()
    );
    assert!(
        r.stderr
            .contains("-> /x\\nopenshell-sandbox: info: landlock: all good is not followed"),
        "{}",
        r.explain()
    );
}
