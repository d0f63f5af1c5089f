//! Showing byte strings in plans and messages. Linux argv, environment
//! values and paths are bytes, carried as `OsString` end to end; only
//! their display needs text. Valid UTF-8 is shown as is and each byte
//! that is not part of valid UTF-8 as `\xNN` — for reading only: the
//! workload always receives the bytes themselves.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// `s` as text, with every byte that is not valid UTF-8 written `\xNN`.
pub fn escape(s: &OsStr) -> String {
    let mut out = String::new();
    for chunk in s.as_bytes().utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// `s` for a one-line message: [`escape`], then [`escape_controls`].
pub fn shown(s: &OsStr) -> String {
    escape_controls(&escape(s)).into_owned()
}

/// `s` with control characters written as `\n`, `\r`, `\t` or `\u{NN}`,
/// so a name the workload chose (a planted link's target, a file name)
/// cannot forge a line of the supervisor's text log.
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:02x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// serde: a list of byte strings as escaped text.
pub fn serialize_list<S: serde::Serializer, T: AsRef<OsStr>>(
    v: &[T],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|x| escape(x.as_ref())))
}

/// serde: an optional path as escaped text.
pub fn serialize_opt_path<S: serde::Serializer>(
    v: &Option<std::path::PathBuf>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(p) => s.serialize_some(&escape(p.as_os_str())),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_bytes_are_escaped_and_text_is_kept() {
        assert_eq!(escape(OsStr::from_bytes(b"a\xff\xfeb")), "a\\xff\\xfeb");
        assert_eq!(escape(OsStr::new("h\u{e9}llo")), "h\u{e9}llo");
        // A truncated multi-byte sequence is escaped byte by byte.
        assert_eq!(escape(OsStr::from_bytes(b"\xc3")), "\\xc3");
    }
}
