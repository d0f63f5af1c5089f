//! Showing byte strings in plans and messages. Linux argv, environment
//! values and paths are bytes, carried as `OsString` end to end; only
//! their display needs text. Valid UTF-8 is shown as is and each byte
//! that is not part of valid UTF-8 as `\xNN` — for reading only: the
//! workload always receives the bytes themselves.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// The lines of `text` exactly as `str::lines` gives them (split after
/// each `\n`, which is dropped with a `\r` before it), by a plain byte
/// loop. The binary is built with std's size-optimized string search, a
/// byte at a time behind a general pattern matcher: reading a launch's
/// small line-based files (`/etc/passwd`, `/proc/self/status`) that way
/// cost about 400 instructions a line.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let bytes = rest.as_bytes();
        let mut end = 0;
        while end < bytes.len() && bytes[end] != b'\n' {
            end += 1;
        }
        // `\n` is ASCII: both cuts are on character boundaries.
        let line = rest.get(..end).unwrap_or_default();
        let next = rest.get(end + 1..).unwrap_or_default();
        let ended = end < bytes.len();
        rest = next;
        Some(match line.strip_suffix('\r') {
            Some(stripped) if ended => stripped,
            _ => line,
        })
    })
}

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

    #[test]
    fn lines_are_the_string_lines() {
        for text in [
            "",
            "\n",
            "\n\n",
            "a",
            "a\n",
            "a\nb",
            "a\r\nb\r\n",
            "a\r",
            "a\r\r\n",
            "\r\n",
            "\r",
            "a\rb\n",
            "é\nü\r\n\n",
            "\nx",
        ] {
            assert_eq!(
                lines(text).collect::<Vec<_>>(),
                text.lines().collect::<Vec<_>>(),
                "{text:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn lines_are_the_string_lines_for_any_text(text in "[a\r\n:é]{0,24}") {
            proptest::prop_assert_eq!(
                lines(&text).collect::<Vec<_>>(),
                text.lines().collect::<Vec<_>>()
            );
        }
    }
}
