//! When the index-free fast path may hash a file's raw bytes: no attributes or config that
//! make `git add` store other bytes, and no index entries git leaves alone on an edit.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Whether the index at `path` has no entry that git would leave alone on an edit
/// (assume-unchanged, skip-worktree). `false` when it cannot tell.
pub(crate) fn index_flags_clear(path: &Path) -> bool {
    let Ok(data) = std::fs::read(path) else {
        return !path.exists();
    };
    scan_index(&data).unwrap_or(false)
}

fn scan_index(d: &[u8]) -> Option<bool> {
    let u32_at =
        |i: usize| -> Option<u32> { Some(u32::from_be_bytes(d.get(i..i + 4)?.try_into().ok()?)) };
    if d.get(..4)? != b"DIRC" {
        return None;
    }
    let version = u32_at(4)?;
    let count = u32_at(8)?;
    if !(2..=4).contains(&version) {
        return None;
    }
    let mut at = 12usize;
    for _ in 0..count {
        let start = at;
        let flags = u16::from_be_bytes(d.get(at + 60..at + 62)?.try_into().ok()?);
        if flags & 0x8000 != 0 {
            return Some(false);
        }
        at += 62;
        if flags & 0x4000 != 0 {
            if version < 3 {
                return None;
            }
            let ext = u16::from_be_bytes(d.get(at..at + 2)?.try_into().ok()?);
            if ext & 0x4000 != 0 {
                return Some(false);
            }
            at += 2;
        }
        if version == 4 {
            // Varint (bytes stripped from the previous name), then the NUL-terminated rest.
            while *d.get(at)? & 0x80 != 0 {
                at += 1;
            }
            at += 1;
            at += d.get(at..)?.iter().position(|&b| b == 0)? + 1;
        } else {
            let name = d.get(at..)?.iter().position(|&b| b == 0)?;
            at = start + ((at - start + name + 8) & !7);
        }
    }
    Some(true)
}

/// Whether config and attribute files leave a file's bytes exactly as `git add` stores them.
/// The config is read with git once, then again only when one of its files changes.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// Config files seen (and the usual places, also when missing): size and mtime.
    files: Vec<(PathBuf, Option<Stamp>)>,
    /// What the config said.
    config_ok: bool,
    /// Whether `files` was filled.
    known: bool,
}

/// Size, inode (git rewrites config by rename), mtime and ctime of a file.
pub(crate) type Stamp = (u64, u64, SystemTime, i64, i64);

pub(crate) fn stamp(p: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(p).ok()?;
    Some((
        m.size(),
        m.ino(),
        m.modified().ok()?,
        m.ctime(),
        m.ctime_nsec(),
    ))
}

impl Gate {
    /// Whether the recorded config files are unchanged.
    pub(crate) fn fresh(&self) -> bool {
        self.known && self.files.iter().all(|(p, s)| stamp(p) == *s)
    }

    /// Record the config from `git config -z --list --show-origin` output, and the usual
    /// config file places.
    pub(crate) fn load(&mut self, out: &[u8], places: Vec<PathBuf>) {
        let mut files: BTreeMap<PathBuf, ()> = places.into_iter().map(|p| (p, ())).collect();
        let mut ok = true;
        let mut fields = out.split(|&b| b == 0);
        while let (Some(origin), Some(kv)) = (fields.next(), fields.next()) {
            if let Some(file) = origin.strip_prefix(b"file:") {
                files.insert(PathBuf::from(OsStr::from_bytes(file)), ());
            }
            let (key, value) = match kv.iter().position(|&b| b == b'\n') {
                Some(i) => (&kv[..i], Some(&kv[i + 1..])),
                None => (kv, None),
            };
            let key = key.to_ascii_lowercase();
            let value = value.map(<[u8]>::to_ascii_lowercase);
            let falsy = |v: &Option<Vec<u8>>| {
                v.as_deref()
                    .is_some_and(|v| matches!(v, b"false" | b"no" | b"off" | b"0" | b""))
            };
            let bad = match key.as_slice() {
                b"core.autocrlf" => !falsy(&value),
                b"core.symlinks" | b"core.filemode" => falsy(&value),
                b"core.attributesfile" => true,
                k => k.starts_with(b"attr."),
            };
            ok &= !bad;
        }
        self.files = files.into_keys().map(|p| (p.clone(), stamp(&p))).collect();
        self.config_ok = ok;
        self.known = true;
    }

    pub(crate) fn config_ok(&self) -> bool {
        self.config_ok
    }
}

/// Attribute files outside the tree that git reads for every path.
pub(crate) fn global_attributes(common_dir: &Path) -> bool {
    let mut places = vec![
        common_dir.join("info/attributes"),
        PathBuf::from("/etc/gitattributes"),
        PathBuf::from("/usr/etc/gitattributes"),
        PathBuf::from("/usr/local/etc/gitattributes"),
    ];
    match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(x) => places.push(PathBuf::from(x).join("git/attributes")),
        None => {
            if let Some(home) = std::env::var_os("HOME") {
                places.push(PathBuf::from(home).join(".config/git/attributes"));
            }
        }
    }
    places.iter().any(|p| p.symlink_metadata().is_ok())
}

/// The usual config file places (watched even while missing).
pub(crate) fn config_places(common_dir: &Path, git_dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![
        common_dir.join("config"),
        git_dir.join("config.worktree"),
        common_dir.join("config.worktree"),
        PathBuf::from("/etc/gitconfig"),
    ];
    for var in ["GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM"] {
        if let Some(v) = std::env::var_os(var) {
            out.push(PathBuf::from(v));
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        let home = PathBuf::from(home);
        out.push(home.join(".gitconfig"));
        out.push(home.join(".config/git/config"));
    }
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        out.push(PathBuf::from(x).join("git/config"));
    }
    out
}
