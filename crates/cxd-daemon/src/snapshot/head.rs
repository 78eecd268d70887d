//! Reading HEAD without running git when the refs are plain files, and checking the object
//! ids git prints.

use std::ffi::OsStr;

use super::git::Call;
use super::{SnapshotError, Snapshotter};

impl Snapshotter {
    /// HEAD's commit now, `None` when unborn (the ref files, or git when they cannot tell).
    pub fn head(&self) -> Result<Option<String>, SnapshotError> {
        self.read_head()
    }

    /// HEAD's commit, `None` when unborn. Read from the ref files when they are plain files.
    pub(super) fn read_head(&self) -> Result<Option<String>, SnapshotError> {
        if self.files_refs
            && let Some(head) = self.read_head_files()
        {
            return Ok(head);
        }
        let out = self.git.run(&Call {
            ok_codes: &[1],
            ..self.reader(&["rev-parse", "-q", "--verify", "HEAD"].map(OsStr::new))
        })?;
        if out.is_empty() {
            return Ok(None);
        }
        hex_line(&out, "rev-parse HEAD").map(Some)
    }

    /// `Some(head)` when the files say for sure; `None` to ask git (symref chains, odd refs).
    pub(super) fn read_head_files(&self) -> Option<Option<String>> {
        let head = std::fs::read(self.git.git_dir.join("HEAD")).ok()?;
        let head = head.trim_ascii_end();
        let Some(name) = head.strip_prefix(b"ref: ") else {
            return is_hex(head).then(|| Some(String::from_utf8_lossy(head).into_owned()));
        };
        if !name.starts_with(b"refs/heads/") {
            return None;
        }
        let name = std::str::from_utf8(name).ok()?;
        match std::fs::read(self.common_dir.join(name)) {
            Ok(v) => {
                let v = v.trim_ascii_end();
                is_hex(v).then(|| Some(String::from_utf8_lossy(v).into_owned()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let packed = match std::fs::read(self.common_dir.join("packed-refs")) {
                    Ok(p) => p,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(None),
                    Err(_) => return None,
                };
                for line in packed.split(|&b| b == b'\n') {
                    if let Some((oid, refname)) = line.split_once_byte(b' ')
                        && refname == name.as_bytes()
                        && is_hex(oid)
                    {
                        return Some(Some(String::from_utf8_lossy(oid).into_owned()));
                    }
                }
                Some(None)
            }
            Err(_) => None,
        }
    }
}

/// Most bytes of HEAD's reflog read from its end: enough for any burst of moves.
const REFLOG_TAIL: u64 = 256 * 1024;

impl Snapshotter {
    /// Whether HEAD got from `from` to where it is now only by commits (`git commit`, amend,
    /// a hook's own commit), as HEAD's reflog tells: a commit writes no file of the work tree,
    /// so what changed meanwhile was written by someone else (a hook), not by git. False when
    /// it did not move, when anything else moved it (a checkout, merge, pull, reset, rebase,
    /// cherry-pick), or when there is no reflog to tell.
    pub fn moved_by_commits(&self, from: Option<&str>) -> bool {
        let Ok(Some(now)) = self.read_head() else {
            return false;
        };
        if from == Some(now.as_str()) {
            return false;
        }
        let Some(tail) = read_tail(&self.git.git_dir.join("logs/HEAD"), REFLOG_TAIL) else {
            return false;
        };
        let zero = "0".repeat(now.len());
        let from = from.unwrap_or(&zero);
        let mut want = now.as_str();
        for entry in tail.lines().rev() {
            let Some((ids, message)) = entry.split_once('\t') else {
                return false;
            };
            let mut words = ids.split(' ');
            let (Some(old), Some(new)) = (words.next(), words.next()) else {
                return false;
            };
            if new != want || !message.starts_with("commit") {
                return false;
            }
            if old == from {
                return true;
            }
            want = old;
        }
        false
    }
}

/// The last `max` bytes of a file (from a line start), or None when it cannot be read.
fn read_tail(path: &std::path::Path, max: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(max);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    if start == 0 {
        return Some(text);
    }
    // Drop the partial first line.
    text.split_once('\n').map(|(_, rest)| rest.to_owned())
}

trait SplitOnce {
    fn split_once_byte(&self, b: u8) -> Option<(&[u8], &[u8])>;
}

impl SplitOnce for [u8] {
    fn split_once_byte(&self, b: u8) -> Option<(&[u8], &[u8])> {
        let i = self.iter().position(|&c| c == b)?;
        Some((&self[..i], &self[i + 1..]))
    }
}

fn is_hex(s: &[u8]) -> bool {
    (s.len() == 40 || s.len() == 64) && s.iter().all(|b| b.is_ascii_hexdigit())
}

/// The one object id `out` holds, or why it is not one.
pub(super) fn hex_line(out: &[u8], command: &str) -> Result<String, SnapshotError> {
    let line = out.trim_ascii_end();
    if is_hex(line) {
        Ok(String::from_utf8_lossy(line).into_owned())
    } else {
        Err(SnapshotError::Parse {
            command: command.into(),
            detail: format!(
                "expected an object id, got {:?}",
                String::from_utf8_lossy(out)
            ),
        })
    }
}
