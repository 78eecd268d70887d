//! Git objects written without git: SHA-1 ids, loose objects in stored zlib blocks, tree
//! bodies, and a long-lived `git cat-file --batch` to read the trees an edit's path crosses.
//! The index-free fast path (`fast`) builds its new trees with these.

use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

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

/// The id of the object `kind` with `body`.
pub(crate) fn hash_object(kind: &str, body: &[u8]) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(format!("{kind} {}\0", body.len()).as_bytes());
    h.update(body);
    h.finish()
}

/// The object `kind` with `body`: its id, and written loose into `objects` when missing.
pub(crate) fn write_object(objects: &Path, kind: &str, body: &[u8]) -> std::io::Result<[u8; 20]> {
    let header = format!("{kind} {}\0", body.len());
    let oid = hash_object(kind, body);
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

/// A tree read: its id and entries.
pub(crate) type Tree = ([u8; 20], Vec<Entry>);

/// A long-lived `git cat-file --batch -z` (it sees objects written after it started: a
/// miss rescans the packs, loose objects are looked up on disk).
#[derive(Debug)]
pub(crate) struct Batch(pub(crate) super::git::Long);

impl Batch {
    pub(crate) fn trees(&mut self, requests: &[u8], n: usize) -> Option<Vec<Tree>> {
        self.trees_or_missing(requests, n)?.into_iter().collect()
    }

    /// Like `trees`, but a name that names nothing answers `None` in its place (a directory
    /// a tree lacks). Names must not hold a newline (git echoes a missing one on its line).
    pub(crate) fn trees_or_missing(
        &mut self,
        requests: &[u8],
        n: usize,
    ) -> Option<Vec<Option<Tree>>> {
        use std::io::{BufRead as _, Read as _};
        let git = &mut self.0;
        git.stdin.write_all(requests).ok()?;
        git.stdin.flush().ok()?;
        let mut trees = Vec::with_capacity(n);
        let mut line = Vec::new();
        for _ in 0..n {
            line.clear();
            git.stdout.read_until(b'\n', &mut line).ok()?;
            let line = line.strip_suffix(b"\n")?;
            if line.ends_with(b" missing") {
                trees.push(None);
                continue;
            }
            let mut header = line.split(|&b| b == b' ');
            let oid = unhex(header.next()?)?;
            if header.next()? != b"tree" {
                return None;
            }
            let size: usize = std::str::from_utf8(header.next()?).ok()?.parse().ok()?;
            let mut body = vec![0u8; size + 1];
            git.stdout.read_exact(&mut body).ok()?;
            if body.pop() != Some(b'\n') {
                return None;
            }
            // The body is the object asked for, not output out of step.
            if hash_object("tree", &body) != oid {
                return None;
            }
            trees.push(Some((oid, parse_tree(&body)?)));
        }
        Some(trees)
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
        let (parent, name) = split(&dir);
        let entry = trees
            .get_mut(parent)
            .and_then(|es| es.iter_mut().find(|e| e.name == name && e.mode == b"40000"))
            .ok_or_else(|| std::io::Error::other("a changed tree lost its parent"))?;
        entry.oid = oid;
    }
    root.ok_or_else(|| std::io::Error::other("no root tree"))
}

/// `(directory, name)` of `path` (`""` is the root).
pub(crate) fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[][..], path),
    }
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
