//! The system calls no dependency wraps safely, as safe functions. With the
//! allocator (`alloc.rs`), this is the only code allowed `unsafe`: `lib.rs`
//! allows it for these two modules alone, the crate denies it everywhere
//! else, and `tests/unsafe_fence.rs` fails the build of anything that tries.
//!
//! Everything else goes through `nix` (identity, groups, rlimits, prctl
//! flags, exec, session, file-descriptor-relative file calls) and
//! `seccompiler` (filter install). What is here, and the gap that keeps
//! it here:
//!
//! - real-time signals: `nix::sys::signal::Signal` has no variants for
//!   signals 32..=64, so `kill`, `waitpid`'s status and `SigSet` cannot
//!   carry them, and musl's `sigaddset`/`sigfillset` refuse 32–34 (its own
//!   reserved ones): the mask, the signalfd and forwarding use the kernel's
//!   64-bit sigset directly;
//! - `fork`: unsafe in every wrapper (the child of a multi-threaded process
//!   may only call async-signal-safe functions); the callers are
//!   single-threaded;
//! - closing and flagging inherited descriptor *numbers* (`close_range`,
//!   `close`, `fcntl`): `nix` takes I/O-safe owned or borrowed descriptors,
//!   which an inherited number is not until someone vouches for it, and has
//!   no `close_range`;
//! - `setgroups`, `setresgid`, `setresuid` as the system calls: the C
//!   library's wrappers set every thread's ids, blocking signals around a
//!   broadcast (twelve more calls a launch) in a process that has one;
//! - capabilities: `capget`/`capset` of all three sets and all 64 bits in
//!   one call each, the bounding set (`PR_CAPBSET_*`), securebits and the
//!   ambient set. The `caps` crate knows capabilities only up to 40
//!   (`CAP_CHECKPOINT_RESTORE`), leaves out the bits it does not know
//!   when reading, and sets each set with its own `capget`/`capset`
//!   pair: 18 system calls where a launch needs 3;
//! - `landlock_create_ruleset(NULL, 0, VERSION)` for the ABI number (the
//!   `landlock` crate only answers "is this feature set supported");
//! - `statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID)` for the mount an open
//!   path lies on (`nix` 0.32 has no `statx`);
//! - `landlock_add_rule` for path rules: the crate's `add_rule` first
//!   `fstat`s the descriptor to narrow a directory's rights on a file,
//!   which `landlock::prepare` has already done from the kind the walk
//!   saw on the same descriptor (one syscall per path saved);
//! - `seccomp(SECCOMP_GET_ACTION_AVAIL)` (seccompiler only installs);
//! - `getdents64` for a CDI spec directory: musl's `readdir` (behind
//!   `std::fs::read_dir` and `nix::dir`) gets its buffer from musl's own
//!   `malloc`, six more calls for one listing (`fcntl`, two `brk`, two
//!   `mmap`, a `munmap`);
//! - `TIOCNOTTY` and `signal(SIGPIPE, SIG_DFL)` (`nix` makes both unsafe:
//!   `ioctl` through a macro that emits an unsafe fn, `signal` because a
//!   handler could be unsound; `SIG_DFL` is not a handler);
//! - `memcmp`/`bcmp`, and on x86_64 `memcpy`/`memmove`, for the musl
//!   build (`mem.rs`): musl's compare a byte at a time, and path
//!   comparisons were a large share of a launch; its x86_64 copies take
//!   tens of nanoseconds for a few bytes, and a launch makes hundreds.
//!
//! Each function returns the raw errno on failure; callers name it.

#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, OwnedFd};

pub mod mem;
pub mod notify;
#[cfg(test)]
pub mod testing;

/// The errno of the last failed call on this thread.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn check(r: libc::c_long) -> Result<libc::c_long, i32> {
    if r < 0 { Err(errno()) } else { Ok(r) }
}

// ---- signals ---------------------------------------------------------

/// `rt_sigprocmask(how, set)` with the kernel's 64-bit sigset (bit n-1 for
/// signal n), real-time signals included.
pub fn sigprocmask(how: libc::c_int, set: u64) -> Result<(), i32> {
    // SAFETY: `set` is a kernel sigset (8 bytes, the size passed) that
    // outlives the call; the old-set pointer is NULL.
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            how,
            &set as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    };
    check(r).map(|_| ())
}

