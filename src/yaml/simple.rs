//! The common shape of policy files and CDI specs, read without the general
//! scanner.
//!
//! Nearly every document this program reads is block mappings and
//! sequences of short plain or simply quoted scalars, with an occasional
//! one-line flow collection (`{path: /dev/x, type: c}`). The general
//! scanner spends about a thousand instructions on each byte of that (a
//! token queue, a character at a time); a launch with 256 paths spent more
//! time reading the policy than walking its paths.
//!
//! [`load`] reads only that shape and gives up (`None`) on anything else:
//! a byte outside printable ASCII, a tab, a directive or document marker,
//! a block scalar, an escape, an anchor, a tag, a multi-line scalar, an
//! empty value, a duplicate key, deep nesting. [`super::parse`] then reads
//! the document with the general scanner, which also reports every error;
//! this reader never does. Where it answers, the tree is the one the
//! general scanner builds, marks included: the differential tests hold it
//! to that on generated documents, on the character soup that lies just
//! outside this shape, and on every document the test suite reads.

use super::{KeyId, MAX_DEPTH, Mark, Node, ParseOptions, Value, resolve, typed};

/// Most keys in one mapping; the duplicate check is quadratic, so a larger
/// mapping is left to the general reader.
const MAX_KEYS: usize = 32;

/// Longest key the general reader reads as a key outside flow collections.
const MAX_KEY_LEN: usize = 1024;

/// One piece of a document of the simple shape, in document order. The
/// reader cuts a document into these; [`load`] builds the tree from them,
/// and [`super::direct`] reads a model type from them without a tree.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Piece<'s> {
    /// A mapping starts; its mark is its first key's.
    Map(Mark),
    /// A sequence starts, at its first `-` or its `[`, with how many
    /// items it holds (so that its reader sizes its list once).
    Seq(Mark, u32),
    /// The innermost open mapping or sequence ends.
    End,
    /// A mapping's key (always plain in this shape), its text as written.
    Key(&'s str, Mark),
    /// A plain scalar, not yet resolved by the schema.
    Plain(&'s str, Mark),
    /// A quoted scalar's text (this shape has no escapes in it).
    Quoted(&'s str, Mark),
}

/// The tree of `src`, or `None` when it is not of the simple shape.
pub(super) fn load(src: &str, opts: ParseOptions) -> Option<Node> {
    let list = pieces(src, opts)?;
    let mut at = 0;
    let root = node(&list, &mut at, opts)?;
    (at == list.len()).then_some(root)
}

/// `src` cut into pieces, or `None` when it is not of the simple shape.
pub(super) fn pieces(src: &str, opts: ParseOptions) -> Option<Vec<Piece<'_>>> {
    if !crate::bytes::printable_ascii_lines(src.as_bytes()) {
        return None;
    }
    let mut r = Reader {
        src,
        lines: split_lines(src.as_bytes()),
        line: 0,
        opts,
        // A piece for every five bytes or so, up to a bound: a large
        // document the reader gives up on at once reserves no more.
        out: Vec::with_capacity((src.len() / 5 + 8).min(1 << 12)),
        keys: Vec::new(),
        typed_keys: Vec::new(),
    };
    r.skip_blank();
    let indent = r.indent()?;
    r.block(indent, 0)?;
    r.skip_blank();
    (r.line == r.lines.len()).then_some(r.out)
}

/// The node that starts at `list[*at]`, moving `at` past it. The list is
/// the reader's, so every collection in it is closed; `None` otherwise.
fn node(list: &[Piece<'_>], at: &mut usize, opts: ParseOptions) -> Option<Node> {
    let piece = *list.get(*at)?;
    *at += 1;
    let (value, mark) = match piece {
        Piece::Plain(s, mark) => (resolve(s, opts), mark),
        Piece::Quoted(s, mark) => (Value::Str(s.to_owned()), mark),
        Piece::Seq(mark, n) => {
            let mut items = Vec::with_capacity(n as usize);
            while *list.get(*at)? != Piece::End {
                items.push(node(list, at, opts)?);
            }
            *at += 1;
            (Value::Seq(items), mark)
        }
        Piece::Map(mark) => {
            let mut entries = Vec::new();
            loop {
                match *list.get(*at)? {
                    Piece::End => break,
                    Piece::Key(k, kmark) => {
                        *at += 1;
                        let key = Node {
                            value: Value::Str(k.to_owned()),
                            mark: kmark,
                        };
                        entries.push((key, node(list, at, opts)?));
                    }
                    _ => return None,
                }
            }
            *at += 1;
            (Value::Map(entries), mark)
        }
        Piece::End | Piece::Key(..) => return None,
    };
    Some(Node { value, mark })
}

/// `src` cut at each `\n`, as `str::split('\n')` cuts it (the piece
/// after the last one too, empty or not), by `bytes::find`: std's
/// splitter by a char costs about 200 instructions a line in this build.
fn split_lines(src: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(src.len() / 24 + 1);
    let mut rest = src;
    while let Some(at) = crate::bytes::find(rest, b'\n') {
        out.push(rest.get(..at).unwrap_or_default());
        rest = rest.get(at + 1..).unwrap_or_default();
    }
    out.push(rest);
    out
}

struct Reader<'s> {
    /// The document; `lines` are cut from it.
    src: &'s str,
    lines: Vec<&'s [u8]>,
    /// The line being read, from 0.
    line: usize,
    opts: ParseOptions,
    /// The pieces so far.
    out: Vec<Piece<'s>>,
    /// The keys of the mappings open now, innermost last: each mapping
    /// checks its own (from where they started) for duplicates.
    keys: Vec<&'s str>,
    /// Those of them that may resolve to something other than their text
    /// (`1` and `0x1` are one key), resolved.
    typed_keys: Vec<KeyId>,
}

/// Bytes a plain scalar may hold: none is an indicator anywhere.
const fn plain_byte_rule(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'/' | b'.' | b'~' | b'-' | b'+' | b'=' | b'@')
}

