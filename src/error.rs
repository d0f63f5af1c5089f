//! Errors, grouped by who must act on them, and the exit code each maps to.
//!
//! | group     | who acts            | `run` exit | other commands |
//! |-----------|---------------------|-----------:|---------------:|
//! | usage     | whoever wrote argv  | 125        | 2              |
//! | policy    | the policy author   | 125        | 1              |
//! | host      | the operator / node | 125        | 1              |
//! | apply     | (kernel refused)    | 125        | 1              |
//! | exec      | the image author    | 126 / 127  | –              |
//! | internal  | us                  | 125        | 1              |
//!
//! Messages are lowercase, carry no trailing period, name the object first
//! and the cause second, and are printed once by `main` (with a `hint:`
//! line when someone can act on it).

use std::fmt;

/// One located problem in a policy or spec file:
/// `FILE:LINE:COL: YAML.PATH: message`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: u32,
    pub col: u32,
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.col)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

/// Why an exec failed, which decides between 126 and 127.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecFailure {
    NotFound,
    NotExecutable,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// Every problem found in one policy document, in file order.
    #[error("{}", join_diags(.0))]
    Policy(Vec<Diagnostic>),
    #[error("{object}: {cause}")]
    Host {
        object: String,
        cause: String,
        hint: Option<String>,
    },
    #[error("{object}: {cause}")]
    Apply {
        object: String,
        cause: String,
        hint: Option<String>,
    },
    #[error("{object}: {cause}")]
    Exec {
        object: String,
        cause: String,
        kind: ExecFailure,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

fn join_diags(d: &[Diagnostic]) -> String {
    d.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

impl Error {
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage {
            message: message.into(),
            hint: None,
        }
    }

    pub fn host(object: impl Into<String>, cause: impl Into<String>) -> Self {
        Error::Host {
            object: object.into(),
            cause: cause.into(),
            hint: None,
        }
    }

    pub fn apply(object: impl Into<String>, cause: impl Into<String>) -> Self {
        Error::Apply {
            object: object.into(),
            cause: cause.into(),
            hint: None,
        }
    }

    /// Attach (or replace) the `hint:` line.
    #[must_use]
    pub fn with_hint(mut self, h: impl Into<String>) -> Self {
        match &mut self {
            Error::Usage { hint, .. } | Error::Host { hint, .. } | Error::Apply { hint, .. } => {
                *hint = Some(h.into());
            }
            _ => {}
        }
        self
    }

    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::Usage { hint, .. } | Error::Host { hint, .. } | Error::Apply { hint, .. } => {
                hint.as_deref()
            }
            _ => None,
        }
    }

    /// Exit status of the `run` path (container conventions).
    pub fn run_exit_code(&self) -> i32 {
        match self {
            Error::Exec {
                kind: ExecFailure::NotFound,
                ..
            } => 127,
            Error::Exec {
                kind: ExecFailure::NotExecutable,
                ..
            } => 126,
            _ => 125,
        }
    }

    /// Exit status of the authoring commands (`check`, `plan`, ...).
    pub fn tool_exit_code(&self) -> i32 {
        match self {
            Error::Usage { .. } => 2,
            _ => 1,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `ENOENT (no such file or directory)`-style cause text without the Rust
/// `(os error N)` suffix.
pub fn io_cause(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_lowercase(),
        None => s.to_lowercase(),
    }
}

/// Something the plan found that `run` must act on: a blocker (the launch
/// stops with exit 125, with this as its error) or a drop (a rule this
/// host will not enforce, logged as a warning). Like an error it names the
/// object and the cause, with a hint only when someone can act on it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub object: String,
    pub cause: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Finding {
    pub fn new(object: impl Into<String>, cause: impl Into<String>) -> Self {
        Finding {
            object: object.into(),
            cause: cause.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The error a blocker stops the launch with (exit 125).
    pub fn to_error(&self) -> Error {
        let e = Error::apply(self.object.clone(), self.cause.clone());
        match &self.hint {
            Some(h) => e.with_hint(h.clone()),
            None => e,
        }
    }

    /// `object: cause`, then `hint: …` on a line of its own when there is
    /// one (as `plan --format text` lists it).
    pub fn text(&self) -> String {
        match &self.hint {
            Some(h) => format!("{self}\nhint: {h}"),
            None => self.to_string(),
        }
    }
}

/// `object: cause`, one line.
impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.object, self.cause)
    }
}