/// A close-on-exec signalfd for the kernel sigset `set`.
pub fn signalfd(set: u64) -> Result<OwnedFd, i32> {
    // SAFETY: `set` is a kernel sigset (8 bytes, the size passed) that
    // outlives the call; -1 asks for a new descriptor.
    let r = unsafe {
        libc::syscall(
            libc::SYS_signalfd4,
            -1,
            &set as *const u64,
            8usize,
            libc::SFD_CLOEXEC,
        )
    };
    let fd = libc::c_int::try_from(check(r)?).map_err(|_| libc::EBADF)?;
    // SAFETY: signalfd4 just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `kill(pid, sig)` for any signal number, real-time ones included.
pub fn kill(pid: libc::pid_t, sig: libc::c_int) -> Result<(), i32> {
    // SAFETY: kill takes integers and touches no memory.
    check(unsafe { libc::kill(pid, sig) }.into()).map(|_| ())
}

/// `waitpid(-1, WNOHANG)`: `Ok(None)` when no child has changed state,
/// else the pid and the raw wait status (a real-time terminating signal
/// included).
pub fn wait_any_nohang() -> Result<Option<(libc::pid_t, libc::c_int)>, i32> {
    let mut st: libc::c_int = 0;
    // SAFETY: `st` is a writable c_int for the status.
    let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
    match pid {
        0 => Ok(None),
        p if p < 0 => Err(errno()),
        p => Ok(Some((p, st))),
    }
}

/// SIGPIPE back to its default action before exec (Rust's runtime ignores
/// it, and an ignored signal stays ignored across exec).
pub fn default_sigpipe() -> Result<(), i32> {
    // SAFETY: SIG_DFL installs no handler, so no Rust code can run in
    // signal context.
    let r = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    if r == libc::SIG_ERR {
        Err(errno())
    } else {
        Ok(())
    }
}

// ---- processes -------------------------------------------------------

/// `fork()`: `Ok(None)` in the child, `Ok(Some(pid))` in the parent.
///
/// The caller must be single-threaded (checked by `init::run` from
/// `/proc/self/task`; nothing in the launch starts a thread), so the child
/// is a complete copy that may keep running Rust code, allocation
/// included.
pub fn fork() -> Result<Option<libc::pid_t>, i32> {
    // SAFETY: see the function's documentation: with one thread, the
    // child's copy of every lock and of the allocator is consistent.
    match unsafe { libc::fork() } {
        -1 => Err(errno()),
        0 => Ok(None),
        pid => Ok(Some(pid)),
    }
}

// ---- inherited descriptors -------------------------------------------

/// Eight bytes from the kernel's random pool (`getrandom(2)`, not
/// blocking once the pool is ready), for names no one can guess.
pub fn random_u64() -> Result<u64, i32> {
    let mut b = [0u8; 8];
    // SAFETY: the kernel writes at most `b.len()` bytes into `b`, a live
    // local array.
    let n = check(unsafe { libc::syscall(libc::SYS_getrandom, b.as_mut_ptr(), b.len(), 0u32) })?;
    if n as usize != b.len() {
        return Err(libc::EIO);
    }
    Ok(u64::from_ne_bytes(b))
}

/// `close(fd)` of a descriptor number this process inherited.
pub fn close(fd: i32) -> Result<(), i32> {
    // SAFETY: closing a number touches no memory; the callers close only
    // inherited descriptors nothing in this process owns (`close_fds`
    // runs before any is opened for keeps, or lists /proc/self/fd).
    check(unsafe { libc::close(fd) }.into()).map(|_| ())
}

/// `close_range(first, last, 0)`.
pub fn close_range(first: u32, last: u32) -> Result<(), i32> {
    // SAFETY: integer arguments only; see `close` for ownership.
    check(unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) }).map(|_| ())
}

/// `fcntl(fd, F_GETFD)`.
pub fn fd_flags(fd: i32) -> Result<libc::c_int, i32> {
    // SAFETY: F_GETFD takes no argument and touches no memory.
    let r = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    check(r.into()).map(|_| r)
}

/// The file type bits (`st_mode & S_IFMT`) of inherited descriptor
/// number `fd`, by `fstat`.
pub fn fd_type(fd: i32) -> Result<libc::mode_t, i32> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes one `struct stat` into `st`, which is large
    // enough and lives for the call; it is read only after success.
    check(unsafe { libc::fstat(fd, st.as_mut_ptr()) }.into())?;
    // SAFETY: fstat succeeded, so it initialised `st`.
    Ok(unsafe { st.assume_init() }.st_mode & libc::S_IFMT)
}

/// `fcntl(fd, F_SETFD, flags)`.
pub fn set_fd_flags(fd: i32, flags: libc::c_int) -> Result<(), i32> {
    // SAFETY: F_SETFD takes an integer and touches no memory.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, flags) }.into()).map(|_| ())
}

/// `ioctl(fd, TIOCNOTTY)`: give up the controlling terminal `fd` is.
pub fn give_up_tty(fd: &std::fs::File) -> Result<(), i32> {
    use std::os::fd::AsRawFd;
    // SAFETY: TIOCNOTTY takes no argument; the descriptor is open for the
    // duration of the call.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCNOTTY) }.into()).map(|_| ())
}

