//! Showing byte strings in plans and messages. Linux argv, environment
//! values and paths are bytes, carried as `OsString` end to end; only
//! their display needs text. Valid UTF-8 is shown as is and each byte
//! that is not part of valid UTF-8 as `\xNN` — for reading only: the
//! workload always receives the bytes themselves.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// `word` has a byte below `n` (at most 0x80): the usual word test, which
/// sets the high bit of such a byte and is non-zero only then (exact as a
/// yes or no). With `n = 1` on a word xored with a repeated byte, it tests
/// for that byte. `find`, `may_have_control` and `printable_ascii_lines`
/// share it.
#[inline(always)]
fn has_byte_below(word: u64, n: u8) -> bool {
    word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS != 0
}

/// The index of the first `byte` in `hay`, eight bytes at a time (the
/// usual test for a zero byte in a word). The binary is built with std's
/// size-optimized search, which looks at one byte at a time.
pub fn find(hay: &[u8], byte: u8) -> Option<usize> {
    let pattern = ONES * u64::from(byte);
    let mut at = 0;
    for chunk in hay.chunks_exact(8) {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        // A byte of the xor is zero exactly where `byte` is.
        if has_byte_below(u64::from_le_bytes(word) ^ pattern, 1) {
            break;
        }
        at += 8;
    }
    let tail = hay.get(at..)?;
    tail.iter().position(|&b| b == byte).map(|i| at + i)
}

/// Whether `b` has a byte that can start a control character: below
/// 0x20 (C0), 0x7f (DEL), or 0xc2 (the lead byte of C1's `C2 80..=9F`).
/// Eight bytes at a time: a launch asks it of every log line and policy
/// path, which nearly never have one, and decoding characters to ask
/// `char::is_control` cost some twenty instructions a byte. `false` means
/// no control character; `true`, that the characters must be looked at.
pub fn may_have_control(b: &[u8]) -> bool {
    let mut chunks = b.chunks_exact(8);
    for chunk in chunks.by_ref() {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            return true;
        };
        let x = u64::from_le_bytes(word);
        if has_byte_below(x, 0x20)
            || has_byte_below(x ^ (ONES * 0x7f), 1)
            || has_byte_below(x ^ (ONES * 0xc2), 1)
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&c| c < 0x20 || c == 0x7f || c == 0xc2)
}

/// Whether every byte of `b` is printable ASCII (`' '..='~'`) or `\n`,
/// eight bytes at a time: the YAML reader asks it of a whole policy or
/// CDI spec, a byte at a time some five instructions a byte.
pub fn printable_ascii_lines(b: &[u8]) -> bool {
    let mut chunks = b.chunks_exact(8);
    for chunk in chunks.by_ref() {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            return false;
        };
        if !printable_word(u64::from_le_bytes(word)) {
            return false;
        }
    }
    chunks
        .remainder()
        .iter()
        .all(|c| matches!(c, b'\n' | b' '..=b'~'))
}

/// [`printable_ascii_lines`] of one word, exact for each byte: every sum
/// below stays within its byte, so no carry reaches the next one (as it
/// may in [`has_byte_below`]), and a line's `\n` costs nothing extra.
#[inline(always)]
fn printable_word(x: u64) -> bool {
    const LOW7: u64 = ONES * 0x7f;
    let low = x & LOW7;
    // The high bit of each byte whose low seven bits are 0x20 or more...
    let from_space = (low + ONES * 0x60) & HIGHS;
    // ...and of each whose low seven bits are 0x7f (DEL).
    let del = (low + ONES) & HIGHS;
    // The high bit of each byte that is `\n`: zero after the xor.
    let z = x ^ (ONES * u64::from(b'\n'));
    let newline = !(((z & LOW7) + LOW7) | z) & HIGHS;
    // Printable: no high bit of its own, 0x20 or more, not DEL.
    let printable = from_space & !del & !x;
    (printable | newline) & HIGHS == HIGHS
}

/// The index of the last `byte` in `hay`. For the last slash of a path,
/// a few bytes from its end: std's `str::rfind` costs about 230
/// instructions a call in this build, this loop a few a byte.
pub fn rfind(hay: &[u8], byte: u8) -> Option<usize> {
    hay.iter().rposition(|&b| b == byte)
}

