//! Command line. Hand-written: the grammar is small and a parser crate
//! would cost more binary than this whole file.
//!
//! ```text
//! openshell-sandbox [run] [RUN OPTIONS] -- CMD [ARGS...]
//! openshell-sandbox check [--policy FILE]... [FILE]...
//! openshell-sandbox plan [--format yaml|json|text] [RUN OPTIONS] [-- CMD [ARGS...]]
//! openshell-sandbox learn [--output FILE] [RUN OPTIONS] -- CMD [ARGS...]
//! openshell-sandbox devices [--cdi-dir DIR]...
//! openshell-sandbox doctor [--format text|json]
//! openshell-sandbox schema
//! openshell-sandbox install [--from FILE] DEST
//! openshell-sandbox version [--json] | --version
//! ```

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::log::Level;

pub const USAGE: &str = "\
usage: openshell-sandbox [run] [OPTIONS] -- CMD [ARGS...]
       openshell-sandbox check [--policy FILE]... [FILE]...
       openshell-sandbox plan [--format yaml|json|text] [OPTIONS] [-- CMD [ARGS...]]
       openshell-sandbox learn [--output FILE] [OPTIONS] -- CMD [ARGS...]
       openshell-sandbox devices [--cdi-dir DIR]...
       openshell-sandbox doctor [--format text|json]
       openshell-sandbox schema
       openshell-sandbox install [--from FILE] DEST
       openshell-sandbox version [--json]

Commands:
  run                   apply the policy, then exec the workload (the default)
  check                 validate policy files: every problem, FILE:LINE:COL
  plan                  what this host would enforce: yaml or json (the whole
                        plan, for tools) or text (one screen, for people)
  learn                 run the workload once with the policy's identity,
                        capabilities and seccomp filter, its files and TCP
                        ports observed instead of confined, and write the
                        policy that lets that run through (--output FILE,
                        else stdout; --policy is the base)
  devices               CDI device names defined on this node
  doctor                what this kernel and container context support (Landlock
                        features, seccomp, memfd_noexec, capabilities, identity)
                        and what each lack means for a policy, with the fix
  schema                the policy's JSON Schema
  install               replace the binary atomically

Run options:
  --policy FILE         policy file to apply (else $OPENSHELL_POLICY, then
                        /etc/openshell/policy.yaml, then the embedded default)
  --workdir DIR         working directory of the workload (absolute)
  --device NAME         CDI device to expose, e.g. nvidia.com/gpu=0 (repeatable)
  --cdi-dir DIR         CDI spec directory (repeatable; default /etc/cdi, /var/run/cdi)
  --exec | --init       replace this process, or stay as a minimal init
                        (default: --init when running as PID 1)
  --preserve-fd N       keep file descriptor N open in the workload (repeatable)
  --report FILE         write the applied state as JSON before exec (- = stderr)
  --log-format FMT      text (default) or json (one object a line: timestamp,
                        level, msg and the fields behind it)
  --log-level LEVEL     error, warn, info (default) or debug

Exit status of run: 125 the sandbox could not be set up, 126 the workload
could not be executed, 127 the workload was not found, else the workload's.
";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    /// A one-screen summary for people (`plan --format text`).
    Text,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunArgs {
    pub policy: Option<PathBuf>,
    /// Absolute, UTF-8, without NUL or `..` (checked here).
    pub workdir: Option<String>,
    pub devices: Vec<String>,
    /// Absolute, UTF-8, without NUL or `..` (checked here).
    pub cdi_dirs: Vec<String>,
    pub init: Option<bool>,
    pub preserve_fds: Vec<i32>,
    pub report: Option<String>,
    pub log_json: bool,
    pub log_level: Level,
    /// The workload's argv, bytes as given (Linux argv is bytes).
    pub command: Vec<OsString>,
}