// ---- process exit ----------------------------------------------------

/// End the process now with `code` (`exit_group`): no destructors, no C
/// library exit handlers. For the supervisor under the workload's filter,
/// where each further system call is one the policy may deny.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` ends the process; what it skips (destructors of
    // live values, atexit handlers, stdio flushing) holds nothing another
    // process depends on: the supervisor's output is written unbuffered.
    unsafe { libc::_exit(code) }
}

// ---- identity --------------------------------------------------------

/// `setgroups(groups)`, the system call itself. The C library's wrapper,
/// like its `setresuid` and `setresgid`, sets the ids of every thread in
/// the process: it blocks signals and broadcasts to each thread, three
/// more system calls each time. The supervisor switches identity
/// single-threaded (init mode forks before any thread could exist), so
/// the calling thread's ids are the process's.
pub fn setgroups(groups: &[u32]) -> Result<(), i32> {
    // SAFETY: the kernel reads `groups.len()` gid_t (u32) values from the
    // pointer, which the slice keeps valid for the call.
    check(unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) }).map(|_| ())
}

/// `setresgid(g, g, g)`, the system call itself (see [`setgroups`]).
pub fn setresgid(g: u32) -> Result<(), i32> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_setresgid, g, g, g) }).map(|_| ())
}

/// `setresuid(u, u, u)`, the system call itself (see [`setgroups`]).
pub fn setresuid(u: u32) -> Result<(), i32> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_setresuid, u, u, u) }).map(|_| ())
}

// ---- capabilities ----------------------------------------------------

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;

/// The effective, permitted and inheritable sets of this thread, all 64
/// bits of each.
pub fn capget() -> Result<(u64, u64, u64), i32> {
    let mut h = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut d = [CapData::default(); 2];
    // SAFETY: `h` is a valid version-3 header and `d` has the two data
    // elements version 3 requires; the kernel writes only into `d`.
    check(unsafe { libc::syscall(libc::SYS_capget, &mut h as *mut CapHeader, d.as_mut_ptr()) })?;
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok((
        join(d[0].effective, d[1].effective),
        join(d[0].permitted, d[1].permitted),
        join(d[0].inheritable, d[1].inheritable),
    ))
}

/// Set the effective, permitted and inheritable sets of this thread, all
/// 64 bits of each, in one `capset`. The kernel checks the new sets
/// against the old ones together: permitted may only shrink, effective
/// must lie within the new permitted, inheritable within the old
/// inheritable and permitted and the bounding set.
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> Result<(), i32> {
    let mut h = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let half = |m: u64, high: bool| (if high { m >> 32 } else { m } & 0xffff_ffff) as u32;
    let d = [false, true].map(|high| CapData {
        effective: half(effective, high),
        permitted: half(permitted, high),
        inheritable: half(inheritable, high),
    });
    // SAFETY: `h` is a valid version-3 header and `d` holds the two data
    // elements version 3 requires; the kernel only reads them.
    check(unsafe { libc::syscall(libc::SYS_capset, &mut h as *mut CapHeader, d.as_ptr()) })
        .map(|_| ())
}

/// prctl with integer arguments only; the result or the errno.
fn prctl(op: libc::c_int, a: libc::c_ulong) -> Result<i32, i32> {
    prctl2(op, a, 0)
}