/// [`plain_byte_rule`] for every byte, worked out at compile time: the
/// reader asks it of nearly every byte of a document, and as a call (with
/// `is_ascii_alphanumeric`'s range tests, two more calls at opt-level z)
/// it was a tenth of reading a policy.
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = plain_byte_rule(i as u8);
        i += 1;
    }
    t
};

#[inline(always)]
fn plain_byte(b: u8) -> bool {
    PLAIN[b as usize]
}

/// Bytes a plain scalar may start with (`-` and `@` are indicators there).
fn plain_first(b: u8) -> bool {
    plain_byte(b) && !matches!(b, b'-' | b'@')
}

/// Where a mapping's keys start on the reader's key stacks.
#[derive(Clone, Copy)]
struct KeysFrom {
    keys: usize,
    typed: usize,
}

impl<'s> Reader<'s> {
    fn text(&self) -> &'s [u8] {
        self.lines.get(self.line).copied().unwrap_or_default()
    }

    /// `piece`, cut from the document, as text. The document is ASCII
    /// (see [`pieces`]), so any piece is: found by its place in `src`,
    /// instead of `str::from_utf8` looking at each of its bytes again.
    fn as_text(&self, piece: &'s [u8]) -> Option<&'s str> {
        let start = (piece.as_ptr() as usize).checked_sub(self.src.as_ptr() as usize)?;
        self.src.get(start..start.checked_add(piece.len())?)
    }

    fn mark(&self, col: usize) -> Mark {
        Mark {
            line: u32::try_from(self.line + 1).unwrap_or(u32::MAX),
            col: u32::try_from(col + 1).unwrap_or(u32::MAX),
        }
    }

    /// Moves past blank lines and lines that hold only a comment.
    fn skip_blank(&mut self) {
        while let Some(text) = self.lines.get(self.line) {
            match text.iter().find(|&&b| b != b' ') {
                None | Some(b'#') => self.line += 1,
                Some(_) => return,
            }
        }
    }

    /// The indentation of the current line, `None` past the end.
    fn indent(&self) -> Option<usize> {
        let text = self.lines.get(self.line)?;
        Some(text.iter().take_while(|&&b| b == b' ').count())
    }

    /// The next line's indentation after blank lines, `None` at the end.
    fn next_indent(&mut self) -> Option<usize> {
        self.skip_blank();
        self.indent()
    }

    /// Opens a mapping at `mark`: where its keys start.
    fn open_mapping(&mut self, mark: Mark) -> KeysFrom {
        self.out.push(Piece::Map(mark));
        KeysFrom {
            keys: self.keys.len(),
            typed: self.typed_keys.len(),
        }
    }

    /// Opens a sequence at `mark`: where its piece is.
    fn open_sequence(&mut self, mark: Mark) -> usize {
        self.out.push(Piece::Seq(mark, 0));
        self.out.len() - 1
    }

    /// Closes the sequence opened at `start`, which holds `items`.
    fn close_sequence(&mut self, start: usize, items: u32) {
        if let Some(Piece::Seq(_, n)) = self.out.get_mut(start) {
            *n = items;
        }
        self.out.push(Piece::End);
    }

    /// Closes the mapping opened at `from`.
    fn close(&mut self, from: KeysFrom) {
        self.keys.truncate(from.keys);
        self.typed_keys.truncate(from.typed);
        self.out.push(Piece::End);
    }

    /// Adds a key of the mapping opened at `from`; `None` when it repeats
    /// one (by its text, or by what it resolves to) or there are too many.
    fn key(&mut self, from: KeysFrom, text: &'s str, mark: Mark) -> Option<()> {
        let own = self.keys.get(from.keys..)?;
        if own.len() == MAX_KEYS || own.contains(&text) {
            return None;
        }
        // A key that is not a null, boolean or number resolves to its
        // text, which the check above compared.
        if let Some(value) = typed(text, self.opts) {
            let id = KeyId::of(&value);
            if self.typed_keys.get(from.typed..)?.contains(&id) {
                return None;
            }
            self.typed_keys.push(id);
        }
        self.keys.push(text);
        self.out.push(Piece::Key(text, mark));
        Some(())
    }

    /// A block collection whose first line is the current one, indented by
    /// `indent`.
    fn block(&mut self, indent: usize, depth: usize) -> Option<()> {
        let text = self.text();
        if is_dash(text, indent) {
            self.sequence(indent, depth)
        } else {
            self.mapping(indent, indent, depth)
        }
    }

    /// A block sequence of items at `indent`, starting on the current line.
    fn sequence(&mut self, indent: usize, depth: usize) -> Option<()> {
        let depth = enter(depth)?;
        let start = self.open_sequence(self.mark(indent));
        let mut items = 0u32;
        loop {
            items = items.saturating_add(1);
            let text = self.text();
            if !is_dash(text, indent) {
                return None;
            }
            // Content on the dash's line, after at least one space.
            let col = indent + 1 + count_spaces(text, indent + 1);
            match text.get(col) {
                None | Some(b'#') => return None,
                // `- - a` is a nested sequence; `- --flag` is a scalar.
                Some(b'-') if !dash_word(text, col) => return None,
                Some(_) => {}
            }
            if plain_to_end(text, col) {
                // The commonest item of all (`- /usr`): a word that is not a
                // key, read without the key and scalar scans below.
                let s = self.as_text(text.get(col..)?)?;
                self.out.push(Piece::Plain(s, self.mark(col)));
                self.line += 1;
            } else if key_end(text, col).is_some() {
                self.mapping(col, col, depth)?;
            } else {
                self.inline_value(col, depth)?;
                self.line += 1;
            }
            match self.next_indent() {
                Some(i) if i == indent && is_dash(self.text(), indent) => {}
                Some(i) if i > indent => return None,
                _ => break,
            }
        }
        self.close_sequence(start, items);
        Some(())
    }

    /// A block mapping whose keys stand at `indent`; the first one is on
    /// the current line at `col` (after a sequence's dash, or `indent`).
    fn mapping(&mut self, indent: usize, mut col: usize, depth: usize) -> Option<()> {
        let depth = enter(depth)?;
        let from = self.open_mapping(self.mark(col));
        loop {
            let text = self.text();
            let end = key_end(text, col)?;
            let key_text = self.as_text(text.get(col..end)?)?;
            self.key(from, key_text, self.mark(col))?;
            // `end` is the colon; the value follows after spaces.
            let at = end + 1 + count_spaces(text, end + 1);
            match text.get(at) {
                None | Some(b'#') => {
                    self.line += 1;
                    match self.next_indent() {
                        Some(i) if i > indent => self.block(i, depth)?,
                        Some(i) if i == indent && is_dash(self.text(), indent) => {
                            // The general reader marks such a sequence
                            // (its dashes under the key) at its first
                            // item instead of its dash when that item is
                            // a dash word (`- --flag`): left to it.
                            let text = self.text();
                            if dash_word(text, indent + 1 + count_spaces(text, indent + 1)) {
                                return None;
                            }
                            self.sequence(indent, depth)?;
                        }
                        // An empty value: left to the general reader.
                        _ => return None,
                    }
                }
                Some(_) => {
                    self.inline_value(at, depth)?;
                    self.line += 1;
                }
            }
            match self.next_indent() {
                Some(i) if i == indent && !is_dash(self.text(), indent) => col = indent,
                Some(i) if i > indent => return None,
                _ => break,
            }
        }
        self.close(from);
        Some(())
    }

    /// A value that starts at `col` of the current line and ends on it,
    /// followed only by spaces and a comment.
    fn inline_value(&mut self, col: usize, depth: usize) -> Option<()> {
        let text = self.text();
        if plain_to_end(text, col) {
            let s = self.as_text(text.get(col..)?)?;
            self.out.push(Piece::Plain(s, self.mark(col)));
            return Some(());
        }
        let end = self.flow_value(text, col, depth, false)?;
        let rest = end + count_spaces(text, end);
        match text.get(rest) {
            None => Some(()),
            Some(b'#') if rest > end => Some(()),
            _ => None,
        }
    }

    /// A scalar or flow collection at `col`; `in_flow` inside `[]`/`{}`.
    /// Returns where it ends.
    fn flow_value(
        &mut self,
        text: &'s [u8],
        col: usize,
        depth: usize,
        in_flow: bool,
    ) -> Option<usize> {
        let mark = self.mark(col);
        match *text.get(col)? {
            b'[' => self.flow_sequence(text, col, depth),
            b'{' => self.flow_mapping(text, col, depth),
            quote @ (b'"' | b'\'') => {
                let len = text.get(col + 1..)?.iter().position(|&b| b == quote)?;
                let inner = text.get(col + 1..col + 1 + len)?;
                if quote == b'"' && inner.contains(&b'\\') {
                    return None;
                }
                let s = self.as_text(inner)?;
                let end = col + len + 2;
                // `'it''s'` and a quote followed by more text are not this
                // shape.
                match text.get(end) {
                    None | Some(b' ') => {}
                    Some(b',' | b']' | b'}') if in_flow => {}
                    Some(_) => return None,
                }
                self.out.push(Piece::Quoted(s, mark));
                Some(end)
            }
            b if plain_first(b) || (!in_flow && dash_word(text, col)) => {
                let end = plain_end(text, col, in_flow)?;
                let s = self.as_text(text.get(col..end)?)?;
                self.out.push(Piece::Plain(s, mark));
                Some(end)
            }
            _ => None,
        }
    }

    /// `[a, b]` on one line, from its `[` at `col`.
    fn flow_sequence(&mut self, text: &'s [u8], col: usize, depth: usize) -> Option<usize> {
        let depth = enter(depth)?;
        let start = self.open_sequence(self.mark(col));
        let mut items = 0u32;
        let mut at = col + 1 + count_spaces(text, col + 1);
        if text.get(at) != Some(&b']') {
            loop {
                items = items.saturating_add(1);
                let end = self.flow_value(text, at, depth, true)?;
                at = end + count_spaces(text, end);
                match text.get(at)? {
                    b',' => at += 1 + count_spaces(text, at + 1),
                    b']' => break,
                    _ => return None,
                }
                if matches!(text.get(at), Some(b']' | b',')) {
                    return None; // a trailing or doubled comma
                }
            }
        }
        self.close_sequence(start, items);
        Some(at + 1)
    }

    /// `{k: v, k: v}` on one line, from its `{` at `col`.
    fn flow_mapping(&mut self, text: &'s [u8], col: usize, depth: usize) -> Option<usize> {
        let depth = enter(depth)?;
        let from = self.open_mapping(self.mark(col));
        let mut at = col + 1 + count_spaces(text, col + 1);
        if text.get(at) != Some(&b'}') {
            loop {
                let end = key_end(text, at)?;
                let key_text = self.as_text(text.get(at..end)?)?;
                self.key(from, key_text, self.mark(at))?;
                // `key_end` saw a space after the colon.
                let vat = end + 1 + count_spaces(text, end + 1);
                let vend = self.flow_value(text, vat, depth, true)?;
                at = vend + count_spaces(text, vend);
                match text.get(at)? {
                    b',' => at += 1 + count_spaces(text, at + 1),
                    b'}' => break,
                    _ => return None,
                }
                if matches!(text.get(at), Some(b'}' | b',')) {
                    return None;
                }
            }
        }
        self.close(from);
        Some(at + 1)
    }
}

