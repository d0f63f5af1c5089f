//! Spanned YAML for policy files.
//!
//! Policy files are written by people, so every problem must be reported with
//! the line and column where it occurs. This module parses YAML into a small
//! tree that keeps a [`Mark`] on every node, converts that tree to the policy
//! and CDI models ([`FromNode`]) while collecting *all* errors (each with its
//! position and a stable path such as `network_policies.api.endpoints[0].port`),
//! and emits YAML that parses back to the same value.
//!
//! The accepted YAML is deliberately narrow: one document, no anchors, aliases
//! or tags, scalar mapping keys, bounded nesting and no duplicate keys. Each of
//! these features either lets one file mean different things to different
//! readers or lets a small file cost a lot to load, which a sandbox policy must
//! not allow.

use std::collections::HashSet;

use crate::sort::FastSet;
use std::borrow::Cow;
use std::cell::Cell;
use std::fmt::{self, Write as _};

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};

pub mod direct;
mod simple;

pub use direct::{Direct, Pieces};

/// Deepest nesting of sequences and mappings that [`parse`] accepts; bounds
/// recursion both here and in [`from_node`].
const MAX_DEPTH: usize = 64;

/// Most errors that [`from_node`] reports; finding more ends it with a
/// `too many errors` entry.
pub(crate) const MAX_ERRORS: usize = 64;

/// Most conversion passes [`from_node`] makes. Every pass after the first
/// removes one node, but some removals only clear up follow-on errors, so this
/// also bounds the work on adversarial input.
const MAX_PASSES: usize = 256;

// ---------------------------------------------------------------------------
// Tree
// ---------------------------------------------------------------------------

/// A position in the source; both line and column are 1-based, columns count
/// characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Mark {
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub col: u32,
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A resolved YAML value.
///
/// Mapping keys are always stored as [`Value::Str`] holding the key's text
/// (unescaped for quoted keys): policy code addresses keys by name, and
/// keeping the text means `80:` and `"80":` both read as the key `80`. Keys
/// are still resolved by the core schema for duplicate detection, and
/// [`from_node`] resolves them again when a non-string key type is requested.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// `true` or `false` in any of the core schema's spellings.
    Bool(bool),
    /// A decimal, `0o` octal or `0x` hex integer.
    Int(i128),
    /// A float, including `.inf` and `.nan`.
    Float(f64),
    /// Any quoted or block scalar, and plain scalars that are nothing else.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order, without duplicate keys.
    Map(Vec<(Node, Node)>),
}

/// A value together with where it starts in the source.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub value: Value,
    /// Where it starts: a scalar's first character (a quoted one's opening
    /// quote), a mapping's first key, a sequence's `-` or `[`.
    pub mark: Mark,
}

/// Options for [`parse`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ParseOptions {
    /// Read plain scalars such as `0666` (a leading zero followed only by
    /// octal digits) as octal integers, as Go's YAML 1.1 decoder does. CDI
    /// specs rely on this for `fileMode`. Off by default, giving the YAML 1.2
    /// core schema, where `0666` is decimal 666.
    pub yaml11_octal: bool,
}

/// Why [`parse`] rejected its input.
#[derive(Clone, Debug, PartialEq)]
pub struct YamlError {
    /// Where the problem is.
    pub mark: Mark,
    /// What it is, in lowercase prose.
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.mark, self.message)
    }
}

impl std::error::Error for YamlError {}

/// Parses exactly one YAML document into a [`Node`] tree.
///
/// An empty stream is `null` at 1:1.
///
/// # Errors
///
/// Invalid YAML, more than one document, anchors, aliases, tags, non-scalar
/// or duplicate keys, and nesting deeper than 64 levels.
pub fn parse(src: &str, opts: ParseOptions) -> Result<Node, YamlError> {
    if let Some(root) = simple::load(src, opts) {
        return Ok(root);
    }
    parse_general(src, opts)
}

/// What each of [`parse`]'s two readers makes of `src`: the simple
/// reader's tree (`None` where it leaves the document to the other) and the
/// general reader's. For the differential tests and fuzz target, which
/// hold the first to the second wherever it answers.
#[doc(hidden)]
pub fn both_readers(src: &str, opts: ParseOptions) -> (Option<Node>, Result<Node, YamlError>) {
    (simple::load(src, opts), parse_general(src, opts))
}

/// [`parse`] by the general scanner alone.
fn parse_general(src: &str, opts: ParseOptions) -> Result<Node, YamlError> {
    if let Some(e) = other_yaml_version(src, opts) {
        return Err(e);
    }
    let widths = line_widths(src);
    // YAML allows only its printable characters in a stream (a control
    // character only as an escape in a double-quoted scalar); saphyr
    // finds some of the others, not all, and would read an ESC or a DEL
    // into a value.
    if let Some(mark) = first_unprintable(src) {
        return Err(YamlError {
            mark: clamp(mark, &widths),
            message: "found unprintable character".into(),
        });
    }
    match load(src, opts) {
        Ok(mut root) => {
            clamp_marks(&mut root, &widths);
            Ok(root)
        }
        Err(e) => {
            // saphyr's mark for this one can be off by the length of what
            // it skipped; the first such character is where the text
            // stops being YAML.
            let mark = match e.message.as_str() {
                "found unprintable character" => first_unprintable(src).unwrap_or(e.mark),
                _ => e.mark,
            };
            Err(YamlError {
                mark: clamp(mark, &widths),
                message: e.message,
            })
        }
    }
}

/// A `%YAML` directive for another version than 1.2, whose rules this
/// reader applies: under `%YAML 1.1`, `01750` would be octal and `yes` a
/// boolean, so accepting the directive would read the document otherwise
/// than it declares. Directives stand at the start of a line, before the
/// document's `---`.
///
/// With YAML 1.1's octal (CDI specs, read as the reference's Go reader
/// reads them), no version describes the reading, so any `%YAML` is
/// refused: under `%YAML 1.2`, `0666` would be decimal.
fn other_yaml_version(src: &str, opts: ParseOptions) -> Option<YamlError> {
    for (i, line) in lines(src).enumerate() {
        let line = line.trim_start_matches('\u{feff}');
        if line.starts_with("---")
            || !(line.starts_with('%') || line.starts_with('#') || line.trim().is_empty())
        {
            return None;
        }
        let Some(rest) = line.strip_prefix("%YAML") else {
            continue;
        };
        let version = rest.split('#').next().unwrap_or_default().trim();
        let message = if opts.yaml11_octal {
            format!(
                "%YAML {version}: a CDI spec is read as its reference reads one (YAML 1.2, with YAML 1.1's octal: 0666 is 438), which no version directive says; remove the directive"
            )
        } else if version != "1.2" {
            format!(
                "%YAML {version}: this reader applies YAML 1.2 (where 0755 is decimal and only true/false are booleans); write %YAML 1.2 or remove the directive"
            )
        } else {
            continue;
        };
        return Some(YamlError {
            mark: Mark {
                line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                col: 1,
            },
            message,
        });
    }
    None
}

