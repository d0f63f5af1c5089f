//! Lexical path handling for policy paths. Nothing here touches the host.

/// Collapse repeated `/`, drop `.` components and trailing `/`; keep `..`
/// (validation rejects it, so it must survive to be seen). `"/."`, `"//"`
/// and `"/./"` all become `"/"`, so the read-write `/` rule cannot be
/// dodged by spelling (a gap in OpenShell's check, which runs before its
/// normalization).
pub fn normalize(p: &str) -> String {
    // Most paths are already normal: no empty or `.` component, no
    // trailing slash (a policy may list hundreds). One pass over the
    // bytes; substring searches cost thousands of instructions a path.
    let plain = p == "/"
        || p.as_bytes().split_first().is_some_and(|(&first, rest)| {
            first == b'/'
                && rest
                    .split(|&b| b == b'/')
                    .all(|c| !c.is_empty() && c != b".")
        });
    if plain {
        return p.to_string();
    }
    let absolute = p.starts_with('/');
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

pub fn has_parent_component(p: &str) -> bool {
    p.split('/').any(|c| c == "..")
}

/// `p` (normalized, absolute) and each directory above it, up to `/`.
pub fn ancestors(p: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(p);
    std::iter::from_fn(move || {
        let at = next?;
        next = match at.rfind('/') {
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
    parent == "/"
        || child == parent
        || (child.starts_with(parent) && child.as_bytes().get(parent.len()) == Some(&b'/'))
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

    proptest::proptest! {
        #[test]
        fn normalize_agrees_with_the_slow_one_on_any_spelling(p in "/[/.a]{0,12}") {
            let parts: Vec<&str> = p
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .collect();
            proptest::prop_assert_eq!(normalize(&p), format!("/{}", parts.join("/")));
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
    }

    #[test]
    fn within() {
        assert!(is_within("/usr/lib", "/usr"));
        assert!(!is_within("/usrx", "/usr"));
        assert!(is_within("/x", "/"));
        assert!(is_within("/usr", "/usr"));
    }
}
