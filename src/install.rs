//! `openshell-sandbox install [--from FILE] DEST`: put a new binary in
//! place on a node while pods keep starting from the old one.
//!
//! `docker cp` and `kubectl cp` unlink DEST and write a new file under the
//! same name: a pod that starts in between finds no file, or a file still
//! open for writing (ETXTBSY), and on a kernel that lets it exec such a
//! file it would run a half-written one. `install` never exposes a partial
//! file under DEST:
//!
//! 1. copy FILE (default: this executable, `/proc/self/exe`) to a new file
//!    in DEST's directory (`O_EXCL`, a name no one else uses);
//! 2. set mode 0755, fsync it, close it (an exec of a file that is still
//!    open for writing fails with ETXTBSY);
//! 3. check it: an ELF executable for this binary's machine whose
//!    `--version` exits 0 and prints `openshell-sandbox ...`;
//! 4. `rename(2)` it over DEST: atomic, so every exec sees the old file or
//!    the new one; running processes keep the old inode;
//! 5. fsync DEST's directory so the rename survives a crash.
//!
//! Any failure before the rename removes the new file and leaves DEST as
//! it was.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long the new binary may take to answer `--version` (qemu included).
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);
const VERSION_PREFIX: &str = "openshell-sandbox ";
const SELF_EXE: &str = "/proc/self/exe";

fn fail(cause: impl Into<String>) -> Error {
    Error::host("install", cause)
}

/// `EACCES`, or the system's text for codes without a short name here.
fn errno(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(libc::EPERM) => "EPERM",
        Some(libc::ENOENT) => "ENOENT",
        Some(libc::EIO) => "EIO",
        Some(libc::ENOEXEC) => "ENOEXEC",
        Some(libc::EACCES) => "EACCES",
        Some(libc::EEXIST) => "EEXIST",
        Some(libc::EXDEV) => "EXDEV",
        Some(libc::ENOTDIR) => "ENOTDIR",
        Some(libc::EISDIR) => "EISDIR",
        Some(libc::ETXTBSY) => "ETXTBSY",
        Some(libc::ENOSPC) => "ENOSPC",
        Some(libc::EROFS) => "EROFS",
        Some(libc::ENAMETOOLONG) => "ENAMETOOLONG",
        Some(libc::ELOOP) => "ELOOP",
        Some(libc::EDQUOT) => "EDQUOT",
        _ => return e.to_string(),
    };
    name.to_string()
}

/// The ELF facts `install` checks, from the first 20 bytes of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElfId {
    pub executable: bool,
    pub machine: u16,
}

const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

/// Parse the ELF identification and `e_type`/`e_machine`; `None` when the
/// bytes are not an ELF header.
pub fn elf_id(header: &[u8]) -> Option<ElfId> {
    let h = header.get(..20)?;
    if h.get(..4)? != b"\x7fELF" {
        return None;
    }
    let field = |at: usize| -> Option<u16> {
        let b = [*h.get(at)?, *h.get(at + 1)?];
        match h.get(5)? {
            1 => Some(u16::from_le_bytes(b)),
            2 => Some(u16::from_be_bytes(b)),
            _ => None,
        }
    };
    let e_type = field(16)?;
    Some(ElfId {
        // ET_EXEC, or ET_DYN for (static-)PIE executables.
        executable: e_type == 2 || e_type == 3,
        machine: field(18)?,
    })
}

pub fn machine_name(m: u16) -> String {
    match m {
        EM_X86_64 => "x86_64".into(),
        EM_AARCH64 => "aarch64".into(),
        other => format!("machine {other}"),
    }
}

fn read_header(f: &mut File) -> io::Result<Vec<u8>> {
    let mut h = Vec::with_capacity(20);
    f.take(20).read_to_end(&mut h)?;
    Ok(h)
}

/// The files `install` works with, resolved from the command line.
struct Paths {
    /// What is copied: FILE or this executable.
    source: PathBuf,
    /// How messages name the source.
    source_name: String,
    dest: PathBuf,
    dir: PathBuf,
    file_name: String,
}

fn paths(from: Option<&Path>, dest: &Path) -> Result<Paths> {
    let file_name = dest
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::usage(format!("install: {} does not name a file", dest.display())))?
        .to_string();
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (source, source_name) = match from {
        Some(f) => (f.to_path_buf(), f.display().to_string()),
        None => (
            PathBuf::from(SELF_EXE),
            format!("this executable ({SELF_EXE})"),
        ),
    };
    Ok(Paths {
        source,
        source_name,
        dest: dest.to_path_buf(),
        dir,
        file_name,
    })
}