/// The lines of `src` as YAML breaks them: at `\n`, `\r\n` and a lone
/// `\r`.
pub fn lines(src: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(src);
    std::iter::from_fn(move || {
        let text = rest?;
        match text.find(['\n', '\r']) {
            Some(at) => {
                let skip = if text.get(at..at + 2) == Some("\r\n") {
                    2
                } else {
                    1
                };
                rest = text.get(at + skip..);
                text.get(..at)
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// The number of characters on each line; YAML breaks lines at `\n`,
/// `\r\n` and a lone `\r`.
fn line_widths(text: &str) -> Vec<u32> {
    let mut widths = vec![0u32];
    let mut prev_cr = false;
    for c in text.chars() {
        match c {
            '\n' if prev_cr => {}
            '\n' | '\r' => widths.push(0),
            _ => {
                if let Some(w) = widths.last_mut() {
                    *w = w.saturating_add(1);
                }
            }
        }
        prev_cr = c == '\r';
    }
    widths
}

/// saphyr places what it finds at the end of input (an error, an empty
/// key, value or document) on the line after the last one when the text
/// does not end with a line break, and some errors past the end of their
/// line; point at the end of that line (or of the last one) instead, so
/// an author is never sent to a place that does not exist.
fn clamp(mark: Mark, widths: &[u32]) -> Mark {
    let last = to_u32(widths.len()).max(1);
    let line = mark.line.clamp(1, last);
    let end = widths
        .get(line as usize - 1)
        .map_or(1, |w| w.saturating_add(1));
    let col = if mark.line > last {
        end
    } else {
        mark.col.clamp(1, end)
    };
    Mark { line, col }
}

/// [`clamp`] every mark in the tree.
fn clamp_marks(node: &mut Node, widths: &[u32]) {
    node.mark = clamp(node.mark, widths);
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(|n| clamp_marks(n, widths)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            clamp_marks(k, widths);
            clamp_marks(v, widths);
        }),
        _ => {}
    }
}

/// Where the first character outside YAML's printable set is.
fn first_unprintable(text: &str) -> Option<Mark> {
    let (mut line, mut col, mut prev_cr) = (1u32, 1u32, false);
    for c in text.chars() {
        match c {
            '\n' if prev_cr => {}
            '\n' | '\r' => {
                line = line.saturating_add(1);
                col = 1;
            }
            '\t' => col = col.saturating_add(1),
            c if !printable(c) => return Some(Mark { line, col }),
            _ => col = col.saturating_add(1),
        }
        prev_cr = c == '\r';
    }
    None
}

fn load(src: &str, opts: ParseOptions) -> Result<Node, YamlError> {
    let mut loader = Loader {
        events: Parser::new_from_str(src),
        src,
        line_starts: std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect(),
        opts,
    };
    // The first event is always the stream start.
    loader.next()?;
    let (event, span) = loader.next()?;
    let root = match event {
        Event::StreamEnd => {
            return Ok(Node {
                value: Value::Null,
                mark: Mark { line: 1, col: 1 },
            });
        }
        Event::DocumentStart(_) => {
            let (event, span) = loader.next()?;
            loader.node(event, span, 0)?
        }
        _ => return Err(unexpected(span)),
    };
    loop {
        let (event, span) = loader.next()?;
        match event {
            Event::DocumentEnd => {}
            Event::StreamEnd => return Ok(root),
            Event::DocumentStart(_) => {
                return Err(err_at(span, "multiple YAML documents are not supported"));
            }
            _ => return Err(unexpected(span)),
        }
    }
}

/// Builds the tree from saphyr's event stream.
struct Loader<'s, I> {
    events: I,
    src: &'s str,
    /// Byte offset of each line, to find the `-` of a block sequence.
    line_starts: Vec<usize>,
    opts: ParseOptions,
}

impl<'s, I> Loader<'s, I>
where
    I: Iterator<Item = Result<(Event<'s>, Span), ScanError>>,
{
    fn next(&mut self) -> Result<(Event<'s>, Span), YamlError> {
        match self.events.next() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => Err(scan_error(&e)),
            None => Err(YamlError {
                mark: Mark { line: 1, col: 1 },
                message: "unexpected end of input".into(),
            }),
        }
    }

    /// Loads the node that starts with `event`; `depth` counts the
    /// collections around it.
    fn node(&mut self, event: Event<'s>, span: Span, depth: usize) -> Result<Node, YamlError> {
        let mut mark = mark_of(span);
        let value = match event {
            Event::Scalar(text, style, anchor, tag) => {
                no_anchor_or_tag(span, anchor, tag.is_some())?;
                self.scalar(&text, style)
            }
            Event::SequenceStart(anchor, tag) => {
                no_anchor_or_tag(span, anchor, tag.is_some())?;
                let depth = enter(span, depth)?;
                mark = self.dash_mark(span);
                let mut items = Vec::new();
                loop {
                    match self.next()? {
                        (Event::SequenceEnd, _) => break,
                        (event, span) => items.push(self.node(event, span, depth)?),
                    }
                }
                Value::Seq(items)
            }
            Event::MappingStart(anchor, tag) => {
                no_anchor_or_tag(span, anchor, tag.is_some())?;
                let depth = enter(span, depth)?;
                Value::Map(self.entries(depth)?)
            }
            Event::Alias(_) => return Err(err_at(span, "anchors and aliases are not supported")),
            _ => return Err(unexpected(span)),
        };
        Ok(Node { value, mark })
    }

    /// Loads mapping entries up to the mapping's end, rejecting complex and
    /// duplicate keys.
    fn entries(&mut self, depth: usize) -> Result<Vec<(Node, Node)>, YamlError> {
        let mut entries = Vec::new();
        // Keys are duplicates if they resolve to the same value (`1` and
        // `0x1`) or have the same text (`1` and `"1"`, which this module
        // hands out as the same string).
        // std's keyed hash: a document's keys are its author's, and a
        // policy file the workload could rewrite is read before the plan
        // refuses it; a mapping of chosen colliding keys must not make
        // this quadratic. The general reader only (`simple` reads the
        // common shape without a set).
        let mut seen_values = HashSet::new();
        let mut seen_texts = HashSet::new();
        loop {
            let (event, span) = self.next()?;
            let key = match event {
                Event::MappingEnd => return Ok(entries),
                Event::Scalar(text, style, anchor, tag) => {
                    no_anchor_or_tag(span, anchor, tag.is_some())?;
                    let resolved = KeyId::of(&self.scalar(&text, style));
                    if !seen_values.insert(resolved) | !seen_texts.insert(text.to_string()) {
                        return Err(err_at(span, &format!("duplicate key {}", quote(&text))));
                    }
                    Node {
                        value: Value::Str(text.into_owned()),
                        mark: mark_of(span),
                    }
                }
                Event::Alias(_) => {
                    return Err(err_at(span, "anchors and aliases are not supported"));
                }
                Event::SequenceStart(..) | Event::MappingStart(..) => {
                    return Err(err_at(span, "mapping keys must be scalars"));
                }
                _ => return Err(unexpected(span)),
            };
            let (event, span) = self.next()?;
            let value = self.node(event, span, depth)?;
            entries.push((key, value));
        }
    }

    fn scalar(&self, text: &str, style: ScalarStyle) -> Value {
        match style {
            ScalarStyle::Plain => resolve(text, self.opts),
            _ => Value::Str(text.to_owned()),
        }
    }

    /// saphyr places an indentless block sequence (`key:\n- a`) at its first
    /// item rather than at the `-`; step back over blanks to the dash so the
    /// sequence's mark points at its first line's `-`.
    fn dash_mark(&self, span: Span) -> Mark {
        let mark = mark_of(span);
        if span.start != span.end {
            return mark; // flow sequence: the span covers the `[`
        }
        let line = span.start.line().saturating_sub(1);
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        let end = self
            .line_starts
            .get(line + 1)
            .copied()
            .unwrap_or(self.src.len());
        let Some(text) = self.src.get(start..end) else {
            return mark;
        };
        let before: Vec<char> = text.chars().take(span.start.col() + 1).collect();
        if before.get(span.start.col()) == Some(&'-') {
            return mark;
        }
        let dash = before
            .iter()
            .take(span.start.col())
            .rposition(|c| *c != ' ' && *c != '\t');
        match dash {
            Some(col) if before.get(col) == Some(&'-') => Mark {
                line: mark.line,
                col: to_u32(col + 1),
            },
            _ => mark,
        }
    }
}

fn unexpected(span: Span) -> YamlError {
    err_at(span, "unexpected YAML structure")
}

/// The depth inside a new collection, if that is still allowed.
fn enter(span: Span, depth: usize) -> Result<usize, YamlError> {
    let depth = depth + 1;
    if depth > MAX_DEPTH {
        return Err(err_at(span, "nesting deeper than 64 levels"));
    }
    Ok(depth)
}

fn no_anchor_or_tag(span: Span, anchor: usize, tagged: bool) -> Result<(), YamlError> {
    if anchor != 0 {
        return Err(err_at(span, "anchors and aliases are not supported"));
    }
    if tagged {
        return Err(err_at(span, "tags are not supported"));
    }
    Ok(())
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn mark_of(span: Span) -> Mark {
    Mark {
        line: to_u32(span.start.line().max(1)),
        col: to_u32(span.start.col() + 1),
    }
}

fn err_at(span: Span, message: &str) -> YamlError {
    YamlError {
        mark: mark_of(span),
        message: message.to_owned(),
    }
}

/// saphyr's messages are already lowercase prose without a location (its
/// `Display` appends one, `info` does not); normalise the first letter and any
/// trailing period anyway so every message here reads the same way.
fn scan_error(e: &ScanError) -> YamlError {
    let info = e.info().trim().trim_end_matches('.');
    // An alias to an undefined anchor fails inside saphyr before this module
    // sees the alias; report it like any other alias.
    if info.contains("unknown anchor") {
        return YamlError {
            mark: mark_of(Span::empty(*e.marker())),
            message: "anchors and aliases are not supported".into(),
        };
    }
    let mut chars = info.chars();
    let message = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "invalid YAML".to_owned(),
    };
    YamlError {
        mark: mark_of(Span::empty(*e.marker())),
        message,
    }
}

/// A resolved key, hashable so duplicate checks stay linear.
#[derive(PartialEq, Eq, Hash)]
enum KeyId {
    Null,
    Bool(bool),
    Int(i128),
    Float(u64),
    Str(String),
}

impl KeyId {
    fn of(v: &Value) -> KeyId {
        match v {
            Value::Null | Value::Seq(_) | Value::Map(_) => KeyId::Null,
            Value::Bool(b) => KeyId::Bool(*b),
            Value::Int(i) => KeyId::Int(*i),
            // `0.0` and `-0.0` are the same key.
            Value::Float(f) => KeyId::Float(if *f == 0.0 { 0 } else { f.to_bits() }),
            Value::Str(s) => KeyId::Str(s.clone()),
        }
    }
}

/// Resolves a plain scalar by the YAML 1.2 core schema (plus optional YAML
/// 1.1 octal), falling back to a string.
fn resolve(s: &str, opts: ParseOptions) -> Value {
    typed(s, opts).unwrap_or_else(|| Value::Str(s.to_owned()))
}

/// What a plain scalar resolves to when that is not a string (`None` for
/// a string, which needs no copy to be compared or read).
fn typed(s: &str, opts: ParseOptions) -> Option<Value> {
    // Every null, boolean and number of the core schema starts with one of
    // these; anything else (a path, a name) is a string without the tests
    // below, which cost a launch thousands of instructions per path.
    match s.bytes().next() {
        Some(b) if !typed_first(b) => None,
        // Numbers start with a digit, a sign or a dot: a word such as
        // `name` or `type` (a key, mostly) is a null, a boolean or a string.
        // By bytes: a `match` on the strings called `memcmp` for every
        // spelling of the same length (six for `name` and `type`).
        // A sign starts a number only before a digit or a dot (`-1`,
        // `+.inf`): `--link`, a hook's argument, is a string.
        Some(b'-' | b'+') if !matches!(s.as_bytes().get(1), Some(b'0'..=b'9' | b'.')) => None,
        Some(b'~' | b'n' | b'N' | b't' | b'T' | b'f' | b'F') => match s.as_bytes() {
            b"~" | [b'n' | b'N', b'u', b'l', b'l'] | b"NULL" => Some(Value::Null),
            [b't' | b'T', b'r', b'u', b'e'] | b"TRUE" => Some(Value::Bool(true)),
            [b'f' | b'F', b'a', b'l', b's', b'e'] | b"FALSE" => Some(Value::Bool(false)),
            _ => None,
        },
        _ => match decimal(s, opts) {
            Some(n) => Some(Value::Int(n)),
            None => match resolve_typed(s, opts) {
                Value::Str(_) => None,
                v => Some(v),
            },
        },
    }
}

/// A short run of decimal digits as the integer [`resolve_typed`] reads
/// it, without its other tests and `i128`'s parser (device numbers, ids
/// and modes, in every spec and many policies); `None` for anything else,
/// and for YAML 1.1 octal (a leading zero), which is left to it.
fn decimal(s: &str, opts: ParseOptions) -> Option<i128> {
    let b = s.as_bytes();
    if b.is_empty()
        || b.len() > 18
        || (opts.yaml11_octal && b.len() > 1 && b.first() == Some(&b'0'))
    {
        return None;
    }
    b.iter().try_fold(0i128, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + i128::from(d - b'0'))
    })
}

/// The first bytes of the core schema's nulls, booleans and numbers, as
/// a list (the tests hold [`typed_first`] to it).
#[cfg(test)]
const TYPED_FIRST: &[u8] = b"~nNtTfF0123456789+-.";

/// Whether `b` can start a null, a boolean or a number of the core
/// schema. A match: a list's `contains` is a call to a byte-at-a-time
/// memchr in this build, once per scalar.
fn typed_first(b: u8) -> bool {
    matches!(
        b,
        b'~' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'0'..=b'9' | b'+' | b'-' | b'.'
    )
}

