//! Reviews: one row per codex run, from `running` to its verdict, with what it cost.

use cxd_proto::domain::{ErrorClass, Trigger, Verdict};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// A review as it starts.
#[derive(Debug, Clone)]
pub struct NewReview {
    /// The `workspaces` row id of the workspace reviewed.
    pub workspace_id: i64,
    /// edit | manual | agent | plan | stop
    pub trigger: Trigger,
    /// When codex was started, RFC 3339 in UTC.
    pub started_at: String,
    /// Model passed to codex (`--model`), e.g. `gpt-5.2-codex`.
    pub model: String,
    /// Reasoning effort passed to codex, e.g. `medium`.
    pub effort: String,
    /// Why this model and effort, e.g. "edit review, small: gpt-5.1-codex-mini low".
    pub model_reason: Option<String>,
    /// The thread resumed, if any.
    pub thread_id: Option<String>,
    /// The full command line, as JSON.
    pub argv: String,
    /// How many files the change touches (0 for a plan validation).
    pub files: u64,
    /// Lines the change adds, as git's diff counts them.
    pub insertions: u64,
    /// Lines the change removes, as git's diff counts them.
    pub deletions: u64,
    /// The tree the change is measured from.
    pub base_tree: Option<String>,
    /// The git tree id of the work tree as reviewed (None for a plan validation).
    pub tree: Option<String>,
}

/// How a review ended.
#[derive(Debug, Clone)]
pub struct Finish {
    /// When it ended, RFC 3339 in UTC.
    pub finished_at: String,
    /// approve | changes_requested | error | interrupted
    pub verdict: Verdict,
    /// codex's exit code, if it exited.
    pub exit_code: Option<i32>,
    /// quota | auth | network | schema | timeout | crash | not_found | interrupted
    pub error_class: Option<ErrorClass>,
    /// The error and the stderr tail.
    pub error_message: Option<String>,
    /// Codex's one-paragraph summary of the change (None when no valid answer came).
    pub summary: Option<String>,
    /// The final message verbatim when it did not match the schema.
    pub raw_answer: Option<String>,
    /// The thread it ran in.
    pub thread_id: Option<String>,
    /// Tokens this review cost: input, cached input, output.
    pub tokens: (u64, u64, u64),
    /// How long it took, in milliseconds of wall time.
    pub duration_ms: u64,
}

impl Finish {
    /// An ending with this verdict and nothing else known yet.
    pub fn new(finished_at: String, verdict: Verdict) -> Self {
        Self {
            finished_at,
            verdict,
            exit_code: None,
            error_class: None,
            error_message: None,
            summary: None,
            raw_answer: None,
            thread_id: None,
            tokens: (0, 0, 0),
            duration_ms: 0,
        }
    }
}

/// A stored review, as status and the log show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewRow {
    /// Row id, increasing; the hooks and reports name the review by it (`review #7`).
    pub id: i64,
    /// What started it (an edit burst, `cxd review`, the agent, a plan, the stop hook).
    pub trigger: Trigger,
    /// When codex was started, RFC 3339 in UTC.
    pub started_at: String,
    /// When it ended, RFC 3339 in UTC (None while it runs).
    pub finished_at: Option<String>,
    /// The model codex ran with.
    pub model: String,
    /// The reasoning effort codex ran with.
    pub effort: String,
    /// Why this model and effort (None for reviews recorded before cxd said).
    pub model_reason: Option<String>,
    /// The codex thread it ran in (None when codex never reported one).
    pub thread_id: Option<String>,
    /// running | approve | changes_requested | error | interrupted
    pub verdict: Verdict,
    /// Why it failed, as a class the hooks give advice for (None unless `error`).
    pub error_class: Option<ErrorClass>,
    /// The failure in words, with codex's stderr tail (None unless it failed).
    pub error_message: Option<String>,
    /// codex's exit code.
    pub exit_code: Option<i32>,
    /// Codex's one-paragraph summary of the change (None when no valid answer came).
    pub summary: Option<String>,
    /// The final message, when it did not parse.
    pub raw_answer: Option<String>,
    /// input, cached input, output tokens.
    pub tokens: (u64, u64, u64),
    /// The git tree id of the work tree as reviewed (None for a plan validation).
    pub tree: Option<String>,
    /// How long it took, in milliseconds of wall time (None while it runs).
    pub duration_ms: Option<u64>,
}

/// Insert a `running` review; returns its id.
pub fn start(conn: &Connection, r: &NewReview) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO reviews (workspace_id, trigger, started_at, model, effort, thread_id, argv, verdict,
                              files, insertions, deletions, base_tree, tree, model_reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?13, ?8, ?9, ?10, ?11, ?12, ?14)",
        params![
            r.workspace_id, r.trigger, r.started_at, r.model, r.effort, r.thread_id, r.argv,
            r.files as i64, r.insertions as i64, r.deletions as i64, r.base_tree, r.tree,
            Verdict::Running, r.model_reason
        ],
    )
    .map_err(StoreError::query("start review"))?;
    Ok(conn.last_insert_rowid())
}

