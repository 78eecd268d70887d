//! Carrying out one tool call: the arguments checked, the same request `cxd status`,
//! `cxd findings`, `cxd review --wait`, `cxd plan --wait` or `cxd dispute` sends, and the answer
//! as text for the model. Runs on a blocking thread (the client is synchronous).

use std::path::Path;

use cxd_proto::domain::{Author, FindingStatus, Severity, Verdict};
use cxd_proto::paths::Paths;
use cxd_proto::{Request, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::tools;
use crate::client::Client;
use crate::commands::progress::until_answer_with;
use crate::commands::{findings, plan, review, status};
use crate::exit::{Failure, UNREACHABLE, USAGE};

/// What a call ends with: text for the model, and whether it is a tool error.
pub struct Outcome {
    /// The answer, or the error with the way forward.
    pub text: String,
    /// A tool error (`isError`): the call did not do what was asked.
    pub is_error: bool,
}

impl Outcome {
    fn ok(text: String) -> Self {
        Self {
            text,
            is_error: false,
        }
    }

    fn error(text: String) -> Self {
        Self {
            text,
            is_error: true,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FindingsArgs {
    #[serde(default)]
    all: bool,
    severity: Option<Severity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewArgs {
    #[serde(default)]
    all: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanArgs {
    plan: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DisputeArgs {
    id: String,
    reason: String,
}

/// Arguments of `tool` parsed, or the tool error that says what was wrong with them.
fn parse<T: DeserializeOwned>(tool: &str, args: Map<String, Value>) -> Result<T, Outcome> {
    serde_json::from_value(Value::Object(args)).map_err(|e| {
        Outcome::error(format!(
            "bad arguments to the {tool} tool: {e}; see the tool's input schema"
        ))
    })
}

/// The environment variable Claude Code sets for the commands of a session.
const SESSION_ENV: &str = "CLAUDE_CODE_SESSION_ID";

/// Run tool `name` with `args` for the workspace holding `workspace`; `progress` hears what
/// codex is doing during the long calls (milliseconds into the wait, activity).
pub fn call(
    paths: &Paths,
    workspace: &Path,
    name: &str,
    args: Map<String, Value>,
    progress: &mut dyn FnMut(u64, &str),
) -> Outcome {
    let result = match name {
        tools::STATUS => parse::<NoArgs>(name, args).map(|_| run(|| status(paths, workspace))),
        tools::FINDINGS => parse::<FindingsArgs>(name, args)
            .map(|a| run(|| findings(paths, workspace, a.all, a.severity))),
        tools::REVIEW => parse::<ReviewArgs>(name, args).map(|a| {
            let request = Request::Review {
                path: workspace.to_path_buf(),
                all: a.all,
                model: None,
                effort: None,
                wait: true,
            };
            run(|| wait_for_review(paths, &request, progress))
        }),
        tools::PLAN => parse::<PlanArgs>(name, args).map(|a| {
            run(|| {
                plan::check_plan(&a.plan)?;
                let request = Request::Plan {
                    path: workspace.to_path_buf(),
                    text: a.plan,
                    wait: true,
                };
                wait_for_review(paths, &request, progress)
            })
        }),
        tools::DISPUTE => parse::<DisputeArgs>(name, args)
            .map(|a| run(|| dispute(paths, workspace, &a.id, &a.reason))),
        other => Err(Outcome::error(format!(
            "there is no tool {other:?}; cxd's tools are status, findings, review, plan and dispute (dismissing and approving are the user's: ask them)"
        ))),
    };
    let outcome = result.unwrap_or_else(|e| e);
    // Codex's and the repository's words: no escape sequence or bidi control reaches the
    // terminal Claude Code shows the result in.
    let plain = anstream::adapter::strip_str(&outcome.text).to_string();
    Outcome {
        text: crate::sanitize::lines(&plain, ""),
        is_error: outcome.is_error,
    }
}

/// A client-side result as an outcome: a failure becomes a tool error with the way forward.
fn run(f: impl FnOnce() -> Result<Outcome, Failure>) -> Outcome {
    f().unwrap_or_else(|e| Outcome::error(failure_text(&e)))
}

fn failure_text(e: &Failure) -> String {
    match e.code {
        UNREACHABLE => format!(
            "cxd: {} (the cxd plugin's SessionStart hook starts the daemon and watches the project; without it, run `cxd watch` in the project directory)",
            e.message
        ),
        _ => format!("cxd: {}", e.message),
    }
}

fn unexpected(what: &str, r: &Response) -> Failure {
    Failure::new(UNREACHABLE, format!("unexpected reply to {what}: {r:?}"))
}

fn status(paths: &Paths, workspace: &Path) -> Result<Outcome, Failure> {
    let mut client = Client::connect(paths)?;
    let request = Request::Status {
        path: Some(workspace.to_path_buf()),
    };
    match client.request(&request)? {
        Response::Status(report) if report.workspaces.is_empty() => Err(Failure::new(
            USAGE,
            format!(
                "{} is not in a watched workspace: run `cxd watch` there (the cxd plugin's SessionStart hook does it at the start of a session)",
                workspace.display()
            ),
        )),
        Response::Status(report) => Ok(Outcome::ok(status::render(&report))),
        other => Err(unexpected("status", &other)),
    }
}

fn findings(
    paths: &Paths,
    workspace: &Path,
    all: bool,
    severity: Option<Severity>,
) -> Result<Outcome, Failure> {
    let mut client = Client::connect(paths)?;
    let list = findings::fetch_all(&mut client, workspace, all, severity)?;
    let mut text = findings::render(&list, all);
    if list.iter().any(|f| f.status == FindingStatus::Open) {
        text.push_str(
            "\nAnswer each open finding: fix it, or dispute it with the dispute tool (its id and why it is not a problem).\n",
        );
    }
    Ok(Outcome::ok(text))
}

/// Send a review or plan request that waits, pass its progress on, and render the verdict.
fn wait_for_review(
    paths: &Paths,
    request: &Request,
    progress: &mut dyn FnMut(u64, &str),
) -> Result<Outcome, Failure> {
    let mut client = Client::connect(paths)?;
    client.send(request)?;
    // A review may take as long as review.timeout_s: wait without a read timeout.
    client.set_timeout(None)?;
    match until_answer_with(&mut client, |ms, activity| progress(ms, activity))? {
        Response::ReviewDone(done) => {
            let text = review::render(&done);
            Ok(match done.review.verdict {
                Verdict::Approve | Verdict::ChangesRequested => Outcome::ok(text),
                Verdict::Error | Verdict::Interrupted | Verdict::Running => {
                    Outcome::error(format!(
                        "{text}The review itself failed: nothing was decided. `cxd status` shows why; once the cause is fixed, call the tool again (the user may need to run `cxd unpause`)."
                    ))
                }
            })
        }
        Response::Ok { message } => Ok(Outcome::ok(message)),
        Response::ReviewStarted { root } => Ok(Outcome::ok(format!(
            "review started in {}; the status tool shows its progress",
            root.display()
        ))),
        other => Err(unexpected("review", &other)),
    }
}

/// Dispute finding `id` of the workspace holding `workspace` (another's id is no finding).
fn dispute(paths: &Paths, workspace: &Path, id: &str, reason: &str) -> Result<Outcome, Failure> {
    cxd_proto::limits::check_dispute_reason(reason).map_err(|m| Failure::new(USAGE, m))?;
    let session = std::env::var(SESSION_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty());
    let mut client = Client::connect(paths)?;
    let request = Request::Dispute {
        id: id.trim().to_owned(),
        reason: reason.to_owned(),
        by: Author::Agent,
        session,
        path: workspace.to_path_buf(),
    };
    match client.request(&request)? {
        Response::Disputed(f) => Ok(Outcome::ok(crate::commands::verdicts::disputed_text(
            &f,
            Author::Agent,
        ))),
        other => Err(unexpected("dispute", &other)),
    }
}