/// The lines of `text` exactly as `str::lines` gives them (split after
/// each `\n`, which is dropped with a `\r` before it). std's splitter, in
/// this size-optimized build a byte at a time behind a general pattern
/// matcher, cost about 400 instructions a line of a launch's small
/// line-based files (`/etc/passwd`, `/proc/self/status`).
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let found = find(rest.as_bytes(), b'\n');
        let end = found.unwrap_or(rest.len());
        // `\n` is ASCII: both cuts are on character boundaries.
        let line = rest.get(..end).unwrap_or_default();
        let next = rest.get(end + 1..).unwrap_or_default();
        let ended = found.is_some();
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
/// cannot forge a line of the supervisor's text log. So are the
/// characters that break or reorder a line as a viewer shows it
/// ([`is_layout`]).
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !has_escaped(s) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(escape_each(s))
}

/// Whether `s` has a character [`escape_controls`] writes out. The
/// characters are decoded only where a word has a byte that can start
/// one: decoding each cost a CDI spec's paths some twenty instructions a
/// byte.
pub fn has_escaped(s: &str) -> bool {
    let b = s.as_bytes();
    (may_have_control(b) || may_have_layout(b)) && s.chars().any(escaped)
}

/// The line and paragraph separators and the bidirectional marks,
/// embeddings, overrides and isolates: not control characters, but a
/// viewer may start a line at one, or show the text after it reordered.
fn is_layout(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

/// Whether [`escape_controls`] writes `c` out: a control character, or
/// one that breaks or reorders a shown line.
pub fn escaped(c: char) -> bool {
    c.is_control() || is_layout(c)
}

/// Whether `b` has a lead byte of an [`is_layout`] character (`D8` for
/// U+061C, `E2` for the rest), eight bytes at a time.
fn may_have_layout(b: &[u8]) -> bool {
    let mut chunks = b.chunks_exact(8);
    for chunk in chunks.by_ref() {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            return true;
        };
        let x = u64::from_le_bytes(word);
        if has_byte_below(x ^ (ONES * 0xe2), 1) || has_byte_below(x ^ (ONES * 0xd8), 1) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&c| c == 0xe2 || c == 0xd8)
}

