//! From a finished codex run to its stored result: the failure class or the answer, the
//! findings made safe and fingerprinted, and the one transaction that records them with the
//! review's `review_finished` audit entry.

use std::path::{Path, PathBuf};

use cxd_proto::domain::Verdict;
use cxd_proto::limits::{self, truncate};

use crate::codex::answer::Answer;
use crate::codex::classify::{ErrorClass, classify};
use crate::codex::jsonl::Usage;
use crate::codex::runner::{Ending, RunOutcome};
use crate::finding::{Finding, fingerprint};
use crate::snapshot::TreeReader;
use crate::store::events::NewEvent;
use crate::store::findings::{Reported, RulingInput, public_id};
use crate::store::record::{Recorded, ReviewResult};
use crate::store::reviews::Finish;
use crate::store::{self, Store};

use super::job::{Job, JobError, JobResult};

/// Turn a codex run into a stored result.
pub(super) async fn settle(
    job: &Job,
    store: &Store,
    review_id: i64,
    resumed: Option<String>,
    outcome: RunOutcome,
    output: &Path,
) -> Result<JobResult, JobError> {
    let t = &outcome.transcript;
    let thread_id = t.thread_id.clone().or(resumed.clone());
    let exit_code = outcome.exit_code();
    // The answer: the -o file if codex wrote one, else the last agent_message.
    let final_text = std::fs::read_to_string(output)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| t.last_message.clone());
    let stderr = last_lines(&outcome.stderr_tail, 20);

    let failure: Option<(ErrorClass, String)> = match &outcome.ending {
        Ending::SpawnFailed {
            not_found: true,
            message,
        } => Some((ErrorClass::NotFound, message.clone())),
        Ending::SpawnFailed { message, .. } => Some((ErrorClass::Crash, message.clone())),
        Ending::TimedOut => Some((
            ErrorClass::Timeout,
            format!(
                "codex ran longer than {}s and was killed",
                job.timeout.as_secs()
            ),
        )),
        Ending::Cancelled => Some((
            ErrorClass::Interrupted,
            "the daemon stopped during the review".into(),
        )),
        Ending::Signalled(sig) => Some((
            ErrorClass::Crash,
            format!("codex was killed by signal {sig}"),
        )),
        Ending::Exited(code) if *code != 0 || t.turn_failed.is_some() => {
            let class = classify(&t.errors, &outcome.stderr_tail);
            let msg = t
                .turn_failed
                .clone()
                .or_else(|| t.errors.last().cloned())
                .unwrap_or_else(|| stderr.clone());
            Some((class, format!("codex exited {code}: {msg}")))
        }
        Ending::Exited(_) if !t.turn_completed => Some((
            ErrorClass::Crash,
            "codex exited 0 without completing its turn".into(),
        )),
        Ending::Exited(_) if final_text.is_none() => Some((
            ErrorClass::Schema,
            "codex gave no final answer (empty message)".into(),
        )),
        Ending::Exited(_) => None,
    };

    // Cost: usage is cumulative per thread; a review costs the difference.
    let ws = job.workspace_id;
    let before = if resumed.is_some() && resumed == thread_id {
        let (i, c, o) = store.call(move |c| store::workspaces::usage(c, ws)).await?;
        Usage {
            input: i,
            cached_input: c,
            output: o,
        }
    } else {
        Usage::default()
    };
    let tokens = t.usage.map(|u| u.since(before)).unwrap_or_default();
    let thread_usage = thread_id.clone().map(|th| {
        let now = t.usage.unwrap_or(before);
        (th, (now.input, now.cached_input, now.output))
    });

    // The verdict is set below, once the answer is read.
    let mut finish = Finish {
        exit_code,
        thread_id: thread_id.clone(),
        tokens: (tokens.input, tokens.cached_input, tokens.output),
        duration_ms: outcome.duration.as_millis() as u64,
        ..Finish::new(crate::clock::now_rfc3339(), Verdict::Error)
    };
    let parsed = match (&failure, &final_text) {
        (None, Some(text)) => Some(Answer::parse(text).map_err(|e| (text.clone(), e))),
        _ => None,
    };
    let (verdict, error, answer) = match (failure, parsed) {
        (Some((class, msg)), _) => {
            let verdict = if class == ErrorClass::Interrupted {
                Verdict::Interrupted
            } else {
                Verdict::Error
            };
            (verdict, Some((class, msg)), None)
        }
        (None, Some(Ok(a))) => (a.verdict.into(), None, Some(a)),
        (None, Some(Err((raw, e)))) => {
            finish.raw_answer = Some(truncate(&raw, limits::MAX_RAW_ANSWER).into_owned());
            (
                Verdict::Error,
                Some((ErrorClass::Schema, e.to_string())),
                None,
            )
        }
        (None, None) => (
            Verdict::Error,
            Some((ErrorClass::Schema, "no answer".into())),
            None,
        ),
    };
    // Codex's own failure text can be megabytes: it is stored, shown in status and logged.
    let error = error.map(|(class, msg)| (class, truncate(&msg, limits::MAX_ERROR).into_owned()));
    finish.verdict = verdict;
    if let Some((class, msg)) = &error {
        finish.error_class = Some(*class);
        finish.error_message = Some(if stderr.is_empty() {
            msg.clone()
        } else {
            format!("{msg}\n--- stderr ---\n{stderr}")
        });
    }
    finish.summary = answer
        .as_ref()
        .map(|a| truncate(&a.summary, limits::MAX_SUMMARY).into_owned());

    // Lines follow only a diff Codex answered for: a failed review leaves the baseline where
    // it was, and the next review's diff starts there again.
    let hunks = answer.as_ref().and(job.hunks.clone());
    let change = answer.as_ref().and(job.change.clone());
    let covers = if answer.is_some() {
        job.covers.clone()
    } else {
        Vec::new()
    };
    let (findings, fixed, still_open, rulings) = answer.map_or_else(Default::default, |a| {
        let list: Vec<Finding> = a.findings.iter().map(|f| recorded(f, &job.root)).collect();
        let rulings = a
            .rulings
            .into_iter()
            .map(|r| RulingInput {
                id: r.id,
                ruling: r.ruling,
                reply: r.reply,
            })
            .collect();
        (list, a.fixed_finding_ids, a.still_open_ids, rulings)
    });
    let reported = placed(findings, job.reader.clone(), job.trees.1.clone()).await;
    let result = ReviewResult {
        workspace_id: ws,
        review_id,
        finish,
        thread_usage,
        reported,
        fixed,
        rulings,
        still_open,
        hunks,
        change,
        covers,
    };
    let audit = Audit {
        at: result.finish.finished_at.clone(),
        root: job.root.clone(),
        review_id,
        verdict,
        error_class: error.as_ref().map(|(c, _)| *c),
        exit_code,
        model: job.model.clone(),
        effort: job.effort.clone(),
        duration_ms: job.queued.elapsed().as_millis() as u64,
        tokens,
        thread_id: thread_id.clone(),
    };
    let recorded = store
        .call(move |c| store::record::review_result(c, &result, |r| audit.event(r)))
        .await?;
    for ignored in &recorded.rulings.ignored {
        // A model's answer is input: a ruling on nothing disputed changes nothing.
        tracing::warn!(
            root = %job.root.display(),
            review = review_id,
            id = %ignored.id,
            "ignored Codex's ruling: {}",
            ignored.why
        );
    }
    Ok(JobResult {
        review_id,
        verdict,
        error,
        thread_id,
        withdrawn: recorded.rulings.withdrawn,
        upheld: recorded.rulings.upheld,
        opened: recorded.opened,
        resolved: recorded.resolved,
        reopened: recorded.reopened,
        carried: recorded.carried,
        dismissed_seen: recorded.dismissed_seen,
        outdated: recorded.outdated,
        tokens,
        exit_code,
    })
}

