//! The index-free fast path: content edits of files the last snapshot already tracks.
//!
//! When every reported path is an existing regular file or symlink whose entry in the last
//! snapshot's tree has the same type and executable bit, the new tree differs from the last
//! one only in those blobs and in their ancestor trees. The ancestors are read with one
//! `git cat-file --batch` (no index read), and the new blobs and trees are hashed here (SHA-1)
//! and written as loose objects into the private object directory: one git process per
//! snapshot instead of two that each read the whole private index.
//!
//! `git add` would run the content through clean filters, eol conversion and the like, which
//! attributes and config select; the fast path is taken only when none can apply (see
//! [`Gate`]), and never for sha256 repositories, `.git*` files, or an index whose entries
//! carry assume-unchanged or skip-worktree bits (git ignores edits to those).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A file's bytes larger than this are left to git (it streams them).
pub(crate) const MAX_BLOB: u64 = 64 << 20;

/// One entry of a tree object.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) mode: Vec<u8>,
    pub(crate) name: Vec<u8>,
    pub(crate) oid: [u8; 20],
}

/// Parse a sha1 tree object's body.
pub(crate) fn parse_tree(mut body: &[u8]) -> Option<Vec<Entry>> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let sp = body.iter().position(|&b| b == b' ')?;
        let mode = body[..sp].to_vec();
        body = &body[sp + 1..];
        let nul = body.iter().position(|&b| b == 0)?;
        let name = body[..nul].to_vec();
        body = &body[nul + 1..];
        let oid: [u8; 20] = body.get(..20)?.try_into().ok()?;
        body = &body[20..];
        out.push(Entry { mode, name, oid });
    }
    Some(out)
}

/// A tree object's body from its entries (kept in their order).
pub(crate) fn tree_body(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 40);
    for e in entries {
        out.extend_from_slice(&e.mode);
        out.push(b' ');
        out.extend_from_slice(&e.name);
        out.push(0);
        out.extend_from_slice(&e.oid);
    }
    out
}

pub(crate) fn hex(oid: &[u8; 20]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(40);
    for b in oid {
        let _ = write!(s, "{b:02x}");
    }
    s
}

pub(crate) fn unhex(s: &[u8]) -> Option<[u8; 20]> {
    if s.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, pair) in s.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// The object `kind` with `body`: its id, and written loose into `objects` when missing.
