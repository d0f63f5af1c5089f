//! The JSON Schema (draft 2020-12) of the policy document, for editors and
//! CI. It is written by hand in `policy/schema.json` and kept in agreement
//! with the serde model by `tests/schema.rs`.
//!
//! The binary embeds the document without its indentation (build.rs
//! strips the whitespace between tokens: about 14 KiB instead of 30 KiB)
//! and [`pretty`] indents it again for `schema`, giving back the file byte
//! for byte (the test below holds the two together).

/// The schema, compact: the same JSON document as `policy/schema.json`.
pub const SCHEMA: &str = include_str!(concat!(env!("OUT_DIR"), "/schema.min.json"));

/// [`SCHEMA`] laid out as `policy/schema.json` is: two-space indentation,
/// one member or element per line, `": "` after keys, empty objects and
/// arrays as `{}` and `[]`, and a final newline.
pub fn pretty() -> String {
    fn newline(out: &mut String, depth: usize) {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    }
    let mut out = String::with_capacity(SCHEMA.len() * 2);
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    let mut chars = SCHEMA.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                if let Some(e) = chars.next_if_eq(&close) {
                    out.push(e);
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn pretty_gives_back_the_file() {
        let file = include_str!("../../policy/schema.json");
        assert!(super::SCHEMA.len() < file.len() / 2);
        assert_eq!(super::pretty(), file);
    }
}