/// The JSON text `json` with each character that breaks or reorders a
/// line ([`is_layout`]) written as a `\uXXXX` escape: serde_json escapes
/// control characters only, and JSON allows these raw. In JSON text they
/// can stand only inside strings, where the escape means the same.
pub fn escape_json_layout(json: String) -> String {
    if !may_have_layout(json.as_bytes()) || !json.chars().any(is_layout) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_layout(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// `s` with each character [`escape_controls`] escapes written out, as it
/// does once it has found one.
fn escape_each(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if escaped(c) => out.push_str(&format!("\\u{{{:02x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
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

    /// The bytes `may_have_control` looks for, one at a time.
    fn control_lead(b: &[u8]) -> bool {
        b.iter().any(|&c| c < 0x20 || c == 0x7f || c == 0xc2)
    }

    #[test]
    fn may_have_control_finds_each_lead_byte_at_every_place() {
        for n in 0..40usize {
            let plain = vec![b'a'; n];
            assert!(!may_have_control(&plain), "n={n}");
            for at in 0..n {
                for c in [0u8, 0x01, 0x0a, 0x1f, 0x7f, 0xc2] {
                    let mut b = plain.clone();
                    b[at] = c;
                    assert!(may_have_control(&b), "n={n} at={at} c={c:#x}");
                }
                // Next to the ones it looks for: none of them.
                for c in [0x20u8, 0x21, 0x7e, 0x80, 0xc1, 0xc3, 0xff] {
                    let mut b = plain.clone();
                    b[at] = c;
                    assert!(!may_have_control(&b), "n={n} at={at} c={c:#x}");
                }
            }
        }
    }

    #[test]
    fn printable_ascii_lines_at_every_place_and_byte() {
        let ok = |c: u8| c == b'\n' || (b' '..=b'~').contains(&c);
        // Among letters, line ends and the edges of the printable range.
        for fill in [b'a', b'\n', b' ', b'~'] {
            for n in 0..24usize {
                let plain = vec![fill; n];
                assert!(printable_ascii_lines(&plain), "n={n}");
                for at in 0..n {
                    for c in 0..=255u8 {
                        let mut b = plain.clone();
                        b[at] = c;
                        assert_eq!(printable_ascii_lines(&b), ok(c), "n={n} at={at} c={c:#x}");
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn printable_ascii_lines_is_the_byte_test(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            proptest::prop_assert_eq!(
                printable_ascii_lines(&b),
                b.iter().all(|c| matches!(c, b'\n' | b' '..=b'~'))
            );
        }

        #[test]
        fn may_have_control_is_the_byte_test(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            proptest::prop_assert_eq!(may_have_control(&b), control_lead(&b));
        }

        #[test]
        fn no_lead_byte_means_no_control_character(s in "\\PC{0,40}[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}]?\\PC{0,10}") {
            if !may_have_control(s.as_bytes()) {
                proptest::prop_assert!(!s.chars().any(char::is_control));
            }
            // The word test lets through every string the loop would
            // change.
            proptest::prop_assert_eq!(escape_controls(&s).into_owned(), escape_each(&s));
        }

        #[test]
        fn has_escaped_is_the_character_test(s in "\\PC{0,20}[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\u{61c}\u{200e}\u{2028}-\u{202e}\u{2066}-\u{2069}\u{2014}]?\\PC{0,20}") {
            proptest::prop_assert_eq!(has_escaped(&s), s.chars().any(escaped));
        }

        #[test]
        fn no_lead_byte_means_no_layout_character(s in "\\PC{0,40}[\u{61c}\u{200e}\u{200f}\u{2028}-\u{202e}\u{2066}-\u{2069}\u{2014}]?\\PC{0,10}") {
            if !may_have_layout(s.as_bytes()) {
                proptest::prop_assert!(!s.chars().any(is_layout));
            }
            proptest::prop_assert_eq!(escape_controls(&s).into_owned(), escape_each(&s));
        }
    }

    #[test]
    fn line_breaking_and_reordering_characters_are_escaped() {
        assert_eq!(
            escape_controls("a\u{2028}b\u{202e}c\u{2066}d\u{61c}e"),
            "a\\u{2028}b\\u{202e}c\\u{2066}d\\u{61c}e"
        );
        // Their neighbours, and other text with the same lead bytes, stay.
        for s in [
            "a\u{2014}b",
            "\u{2027}\u{202f}\u{2065}\u{206a}",
            "\u{61b}\u{600}",
            "h\u{e9}llo",
        ] {
            assert!(
                matches!(escape_controls(s), std::borrow::Cow::Borrowed(_)),
                "{s:?}"
            );
        }
    }

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

    #[test]
    fn find_finds_the_first_byte_at_every_place_and_length() {
        for n in 0..40usize {
            let hay: Vec<u8> = (0..n).map(|i| b'a' + (i % 7) as u8).collect();
            assert_eq!(find(&hay, b':'), None, "n={n}");
            for at in 0..n {
                let mut h = hay.clone();
                h[at] = b':';
                if at + 1 < n {
                    h[n - 1] = b':';
                }
                assert_eq!(find(&h, b':'), Some(at), "n={n} at={at}");
            }
        }
        // Bytes one off the pattern, and high bytes, are not matches.
        assert_eq!(
            find(&[0x39, 0x3b, 0xba, 0xff, 0x00, 0x80, 0x7f, 0x3a], b':'),
            Some(7)
        );
        assert_eq!(find(&[0x01; 16], 0x00), None);
        assert_eq!(find(&[0x80, 0x81, 0x00], 0x00), Some(2));
    }

    proptest::proptest! {
        #[test]
        fn find_is_position(hay in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40), byte: u8) {
            proptest::prop_assert_eq!(find(&hay, byte), hay.iter().position(|&b| b == byte));
        }

        #[test]
        fn rfind_is_the_string_rfind(text in "[a/é]{0,12}") {
            proptest::prop_assert_eq!(rfind(text.as_bytes(), b'/'), text.rfind('/'));
        }

        #[test]
        fn lines_are_the_string_lines_for_any_text(text in "[a\r\n:é]{0,24}") {
            proptest::prop_assert_eq!(
                lines(&text).collect::<Vec<_>>(),
                text.lines().collect::<Vec<_>>()
            );
        }
    }
}