/// Most findings of one answer whose lines are read for a fingerprint (each costs a git call);
/// the rest are matched by title and place only.
const MAX_FINGERPRINTED: usize = 50;

/// The findings with the fingerprints of the lines they point at, read from the reviewed
/// `tree` (none without a reader or a tree: a plan, or a file that is not in the tree).
async fn placed(
    findings: Vec<Finding>,
    reader: Option<TreeReader>,
    tree: Option<String>,
) -> Vec<Reported> {
    let (Some(reader), Some(tree)) = (reader, tree) else {
        return findings
            .into_iter()
            .map(|finding| Reported {
                finding,
                fingerprint: None,
            })
            .collect();
    };
    let places: Vec<(String, String, i64, i64)> = findings
        .iter()
        .take(MAX_FINGERPRINTED)
        .map(|f| (f.file.clone(), f.category.clone(), f.line_start, f.line_end))
        .collect();
    let task = tokio::task::spawn_blocking(move || {
        places
            .into_iter()
            .map(|(file, category, start, end)| {
                let lines = (start > 0).then(|| {
                    let n = |l: i64| u64::try_from(l).unwrap_or(0);
                    reader.lines(&tree, &file, n(start), n(end))
                });
                fingerprint(&file, &category, lines.flatten().as_deref())
            })
            .collect::<Vec<_>>()
    });
    // Without fingerprints findings still match by title and place: never lose one.
    let mut prints = task.await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "reading the lines of findings failed");
        Vec::new()
    });
    prints.resize(findings.len(), None);
    findings
        .into_iter()
        .zip(prints)
        .map(|(finding, fingerprint)| Reported {
            finding,
            fingerprint,
        })
        .collect()
}

