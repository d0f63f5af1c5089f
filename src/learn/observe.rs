//! Turning one seccomp notification into what the call needs: the task's
//! path and socket-address arguments are read from its memory
//! (`/proc/<tid>/mem`), relative paths are resolved against the right
//! directory (`/proc/<tid>/fd/<dirfd>` or `/proc/<tid>/cwd`), and the
//! object the call reaches decides the rule: read, write or execute on it,
//! or write on its directory for calls that create, remove, rename or link
//! a name there.
//!
//! Everything here is read while the task is blocked in the call; the
//! caller checks that the notification is still pending afterwards
//! (`SECCOMP_IOCTL_NOTIF_ID_VALID`) before keeping what was read. The task
//! can still change its memory from another thread or the tree meanwhile:
//! what is recorded is advisory, and it is only ever written into a
//! proposed policy, never used to allow anything.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;

use super::resolve::{self, Creds, Found};
use crate::sys::notify::Notif;

/// The calls `learn` observes; each that exists on an architecture gets a
/// `SECCOMP_RET_USER_NOTIF` rule behind the policy's own rules.
pub const OBSERVED: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "creat",
    "truncate",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "unlink",
    "unlinkat",
    "rmdir",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "execve",
    "execveat",
    "socket",
    "connect",
    "bind",
    "listen",
];

/// What a call does with a name in a directory, for [`Task::in_dir`].
#[derive(Clone, Copy)]
enum NameUse {
    /// Creates it (`mkdir`, `mknod`, `symlink`, a link's new name).
    Made,
    /// Removes it (`unlink`, `rmdir`, a rename's old name).
    Gone,
    /// Either (a rename's new name replaces what is there; a link's old
    /// name, as before).
    Any,
}

/// What one path was used for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Use {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    /// Opened as a directory (listing), or a directory whose entries were
    /// created or removed.
    pub dir: bool,
    pub count: u64,
}

/// Everything one run showed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observations {
    /// Canonical path -> use.
    pub paths: BTreeMap<String, Use>,
    pub connect_tcp: BTreeMap<u16, u64>,
    pub bind_tcp: BTreeMap<u16, u64>,
    /// UDP ports connected to or bound (no rule: Landlock has none).
    pub udp: BTreeMap<u16, u64>,
    /// `listen` on a TCP socket this run never bound to a port (an
    /// ephemeral port).
    pub listen_unbound: u64,
    pub abstract_unix: u64,
    /// `socket()` calls by family name.
    pub families: BTreeMap<&'static str, u64>,
    /// Calls observed, by name.
    pub calls: BTreeMap<&'static str, u64>,
    /// Calls that needed no rule, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// The workload's tgids, to tell its `/proc/<pid>` from others'.
    pub tgids: BTreeSet<u32>,
}

