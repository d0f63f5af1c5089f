//! Lexical path handling for policy paths. Nothing here touches the host.

/// Collapse repeated `/`, drop `.` components and trailing `/`; keep `..`
/// (validation rejects it, so it must survive to be seen). `"/."`, `"//"`
/// and `"/./"` all become `"/"`, so the read-write `/` rule cannot be
/// dodged by spelling (a gap in OpenShell's check, which runs before its
/// normalization).
pub fn normalize(p: &str) -> String {
    normalized(p).into_owned()
}

/// [`normalize`], borrowing `p` when it is normal already, as nearly every
/// path is (a policy or a CDI spec may list hundreds).
pub fn normalized(p: &str) -> std::borrow::Cow<'_, str> {
    if is_normal(p.as_bytes()) {
        return std::borrow::Cow::Borrowed(p);
    }
    let absolute = p.starts_with('/');
    let parts: Vec<&str> = components(p).filter(|c| *c != ".").collect();
    let joined = parts.join("/");
    std::borrow::Cow::Owned(if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    })
}

/// Whether `p` is absolute and already normal: `/`, or a `/` before each
/// component, none of them empty or `.`. One pass, two bytes of memory.
fn is_normal(p: &[u8]) -> bool {
    let Some((b'/', rest)) = p.split_first() else {
        return false;
    };
    // A component ends (at a `/` or the end) after `/` (empty) or `/.`.
    let (mut prev, mut before) = (b'/', 0);
    for &b in rest {
        if b == b'/' && (prev == b'/' || (prev == b'.' && before == b'/')) {
            return false;
        }
        (before, prev) = (prev, b);
    }
    rest.is_empty() || !(prev == b'/' || (prev == b'.' && before == b'/'))
}

/// The non-empty components of `p` (`p.split('/')` without the empty
/// ones), found over the bytes: `str::split` by a char cost about 700
/// instructions a path at the launch's opt-level.
pub fn components(p: &str) -> impl DoubleEndedIterator<Item = &str> {
    p.as_bytes()
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        // `/` is ASCII, so each piece starts and ends on a char boundary.
        .filter_map(move |c| {
            let start = c.as_ptr() as usize - p.as_ptr() as usize;
            p.get(start..start + c.len())
        })
}

pub fn has_parent_component(p: &str) -> bool {
    // Over the bytes: `str::split` by a char cost ~900 instructions a path.
    // Most paths have no dot at all, which a word-wise search tells first.
    let b = p.as_bytes();
    crate::bytes::find(b, b'.').is_some() && b.split(|&b| b == b'/').any(|c| c == b"..")
}

/// Whether `p` names `/` (`normalize(p) == "/"`) without building the
/// normal form: absolute, with only empty and `.` components.
pub fn is_root(p: &str) -> bool {
    p.as_bytes().split_first().is_some_and(|(&first, rest)| {
        first == b'/'
            && rest
                .split(|&b| b == b'/')
                .all(|c| c.is_empty() || c == b".")
    })
}

/// The first control character of `s` (as `char::is_control` decides:
/// C0, DEL and C1), found over the bytes: C1 characters (U+0080..=U+009F)
/// are the two-byte sequences `C2 80..=9F`, and in UTF-8 `C2` is only ever
/// a lead byte.
pub fn first_control(s: &str) -> Option<char> {
    let b = s.as_bytes();
    if !crate::bytes::may_have_control(b) {
        return None;
    }
    let at = b.iter().enumerate().position(|(i, &x)| {
        x < 0x20
            || x == 0x7f
            || (x == 0xc2 && b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)))
    })?;
    s.get(at..)?.chars().next()
}

/// `p` (normalized, absolute) and each directory above it, up to `/`.
pub fn ancestors(p: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(p);
    std::iter::from_fn(move || {
        let at = next?;
        next = match crate::bytes::rfind(at.as_bytes(), b'/') {
            _ if at == "/" => None,
            Some(0) => Some("/"),
            Some(i) => Some(&at[..i]),
            None => None,
        };
        Some(at)
    })
}

/// `true` when `child` is `parent` or lies beneath it (both normalized).
pub fn is_within(child: &str, parent: &str) -> bool {
    // Over the bytes, the lengths first: `str::starts_with` goes through
    // the pattern machinery, about 90 instructions a call at opt-level z.
    is_within_bytes(child.as_bytes(), parent.as_bytes())
}

