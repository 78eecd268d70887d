//! Which directories hold an OS watch: walking the tree under the ignore rules, re-walking
//! where the rules changed, dropping what is gone, and the few watches under `.git`.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::backend::WatchFailure;
use super::batch::Fate;
use super::git;
use super::paths;
use super::poll::Poller;
use super::thread::{OUT_OF_WATCHES, State, out_of_watches_hint};

impl State {
    /// Ask git which tracked files its ignore rules match: those are reviewed all the same, so
    /// the directories holding them are watched (and left again when none is left there).
    pub(super) fn refresh_tracked(&mut self) {
        self.index_len = self.user_index_len();
        let files = git::tracked_but_ignored(&self.root);
        let (added, removed) = self.rules.set_tracked(files);
        for dir in added {
            if !self.is_known_dir(&dir)
                && dir.parent().is_some_and(|p| self.is_known_dir(p))
                && !self.is_excluded(&dir)
                && !self.rules.is_ignored(&dir, true)
            {
                self.walk(&dir, false);
            }
        }
        for dir in removed {
            if let Some(parent) = dir.parent()
                && self.is_known_dir(&dir)
            {
                self.batch.reconcile.push(parent.to_path_buf());
            }
        }
    }

    /// The size of the user's index now (`None` without one).
    pub(super) fn user_index_len(&self) -> Option<u64> {
        let git = self.git.as_ref()?;
        fs::metadata(git.git_dir.join("index"))
            .ok()
            .map(|m| m.len())
    }

    /// Drop every OS watch.
    pub(super) fn release(&mut self) {
        self.backend.release();
        self.watched.clear();
        self.git_watched.clear();
        self.poller = Poller::default();
        self.publish();
    }

    /// Add one OS watch on `dir` (not yet recorded anywhere); returns the name the backend
    /// keeps, for the caller's set to share, and the token that unwatches it.
    pub(super) fn os_watch(&mut self, dir: &Path) -> Result<(Arc<OsStr>, i32), WatchFailure> {
        if let Some(max) = self.tuning.max_watches
            && self.watched.len() + self.git_watched.len() >= max
        {
            return Err(WatchFailure::OutOfWatches);
        }
        let dir: Arc<OsStr> = Arc::from(dir.as_os_str());
        let token = self.backend.watch(&dir)?;
        Ok((dir, token))
    }

    pub(super) fn os_unwatch(&mut self, dir: &Path, token: i32) {
        self.backend.unwatch(dir, token);
    }