impl Default for RunArgs {
    fn default() -> Self {
        RunArgs {
            policy: None,
            workdir: None,
            devices: Vec::new(),
            cdi_dirs: Vec::new(),
            init: None,
            preserve_fds: Vec::new(),
            report: None,
            log_json: false,
            log_level: Level::Info,
            command: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Run(RunArgs),
    Check(Vec<PathBuf>),
    Plan(RunArgs, Format),
    /// Observe one run and write the policy it needed (`--output`, else
    /// stdout).
    Learn(RunArgs, Option<PathBuf>),
    Devices(Vec<String>),
    /// What this host and container context provide (`json`: for tools).
    Doctor {
        json: bool,
    },
    Schema,
    Install {
        from: Option<PathBuf>,
        dest: PathBuf,
    },
    Version {
        json: bool,
    },
    Help,
}

/// argv as bytes: options are matched as text, the workload's command and
/// path values are kept as the bytes they are.
struct Args {
    items: Vec<OsString>,
    pos: usize,
}

impl Args {
    fn next(&mut self) -> Option<OsString> {
        let v = self.items.get(self.pos).cloned();
        self.pos += 1;
        v
    }

    /// The value of `--opt VALUE` or `--opt=VALUE`, as bytes.
    fn value(&mut self, opt: &str, inline: Option<OsString>) -> Result<OsString> {
        match inline {
            Some(v) => Ok(v),
            None => self
                .next()
                .ok_or_else(|| Error::usage(format!("{opt} needs a value"))),
        }
    }

    /// The value of an option whose value is text (a name, a number, a
    /// path the plan shows): UTF-8 without NUL bytes.
    fn text(&mut self, opt: &str, inline: Option<OsString>) -> Result<String> {
        let v = self.value(opt, inline)?;
        let v = v.into_string().map_err(|v| {
            Error::usage(format!(
                "{opt}: \"{}\" is not valid UTF-8",
                crate::bytes::escape(&v)
            ))
        })?;
        if v.contains('\0') {
            return Err(Error::usage(format!("{opt}: {v:?} contains a NUL byte")));
        }
        Ok(v)
    }

    /// The value of a directory option: text, absolute, no `..`.
    fn dir(&mut self, opt: &str, inline: Option<OsString>) -> Result<String> {
        let v = self.text(opt, inline)?;
        if v.is_empty() {
            return Err(Error::usage(format!("{opt}: the path is empty"))
                .with_hint(format!("{opt} takes an absolute path, e.g. {opt} /work")));
        }
        if v.len() > crate::policy::validate::MAX_PATH_BYTES {
            return Err(Error::usage(format!(
                "{opt}: the path is {} bytes long; the limit is {}",
                v.len(),
                crate::policy::validate::MAX_PATH_BYTES
            )));
        }
        if v.chars().any(char::is_control) {
            return Err(Error::usage(format!(
                "{opt}: {v:?} has a control character"
            )));
        }
        if !v.starts_with('/') {
            return Err(
                Error::usage(format!("{opt}: {v:?} is not an absolute path")).with_hint(format!(
                    "write it from the root, e.g. \"/{}\"",
                    v.trim_start_matches("./")
                )),
            );
        }
        if crate::policy::paths::has_parent_component(&v) {
            return Err(Error::usage(format!(
                "{opt}: {v:?} contains a \"..\" component"
            )));
        }
        Ok(v)
    }

    fn rest(&mut self) -> Vec<OsString> {
        let r = self
            .items
            .get(self.pos..)
            .map(<[OsString]>::to_vec)
            .unwrap_or_default();
        self.pos = self.items.len();
        r
    }
}

/// `--opt=VALUE` -> (`--opt`, `VALUE`); anything else -> (itself, None).
/// The option name is text (a name that is not UTF-8 is shown escaped and
/// matches no option); the value keeps its bytes.
fn split_inline(a: &OsStr) -> (String, Option<OsString>) {
    let b = a.as_bytes();
    if b.starts_with(b"--") {
        if let Some(i) = b.iter().position(|c| *c == b'=') {
            let (k, v) = (&b[..i], &b[i + 1..]);
            return (
                crate::bytes::escape(OsStr::from_bytes(k)),
                Some(OsStr::from_bytes(v).to_os_string()),
            );
        }
    }
    (crate::bytes::escape(a), None)
}

/// `--preserve-fd N`: decimal digits only (no sign, space or radix
/// prefix), above 2, an `int`.
fn parse_fd(v: &str) -> Option<i32> {
    if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    v.parse::<i32>().ok().filter(|n| *n > 2)
}

/// Parse one run option; `Ok(false)` when `opt` is not one.
fn run_option(r: &mut RunArgs, a: &mut Args, opt: &str, inline: Option<OsString>) -> Result<bool> {
    match opt {
        "--policy" => r.policy = Some(PathBuf::from(a.value(opt, inline)?)),
        "--workdir" => r.workdir = Some(a.dir(opt, inline)?),
        "--device" => {
            let v = a.text(opt, inline)?;
            if v.is_empty() {
                return Err(Error::usage("--device: the name is empty")
                    .with_hint("name a CDI device, e.g. --device nvidia.com/gpu=0"));
            }
            if r.devices.len() == crate::policy::validate::MAX_LIST {
                return Err(Error::usage(format!(
                    "--device: more than {} devices",
                    crate::policy::validate::MAX_LIST
                )));
            }
            r.devices.push(v);
        }
        "--cdi-dir" => r.cdi_dirs.push(a.dir(opt, inline)?),
        "--exec" | "--init" if inline.is_some() => {
            return Err(Error::usage(format!("{opt} takes no value")));
        }
        "--exec" => r.init = Some(false),
        "--init" => r.init = Some(true),
        "--report" => {
            let v = a.text(opt, inline)?;
            if v.is_empty() {
                return Err(Error::usage("--report: the path is empty")
                    .with_hint("--report takes a file to write, or - for standard error"));
            }
            if v.len() > 1 && v.ends_with('/') {
                return Err(Error::usage(format!(
                    "--report: {v:?} ends in a slash: it names a directory, not a file"
                )));
            }
            r.report = Some(v);
        }
        "--preserve-fd" => {
            let v = a.text(opt, inline)?;
            let n = parse_fd(&v).ok_or_else(|| {
                Error::usage(format!(
                    "--preserve-fd: {v:?} is not a file descriptor above 2"
                ))
            })?;
            r.preserve_fds.push(n);
        }
        "--log-format" => {
            r.log_json = match a.text(opt, inline)?.as_str() {
                "json" => true,
                "text" => false,
                other => {
                    return Err(Error::usage(format!(
                        "--log-format: unknown format {other:?} (text or json)"
                    )));
                }
            }
        }
        "--log-level" => {
            let v = a.text(opt, inline)?;
            r.log_level = Level::parse(&v).ok_or_else(|| {
                Error::usage(format!(
                    "--log-level: unknown level {v:?} (error, warn, info, debug)"
                ))
            })?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn unknown(opt: &str) -> Error {
    Error::usage(format!(
        "unknown option {opt:?}; see openshell-sandbox --help"
    ))
}

fn is_option(a: &OsStr) -> bool {
    a.as_bytes().starts_with(b"-") && a != "-"
}

/// An option one command adds to the run options (`plan --format`,
/// `learn --output`): `Ok(true)` when it took the option.
type Extra<'e> = &'e mut dyn FnMut(&mut Args, &str, Option<OsString>) -> Result<bool>;

fn parse_run(a: &mut Args, require_command: bool, extra: Option<Extra<'_>>) -> Result<RunArgs> {
    let mut r = RunArgs::default();
    let mut extra = extra;
    while let Some(arg) = a.next() {
        if arg == "--" {
            r.command = a.rest();
            break;
        }
        if !is_option(&arg) {
            // The first operand starts the workload command.
            r.command = std::iter::once(arg).chain(a.rest()).collect();
            break;
        }
        let (opt, inline) = split_inline(&arg);
        if let Some(take) = extra.as_deref_mut() {
            if take(a, &opt, inline.clone())? {
                continue;
            }
        }
        if !run_option(&mut r, a, &opt, inline)? {
            return Err(unknown(&opt));
        }
    }
    if require_command && r.command.is_empty() {
        return Err(Error::usage(
            "no workload command given; usage: openshell-sandbox [OPTIONS] -- CMD [ARGS...]",
        ));
    }
    Ok(r)
}

/// Parse argv (without argv[0]).
pub fn parse(argv: Vec<OsString>) -> Result<Command> {
    let mut a = Args {
        items: argv,
        pos: 0,
    };
    let first = a
        .items
        .first()
        .and_then(|f| f.to_str())
        .unwrap_or_default()
        .to_string();
    match first.as_str() {
        "run" => {
            a.pos = 1;
            Ok(Command::Run(parse_run(&mut a, true, None)?))
        }
        "check" => {
            a.pos = 1;
            let mut files = Vec::new();
            while let Some(arg) = a.next() {
                let (opt, inline) = split_inline(&arg);
                match opt.as_str() {
                    "--policy" => files.push(PathBuf::from(a.value(&opt, inline)?)),
                    "--" => files.extend(a.rest().into_iter().map(PathBuf::from)),
                    o if is_option(&arg) => return Err(unknown(o)),
                    _ => files.push(PathBuf::from(arg)),
                }
            }
            Ok(Command::Check(files))
        }
        "plan" => {
            a.pos = 1;
            let mut f = Format::Yaml;
            let mut format = |a: &mut Args, opt: &str, inline: Option<OsString>| -> Result<bool> {
                if opt != "--format" {
                    return Ok(false);
                }
                f = match a.text(opt, inline)?.as_str() {
                    "yaml" => Format::Yaml,
                    "json" => Format::Json,
                    "text" => Format::Text,
                    other => {
                        return Err(Error::usage(format!(
                            "--format: unknown format {other:?} (text, yaml or json)"
                        )));
                    }
                };
                Ok(true)
            };
            let r = parse_run(&mut a, false, Some(&mut format))?;
            Ok(Command::Plan(r, f))
        }
        "learn" => {
            a.pos = 1;
            let mut output = None;
            let mut take_output =
                |a: &mut Args, opt: &str, inline: Option<OsString>| -> Result<bool> {
                    if opt != "--output" {
                        return Ok(false);
                    }
                    let v = a.value(opt, inline)?;
                    if v.as_encoded_bytes().ends_with(b"/") {
                        return Err(Error::usage(format!(
                            "--output: \"{}\" ends in a slash: it names a directory, not a file",
                            crate::bytes::escape(&v)
                        )));
                    }
                    output = Some(PathBuf::from(v));
                    Ok(true)
                };
            let r = parse_run(&mut a, false, Some(&mut take_output))?;
            if r.command.is_empty() {
                return Err(Error::usage(
                    "no workload command given; usage: openshell-sandbox learn [--output FILE] [OPTIONS] -- CMD [ARGS...]",
                ));
            }
            Ok(Command::Learn(r, output))
        }
        "devices" => {
            a.pos = 1;
            let mut dirs = Vec::new();
            while let Some(arg) = a.next() {
                let (opt, inline) = split_inline(&arg);
                match opt.as_str() {
                    "--cdi-dir" => dirs.push(a.dir(&opt, inline)?),
                    o => return Err(unknown(o)),
                }
            }
            Ok(Command::Devices(dirs))
        }
        "doctor" => {
            a.pos = 1;
            let mut json = false;
            while let Some(arg) = a.next() {
                let (opt, inline) = split_inline(&arg);
                match opt.as_str() {
                    "--format" => {
                        json = match a.text(&opt, inline)?.as_str() {
                            "json" => true,
                            "text" => false,
                            other => {
                                return Err(Error::usage(format!(
                                    "--format: unknown format {other:?} (text or json)"
                                )));
                            }
                        }
                    }
                    o => return Err(unknown(o)),
                }
            }
            Ok(Command::Doctor { json })
        }
        "schema" => {
            if a.items.len() > 1 {
                return Err(Error::usage("schema takes no arguments"));
            }
            Ok(Command::Schema)
        }
        "install" => {
            a.pos = 1;
            let mut from = None;
            let mut dest = None;
            while let Some(arg) = a.next() {
                let (opt, inline) = split_inline(&arg);
                match opt.as_str() {
                    "--from" => from = Some(PathBuf::from(a.value(&opt, inline)?)),
                    o if arg.as_bytes().starts_with(b"-") => return Err(unknown(o)),
                    _ if dest.is_none() => dest = Some(PathBuf::from(arg)),
                    _ => return Err(Error::usage("install takes one DEST")),
                }
            }
            let dest = dest.ok_or_else(|| Error::usage("install needs DEST"))?;
            Ok(Command::Install { from, dest })
        }
        "version" => {
            let second = a.items.get(1).map(|s| crate::bytes::escape(s));
            let json = match second.as_deref() {
                None => false,
                Some("--json") if a.items.len() == 2 => true,
                Some(o) => return Err(unknown(o)),
            };
            Ok(Command::Version { json })
        }
        "--version" | "-V" => Ok(Command::Version { json: false }),
        "help" | "--help" | "-h" => Ok(Command::Help),
        _ => Ok(Command::Run(parse_run(&mut a, true, None)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command> {
        parse(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn bare_form_is_run() {
        let Ok(Command::Run(r)) = p(&["--policy", "p.yaml", "--", "/bin/sh", "-c", "x"]) else {
            panic!("not run");
        };
        assert_eq!(r.policy, Some(PathBuf::from("p.yaml")));
        assert_eq!(r.command, ["/bin/sh", "-c", "x"]);
    }

    #[test]
    fn options_after_dashdash_belong_to_the_workload() {
        let Ok(Command::Run(r)) = p(&["run", "--device=nvidia.com/gpu=0", "--", "ls", "--policy"])
        else {
            panic!("not run");
        };
        assert_eq!(r.devices, ["nvidia.com/gpu=0"]);
        assert_eq!(r.command, ["ls", "--policy"]);
    }

    #[test]
    fn errors() {
        assert!(matches!(
            p(&["--bogus", "--", "x"]),
            Err(Error::Usage { .. })
        ));
        assert!(matches!(p(&["--policy"]), Err(Error::Usage { .. })));
        assert!(matches!(p(&["--policy", "x"]), Err(Error::Usage { .. })));
        assert!(matches!(
            p(&["--preserve-fd", "1", "--", "x"]),
            Err(Error::Usage { .. })
        ));
    }

    #[test]
    fn plan_and_check() {
        assert_eq!(
            p(&["check", "a.yaml", "--policy", "b.yaml"]).ok(),
            Some(Command::Check(vec!["a.yaml".into(), "b.yaml".into()]))
        );
        let Ok(Command::Plan(r, f)) = p(&["plan", "--format", "json", "--device", "x/y=z"]) else {
            panic!("not plan");
        };
        assert_eq!((f, r.devices.len()), (Format::Json, 1));
        assert_eq!(
            p(&["--version"]).ok(),
            Some(Command::Version { json: false })
        );
        assert_eq!(
            p(&["version", "--json"]).ok(),
            Some(Command::Version { json: true })
        );
    }

    fn err(args: &[&str]) -> Option<String> {
        p(args).err().map(|e| match e.hint() {
            Some(h) => format!("{e}\nhint: {h}"),
            None => e.to_string(),
        })
    }

    #[test]
    fn learn_takes_an_output_and_the_run_options() {
        let Ok(Command::Learn(r, out)) = p(&[
            "learn",
            "--policy",
            "base.yaml",
            "--output=learned.yaml",
            "--workdir",
            "/w",
            "--",
            "python3",
            "--output",
        ]) else {
            panic!("not learn");
        };
        assert_eq!(out, Some(PathBuf::from("learned.yaml")));
        assert_eq!(r.policy, Some(PathBuf::from("base.yaml")));
        assert_eq!(r.workdir.as_deref(), Some("/w"));
        assert_eq!(r.command, ["python3", "--output"]);
        assert!(matches!(
            p(&["learn", "--output"]),
            Err(Error::Usage { .. })
        ));
        assert!(matches!(
            p(&["learn", "--bogus", "--", "x"]),
            Err(Error::Usage { .. })
        ));
        assert!(matches!(
            p(&["learn", "--output", "x"]),
            Err(Error::Usage { .. })
        ));
    }

    #[test]
    fn workload_arguments_keep_their_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let arg = OsStr::from_bytes(b"\xff\xfe").to_os_string();
        let argv = vec![
            OsString::from("--"),
            OsString::from("/bin/echo"),
            arg.clone(),
        ];
        let Ok(Command::Run(r)) = parse(argv) else {
            panic!("not run");
        };
        assert_eq!(r.command, [OsString::from("/bin/echo"), arg.clone()]);
        // A path option keeps its bytes too.
        let Ok(Command::Run(r)) = parse(vec![
            OsString::from("--policy"),
            arg.clone(),
            OsString::from("x"),
        ]) else {
            panic!("not run");
        };
        assert_eq!(r.policy.map(PathBuf::into_os_string), Some(arg));
    }

    #[test]
    fn devices_are_bounded() {
        let mut args = Vec::new();
        for _ in 0..1025 {
            args.extend(["--device", "example.com/dev=0"]);
        }
        args.extend(["--", "x"]);
        assert_eq!(
            err(&args).as_deref(),
            Some("--device: more than 1024 devices")
        );
        assert!(err(&args[2..]).is_none());
    }

    #[test]
    fn report_and_output_name_files() {
        assert_eq!(
            err(&["--report", "/run/r/", "--", "x"]).as_deref(),
            Some("--report: \"/run/r/\" ends in a slash: it names a directory, not a file")
        );
        assert!(err(&["--report", "-", "--", "x"]).is_none());
        assert!(matches!(
            p(&["learn", "--output", "/run/l/", "--", "x"]),
            Err(e) if e.to_string().contains("ends in a slash")
        ));
    }

    #[test]
    fn report_must_name_something() {
        assert_eq!(
            err(&["--report", "", "--", "x"]).as_deref(),
            Some(
                "--report: the path is empty\nhint: --report takes a file to write, or - for standard error"
            )
        );
    }

    #[test]
    fn workdir_must_be_an_absolute_path() {
        assert_eq!(
            err(&["--workdir", "", "--", "x"]).as_deref(),
            Some(
                "--workdir: the path is empty\nhint: --workdir takes an absolute path, e.g. --workdir /work"
            )
        );
        assert_eq!(
            err(&["--workdir=tmp/x", "--", "x"]).as_deref(),
            Some(
                "--workdir: \"tmp/x\" is not an absolute path\nhint: write it from the root, e.g. \"/tmp/x\""
            )
        );
        assert_eq!(
            err(&["plan", "--workdir", "/a/../b"]).as_deref(),
            Some("--workdir: \"/a/../b\" contains a \"..\" component")
        );
        assert_eq!(
            err(&["--cdi-dir", "cdi", "--", "x"]).as_deref(),
            Some(
                "--cdi-dir: \"cdi\" is not an absolute path\nhint: write it from the root, e.g. \"/cdi\""
            )
        );
        assert_eq!(
            err(&["devices", "--cdi-dir="]).as_deref(),
            Some(
                "--cdi-dir: the path is empty\nhint: --cdi-dir takes an absolute path, e.g. --cdi-dir /work"
            )
        );
    }

    #[test]
    fn text_options_refuse_nul_and_bytes_that_are_not_utf8() {
        use std::os::unix::ffi::OsStrExt;
        let bad = |opt: &str, v: &[u8]| {
            parse(vec![
                OsString::from(opt),
                OsStr::from_bytes(v).to_os_string(),
                OsString::from("--"),
                OsString::from("x"),
            ])
            .err()
            .map(|e| e.to_string())
        };
        assert_eq!(
            bad("--device", b"nvidia.com/gpu=\xff").as_deref(),
            Some("--device: \"nvidia.com/gpu=\\xff\" is not valid UTF-8")
        );
        assert_eq!(
            bad("--device", b"nvidia.com/gpu=0\0").as_deref(),
            Some("--device: \"nvidia.com/gpu=0\\0\" contains a NUL byte")
        );
        assert_eq!(
            bad("--cdi-dir", b"/etc/cdi\xff").as_deref(),
            Some("--cdi-dir: \"/etc/cdi\\xff\" is not valid UTF-8")
        );
        assert_eq!(
            bad("--workdir", b"/w\0x").as_deref(),
            Some("--workdir: \"/w\\0x\" contains a NUL byte")
        );
        assert_eq!(
            err(&["--device", "", "--", "x"]).as_deref(),
            Some(
                "--device: the name is empty\nhint: name a CDI device, e.g. --device nvidia.com/gpu=0"
            )
        );
    }

    #[test]
    fn preserve_fd_takes_plain_decimal_digits_only() {
        for v in ["+3", " 3", "3 ", "0x3", "-3", "", "2", "99999999999", "3a"] {
            assert_eq!(
                err(&["--preserve-fd", v, "--", "x"]),
                Some(format!(
                    "--preserve-fd: {v:?} is not a file descriptor above 2"
                )),
                "{v:?}"
            );
        }
        let Ok(Command::Run(r)) = p(&["--preserve-fd=03", "--preserve-fd", "10", "--", "x"]) else {
            panic!("not run");
        };
        assert_eq!(r.preserve_fds, [3, 10]);
        assert_eq!(
            err(&["--exec=no", "--", "x"]).as_deref(),
            Some("--exec takes no value")
        );
        assert_eq!(
            err(&["version", "--json=x"]).as_deref(),
            Some("unknown option \"--json=x\"; see openshell-sandbox --help")
        );
    }
}
