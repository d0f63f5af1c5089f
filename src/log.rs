//! A tiny leveled logger for the supervisor's own messages (stderr, text or
//! JSON lines). The workload's output never passes through it.
//!
//! A text line is `openshell-sandbox: LEVEL: MESSAGE`, control characters
//! escaped. A JSON line (`--log-format json`) is one object for a log
//! collector: `timestamp` (RFC 3339, UTC), `level`, `msg` (the same
//! sentence as the text line), `source`, and the fields behind the
//! sentence — `object`, `cause`, `hint` for errors, `kind` for what is not
//! enforced, and the figures the sentence quotes (Landlock `abi`, rule
//! counts, ...), so a collector need not parse the sentence.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "error" => Some(Level::Error),
            "warn" | "warning" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" | "trace" => Some(Level::Debug),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

/// The structured fields of one line, in order (a JSON object keeps them
/// sorted; the order here is for the reader of the code).
pub type Fields = Vec<(&'static str, Value)>;

/// The lines of the live [`Batch`], if any.
static BATCH: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// [`BATCH`], also after a panic while it was held (a line is text: it
/// cannot be left half-changed in a way that matters).
fn batch() -> std::sync::MutexGuard<'static, Option<String>> {
    BATCH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// While a `Batch` lives, the lines logged are kept and written together
/// when it is dropped: a launch logs a burst of lines (the policy, what
/// is dropped, the host's limits), and stderr is often a pipe to the
/// container runtime, which wakes for each write. Dropped on every return
/// from its scope, so an error reported after it comes after its lines;
/// a panic (which aborts) writes them before its own message.
pub struct Batch {
    /// Whether this one started the batch (a nested one writes nothing).
    owner: bool,
}

impl Batch {
    pub fn start() -> Batch {
        let mut b = batch();
        let owner = b.is_none();
        if owner {
            *b = Some(String::new());
            write_batch_on_panic();
        }
        Batch { owner }
    }
}

/// Have a panic write the batched lines before the panic's own message
/// (the binary aborts on panic: no `Drop` runs). Installed once.
fn write_batch_on_panic() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Not `batch()`: the panic may come while this thread holds it.
            if let Ok(mut b) = BATCH.try_lock() {
                if let Some(text) = b.take() {
                    let _ = std::io::stderr().write_all(text.as_bytes());
                }
            }
            previous(info);
        }));
    });
}

