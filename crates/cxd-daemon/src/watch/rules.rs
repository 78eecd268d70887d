//! Which paths are ignored: the `ignore` crate's gitignore matchers, one pair per directory.
//!
//! The walk and the event filter share these rules, so a path is judged the same way whether it
//! is found by a scan or reported by the OS. Precedence follows the `ignore` crate's walker: the
//! config's patterns, then the deepest `.ignore`, then the deepest `.gitignore`, then
//! `.git/info/exclude`, then the global excludes file; the first that matches (as an ignore or a
//! `!` whitelist) decides.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

/// The ignore rules of one tree.
pub(super) struct Rules {
    root: PathBuf,
    extra: Gitignore,
    info_exclude: Gitignore,
    global: Gitignore,
    /// Directories holding a `.ignore` or a `.gitignore`, by absolute path.
    dirs: HashMap<PathBuf, DirRules>,
}

struct DirRules {
    ignore: Gitignore,
    gitignore: Gitignore,
}

impl Rules {
    /// Rules for `root`: the config's patterns, `info_exclude` if any, and the global excludes.
    pub(super) fn new(root: &Path, extra: &[String], info_exclude: Option<&Path>) -> Self {
        let mut builder = GitignoreBuilder::new(root);
        for pattern in extra {
            if let Err(error) = builder.add_line(None, pattern) {
                tracing::warn!(%pattern, %error, "ignoring an invalid ignore pattern from the config");
            }
        }
        let extra = build(&builder, root);
        let info_exclude = match info_exclude {
            Some(path) if path.is_file() => load(root, path),
            _ => Gitignore::empty(),
        };
        let (global, error) = GitignoreBuilder::new(root).build_global();
        if let Some(error) = error {
            tracing::warn!(%error, "cannot read the global git excludes file");
        }
        Rules {
            root: root.to_path_buf(),
            extra,
            info_exclude,
            global,
            dirs: HashMap::new(),
        }
    }

    /// Record which ignore files `dir` holds, (re)reading them.
    pub(super) fn set_dir(&mut self, dir: &Path, has_ignore: bool, has_gitignore: bool) {
        if !has_ignore && !has_gitignore {
            self.dirs.remove(dir);
            return;
        }
        let read = |name: &str, present: bool| {
            if present {
                load(dir, &dir.join(name))
            } else {
                Gitignore::empty()
            }
        };
        let rules = DirRules {
            ignore: read(".ignore", has_ignore),
            gitignore: read(".gitignore", has_gitignore),
        };
        self.dirs.insert(dir.to_path_buf(), rules);
    }

    /// Re-read the ignore files of `dir` after one of them changed.
    pub(super) fn reload_dir(&mut self, dir: &Path) {
        let has_ignore = dir.join(".ignore").is_file();
        let has_gitignore = dir.join(".gitignore").is_file();
        self.set_dir(dir, has_ignore, has_gitignore);
    }

    /// Drop the rules of `dir`, which is no longer watched.
    pub(super) fn forget(&mut self, dir: &Path) {
        self.dirs.remove(dir);
    }

    /// Whether `path` (absolute, under the root, its parent not ignored) is ignored.
    pub(super) fn is_ignored(&self, path: &Path, is_dir: bool) -> bool {
        let extra = self.extra.matched(path, is_dir);
        if !extra.is_none() {
            return extra.is_ignore();
        }
        let (mut by_ignore, mut by_gitignore) = (Match::None, Match::None);
        if !self.dirs.is_empty() {
            for dir in path.ancestors().skip(1) {
                if let Some(rules) = self.dirs.get(dir) {
                    if by_ignore.is_none() {
                        by_ignore = rules.ignore.matched(path, is_dir);
                    }
                    if by_gitignore.is_none() {
                        by_gitignore = rules.gitignore.matched(path, is_dir);
                    }
                }
                if dir == self.root || (!by_ignore.is_none() && !by_gitignore.is_none()) {
                    break;
                }
            }
        }
        by_ignore
            .or(by_gitignore)
            .or(self.info_exclude.matched(path, is_dir))
            .or(self.global.matched(path, is_dir))
            .is_ignore()
    }
}

/// The matcher of one ignore file, rooted at `dir`; an unreadable file matches nothing.
fn load(dir: &Path, file: &Path) -> Gitignore {
    let mut builder = GitignoreBuilder::new(dir);
    if let Some(error) = builder.add(file) {
        tracing::warn!(path = %file.display(), %error, "cannot read all of an ignore file");
    }
    build(&builder, file)
}

fn build(builder: &GitignoreBuilder, what: &Path) -> Gitignore {
    builder.build().unwrap_or_else(|error| {
        tracing::warn!(path = %what.display(), %error, "cannot build ignore rules");
        Gitignore::empty()
    })
}
