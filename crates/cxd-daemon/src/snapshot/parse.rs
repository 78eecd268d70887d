//! Parsing `git diff-tree -r -z --raw [--numstat -p]` output, streamed.
//!
//! With `-z` the raw records are `:MODE MODE OID OID STATUS\0PATH\0` (a rename adds a second
//! path), numstat records are `INS\tDEL\tPATH\0` or, for a rename, `INS\tDEL\t\0OLD\0NEW\0`
//! (`-` for binary), and the patch follows after one NUL.

use std::ffi::OsStr;
use std::io::BufRead;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::git::read_field;
use super::{ChangeStatus, Diff, FileChange};

/// One `diff-tree --raw` record, with the modes and blob ids of both sides that rebuilding an
/// index or a tree (reseeding, rebasing onto a moved HEAD, the HEAD-move path) needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawEntry {
    pub(crate) status: ChangeStatus,
    pub(crate) old_mode: Vec<u8>,
    pub(crate) old_oid: Vec<u8>,
    pub(crate) new_mode: Vec<u8>,
    pub(crate) new_oid: Vec<u8>,
    pub(crate) path: Vec<u8>,
    pub(crate) old_path: Option<Vec<u8>>,
}

/// What went wrong, for `SnapshotError::Parse`.
pub(crate) type Fail = String;

fn io(e: &std::io::Error) -> Fail {
    format!("reading git output: {e}")
}

fn peek(r: &mut impl BufRead) -> Result<Option<u8>, Fail> {
    Ok(r.fill_buf().map_err(|e| io(&e))?.first().copied())
}

fn field(r: &mut impl BufRead, what: &str) -> Result<Vec<u8>, Fail> {
    let mut buf = Vec::new();
    match read_field(r, &mut buf).map_err(|e| io(&e))? {
        Some(()) => Ok(buf),
        None => Err(format!("output ended before {what}")),
    }
}

/// Parse the raw records at the head of `r` (stops at the first byte that is not `:`).
pub(crate) fn raw_entries(r: &mut impl BufRead) -> Result<Vec<RawEntry>, Fail> {
    let mut entries = Vec::new();
    while peek(r)? == Some(b':') {
        let meta = field(r, "a raw record")?;
        let text = String::from_utf8_lossy(&meta);
        let parts: Vec<&str> = text.trim_start_matches(':').split(' ').collect();
        let [old_mode, new_mode, old_oid, new_oid, status] = parts[..] else {
            return Err(format!("bad raw record {text:?}"));
        };
        let status = match status.as_bytes().first() {
            Some(b'A') => ChangeStatus::Added,
            Some(b'M') => ChangeStatus::Modified,
            Some(b'D') => ChangeStatus::Deleted,
            Some(b'R') => ChangeStatus::Renamed,
            Some(b'T') => ChangeStatus::TypeChanged,
            _ => return Err(format!("unexpected status {status:?}")),
        };
        let first = field(r, "a path")?;
        let (path, old_path) = if status == ChangeStatus::Renamed {
            (field(r, "a rename target")?, Some(first))
        } else {
            (first, None)
        };
        entries.push(RawEntry {
            status,
            old_mode: old_mode.as_bytes().to_vec(),
            old_oid: old_oid.as_bytes().to_vec(),
            new_mode: new_mode.as_bytes().to_vec(),
            new_oid: new_oid.as_bytes().to_vec(),
            path,
            old_path,
        });
    }
    Ok(entries)
}

fn count(field: &[u8]) -> Result<Option<u64>, Fail> {
    if field == b"-" {
        return Ok(None);
    }
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Some)
        .ok_or_else(|| format!("bad numstat count {:?}", String::from_utf8_lossy(field)))
}

fn path(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(&bytes))
}