impl Drop for Batch {
    fn drop(&mut self) {
        if !self.owner {
            return;
        }
        let text = batch().take().unwrap_or_default();
        if !text.is_empty() {
            // A closed stderr must not stop the launch.
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static JSON: AtomicU8 = AtomicU8::new(0);

pub fn init(level: Level, json: bool) {
    LEVEL.store(level as u8, Ordering::Relaxed);
    JSON.store(u8::from(json), Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Whether lines are JSON (`--log-format json`).
pub fn json() -> bool {
    JSON.load(Ordering::Relaxed) == 1
}

pub fn log(level: Level, msg: &str) {
    log_with(level, msg, Vec::new());
}

/// A line with the fields behind its sentence (used only in JSON lines;
/// the text line is the sentence alone).
pub fn log_with(level: Level, msg: &str, fields: Fields) {
    if !enabled(level) {
        return;
    }
    let line = if json() {
        json_line(level, msg, fields, std::time::SystemTime::now())
    } else {
        format!(
            "openshell-sandbox: {}: {}\n",
            level.name(),
            crate::bytes::escape_controls(msg)
        )
    };
    let kept = batch().as_mut().map(|text| text.push_str(&line));
    if kept.is_none() {
        // A closed stderr must not stop the launch.
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}

/// One JSON line. serde_json escapes control characters itself; the
/// characters that break or reorder a line as it is shown are escaped too.
fn json_line(level: Level, msg: &str, fields: Fields, now: std::time::SystemTime) -> String {
    let mut m = Map::new();
    m.insert("timestamp".into(), Value::from(rfc3339(now)));
    m.insert("level".into(), Value::from(level.name()));
    m.insert("msg".into(), Value::from(msg));
    m.insert("source".into(), Value::from("openshell-sandbox"));
    for (k, v) in fields {
        // The fixed keys above are not overridden by a field.
        m.entry(k).or_insert(v);
    }
    let mut line = crate::bytes::escape_json_layout(Value::Object(m).to_string());
    line.push('\n');
    line
}

pub fn warn(msg: &str) {
    log(Level::Warn, msg);
}

pub fn info(msg: &str) {
    log(Level::Info, msg);
}

pub fn debug(msg: &str) {
    log(Level::Debug, msg);
}

pub fn warn_with(msg: &str, fields: Fields) {
    log_with(Level::Warn, msg, fields);
}

pub fn info_with(msg: &str, fields: Fields) {
    log_with(Level::Info, msg, fields);
}

/// An error that stops the command, as JSON lines (one per policy
/// diagnostic), with what a collector indexes: `object`, `cause`, `hint`,
/// the error `group` (who acts) and the `exit_code`. Written even when the
/// level filters out errors' lower levels; an error is never filtered.
pub fn error_json(e: &crate::error::Error, exit_code: i32) {
    use crate::error::Error;
    let mut lines: Vec<(String, Fields)> = Vec::new();
    let common = |group: &str| -> Fields {
        vec![
            ("group", Value::from(group)),
            ("exit_code", Value::from(exit_code)),
        ]
    };
    match e {
        Error::Policy(diags) => {
            for d in diags {
                let mut f = common("policy");
                f.push(("object", Value::from(d.file.clone())));
                f.push(("line", Value::from(d.line)));
                f.push(("col", Value::from(d.col)));
                if !d.path.is_empty() {
                    f.push(("field", Value::from(d.path.clone())));
                }
                f.push(("cause", Value::from(d.message.clone())));
                if let Some(h) = &d.hint {
                    f.push(("hint", Value::from(h.clone())));
                }
                let text = d.to_string();
                let msg = text
                    .split("\nhint: ")
                    .next()
                    .unwrap_or_default()
                    .to_string();
                lines.push((msg, f));
            }
        }
        _ => {
            let (group, object, cause) = match e {
                Error::Usage { message, .. } => ("usage", "command line", message.as_str()),
                Error::Host { object, cause, .. } => ("host", object.as_str(), cause.as_str()),
                Error::Apply { object, cause, .. } => ("apply", object.as_str(), cause.as_str()),
                Error::Exec { object, cause, .. } => ("exec", object.as_str(), cause.as_str()),
                Error::Internal(m) => ("internal", "internal error", m.as_str()),
                Error::Policy(_) => ("policy", "policy", ""),
            };
            let mut f = common(group);
            f.push(("object", Value::from(object)));
            f.push(("cause", Value::from(cause)));
            if let Some(h) = e.hint() {
                f.push(("hint", Value::from(h)));
            }
            lines.push((e.to_string(), f));
        }
    }
    for (msg, f) in lines {
        let line = json_line(Level::Error, &msg, f, std::time::SystemTime::now());
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}

/// `t` as RFC 3339 in UTC with microseconds: `2024-02-29T13:05:09.123456Z`.
/// Times before 1970 (a clock set wrong) are shown as the epoch.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(std::time::Duration::ZERO);
    let secs = d.as_secs();
    let (y, mo, day) = civil_from_days(secs / 86_400);
    let s = secs % 86_400;
    format!(
        "{y:04}-{mo:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        d.subsec_micros()
    )
}

/// Days since 1970-01-01 -> (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`, for days >= 0): count in
/// 400-year eras of 146097 days, with years starting on March 1 so the
/// leap day is the last day of a year.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Print an error once: the message, then its hint. Under
/// `--log-format json` it is one JSON line (per policy diagnostic) with
/// the object, cause, hint and exit code as fields.
pub fn report_error(e: &crate::error::Error) {
    if json() {
        error_json(e, e.run_exit_code());
        return;
    }
    // Never eprintln!: it panics when stderr cannot be written (closed,
    // or `write` denied by the policy's own filter after install), and a
    // panic here would end the launch in an abort instead of its exit code.
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    match e {
        crate::error::Error::Policy(diags) => {
            for d in diags {
                let _ = writeln!(err, "openshell-sandbox: {d}");
            }
        }
        _ => {
            let _ = writeln!(err, "openshell-sandbox: {e}");
            if let Some(h) = e.hint() {
                let _ = writeln!(err, "hint: {h}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(secs: u64) -> String {
        rfc3339(UNIX_EPOCH + Duration::from_secs(secs))
    }

    #[test]
    fn a_batch_keeps_its_lines_until_the_outer_one_is_dropped() {
        // Other tests may log meanwhile (the batch is the process's): the
        // lines are looked for, not the whole text.
        let held = || batch().clone();
        let outer = Batch::start();
        assert!(outer.owner);
        log(Level::Warn, "batched first");
        let inner = Batch::start();
        assert!(!inner.owner);
        log(Level::Warn, "batched second");
        drop(inner);
        let text = held().unwrap_or_default();
        let first = text.find("openshell-sandbox: warning: batched first\n");
        let second = text.find("openshell-sandbox: warning: batched second\n");
        assert!(first.is_some() && first < second, "{text:?}");
        drop(outer);
        assert_eq!(held(), None);
        // A panic while lines are held writes them (the release binary
        // aborts on panic, so no drop would).
        let held_at_panic = Batch::start();
        log(Level::Warn, "batched before a panic");
        let unwound = std::panic::catch_unwind(|| panic!("a panic while lines are held"));
        assert!(unwound.is_err());
        assert_eq!(held(), None, "the panic hook wrote and took the lines");
        drop(held_at_panic);
    }

    #[test]
    fn timestamps_are_rfc3339_utc_across_leap_years_and_centuries() {
        assert_eq!(at(0), "1970-01-01T00:00:00.000000Z");
        // 1972 is a leap year: Feb 29 exists, then March 1.
        assert_eq!(at(68_169_600), "1972-02-29T00:00:00.000000Z");
        assert_eq!(at(68_256_000), "1972-03-01T00:00:00.000000Z");
        assert_eq!(at(946_684_799), "1999-12-31T23:59:59.000000Z");
        // 2000 is divisible by 400: a leap year.
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00.000000Z");
        assert_eq!(at(1_234_567_890), "2009-02-13T23:31:30.000000Z");
        assert_eq!(at(1_709_164_800), "2024-02-29T00:00:00.000000Z");
        // 2100 is divisible by 100, not by 400: no Feb 29.
        assert_eq!(at(4_107_456_000), "2100-02-28T00:00:00.000000Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00.000000Z");
        assert_eq!(at(253_402_300_799), "9999-12-31T23:59:59.000000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_micros(1_709_211_909_123_456)),
            "2024-02-29T13:05:09.123456Z"
        );
        // A clock before the epoch does not panic.
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn a_json_line_carries_its_fields_and_escapes_controls() {
        let line = json_line(
            Level::Warn,
            "filesystem rule for /x\n skipped",
            vec![
                ("kind", Value::from("dropped")),
                ("level", Value::from("info")),
            ],
            UNIX_EPOCH,
        );
        assert!(line.ends_with("}\n") && !line.trim_end().contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["timestamp"], "1970-01-01T00:00:00.000000Z");
        assert_eq!(v["level"], "warning", "a field never replaces a fixed key");
        assert_eq!(v["msg"], "filesystem rule for /x\n skipped");
        assert_eq!(v["kind"], "dropped");
        assert_eq!(v["source"], "openshell-sandbox");
    }

    #[test]
    fn a_json_line_escapes_the_characters_that_break_or_reorder_a_line() {
        let msg = "node /dev/a\u{2028}openshell-sandbox: info: fine \u{202e}x\u{2066}";
        let line = json_line(
            Level::Error,
            msg,
            vec![("cause", Value::from("\u{2029}y"))],
            UNIX_EPOCH,
        );
        for c in ['\u{2028}', '\u{2029}', '\u{202e}', '\u{2066}'] {
            assert!(!line.contains(c), "{c:?} raw in {line}");
        }
        assert!(line.contains("\\u2028openshell-sandbox") && line.contains("\\u202ex"));
        // The same text to a JSON reader.
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["msg"], msg);
        assert_eq!(v["cause"], "\u{2029}y");
        // A line without them is as serde_json writes it.
        let plain = json_line(Level::Info, "é ok", Vec::new(), UNIX_EPOCH);
        assert!(plain.contains("\"msg\":\"é ok\""), "{plain}");
    }
}
