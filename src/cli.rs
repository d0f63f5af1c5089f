//! Command line. Hand-written: the grammar is small and a parser crate
//! would cost more binary than this whole file.
//!
//! ```text
//! openshell-sandbox [run] [RUN OPTIONS] -- CMD [ARGS...]
//! openshell-sandbox check [--policy FILE]... [FILE]...
//! openshell-sandbox plan [--format yaml|json] [RUN OPTIONS] [-- CMD [ARGS...]]
//! openshell-sandbox devices [--cdi-dir DIR]...
//! openshell-sandbox schema
//! openshell-sandbox install [--from FILE] DEST
//! openshell-sandbox version [--json] | --version
//! ```

use std::ffi::OsString;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::log::Level;

pub const USAGE: &str = "\
usage: openshell-sandbox [run] [OPTIONS] -- CMD [ARGS...]
       openshell-sandbox check [--policy FILE]... [FILE]...
       openshell-sandbox plan [--format yaml|json] [OPTIONS] [-- CMD [ARGS...]]
       openshell-sandbox devices [--cdi-dir DIR]...
       openshell-sandbox schema
       openshell-sandbox install [--from FILE] DEST
       openshell-sandbox version [--json]

Run options:
  --policy FILE         policy to apply (else $OPENSHELL_POLICY, then
                        /etc/openshell/policy.yaml, then the embedded default)
  --workdir DIR         working directory of the workload
  --device NAME         CDI device to expose, e.g. nvidia.com/gpu=0 (repeatable)
  --cdi-dir DIR         CDI spec directory (repeatable; default /etc/cdi, /var/run/cdi)
  --exec | --init       replace this process, or stay as a minimal init
                        (default: --init when running as PID 1)
  --preserve-fd N       keep file descriptor N open in the workload (repeatable)
  --report FILE         write the applied state as JSON before exec (- = stderr)
  --log-format FMT      text (default) or json
  --log-level LEVEL     error, warn, info (default) or debug

Exit status of run: 125 the sandbox could not be set up, 126 the workload
could not be executed, 127 the workload was not found, else the workload's.
";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunArgs {
    pub policy: Option<PathBuf>,
    pub workdir: Option<String>,
    pub devices: Vec<String>,
    pub cdi_dirs: Vec<String>,
    pub init: Option<bool>,
    pub preserve_fds: Vec<i32>,
    pub report: Option<String>,
    pub log_json: bool,
    pub log_level: Level,
    pub command: Vec<String>,
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
    Devices(Vec<String>),
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

struct Args {
    items: Vec<String>,
    pos: usize,
}

impl Args {
    fn next(&mut self) -> Option<String> {
        let v = self.items.get(self.pos).cloned();
        self.pos += 1;
        v
    }

    /// The value of `--opt VALUE` or `--opt=VALUE`.
    fn value(&mut self, opt: &str, inline: Option<String>) -> Result<String> {
        match inline {
            Some(v) => Ok(v),
            None => self
                .next()
                .ok_or_else(|| Error::usage(format!("{opt} needs a value"))),
        }
    }

    fn rest(&mut self) -> Vec<String> {
        let r = self
            .items
            .get(self.pos..)
            .map(<[String]>::to_vec)
            .unwrap_or_default();
        self.pos = self.items.len();
        r
    }
}

fn split_inline(a: &str) -> (String, Option<String>) {
    match a.split_once('=') {
        Some((k, v)) if a.starts_with("--") => (k.to_string(), Some(v.to_string())),
        _ => (a.to_string(), None),
    }
}

/// Parse one run option; `Ok(false)` when `opt` is not one.
fn run_option(r: &mut RunArgs, a: &mut Args, opt: &str, inline: Option<String>) -> Result<bool> {
    match opt {
        "--policy" => r.policy = Some(PathBuf::from(a.value(opt, inline)?)),
        "--workdir" => r.workdir = Some(a.value(opt, inline)?),
        "--device" => r.devices.push(a.value(opt, inline)?),
        "--cdi-dir" => r.cdi_dirs.push(a.value(opt, inline)?),
        "--exec" => r.init = Some(false),
        "--init" => r.init = Some(true),
        "--report" => r.report = Some(a.value(opt, inline)?),
        "--preserve-fd" => {
            let v = a.value(opt, inline)?;
            let n: i32 = v.parse().ok().filter(|n| *n > 2).ok_or_else(|| {
                Error::usage(format!(
                    "--preserve-fd: {v:?} is not a file descriptor above 2"
                ))
            })?;
            r.preserve_fds.push(n);
        }
        "--log-format" => {
            r.log_json = match a.value(opt, inline)?.as_str() {
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
            let v = a.value(opt, inline)?;
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

fn parse_run(a: &mut Args, require_command: bool, format: Option<&mut Format>) -> Result<RunArgs> {
    let mut r = RunArgs::default();
    let mut format = format;
    while let Some(arg) = a.next() {
        if arg == "--" {
            r.command = a.rest();
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            // The first operand starts the workload command.
            r.command = std::iter::once(arg).chain(a.rest()).collect();
            break;
        }
        let (opt, inline) = split_inline(&arg);
        if let (Some(f), "--format") = (format.as_deref_mut(), opt.as_str()) {
            *f = match a.value(&opt, inline)?.as_str() {
                "yaml" => Format::Yaml,
                "json" => Format::Json,
                other => {
                    return Err(Error::usage(format!(
                        "--format: unknown format {other:?} (yaml or json)"
                    )));
                }
            };
            continue;
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
    let items = argv
        .into_iter()
        .map(|a| {
            a.into_string()
                .map_err(|a| Error::usage(format!("argument {a:?} is not valid UTF-8")))
        })
        .collect::<Result<Vec<String>>>()?;
    let mut a = Args { items, pos: 0 };
    let first = a.items.first().cloned().unwrap_or_default();
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
                    o if o.starts_with('-') && o != "-" => return Err(unknown(o)),
                    _ => files.push(PathBuf::from(arg)),
                }
            }
            Ok(Command::Check(files))
        }
        "plan" => {
            a.pos = 1;
            let mut f = Format::Yaml;
            let r = parse_run(&mut a, false, Some(&mut f))?;
            Ok(Command::Plan(r, f))
        }
        "devices" => {
            a.pos = 1;
            let mut dirs = Vec::new();
            while let Some(arg) = a.next() {
                let (opt, inline) = split_inline(&arg);
                match opt.as_str() {
                    "--cdi-dir" => dirs.push(a.value(&opt, inline)?),
                    o => return Err(unknown(o)),
                }
            }
            Ok(Command::Devices(dirs))
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
                    o if o.starts_with('-') => return Err(unknown(o)),
                    _ if dest.is_none() => dest = Some(PathBuf::from(arg)),
                    _ => return Err(Error::usage("install takes one DEST")),
                }
            }
            let dest = dest.ok_or_else(|| Error::usage("install needs DEST"))?;
            Ok(Command::Install { from, dest })
        }
        "version" => {
            let json = match a.items.get(1).map(String::as_str) {
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
}