/// Parse `diff-tree -r -M -z --raw --numstat -p`, keeping at most `max_bytes` of the patch.
pub(crate) fn diff(r: &mut impl BufRead, max_bytes: usize) -> Result<Diff, Fail> {
    let raw = raw_entries(r)?;
    let mut files = Vec::with_capacity(raw.len());
    for entry in raw {
        let mut buf = Vec::new();
        r.read_until(b'\t', &mut buf).map_err(|e| io(&e))?;
        let ins = count(buf.strip_suffix(b"\t").ok_or("numstat record missing")?)?;
        buf.clear();
        r.read_until(b'\t', &mut buf).map_err(|e| io(&e))?;
        let del = count(buf.strip_suffix(b"\t").ok_or("numstat record cut short")?)?;
        let numstat_path = if peek(r)? == Some(0) {
            r.consume(1);
            let _old = field(r, "a numstat rename source")?;
            field(r, "a numstat rename target")?
        } else {
            field(r, "a numstat path")?
        };
        if numstat_path != entry.path {
            return Err(format!(
                "numstat path {:?} does not match raw path {:?}",
                String::from_utf8_lossy(&numstat_path),
                String::from_utf8_lossy(&entry.path)
            ));
        }
        files.push(FileChange {
            path: path(entry.path),
            old_path: entry.old_path.map(path),
            status: entry.status,
            insertions: ins,
            deletions: del,
        });
    }
    if peek(r)? == Some(0) {
        r.consume(1);
    }
    let mut kept = Vec::new();
    let mut bytes = 0usize;
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let n = r.read(&mut chunk).map_err(|e| io(&e))?;
        if n == 0 {
            break;
        }
        let room = max_bytes.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..n.min(room)]);
        bytes += n;
    }
    let unified = (bytes <= max_bytes).then(|| match String::from_utf8(kept) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    });
    Ok(Diff {
        files,
        unified,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const Z: &str = "0000000000000000000000000000000000000000";
    const A: &str = "1111111111111111111111111111111111111111";

    fn sample() -> Vec<u8> {
        let mut s = Vec::new();
        s.extend_from_slice(format!(":000000 100644 {Z} {A} A\0new file\0").as_bytes());
        s.extend_from_slice(format!(":100644 100644 {A} {A} R090\0old\0re\nnamed\0").as_bytes());
        s.extend_from_slice(format!(":100644 000000 {A} {Z} D\0bin\0").as_bytes());
        s.extend_from_slice(b"2\t0\tnew file\0");
        s.extend_from_slice(b"1\t1\t\0old\0re\nnamed\0");
        s.extend_from_slice(b"-\t-\tbin\0");
        s.push(0);
        s.extend_from_slice(b"diff --git a/new file b/new file\n+x\n");
        s
    }

    #[test]
    fn snapshot_parse_full_output() {
        let d = diff(&mut &sample()[..], 1 << 20).unwrap();
        assert_eq!(d.files.len(), 3);
        assert_eq!(d.files[0].status, ChangeStatus::Added);
        assert_eq!(d.files[0].insertions, Some(2));
        assert_eq!(d.files[1].status, ChangeStatus::Renamed);
        assert_eq!(d.files[1].path, PathBuf::from("re\nnamed"));
        assert_eq!(d.files[1].old_path, Some(PathBuf::from("old")));
        assert_eq!(d.files[2].insertions, None);
        assert_eq!(d.files[2].status, ChangeStatus::Deleted);
        assert_eq!(
            d.unified.as_deref(),
            Some("diff --git a/new file b/new file\n+x\n")
        );
        assert_eq!(d.bytes, 36);
        assert_eq!((d.insertions(), d.deletions()), (3, 1));
    }

    #[test]
    fn snapshot_parse_over_limit_drops_unified() {
        let d = diff(&mut &sample()[..], 10).unwrap();
        assert_eq!(d.unified, None);
        assert_eq!(d.bytes, 36);
        assert_eq!(d.files.len(), 3);
    }

    #[test]
    fn snapshot_parse_empty_and_garbage() {
        let d = diff(&mut &b""[..], 10).unwrap();
        assert!(d.is_empty());
        assert_eq!(d.unified.as_deref(), Some(""));
        assert!(diff(&mut &b":100644 bogus\0x\0"[..], 10).is_err());
        let cut = format!(":000000 100644 {Z} {A} A\0f\0");
        assert!(diff(&mut cut.as_bytes(), 10).is_err());
    }
}
