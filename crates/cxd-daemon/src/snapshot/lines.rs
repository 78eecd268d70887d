//! Reading lines of a file as a snapshot's tree holds it: what a finding points at, read from
//! the tree that was reviewed (the working tree may have moved on since).

use std::ffi::OsStr;
use std::io::BufRead;
use std::path::PathBuf;

use super::Snapshotter;
use super::git::{Call, Git, Odb};

/// Most bytes read from one file before giving up (a finding far down a huge file has no
/// fingerprint rather than costing the daemon the file).
const MAX_READ: usize = 4 << 20;

/// Reads files of snapshot trees; cheap to clone, so a review job can carry one away from the
/// snapshotter.
#[derive(Debug, Clone)]
pub struct TreeReader {
    git: Git,
    no_index: PathBuf,
}

impl Snapshotter {
    /// A reader of this workspace's snapshot trees.
    #[must_use]
    pub fn tree_reader(&self) -> TreeReader {
        TreeReader {
            git: self.git.clone(),
            no_index: self.no_index.clone(),
        }
    }
}

impl TreeReader {
    /// Lines `start..=end` (1-based) of `path` in `tree`, joined with newlines; None when the
    /// file is not in the tree, is binary, or the lines are not within the first `MAX_READ`
    /// bytes. Blocking: it runs git.
    #[must_use]
    pub fn lines(&self, tree: &str, path: &str, start: u64, end: u64) -> Option<String> {
        if start == 0 || end < start || path.contains(['\0', '\n']) {
            return None;
        }
        let spec = format!("{tree}:{path}");
        let args = [
            OsStr::new("cat-file"),
            OsStr::new("blob"),
            OsStr::new(&spec),
        ];
        let call = Call {
            args: &args,
            index: &self.no_index,
            odb: Odb::WithRepo,
            stdin: None,
            ok_codes: &[],
        };
        self.git
            .stream(&call, |r| {
                let mut out = Vec::new();
                let mut line = Vec::new();
                let (mut n, mut read) = (0u64, 0usize);
                while n < end && read <= MAX_READ {
                    line.clear();
                    let got = r.read_until(b'\n', &mut line).unwrap_or(0);
                    if got == 0 {
                        break;
                    }
                    read += got;
                    n += 1;
                    if n >= start {
                        out.extend_from_slice(&line);
                    }
                }
                Ok((n >= start && read <= MAX_READ).then_some(out))
            })
            .ok()
            .flatten()
            .filter(|bytes| !bytes.contains(&0))
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }
}
