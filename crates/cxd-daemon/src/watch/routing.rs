//! Routing a raw OS event: to the batch as a file change, to the watch set as a new or gone
//! directory, or to the git flags when it lies under `.git`.

use std::fs;
use std::path::Path;

#[cfg(target_os = "linux")]
use super::backend::Backend;
use super::backend::{self, Kind, Msg};
use super::batch::Fate;
use super::file_id;
use super::git::GitHit;
#[cfg(target_os = "linux")]
use super::inotify::{self, Resolved};
use super::paths;
use super::thread::State;

impl State {
    /// Whether an event about `path` comes from a directory still watched (or polled): events
    /// queued before a directory lost its watch are dropped.
    pub(super) fn parent_watched(&self, path: &Path) -> bool {
        paths::parent(path).is_some_and(|p| self.is_known_dir(p))
    }

    pub(super) fn mark(&mut self, path: &Path, fate: Fate) {
        if let Some(rel) = paths::relative(path, &self.root) {
            self.batch.mark(rel, fate, self.git_locked);
        }
    }

    /// A file in the tree was created, written or removed.
    pub(super) fn file_event(&mut self, path: &Path, fate: Fate) {
        if !self.parent_watched(path) {
            return;
        }
        let name = path.file_name();
        if (name == Some(".gitignore".as_ref()) || name == Some(".ignore".as_ref()))
            && let Some(dir) = path.parent()
        {
            self.rules.reload_dir(dir);
            self.batch.reconcile.push(dir.to_path_buf());
        }
        // A path that is gone may have been an (ignored) directory: ignored either way, drop it.
        let ignored = self.rules.is_ignored(path, false)
            || (fate == Fate::Gone && self.rules.is_ignored(path, true));
        if !ignored {
            self.mark(path, fate);
        }
    }

    /// A directory appeared in the tree: watch it, then scan it, reporting its files.
    pub(super) fn new_dir(&mut self, path: &Path) {
        if !self.parent_watched(path) || self.rules.is_ignored(path, true) {
            return;
        }
        self.walk(path, true);
    }

    /// Something was renamed to `path`: look at what it is.
    pub(super) fn appeared(&mut self, path: &Path) {
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => self.new_dir(path),
            Ok(_) => self.file_event(path, Fate::Created),
            Err(_) if self.is_known_dir(path) => self.dir_gone(path, true),
            Err(_) => self.file_event(path, Fate::Gone),
        }
    }

    pub(super) fn check_root(&mut self) {
        match fs::symlink_metadata(&self.root) {
            Ok(meta) if file_id(&meta) == self.root_id => {}
            _ => self.batch.root_missing = true,
        }
    }

    pub(super) fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Notify(event) => match backend::from_notify(&event) {
                Some(changes) => {
                    for (kind, path) in changes {
                        self.route(kind, &path);
                    }
                }
                None => self.batch.rescan = true,
            },
            #[cfg(target_os = "linux")]
            Msg::Inotify(batch) => {
                let mut path = std::path::PathBuf::new();
                for (wd, mask, name) in batch.iter() {
                    let Backend::Inotify(inotify) = &mut self.backend else {
                        return;
                    };
                    let dir = match inotify.resolve(wd, mask) {
                        Resolved::Overflow => {
                            self.batch.rescan = true;
                            continue;
                        }
                        Resolved::Nothing => continue,
                        Resolved::In(dir) => dir,
                    };
                    let dir = Path::new(dir.as_ref());
                    path.clear();
                    path.push(dir);
                    if let Some(name) = name {
                        path.push(name);
                    }
                    for (kind, itself) in inotify::kinds(mask) {
                        self.route(kind, if itself { dir } else { &path });
                    }
                }
            }
            Msg::Failed(error) => {
                tracing::error!(%error, "the OS watcher failed; asking for a rescan");
                self.batch.rescan = true;
            }
            Msg::Shutdown => {}
        }
    }

    pub(super) fn route(&mut self, kind: Kind, path: &Path) {
        if self.batch.root_missing {
            return;
        }
        if paths::bytes(path) == paths::bytes(&self.root) {
            if matches!(kind, Kind::Removed { .. } | Kind::MovedFrom) {
                self.check_root();
            }
            return;
        }
        if let Some(hit) = self.git.as_ref().and_then(|g| g.classify(path)) {
            self.git_event(kind, path, hit);
            return;
        }
        let Some(rel) = paths::relative(path, &self.root) else {
            return;
        };
        if paths::has_component(rel, ".git") || self.is_excluded(path) {
            return;
        }
        // Whether `path` is a watched directory: looked up only where the kind leaves it open.
        let known_dir = |this: &Self| this.is_known_dir(path);
        match kind {
            Kind::Created { dir: true } => self.new_dir(path),
            Kind::Created { dir: false } => self.file_event(path, Fate::Created),
            Kind::Removed { dir: Some(true) } => self.dir_gone(path, false),
            Kind::Removed { .. } if known_dir(self) => self.dir_gone(path, false),
            Kind::Removed { .. } => self.file_event(path, Fate::Gone),
            Kind::MovedFrom if known_dir(self) => self.dir_gone(path, true),
            Kind::MovedFrom => self.file_event(path, Fate::Gone),
            Kind::MovedTo { dir: Some(true) } => self.new_dir(path),
            Kind::MovedTo { dir: Some(false) } => self.file_event(path, Fate::Created),
            Kind::MovedTo { dir: None } => self.appeared(path),
            Kind::Metadata { dir: Some(true) } => {}
            _ if known_dir(self) => {}
            Kind::Written | Kind::Metadata { dir: Some(false) } => {
                self.file_event(path, Fate::Written)
            }
            Kind::Metadata { dir: None } => {
                // chmod or touch, seen by notify: may be about an (ignored) directory.
                if !fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
                    self.file_event(path, Fate::Written);
                }
            }
        }
    }

    pub(super) fn git_event(&mut self, kind: Kind, path: &Path, hit: GitHit) {
        let in_refs = self
            .git
            .as_ref()
            .is_some_and(|g| paths::is_under(path, &g.refs_heads));
        if in_refs {
            match kind {
                Kind::Created { dir: true } | Kind::MovedTo { dir: Some(true) } => {
                    self.watch_git_dir(path);
                }
                Kind::Removed { .. } | Kind::MovedFrom => {
                    if let Some(token) = self.git_watched.remove(path) {
                        self.os_unwatch(path, token);
                    }
                }
                _ => {}
            }
        }
        if path.file_name() == Some("index.lock".as_ref())
            && self
                .git
                .as_ref()
                .is_some_and(|g| path.parent() == Some(g.git_dir.as_path()))
        {
            // Followed in event order, so each file event is told apart: written while git
            // held the lock (its own checkout, merge, reset) or not (an edit).
            self.git_locked = !matches!(kind, Kind::Removed { .. } | Kind::MovedFrom);
        }
        match hit {
            GitHit::HeadMoved => {
                self.batch.git = true;
                self.batch.head_moved = true;
            }
            GitHit::Index => self.batch.git = true,
            GitHit::Noise => {}
        }
    }
}