/// A finding of Codex's answer as it is stored: texts capped (so that answers stay under the
/// frame limit and prompts small), the file made relative to the root or dropped when it
/// points outside the repository, lines within `1..=MAX_LINE` or none.
fn recorded(f: &Finding, root: &Path) -> Finding {
    let mut body = truncate(&f.body, limits::MAX_BODY).into_owned();
    let file = match limits::normalize_file(&f.file, Some(root)) {
        Some(file) => file,
        None => {
            // Keep what Codex said, as text, where it can mislead no tool.
            let shown = truncate(&f.file, 200);
            let note = format!("\n\n(Codex located this at {shown:?}, outside the repository.)");
            body = truncate(&format!("{body}{note}"), limits::MAX_BODY + note.len()).into_owned();
            String::new()
        }
    };
    let (line_start, line_end) = if file.is_empty() {
        (0, 0)
    } else {
        limits::normalize_lines(f.line_start, f.line_end)
    };
    Finding {
        severity: f.severity,
        category: f.category.clone(),
        file,
        line_start,
        line_end,
        title: truncate(&f.title, limits::MAX_TITLE).into_owned(),
        body,
        recommendation: truncate(&f.recommendation, limits::MAX_RECOMMENDATION).into_owned(),
        confidence: f.confidence,
    }
}

/// What the `review_finished` audit entry says (the log shows it and tests pin its shape).
#[derive(Debug, Clone)]
struct Audit {
    at: String,
    root: PathBuf,
    review_id: i64,
    verdict: Verdict,
    error_class: Option<ErrorClass>,
    exit_code: Option<i32>,
    model: String,
    effort: String,
    duration_ms: u64,
    tokens: Usage,
    thread_id: Option<String>,
}

impl Audit {
    /// The entry, once the store knows which findings were opened and resolved.
    fn event(self, r: &Recorded) -> NewEvent {
        let ids = |ids: &[i64]| ids.iter().map(|&i| public_id(i)).collect::<Vec<_>>();
        NewEvent {
            at: self.at,
            workspace: Some(self.root),
            kind: "review_finished".into(),
            data: serde_json::json!({
                "review": self.review_id,
                "verdict": self.verdict,
                "error_class": self.error_class.map(ErrorClass::as_str),
                "exit_code": self.exit_code,
                "model": self.model,
                "effort": self.effort,
                "duration_ms": self.duration_ms,
                "tokens": {"input": self.tokens.input, "cached_input": self.tokens.cached_input, "output": self.tokens.output},
                "opened": ids(&r.opened),
                "resolved": ids(&r.resolved),
                "withdrawn": ids(&r.rulings.withdrawn),
                "upheld": ids(&r.rulings.upheld),
                "reopened": ids(&r.reopened),
                "carried": ids(&r.carried),
                "dismissed_seen": ids(&r.dismissed_seen),
                "outdated": ids(&r.outdated),
                "ignored_still_open_ids": r.ignored.iter().take(20).map(|s| truncate(s, 64)).collect::<Vec<_>>(),
                "thread_id": self.thread_id,
            }),
        }
    }
}

/// The last `n` non-empty lines of `text`.
pub(super) fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::finding;

    #[test]
    fn recorded_findings_are_capped_and_stay_inside_the_repository() {
        let root = Path::new("/work/repo");
        let huge = "é".repeat(50_000);
        let f = recorded(
            &finding(&huge)
                .file("src/a.rs")
                .lines(3, 9)
                .body(&huge)
                .recommendation(&huge),
            root,
        );
        assert!(f.title.len() <= limits::MAX_TITLE && f.title.ends_with(limits::TRUNCATED));
        assert!(f.body.len() <= limits::MAX_BODY && f.body.ends_with(limits::TRUNCATED));
        assert!(f.recommendation.len() <= limits::MAX_RECOMMENDATION);
        assert_eq!(
            (f.file.as_str(), f.line_start, f.line_end),
            ("src/a.rs", 3, 9)
        );

        let f = recorded(
            &finding("t")
                .file("../../etc/passwd")
                .lines(1, 2)
                .body("t")
                .recommendation("t"),
            root,
        );
        assert_eq!((f.file.as_str(), f.line_start, f.line_end), ("", 0, 0));
        assert!(f.body.contains("../../etc/passwd"), "{}", f.body);
        let f = recorded(
            &finding("t")
                .file("/etc/passwd")
                .lines(1, 2)
                .body("t")
                .recommendation("t"),
            root,
        );
        assert_eq!(f.file, "");
        let f = recorded(
            &finding("t")
                .file("/work/repo/src/b.rs")
                .lines(i64::MAX, i64::MAX)
                .body("t")
                .recommendation("t"),
            root,
        );
        assert_eq!(
            (f.file.as_str(), f.line_start, f.line_end),
            ("src/b.rs", 0, 0)
        );
        let f = recorded(
            &finding("t")
                .file("src/c.rs")
                .lines(7, i64::MAX)
                .body("t")
                .recommendation("t"),
            root,
        );
        assert_eq!((f.line_start, f.line_end), (7, 7));
        let f = recorded(
            &finding("t")
                .file("")
                .lines(5, 6)
                .body("t")
                .recommendation("t"),
            root,
        );
        assert_eq!((f.line_start, f.line_end), (0, 0));
    }
}