/// A piece of a call's outcome, kept only if the notification is still
/// valid once everything was read.
#[derive(Debug, PartialEq, Eq)]
enum Record {
    Path(String, Use),
    Skip(&'static str),
    ConnectTcp(u16),
    BindTcp(u16),
    Udp(u16),
    /// `listen` on TCP socket fd of tgid.
    ListenTcp(u32, i32),
    AbstractUnix,
    Family(&'static str),
    /// The task exec'd: inspect its new image on its next call.
    Exec(u32),
    Bound(u32, i32),
}

const AT_FDCWD: i32 = -100;
const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
const AF_UNIX: u16 = 1;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const AF_NETLINK: u16 = 16;
/// Longest path the kernel accepts (with its NUL).
const PATH_MAX: usize = 4096;

/// The observer's state across notifications.
#[derive(Debug, Default)]
pub struct Observer {
    pub seen: Observations,
    /// Processes that exec'd and whose new image (program, ELF
    /// interpreter) has not been looked at yet.
    pending_image: BTreeSet<u32>,
    /// (tgid, fd) bound to a TCP port or a unix path, for `listen`.
    bound: BTreeSet<(u32, i32)>,
    /// This binary, whose own image is never the workload's.
    own_exe: Option<String>,
}

fn low_i32(v: u64) -> i32 {
    i32::from_ne_bytes((v as u32).to_ne_bytes())
}

impl Observer {
    pub fn new() -> Observer {
        Observer {
            own_exe: std::fs::read_link("/proc/self/exe")
                .ok()
                .and_then(|p| p.to_str().map(str::to_string)),
            ..Observer::default()
        }
    }

    /// Look at notification `n` of syscall `name` (the task is blocked);
    /// `still_pending` is asked once everything was read, and only then is
    /// anything recorded.
    pub fn handle(&mut self, n: &Notif, name: &'static str, still_pending: impl FnOnce() -> bool) {
        let mut out = Vec::new();
        let task = Task::new(n.pid);
        if let Some(c) = &task.creds {
            if self.pending_image.remove(&c.tgid) {
                self.image(&task, &mut out);
            }
        }
        task.call(name, &n.args, &mut out);
        if !still_pending() {
            *self
                .seen
                .skipped
                .entry("the call went away while it was read")
                .or_default() += 1;
            return;
        }
        *self.seen.calls.entry(name).or_default() += 1;
        if let Some(c) = &task.creds {
            self.seen.tgids.insert(c.tgid);
        }
        for r in out {
            self.record(r);
        }
    }

    fn record(&mut self, r: Record) {
        match r {
            // A name with a control character is never a rule a policy
            // may hold (`check` refuses it as a forged line): the workload
            // chose that name, and learning goes on without it.
            Record::Path(p, _) if crate::policy::paths::first_control(&p).is_some() => {
                *self
                    .seen
                    .skipped
                    .entry("a name with a control character (a policy cannot hold it)")
                    .or_default() += 1;
            }
            Record::Path(p, u) => {
                let e = self.seen.paths.entry(p).or_default();
                e.read |= u.read;
                e.write |= u.write;
                e.exec |= u.exec;
                e.dir |= u.dir;
                e.count += 1;
            }
            Record::Skip(why) => *self.seen.skipped.entry(why).or_default() += 1,
            Record::ConnectTcp(p) => *self.seen.connect_tcp.entry(p).or_default() += 1,
            Record::BindTcp(p) => *self.seen.bind_tcp.entry(p).or_default() += 1,
            Record::Udp(p) => *self.seen.udp.entry(p).or_default() += 1,
            Record::ListenTcp(tgid, fd) => {
                // A TCP socket never bound here listens on an ephemeral port.
                if !self.bound.contains(&(tgid, fd)) {
                    self.seen.listen_unbound += 1;
                }
            }
            Record::AbstractUnix => self.seen.abstract_unix += 1,
            Record::Family(f) => *self.seen.families.entry(f).or_default() += 1,
            Record::Exec(tgid) => {
                self.pending_image.insert(tgid);
            }
            Record::Bound(tgid, fd) => {
                self.bound.insert((tgid, fd));
            }
        }
    }

    /// The program a process runs after exec, and its ELF interpreter:
    /// both need the execute right, and the kernel opens them itself (no
    /// notification shows the interpreter, or a script's interpreter).
    fn image(&self, task: &Task, out: &mut Vec<Record>) {
        let exe = format!("/proc/{}/exe", task.tid);
        let Ok(target) = std::fs::read_link(&exe) else {
            return;
        };
        let prog = target.as_os_str().as_bytes();
        if let Found::Exists(p, m) = resolve::resolve(prog, true, task.tid, None) {
            if m.is_file() && Some(&p) != self.own_exe.as_ref() {
                out.push(Record::Path(p, exec_use()));
            } else {
                return;
            }
        }
        // Read through the task's own link: the very file it runs.
        let Ok(f) = File::open(&exe) else {
            return;
        };
        if let Some(interp) = elf_interpreter(&f) {
            if let Found::Exists(p, m) = resolve::resolve(&interp, true, task.tid, None) {
                if m.is_file() {
                    out.push(Record::Path(p, exec_use()));
                }
            }
        }
    }
}

fn exec_use() -> Use {
    Use {
        read: true,
        exec: true,
        ..Use::default()
    }
}

/// The task a notification came from.
struct Task {
    tid: u32,
    creds: Option<Creds>,
}

impl Task {
    fn new(tid: u32) -> Task {
        let creds = std::fs::read_to_string(format!("/proc/{tid}/status"))
            .ok()
            .and_then(|s| Creds::parse(&s));
        Task { tid, creds }
    }

    /// A NUL-terminated string at `addr` in the task's memory.
    fn string(&self, addr: u64) -> Option<Vec<u8>> {
        let mem = File::open(format!("/proc/{}/mem", self.tid)).ok()?;
        let mut out = Vec::new();
        let mut at = addr;
        while out.len() < PATH_MAX {
            // Read up to the end of the page: the next one may be unmapped.
            let room = 4096 - (at % 4096) as usize;
            let mut buf = vec![0u8; room.min(PATH_MAX - out.len())];
            let n = mem.read_at(&mut buf, at).ok()?;
            if n == 0 {
                return None;
            }
            let got = buf.get(..n)?;
            if let Some(i) = got.iter().position(|b| *b == 0) {
                out.extend_from_slice(got.get(..i)?);
                return Some(out);
            }
            out.extend_from_slice(got);
            at = at.checked_add(n as u64)?;
        }
        None
    }

    /// `len` bytes at `addr` in the task's memory.
    fn bytes(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let mem = File::open(format!("/proc/{}/mem", self.tid)).ok()?;
        let mut buf = vec![0u8; len];
        mem.read_exact_at(&mut buf, addr).ok()?;
        Some(buf)
    }

    /// The directory a relative path starts from.
    fn base(&self, dirfd: i32) -> Option<Vec<u8>> {
        let link = if dirfd == AT_FDCWD {
            format!("/proc/{}/cwd", self.tid)
        } else if dirfd >= 0 {
            format!("/proc/{}/fd/{dirfd}", self.tid)
        } else {
            return None;
        };
        let t = std::fs::read_link(link).ok()?;
        let b = t.as_os_str().as_bytes();
        (b.first() == Some(&b'/')).then(|| b.to_vec())
    }

    /// The absolute spelling of (dirfd, path at addr).
    fn path(&self, dirfd: i32, addr: u64) -> Result<Vec<u8>, &'static str> {
        let p = self.string(addr).ok_or("its path could not be read")?;
        if p.is_empty() {
            return Err("an empty path");
        }
        if p.first() == Some(&b'/') {
            return Ok(p);
        }
        let base = self
            .base(dirfd)
            .ok_or("its directory has no path (deleted, or not a directory)")?;
        Ok(resolve::absolute(&base, &p))
    }

    fn resolve(&self, dirfd: i32, addr: u64, follow: bool) -> Result<Found, &'static str> {
        let p = self.path(dirfd, addr)?;
        Ok(resolve::resolve(&p, follow, self.tid, self.creds.as_ref()))
    }