/// [`resolve`] without the shortcut for scalars that cannot be typed.
fn resolve_typed(s: &str, opts: ParseOptions) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let octal = |d: &str| !d.is_empty() && d.bytes().all(|b| matches!(b, b'0'..=b'7'));
    // YAML 1.1's octal takes a sign too (`[-+]?0[0-7]+`), as Go's reader
    // of CDI specs does: `+0100` is 64 there, not 100.
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if opts.yaml11_octal
        && body.len() > 1
        && body.starts_with('0')
        && octal(body)
        && let Ok(n) = i128::from_str_radix(body, 8)
    {
        return Value::Int(if negative { -n } else { n });
    }
    // Digits are checked first because `from_str_radix` also accepts a sign.
    if let Some(d) = s.strip_prefix("0o").filter(|d| octal(d)) {
        return i128::from_str_radix(d, 8).map_or_else(|_| Value::Str(s.into()), Value::Int);
    }
    if let Some(d) = s
        .strip_prefix("0x")
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return i128::from_str_radix(d, 16).map_or_else(|_| Value::Str(s.into()), Value::Int);
    }
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    // An integer too large for i128 is still a number: it falls through to
    // the float reading below.
    if all_digits(unsigned)
        && let Ok(n) = s.parse::<i128>()
    {
        return Value::Int(n);
    }
    match float(s) {
        Some(f) => Value::Float(f),
        None => Value::Str(s.to_owned()),
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The core schema's float forms. Checked by hand first because Rust's own
/// float parser also takes words such as `inf` and `NaN`.
fn float(s: &str) -> Option<f64> {
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (body, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (int.is_empty() || all_digits(int))
                && (frac.is_empty() || all_digits(frac))
                && !(int.is_empty() && frac.is_empty())
        }
        None => all_digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| all_digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    if mantissa_ok && exponent_ok {
        s.parse().ok()
    } else {
        None
    }
}

// ---------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------

/// Appends a mapping key to a path: `a.b` for simple keys, `a["x y"]` (JSON
/// escaped) for anything else so that paths stay unambiguous.
#[must_use]
pub fn join_key(parent: &str, key: &str) -> String {
    let simple = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    // Spelled by hand: readers such as the CDI spec's build the paths of
    // every entry whether or not it has an error, and the formatting
    // machinery cost a launch about 900 instructions a path.
    match (simple, parent.is_empty()) {
        (true, true) => key.to_owned(),
        (true, false) => {
            let mut path = String::with_capacity(parent.len() + 1 + key.len());
            path.push_str(parent);
            path.push('.');
            path.push_str(key);
            path
        }
        (false, _) => format!("{parent}[{}]", quote(key)),
    }
}

/// Appends a sequence index to a path: `a[3]`.
#[must_use]
pub fn join_index(parent: &str, i: usize) -> String {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = i;
    loop {
        at -= 1;
        // `n % 10` is a digit.
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut path = String::with_capacity(parent.len() + 2 + digits.len() - at);
    path.push_str(parent);
    path.push('[');
    for &d in &digits[at..] {
        path.push(char::from(d));
    }
    path.push(']');
    path
}

/// The mark of the node at `path` (`""` is the root).
#[must_use]
pub fn locate(root: &Node, path: &str) -> Option<Mark> {
    walk(root, path).map(|(_, node)| node.mark)
}

/// The mark of the key of the mapping entry at `path`; `None` for the root,
/// sequence items and missing paths.
#[must_use]
pub fn key_mark(root: &Node, path: &str) -> Option<Mark> {
    walk(root, path).and_then(|(key, _)| key.map(|k| k.mark))
}

/// Finds a node by building each child's path with the same `join_*`
/// functions used for error paths, so the two can never disagree.
fn walk<'a>(root: &'a Node, path: &str) -> Option<(Option<&'a Node>, &'a Node)> {
    let within = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    };
    let (mut here, mut key, mut node) = (String::new(), None, root);
    // Every step makes `here` a strictly longer prefix of `path`, so this ends.
    while here != path {
        let next = match &node.value {
            Value::Map(entries) => entries.iter().find_map(|(k, v)| {
                let p = join_key(&here, &key_text(k));
                within(&p).then_some((p, Some(k), v))
            }),
            // The item the path names, by the index it spells (a walk over
            // the items made locating errors in a long list quadratic).
            Value::Seq(items) => path
                .get(here.len()..)
                .and_then(|rest| rest.strip_prefix('['))
                .and_then(|rest| rest.split(']').next())
                .and_then(|digits| digits.parse::<usize>().ok())
                .and_then(|i| {
                    let p = join_index(&here, i);
                    let v = items.get(i)?;
                    within(&p).then_some((p, None, v))
                }),
            _ => None,
        };
        (here, key, node) = next?;
    }
    Some((key, node))
}

/// The text of a mapping key. Keys from [`parse`] are always strings; other
/// scalars only occur in hand-built trees and are written as YAML would.
fn key_text(key: &Node) -> Cow<'_, str> {
    match &key.value {
        Value::Str(s) => Cow::Borrowed(s),
        Value::Null => Cow::Borrowed("null"),
        Value::Bool(b) => Cow::Owned(b.to_string()),
        Value::Int(i) => Cow::Owned(i.to_string()),
        Value::Float(f) => Cow::Owned(f.to_string()),
        Value::Seq(_) | Value::Map(_) => Cow::Borrowed("?"),
    }
}

/// A double-quoted string that is valid both as JSON and as YAML. Besides
/// JSON's required escapes it escapes everything YAML treats as a line break,
/// a byte-order mark or unprintable, so the text survives a round trip.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if !printable(c) || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                // Only BMP code points get here, so four digits suffice.
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// YAML's printable set, minus the tab and line breaks.
fn printable(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        || u32::from(c) >= 0x1_0000
}

// ---------------------------------------------------------------------------
// Conversion errors
// ---------------------------------------------------------------------------

/// One problem found by [`from_node`].
#[derive(Clone, Debug, PartialEq)]
pub struct DeError {
    /// Where the problem is: the offending node, the key of an unknown
    /// field, or the mapping that lacks a required field.
    pub mark: Mark,
    /// Where the problem is, in [`join_key`]/[`join_index`] syntax; `""` is
    /// the root.
    pub path: String,
    /// What is wrong, in lowercase prose.
    pub message: String,
    /// A suggestion such as `did you mean "color"?`.
    pub hint: Option<String>,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.mark)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// Whether `path` is `ancestor` or lies below it.
fn is_inside(path: &str, ancestor: &str) -> bool {
    ancestor.is_empty()
        || path
            .strip_prefix(ancestor)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// Adds an error unless it is already known (passes repeat work); `false`
/// when there is no room for it.
fn record(errors: &mut Vec<DeError>, e: DeError) -> bool {
    if errors.contains(&e) {
        true
    } else if errors.len() >= MAX_ERRORS {
        false
    } else {
        errors.push(e);
        true
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Str(_) => "a string",
        Value::Seq(_) => "a list",
        Value::Map(_) => "a mapping",
    }
}

/// A hint for a misspelt name: the closest candidate when it is close
/// enough, else the full list.
fn suggest(word: &str, candidates: &[&str]) -> Option<String> {
    let closest = candidates
        .iter()
        .map(|c| (edit_distance(word, c), c))
        .min_by_key(|(d, _)| *d);
    match closest {
        Some((d, c)) => {
            let len = c.chars().count();
            if d < len && (d <= 2 || d * 3 <= len) {
                Some(format!("did you mean {}?", quote(c)))
            } else {
                Some(format!("expected one of: {}", candidates.join(", ")))
            }
        }
        None => None,
    }
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = Vec::with_capacity(b.len() + 1);
        row.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let replace = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let delete = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let insert = row.last().copied().unwrap_or(0) + 1;
            row.push(replace.min(delete).min(insert));
        }
        prev = row;
    }
    prev.last().copied().unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Conversion
// ---------------------------------------------------------------------------

/// A type that [`from_node`] can build.
///
/// This is the crate's replacement for serde's `Deserialize` on the policy
/// and CDI models. serde's derived visitors are generic over the
/// deserializer and over every field type, so each struct, `Vec`, `Option`
/// and map in the models produced its own copy of the visiting, type
/// checking and error plumbing in the binary. Here that work is done once,
/// by the non-generic methods of [`Cursor`]; an implementation (mostly
/// written by [`from_node_struct!`] and [`from_node_enum!`]) only says which
/// key goes to which field. Behaviour is serde's as this module drove it:
/// the same messages, positions and error paths.
pub trait FromNode: Sized {
    /// Builds the value at `c`.
    ///
    /// # Errors
    ///
    /// The first problem found; see [`Fail`].
    fn from_node(c: &Cursor<'_>) -> Result<Self, Fail>;

    /// Adds the struct fields of this type, and of the types inside it, to
    /// `out` by path (`.field`, `[]` for list items, `{}` for map values),
    /// so tests can hold the model against the JSON schema.
    fn fields(_path: &str, _out: &mut FieldMap) {}
}

/// Struct fields by path, see [`FromNode::fields`].
pub type FieldMap = std::collections::BTreeMap<String, std::collections::BTreeSet<&'static str>>;

/// Why one conversion pass stopped (soft errors such as unknown fields do
/// not stop it). Errors raised without a position take the position of the
/// innermost [`Cursor`] method they pass through, which is the offending
/// node for everything except `missing field` (the mapping that lacks it)
/// and [`Fail::custom`] errors.
#[derive(Debug)]
pub struct Fail {
    message: String,
    hint: Option<String>,
    at: Option<(Mark, String)>,
    /// The field name, for `missing field` errors.
    missing: Option<&'static str>,
}

impl Fail {
    /// An error without a position: it is reported at the collection (or
    /// struct) around the value that raised it, as serde placed errors
    /// raised outside the deserializer, such as an untagged enum's.
    #[must_use]
    pub fn custom(message: &str) -> Fail {
        Fail {
            message: message.to_owned(),
            hint: None,
            at: None,
            missing: None,
        }
    }

    /// `duplicate field "name"`, for a field given under two of its names.
    #[must_use]
    pub fn duplicate(field: &str) -> Fail {
        Fail::custom(&format!("duplicate field {}", quote(field)))
    }
}

/// State shared by one conversion pass.
struct Ctx<'s> {
    /// Paths hidden by earlier passes.
    skip: &'s FastSet<String>,
    /// Soft errors so far.
    errors: std::cell::RefCell<Vec<DeError>>,
    /// Set when a soft error had to be dropped for lack of room.
    full: Cell<bool>,
}

impl Ctx<'_> {
    fn soft_error(&self, e: DeError) {
        if !record(&mut self.errors.borrow_mut(), e) {
            self.full.set(true);
        }
    }
}

/// A node being converted: where it is, and the pass it belongs to.
pub struct Cursor<'a> {
    node: &'a Node,
    place: Place<'a>,
    ctx: &'a Ctx<'a>,
}

/// Where a cursor is, spelled as a path (`a.b[3]`) only when someone asks:
/// an error, or a pass that hides nodes. Spelling every node's path up
/// front was a tenth of reading a CDI spec.
#[derive(Clone, Copy)]
enum Place<'a> {
    Root,
    Key(&'a Place<'a>, &'a Node),
    Index(&'a Place<'a>, usize),
}

impl Place<'_> {
    fn path(&self) -> String {
        match self {
            Place::Root => String::new(),
            Place::Key(parent, key) => join_key(&parent.path(), &key_text(key)),
            Place::Index(parent, i) => join_index(&parent.path(), *i),
        }
    }
}

type Res<T> = Result<T, Fail>;

