//! Path tests by bytes. The watch thread compares every event's path with the root, the git
//! dirs and its set of watched directories, and `Path`'s own comparisons go component by
//! component: in a checkout that was a fifth of the daemon's CPU. The paths compared here are
//! all built by joining names onto the canonical root, so they hold no `.`, no `..` and no
//! doubled or trailing separator, and a test on bytes agrees with one on components.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

/// The bytes of `path`.
pub(super) fn bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

/// Whether `path` is `dir` or lies below it (`Path::starts_with`, by bytes).
pub(super) fn is_under(path: &Path, dir: &Path) -> bool {
    let (p, d) = (bytes(path), bytes(dir));
    p.starts_with(d) && (p.len() == d.len() || d.ends_with(b"/") || p[d.len()] == b'/')
}

/// `path` relative to `dir` (empty for `dir` itself); `None` when it is not below it
/// (`Path::strip_prefix`, by bytes).
pub(super) fn relative<'a>(path: &'a Path, dir: &Path) -> Option<&'a Path> {
    if !is_under(path, dir) {
        return None;
    }
    let (p, d) = (bytes(path), bytes(dir));
    let skip = if p.len() == d.len() || d.ends_with(b"/") {
        d.len()
    } else {
        d.len() + 1
    };
    Some(Path::new(OsStr::from_bytes(&p[skip..])))
}

/// The directory holding `path` (`Path::parent`, by bytes); `None` for a path without a
/// separator or for `/`.
pub(super) fn parent(path: &Path) -> Option<&Path> {
    let p = bytes(path);
    match p.iter().rposition(|&b| b == b'/') {
        None => None,
        Some(0) if p.len() == 1 => None,
        Some(0) => Some(Path::new("/")),
        Some(at) => Some(Path::new(OsStr::from_bytes(&p[..at]))),
    }
}

/// Whether one of the components of `path` is `name`.
pub(super) fn has_component(path: &Path, name: &str) -> bool {
    bytes(path)
        .split(|&b| b == b'/')
        .any(|c| c == name.as_bytes())
}

/// The prefix every path strictly below `dir` starts with: `dir` and a separator. In byte
/// order those paths sort together right from it (unlike in `Path`'s order, `dir-x` sorts
/// between `dir` and `dir/`, which is why the subtree is looked up from here).
pub(super) fn below(dir: &Path) -> OsString {
    let mut prefix = bytes(dir).to_vec();
    if !prefix.ends_with(b"/") {
        prefix.push(b'/');
    }
    OsString::from_vec(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_tests_agree_with_component_tests() {
        let cases = [
            ("/r/a/b", "/r/a"),
            ("/r/a", "/r/a"),
            ("/r/ab", "/r/a"),
            ("/r/a-b/c", "/r/a"),
            ("/r", "/r/a"),
            ("/r/a/b", "/"),
            ("/x/a", "/r"),
        ];
        for (path, dir) in cases {
            let (path, dir) = (Path::new(path), Path::new(dir));
            assert_eq!(
                is_under(path, dir),
                path.starts_with(dir),
                "{path:?} {dir:?}"
            );
            assert_eq!(
                relative(path, dir),
                path.strip_prefix(dir).ok(),
                "{path:?} {dir:?}"
            );
            assert_eq!(parent(path), path.parent(), "{path:?}");
        }
        assert_eq!(parent(Path::new("/")), None);
        assert_eq!(
            parent(Path::new("a")),
            Path::new("a")
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
        );
        assert!(has_component(Path::new("a/.git/b"), ".git"));
        assert!(has_component(Path::new(".git"), ".git"));
        assert!(!has_component(Path::new("a/.github/b"), ".git"));
        assert_eq!(below(Path::new("/r/a")), "/r/a/");
        assert_eq!(below(Path::new("/")), "/");
    }
}