/// Record how a review ended.
pub fn finish(conn: &Connection, id: i64, f: &Finish) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE reviews SET finished_at = ?2, verdict = ?3, exit_code = ?4, error_class = ?5,
            error_message = ?6, summary = ?7, raw_answer = ?8, thread_id = COALESCE(?9, thread_id),
            tokens_input = ?10, tokens_cached = ?11, tokens_output = ?12, duration_ms = ?13
         WHERE id = ?1",
        params![
            id,
            f.finished_at,
            f.verdict,
            f.exit_code,
            f.error_class,
            f.error_message,
            f.summary,
            f.raw_answer,
            f.thread_id,
            f.tokens.0 as i64,
            f.tokens.1 as i64,
            f.tokens.2 as i64,
            f.duration_ms as i64
        ],
    )
    .map_err(StoreError::query("finish review"))?;
    Ok(())
}

/// Reviews left `running` by a daemon that died: mark them interrupted. Returns how many.
pub fn interrupt_running(conn: &Connection, at: &str) -> Result<usize, StoreError> {
    conn.execute(
        "UPDATE reviews SET verdict = ?2, error_class = ?3, finished_at = ?1,
            error_message = 'the daemon stopped while this review ran'
         WHERE verdict = ?4",
        params![
            at,
            Verdict::Interrupted,
            ErrorClass::Interrupted,
            Verdict::Running
        ],
    )
    .map_err(StoreError::query("interrupt running reviews"))
}

const COLUMNS: &str = "id, trigger, started_at, finished_at, model, effort, thread_id, verdict, error_class,
    error_message, exit_code, summary, raw_answer, tokens_input, tokens_cached, tokens_output, tree, duration_ms, model_reason";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReviewRow> {
    Ok(ReviewRow {
        id: r.get(0)?,
        trigger: r.get(1)?,
        started_at: r.get(2)?,
        finished_at: r.get(3)?,
        model: r.get(4)?,
        effort: r.get(5)?,
        thread_id: r.get(6)?,
        verdict: r.get(7)?,
        error_class: r.get(8)?,
        error_message: r.get(9)?,
        exit_code: r.get(10)?,
        summary: r.get(11)?,
        raw_answer: r.get(12)?,
        tokens: (
            r.get::<_, i64>(13)? as u64,
            r.get::<_, i64>(14)? as u64,
            r.get::<_, i64>(15)? as u64,
        ),
        tree: r.get(16)?,
        duration_ms: r.get::<_, Option<i64>>(17)?.map(|d| d as u64),
        model_reason: r.get(18)?,
    })
}

/// The newest finished review of a workspace.
pub fn last(conn: &Connection, workspace_id: i64) -> Result<Option<ReviewRow>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM reviews WHERE workspace_id = ?1 AND verdict != ?2 ORDER BY id DESC LIMIT 1"),
        params![workspace_id, Verdict::Running],
        from_row,
    )
    .optional()
    .map_err(StoreError::query("read last review"))
}

/// Input tokens of the newest answered review on `thread`: what resuming it sends again
/// (None: no answered review on it).
pub fn thread_input(
    conn: &Connection,
    workspace_id: i64,
    thread: &str,
) -> Result<Option<u64>, StoreError> {
    conn.query_row(
        "SELECT tokens_input FROM reviews WHERE workspace_id = ?1 AND thread_id = ?2
           AND verdict IN (?3, ?4) ORDER BY id DESC LIMIT 1",
        params![
            workspace_id,
            thread,
            Verdict::Approve,
            Verdict::ChangesRequested
        ],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map(|v| v.map(|n| n.max(0) as u64))
    .map_err(StoreError::query("read the thread's size"))
}

/// One review by id.
pub fn get(conn: &Connection, id: i64) -> Result<Option<ReviewRow>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM reviews WHERE id = ?1"),
        params![id],
        from_row,
    )
    .optional()
    .map_err(StoreError::query("read review"))
}

/// Finished reviews of a workspace and the tokens they cost in total.
pub fn totals(conn: &Connection, workspace_id: i64) -> Result<(u64, (u64, u64, u64)), StoreError> {
    conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(tokens_input), 0), COALESCE(SUM(tokens_cached), 0), COALESCE(SUM(tokens_output), 0)
         FROM reviews WHERE workspace_id = ?1 AND verdict != ?2",
        params![workspace_id, Verdict::Running],
        |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                (r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64, r.get::<_, i64>(3)? as u64),
            ))
        },
    )
    .map_err(StoreError::query("sum reviews"))
}

/// How many reviews of a workspace had this trigger.
pub fn count_trigger(
    conn: &Connection,
    workspace_id: i64,
    trigger: Trigger,
) -> Result<u64, StoreError> {
    conn.query_row(
        "SELECT COUNT(*) FROM reviews WHERE workspace_id = ?1 AND trigger = ?2",
        params![workspace_id, trigger],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
    .map_err(StoreError::query("count reviews"))
}