impl<'a> Cursor<'a> {
    fn child(&self, node: &'a Node, place: Place<'a>) -> Cursor<'a> {
        Cursor {
            node,
            place,
            ctx: self.ctx,
        }
    }

    /// The node's path in the document (`a.b[3]`).
    fn path(&self) -> String {
        self.place.path()
    }

    /// Whether the node at `place` is hidden in this pass.
    fn hidden(&self, place: &Place<'_>) -> bool {
        !self.ctx.skip.is_empty() && self.ctx.skip.contains(&place.path())
    }

    /// The node's value.
    #[must_use]
    pub fn value(&self) -> &'a Value {
        &self.node.value
    }

    /// Whether the node is `null`.
    #[must_use]
    pub fn is_null(&self) -> bool {
        matches!(self.node.value, Value::Null)
    }

    /// An error at this node.
    #[must_use]
    pub fn fail(&self, message: String) -> Fail {
        Fail {
            at: Some((self.node.mark, self.path())),
            ..Fail::custom("")
        }
        .with_message(message)
    }

    /// Gives an error without a position this node's.
    #[must_use]
    pub fn place(&self, mut e: Fail) -> Fail {
        e.at.get_or_insert_with(|| (self.node.mark, self.path()));
        e
    }

    fn expected(&self, what: &str) -> Fail {
        self.fail(format!(
            "expected {what}, found {}",
            describe(&self.node.value)
        ))
    }

    /// `expected <expecting>, found <what the node is>` in the words of
    /// serde's default visitor methods, for values that accept strings and
    /// 64-bit integers but not this node.
    #[must_use]
    pub fn invalid(&self, expecting: &str) -> Fail {
        let found = match &self.node.value {
            Value::Int(n) => format!("integer `{n}` as i128"),
            v => describe(v).to_owned(),
        };
        self.fail(format!("expected {expecting}, found {found}"))
    }

    /// A `missing field` error at this mapping.
    #[must_use]
    pub fn missing(&self, field: &'static str) -> Fail {
        Fail {
            missing: Some(field),
            ..self.fail(format!("missing field {}", quote(field)))
        }
    }

    /// A string; other scalars are errors (the author should quote them).
    ///
    /// # Errors
    ///
    /// Anything but a string.
    pub fn string(&self) -> Res<String> {
        match &self.node.value {
            Value::Str(s) => Ok(s.clone()),
            _ => Err(self.expected("a string")),
        }
    }

    /// A boolean.
    ///
    /// # Errors
    ///
    /// Anything but `true` or `false`.
    pub fn bool(&self) -> Res<bool> {
        match self.node.value {
            Value::Bool(b) => Ok(b),
            _ => Err(self.expected("a boolean")),
        }
    }

    /// An integer in `min..=max`.
    ///
    /// # Errors
    ///
    /// Anything but an integer, or one out of range.
    pub fn int(&self, min: i128, max: i128) -> Res<i128> {
        match self.node.value {
            Value::Int(n) if n >= min && n <= max => Ok(n),
            Value::Int(n) => {
                Err(self.fail(format!("expected an integer in {min}..={max}, found {n}")))
            }
            _ => Err(self.expected("an integer")),
        }
    }

    /// Calls `each` on every item of a list that is not hidden.
    ///
    /// # Errors
    ///
    /// Not a list, or the first error of `each`.
    pub fn seq(&self, each: &mut dyn FnMut(&Cursor<'_>) -> Res<()>) -> Res<()> {
        let r = match &self.node.value {
            Value::Seq(items) => items.iter().enumerate().try_for_each(|(i, n)| {
                let place = Place::Index(&self.place, i);
                if self.hidden(&place) {
                    return Ok(());
                }
                each(&self.child(n, place))
            }),
            _ => Err(self.expected("a list")),
        };
        r.map_err(|e| self.place(e))
    }

    /// The entries of a mapping that are not hidden: `(key, value)`.
    fn entries(&self) -> Vec<(&'a Node, &'a Node)> {
        match &self.node.value {
            Value::Map(entries) => entries
                .iter()
                .filter(|(k, _)| !self.hidden(&Place::Key(&self.place, k)))
                .map(|(k, v)| (k, v))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Calls `each` with the key and value of every entry of a mapping that
    /// is not hidden.
    ///
    /// # Errors
    ///
    /// Not a mapping, or the first error of `each`.
    pub fn map(&self, each: &mut dyn FnMut(String, &Cursor<'_>) -> Res<()>) -> Res<()> {
        let r = match &self.node.value {
            Value::Map(_) => self.entries().into_iter().try_for_each(|(k, v)| {
                each(
                    key_text(k).into_owned(),
                    &self.child(v, Place::Key(&self.place, k)),
                )
            }),
            _ => Err(self.expected("a mapping")),
        };
        r.map_err(|e| self.place(e))
    }

    /// Walks a mapping that holds a struct. `names` are the accepted keys,
    /// each with the number of the field it sets; `each` gets that number
    /// and the value. Other keys are recorded as unknown fields (with a
    /// did-you-mean hint) and skipped without stopping the pass.
    ///
    /// # Errors
    ///
    /// Not a mapping, or the first error of `each`.
    pub fn fields(
        &self,
        names: &[(&str, u8)],
        each: &mut dyn FnMut(u8, &Cursor<'_>) -> Res<()>,
    ) -> Res<()> {
        let r = match &self.node.value {
            Value::Map(_) => self.entries().into_iter().try_for_each(|(k, v)| {
                let name = key_text(k);
                let place = Place::Key(&self.place, k);
                match names.iter().find(|(n, _)| *n == name) {
                    Some((_, slot)) => each(*slot, &self.child(v, place)),
                    // Past the errors that are kept, another is only
                    // "too many": no suggestion is worked out for it.
                    None if self.ctx.full.get() => Ok(()),
                    None => {
                        let all: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
                        self.ctx.soft_error(DeError {
                            mark: k.mark,
                            path: place.path(),
                            message: format!("unknown field {}", quote(&name)),
                            hint: suggest(&name, &all),
                        });
                        Ok(())
                    }
                }
            }),
            _ => Err(self.expected("a mapping")),
        };
        r.map_err(|e| self.place(e))
    }

    /// Reads an externally tagged enum, written `variant` or
    /// `{variant: value}`: the index of the variant in `names`, and what
    /// follows it.
    ///
    /// # Errors
    ///
    /// An unknown variant (at the name), or a node of another shape.
    pub fn variant<'s>(&'s self, names: &[&str]) -> Res<(usize, Variant<'s>)> {
        let entries;
        let (name, value) = match &self.node.value {
            Value::Str(_) => (self.child(self.node, self.place), None),
            Value::Map(_) => {
                entries = self.entries();
                match entries.as_slice() {
                    [(key, value)] => (
                        self.child(key, Place::Key(&self.place, key)),
                        Some(self.child(value, Place::Key(&self.place, key))),
                    ),
                    _ => return Err(self.expected("a string or a single-key mapping")),
                }
            }
            _ => return Err(self.expected("a string or a single-key mapping")),
        };
        let text = key_text(name.node);
        match names.iter().position(|n| *n == text) {
            Some(i) => Ok((i, Variant { name, value })),
            None => Err(Fail {
                hint: suggest(&text, names),
                ..name.fail(format!("unknown variant {}", quote(&text)))
            }),
        }
    }
}

impl Fail {
    fn with_message(mut self, message: String) -> Fail {
        self.message = message;
        self
    }
}

/// What follows the name of an enum variant, see [`Cursor::variant`].
pub struct Variant<'a> {
    name: Cursor<'a>,
    value: Option<Cursor<'a>>,
}

impl<'a> Variant<'a> {
    /// Checks a variant without data: nothing, or `null`, follows it.
    ///
    /// # Errors
    ///
    /// A value other than `null`.
    pub fn unit(&self) -> Res<()> {
        match &self.value {
            Some(v) if !v.is_null() => Err(v.expected("null")),
            _ => Ok(()),
        }
    }

    /// The value of a variant with data; `what` names its shape.
    ///
    /// # Errors
    ///
    /// The variant was written without a value.
    pub fn value(self, what: &str) -> Res<Cursor<'a>> {
        let name = self.name;
        self.value.ok_or_else(|| {
            name.fail(format!(
                "expected a mapping from the variant name to {what}, found a string"
            ))
        })
    }
}

/// Implements [`FromNode`] for a struct read from a mapping.
///
/// Each entry is `"key" => field: Type`, optionally followed by
/// `[function]` (a `fn(&Cursor) -> Result<Type, Fail>` used instead of
/// `Type`'s own conversion), `= default` (the value when the key is absent;
/// without it the key is required) and `or "alias"` (another accepted key;
/// hints list aliases before the key).
#[macro_export]
macro_rules! from_node_struct {
    ($ty:ident {
        $($name:literal => $field:ident: $fty:ty $([$conv:path])? $(= $default:expr)? $(, or $alias:literal)*;)*
    }) => {
        impl $crate::yaml::FromNode for $ty {
            fn from_node(c: &$crate::yaml::Cursor<'_>) -> Result<Self, $crate::yaml::Fail> {
                $crate::from_node_struct!(@slots $($name => $field: $fty $(, or $alias)*;)*);
                c.fields(NAMES, &mut |slot, v| {
                    $(if slot == Slot::$field as u8 {
                        return $crate::yaml::set(&mut $field, $name, v, $crate::from_node_struct!(@conv $fty $(, $conv)?));
                    })*
                    Ok(())
                })?;
                Ok($ty {
                    $($field: match $field {
                        Some(v) => v,
                        None => $crate::from_node_struct!(@absent c, $name $(, $default)?),
                    },)*
                })
            }

            fn fields(path: &str, out: &mut $crate::yaml::FieldMap) {
                out.entry(path.to_owned())
                    .or_default()
                    .extend([$($($alias,)* $name),*]);
                $(<$fty as $crate::yaml::FromNode>::fields(&format!("{path}.{}", $name), out);)*
            }
        }
    };
    // The `direct` form: the same, and [`Direct`] from the same list (a
    // conversion named in brackets must have a reader of that name in
    // `direct::conv`).
    (direct $ty:ident {
        $($name:literal => $field:ident: $fty:ty $([$conv:ident])? $(= $default:expr)? $(, or $alias:literal)*;)*
    }) => {
        $crate::from_node_struct!($ty {
            $($name => $field: $fty $([$conv])? $(= $default)? $(, or $alias)*;)*
        });

        impl $crate::yaml::Direct for $ty {
            fn direct(p: &mut $crate::yaml::Pieces<'_>) -> Option<Self> {
                $crate::from_node_struct!(@slots $($name => $field: $fty $(, or $alias)*;)*);
                p.fields(NAMES, &mut |slot, p| {
                    $(if slot == Slot::$field as u8 {
                        return $crate::yaml::direct::set(&mut $field, p, $crate::from_node_struct!(@direct $fty $(, $conv)?));
                    })*
                    None
                })?;
                Some($ty {
                    $($field: match $field {
                        Some(v) => v,
                        None => $crate::from_node_struct!(@direct_absent $($default)?),
                    },)*
                })
            }
        }
    };
    // A number for each field, every name that sets it, and an empty slot
    // for its value: what both readers of a struct start with.
    (@slots $($name:literal => $field:ident: $fty:ty $(, or $alias:literal)*;)*) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        enum Slot { $($field),* }
        const NAMES: &[(&str, u8)] = &[$($(($alias, Slot::$field as u8),)* ($name, Slot::$field as u8)),*];
        $(let mut $field: Option<$fty> = None;)*
    };
    (@direct $fty:ty) => { <$fty as $crate::yaml::Direct>::direct };
    (@direct $fty:ty, $conv:ident) => { $crate::yaml::direct::conv::$conv };
    (@direct_absent) => { return None };
    (@direct_absent $default:expr) => { $default };
    (@conv $fty:ty) => { <$fty as $crate::yaml::FromNode>::from_node };
    (@conv $fty:ty, $conv:path) => { $conv };
    (@absent $c:ident, $name:literal) => { return Err($c.missing($name)) };
    (@absent $c:ident, $name:literal, $default:expr) => { $default };
}