/// Create the temporary file next to DEST: `O_CREAT|O_EXCL`, mode 0700
/// until it is complete, a name with our pid so concurrent installs do not
/// meet (and `O_EXCL` settles it if they do).
fn create_temp(p: &Paths) -> Result<(File, PathBuf)> {
    let pid = std::process::id();
    for n in 0..100u32 {
        let tmp = p.dir.join(format!(".{}.install-{pid}-{n}", p.file_name));
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o700)
            .open(&tmp)
        {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                let err = fail(format!(
                    "cannot create a temporary file in {}: {}",
                    p.dir.display(),
                    errno(&e)
                ));
                return Err(match e.raw_os_error() {
                    Some(libc::EROFS) => err
                        .with_hint("run install on the node: a pod's hostPath mount is read-only"),
                    Some(libc::EACCES | libc::EPERM) => {
                        err.with_hint("run install as a user that may write there (root on a node)")
                    }
                    _ => err,
                });
            }
        }
    }
    Err(fail(format!(
        "cannot create a temporary file in {}: 100 names taken",
        p.dir.display()
    )))
}

/// The source, opened, and its length.
fn open_source(p: &Paths) -> Result<(File, u64)> {
    let src_name = &p.source_name;
    let src = File::open(&p.source)
        .map_err(|e| fail(format!("cannot open {src_name}: {}", errno(&e))))?;
    let meta = src
        .metadata()
        .map_err(|e| fail(format!("cannot stat {src_name}: {}", errno(&e))))?;
    if !meta.is_file() {
        return Err(fail(format!("{src_name} is not a regular file")));
    }
    Ok((src, meta.len()))
}

/// Steps 1-3: fill the temporary file from the source and check it.
fn fill_and_check(
    p: &Paths,
    (mut src, len): (File, u64),
    mut tmp: File,
    tmp_path: &Path,
) -> Result<String> {
    let src_name = &p.source_name;
    let copied = io::copy(&mut src, &mut tmp).map_err(|e| {
        fail(format!(
            "cannot copy {src_name} to {}: {}",
            tmp_path.display(),
            errno(&e)
        ))
    })?;
    if copied != len {
        return Err(fail(format!(
            "{src_name} changed while it was copied ({copied} of {len} bytes)"
        )));
    }

    // Check the machine before running anything: with binfmt_misc and
    // qemu registered, a foreign binary would run and pass `--version`.
    let ours = File::open(SELF_EXE)
        .and_then(|mut f| read_header(&mut f))
        .ok()
        .as_deref()
        .and_then(elf_id)
        .ok_or_else(|| fail(format!("cannot read the ELF header of {SELF_EXE}")))?;
    let header = tmp
        .rewind()
        .and_then(|()| read_header(&mut tmp))
        .map_err(|e| fail(format!("cannot read {}: {}", tmp_path.display(), errno(&e))))?;
    let theirs = elf_id(&header)
        .filter(|id| id.executable)
        .ok_or_else(|| fail(format!("{src_name} is not an ELF executable")))?;
    if theirs.machine != ours.machine {
        return Err(fail(format!(
            "{src_name} is built for {}, this node runs {}",
            machine_name(theirs.machine),
            machine_name(ours.machine)
        ))
        .with_hint("install the bundle built for this node's architecture"));
    }

    tmp.set_permissions(fs::Permissions::from_mode(0o755))
        .and_then(|()| tmp.sync_all())
        .map_err(|e| {
            fail(format!(
                "cannot write {}: {}",
                tmp_path.display(),
                errno(&e)
            ))
        })?;
    drop(tmp); // closed: an exec of a file open for writing fails with ETXTBSY

    run_version(src_name, tmp_path)
}

