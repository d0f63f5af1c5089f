//! Checks shared by the fuzz targets.

use std::fmt::Display;

/// The lines of `text` as YAML breaks them: at `\n`, `\r\n` and a lone
/// `\r`. An empty text is one empty line.
pub fn lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['\n', '\r']) {
        out.push(&rest[..i]);
        let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[i + skip..];
    }
    out.push(rest);
    out
}

/// Panic unless `line:col` lies inside the document: an existing line, and
/// a column from 1 to one past that line's last character (where an
/// error about a missing value at the end of a line points).
pub fn assert_inside(lines: &[&str], line: u32, col: u32, what: &dyn Display) {
    assert!(
        line >= 1 && line as usize <= lines.len(),
        "line {line} outside 1..={}: {what}",
        lines.len()
    );
    let width = lines[line as usize - 1].chars().count() + 1;
    assert!(
        col >= 1 && col as usize <= width,
        "column {col} outside 1..={width} on line {line}: {what}"
    );
}
