//! Running the `git` executable against a private index and object directory.
//!
//! Every call gets a clean environment: inherited `GIT_*` variables (a parent git hook's
//! `GIT_DIR`, `GIT_INDEX_FILE`, `-c` parameters…) are removed, and the repository, work
//! tree, index and object directories are set explicitly, so git never discovers anything
//! and never writes into the user's `.git`.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use super::SnapshotError;

/// Configuration passed to every git call with `-c`.
///
/// - quotepath off: names are not octal-escaped (we read `-z` output anyway).
/// - fsmonitor off: no daemon, no socket in `.git`, no hook.
/// - splitIndex off: a split index would write `sharedindex.*` next to the user's index.
/// - skipHash: the private index is ours; skip hashing ~10 MB on every write.
/// - gc/maintenance off: never repack anything.
/// - lfs filters off: `git-lfs clean` writes into `.git/lfs/objects`; we hash raw content.
const CONFIG: &[&str] = &[
    "core.quotepath=off",
    "core.fsmonitor=false",
    "core.splitIndex=false",
    "index.skipHash=true",
    "index.sparse=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "advice.addIgnoredFile=false",
    "filter.lfs.clean=",
    "filter.lfs.smudge=",
    "filter.lfs.process=",
    "filter.lfs.required=false",
];

/// Inherited variables we keep: they say where git itself lives and which config to read.
const KEEP_ENV: &[&str] = &[
    "GIT_EXEC_PATH",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
];

/// Which object directories a call sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Odb {
    /// Only the private one. For every call that may write objects: git "freshens" (touches
    /// the mtime of) an object it would write when it already exists in an alternate, which
    /// would touch the user's packs and loose objects.
    Private,
    /// The private one plus the repository's as an alternate, read-only. For readers.
    WithRepo,
}

/// Where a repository lives, and the private state next to it.
#[derive(Debug, Clone)]
pub(crate) struct Git {
    /// The work-tree root; git runs there.
    pub(crate) root: PathBuf,
    /// The repository's git dir (`.git`, or `.git/worktrees/NAME` for a linked worktree).
    pub(crate) git_dir: PathBuf,
    /// The repository's real object directory, used as an alternate by readers.
    pub(crate) repo_objects: PathBuf,
    /// cxd's private object directory, under the state dir: every object cxd writes goes here, never into the repository.
    pub(crate) objects: PathBuf,
    /// Inherited `GIT_*` variables to remove from every call.
    scrub: Vec<OsString>,
}

/// What one git call needs.
pub(crate) struct Call<'a> {
    /// Arguments after `git -c …`.
    pub(crate) args: &'a [&'a OsStr],
    /// The index file the call reads and writes (`GIT_INDEX_FILE`): cxd's own or a temporary copy, never the user's.
    pub(crate) index: &'a Path,
    /// Object directories visible to the call.
    pub(crate) odb: Odb,
    /// Bytes fed to stdin, if any.
    pub(crate) stdin: Option<&'a [u8]>,
    /// Exit codes that count as success besides 0.
    pub(crate) ok_codes: &'a [i32],
}

/// The environment as git sees it before we know the repository: scrubbed, no discovery.
fn scrubbed_env() -> Vec<OsString> {
    std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| {
            let k = k.to_string_lossy();
            k.starts_with("GIT_") && !KEEP_ENV.contains(&k.as_ref())
        })
        .collect()
}

/// Where git says a repository's parts are.
#[derive(Debug)]
pub(crate) struct Located {
    pub(crate) toplevel: PathBuf,
    pub(crate) git_dir: PathBuf,
    pub(crate) common_dir: PathBuf,
    pub(crate) objects: PathBuf,
    pub(crate) index: PathBuf,
}