pub(crate) fn write_object(objects: &Path, kind: &str, body: &[u8]) -> std::io::Result<[u8; 20]> {
    let header = format!("{kind} {}\0", body.len());
    let mut h = Sha1::new();
    h.update(header.as_bytes());
    h.update(body);
    let oid = h.finish();
    let name = hex(&oid);
    let dir = objects.join(&name[..2]);
    let path = dir.join(&name[2..]);
    if path.exists() {
        return Ok(oid);
    }
    std::fs::create_dir_all(&dir)?;
    let temp = dir.join(format!("tmp_obj_cxd_{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o444)
        .open(&temp)?;
    f.write_all(&zlib_stored(&[header.as_bytes(), body]))?;
    drop(f);
    std::fs::rename(&temp, &path)?;
    Ok(oid)
}

/// A zlib stream of `parts` concatenated, in stored (uncompressed) deflate blocks.
fn zlib_stored(parts: &[&[u8]]) -> Vec<u8> {
    let data: Vec<u8> = parts.concat();
    let mut out = Vec::with_capacity(data.len() + data.len() / 65535 * 5 + 16);
    out.extend_from_slice(&[0x78, 0x01]);
    let mut chunks = data.chunks(65535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(c) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let len = u16::try_from(c.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

/// SHA-1 (git's object ids; collision detection aside, which only matters for attacks).
pub(crate) struct Sha1 {
    h: [u32; 5],
    buf: Vec<u8>,
    len: u64,
}

impl Sha1 {
    pub(crate) fn new() -> Self {
        Self {
            h: [
                0x6745_2301,
                0xEFCD_AB89,
                0x98BA_DCFE,
                0x1032_5476,
                0xC3D2_E1F0,
            ],
            buf: Vec::with_capacity(64),
            len: 0,
        }
    }

    pub(crate) fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if !self.buf.is_empty() {
            let take = (64 - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == 64 {
                let block = std::mem::take(&mut self.buf);
                self.block(&block);
            }
        }
        let mut blocks = data.chunks_exact(64);
        for b in blocks.by_ref() {
            self.block(b);
        }
        self.buf.extend_from_slice(blocks.remainder());
    }

    fn block(&mut self, b: &[u8]) {
        let mut w = [0u32; 80];
        for (i, c) in b.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut bb, mut c, mut d, mut e] = self.h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((bb & c) | (!bb & d), 0x5A82_7999),
                20..=39 => (bb ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((bb & c) | (bb & d) | (c & d), 0x8F1B_BCDC),
                _ => (bb ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = bb.rotate_left(30);
            bb = a;
            a = t;
        }
        for (h, v) in self.h.iter_mut().zip([a, bb, c, d, e]) {
            *h = h.wrapping_add(v);
        }
    }

    pub(crate) fn finish(mut self) -> [u8; 20] {
        let bits = self.len.wrapping_mul(8);
        let mut pad = vec![0x80u8];
        let used = (self.len % 64) as usize;
        let zeros = if used < 56 { 55 - used } else { 119 - used };
        pad.extend(std::iter::repeat_n(0u8, zeros));
        pad.extend_from_slice(&bits.to_be_bytes());
        let len = self.len;
        self.update(&pad);
        self.len = len;
        let mut out = [0u8; 20];
        for (i, h) in self.h.iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&h.to_be_bytes());
        }
        out
    }
}

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
type Stamp = (u64, u64, SystemTime, i64, i64);

fn stamp(p: &Path) -> Option<Stamp> {
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

/// A long-lived `git cat-file --batch -z` (it sees objects written after it started: a
/// miss rescans the packs, loose objects are looked up on disk).
#[derive(Debug)]
pub(crate) struct Batch {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Batch {
    pub(crate) fn new(mut child: std::process::Child) -> Option<Self> {
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        match (stdin, stdout) {
            (Some(stdin), Some(stdout)) => Some(Self {
                child,
                stdin,
                stdout: std::io::BufReader::new(stdout),
            }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                None
            }
        }
    }

    /// The trees named by `requests` (NUL-terminated object names); `None` when any is not a
    /// tree or the process failed (then it must not be used again: its output is out of step).
    pub(crate) fn trees(
        &mut self,
        requests: &[u8],
        n: usize,
    ) -> Option<Vec<([u8; 20], Vec<Entry>)>> {
        use std::io::{BufRead as _, Read as _};
        self.stdin.write_all(requests).ok()?;
        self.stdin.flush().ok()?;
        let mut trees = Vec::with_capacity(n);
        let mut line = Vec::new();
        for _ in 0..n {
            line.clear();
            self.stdout.read_until(b'\n', &mut line).ok()?;
            let mut header = line.strip_suffix(b"\n")?.split(|&b| b == b' ');
            let oid = unhex(header.next()?)?;
            if header.next()? != b"tree" {
                return None;
            }
            let size: usize = std::str::from_utf8(header.next()?).ok()?.parse().ok()?;
            let mut body = vec![0u8; size + 1];
            self.stdout.read_exact(&mut body).ok()?;
            if body.pop() != Some(b'\n') {
                return None;
            }
            // The body is the object asked for, not output out of step.
            let mut h = Sha1::new();
            h.update(format!("tree {size}\0").as_bytes());
            h.update(&body);
            if h.finish() != oid {
                return None;
            }
            trees.push((oid, parse_tree(&body)?));
        }
        Some(trees)
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Directories (as `a/b`, `""` for the root) holding `path`, root first.
pub(crate) fn ancestors(path: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new()];
    for (i, &b) in path.iter().enumerate() {
        if b == b'/' {
            out.push(path[..i].to_vec());
        }
    }
    out
}

/// Rebuild the trees in `trees` (directory → entries) bottom-up after some entries changed,
/// writing each; returns the root's id.
pub(crate) fn write_trees(
    objects: &Path,
    mut trees: HashMap<Vec<u8>, Vec<Entry>>,
) -> std::io::Result<[u8; 20]> {
    let mut dirs: Vec<Vec<u8>> = trees.keys().cloned().collect();
    // Deepest first, so a parent is written after all its changed children.
    dirs.sort_by_key(|d| {
        std::cmp::Reverse(d.iter().filter(|&&b| b == b'/').count() + usize::from(!d.is_empty()))
    });
    let mut root = None;
    for dir in dirs {
        let Some(entries) = trees.remove(&dir) else {
            continue;
        };
        let oid = write_object(objects, "tree", &tree_body(&entries))?;
        if dir.is_empty() {
            root = Some(oid);
            continue;
        }
        let (parent, name) = match dir.iter().rposition(|&b| b == b'/') {
            Some(i) => (dir[..i].to_vec(), dir[i + 1..].to_vec()),
            None => (Vec::new(), dir.clone()),
        };
        let entry = trees
            .get_mut(&parent)
            .and_then(|es| es.iter_mut().find(|e| e.name == name && e.mode == b"40000"))
            .ok_or_else(|| std::io::Error::other("a changed tree lost its parent"))?;
        entry.oid = oid;
    }
    root.ok_or_else(|| std::io::Error::other("no root tree"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn snapshot_fast_sha1_and_zlib() {
        let mut h = Sha1::new();
        h.update(b"abc");
        assert_eq!(hex(&h.finish()), "a9993e364706816aba3e25717850c26c9cd0d89d");
        let mut h = Sha1::new();
        h.update(b"blob 0\0");
        assert_eq!(hex(&h.finish()), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
        let long = vec![b'a'; 1_000_000];
        let mut h = Sha1::new();
        for c in long.chunks(999) {
            h.update(c);
        }
        assert_eq!(hex(&h.finish()), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
        let z = zlib_stored(&[b"hello ", b"world"]);
        assert_eq!(&z[..2], &[0x78, 0x01]);
        assert_eq!(&z[z.len() - 4..], &0x1a0b_045du32.to_be_bytes());
    }
}