    /// Watch the git dir (HEAD, index.lock), the common dir (packed-refs) and refs/heads.
    pub(super) fn watch_git(&mut self) {
        let Some(git) = self.git.clone() else {
            return;
        };
        self.watch_git_dir(&git.git_dir);
        if git.common_dir != git.git_dir {
            self.watch_git_dir(&git.common_dir);
        }
        let mut stack = vec![git.refs_heads];
        while let Some(dir) = stack.pop() {
            if !self.watch_git_dir(&dir) {
                continue;
            }
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(entry.path());
                }
            }
        }
    }

    pub(super) fn watch_git_dir(&mut self, dir: &Path) -> bool {
        if self.git_watched.contains_key(dir) {
            return true;
        }
        match self.os_watch(dir) {
            Ok((_, token)) => {
                self.git_watched.insert(dir.to_path_buf(), token);
                true
            }
            Err(failure) => {
                tracing::warn!(path = %dir.display(), %failure, "cannot watch; git operations there go unseen");
                false
            }
        }
    }

    /// Make sure `dir` is watched (or polled); false when it cannot be read at all.
    pub(super) fn watch_tree_dir(&mut self, dir: &Path) -> bool {
        if self.is_known_dir(dir) {
            return true;
        }
        match self.os_watch(dir) {
            Ok((dir, token)) => {
                self.watched.insert(dir, token);
                true
            }
            Err(WatchFailure::OutOfWatches) => {
                self.start_polling(dir);
                true
            }
            Err(WatchFailure::NotFound) => false,
            Err(WatchFailure::Other(error)) => {
                tracing::warn!(path = %dir.display(), %error, "cannot watch directory; skipping it");
                false
            }
        }
    }

    pub(super) fn start_polling(&mut self, dir: &Path) {
        if !self.polling_warned {
            self.polling_warned = true;
            tracing::warn!(
                path = %dir.display(),
                "{OUT_OF_WATCHES}: polling the directories left unwatched; {}",
                out_of_watches_hint()
            );
        }
        self.poller.add(dir);
    }

    /// Watch `start` and every non-ignored directory below it, each watched before it is read
    /// so nothing written in between is lost. With `report`, the files found are marked created.
    pub(super) fn walk(&mut self, start: &Path, report: bool) {
        self.walk_into(start, report, None);
    }

    /// [`State::walk`], putting the directories visited into `visited` when given (a walk of
    /// the whole tree keeps no such list: it would outlive the walk as heap the OS never gets
    /// back).
    fn walk_into(
        &mut self,
        start: &Path,
        report: bool,
        mut visited: Option<&mut HashSet<PathBuf>>,
    ) {
        let mut stack = vec![start.to_path_buf()];
        let mut subdirs = Vec::new();
        let mut files = Vec::new();
        while let Some(dir) = stack.pop() {
            if !self.watch_tree_dir(&dir) {
                continue;
            }
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(error) => {
                    tracing::debug!(path = %dir.display(), %error, "cannot read directory");
                    continue;
                }
            };
            let (mut has_ignore, mut has_gitignore) = (false, false);
            for entry in entries.flatten() {
                let name = entry.file_name();
                if name == ".git" {
                    continue;
                }
                let Ok(file_type) = entry.file_type() else {
                    continue;
                };
                if file_type.is_dir() {
                    subdirs.push(dir.join(&name));
                } else {
                    has_ignore |= name == ".ignore";
                    has_gitignore |= name == ".gitignore";
                    if report {
                        files.push(dir.join(&name));
                    }
                }
            }
            self.rules.set_dir(&dir, has_ignore, has_gitignore);
            for sub in subdirs.drain(..) {
                if !self.is_excluded(&sub) && !self.rules.is_ignored(&sub, true) {
                    stack.push(sub);
                }
            }
            for file in files.drain(..) {
                if !self.rules.is_ignored(&file, false) {
                    self.mark(&file, Fate::Created);
                }
            }
            if let Some(visited) = visited.as_mut() {
                visited.insert(dir);
            }
        }
    }

    /// Re-walk `dir` under the current rules: newly un-ignored directories gain a watch, newly
    /// ignored ones (and anything gone) lose theirs.
    pub(super) fn reconcile(&mut self, dir: &Path) {
        if !self.is_known_dir(dir) {
            return;
        }
        let mut visited = HashSet::new();
        self.walk_into(dir, false, Some(&mut visited));
        let mut stale = self.subtree(dir);
        stale.retain(|(d, _)| !visited.contains(Path::new(d.as_ref())));
        for (d, token) in &stale {
            let d = Path::new(d.as_ref());
            self.watched.remove(d.as_os_str());
            self.os_unwatch(d, *token);
            self.rules.forget(d);
        }
        for d in self.poller.dirs() {
            if d.starts_with(dir) && !visited.contains(&d) {
                self.poller.remove(&d);
                self.rules.forget(&d);
            }
        }
        tracing::debug!(path = %dir.display(), unwatched = stale.len(), "re-evaluated ignore rules");
    }

    /// `dir` and everything below it are gone: drop their watches. With `list`, report the
    /// directory's own path, its files being out of reach.
    pub(super) fn dir_gone(&mut self, dir: &Path, list: bool) {
        let under = self.subtree(dir);
        for (d, token) in &under {
            let d = Path::new(d.as_ref());
            self.watched.remove(d.as_os_str());
            self.os_unwatch(d, *token);
            self.rules.forget(d);
        }
        let polled = self.poller.remove_under(dir);
        if list && under.len() + polled > 0 {
            self.mark(dir, Fate::Gone);
        }
    }

    /// The watched directories from `dir` down (with their tokens).
    fn subtree(&self, dir: &Path) -> Vec<(Arc<OsStr>, i32)> {
        let mut out: Vec<(Arc<OsStr>, i32)> = self
            .watched
            .get_key_value(dir.as_os_str())
            .map(|(d, token)| (Arc::clone(d), *token))
            .into_iter()
            .collect();
        let below = paths::below(dir);
        let from = Bound::Included(below.as_os_str());
        out.extend(
            self.watched
                .range::<OsStr, _>((from, Bound::Unbounded))
                .take_while(|(d, _)| {
                    paths::bytes(Path::new(d.as_ref())).starts_with(paths::bytes(Path::new(&below)))
                })
                .map(|(d, token)| (Arc::clone(d), *token)),
        );
        out
    }

    pub(super) fn is_known_dir(&self, path: &Path) -> bool {
        self.watched.contains_key(path.as_os_str()) || self.poller.contains(path)
    }

    pub(super) fn is_excluded(&self, path: &Path) -> bool {
        self.exclude.iter().any(|e| paths::is_under(path, e))
    }
}
