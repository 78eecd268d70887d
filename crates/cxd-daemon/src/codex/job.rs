//! One review from start to stored result: prompt, codex run (resuming the workspace's own
//! thread, replacing it once if codex no longer knows it), answer, findings, cost.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cxd_proto::domain::{Trigger, Verdict};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::codex::answer::{self};
use crate::codex::argv::{Invocation, is_thread_id};
use crate::codex::classify::ErrorClass;
use crate::codex::jsonl::{Activity, Usage};
use crate::codex::outcome;
use crate::codex::runner::{self, RunSpec};
use crate::codex::{isolation, sessions};
use crate::scope::ReviewedChange;
use crate::snapshot::TreeReader;
use crate::snapshot::hunks::DiffHunks;
use crate::store::reviews::{Finish, NewReview};
use crate::store::{self, Store, StoreError};

/// Everything one codex run needs, gathered up front by the workspace that asks for it.
#[derive(Debug, Clone)]
pub struct Job {
    /// The `workspaces` row id the review is recorded under.
    pub workspace_id: i64,
    /// Its root (codex's working directory).
    pub root: PathBuf,
    /// edit | manual | agent | plan | stop
    pub trigger: Trigger,
    /// The full prompt text, passed to codex on stdin.
    pub prompt: String,
    /// Model passed to codex (`--model`), e.g. `gpt-5.2-codex`.
    pub model: String,
    /// Reasoning effort passed to codex, e.g. `medium`.
    pub effort: String,
    /// Why this model and effort, as status and the log say it.
    pub model_reason: String,
    /// Killed after this long (`review.timeout_s`, 900 s by default).
    pub timeout: Duration,
    /// The codex executable (`review.codex_bin` or `CXD_CODEX_BIN`).
    pub codex: PathBuf,
    /// Extra arguments from `review.extra_args`, appended to codex's command line.
    pub extra_args: Vec<String>,
    /// The workspace's thread, if it has one.
    pub thread: Option<String>,
    /// Where the schema file and last-message files live.
    pub dir: PathBuf,
    /// What the review covers: files, insertions, deletions.
    pub stats: (u64, u64, u64),
    /// The trees the change goes between.
    pub trees: (Option<String>, Option<String>),
    /// When the review was asked for (waiting for a slot counts in its duration).
    pub queued: Instant,
    /// Reads the reviewed tree (`trees.1`): the lines a finding points at give its
    /// fingerprint. None for a plan.
    pub reader: Option<TreeReader>,
    /// The reviewed diff's hunks, when stored findings' lines can follow them (the diff starts
    /// at the tree they point into, and was small enough to be inline).
    pub hunks: Option<DiffHunks>,
    /// What the review covers, for marking the findings in the change (None for a plan).
    pub change: Option<ReviewedChange>,
    /// The tree ids an answer covers (the reviewed snapshot, or the reviewed commits' trees),
    /// recorded with the result so "was this reviewed?" is a lookup.
    pub covers: Vec<String>,
    /// The isolation overrides ([`isolation::args`] for this root), read ahead while the tree
    /// was looked at; `None`: read them when the run starts.
    pub isolation: Option<Vec<String>>,
}

/// How the run ended, as the workspace needs it to update its state and answer waiters.
#[derive(Debug, Clone, PartialEq)]
pub struct JobResult {
    /// The `reviews` row id this run was recorded as.
    pub review_id: i64,
    /// approve | changes_requested | error | interrupted
    pub verdict: Verdict,
    /// Why it failed: the class and the words (None when Codex gave a verdict).
    pub error: Option<(ErrorClass, String)>,
    /// The thread now (new, resumed, or replaced).
    pub thread_id: Option<String>,
    /// Row ids of the findings this review opened.
    pub opened: Vec<i64>,
    /// Row ids of the findings this review marked resolved.
    pub resolved: Vec<i64>,
    /// Disputed findings Codex withdrew.
    pub withdrawn: Vec<i64>,
    /// Disputed findings Codex upheld.
    pub upheld: Vec<i64>,
    /// Resolved findings reported again, open once more.
    pub reopened: Vec<i64>,
    /// Open findings reported again or listed as still open.
    pub carried: Vec<i64>,
    /// Dismissed findings reported again (still dismissed).
    pub dismissed_seen: Vec<i64>,
    /// Open findings whose lines the reviewed diff deleted.
    pub outdated: Vec<i64>,
    /// Tokens this review cost, as codex's `turn.completed` reported them.
    pub tokens: Usage,
    /// codex's exit code (None: killed by a signal or never started).
    pub exit_code: Option<i32>,
}

impl JobResult {
    /// Whether Codex gave a verdict (the change counts as reviewed).
    pub fn reviewed(&self) -> bool {
        self.error.is_none()
    }
}

/// Why the job could not even be recorded.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Starting or recording the review in the database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The schema file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The schema file that could not be written.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A codex config file could not be read for the MCP servers to turn off.
    #[error(transparent)]
    Isolation(#[from] isolation::IsolationError),
}

/// The codex executable: `CXD_CODEX_BIN`, else `review.codex_bin` (a bare name is looked up on
/// PATH when run).
pub fn codex_bin(config_value: &str) -> PathBuf {
    std::env::var_os("CXD_CODEX_BIN")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(config_value), PathBuf::from)
}

