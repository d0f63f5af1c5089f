//! Test-only system calls for the in-process seccomp kernel tests
//! (`seccomp/kernel_tests.rs`): a forked child that reports two integers
//! through a pipe, arbitrary syscalls with integer arguments, and the i386
//! entry point on x86_64.

/// What a child run by [`in_child`] reported, and how it ended.
pub struct ChildEnd {
    /// The two integers the child wrote, if it wrote them.
    pub report: Option<[i32; 2]>,
    /// The raw wait status.
    pub status: libc::c_int,
}

/// Fork; the child runs `f` and writes its two integers to a pipe, then
/// `_exit`s without any cleanup; the parent reads them and reaps it.
///
/// The test process has other threads: `f` may allocate only because the
/// tests link glibc, whose fork handlers leave malloc usable in the child;
/// it must not take other locks.
pub fn in_child(f: impl FnOnce() -> [i32; 2]) -> ChildEnd {
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe2");
    // SAFETY: see the function's documentation; the child leaves through
    // `_exit` and never returns into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let report = f();
        let bytes: Vec<u8> = report.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let _ = nix::unistd::write(&wr, &bytes);
        // SAFETY: ends the child at once, without running Rust or libc
        // cleanup that could touch state copied from other threads.
        unsafe { libc::_exit(0) };
    }
    drop(wr);
    let mut buf = [0u8; 8];
    let n = nix::unistd::read(&rd, &mut buf).unwrap_or(0);
    let mut status = 0;
    // SAFETY: `status` is a writable c_int; `pid` is our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    let word = |i: usize| i32::from_ne_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    ChildEnd {
        report: (n == 8).then(|| [word(0), word(4)]),
        status,
    }
}

/// `syscall(nr, a0, a1, a2)`. Callers pass integers or null only, so the
/// kernel dereferences no memory of ours (or reports EFAULT).
pub fn raw(nr: libc::c_long, a: [libc::c_long; 3]) -> libc::c_long {
    // SAFETY: see the function's documentation.
    unsafe { libc::syscall(nr, a[0], a[1], a[2]) }
}

/// getpid through the i386 entry point (int 0x80, i386 number 20).
#[cfg(target_arch = "x86_64")]
pub fn i386_getpid() -> libc::c_long {
    let mut rax: u64 = 20;
    // SAFETY: int 0x80 with eax=20 is i386 getpid, which takes no arguments
    // and touches no memory; the kernel clobbers only eax (r8-r11 are listed
    // as clobbered for safety).
    unsafe {
        std::arch::asm!(
            "int 0x80",
            inout("rax") rax,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
            options(nostack),
        );
    }
    if rax as i32 > 0 { 0 } else { -1 }
}
