//! Running the `git` executable against a private index and object directory.
//!
//! Every call is built by [`crate::gitcmd::command`] (no inherited `GIT_*` variable, no hook,
//! pager, transport or other program a config names), with every filter driver the repository's config
//! defines switched off, and the repository, work tree, index and object directories set
//! explicitly, so git never discovers anything and never writes into the user's `.git`.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use super::SnapshotError;
use super::gate::{Stamp, config_places, stamp};
use crate::gitcmd;

/// Configuration passed to every snapshot call with `-c` (besides [`gitcmd::NEUTRAL_CONFIG`]).
///
/// - quotepath off: names are not octal-escaped (we read `-z` output anyway).
/// - splitIndex off: a split index would write `sharedindex.*` next to the user's index.
/// - skipHash: the private index is ours; skip hashing ~10 MB on every write.
const CONFIG: &[&str] = &[
    "core.quotepath=off",
    "core.splitIndex=false",
    "index.skipHash=true",
    "index.sparse=false",
    "advice.addIgnoredFile=false",
];

/// Configuration of the calls in the private bare repository ([`Odb::Bare`]): no attribute
/// file outside the trees is read, and no size makes a text file "binary".
const BARE_CONFIG: &[&str] = &[
    "core.attributesFile=/dev/null",
    "core.bigFileThreshold=512m",
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
    /// As `WithRepo`, but in cxd's private bare repository instead of the user's: no work
    /// tree, and neither the repository's config nor its attributes (in the tree, the index
    /// or `info/attributes`) are read. For diffs between trees, which then depend on the
    /// trees' bytes alone.
    Bare,
}

/// Where a repository lives, and the private state next to it.
#[derive(Debug, Clone)]
pub(crate) struct Git {
    /// The work-tree root; git runs there.
    pub(crate) root: PathBuf,
    /// The repository's git dir (`.git`, or `.git/worktrees/NAME` for a linked worktree).
    pub(crate) git_dir: PathBuf,
    /// The repository's common dir (its config lives there).
    common_dir: PathBuf,
    /// The repository's real object directory, used as an alternate by readers.
    pub(crate) repo_objects: PathBuf,
    /// cxd's private object directory, under the state dir: every object cxd writes goes here, never into the repository.
    pub(crate) objects: PathBuf,
    /// cxd's private bare repository (next to `objects`) for [`Odb::Bare`] calls.
    pub(crate) bare: PathBuf,
    /// The filter drivers the repository's config defines, switched off in every call.
    drivers: Arc<Mutex<Drivers>>,
}