/// Where the workspace's running codex is recorded.
pub fn pidfile(dir: &Path) -> PathBuf {
    dir.join("codex.pid")
}

/// Write the answer schema into `dir`, once per daemon run: a later review finds it there
/// (written again when it went missing). Rewriting it costs a review about half a
/// millisecond on its way to codex.
pub fn write_schema(dir: &Path) -> Result<PathBuf, JobError> {
    static WRITTEN: std::sync::Mutex<Option<std::collections::HashSet<PathBuf>>> =
        std::sync::Mutex::new(None);
    let path = dir.join("review-schema.json");
    let mut written = WRITTEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let written = written.get_or_insert_with(Default::default);
    if written.contains(&path) && path.is_file() {
        return Ok(path);
    }
    let io = |source| JobError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let text = serde_json::to_string_pretty(&answer::schema()).unwrap_or_default();
    std::fs::write(&path, text).map_err(io)?;
    written.insert(path.clone());
    Ok(path)
}

/// Run the job and store everything it produced.
pub async fn run(
    job: Job,
    store: &Store,
    cancel: &CancellationToken,
    mut on_activity: impl FnMut(Activity) + Send,
    mut on_note: impl FnMut(String) + Send,
) -> Result<JobResult, JobError> {
    let schema = write_schema(&job.dir)?;
    let output = job.dir.join("last-message.txt");
    let mut thread = job.thread.clone().filter(|t| is_thread_id(t));
    if let (Some(t), None) = (&job.thread, &thread) {
        on_note(format!(
            "stored thread id {t:?} is not a codex thread id; starting a new thread"
        ));
    }
    let isolation = match job.isolation.clone() {
        Some(ahead) => ahead,
        None => isolation::args(sessions::codex_home().as_deref(), &job.root)?,
    };
    let mut replaced = false;
    loop {
        let args = Invocation {
            model: &job.model,
            effort: &job.effort,
            schema: &schema,
            output: &output,
            root: &job.root,
            thread: thread.as_deref(),
            extra_args: &job.extra_args,
            isolation: &isolation,
        }
        .args();
        let argv = argv_json(&job.codex, &args);
        let new = NewReview {
            workspace_id: job.workspace_id,
            trigger: job.trigger,
            started_at: crate::clock::now_rfc3339(),
            model: job.model.clone(),
            effort: job.effort.clone(),
            model_reason: Some(job.model_reason.clone()),
            thread_id: thread.clone(),
            argv,
            files: job.stats.0,
            insertions: job.stats.1,
            deletions: job.stats.2,
            base_tree: job.trees.0.clone(),
            tree: job.trees.1.clone(),
        };
        // The row is queued now and its id awaited once codex is under way: codex starts
        // without waiting for the store (jobs run in order, so it is in before the result).
        let started = store.call(move |c| store::reviews::start(c, &new));
        // A failed turn leaves an old -o file untouched: never read a stale answer.
        let _ = std::fs::remove_file(&output);
        let outcome = runner::run(
            RunSpec {
                program: job.codex.clone(),
                args,
                cwd: job.root.clone(),
                prompt: job.prompt.clone(),
                timeout: job.timeout,
                pidfile: Some(pidfile(&job.dir)),
            },
            cancel,
            &mut on_activity,
        )
        .await;
        let review_id = started.await?;
        let unknown_thread = thread.is_some()
            && outcome.exit_code() == Some(1)
            && outcome.transcript.thread_id.is_none()
            && outcome.stderr_tail.contains("no rollout found");
        if unknown_thread && !replaced {
            let old = thread.take().unwrap_or_default();
            on_note(format!(
                "codex no longer knows thread {old}; replacing it with a new thread"
            ));
            let finish = Finish {
                exit_code: outcome.exit_code(),
                error_class: Some(ErrorClass::Crash),
                error_message: Some(format!(
                    "thread {old} is gone: {}",
                    outcome::last_lines(&outcome.stderr_tail, 5)
                )),
                duration_ms: outcome.duration.as_millis() as u64,
                ..Finish::new(crate::clock::now_rfc3339(), Verdict::Error)
            };
            store
                .call(move |c| store::reviews::finish(c, review_id, &finish))
                .await?;
            replaced = true;
            continue;
        }
        return outcome::settle(&job, store, review_id, thread, outcome, &output).await;
    }
}

fn argv_json(program: &Path, args: &[OsString]) -> String {
    let all: Vec<String> = std::iter::once(program.as_os_str())
        .chain(args.iter().map(OsString::as_os_str))
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    serde_json::to_string(&all).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_schema_is_written_once_and_again_when_it_went_missing() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("workspaces/1");
        let path = write_schema(&ws).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, answer::schema());
        // A second review leaves the file alone (its inode and mtime stay)...
        let before = std::fs::metadata(&path).unwrap();
        assert_eq!(write_schema(&ws).unwrap(), path);
        let after = std::fs::metadata(&path).unwrap();
        use std::os::unix::fs::MetadataExt as _;
        assert_eq!(
            (before.ino(), before.mtime_nsec()),
            (after.ino(), after.mtime_nsec())
        );
        // ...but writes it again when it is gone.
        std::fs::remove_file(&path).unwrap();
        write_schema(&ws).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
}