/// Run the new file with `--version`; its version line on success.
fn run_version(src_name: &str, tmp_path: &Path) -> Result<String> {
    let mut child = Command::new(tmp_path)
        .arg("--version")
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            let err = fail(format!("{src_name} does not run: {}", errno(&e)));
            match e.raw_os_error() {
                Some(libc::EACCES) => err.with_hint(format!(
                    "{} may be on a filesystem mounted noexec",
                    tmp_path.parent().unwrap_or(tmp_path).display()
                )),
                _ => err,
            }
        })?;
    let deadline = Instant::now() + CHECK_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                // The result of kill does not matter: wait reaps it either way.
                if let Err(e) = child.kill() {
                    crate::log::warn(&format!("install: cannot kill the check: {e}"));
                }
                if let Err(e) = child.wait() {
                    crate::log::warn(&format!("install: cannot reap the check: {e}"));
                }
                return Err(fail(format!(
                    "{src_name}: --version did not finish within {} s",
                    CHECK_TIMEOUT.as_secs()
                )));
            }
            Err(e) => return Err(fail(format!("{src_name}: --version: {}", errno(&e)))),
        }
    };
    let mut out = Vec::new();
    if let Some(o) = child.stdout.take() {
        o.take(4096)
            .read_to_end(&mut out)
            .map_err(|e| fail(format!("{src_name}: --version: {}", errno(&e))))?;
    }
    if !status.success() {
        return Err(fail(format!("{src_name}: --version failed: {status}")));
    }
    let text = String::from_utf8_lossy(&out);
    let line = text.lines().next().unwrap_or("");
    if !line.starts_with(VERSION_PREFIX) {
        return Err(fail(format!(
            "{src_name}: --version printed {line:?}, not an openshell-sandbox version"
        )));
    }
    Ok(line.to_string())
}

/// The whole install. Prints `installed DEST: VERSION` on success.
pub fn install(from: Option<&Path>, dest: &Path) -> Result<()> {
    let p = paths(from, dest)?;
    if fs::symlink_metadata(&p.dest).is_ok_and(|m| m.is_dir()) {
        return Err(fail(format!("{} is a directory", p.dest.display())));
    }
    let source = open_source(&p)?;
    let (tmp, tmp_path) = create_temp(&p)?;
    let checked = fill_and_check(&p, source, tmp, &tmp_path)
        .and_then(|v| {
            fs::rename(&tmp_path, &p.dest).map(|()| v).map_err(|e| {
                fail(format!(
                    "cannot rename {} over {}: {}",
                    tmp_path.display(),
                    p.dest.display(),
                    errno(&e)
                ))
            })
        })
        .map_err(|e| match fs::remove_file(&tmp_path) {
            Ok(()) => e,
            Err(re) => {
                let cause = match &e {
                    Error::Host { cause, .. } => cause.clone(),
                    other => other.to_string(),
                };
                fail(format!(
                    "{cause}; the temporary file {} could not be removed: {}",
                    tmp_path.display(),
                    errno(&re)
                ))
            }
        });
    let version = checked?;
    File::open(&p.dir).and_then(|d| d.sync_all()).map_err(|e| {
        fail(format!(
            "{} was replaced, but fsync of {} failed: {}",
            p.dest.display(),
            p.dir.display(),
            errno(&e)
        ))
    })?;
    let mut stdout = io::stdout().lock();
    // A closed stdout does not undo the install.
    if let Err(e) = writeln!(stdout, "installed {}: {version}", p.dest.display()) {
        crate::log::warn(&format!("install: cannot print the result: {e}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(class_data: u8, e_type: u16, machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 20];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = class_data;
        let (t, m) = if class_data == 2 {
            (e_type.to_be_bytes(), machine.to_be_bytes())
        } else {
            (e_type.to_le_bytes(), machine.to_le_bytes())
        };
        h[16..18].copy_from_slice(&t);
        h[18..20].copy_from_slice(&m);
        h
    }

    #[test]
    fn elf_id_reads_type_and_machine() {
        assert_eq!(
            elf_id(&header(1, 3, EM_X86_64)),
            Some(ElfId {
                executable: true,
                machine: EM_X86_64
            })
        );
        assert_eq!(
            elf_id(&header(2, 2, EM_AARCH64)),
            Some(ElfId {
                executable: true,
                machine: EM_AARCH64
            })
        );
        // ET_REL (an object file) is not an executable.
        assert_eq!(
            elf_id(&header(1, 1, EM_X86_64)).map(|i| i.executable),
            Some(false)
        );
    }

    #[test]
    fn elf_id_rejects_what_is_not_elf() {
        assert_eq!(elf_id(b"#!/bin/sh\necho openshell-sandbox 1\n"), None);
        assert_eq!(elf_id(b"\x7fELF"), None);
        assert_eq!(elf_id(&header(7, 2, EM_X86_64)), None);
    }

    #[test]
    fn dest_must_name_a_file() {
        assert!(matches!(
            paths(None, Path::new("/")),
            Err(Error::Usage { .. })
        ));
        let p = paths(None, Path::new("sandbox")).ok();
        assert_eq!(p.map(|p| p.dir), Some(PathBuf::from(".")));
    }
}