    fn may(&self, m: &std::fs::Metadata, want: u32) -> bool {
        self.creds.as_ref().is_none_or(|c| c.may(m, want))
    }

    /// A call that creates, removes or renames the name (dirfd, addr):
    /// write on its directory. The kernel looks the name up before any
    /// access check: a name a call would create that exists already fails
    /// with `EEXIST`, and one it would remove that does not exist with
    /// `ENOENT`, and neither needs a rule (`mkdir -p` asks for every
    /// directory above the one it makes).
    fn in_dir(&self, dirfd: i32, addr: u64, name: NameUse, out: &mut Vec<Record>) {
        let parent = match (self.resolve(dirfd, addr, false), name) {
            (Ok(Found::Exists(..)), NameUse::Made) => {
                return out.push(Record::Skip("the name exists (EEXIST, no access checked)"));
            }
            (Ok(Found::Missing { .. }), NameUse::Gone) => {
                return out.push(Record::Skip("does not exist (ENOENT, no access checked)"));
            }
            (Ok(Found::Exists(p, _)), _) => resolve::parent(&p).to_string(),
            (Ok(Found::Missing { parent, .. }), _) => parent,
            (Ok(Found::Fails(why)) | Err(why), _) => return out.push(Record::Skip(why)),
        };
        match std::fs::metadata(&parent) {
            Ok(m) if self.may(&m, 3) => out.push(Record::Path(
                parent,
                Use {
                    write: true,
                    dir: true,
                    ..Use::default()
                },
            )),
            Ok(_) => out.push(Record::Skip("refused by file modes")),
            Err(_) => out.push(Record::Skip("cannot be resolved")),
        }
    }