/// The depth inside a new collection, if that is still allowed.
fn enter(depth: usize) -> Option<usize> {
    (depth < MAX_DEPTH).then_some(depth + 1)
}

fn count_spaces(text: &[u8], from: usize) -> usize {
    text.get(from..)
        .map_or(0, |t| t.iter().take_while(|&&b| b == b' ').count())
}

/// Whether the line holds a sequence's `-` at `indent`: a dash followed
/// by a space or the line's end.
fn is_dash(text: &[u8], indent: usize) -> bool {
    text.get(indent) == Some(&b'-') && matches!(text.get(indent + 1), None | Some(b' '))
}

/// Whether a `-` at `col` starts a plain scalar (`--flag`, `-1`): it is
/// followed by a scalar byte, not by the space or line end of a sequence's
/// dash. Outside flow collections only, and for values only: such a word
/// as a key is left to the general reader.
fn dash_word(text: &[u8], col: usize) -> bool {
    text.get(col) == Some(&b'-') && text.get(col + 1).is_some_and(|&b| plain_byte(b))
}

/// Where a plain scalar that starts at `col` ends: its bytes, with spaces
/// between words, up to the line's end, a comment or any other byte.
/// Trailing spaces are not part of it. `None` when a word after a space
/// starts with `-` or `@`: the general reader takes `[b -]` for the start
/// of another scalar and refuses it, so such text is left to it.
///
/// Outside flow collections a `:` inside a word belongs to the scalar
/// when a scalar byte or another `:` follows it (YAML's plain scalars:
/// `../card1::/dev/dri/by-path/pci-0000:17:00.0-card` in the hooks of
/// NVIDIA's specs); `: ` or a final `:` ends it, as a key's colon would.
fn plain_end(text: &[u8], col: usize, in_flow: bool) -> Option<usize> {
    let mut end = col;
    let mut at = col;
    while let Some(&b) = text.get(at) {
        if plain_byte(b) {
            if at != end && !plain_first(b) {
                return None;
            }
            at += 1;
            end = at;
        } else if b == b':'
            && !in_flow
            && at == end
            && at > col
            && text
                .get(at + 1)
                .is_some_and(|&n| plain_byte(n) || n == b':')
        {
            at += 1;
            end = at;
        } else if b == b' ' {
            at += 1;
        } else {
            break;
        }
    }
    Some(end)
}