/// Sets a struct field from `v` with `conv`, unless an alias set it
/// already. One copy per field type, shared by every struct.
///
/// # Errors
///
/// The field is set twice, or `conv` fails.
#[inline(never)]
pub fn set<T>(
    slot: &mut Option<T>,
    name: &str,
    v: &Cursor<'_>,
    conv: fn(&Cursor<'_>) -> Res<T>,
) -> Res<()> {
    if slot.is_some() {
        return Err(Fail::duplicate(name));
    }
    *slot = Some(conv(v)?);
    Ok(())
}

/// Implements [`FromNode`] for an enum of unit variants, each written as
/// its name: `Type { "name" => Variant, ... }`.
#[macro_export]
macro_rules! from_node_enum {
    ($ty:ident { $($name:literal => $variant:ident,)* }) => {
        impl $crate::yaml::FromNode for $ty {
            fn from_node(c: &$crate::yaml::Cursor<'_>) -> Result<Self, $crate::yaml::Fail> {
                const ALL: &[$ty] = &[$($ty::$variant),*];
                let (i, rest) = c.variant(&[$($name),*])?;
                rest.unit()?;
                ALL.get(i).copied().ok_or_else(|| c.fail("no such variant".into()))
            }
        }
    };
}

impl FromNode for String {
    fn from_node(c: &Cursor<'_>) -> Res<Self> {
        c.string()
    }
}

impl FromNode for bool {
    fn from_node(c: &Cursor<'_>) -> Res<Self> {
        c.bool()
    }
}

macro_rules! from_node_ints {
    ($($t:ty)*) => {$(
        impl FromNode for $t {
            fn from_node(c: &Cursor<'_>) -> Res<Self> {
                let n = c.int(i128::from(<$t>::MIN), i128::from(<$t>::MAX))?;
                <$t>::try_from(n).map_err(|_| c.expected("an integer"))
            }
        }
    )*};
}

from_node_ints!(u8 u16 u32 u64 i8 i32 i64);

impl<T: FromNode> FromNode for Option<T> {
    fn from_node(c: &Cursor<'_>) -> Res<Self> {
        if c.is_null() {
            Ok(None)
        } else {
            T::from_node(c).map(Some).map_err(|e| c.place(e))
        }
    }

    fn fields(path: &str, out: &mut FieldMap) {
        T::fields(path, out);
    }
}

impl<T: FromNode> FromNode for Vec<T> {
    fn from_node(c: &Cursor<'_>) -> Res<Self> {
        let mut out = Vec::new();
        c.seq(&mut |item| {
            out.push(T::from_node(item)?);
            Ok(())
        })?;
        Ok(out)
    }

    fn fields(path: &str, out: &mut FieldMap) {
        T::fields(&format!("{path}[]"), out);
    }
}

impl<T: FromNode> FromNode for std::collections::BTreeMap<String, T> {
    fn from_node(c: &Cursor<'_>) -> Res<Self> {
        let mut out = std::collections::BTreeMap::new();
        c.map(&mut |k, v| {
            out.insert(k, T::from_node(v)?);
            Ok(())
        })?;
        Ok(out)
    }

    fn fields(path: &str, out: &mut FieldMap) {
        T::fields(&format!("{path}{{}}"), out);
    }
}

impl FromNode for serde_json::Value {
    fn from_node(c: &Cursor<'_>) -> Res<Self> {
        to_json(c, false)
    }
}

/// `null` reads as the default, like an absent key.
///
/// # Errors
///
/// Those of `T`.
pub fn nullable<T: FromNode + Default>(c: &Cursor<'_>) -> Res<T> {
    Option::<T>::from_node(c).map(Option::unwrap_or_default)
}

impl Cursor<'_> {
    /// The node as JSON, for an untagged enum to try its variants on. Only
    /// integers beyond 64 bits fail, as they did in serde's buffering.
    ///
    /// # Errors
    ///
    /// An integer out of the 64-bit ranges.
    pub fn content(&self) -> Res<serde_json::Value> {
        to_json(self, true)
    }
}

/// A node as JSON; `content` words the error for huge integers as serde's
/// untagged-enum buffering did, otherwise as `serde_json` does.
fn to_json(c: &Cursor<'_>, content: bool) -> Res<serde_json::Value> {
    use serde_json::Value as J;
    Ok(match &c.node.value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Str(s) => J::String(s.clone()),
        Value::Int(n) => match (u64::try_from(*n), i64::try_from(*n)) {
            (Ok(u), _) => J::from(u),
            (_, Ok(i)) => J::from(i),
            _ if content => return Err(c.invalid("any value")),
            _ => return Err(c.fail("JSON number out of range".into())),
        },
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Seq(_) => {
            let mut items = Vec::new();
            c.seq(&mut |item| {
                items.push(to_json(item, content)?);
                Ok(())
            })?;
            J::Array(items)
        }
        Value::Map(_) => {
            let mut map = serde_json::Map::new();
            c.map(&mut |k, v| {
                map.insert(k, to_json(v, content)?);
                Ok(())
            })?;
            J::Object(map)
        }
    })
}

/// Converts a tree to `T`, reporting every problem rather than the first.
///
/// A conversion stops at its first hard error, so this runs it repeatedly:
/// after each failure the offending node is recorded and hidden from the
/// next pass (a map entry or sequence item disappears; a mapping with a
/// missing field disappears from its parent). Errors that only arise
/// because an earlier pass hid something (the `missing field` left behind
/// by a bad value, a follow-on inside a hidden node) are not reported.
/// Unknown struct fields never stop a pass; they are recorded and skipped.
///
/// # Errors
///
/// Every problem found, sorted by position.
pub fn from_node<T: FromNode>(root: &Node) -> Result<T, Vec<DeError>> {
    match from_node_partial(root) {
        (Some(value), errors) if errors.is_empty() => Ok(value),
        (_, errors) => Err(errors),
    }
}

/// Like [`from_node`], but also returns the value built with every bad
/// node left out (when one could be built), so that semantic checks can
/// run on the rest and all problems in a document are reported together.
pub fn from_node_partial<T: FromNode>(root: &Node) -> (Option<T>, Vec<DeError>) {
    let (value, errors, _) = from_node_partial_hidden(root);
    (value, errors)
}

/// Like [`from_node_partial`], and also the paths of the nodes left out of
/// the value (in the document's own numbering): a list that lost item 1
/// holds the document's item 2 at index 1, which [`document_path`] maps
/// back.
pub fn from_node_partial_hidden<T: FromNode>(
    root: &Node,
) -> (Option<T>, Vec<DeError>, Vec<String>) {
    let mut value = None;
    let (errors, hidden) = convert(root, &mut |c| {
        value = Some(T::from_node(c)?);
        Ok(())
    });
    (value, errors, hidden)
}

