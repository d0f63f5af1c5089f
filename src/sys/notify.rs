//! Seccomp user notification (`learn`): installing a filter that returns a
//! listener, passing that listener from the child to the parent over a
//! socket pair (`SCM_RIGHTS`), receiving notifications, checking that one
//! is still pending, and letting the call continue. Also the few calls the
//! learning parent needs that the standard library lacks: `signalfd`,
//! `poll`, `kill`, `getxattr` and the close-on-exec flag.
//!
//! Every function here is safe to call: the unsafe blocks only pass
//! pointers to memory they own for the duration of the call.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `struct seccomp_notif_sizes`: what the running kernel copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    pub notif: usize,
    pub resp: usize,
    pub data: usize,
}

/// `seccomp(SECCOMP_GET_NOTIF_SIZES)` (Linux >= 5.0): the errno when the
/// kernel has no user notification.
pub fn sizes() -> Result<Sizes, i32> {
    let mut s = libc::seccomp_notif_sizes {
        seccomp_notif: 0,
        seccomp_notif_resp: 0,
        seccomp_data: 0,
    };
    // SAFETY: for SECCOMP_GET_NOTIF_SIZES the kernel writes one `struct
    // seccomp_notif_sizes` (three u16) to the pointer; `s` is that struct,
    // on this stack frame, and outlives the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_NOTIF_SIZES,
            0 as libc::c_ulong,
            &mut s as *mut libc::seccomp_notif_sizes,
        )
    };
    if r != 0 {
        return Err(errno());
    }
    Ok(Sizes {
        notif: usize::from(s.seccomp_notif),
        resp: usize::from(s.seccomp_notif_resp),
        data: usize::from(s.seccomp_data),
    })
}

/// The kernel's `struct sock_fprog`.
#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const libc::sock_filter,
}

const _: () = {
    assert!(std::mem::size_of::<SockFprog>() == std::mem::size_of::<libc::sock_fprog>());
};