/// prctl with two integer arguments; the result or the errno.
fn prctl2(op: libc::c_int, a: libc::c_ulong, b: libc::c_ulong) -> Result<i32, i32> {
    // SAFETY: every option passed here (PR_CAPBSET_READ, PR_CAPBSET_DROP,
    // PR_GET_SECUREBITS, PR_SET_SECUREBITS, PR_CAP_AMBIENT) takes integer
    // arguments and reads or writes no user memory.
    let r = unsafe { libc::prctl(op, a, b, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    if r < 0 { Err(errno()) } else { Ok(r) }
}

/// `PR_CAP_AMBIENT_CLEAR_ALL`.
pub fn ambient_clear() -> Result<(), i32> {
    prctl2(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
        0,
    )
    .map(|_| ())
}

/// `PR_CAP_AMBIENT_RAISE` of `cap`.
pub fn ambient_raise(cap: u32) -> Result<(), i32> {
    prctl2(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
        cap.into(),
    )
    .map(|_| ())
}

/// `PR_CAPBSET_READ`: whether `cap` is in the bounding set (`EINVAL`
/// beyond the kernel's last capability).
pub fn capbset_read(cap: u32) -> Result<bool, i32> {
    prctl(libc::PR_CAPBSET_READ, cap.into()).map(|r| r == 1)
}

/// `PR_CAPBSET_DROP`.
pub fn capbset_drop(cap: u32) -> Result<(), i32> {
    prctl(libc::PR_CAPBSET_DROP, cap.into()).map(|_| ())
}

/// `PR_GET_SECUREBITS`.
pub fn securebits() -> Result<u32, i32> {
    prctl(libc::PR_GET_SECUREBITS, 0).map(|v| u32::try_from(v).unwrap_or(0))
}

/// `PR_SET_SECUREBITS`.
pub fn set_securebits(bits: u32) -> Result<(), i32> {
    prctl(libc::PR_SET_SECUREBITS, bits.into()).map(|_| ())
}

// ---- Landlock and seccomp queries -------------------------------------

/// The Landlock ABI version the kernel offers, or the errno
/// (`ENOSYS`/`EOPNOTSUPP`: none).
pub fn landlock_abi() -> Result<u32, i32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a NULL attr pointer and size 0, the kernel reads no user
    // memory; the call only returns the ABI version or an errno.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    check(r).map(|v| u32::try_from(v).unwrap_or(0))
}

/// The ID of the mount the object `fd` refers to lies on, as
/// `/proc/self/mountinfo`'s first field names it
/// (`statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID)`); `Ok(None)` when the
/// kernel does not report it (Linux < 5.8).
pub fn mount_id(fd: std::os::fd::BorrowedFd<'_>) -> Result<Option<u64>, i32> {
    use std::os::fd::AsRawFd;
    const STATX_MNT_ID: u32 = 0x1000;
    let mut st = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: the kernel writes at most one `struct statx` to the pointer,
    // which points to one (zeroed, so every field is initialized whatever
    // the kernel fills); the empty path is a NUL-terminated string; `fd`
    // is borrowed, so open, for the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_statx,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            STATX_MNT_ID,
            st.as_mut_ptr(),
        )
    })?;
    // SAFETY: zero-initialized above and possibly written by the kernel:
    // a valid `statx` either way (all its fields are integers).
    let st = unsafe { st.assume_init() };
    Ok((st.stx_mask & STATX_MNT_ID != 0).then_some(st.stx_mnt_id))
}

/// `getdents64(fd, buf)`: the next entries of the directory `fd` is open
/// on, as the kernel lays them out (`struct linux_dirent64`); how many
/// bytes it wrote, 0 at the end.
pub fn getdents64(fd: std::os::fd::BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, i32> {
    use std::os::fd::AsRawFd;
    // SAFETY: the kernel writes at most `buf.len()` bytes to `buf`, which
    // is borrowed mutably for the call, and keeps no pointer; the
    // descriptor is borrowed, so open, for the call.
    let n = check(unsafe {
        libc::syscall(
            libc::SYS_getdents64,
            fd.as_raw_fd(),
            buf.as_mut_ptr(),
            buf.len(),
        )
    })?;
    usize::try_from(n).map_err(|_| libc::EINVAL)
}

/// `landlock_add_rule(ruleset, LANDLOCK_RULE_PATH_BENEATH, {access,
/// parent}, 0)`: grant `access` (the kernel's `LANDLOCK_ACCESS_FS_*` bits)
/// beneath the object `parent` refers to.
pub fn landlock_add_path_rule(
    ruleset: std::os::fd::BorrowedFd<'_>,
    parent: std::os::fd::BorrowedFd<'_>,
    access: u64,
) -> Result<(), i32> {
    use std::os::fd::AsRawFd;
    const LANDLOCK_RULE_PATH_BENEATH: libc::c_uint = 1;
    // `struct landlock_path_beneath_attr`: packed in the uapi header.
    #[repr(C, packed)]
    struct PathBeneathAttr {
        allowed_access: u64,
        parent_fd: i32,
    }
    let attr = PathBeneathAttr {
        allowed_access: access,
        parent_fd: parent.as_raw_fd(),
    };
    // SAFETY: the kernel reads one `landlock_path_beneath_attr` (12 bytes,
    // packed, as laid out above) from the pointer during the call and keeps
    // no pointer; both descriptors are borrowed, so open, for the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            LANDLOCK_RULE_PATH_BENEATH,
            &attr as *const PathBeneathAttr,
            0 as libc::c_uint,
        )
    })
    .map(|_| ())
}

/// Whether the kernel knows the filter return action `action`
/// (`seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &action)`, Linux >= 4.14).
pub fn seccomp_action_available(action: u32) -> Result<(), i32> {
    const SECCOMP_GET_ACTION_AVAIL: libc::c_ulong = 2;
    // SAFETY: for SECCOMP_GET_ACTION_AVAIL the kernel reads one u32 from
    // the pointer; `action` lives on this stack frame for the call and the
    // kernel writes nothing and keeps no pointer.
    check(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_ACTION_AVAIL,
            0 as libc::c_ulong,
            &action as *const u32,
        )
    })
    .map(|_| ())
}