    fn open(&self, dirfd: i32, addr: u64, flags: u64, out: &mut Vec<Record>) {
        let flags = flags as u32 as i32;
        if flags & libc::O_PATH != 0 {
            return out.push(Record::Skip("O_PATH (no access right needed)"));
        }
        let tmpfile = libc::O_TMPFILE & !libc::O_DIRECTORY;
        if flags & tmpfile == tmpfile {
            // An unnamed file in that directory.
            return match self.resolve(dirfd, addr, true) {
                Ok(Found::Exists(p, m)) if m.is_dir() && self.may(&m, 3) => out.push(Record::Path(
                    p,
                    Use {
                        write: true,
                        dir: true,
                        ..Use::default()
                    },
                )),
                Ok(Found::Fails(why)) | Err(why) => out.push(Record::Skip(why)),
                _ => out.push(Record::Skip("refused by file modes")),
            };
        }
        let creat = flags & libc::O_CREAT != 0;
        let follow = flags & libc::O_NOFOLLOW == 0 && !(creat && flags & libc::O_EXCL != 0);
        let acc = flags & libc::O_ACCMODE;
        let found = match self.resolve(dirfd, addr, follow) {
            Ok(f) => f,
            Err(why) => return out.push(Record::Skip(why)),
        };
        match found {
            Found::Exists(p, m) => {
                if m.file_type().is_symlink() {
                    // O_NOFOLLOW on a link: ELOOP.
                    return out.push(Record::Skip("a symlink opened with O_NOFOLLOW"));
                }
                if creat && flags & libc::O_EXCL != 0 {
                    return out.push(Record::Skip("O_EXCL on a name that exists"));
                }
                let write = acc != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
                if m.is_dir() {
                    if write {
                        return out.push(Record::Skip("a directory opened for writing"));
                    }
                    if !self.may(&m, 4) {
                        return out.push(Record::Skip("refused by file modes"));
                    }
                    return out.push(Record::Path(
                        p,
                        Use {
                            read: true,
                            dir: true,
                            ..Use::default()
                        },
                    ));
                }
                let want = if acc == libc::O_RDWR {
                    6
                } else if write {
                    2
                } else {
                    4
                };
                if !self.may(&m, want) {
                    return out.push(Record::Skip("refused by file modes"));
                }
                out.push(Record::Path(
                    p,
                    Use {
                        read: acc != libc::O_WRONLY,
                        write,
                        ..Use::default()
                    },
                ));
            }
            Found::Missing { parent, .. } => {
                if !creat {
                    return out.push(Record::Skip("does not exist"));
                }
                match std::fs::metadata(&parent) {
                    Ok(m) if self.may(&m, 3) => out.push(Record::Path(
                        parent,
                        Use {
                            write: true,
                            dir: true,
                            ..Use::default()
                        },
                    )),
                    _ => out.push(Record::Skip("refused by file modes")),
                }
            }
            Found::Fails(why) => out.push(Record::Skip(why)),
        }
    }

    fn exec(&self, dirfd: i32, addr: u64, follow: bool, out: &mut Vec<Record>) {
        match self.resolve(dirfd, addr, follow) {
            Ok(Found::Exists(p, m)) if m.is_file() && self.may(&m, 1) => {
                out.push(Record::Path(p, exec_use()));
                if let Some(c) = &self.creds {
                    out.push(Record::Exec(c.tgid));
                }
            }
            Ok(Found::Exists(..)) => out.push(Record::Skip("not an executable file")),
            Ok(Found::Missing { .. }) => out.push(Record::Skip("does not exist")),
            Ok(Found::Fails(why)) | Err(why) => out.push(Record::Skip(why)),
        }
    }

    /// The protocol of socket `fd` (`TCP`, `TCPv6`, `UDP`, `UNIX-STREAM`,
    /// ...), from its `system.sockprotoname` attribute.
    fn protocol(&self, fd: i32) -> Option<String> {
        let p = std::path::PathBuf::from(format!("/proc/{}/fd/{fd}", self.tid));
        let v = crate::sys::notify::getxattr(&p, "system.sockprotoname")?;
        let v = v.split(|b| *b == 0).next().unwrap_or_default();
        String::from_utf8(v.to_vec()).ok()
    }