/// Installs `prog` on the calling thread with
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER` and returns the listener. Like
/// `seccomp::install`, `no_new_privs` must be set; the errno on failure.
pub fn install_with_listener(prog: &[libc::sock_filter]) -> Result<OwnedFd, i32> {
    // BPF_MAXINSNS: the kernel's limit on a program's length.
    let len = match libc::c_ushort::try_from(prog.len()) {
        Ok(l) if l > 0 && prog.len() <= 4096 => l,
        _ => return Err(libc::EINVAL),
    };
    let fprog = SockFprog {
        len,
        filter: prog.as_ptr(),
    };
    // SAFETY: the kernel reads one `struct sock_fprog` from `&fprog` and
    // `len` `struct sock_filter` entries from `prog`, which holds exactly
    // that many (libc's type is the kernel's layout); both outlive
    // the call and the kernel keeps no pointer to them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &fprog as *const SockFprog,
        )
    };
    match libc::c_int::try_from(r) {
        // SAFETY: the kernel just returned this new descriptor (the
        // listener) and nothing else owns it.
        Ok(fd) if fd >= 0 => Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
        _ => Err(errno()),
    }
}

/// Room for one `SCM_RIGHTS` message carrying one descriptor.
#[repr(C, align(8))]
struct CmsgBuf([u8; 64]);

/// Sends `fd` over the unix socket `sock` (`SCM_RIGHTS`, one byte of data).
pub fn send_fd(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> Result<(), i32> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut buf = CmsgBuf([0; 64]);
    let raw = fd.as_raw_fd();
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    if space > buf.0.len() {
        return Err(libc::EINVAL);
    }
    // SAFETY: msghdr is plain old data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf.0.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: `msg` points at `buf`, which has room for `space` bytes
    // (checked above), 8-aligned, so CMSG_FIRSTHDR returns a pointer into
    // it with room for one header and one c_int; every pointer written
    // stays within `buf`, which outlives this function.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() {
            return Err(libc::EINVAL);
        }
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>(), raw);
    }
    loop {
        // SAFETY: `msg` and everything it points to (`iov`, `byte`, `buf`)
        // live on this stack frame for the call; the kernel only reads them.
        let r = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if r == 1 {
            return Ok(());
        }
        let e = errno();
        if r < 0 && e == libc::EINTR {
            continue;
        }
        return Err(if r < 0 { e } else { libc::EIO });
    }
}

/// Receives one descriptor sent by [`send_fd`]; `Ok(None)` when the other
/// end closed without sending one.
pub fn recv_fd(sock: BorrowedFd<'_>) -> Result<Option<OwnedFd>, i32> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut buf = CmsgBuf([0; 64]);
    // SAFETY: msghdr is plain old data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf.0.as_mut_ptr().cast();
    msg.msg_controllen = buf.0.len() as _;
    let n = loop {
        // SAFETY: `msg` points at `iov` (one byte of `byte`) and `buf` (its
        // full length), all on this stack frame; the kernel writes within
        // those lengths. MSG_CMSG_CLOEXEC marks received descriptors
        // close-on-exec.
        let r = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if r < 0 && errno() == libc::EINTR {
            continue;
        }
        break r;
    };
    if n < 0 {
        return Err(errno());
    }
    if n == 0 {
        return Ok(None);
    }
    let mut found = None;
    // SAFETY: the kernel filled `buf` up to `msg.msg_controllen`; the CMSG
    // macros walk headers within that length only, and an SCM_RIGHTS
    // header of the length checked carries at least one c_int.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let want = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as usize;
            if (*c).cmsg_level == libc::SOL_SOCKET
                && (*c).cmsg_type == libc::SCM_RIGHTS
                && (*c).cmsg_len as usize >= want
            {
                let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                if fd >= 0 && found.is_none() {
                    // The kernel installed this descriptor in our table
                    // for this message; nothing else owns it.
                    found = Some(OwnedFd::from_raw_fd(fd));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(found)
}

/// One notification: the call a task is blocked in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notif {
    pub id: u64,
    /// The task (thread id) in this process's pid namespace.
    pub pid: u32,
    pub nr: i32,
    pub arch: u32,
    pub args: [u64; 6],
}

/// `SECCOMP_IOCTL_NOTIF_RECV`. `size` is the kernel's
/// `sizeof(struct seccomp_notif)` from [`sizes`]. Errors: `ENOENT` when the
/// task went away before the notification could be read, `EINTR`.
pub fn recv(listener: BorrowedFd<'_>, size: usize) -> Result<Notif, i32> {
    let ours = std::mem::size_of::<libc::seccomp_notif>();
    // The kernel writes its own size, which may be larger than ours: give
    // it a zeroed (it checks), 8-aligned buffer of at least that size.
    let words = size.max(ours).div_ceil(8);
    let mut buf = vec![0u64; words];
    // SAFETY: `buf` is zeroed, 8-aligned and at least the kernel's
    // `sizeof(struct seccomp_notif)` bytes long; the kernel writes one such
    // struct into it and keeps no pointer.
    let r = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV as _,
            buf.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(errno());
    }
    // SAFETY: `buf` holds at least size_of::<seccomp_notif>() initialized
    // bytes, 8-aligned; seccomp_notif is plain old data.
    let n: libc::seccomp_notif = unsafe { std::ptr::read(buf.as_ptr().cast()) };
    Ok(Notif {
        id: n.id,
        pid: n.pid,
        nr: n.data.nr,
        arch: n.data.arch,
        args: n.data.args,
    })
}

/// `SECCOMP_IOCTL_NOTIF_ID_VALID`: the notification `id` is still pending
/// (its task is still blocked in that call).
pub fn id_valid(listener: BorrowedFd<'_>, id: u64) -> bool {
    let v: u64 = id;
    // SAFETY: the kernel reads one u64 from the pointer; `v` lives on this
    // stack frame for the call.
    let r = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ID_VALID as _,
            &v as *const u64,
        )
    };
    r == 0
}

/// `SECCOMP_IOCTL_NOTIF_SEND` with `SECCOMP_USER_NOTIF_FLAG_CONTINUE`: the
/// call goes on as if the filter had allowed it. `ENOENT`: the task went
/// away meanwhile (not an error for the caller to act on).
pub fn send_continue(listener: BorrowedFd<'_>, id: u64, size: usize) -> Result<(), i32> {
    let ours = std::mem::size_of::<libc::seccomp_notif_resp>();
    let words = size.max(ours).div_ceil(8);
    let mut buf = vec![0u64; words];
    let resp = libc::seccomp_notif_resp {
        id,
        val: 0,
        error: 0,
        flags: libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
    };
    // SAFETY: `buf` is 8-aligned and at least size_of::<seccomp_notif_resp>()
    // bytes; seccomp_notif_resp is plain old data.
    unsafe { std::ptr::write(buf.as_mut_ptr().cast(), resp) };
    loop {
        // SAFETY: the kernel reads `sizeof(struct seccomp_notif_resp)` (its
        // size, at most `buf`'s) from `buf`, which outlives the call.
        let r = unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND as _,
                buf.as_ptr(),
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// `getxattr(path, name)`: the value, up to 256 bytes (used for
/// `system.sockprotoname` of `/proc/<pid>/fd/<n>`, a socket's protocol).
pub fn getxattr(path: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_bytes()).ok()?;
    let n = CString::new(name).ok()?;
    let mut buf = [0u8; 256];
    // SAFETY: `p` and `n` are NUL-terminated and outlive the call; the
    // kernel writes at most `buf.len()` bytes into `buf`.
    let r = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    let len = usize::try_from(r).ok()?;
    buf.get(..len).map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_descriptor_crosses_a_socket_pair() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let f = std::fs::File::open("/proc/self/status").unwrap();
        send_fd(a.as_fd(), f.as_fd()).unwrap();
        let got = recv_fd(b.as_fd()).unwrap().unwrap();
        assert_ne!(got.as_raw_fd(), f.as_raw_fd());
        drop(a);
        assert!(recv_fd(b.as_fd()).unwrap().is_none(), "EOF is None");
    }

    #[test]
    fn the_kernel_reports_notification_sizes() {
        if let Ok(s) = sizes() {
            assert!(s.notif >= 80 && s.resp >= 24 && s.data >= 64, "{s:?}");
        }
    }
}