/// The `-c` settings that switch off the repository's filter drivers, and the config files they
/// were read from (re-read when one changes).
#[derive(Debug, Default)]
struct Drivers {
    files: Vec<(PathBuf, Option<Stamp>)>,
    overrides: Vec<String>,
    known: bool,
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

/// Where git says a repository's parts are.
#[derive(Debug)]
pub(crate) struct Located {
    pub(crate) toplevel: PathBuf,
    pub(crate) git_dir: PathBuf,
    pub(crate) common_dir: PathBuf,
    pub(crate) objects: PathBuf,
    pub(crate) index: PathBuf,
    /// `sha1` or `sha256`.
    pub(crate) object_format: String,
}

/// `git rev-parse` in `root` with a scrubbed environment: discover the repository.
pub(crate) fn discover(root: &Path) -> Result<Located, SnapshotError> {
    let mut cmd = gitcmd::command();
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
        "--show-object-format",
    ];
    cmd.args(args).current_dir(root);
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
    let mut text: Vec<PathBuf> = bytes_to_path_lines(&out.stdout);
    let format = text.pop().map(|f| f.to_string_lossy().into_owned());
    let text: Vec<PathBuf> = text.into_iter().map(|p| base.join(p)).collect();
    match (<[PathBuf; 5]>::try_from(text), format.as_deref()) {
        (Ok([toplevel, git_dir, common_dir, objects, index]), Some(f @ ("sha1" | "sha256"))) => {
            Ok(Located {
                toplevel,
                git_dir,
                common_dir,
                objects,
                index,
                object_format: f.to_owned(),
            })
        }
        (lines, format) => Err(SnapshotError::Parse {
            command: args.join(" "),
            detail: format!(
                "expected 5 paths and an object format, got {:?} and {format:?}",
                lines.map_or_else(|l| l.len(), |l| l.len())
            ),
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
    /// The repository as `discover` found it, with cxd's private object directory `objects`;
    /// creates the private bare repository next to it.
    pub(crate) fn new(
        root: PathBuf,
        located: &super::git::Located,
        objects: PathBuf,
    ) -> Result<Self, SnapshotError> {
        let bare = objects.with_file_name("bare");
        make_bare(&bare, &located.object_format)?;
        Ok(Self {
            root,
            git_dir: located.git_dir.clone(),
            common_dir: located.common_dir.clone(),
            repo_objects: located.objects.clone(),
            objects,
            bare,
            drivers: Arc::new(Mutex::new(Drivers::default())),
        })
    }

    /// The `-c` settings that switch off the repository's filter drivers, read again when a
    /// config file changed.
    fn driver_overrides(&self) -> Result<Vec<String>, SnapshotError> {
        let mut d = self
            .drivers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if d.known && d.files.iter().all(|(p, s)| stamp(p) == *s) {
            return Ok(d.overrides.clone());
        }
        let mut places = config_places(&self.common_dir, &self.git_dir);
        let stamps_before: Vec<_> = places.iter().map(|p| stamp(p)).collect();
        let args = ["config", "-z", "--list", "--show-scope", "--show-origin"];
        let out = gitcmd::command()
            .args(args)
            .current_dir(&self.root)
            .env("GIT_DIR", &self.git_dir)
            .env("GIT_WORK_TREE", &self.root)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(|source| SnapshotError::Spawn {
                command: args.join(" "),
                root: self.root.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(SnapshotError::Git {
                command: args.join(" "),
                root: self.root.clone(),
                code: out.status.code(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        let overrides = gitcmd::driver_overrides(&out.stdout).map_err(|source| {
            SnapshotError::UnsafeConfig {
                root: self.root.clone(),
                source,
            }
        })?;
        let mut files: Vec<(PathBuf, Option<Stamp>)> =
            places.drain(..).zip(stamps_before).collect();
        for origin in out.stdout.split(|&b| b == 0).skip(1).step_by(3) {
            if let Some(f) = origin.strip_prefix(b"file:") {
                use std::os::unix::ffi::OsStrExt;
                let p = self.root.join(OsStr::from_bytes(f));
                if !files.iter().any(|(q, _)| *q == p) {
                    let s = stamp(&p);
                    files.push((p, s));
                }
            }
        }
        *d = Drivers {
            files,
            overrides: overrides.clone(),
            known: true,
        };
        Ok(overrides)
    }

    fn command(&self, call: &Call<'_>) -> Result<Command, SnapshotError> {
        let mut cmd = gitcmd::command();
        for c in CONFIG {
            cmd.arg("-c").arg(c);
        }
        for c in self.driver_overrides()? {
            cmd.arg("-c").arg(c);
        }
        // `check-ignore` refuses literal pathspecs; its callers pass no path that starts
        // with `:` (the only way to ask for pathspec magic).
        if call.args.first().is_none_or(|a| *a != "check-ignore") {
            cmd.env("GIT_LITERAL_PATHSPECS", "1");
        }
        if call.odb == Odb::Bare {
            for c in BARE_CONFIG {
                cmd.arg("-c").arg(c);
            }
            cmd.current_dir(&self.bare)
                .env("GIT_DIR", &self.bare)
                .env("GIT_ATTR_NOSYSTEM", "1");
        } else {
            cmd.current_dir(&self.root)
                .env("GIT_DIR", &self.git_dir)
                .env("GIT_WORK_TREE", &self.root);
        }
        cmd.args(call.args)
            .env("GIT_INDEX_FILE", call.index)
            .env("GIT_OBJECT_DIRECTORY", &self.objects)
            .env("GIT_NO_REPLACE_OBJECTS", "1")
            .stdin(if call.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match call.odb {
            Odb::Private => cmd.env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES"),
            Odb::WithRepo | Odb::Bare => {
                cmd.env("GIT_ALTERNATE_OBJECT_DIRECTORIES", &self.repo_objects)
            }
        };
        Ok(cmd)
    }

    fn describe(call: &Call<'_>) -> String {
        let args: Vec<_> = call.args.iter().map(|a| a.to_string_lossy()).collect();
        args.join(" ")
    }

    fn spawn(&self, call: &Call<'_>) -> Result<Child, SnapshotError> {
        self.command(call)?
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
            .command(call)?
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

/// Create (or bring up to date) the private bare repository at `dir`: a `HEAD`, an empty
/// `refs`, and a config saying it is bare and which hash its objects use (its objects are
/// always given with `GIT_OBJECT_DIRECTORY`).
fn make_bare(dir: &Path, object_format: &str) -> Result<(), SnapshotError> {
    use super::error::io_err as io;
    let refs = dir.join("refs");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&refs)
        .map_err(io(&refs, "create"))?;
    let config = if object_format == "sha1" {
        "[core]\n\trepositoryformatversion = 0\n\tbare = true\n".to_owned()
    } else {
        format!(
            "[core]\n\trepositoryformatversion = 1\n\tbare = true\n[extensions]\n\tobjectformat = {object_format}\n"
        )
    };
    for (name, text) in [
        ("HEAD", "ref: refs/heads/cxd\n"),
        ("config", config.as_str()),
    ] {
        let path = dir.join(name);
        if std::fs::read(&path).ok().as_deref() == Some(text.as_bytes()) {
            continue;
        }
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, text).map_err(io(&tmp, "write"))?;
        std::fs::rename(&tmp, &path).map_err(io(&path, "replace"))?;
    }
    Ok(())
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