/// Whether the line holds from `col` to its end one plain word: a plain
/// scalar that is all of the rest of the line (no space, colon, comment or
/// indicator in it), so neither a key nor anything else.
fn plain_to_end(text: &[u8], col: usize) -> bool {
    text.get(col).is_some_and(|&b| plain_first(b))
        && text
            .get(col..)
            .is_some_and(|t| t.iter().all(|&b| plain_byte(b)))
}

/// Where a simple key at `col` ends (the index of its colon): plain key
/// bytes, then `:` followed by a space or the line's end.
fn key_end(text: &[u8], col: usize) -> Option<usize> {
    if !text.get(col).is_some_and(|&b| plain_first(b)) {
        return None;
    }
    let len = text
        .get(col..)?
        .iter()
        .take_while(|&&b| plain_byte(b))
        .count();
    // The general reader takes a longer plain key for a scalar (its simple
    // key limit) and refuses the document.
    if len > MAX_KEY_LEN {
        return None;
    }
    let end = col + len;
    (text.get(end) == Some(&b':') && matches!(text.get(end + 1), None | Some(b' '))).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::super::both_readers;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lines_are_split_as_by_the_string_splitter() {
        for src in ["", "\n", "a", "a\n", "a\nb", "\n\nb\n", "a:\n  - b\n  - c"] {
            let want: Vec<&[u8]> = src.split('\n').map(str::as_bytes).collect();
            assert_eq!(split_lines(src.as_bytes()), want, "{src:?}");
        }
    }

    #[test]
    fn the_plain_byte_table_is_the_rule() {
        for b in 0..=u8::MAX {
            assert_eq!(plain_byte(b), plain_byte_rule(b), "byte {b:#04x}");
        }
    }

    /// Where this reader answers, its tree is the general reader's, marks
    /// included (compared as text so that `.nan` equals itself).
    /// The items of the collection that starts at `list[*at]`, moving
    /// `at` past it; panics where a sequence's count is not its items'.
    fn counted(list: &[Piece<'_>], at: &mut usize) -> usize {
        let piece = list[*at];
        *at += 1;
        if !matches!(piece, Piece::Seq(..) | Piece::Map(_)) {
            return 0;
        }
        let mut items = 0;
        while list[*at] != Piece::End {
            if !matches!(list[*at], Piece::Key(..)) {
                items += 1;
            }
            counted(list, at);
        }
        *at += 1;
        if let Piece::Seq(_, n) = piece {
            assert_eq!(n as usize, items, "{piece:?}");
        }
        items
    }

    fn agrees(src: &str) -> bool {
        let mut answered = false;
        for yaml11_octal in [false, true] {
            let opts = ParseOptions { yaml11_octal };
            if let Some(list) = pieces(src, opts) {
                let mut at = 0;
                counted(&list, &mut at);
                assert_eq!(at, list.len(), "{src:?}");
            }
            if let (Some(fast), general) = both_readers(src, opts) {
                answered = true;
                assert_eq!(
                    format!("{:?}", Ok::<_, ()>(&fast)),
                    format!("{:?}", general.as_ref().map_err(|_| ())),
                    "the readers disagree on {src:?}: general {general:?}"
                );
            }
        }
        answered
    }

    #[test]
    fn reads_the_shapes_policies_and_specs_use() {
        for src in [
            "version: 1\nfilesystem_policy:\n  include_workdir: true\n  read_only:\n    - /usr\n    - /etc\n  read_write:\n    - /tmp\n",
            "landlock: {compatibility: best_effort, require: {filesystem: true}}\nprocess: {run_as_user: 65534, run_as_group: 65534}\n",
            "cdiVersion: 0.5.0\nkind: example.com/dev\ndevices:\n- name: \"0\"\n  containerEdits:\n    deviceNodes: [{path: /dev/x, type: c, major: 1, minor: 3}]\n- name: '1'\n  containerEdits:\n    env: [A=1, \"B=2\"]\n",
            "# a comment\n\na: 1 # trailing\n\n  # indented comment\nb:\n- x\n- y z\nc: [ ]\nd: {}\ne: [[a], {b: c}]\n",
            "  top: indented\n  next: [1, 2.5, .inf, ~, null, true, 0x1f, 0o17, 0755]",
            "list:\n  -   a: 1\n      b: 2\n  - c: 3\n",
            "- a\n- b: c\n  d: e\n-   [x]\n",
            "a:\n  b:\n    c:\n      - d\n",
            // The hooks of NVIDIA's specs: flags and `::` in arguments.
            "hooks:\n- hookName: createContainer\n  args:\n  - nvidia-cdi-hook\n  - create-symlinks\n  - --link\n  - ../card1::/dev/dri/by-path/pci-0000:17:00.0-card\n",
            "a: -1\nb: -.inf\nc: --x-y\nd: x:1\ne: a::b c:d\nf: -x # c\n",
        ] {
            assert!(agrees(src), "not read by the simple reader: {src:?}");
        }
    }

    #[test]
    fn leaves_everything_else_to_the_general_reader() {
        for src in [
            "",
            "# only a comment\n",
            "scalar\n",
            "a:\tb\n",
            "a: b\r\n",
            "\u{feff}a: b\n",
            "a: é\n",
            "%YAML 1.2\n---\na: b\n",
            "---\na: b\n",
            "a: b\n...\n",
            "a:\n",
            "a:\nb: c\n",
            "a: b\n  c\n",
            "- a\n  b\n",
            "a: 'it''s'\n",
            "a: \"x\\ty\"\n",
            "a: \"open\n  close\"\n",
            "a: &x b\n",
            "a: *x\n",
            "a: !t b\n",
            "? a\n: b\n",
            "a: |\n  b\n",
            "a: >\n  b\n",
            "a: 1\na: 2\n",
            "1: a\n0x1: b\n",
            "a: [b,]\n",
            "a: [b,,c]\n",
            "a: {b: c,}\n",
            "a: [b\n  , c]\n",
            "a: b#c\n",
            "a: b: c\n",
            "a:b\n",
            "\"q\": b\n",
            "- - a\n",
            "-\n  a: b\n",
            "a: [b]c\n",
            "a: @b\n",
            "a: `b`\n",
            "a: {b}\n",
            "a: {b:c}\n",
            "a: [b -]\n",
            "a: [= -]\n",
            "a: b -\n",
            "a: b @c\n",
            // `:` ends a scalar before a space, at the line's end, before
            // `#` and after a space; a dash word is not a key, and inside
            // a flow collection both are left to the general reader.
            "a: b:\n",
            "a: b:#c\n",
            "a: b :c\n",
            "a: b:: c\n",
            "- a:b: c\n",
            "-x: b\n",
            "- -x: b\n",
            "a: [-x]\n",
            "a: [x:y]\n",
            "a: {b: -x}\n",
            "a: -\n",
            "- -\n",
            "a:\n- -1\n- b\n",
            "a:\n- --link\n",
        ] {
            assert!(
                load(src, ParseOptions::default()).is_none(),
                "read by the simple reader: {src:?}"
            );
            agrees(src);
        }
        let deep = format!("a: {}{}\n", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(load(&deep, ParseOptions::default()).is_none());
        let keys: String = (0..=MAX_KEYS).map(|i| format!("k{i}: v\n")).collect();
        assert!(load(&keys, ParseOptions::default()).is_none());
        let fewer: String = (0..MAX_KEYS).map(|i| format!("k{i}: v\n")).collect();
        assert!(agrees(&fewer));
        let long = "a".repeat(MAX_KEY_LEN + 1);
        for src in [
            format!("{long}: b\n"),
            format!("- {long}: b\n"),
            format!("x: 1\n{long}: b\n"),
            format!("r:\n  {long}:\n    b: c\n"),
        ] {
            assert!(load(&src, ParseOptions::default()).is_none(), "{src:?}");
            agrees(&src);
        }
        // The control: a key at the limit is a key to both readers.
        let longest = format!("{}: b\n", "a".repeat(MAX_KEY_LEN));
        assert!(agrees(&longest));
    }

    /// Scalars that are and are not of the simple shape.
    const WORDS: &[&str] = &[
        "a", "b", "a b", "/usr/lib", "x-y", "1", "01", "0755", "0x1F", "0o7", "1.5", ".5", "1e3",
        ".inf", ".nan", "-.inf", "+1", "-1", "~", "null", "true", "False", "@a", "a#b", "a #b",
        "a:b", "a: b", "", " ", "é", "-", "--", "...", "[a]", "{a: b}", "'q'", "\"q\"", "a,b", "?",
        "*a", "&a", "!a", "|", ">", "%", "a\tb", "b -", "b -c", "b @", "b-", "b -]",
    ];

    #[derive(Debug, Clone)]
    enum Tree {
        Scalar(&'static str, u8),
        Seq(Vec<Tree>),
        Map(Vec<(&'static str, Tree)>),
    }

    /// Scalars of the simple shape only, so that most written trees are
    /// read by this reader.
    const SIMPLE_WORDS: &[&str] = &[
        "a", "b", "a b", "a  b", "/usr/lib", "x-y", "a.b", "x_y", "k=v", "u@h", "1", "01", "0755",
        "0x1F", "0o7", "1.5", ".5", "1e3", ".inf", ".nan", "+1", "~", "null", "true", "False",
        // Next to the shape: words after a space that start with an
        // indicator.
        "b -", "b -c", "b @", // Dash words and colons inside words (block values only).
        "-1", "--flag", "-x-y", "a::b", "x:1", "a:b c", "a:",
    ];

    fn tree(words: &'static [&'static str]) -> impl Strategy<Value = Tree> {
        let word = prop::sample::select(words);
        let leaf = (word.clone(), 0u8..3).prop_map(|(w, s)| Tree::Scalar(w, s));
        leaf.prop_recursive(5, 40, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Tree::Seq),
                prop::collection::vec((prop::sample::select(words), inner), 0..5)
                    .prop_map(Tree::Map),
            ]
        })
    }

    /// How a tree is written out: the choices are drawn from `style`.
    struct Writer {
        style: Vec<u8>,
        at: usize,
        out: String,
    }

    impl Writer {
        fn pick(&mut self, n: u8) -> u8 {
            let b = self.style.get(self.at).copied().unwrap_or(0);
            self.at = (self.at + 1) % self.style.len().max(1);
            b % n
        }

        fn scalar(&mut self, w: &str, s: u8) {
            match s {
                0 => self.out.push_str(w),
                1 => {
                    self.out.push('"');
                    self.out.push_str(w);
                    self.out.push('"');
                }
                _ => {
                    self.out.push('\'');
                    self.out.push_str(w);
                    self.out.push('\'');
                }
            }
        }

        fn flow(&mut self, t: &Tree) {
            match t {
                Tree::Scalar(w, s) => self.scalar(w, *s),
                Tree::Seq(items) => {
                    self.out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            let sep = [",", ", ", " , "][self.pick(3) as usize];
                            self.out.push_str(sep);
                        }
                        self.flow(item);
                    }
                    self.out.push(']');
                }
                Tree::Map(entries) => {
                    self.out.push('{');
                    for (i, (k, v)) in entries.iter().enumerate() {
                        if i > 0 {
                            self.out.push_str(", ");
                        }
                        self.out.push_str(k);
                        let sep = [": ", ":  ", ":"][self.pick(3) as usize];
                        self.out.push_str(sep);
                        self.flow(v);
                    }
                    self.out.push('}');
                }
            }
        }

        fn pad(&mut self, n: usize) {
            self.out.extend(std::iter::repeat_n(' ', n));
        }

        fn end_line(&mut self) {
            match self.pick(6) {
                0 => self.out.push_str(" # note"),
                1 => self.out.push_str("\n\n"),
                2 => self.out.push_str("\n   # note"),
                3 => self.out.push(' '),
                _ => {}
            }
            self.out.push('\n');
        }

        /// Writes `t` as the value after a key or dash, on the current line
        /// or below it at `indent`.
        fn value(&mut self, t: &Tree, indent: usize, after_key: bool) {
            let nested = matches!(t, Tree::Seq(v) if !v.is_empty())
                || matches!(t, Tree::Map(v) if !v.is_empty());
            if !nested || self.pick(4) == 0 {
                self.out.push(' ');
                self.flow(t);
                self.end_line();
                return;
            }
            if let (Tree::Seq(_), true, 0) = (t, after_key, self.pick(2)) {
                // An indentless sequence under its key.
                self.end_line();
                self.block(t, indent.saturating_sub(2));
                return;
            }
            self.end_line();
            self.block(t, indent);
        }

        fn block(&mut self, t: &Tree, indent: usize) {
            match t {
                Tree::Scalar(..) => self.flow(t),
                Tree::Seq(items) if items.is_empty() => self.flow(t),
                Tree::Map(entries) if entries.is_empty() => self.flow(t),
                Tree::Seq(items) => {
                    for item in items {
                        self.pad(indent);
                        self.out.push('-');
                        let step = 1 + self.pick(3) as usize;
                        match item {
                            Tree::Map(entries) if !entries.is_empty() && self.pick(2) == 0 => {
                                // A mapping that starts on the dash's line.
                                self.pad(step);
                                self.entries(entries, indent + 1 + step, true);
                            }
                            _ => self.value(item, indent + 1 + step, false),
                        }
                    }
                }
                Tree::Map(entries) => self.entries(entries, indent, false),
            }
        }

        fn entries(&mut self, entries: &[(&str, Tree)], indent: usize, first_inline: bool) {
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 || !first_inline {
                    self.pad(indent);
                }
                self.out.push_str(k);
                self.out.push(':');
                let step = 1 + self.pick(4) as usize;
                self.value(v, indent + step, true);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn written_trees_read_alike(t in tree(WORDS), style in prop::collection::vec(any::<u8>(), 1..64)) {
            let mut w = Writer { style, at: 0, out: String::new() };
            w.block(&t, 0);
            agrees(&w.out);
        }

        #[test]
        fn written_simple_trees_read_alike(t in tree(SIMPLE_WORDS), style in prop::collection::vec(any::<u8>(), 1..64)) {
            let mut w = Writer { style, at: 0, out: String::new() };
            w.block(&t, 0);
            agrees(&w.out);
        }

        #[test]
        fn character_soup_reads_alike(parts in prop::collection::vec(prop::sample::select(&[
            "a", "b", "1", "0", " ", "  ", "\n", "- ", "-", ":", ": ", "#", " #", "[", "]", "{",
            "}", ",", ", ", "\"", "'", "~", ".", "...", "---", "\\", "?", "&", "*", "!", "|",
            ">", "@", "%", "\t", "\r",
        ][..]), 0..40)) {
            agrees(&parts.concat());
        }
    }

    /// Every document the test suite reads.
    #[test]
    fn the_suites_documents_read_alike() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut stack = vec![root.join("tests"), root.join("policy")];
        let (mut seen, mut answered) = (0, 0);
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                    let Ok(src) = std::fs::read_to_string(&path) else {
                        continue;
                    };
                    seen += 1;
                    answered += usize::from(agrees(&src));
                }
            }
        }
        assert!(seen > 20, "only {seen} documents found");
        assert!(
            answered > 0,
            "the simple reader read none of {seen} documents"
        );
        eprintln!("{answered} of {seen} documents read by the simple reader");
    }
}
