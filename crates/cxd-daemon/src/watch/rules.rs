//! Which paths are ignored: the `ignore` crate's gitignore matchers, one pair per directory.
//!
//! The walk and the event filter share these rules, so a path is judged the same way whether it
//! is found by a scan or reported by the OS. Precedence follows the `ignore` crate's walker: the
//! config's patterns, then the deepest `.ignore`, then the deepest `.gitignore`, then
//! `.git/info/exclude`, then the global excludes file; the first that matches (as an ignore or a
//! `!` whitelist) decides.
//!
//! git's ignore rules apply only to untracked files: a file git tracks is reviewed even when a
//! `.gitignore` pattern matches it. [`Rules::set_tracked`] takes those files (git lists them);
//! they and the directories holding them are not ignored, while anything else inside an ignored
//! directory entered only for them still is. The config's patterns win over this too.

use std::collections::{HashMap, HashSet};
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
    /// Tracked files that git's ignore rules match (absolute).
    tracked: HashSet<PathBuf>,
    /// The directories holding them, up to (not including) the root.
    tracked_dirs: HashSet<PathBuf>,
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
            tracked: HashSet::new(),
            tracked_dirs: HashSet::new(),
        }
    }

    /// Take the tracked files that git's ignore rules match (absolute paths under the root).
    /// Returns the directories that now hold such a file and did not before, and those that
    /// no longer do: the watch must enter the first and may leave the second.
    pub(super) fn set_tracked(&mut self, files: Vec<PathBuf>) -> (Vec<PathBuf>, Vec<PathBuf>) {
        let mut dirs = HashSet::new();
        for f in &files {
            for a in f.ancestors().skip(1) {
                if a == self.root || !a.starts_with(&self.root) || !dirs.insert(a.to_path_buf()) {
                    break;
                }
            }
        }
        let mut added: Vec<PathBuf> = dirs.difference(&self.tracked_dirs).cloned().collect();
        let mut removed: Vec<PathBuf> = self.tracked_dirs.difference(&dirs).cloned().collect();
        added.sort();
        removed.sort();
        self.tracked = files.into_iter().collect();
        self.tracked_dirs = dirs;
        (added, removed)
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
        if self.tracked.is_empty() {
            return self.by_files(path, is_dir);
        }
        if self.tracked.contains(path) || (is_dir && self.tracked_dirs.contains(path)) {
            return false;
        }
        if self.by_files(path, is_dir) {
            return true;
        }
        // Inside a directory entered only for the tracked files it holds: ignored if that
        // directory (or one above it) is.
        path.parent().is_some_and(|p| self.tracked_dirs.contains(p))
            && path
                .ancestors()
                .skip(1)
                .take_while(|a| *a != self.root)
                .any(|a| self.by_files(a, true))
    }

    /// The verdict of the ignore files alone (no config patterns, no tracked files).
    fn by_files(&self, path: &Path, is_dir: bool) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracked_files_are_not_ignored_but_their_ignored_neighbours_are() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join(".gitignore"), "*.log\nbuild/\n").unwrap();
        let mut rules = Rules::new(root, &["secret.log".to_owned()], None);
        rules.set_dir(root, false, true);
        let (added, removed) = rules.set_tracked(vec![
            root.join("app.log"),
            root.join("build/sub/keep.txt"),
            root.join("secret.log"),
        ]);
        assert_eq!(added, [root.join("build"), root.join("build/sub")]);
        assert!(removed.is_empty());
        assert!(!rules.is_ignored(&root.join("app.log"), false));
        assert!(rules.is_ignored(&root.join("other.log"), false));
        assert!(!rules.is_ignored(&root.join("build"), true));
        assert!(!rules.is_ignored(&root.join("build/sub"), true));
        assert!(!rules.is_ignored(&root.join("build/sub/keep.txt"), false));
        assert!(rules.is_ignored(&root.join("build/sub/out.o"), false));
        assert!(rules.is_ignored(&root.join("build/other"), true));
        // The config's patterns still win.
        assert!(rules.is_ignored(&root.join("secret.log"), false));
        let (added, removed) = rules.set_tracked(vec![root.join("app.log")]);
        assert!(added.is_empty());
        assert_eq!(removed, [root.join("build"), root.join("build/sub")]);
        assert!(rules.is_ignored(&root.join("build"), true));
    }
}