/// The document's path for `path`, a path into a value built with the
/// nodes at `hidden` left out: every list index is moved past the items
/// hidden before it, outermost list first.
#[must_use]
pub fn document_path(path: &str, hidden: &[String]) -> String {
    if hidden.is_empty() {
        return path.to_string();
    }
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(open) = rest.find('[') {
        let after = rest.get(open + 1..).unwrap_or_default();
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let index = after.get(..digits).and_then(|d| d.parse::<usize>().ok());
        let (Some(mut index), Some(tail)) = (index, after.get(digits..)) else {
            out.push_str(rest.get(..=open).unwrap_or_default());
            rest = after;
            continue;
        };
        if !tail.starts_with(']') {
            out.push_str(rest.get(..=open).unwrap_or_default());
            rest = after;
            continue;
        }
        out.push_str(rest.get(..open).unwrap_or_default());
        let mut gone: Vec<usize> = hidden
            .iter()
            .filter_map(|h| {
                h.strip_prefix(out.as_str())
                    .and_then(|r| r.strip_prefix('['))
                    .and_then(|r| r.strip_suffix(']'))
                    .and_then(|n| n.parse().ok())
            })
            .collect();
        gone.sort_unstable();
        for g in gone {
            if g <= index {
                index += 1;
            }
        }
        out.push('[');
        out.push_str(&index.to_string());
        out.push(']');
        rest = tail.get(1..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

/// The passes of [`from_node_partial`]; `build` succeeds at most once.
/// Returns the errors and the paths of the nodes hidden.
fn convert(
    root: &Node,
    build: &mut dyn FnMut(&Cursor<'_>) -> Res<()>,
) -> (Vec<DeError>, Vec<String>) {
    let mut skip = FastSet::default();
    let mut errors = Vec::new();
    let mut passes = 0;
    let mut overflow = false;
    loop {
        passes += 1;
        let ctx = Ctx {
            skip: &skip,
            errors: std::cell::RefCell::new(errors),
            full: Cell::new(false),
        };
        let result = build(&Cursor {
            node: root,
            place: Place::Root,
            ctx: &ctx,
        });
        overflow |= ctx.full.get();
        errors = ctx.errors.into_inner();
        let Err(fail) = result else { break };
        let (mark, path) = fail.at.unwrap_or((root.mark, String::new()));
        let follow_on = match fail.missing {
            Some(field) => skip.contains(&join_key(&path, field)),
            None => skip.iter().any(|s| is_inside(s, &path)),
        };
        if !follow_on {
            let e = DeError {
                mark,
                path: path.clone(),
                message: fail.message,
                hint: fail.hint,
            };
            overflow |= !record(&mut errors, e);
        }
        // A root error leaves nothing to hide; otherwise the insert always
        // succeeds (a hidden node cannot fail), so every pass shrinks the
        // tree and the loop ends.
        if path.is_empty() || !skip.insert(path) {
            break;
        }
        if overflow || passes >= MAX_PASSES {
            overflow = true;
            break;
        }
    }
    crate::sort::sort_by_key(&mut errors, |e| (e.mark.line, e.mark.col));
    if overflow {
        errors.push(DeError {
            mark: root.mark,
            path: String::new(),
            message: "too many errors".into(),
            hint: None,
        });
    }
    let mut hidden: Vec<String> = skip.into_iter().collect();
    crate::sort::sort_dedup(&mut hidden);
    (errors, hidden)
}
// ---------------------------------------------------------------------------
// Emitter
// ---------------------------------------------------------------------------

/// Writes a JSON value as block-style YAML 1.2 that [`parse`] reads back as
/// the same value.
#[must_use]
pub fn to_yaml(v: &serde_json::Value) -> String {
    let mut out = String::new();
    match inline(v) {
        Some(s) => {
            out.push_str(&s);
            out.push('\n');
        }
        None => block(&mut out, v, 0, false),
    }
    out
}

/// The one-line form of scalars and empty collections; `None` for values
/// that need block layout.
fn inline(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value as J;
    match v {
        J::Null => Some("null".into()),
        J::Bool(b) => Some(b.to_string()),
        // serde_json writes floats with a `.` or an exponent, so they read
        // back as floats, and integers without, so they read back as ints.
        J::Number(n) => Some(n.to_string()),
        J::String(s) => Some(scalar_text(s)),
        J::Array(a) if a.is_empty() => Some("[]".into()),
        J::Object(m) if m.is_empty() => Some("{}".into()),
        J::Array(_) | J::Object(_) => None,
    }
}

/// Writes a non-empty collection, one entry per line at `indent`. With
/// `continued`, the first line goes straight after a `- ` already written.
fn block(out: &mut String, v: &serde_json::Value, indent: usize, continued: bool) {
    use serde_json::Value as J;
    let pad = |out: &mut String, first: bool| {
        if !(first && continued) {
            out.extend(std::iter::repeat_n(' ', indent));
        }
    };
    match v {
        J::Object(m) => {
            for (i, (k, val)) in m.iter().enumerate() {
                pad(out, i == 0);
                out.push_str(&scalar_text(k));
                out.push(':');
                if let Some(s) = inline(val) {
                    out.push(' ');
                    out.push_str(&s);
                    out.push('\n');
                } else {
                    out.push('\n');
                    block(out, val, indent + 2, false);
                }
            }
        }
        J::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                pad(out, i == 0);
                out.push_str("- ");
                if let Some(s) = inline(item) {
                    out.push_str(&s);
                    out.push('\n');
                } else {
                    block(out, item, indent + 2, true);
                }
            }
        }
        _ => {}
    }
}

/// A string as a scalar: plain when that reads back as the same string,
/// double-quoted otherwise.
fn scalar_text(s: &str) -> String {
    if plain_ok(s) { s.to_owned() } else { quote(s) }
}

fn plain_ok(s: &str) -> bool {
    let resolves_to_str = |opts| matches!(resolve(s, opts), Value::Str(_));
    !s.is_empty()
        && !s.starts_with([
            '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%',
            '@', '`', '.',
        ])
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && s.trim() == s
        && s.chars().all(|c| {
            c == ' ' || (printable(c) && !c.is_whitespace() && !matches!(c, '\u{85}' | '\u{feff}'))
        })
        && resolves_to_str(ParseOptions::default())
        && resolves_to_str(ParseOptions { yaml11_octal: true })
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    #[test]
    fn document_paths_skip_the_hidden_items_of_each_list() {
        let hidden = vec![
            "a[0]".to_string(),
            "a[2]".to_string(),
            "a[3].b[1]".to_string(),
            "m[\"k\"]".to_string(),
        ];
        // a's value holds the document's items 1, 3, 4, ...
        assert_eq!(super::document_path("a[0]", &hidden), "a[1]");
        assert_eq!(super::document_path("a[1].b[0]", &hidden), "a[3].b[0]");
        assert_eq!(super::document_path("a[1].b[1]", &hidden), "a[3].b[2]");
        assert_eq!(super::document_path("a[2]", &hidden), "a[4]");
        // Other lists, map keys and plain fields are left alone.
        assert_eq!(super::document_path("c[0]", &hidden), "c[0]");
        assert_eq!(super::document_path("m[\"j\"].x", &hidden), "m[\"j\"].x");
        assert_eq!(super::document_path("a", &hidden), "a");
        assert_eq!(super::document_path("a[0]", &[]), "a[0]");
    }

    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn p(src: &str) -> Node {
        parse(src, ParseOptions::default()).expect("valid yaml")
    }

    fn perr(src: &str) -> (String, u32, u32) {
        let e = parse(src, ParseOptions::default()).expect_err("invalid yaml");
        (e.message, e.mark.line, e.mark.col)
    }

    fn m(line: u32, col: u32) -> Option<Mark> {
        Some(Mark { line, col })
    }

    /// Errors as `(line, col, path, message, hint)` for compact assertions.
    fn errs<T: FromNode + fmt::Debug>(
        src: &str,
    ) -> Vec<(u32, u32, String, String, Option<String>)> {
        from_node::<T>(&p(src))
            .expect_err("should fail")
            .into_iter()
            .map(|e| (e.mark.line, e.mark.col, e.path, e.message, e.hint))
            .collect()
    }

    #[test]
    fn scalars_resolve_by_core_schema() {
        let cases: &[(&str, Value)] = &[
            ("~", Value::Null),
            ("null", Value::Null),
            ("NULL", Value::Null),
            ("True", Value::Bool(true)),
            ("FALSE", Value::Bool(false)),
            ("yes", Value::Str("yes".into())),
            ("-42", Value::Int(-42)),
            ("+7", Value::Int(7)),
            ("0o17", Value::Int(15)),
            ("0x1F", Value::Int(31)),
            ("0777", Value::Int(777)),
            ("1.0", Value::Float(1.0)),
            ("1e3", Value::Float(1000.0)),
            ("-.5", Value::Float(-0.5)),
            ("-.inf", Value::Float(f64::NEG_INFINITY)),
            ("1_000", Value::Str("1_000".into())),
            ("inf", Value::Str("inf".into())),
            ("0x", Value::Str("0x".into())),
            ("'1'", Value::Str("1".into())),
            ("\"true\"", Value::Str("true".into())),
            ("|\n  x\n", Value::Str("x\n".into())),
        ];
        for (src, want) in cases {
            assert_eq!(&p(src).value, want, "{src}");
        }
        assert!(matches!(p(".nan").value, Value::Float(f) if f.is_nan()));
        assert_eq!(
            p("99999999999999999999999999999999999999999").value,
            Value::Float(1e41)
        );
    }

    #[test]
    fn yaml11_octal_is_opt_in() {
        let on = ParseOptions { yaml11_octal: true };
        assert_eq!(parse("0666", on).map(|n| n.value), Ok(Value::Int(0o666)));
        assert_eq!(
            parse("0666", ParseOptions::default()).map(|n| n.value),
            Ok(Value::Int(666))
        );
        assert_eq!(parse("0", on).map(|n| n.value), Ok(Value::Int(0)));
        assert_eq!(parse("089", on).map(|n| n.value), Ok(Value::Int(89)));
        assert_eq!(
            parse("'0666'", on).map(|n| n.value),
            Ok(Value::Str("0666".into()))
        );
    }

    #[test]
    fn empty_stream_is_null() {
        for src in ["", "# only a comment\n", "\n\n"] {
            assert_eq!(
                p(src),
                Node {
                    value: Value::Null,
                    mark: Mark { line: 1, col: 1 }
                }
            );
        }
    }

    #[test]
    fn marks_of_nested_paths() {
        let src = "\
filesystem_policy:
  read_write:
  - /tmp
  - \"/var\"
network_policies:
  my_api:
    endpoints:
      - host: example.com
        port: 443
    flow: [a, {b: c}]
\"odd key\": 1
";
        let root = p(src);
        let cases = [
            ("", m(1, 1)),
            ("filesystem_policy", m(2, 3)),
            ("filesystem_policy.read_write", m(3, 3)),
            ("filesystem_policy.read_write[1]", m(4, 5)),
            ("network_policies.my_api.endpoints", m(8, 7)),
            ("network_policies.my_api.endpoints[0]", m(8, 9)),
            ("network_policies.my_api.endpoints[0].port", m(9, 15)),
            ("network_policies.my_api.flow", m(10, 11)),
            ("network_policies.my_api.flow[1].b", m(10, 19)),
            ("[\"odd key\"]", m(11, 12)),
            ("network_policies.my_api.endpoints[1]", None),
            ("network_policies.my", None),
            ("filesystem_policy.read_write.x", None),
        ];
        for (path, want) in cases {
            assert_eq!(locate(&root, path), want, "{path}");
        }
        assert_eq!(
            key_mark(&root, "network_policies.my_api.endpoints[0].port"),
            m(9, 9)
        );
        assert_eq!(key_mark(&root, "[\"odd key\"]"), m(11, 1));
        assert_eq!(key_mark(&root, "filesystem_policy.read_write[0]"), None);
        assert_eq!(key_mark(&root, ""), None);
    }

    #[test]
    fn paths_join() {
        assert_eq!(join_key("", "a"), "a");
        assert_eq!(join_key("a", "b-c_1"), "a.b-c_1");
        assert_eq!(join_key("a", "x.y"), "a[\"x.y\"]");
        assert_eq!(join_key("", "say \"hi\"\n"), "[\"say \\\"hi\\\"\\n\"]");
        assert_eq!(join_key("a", ""), "a[\"\"]");
        assert_eq!(join_index("a", 3), "a[3]");
        assert_eq!(join_index("", 0), "[0]");
        for i in [0, 9, 10, 99, 100, 12345, u32::MAX as usize, usize::MAX] {
            assert_eq!(join_index("a.b", i), format!("a.b[{i}]"));
        }
    }

    #[test]
    fn structural_errors() {
        let cases: &[(&str, (&str, u32, u32))] = &[
            (
                "name: a\nage: 1\nname: b\n",
                ("duplicate key \"name\"", 3, 1),
            ),
            ("1: a\n0x1: b\n", ("duplicate key \"0x1\"", 2, 1)),
            ("1: a\n\"1\": b\n", ("duplicate key \"1\"", 2, 1)),
            ("a: &x 1\n", ("anchors and aliases are not supported", 1, 4)),
            (
                "a: [1]\nb: *x\n",
                ("anchors and aliases are not supported", 2, 4),
            ),
            ("a: !foo x\n", ("tags are not supported", 1, 4)),
            ("a: !!str 1\n", ("tags are not supported", 1, 4)),
            ("? [a]\n: b\n", ("mapping keys must be scalars", 1, 3)),
            ("{[a]: b}", ("mapping keys must be scalars", 1, 2)),
            (
                "a\n---\nb\n",
                ("multiple YAML documents are not supported", 2, 1),
            ),
            (
                "a: \"x\n",
                (
                    "while scanning a quoted scalar, found unexpected end of stream",
                    1,
                    4,
                ),
            ),
            (
                "- a\n  b: c\n",
                ("mapping values are not allowed in this context", 2, 4),
            ),
        ];
        for (src, (msg, line, col)) in cases {
            assert_eq!(perr(src), (msg.to_string(), *line, *col), "{src:?}");
        }
    }

    #[test]
    fn depth_limit() {
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(parse(&ok, ParseOptions::default()).is_ok());
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(perr(&deep), ("nesting deeper than 64 levels".into(), 1, 65));
        let block: String = (0..70).map(|i| format!("{}k:\n", "  ".repeat(i))).collect();
        assert_eq!(
            perr(&block),
            ("nesting deeper than 64 levels".into(), 65, 129)
        );
    }

    #[test]
    fn end_of_input_errors_point_inside_the_document() {
        // saphyr places an error at the end of input on the line after the
        // last one when the text does not end with a line break; it is
        // moved to the end of the last line, for every caller.
        let cases: &[(&str, u32, u32)] = &[
            ("a: [", 1, 5),
            ("a:\n- b\n- [c,", 3, 6),
            ("a: {b: [1]", 1, 11),
            ("a: [\r\n  1,\r  2", 3, 4),
        ];
        for (src, line, col) in cases {
            let (_, l, c) = perr(src);
            assert_eq!((l, c), (*line, *col), "{src:?}");
        }
        // With a final line break the parser's own line exists.
        assert_eq!(perr("a: [\n").1, 2);
    }

    #[test]
    fn end_of_input_nodes_point_inside_the_document() {
        // An empty key, value or document at the end of input is placed
        // on the line after the last one too; its node is moved the same
        // way.
        let root = p("?\n  ");
        let Value::Map(entries) = &root.value else {
            panic!("{root:?}")
        };
        assert_eq!(entries[0].0.mark, Mark { line: 2, col: 3 });
        assert_eq!(entries[0].1.mark, Mark { line: 2, col: 3 });
        assert_eq!(p("---").mark, Mark { line: 1, col: 4 });
        assert_eq!(p("a:\r  ").mark, Mark { line: 1, col: 1 });
    }

    #[test]
    fn an_item_is_located_by_its_index_and_no_other_spelling() {
        let root = parse("a:\n- x\n- [y, {b: z}]\n- w\n", ParseOptions::default());
        let root = root.unwrap_or_else(|e| panic!("{e}"));
        let at = |line, col| Some(Mark { line, col });
        assert_eq!(locate(&root, "a[0]"), at(2, 3));
        assert_eq!(locate(&root, "a[1]"), at(3, 3));
        assert_eq!(locate(&root, "a[1][1]"), at(3, 7));
        assert_eq!(locate(&root, "a[1][1].b"), at(3, 11));
        assert_eq!(locate(&root, "a[2]"), at(4, 3));
        for bad in [
            "a[01]", "a[+1]", "a[3]", "a[", "a[]", "a[x]", "a[-1]", "a[1", "a[1]x", "a.0",
            "a[1][2]",
        ] {
            assert_eq!(locate(&root, bad), None, "{bad}");
        }
    }

    #[test]
    fn unprintable_character_is_located_where_it_is() {
        // saphyr reported the NUL after a directive-like line past the
        // line's end (column 22 of 20).
        let src = "%#  \u{777}p%# !\u{76d}povt\u{777}\u{1}\u{11}\0\0";
        assert_eq!(perr(src), ("found unprintable character".into(), 1, 17));
        let (_, line, col) = perr("a: b\r\nc: \0");
        assert_eq!((line, col), (2, 4));
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Paint {
        color: String,
        size: Option<u16>,
    }

    crate::from_node_struct!(Paint {
        "color" => color: String;
        "size" => size: Option<u16> = None;
    });

    #[test]
    fn unknown_field_has_hint_and_key_mark() {
        let got = errs::<Paint>("color: red\ncolour: blue\nzzz: 1\n");
        assert_eq!(
            got,
            vec![
                (
                    2,
                    1,
                    "colour".into(),
                    "unknown field \"colour\"".into(),
                    Some("did you mean \"color\"?".into())
                ),
                (
                    3,
                    1,
                    "zzz".into(),
                    "unknown field \"zzz\"".into(),
                    Some("expected one of: color, size".into())
                ),
            ]
        );
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Strict {
        inner: Inner,
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Inner {
        version: u32,
        name: String,
    }

    crate::from_node_struct!(Strict {
        "inner" => inner: Inner;
    });

    crate::from_node_struct!(Inner {
        "version" => version: u32;
        "name" => name: String;
    });

    #[test]
    fn missing_field_marks_the_mapping() {
        let got = errs::<Strict>("inner:\n  name: x\n  extra: 1\n");
        assert_eq!(
            got,
            vec![
                (
                    2,
                    3,
                    "inner".into(),
                    "missing field \"version\"".into(),
                    None
                ),
                (
                    3,
                    3,
                    "inner.extra".into(),
                    "unknown field \"extra\"".into(),
                    Some("expected one of: version, name".into())
                ),
            ]
        );
        // A bad value is reported once, not again as a missing field.
        let got = errs::<Strict>("inner:\n  version: -1\n  name: x\n");
        assert_eq!(
            got,
            vec![(
                2,
                12,
                "inner.version".into(),
                "expected an integer in 0..=4294967295, found -1".into(),
                None
            )]
        );
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Policy {
        version: u32,
        filesystem: Filesystem,
        network: Vec<Network>,
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Filesystem {
        read_only: Vec<String>,
        limits: Limits,
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Limits {
        port: u16,
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Network {
        name: String,
        protocol: Protocol,
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    enum Protocol {
        Tcp,
        Udp,
        Raw(Ports),
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Ports {
        ports: Vec<u16>,
    }

    crate::from_node_struct!(Policy {
        "version" => version: u32;
        "filesystem" => filesystem: Filesystem;
        "network" => network: Vec<Network>;
    });

    crate::from_node_struct!(Filesystem {
        "read_only" => read_only: Vec<String>;
        "limits" => limits: Limits;
    });

    crate::from_node_struct!(Limits {
        "port" => port: u16;
    });

    crate::from_node_struct!(Network {
        "name" => name: String;
        "protocol" => protocol: Protocol;
    });

    crate::from_node_struct!(Ports {
        "ports" => ports: Vec<u16>;
    });

    /// An enum with data, written by hand on [`Cursor::variant`].
    impl FromNode for Protocol {
        fn from_node(c: &Cursor<'_>) -> Res<Self> {
            match c.variant(&["tcp", "udp", "raw"])? {
                (0, v) => v.unit().map(|()| Protocol::Tcp),
                (1, v) => v.unit().map(|()| Protocol::Udp),
                (_, v) => Ports::from_node(&v.value("a mapping")?).map(Protocol::Raw),
            }
        }
    }

    #[test]
    fn collects_many_errors() {
        let src = "\
version: 1
colour: red
filesystem:
  read_only: /usr
  limits:
    port: 70000
network:
  - name: 5
    protocol: tcpp
  - name: ok
    protocol:
      raw: {ports: [1, x]}
  - name: fine
    protocol: udp
";
        let got = errs::<Policy>(src);
        let want = vec![
            (
                2,
                1,
                "colour".to_string(),
                "unknown field \"colour\"".to_string(),
                Some("expected one of: version, filesystem, network".to_string()),
            ),
            (
                4,
                14,
                "filesystem.read_only".into(),
                "expected a list, found a string".into(),
                None,
            ),
            (
                6,
                11,
                "filesystem.limits.port".into(),
                "expected an integer in 0..=65535, found 70000".into(),
                None,
            ),
            (
                8,
                11,
                "network[0].name".into(),
                "expected a string, found an integer".into(),
                None,
            ),
            (
                9,
                15,
                "network[0].protocol".into(),
                "unknown variant \"tcpp\"".into(),
                Some("did you mean \"tcp\"?".into()),
            ),
            (
                12,
                24,
                "network[1].protocol.raw.ports[1]".into(),
                "expected an integer, found a string".into(),
                None,
            ),
        ];
        assert_eq!(got, want);
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    enum Shape {
        Dot,
        Circle(u8),
    }

    impl FromNode for Shape {
        fn from_node(c: &Cursor<'_>) -> Res<Self> {
            match c.variant(&["Dot", "Circle"])? {
                (0, v) => v.unit().map(|()| Shape::Dot),
                (_, v) => u8::from_node(&v.value("its value")?).map(Shape::Circle),
            }
        }
    }

    #[test]
    fn enum_errors() {
        let src = "- {dott: 1}\n- Circle\n- Circle: x\n- Dot: 1\n- Dot: null\n- Dot\n- Circle: 3\n";
        let got: Vec<_> = errs::<Vec<Shape>>(src)
            .into_iter()
            .map(|(l, c, path, msg, hint)| {
                (
                    l,
                    c,
                    path,
                    msg + &hint.map(|h| format!(" ({h})")).unwrap_or_default(),
                )
            })
            .collect();
        let want = [
            (
                1,
                4,
                "[0].dott",
                "unknown variant \"dott\" (did you mean \"Dot\"?)",
            ),
            (
                2,
                3,
                "[1]",
                "expected a mapping from the variant name to its value, found a string",
            ),
            (3, 11, "[2].Circle", "expected an integer, found a string"),
            (4, 8, "[3].Dot", "expected null, found an integer"),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(l, c, p, m)| (*l, *c, p.to_string(), m.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn type_errors_in_words() {
        assert_eq!(
            errs::<Vec<u8>>("a: 1"),
            vec![(
                1,
                1,
                String::new(),
                "expected a list, found a mapping".into(),
                None
            )]
        );
        assert_eq!(
            errs::<Limits>("[1]"),
            vec![(
                1,
                1,
                String::new(),
                "expected a mapping, found a list".into(),
                None
            )]
        );
        assert_eq!(
            errs::<bool>("yes"),
            vec![(
                1,
                1,
                String::new(),
                "expected a boolean, found a string".into(),
                None
            )]
        );
        assert_eq!(
            errs::<Protocol>("[tcp]"),
            vec![(
                1,
                1,
                String::new(),
                "expected a string or a single-key mapping, found a list".into(),
                None
            )]
        );
    }

    #[test]
    fn successful_values() {
        let p1: Paint = from_node(&p("color: \"1\"\nsize: 0x10\n")).expect("ok");
        assert_eq!((p1.color.as_str(), p1.size), ("1", Some(16)));
        let f: serde_json::Value = from_node(&p("3")).expect("ok");
        assert_eq!(f, json!(3));
        // Keys are text, whether written plain or quoted.
        let keys: std::collections::BTreeMap<String, String> =
            from_node(&p("80: http\n\"443\": https\n")).expect("ok");
        assert_eq!(keys.get("443").map(String::as_str), Some("https"));
        assert_eq!(keys.get("80").map(String::as_str), Some("http"));
        let protos: Vec<Protocol> = from_node(&p("- tcp\n- raw:\n    ports: [1]\n")).expect("ok");
        assert_eq!(protos.len(), 2);
        let any: serde_json::Value =
            from_node(&p("a: [1, -2, 1.5, null, true, x]\n1: {}\n")).expect("ok");
        assert_eq!(any, json!({"a": [1, -2, 1.5, null, true, "x"], "1": {}}));
    }

    #[test]
    fn too_many_errors_stops() {
        let src: String = (0..100).map(|i| format!("- {i}\n")).collect();
        let got = from_node::<Vec<String>>(&p(&src)).expect_err("fails");
        assert_eq!(got.len(), MAX_ERRORS + 1);
        assert_eq!(
            got.last().map(|e| e.message.as_str()),
            Some("too many errors")
        );
        // Soft errors count too, but each is counted once across passes.
        let exactly: String = (1..MAX_ERRORS).map(|i| format!("x{i}: 1\n")).collect();
        let got = from_node::<Limits>(&p(&format!("{exactly}port: z\n"))).expect_err("fails");
        assert_eq!(got.len(), MAX_ERRORS);
        let more = format!("{exactly}x: 1\ny: 1\nport: 1\n");
        let got = from_node::<Limits>(&p(&more)).expect_err("fails");
        assert_eq!(got.len(), MAX_ERRORS + 1);
        assert_eq!(
            got.last().map(|e| e.message.as_str()),
            Some("too many errors")
        );
    }

    fn awkward() -> serde_json::Value {
        json!({
            "plain": "hello world",
            "yes": "yes",
            "float": "1.0",
            "empty": "",
            "colon": "a: b",
            "dash": "-x",
            "lead": " x",
            "trail": "x ",
            "hash": "#",
            "hash2": "a #b",
            "null": "null",
            "tilde": "~",
            "octal": "0777",
            "unicode": "héllo ☃ 日本 🎉",
            "newline": "a\nb\n",
            "tab": "a\tb",
            "quote": "\"q\" 'r'",
            "nel": "a\u{85}b\u{2028}c\u{feff}",
            "": "empty key",
            "a: b": {"x y": [1, 2.5, -3, 1e300, true, null]},
            "nested": [[1, [2, []]], {}, [], {"k": {"deep": [{"a": 1, "b": [3]}]}}],
            "dots": "...",
            "doc": "---",
        })
    }

    #[test]
    fn emitter_round_trips() {
        let v = awkward();
        let text = to_yaml(&v);
        let back: serde_json::Value = from_node(&p(&text)).expect("round trip");
        assert_eq!(back, v, "{text}");
        assert_eq!(to_yaml(&json!({})), "{}\n");
        assert_eq!(to_yaml(&json!([])), "[]\n");
        assert_eq!(to_yaml(&json!("yes")), "yes\n");
        assert_eq!(to_yaml(&json!("1.0")), "\"1.0\"\n");
        assert_eq!(
            to_yaml(&json!({"a": [1, {"b": 2, "c": [3]}], "d": {"e": null}})),
            "a:\n  - 1\n  - b: 2\n    c:\n      - 3\nd:\n  e: null\n"
        );
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Fuzz {
        a: Option<u16>,
        b: Vec<Protocol>,
        c: std::collections::BTreeMap<String, Vec<i8>>,
        d: Option<Vec<Fuzz>>,
        e: bool,
        f: serde_json::Value,
    }

    crate::from_node_struct!(Fuzz {
        "a" => a: Option<u16> = None;
        "b" => b: Vec<Protocol>;
        "c" => c: std::collections::BTreeMap<String, Vec<i8>> [nullable] = Default::default();
        "d" => d: Option<Vec<Fuzz>> = None;
        "e" => e: bool = false, or "E";
        "f" => f: serde_json::Value;
    });

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            any::<String>().prop_map(serde_json::Value::from),
            "[ -~\\n\\t]{0,12}".prop_map(serde_json::Value::from),
            prop::sample::select(vec![
                "", "yes", "~", "null", "1.0", "0x1", "0o7", "-x", " x", "x:", "a: b", "#", "a #b",
                "[", "{}", "- ", "...", "---", "? x", "@", ".inf", "1e3", "\u{85}", "\u{feff}",
            ])
            .prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[ -~]{0,8}|\\PC{0,4}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn check_no_panic(src: &str) {
        let start = std::time::Instant::now();
        for opts in [ParseOptions::default(), ParseOptions { yaml11_octal: true }] {
            if let Ok(node) = parse(src, opts) {
                let _ = from_node::<serde_json::Value>(&node);
                let _ = from_node::<Fuzz>(&node);
                let _ = from_node::<Vec<Fuzz>>(&node);
                let _ = locate(&node, "a.b[0]");
            }
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "{src:?}"
        );
    }

    #[test]
    fn characters_yaml_does_not_allow_are_errors_where_they_are() {
        for c in [
            '\u{1}', '\u{8}', '\u{b}', '\u{c}', '\u{1b}', '\u{7f}', '\u{80}', '\u{9b}', '\u{fffe}',
            '\u{ffff}',
        ] {
            for src in [
                format!("a: x{c}y\n"),
                format!("a: \"x{c}y\"\n"),
                format!("a: [x{c}]\n"),
            ] {
                let col = src.chars().position(|x| x == c).unwrap_or_default() + 1;
                assert_eq!(
                    parse(&src, ParseOptions::default())
                        .err()
                        .map(|e| e.to_string()),
                    Some(format!("1:{col}: found unprintable character")),
                    "{src:?}"
                );
            }
        }
        // The control: what YAML allows, an escape included.
        for src in [
            "a: x\ty\n",
            "a: \"x\\ey\"\n",
            "a: x\u{85}y\n",
            "a: \u{e9}\u{fffd}\u{1f600}\n",
            "\u{feff}a: b\r\n",
        ] {
            assert!(parse(src, ParseOptions::default()).is_ok(), "{src:?}");
        }
    }

    #[test]
    fn a_cdi_spec_takes_no_version_directive() {
        let opts = ParseOptions { yaml11_octal: true };
        for v in ["1.1", "1.2"] {
            let e = parse(&format!("%YAML {v}\n---\na: 0666\n"), opts).err();
            assert!(
                e.as_ref()
                    .is_some_and(|e| e.to_string().starts_with(&format!(
                        "1:1: %YAML {v}: a CDI spec is read as its reference reads one"
                    ))),
                "{e:?}"
            );
        }
        // Control: without one, and a policy's 1.2.
        assert!(parse("a: 0666\n", opts).is_ok());
        assert!(parse("%YAML 1.2\n---\na: 0666\n", ParseOptions::default()).is_ok());
    }

    #[test]
    fn yaml11_octal_takes_a_sign() {
        let opts = ParseOptions { yaml11_octal: true };
        for (s, n) in [
            ("0100", 64),
            ("+0100", 64),
            ("-010", -8),
            ("+0", 0),
            ("-0", 0),
            ("08", 8),
        ] {
            assert_eq!(resolve(s, opts), Value::Int(n), "{s}");
        }
        // YAML 1.2 (policies): decimal.
        assert_eq!(resolve("+0100", ParseOptions::default()), Value::Int(100));
    }

    #[test]
    fn signed_scalars_are_typed_as_the_full_reading_types_them() {
        for s in [
            "-", "+", "-0", "+0", "-1", "+1", "-.5", "+.inf", "-.inf", "--link", "-e5", "-x",
            "-0x1", "-0o7", "-1e5", "+-1", "-.", "-..",
        ] {
            for opts in [ParseOptions::default(), ParseOptions { yaml11_octal: true }] {
                let want = match resolve_typed(s, opts) {
                    Value::Str(_) => None,
                    v => Some(v),
                };
                assert_eq!(
                    format!("{:?}", typed(s, opts)),
                    format!("{want:?}"),
                    "{s:?}"
                );
            }
        }
    }

    #[test]
    fn typed_first_is_the_list() {
        for b in 0u8..=255 {
            assert_eq!(typed_first(b), TYPED_FIRST.contains(&b), "{b}");
        }
    }

    /// The shortcut in `resolve` only skips scalars the full reading makes
    /// strings: every first byte outside TYPED_FIRST, followed by number-,
    /// null- and boolean-like tails.
    #[test]
    fn scalars_that_cannot_be_typed_read_as_strings_either_way() {
        let tails = [
            "", "0", "1", "0o7", "0x1f", "1.5", "e5", ".inf", "nan", "ull", "rue", "alse", "~",
            "  ", "/x",
        ];
        let mut shortcut = 0;
        for b in 0u8..=0x7f {
            for tail in tails {
                let s = format!("{}{tail}", b as char);
                for opts in [ParseOptions::default(), ParseOptions { yaml11_octal: true }] {
                    // Compared as text: NaN is not equal to itself.
                    let fast = format!("{:?}", resolve(&s, opts));
                    assert_eq!(fast, format!("{:?}", resolve_typed(&s, opts)), "{s:?}");
                    shortcut += usize::from(!TYPED_FIRST.contains(&b));
                }
            }
        }
        // The control: typed scalars are still typed.
        assert_eq!(resolve("12", ParseOptions::default()), Value::Int(12));
        assert_eq!(resolve("~", ParseOptions::default()), Value::Null);
        assert!(shortcut > 1000, "{shortcut}");
    }

    proptest! {
        #[test]
        fn resolve_agrees_with_the_full_reading(s in "[ -~]{0,12}") {
            for opts in [ParseOptions::default(), ParseOptions { yaml11_octal: true }] {
                let fast = format!("{:?}", resolve(&s, opts));
                prop_assert_eq!(fast, format!("{:?}", resolve_typed(&s, opts)), "{:?}", s);
            }
        }

        /// What the direct reader asks of a plain scalar: the full
        /// reading's answer, strings as `None`.
        #[test]
        fn typed_is_the_full_reading(s in "[-+]?[-+.0-9eExo]{0,5}|[.~0-9a-fA-FnNtT]{0,6}|[ -~]{0,12}") {
            for opts in [ParseOptions::default(), ParseOptions { yaml11_octal: true }] {
                let want = match resolve_typed(&s, opts) {
                    Value::Str(_) => None,
                    v => Some(v),
                };
                prop_assert_eq!(format!("{:?}", typed(&s, opts)), format!("{want:?}"), "{:?}", s);
            }
        }

        /// Digits, signs and lengths on both sides of `decimal`'s limit,
        /// leading zeros with and without YAML 1.1 octal.
        #[test]
        fn numbers_resolve_as_the_full_reading_reads_them(s in "[-+]?[0-9]{0,22}") {
            for opts in [ParseOptions::default(), ParseOptions { yaml11_octal: true }] {
                let fast = format!("{:?}", resolve(&s, opts));
                prop_assert_eq!(fast, format!("{:?}", resolve_typed(&s, opts)), "{:?}", s);
            }
        }

        #[test]
        fn never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            check_no_panic(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn never_panics_on_yamlish(src in "([-:{}\\[\\],&*!|>'\"%@#?. \\n\\ta-e0-9]|a: |- |\\n  ){0,80}") {
            check_no_panic(&src);
        }

        #[test]
        fn emitter_round_trips_any_value(v in json_value()) {
            let text = to_yaml(&v);
            let node = parse(&text, ParseOptions::default());
            prop_assert!(node.is_ok(), "{text:?} {node:?}");
            let back = node.ok().map(|n| from_node::<serde_json::Value>(&n));
            prop_assert_eq!(back, Some(Ok(v)), "{}", text);
        }
    }
}
