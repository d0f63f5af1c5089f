//! Prints instruction counts, filter install time and per-syscall overhead.
//!
//! `cargo run --release --example seccomp_bench [forks] [calls] [reps] [POLICY]`
//! (bench/run.sh runs it and puts its numbers in the table). With a
//! POLICY file the filter is the one `run --policy POLICY` would install
//! on this host; without, the default configuration's.
//!
//! Every measurement runs in a forked child so that the filters do not stack
//! up in this process. Per-call numbers are the median of `reps` runs, the
//! runs with and without the filter alternating. Numbers are printed, never
//! asserted.

#![allow(unsafe_code)]

use std::error::Error;
use std::time::Instant;

use openshell_sandbox::seccomp::{
    Arch, SeccompConfig, SockFilter, compile, install, parent_plan, plan, set_no_new_privs,
};

/// Runs `work` in a forked child and returns the number it reports.
fn in_child(work: &dyn Fn() -> u64) -> Result<u64, Box<dyn Error>> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err("pipe2 failed".into());
    }
    // SAFETY: this process is single-threaded; the child runs `work` and
    // leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err("fork failed".into());
    }
    if pid == 0 {
        let value = work();
        // SAFETY: writes 8 bytes from a live local to our pipe, then exits
        // without running any cleanup.
        unsafe {
            libc::write(fds[1], (&value as *const u64).cast(), 8);
            libc::_exit(0);
        }
    }
    let mut value = 0u64;
    let mut status = 0;
    // SAFETY: descriptor and wait calls on our own pipe and child; read
    // writes at most 8 bytes into the 8-byte local.
    let n = unsafe {
        libc::close(fds[1]);
        let n = libc::read(fds[0], (&mut value as *mut u64).cast(), 8);
        libc::close(fds[0]);
        libc::waitpid(pid, &mut status, 0);
        n
    };
    if n != 8 {
        return Err(format!("child reported nothing (status {status:#x})").into());
    }
    Ok(value)
}

/// Sets no_new_privs and installs `prog`; `u64::MAX` on failure.
fn setup(prog: Option<&[SockFilter]>) -> Option<u64> {
    set_no_new_privs().ok()?;
    let Some(prog) = prog else { return Some(0) };
    let start = Instant::now();
    install(prog).ok()?;
    Some(start.elapsed().as_nanos() as u64)
}

fn getppid() {
    // SAFETY: getppid takes no arguments.
    unsafe {
        libc::syscall(libc::SYS_getppid);
    }
}

fn fionread(fd: libc::c_int) {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int to the pointer, a live local.
    unsafe {
        libc::ioctl(fd, libc::FIONREAD, &mut n as *mut libc::c_int);
    }
}

/// Average nanoseconds per call of `call` over `calls` calls, in a child.
fn per_call(
    prog: Option<&[SockFilter]>,
    calls: u64,
    call: &dyn Fn(),
) -> Result<f64, Box<dyn Error>> {
    let total = in_child(&|| {
        if setup(prog).is_none() {
            return u64::MAX;
        }
        let start = Instant::now();
        for _ in 0..calls {
            call();
        }
        start.elapsed().as_nanos() as u64
    })?;
    if total == u64::MAX {
        return Err("installing the filter failed".into());
    }
    Ok(total as f64 / calls as f64)
}

/// Median ns/call without and with `prog` over `reps` alternating runs.
fn compare(
    prog: &[SockFilter],
    calls: u64,
    reps: usize,
    call: &dyn Fn(),
) -> Result<(f64, f64), Box<dyn Error>> {
    let mut bare = Vec::with_capacity(reps);
    let mut filtered = Vec::with_capacity(reps);
    for _ in 0..reps {
        bare.push(per_call(None, calls, call)?);
        filtered.push(per_call(Some(prog), calls, call)?);
    }
    Ok((median(&mut bare), median(&mut filtered)))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0.0)
}

fn percentile(sorted: &[u64], p: usize) -> u64 {
    sorted
        .get((sorted.len().saturating_sub(1)) * p / 100)
        .copied()
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut argv = std::env::args().skip(1);
    let forks: usize = argv.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let calls: u64 = argv
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(2_000_000);
    let reps: usize = argv.next().map(|a| a.parse()).transpose()?.unwrap_or(3);

    let p = match argv.next() {
        Some(policy) => {
            let args = openshell_sandbox::cli::RunArgs {
                policy: Some(policy.into()),
                command: vec!["/bin/true".into()],
                ..Default::default()
            };
            openshell_sandbox::run::make_plan(&args)
                .map_err(|e| e.to_string())?
                .seccomp
                .ok_or("the policy has no seccomp plan")?
        }
        None => plan(&SeccompConfig::default())?,
    };
    for ap in &p.arches {
        let syscalls: std::collections::BTreeSet<u32> = ap.rules.iter().map(|r| r.nr).collect();
        println!(
            "{}: {} rules on {} syscalls, {} instructions",
            ap.arch,
            ap.rules.len(),
            syscalls.len(),
            ap.instructions
        );
    }
    let parent = parent_plan();
    println!(
        "parent ({}): {} rules, {} instructions",
        parent.arch,
        parent.rules.len(),
        parent.instructions
    );

    let native = p.native().ok_or("no plan for this architecture")?;
    let prog = compile(native, p.log_only);
    println!("native: {} ({} instructions)", Arch::native(), prog.len());

    let mut samples = Vec::with_capacity(forks);
    for _ in 0..forks {
        let ns = in_child(&|| setup(Some(&prog)).unwrap_or(u64::MAX))?;
        if ns == u64::MAX {
            return Err("installing the filter failed".into());
        }
        samples.push(ns);
    }
    samples.sort_unstable();
    println!(
        "install (seccomp() call only, {forks} forks): median {:.1} us, p10 {:.1} us, p90 {:.1} us",
        percentile(&samples, 50) as f64 / 1000.0,
        percentile(&samples, 10) as f64 / 1000.0,
        percentile(&samples, 90) as f64 / 1000.0,
    );

    let (bare, filtered) = compare(&prog, calls, reps, &getppid)?;
    println!(
        "getppid: {bare:.1} ns/call without filter, {filtered:.1} ns/call with filter ({:+.1} ns)",
        filtered - bare
    );
    // The kernel's own cost of having any filter: one `ret ALLOW`.
    let allow_all = [SockFilter {
        code: 0x06,
        jt: 0,
        jf: 0,
        k: 0x7fff_0000,
    }];
    let (bare, filtered) = compare(&allow_all, calls, reps, &getppid)?;
    println!(
        "getppid, one-instruction allow filter: {bare:.1} ns/call without filter, {filtered:.1} ns/call with ({:+.1} ns)",
        filtered - bare
    );

    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err("pipe2 failed".into());
    }
    let fd = fds[0];
    let (bare, filtered) = compare(&prog, calls, reps, &|| fionread(fd))?;
    println!(
        "ioctl(FIONREAD) (runs the filter, argument check): {bare:.1} ns/call without, {filtered:.1} ns/call with ({:+.1} ns)",
        filtered - bare
    );
    Ok(())
}
