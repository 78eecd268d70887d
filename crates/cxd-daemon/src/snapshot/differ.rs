//! A long-lived `git diff-tree --stdin`: the review diff of a settled burst without starting a
//! git process for it (a process costs about 2 ms; asking one that runs, about 0.2 ms).
//!
//! Each request is a line with the two trees, then a line of our own that does not start with
//! a hex digit, which `diff-tree --stdin` copies to its output once the diff is written (and
//! flushes). That line holds a random tag only this daemon knows, so nothing in a file or a
//! path can end a diff early. The diff itself is announced by a line naming both trees; when
//! that line is missing (a tree git cannot read) or anything else is off, the caller drops
//! the process and runs `diff-tree` once on its own, which says what went wrong.
//!
//! It runs in cxd's private bare repository (`Odb::Bare`): no attributes and no repository
//! config decide how a file is shown. git reads the config it does see when the process
//! starts (and may keep what it read); the snapshotter stops it when that may have changed,
//! and after a prune.

use std::hash::{BuildHasher as _, Hasher as _};
use std::io::{BufRead, Read, Write as _};

use super::git::Long;

/// The long-lived `diff-tree --stdin` (see the module docs).
#[derive(Debug)]
pub(crate) struct Differ {
    git: Long,
    /// The end line of the next request: `cxd-end-<random>-<count>\n`.
    tag: String,
    count: u64,
}

/// How a request went.
pub(crate) enum Asked<T> {
    /// The diff was read and parsed.
    Done(T),
    /// git did not announce the diff (say, a tree it cannot read); the process is still in
    /// step and can take the next request.
    NoDiff,
    /// The process is out of step or gone: drop it.
    Broken,
}

impl Differ {
    /// Take a started `diff-tree --stdin`.
    pub(crate) fn new(git: Long) -> Self {
        Self {
            git,
            tag: random_tag(),
            count: 0,
        }
    }

    /// The diff from tree `a` to tree `b` (hex ids), read by `parse` from exactly the diff's
    /// bytes.
    pub(crate) fn ask<T, E>(
        &mut self,
        a: &str,
        b: &str,
        parse: impl FnOnce(&mut dyn BufRead) -> Result<T, E>,
    ) -> Asked<T> {
        self.count += 1;
        let end = format!("{}-{}\n", self.tag, self.count);
        let request = format!("{a} {b}\n{end}");
        let stdin = &mut self.git.stdin;
        if stdin.write_all(request.as_bytes()).is_err() || stdin.flush().is_err() {
            return Asked::Broken;
        }
        let mut until = Until::new(&mut self.git.stdout, end.as_bytes());
        let mut header = Vec::new();
        if until.read_until(b'\n', &mut header).is_err() {
            return Asked::Broken;
        }
        if header != format!("{a} {b}\n").as_bytes() {
            // Whatever came instead (nothing, when git could not read a tree) must end at
            // the end line, or the process is out of step.
            return if header.is_empty() && until.found {
                Asked::NoDiff
            } else {
                Asked::Broken
            };
        }
        let parsed = parse(&mut until);
        // The parser reads to the end line; anything short of it leaves the pipe out of step.
        let drained = std::io::copy(&mut until, &mut std::io::sink()).is_ok() && until.found;
        match parsed {
            Ok(v) if drained => Asked::Done(v),
            _ => Asked::Broken,
        }
    }
}

/// `cxd-end-` and 128 random bits in hex (std's hasher keys come from the OS's randomness).
fn random_tag() -> String {
    let state = std::collections::hash_map::RandomState::new();
    let mut words = [0u64; 2];
    for (i, w) in words.iter_mut().enumerate() {
        let mut h = state.build_hasher();
        h.write_usize(i);
        h.write_u32(std::process::id());
        *w = h.finish();
    }
    format!("cxd-end-{:016x}{:016x}", words[0], words[1])
}

/// The bytes of `inner` up to (not including) `end`, which must be the last thing it sends
/// before it waits for more input; reading past it is an error (the end is then reported as
/// the reader's end).
struct Until<'a, R: BufRead> {
    inner: &'a mut R,
    end: &'a [u8],
    /// Bytes read from `inner`: `buf[pos..ready]` may be handed out; `buf[ready..]` could be
    /// the start of `end` and is held back.
    buf: Vec<u8>,
    pos: usize,
    ready: usize,
    found: bool,
}

impl<'a, R: BufRead> Until<'a, R> {
    fn new(inner: &'a mut R, end: &'a [u8]) -> Self {
        Self {
            inner,
            end,
            buf: Vec::new(),
            pos: 0,
            ready: 0,
            found: false,
        }
    }
}

impl<R: BufRead> BufRead for Until<'_, R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.pos == self.ready && !self.found {
            self.buf.drain(..self.ready);
            self.pos = 0;
            let chunk = self.inner.fill_buf()?;
            if chunk.is_empty() {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let n = chunk.len();
            self.buf.extend_from_slice(chunk);
            self.inner.consume(n);
            match find(&self.buf, self.end) {
                Some(i) if i + self.end.len() == self.buf.len() => {
                    self.buf.truncate(i);
                    self.ready = i;
                    self.found = true;
                }
                Some(_) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "output after the end line",
                    ));
                }
                None => self.ready = self.buf.len().saturating_sub(self.end.len() - 1),
            }
        }
        Ok(&self.buf[self.pos..self.ready])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.ready);
    }
}

impl<R: BufRead> Read for Until<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let have = self.fill_buf()?;
        let n = have.len().min(out.len());
        out[..n].copy_from_slice(&have[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// Where `needle` (not empty) first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::io::BufReader;

    /// A reader that hands out at most `step` bytes per fill, to cut the end line anywhere.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn read_until_end(data: &[u8], end: &[u8], step: usize) -> std::io::Result<Vec<u8>> {
        let mut inner = BufReader::with_capacity(step, Trickle { data, step });
        let mut until = Until::new(&mut inner, end);
        let mut got = Vec::new();
        until.read_to_end(&mut got)?;
        assert!(until.found);
        Ok(got)
    }

    #[test]
    fn snapshot_differ_stops_exactly_at_the_end_line_however_it_is_cut() {
        let body = b"diff --git a/x b/x\n+cxd-end-\n+cxd-end-abc-\n".repeat(50);
        let mut data = body.clone();
        data.extend_from_slice(b"cxd-end-abc-7\n");
        for step in [1, 2, 3, 7, 13, 64, 4096] {
            assert_eq!(
                read_until_end(&data, b"cxd-end-abc-7\n", step).unwrap(),
                body
            );
        }
        // Nothing before the end line at all.
        assert_eq!(read_until_end(b"E\n", b"E\n", 1).unwrap(), b"");
    }

    #[test]
    fn snapshot_differ_refuses_a_stream_that_ends_early_or_runs_past_the_end() {
        let mut inner = BufReader::new(&b"no end here"[..]);
        let mut until = Until::new(&mut inner, b"E\n");
        let mut got = Vec::new();
        let err = until.read_to_end(&mut got).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        let mut inner = BufReader::new(&b"abE\nmore"[..]);
        let mut until = Until::new(&mut inner, b"E\n");
        let err = until.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    }

    #[test]
    fn snapshot_differ_tags_differ_between_differs() {
        let (a, b) = (random_tag(), random_tag());
        assert_ne!(a, b);
        assert_eq!(a.len(), "cxd-end-".len() + 32);
    }
}