/// `git rev-parse` in `root` with a scrubbed environment: discover the repository.
pub(crate) fn discover(root: &Path) -> Result<Located, SnapshotError> {
    let scrub = scrubbed_env();
    let mut cmd = Command::new("git");
    for k in &scrub {
        cmd.env_remove(k);
    }
    // No `--path-format=absolute` (git 2.31+): the relative paths older gits print are
    // relative to `root`, where git runs, and are joined to it below.
    let args = [
        "rev-parse",
        "--show-toplevel",
        "--git-dir",
        "--git-common-dir",
        "--git-path",
        "objects",
        "--git-path",
        "index",
    ];
    cmd.args(args)
        .current_dir(root)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    let out = cmd.output().map_err(|source| SnapshotError::Spawn {
        command: args.join(" "),
        root: root.to_owned(),
        source,
    })?;
    if !out.status.success() {
        return Err(SnapshotError::NotARepo {
            root: root.to_owned(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    let base = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let text: Vec<PathBuf> = bytes_to_path_lines(&out.stdout)
        .into_iter()
        .map(|p| base.join(p))
        .collect();
    match <[PathBuf; 5]>::try_from(text) {
        Ok([toplevel, git_dir, common_dir, objects, index]) => Ok(Located {
            toplevel,
            git_dir,
            common_dir,
            objects,
            index,
        }),
        Err(lines) => Err(SnapshotError::Parse {
            command: args.join(" "),
            detail: format!("expected 5 lines, got {}", lines.len()),
        }),
    }
}

fn bytes_to_path_lines(bytes: &[u8]) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| PathBuf::from(OsStr::from_bytes(l)))
        .collect()
}

impl Git {
    pub(crate) fn new(
        root: PathBuf,
        git_dir: PathBuf,
        repo_objects: PathBuf,
        objects: PathBuf,
    ) -> Self {
        Self {
            root,
            git_dir,
            repo_objects,
            objects,
            scrub: scrubbed_env(),
        }
    }

    fn command(&self, call: &Call<'_>) -> Command {
        let mut cmd = Command::new("git");
        for k in &self.scrub {
            cmd.env_remove(k);
        }
        for c in CONFIG {
            cmd.arg("-c").arg(c);
        }
        // `check-ignore` refuses literal pathspecs; its callers pass no path that starts
        // with `:` (the only way to ask for pathspec magic).
        if call.args.first().is_none_or(|a| *a != "check-ignore") {
            cmd.env("GIT_LITERAL_PATHSPECS", "1");
        }
        cmd.args(call.args)
            .current_dir(&self.root)
            .env("GIT_DIR", &self.git_dir)
            .env("GIT_WORK_TREE", &self.root)
            .env("GIT_INDEX_FILE", call.index)
            .env("GIT_OBJECT_DIRECTORY", &self.objects)
            .env("GIT_NO_REPLACE_OBJECTS", "1")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ADVICE", "0")
            .stdin(if call.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match call.odb {
            Odb::Private => cmd.env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES"),
            Odb::WithRepo => cmd.env("GIT_ALTERNATE_OBJECT_DIRECTORIES", &self.repo_objects),
        };
        cmd
    }

    fn describe(call: &Call<'_>) -> String {
        let args: Vec<_> = call.args.iter().map(|a| a.to_string_lossy()).collect();
        args.join(" ")
    }

    fn spawn(&self, call: &Call<'_>) -> Result<Child, SnapshotError> {
        self.command(call)
            .spawn()
            .map_err(|source| SnapshotError::Spawn {
                command: Self::describe(call),
                root: self.root.clone(),
                source,
            })
    }

    fn failed(&self, call: &Call<'_>, code: Option<i32>, stderr: &[u8]) -> SnapshotError {
        SnapshotError::Git {
            command: Self::describe(call),
            root: self.root.clone(),
            code,
            stderr: String::from_utf8_lossy(stderr).trim().to_owned(),
        }
    }

    /// Start a long-lived process (e.g. `cat-file --batch`): stdin and stdout piped (read
    /// through a buffer of `capacity` bytes), stderr dropped.
    pub(crate) fn spawn_long(
        &self,
        call: &Call<'_>,
        capacity: usize,
    ) -> Result<Long, SnapshotError> {
        let spawn_err = |source| SnapshotError::Spawn {
            command: Self::describe(call),
            root: self.root.clone(),
            source,
        };
        let mut child = self
            .command(call)
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(spawn_err)?;
        match (child.stdin.take(), child.stdout.take()) {
            (Some(stdin), Some(stdout)) => Ok(Long {
                child,
                stdin,
                stdout: BufReader::with_capacity(capacity, stdout),
            }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err(spawn_err(std::io::Error::other("no stdin/stdout pipe")))
            }
        }
    }

    /// Run to completion; stdout on success.
    pub(crate) fn run(&self, call: &Call<'_>) -> Result<Vec<u8>, SnapshotError> {
        let mut child = self.spawn(call)?;
        let stdin = child.stdin.take();
        let out = std::thread::scope(|s| {
            // Feed stdin from a thread: a long path list must not deadlock against output.
            if let (Some(mut pipe), Some(bytes)) = (stdin, call.stdin) {
                s.spawn(move || {
                    // A write error means git exited early; its status says why.
                    let _ = pipe.write_all(bytes);
                });
            }
            child.wait_with_output()
        })
        .map_err(|source| SnapshotError::Spawn {
            command: Self::describe(call),
            root: self.root.clone(),
            source,
        })?;
        let code = out.status.code();
        if out.status.success() || code.is_some_and(|c| call.ok_codes.contains(&c)) {
            Ok(out.stdout)
        } else {
            Err(self.failed(call, code, &out.stderr))
        }
    }

    /// Run with stdout streamed to `read`; stderr is collected on a thread.
    pub(crate) fn stream<T>(
        &self,
        call: &Call<'_>,
        read: impl FnOnce(&mut BufReader<ChildStdout>) -> Result<T, SnapshotError>,
    ) -> Result<T, SnapshotError> {
        let mut child = self.spawn(call)?;
        let io_err = |source| SnapshotError::Spawn {
            command: Self::describe(call),
            root: self.root.clone(),
            source,
        };
        let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(io_err(std::io::Error::other("no stdout/stderr pipe")));
        };
        let (result, err_bytes) = std::thread::scope(|s| {
            let errs = s.spawn(move || {
                let mut buf = Vec::new();
                let _ = stderr.read_to_end(&mut buf);
                buf
            });
            let mut reader = BufReader::with_capacity(64 * 1024, stdout);
            let result = read(&mut reader);
            // Drain what the parser left so git is never blocked on a full pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
            (result, errs.join().unwrap_or_default())
        });
        let status = child.wait().map_err(io_err)?;
        if !status.success() {
            return Err(self.failed(call, status.code(), &err_bytes));
        }
        result
    }
}

/// A long-lived git process spoken to over its pipes (`cat-file --batch`, `diff-tree
/// --stdin`); killed and reaped when dropped.
#[derive(Debug)]
pub(crate) struct Long {
    child: Child,
    pub(crate) stdin: ChildStdin,
    pub(crate) stdout: BufReader<ChildStdout>,
}

impl Drop for Long {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Read one NUL-terminated field (without the NUL); `None` at end of input.
pub(crate) fn read_field(r: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<()>> {
    buf.clear();
    let n = r.read_until(0, buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&0) {
        buf.pop();
    }
    Ok(Some(()))
}