    fn sockaddr(&self, args: &[u64; 6], bind: bool, out: &mut Vec<Record>) {
        let fd = low_i32(args[0]);
        let len = (args[2] as u32 as usize).min(128);
        if len < 2 {
            return out.push(Record::Skip("a socket address too short to read"));
        }
        let Some(sa) = self.bytes(args[1], len) else {
            return out.push(Record::Skip("its socket address could not be read"));
        };
        let family = u16::from_ne_bytes([sa[0], sa[1]]);
        match family {
            AF_INET | AF_INET6 => {
                let Some(port) = sa.get(2..4).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
                    return out.push(Record::Skip("a socket address too short to read"));
                };
                let proto = self.protocol(fd).unwrap_or_default();
                let tgid = self.creds.as_ref().map_or(self.tid, |c| c.tgid);
                if proto.starts_with("UDP") {
                    out.push(Record::Udp(port));
                } else if !(proto.is_empty() || proto.starts_with("TCP")) {
                    out.push(Record::Skip("an IP protocol other than TCP and UDP"));
                } else if bind {
                    if port == 0 {
                        out.push(Record::Skip("a bind to an ephemeral port"));
                    } else {
                        out.push(Record::BindTcp(port));
                        out.push(Record::Bound(tgid, fd));
                    }
                } else if port != 0 {
                    out.push(Record::ConnectTcp(port));
                }
            }
            AF_UNIX => {
                let path = sa.get(2..).unwrap_or_default();
                match path.first() {
                    None => out.push(Record::Skip("an unnamed unix socket")),
                    Some(0) => out.push(Record::AbstractUnix),
                    Some(_) => {
                        let end = path.iter().position(|b| *b == 0).unwrap_or(path.len());
                        let p = path.get(..end).unwrap_or_default();
                        let base = if p.first() == Some(&b'/') {
                            Vec::new()
                        } else {
                            match self.base(AT_FDCWD) {
                                Some(b) => b,
                                None => return out.push(Record::Skip("cannot be resolved")),
                            }
                        };
                        let abs = resolve::absolute(&base, p);
                        let tgid = self.creds.as_ref().map_or(self.tid, |c| c.tgid);
                        if bind {
                            out.push(Record::Bound(tgid, fd));
                            // A new socket file in that directory.
                            match resolve::resolve(&abs, false, self.tid, self.creds.as_ref()) {
                                Found::Missing { parent, .. } => out.push(Record::Path(
                                    parent,
                                    Use {
                                        write: true,
                                        dir: true,
                                        ..Use::default()
                                    },
                                )),
                                Found::Exists(..) => {
                                    out.push(Record::Skip("a bind to a name that exists"));
                                }
                                Found::Fails(why) => out.push(Record::Skip(why)),
                            }
                        } else {
                            // Connecting needs the socket file granted
                            // (Landlock ABI 9 checks it like a write).
                            match resolve::resolve(&abs, true, self.tid, self.creds.as_ref()) {
                                Found::Exists(p, _) => out.push(Record::Path(
                                    p,
                                    Use {
                                        write: true,
                                        ..Use::default()
                                    },
                                )),
                                Found::Missing { .. } => {
                                    out.push(Record::Skip("does not exist"));
                                }
                                Found::Fails(why) => out.push(Record::Skip(why)),
                            }
                        }
                    }
                }
            }
            _ => out.push(Record::Skip("a socket family without address rules")),
        }
    }

    fn call(&self, name: &str, a: &[u64; 6], out: &mut Vec<Record>) {
        let fd = |i: usize| low_i32(a[i]);
        let o_creat = (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64;
        match name {
            "open" => self.open(AT_FDCWD, a[0], a[1], out),
            "creat" => self.open(AT_FDCWD, a[0], o_creat, out),
            "openat" => self.open(fd(0), a[1], a[2], out),
            "openat2" => {
                // struct open_how begins with the u64 flags.
                match (a[3] >= 8).then(|| self.bytes(a[2], 8)).flatten() {
                    Some(b) => {
                        let mut f = [0u8; 8];
                        f.copy_from_slice(&b);
                        self.open(fd(0), a[1], u64::from_ne_bytes(f), out);
                    }
                    None => out.push(Record::Skip("its open_how could not be read")),
                }
            }
            "truncate" => self.open(AT_FDCWD, a[0], libc::O_WRONLY as u64, out),
            "mkdir" | "mknod" => self.in_dir(AT_FDCWD, a[0], NameUse::Made, out),
            "unlink" | "rmdir" => self.in_dir(AT_FDCWD, a[0], NameUse::Gone, out),
            "mkdirat" | "mknodat" => self.in_dir(fd(0), a[1], NameUse::Made, out),
            "unlinkat" => self.in_dir(fd(0), a[1], NameUse::Gone, out),
            "symlink" => self.in_dir(AT_FDCWD, a[1], NameUse::Made, out),
            "symlinkat" => self.in_dir(fd(1), a[2], NameUse::Made, out),
            "rename" => {
                self.in_dir(AT_FDCWD, a[0], NameUse::Gone, out);
                self.in_dir(AT_FDCWD, a[1], NameUse::Any, out);
            }
            "renameat" | "renameat2" => {
                self.in_dir(fd(0), a[1], NameUse::Gone, out);
                self.in_dir(fd(2), a[3], NameUse::Any, out);
            }
            "link" => {
                self.in_dir(AT_FDCWD, a[0], NameUse::Any, out);
                self.in_dir(AT_FDCWD, a[1], NameUse::Made, out);
            }
            "linkat" => {
                self.in_dir(fd(0), a[1], NameUse::Any, out);
                self.in_dir(fd(2), a[3], NameUse::Made, out);
            }
            "execve" => self.exec(AT_FDCWD, a[0], true, out),
            "execveat" => self.exec(fd(0), a[1], a[4] & AT_SYMLINK_NOFOLLOW == 0, out),
            "connect" => self.sockaddr(a, false, out),
            "bind" => self.sockaddr(a, true, out),
            "listen" => {
                let tgid = self.creds.as_ref().map_or(self.tid, |c| c.tgid);
                let proto = self.protocol(fd(0)).unwrap_or_default();
                if proto.starts_with("TCP") {
                    out.push(Record::ListenTcp(tgid, fd(0)));
                }
            }
            "socket" => out.push(Record::Family(match (a[0] & 0xffff) as u16 {
                AF_UNIX => "unix",
                AF_INET => "inet",
                AF_INET6 => "inet6",
                AF_NETLINK => "netlink",
                _ => "other",
            })),
            _ => {}
        }
    }
}