/// [`is_within`] for paths that need not be UTF-8 (mount points).
pub fn is_within_bytes(c: &[u8], p: &[u8]) -> bool {
    if p == b"/" {
        return true;
    }
    match (c.get(..p.len()), c.get(p.len())) {
        (Some(head), next) => matches!(next, None | Some(b'/')) && head == p,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_of_normalize_agrees_with_the_slow_one() {
        for p in [
            "/", "/a", "/a/b", "/a/.b", "/a..", "/a/../b", "/a/", "/a//b", "/a/./b", "/a/.", "//",
            "/.", "/..", "/a/..", "/./a", "/a/b/", "/a/b/.", "/...", "/a/.../b", "///a",
        ] {
            let parts: Vec<&str> = p
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .collect();
            assert_eq!(normalize(p), format!("/{}", parts.join("/")), "{p}");
        }
    }

    #[test]
    fn the_root_in_its_spellings() {
        for p in ["/", "//", "/.", "/./", "/./.", "///."] {
            assert!(is_root(p), "{p}");
        }
        for p in ["", ".", "/a", "/..", "/.a", "./", "a/"] {
            assert!(!is_root(p), "{p}");
        }
    }

    proptest::proptest! {
        #[test]
        fn components_as_a_split_by_char_finds_them(p in "[/.a\u{e9}\u{10000}]{0,12}") {
            let want: Vec<&str> = p.split('/').filter(|c| !c.is_empty()).collect();
            let got: Vec<&str> = components(&p).collect();
            proptest::prop_assert_eq!(&got, &want);
            let mut back: Vec<&str> = components(&p).rev().collect();
            back.reverse();
            proptest::prop_assert_eq!(back, want);
        }

        #[test]
        fn is_within_as_a_prefix_and_a_slash(c in "[/ab]{0,6}", p in "[/ab]{0,4}") {
            let want = p == "/" || c == p || (c.starts_with(&p) && c.as_bytes().get(p.len()) == Some(&b'/'));
            proptest::prop_assert_eq!(is_within(&c, &p), want);
        }

        #[test]
        fn parent_components_as_a_split_by_char_finds_them(p in "[/.a]{0,12}") {
            proptest::prop_assert_eq!(has_parent_component(&p), p.split('/').any(|c| c == ".."));
        }

        /// Any characters, with C0, DEL, C1 and the characters whose
        /// encodings neighbour C1's (U+00A0, U+0100, U+0800) likely.
        #[test]
        fn first_control_is_the_first_char_that_is_control(
            p in "[a/\u{0}-\u{20}\u{7e}-\u{a1}\u{ff}-\u{101}\u{7ff}-\u{801}\u{10000}]{0,8}|\\PC{0,8}"
        ) {
            proptest::prop_assert_eq!(first_control(&p), p.chars().find(|c| c.is_control()));
        }

        #[test]
        fn is_root_is_normalizing_to_the_root(p in "[/.a]{0,8}") {
            proptest::prop_assert_eq!(is_root(&p), normalize(&p) == "/", "{:?}", p);
        }

        #[test]
        fn normalize_agrees_with_the_slow_one_on_any_spelling(p in "/?[/.a]{0,12}") {
            let parts: Vec<&str> = p
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .collect();
            let want = match (p.starts_with('/'), parts.join("/")) {
                (true, j) => format!("/{j}"),
                (false, j) if j.is_empty() => ".".to_string(),
                (false, j) => j,
            };
            let borrowed = matches!(normalized(&p), std::borrow::Cow::Borrowed(_));
            if p.starts_with('/') {
                proptest::prop_assert_eq!(borrowed, want == p);
            } else {
                proptest::prop_assert!(!borrowed);
            }
            proptest::prop_assert_eq!(normalize(&p), want);
        }
    }

    #[test]
    fn ancestors_walk_up_to_the_root() {
        assert_eq!(
            ancestors("/a/b/c").collect::<Vec<_>>(),
            ["/a/b/c", "/a/b", "/a", "/"]
        );
        assert_eq!(ancestors("/").collect::<Vec<_>>(), ["/"]);
        for (child, parent) in [("/a/b", "/a"), ("/ab", "/a"), ("/a", "/"), ("/a", "/a")] {
            assert_eq!(
                ancestors(child).any(|x| x == parent),
                is_within(child, parent)
            );
        }
    }

    #[test]
    fn normalize_spellings_of_root() {
        for p in ["/", "/.", "//", "/./", "//.", "/./.", "///"] {
            assert_eq!(normalize(p), "/", "{p}");
        }
    }

    #[test]
    fn normalize_keeps_parent_and_strips_trailing_slash() {
        assert_eq!(normalize("/a//b/./c/"), "/a/b/c");
        assert_eq!(normalize("/a/../b"), "/a/../b");
        assert_eq!(normalize("tmp/x"), "tmp/x");
        assert!(has_parent_component("/a/../b"));
        assert!(!has_parent_component("/a/..b"));
        assert!(has_parent_component(".."));
        assert!(has_parent_component("/a/.."));
        assert!(has_parent_component("../a"));
        assert!(!has_parent_component("/a/.../b"));
        assert!(!has_parent_component("/a/./b"));
        assert!(!has_parent_component("/a/b.."));
    }

    #[test]
    fn within() {
        assert!(is_within("/usr/lib", "/usr"));
        assert!(!is_within("/usrx", "/usr"));
        assert!(is_within("/x", "/"));
        assert!(is_within("/usr", "/usr"));
    }
}
