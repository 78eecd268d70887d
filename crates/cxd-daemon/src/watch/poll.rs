//! The fallback when the OS runs out of watches: directories left unwatched are rescanned on a
//! timer (only while there are any), comparing each entry's type, size and mtime.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs;
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What one entry looked like at the last scan.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stamp {
    is_dir: bool,
    len: u64,
    mtime: Option<SystemTime>,
}

/// A difference found by a scan.
#[derive(Debug, PartialEq)]
pub(super) enum Change {
    /// A file appeared.
    Created(PathBuf),
    /// A file's size or mtime changed.
    Written(PathBuf),
    /// A file disappeared.
    Gone(PathBuf),
    /// A directory appeared.
    NewDir(PathBuf),
    /// A directory disappeared.
    GoneDir(PathBuf),
    /// The polled directory itself cannot be read any more.
    Unreadable(PathBuf),
}

/// The polled directories and their last listing.
#[derive(Default)]
pub(super) struct Poller {
    dirs: BTreeMap<PathBuf, HashMap<OsString, Stamp>>,
}

impl Poller {
    pub(super) fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.dirs.len()
    }

    pub(super) fn contains(&self, dir: &Path) -> bool {
        self.dirs.contains_key(dir)
    }

    /// The polled directories, in path order.
    pub(super) fn dirs(&self) -> Vec<PathBuf> {
        self.dirs.keys().cloned().collect()
    }

    /// Start polling `dir`, taking its current listing as the baseline.
    pub(super) fn add(&mut self, dir: &Path) {
        let listing = list(dir).unwrap_or_default();
        self.dirs.insert(dir.to_path_buf(), listing);
    }

    /// Stop polling `dir`.
    pub(super) fn remove(&mut self, dir: &Path) {
        self.dirs.remove(dir);
    }

    /// Stop polling `dir` and everything below it; returns how many were dropped.
    pub(super) fn remove_under(&mut self, dir: &Path) -> usize {
        let under: Vec<PathBuf> = self
            .dirs
            .range::<Path, _>((Bound::Included(dir), Bound::Unbounded))
            .take_while(|(d, _)| d.starts_with(dir))
            .map(|(d, _)| d.clone())
            .collect();
        for d in &under {
            self.dirs.remove(d);
        }
        under.len()
    }

    /// Rescan every polled directory and report what differs from the last scan.
    pub(super) fn scan(&mut self) -> Vec<Change> {
        let mut changes = Vec::new();
        for (dir, old) in &mut self.dirs {
            let new = match list(dir) {
                Ok(new) => new,
                Err(_) => {
                    changes.push(Change::Unreadable(dir.clone()));
                    continue;
                }
            };
            for (name, stamp) in &new {
                let path = dir.join(name);
                match old.get(name) {
                    None if stamp.is_dir => changes.push(Change::NewDir(path)),
                    None => changes.push(Change::Created(path)),
                    Some(before) if before.is_dir != stamp.is_dir => {
                        changes.push(if before.is_dir {
                            Change::GoneDir(path.clone())
                        } else {
                            Change::Gone(path.clone())
                        });
                        changes.push(if stamp.is_dir {
                            Change::NewDir(path)
                        } else {
                            Change::Created(path)
                        });
                    }
                    Some(before) if before != stamp => changes.push(Change::Written(path)),
                    Some(_) => {}
                }
            }
            for (name, stamp) in old.iter() {
                if !new.contains_key(name) {
                    let path = dir.join(name);
                    changes.push(if stamp.is_dir {
                        Change::GoneDir(path)
                    } else {
                        Change::Gone(path)
                    });
                }
            }
            *old = new;
        }
        changes
    }
}

/// Each entry of `dir` but `.git`, with what a later scan compares.
fn list(dir: &Path) -> io::Result<HashMap<OsString, Stamp>> {
    let mut listing = HashMap::new();
    for entry in fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        if name == ".git" {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let stamp = if meta.is_dir() {
            Stamp {
                is_dir: true,
                len: 0,
                mtime: None,
            }
        } else {
            Stamp {
                is_dir: false,
                len: meta.len(),
                mtime: meta.modified().ok(),
            }
        };
        listing.insert(name, stamp);
    }
    Ok(listing)
}