/// The `PT_INTERP` of a 64-bit little-endian ELF file (the dynamic
/// loader the kernel opens for it), if it has one.
pub fn elf_interpreter(f: &File) -> Option<Vec<u8>> {
    let mut h = [0u8; 64];
    f.read_exact_at(&mut h, 0).ok()?;
    // \x7fELF, ELFCLASS64, ELFDATA2LSB
    if h.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |b: &[u8], o: usize| Some(u16::from_le_bytes([*b.get(o)?, *b.get(o + 1)?]));
    let u64_at = |b: &[u8], o: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(b.get(o..o + 8)?);
        Some(u64::from_le_bytes(x))
    };
    let phoff = u64_at(&h, 32)?;
    let phentsize = usize::from(u16_at(&h, 54)?);
    let phnum = usize::from(u16_at(&h, 56)?);
    if phentsize < 56 || phnum > 256 {
        return None;
    }
    let mut ph = vec![0u8; phentsize * phnum];
    f.read_exact_at(&mut ph, phoff).ok()?;
    for i in 0..phnum {
        let e = ph.get(i * phentsize..(i + 1) * phentsize)?;
        // PT_INTERP
        if u32::from_le_bytes([e[0], e[1], e[2], e[3]]) == 3 {
            let off = u64_at(e, 8)?;
            let size = usize::try_from(u64_at(e, 32)?).ok()?;
            if size == 0 || size > PATH_MAX {
                return None;
            }
            let mut s = vec![0u8; size];
            f.read_exact_at(&mut s, off).ok()?;
            let end = s.iter().position(|b| *b == 0).unwrap_or(s.len());
            s.truncate(end);
            return (s.first() == Some(&b'/')).then_some(s);
        }
    }
    None
}

/// Read a signalfd record: the signal number.
pub fn read_signal(f: &mut File) -> Option<i32> {
    let mut buf = [0u8; 128];
    let n = f.read(&mut buf).ok()?;
    if n < 4 {
        return None;
    }
    Some(i32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interpreter_of_a_dynamic_program_is_found() {
        let f = File::open("/proc/self/exe").unwrap();
        // The test binary is dynamically linked on glibc hosts, static on
        // musl ones: either an absolute loader path or none.
        if let Some(i) = elf_interpreter(&f) {
            assert!(i.starts_with(b"/"), "{}", String::from_utf8_lossy(&i));
        }
        let sh = File::open("/proc/self/status").unwrap();
        assert_eq!(elf_interpreter(&sh), None);
    }

    #[test]
    fn memory_of_a_task_reads_as_its_strings() {
        let s = b"/some/path\0rest";
        let t = Task::new(std::process::id());
        let got = t.string(s.as_ptr() as u64);
        assert_eq!(got.as_deref(), Some(&b"/some/path"[..]));
        assert!(t.creds.is_some());
    }

    #[test]
    fn every_observed_call_exists_on_some_architecture() {
        for n in OBSERVED {
            assert!(crate::seccomp::known(n), "{n}");
        }
    }
}
