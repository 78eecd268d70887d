//! `cxd review`: review now; with --wait, show progress, the verdict and the findings.

use std::fmt::Write as _;
use std::process::ExitCode;

use cxd_proto::domain::{ErrorClass, Verdict};
use cxd_proto::message::{ReviewDone, Revisions};
use cxd_proto::paths::Paths;
use cxd_proto::status::Finding;
use cxd_proto::{Request, Response};

use super::abs_path;
use super::progress::until_answer;
use crate::cli::ReviewArgs;
use crate::client::Client;
use crate::exit::{Failure, NO, REVIEW_FAILED, UNREACHABLE, USAGE};
use crate::sanitize::{line, lines};

pub fn run(paths: &Paths, args: &ReviewArgs) -> anyhow::Result<ExitCode> {
    let path = abs_path(args.path.as_deref())?;
    let request = match revisions(args)? {
        Some(revisions) => Request::ReviewRevisions {
            path,
            revisions,
            model: args.model.clone(),
            effort: args.effort.clone(),
            wait: args.wait,
        },
        None => Request::Review {
            path,
            all: args.all,
            model: args.model.clone(),
            effort: args.effort.clone(),
            wait: args.wait,
        },
    };
    match run_and_show(paths, &request, args.wait, args.json, "review")? {
        Ok(code) => Ok(code),
        Err(Response::Ok { message }) => no_result(None, &message, args.json),
        Err(other) => Err(Failure::new(
            UNREACHABLE,
            format!("unexpected reply to review: {other:?}"),
        )
        .into()),
    }
}

/// Send a request that starts a run (a review or a plan validation: `what`) and show its
/// answer: with `wait` the run's progress and result, else that it started. Any other answer
/// comes back for the caller to judge.
pub fn run_and_show(
    paths: &Paths,
    request: &Request,
    wait: bool,
    json: bool,
    what: &str,
) -> anyhow::Result<Result<ExitCode, Response>> {
    let mut client = Client::connect(paths)?;
    client.send(request)?;
    if wait {
        // A run may take as long as review.timeout_s: wait without a read timeout.
        client.set_timeout(None)?;
    }
    match until_answer(&mut client, json)? {
        Response::ReviewDone(done) => finish(&done, json).map(Ok),
        Response::ReviewStarted { root } => {
            let message = format!(
                "{what} started in {} — `cxd status` shows its progress",
                root.display()
            );
            no_result(Some(&root), &message, json).map(Ok)
        }
        other => Ok(Err(other)),
    }
}

/// The committed history `--commit`, `--range` or `--base` names (None: the working tree).
fn revisions(args: &ReviewArgs) -> Result<Option<Revisions>, Failure> {
    if let Some(rev) = &args.commit {
        return Ok(Some(Revisions::Commit(rev.clone())));
    }
    if let Some(branch) = &args.base {
        return Ok(Some(Revisions::Base {
            branch: branch.clone(),
            uncommitted: args.uncommitted,
        }));
    }
    let Some(range) = &args.range else {
        return Ok(None);
    };
    match range.split_once("..") {
        Some((from, to)) if !from.is_empty() && !to.is_empty() && !to.contains("..") => {
            Ok(Some(Revisions::Range {
                from: from.to_owned(),
                to: to.to_owned(),
            }))
        }
        _ => Err(Failure::new(
            USAGE,
            format!(
                "--range takes A..B, two revisions (`git diff A B`), not {:?}; for a branch against its base use --base BRANCH",
                line(range)
            ),
        )),
    }
}

/// Print an answer that carries no review result (one started without --wait, or nothing to
/// review): a line for people, and for scripts an object whose `review` is null, so `--json`
/// output always parses.
pub fn no_result(
    root: Option<&std::path::Path>,
    message: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if json {
        let value = serde_json::json!({"root": root, "review": null, "message": message});
        println!("{}", crate::sanitize::json(&value, true)?);
    } else {
        println!("{}", line(message));
    }
    Ok(ExitCode::SUCCESS)
}

/// Print a finished review (or plan validation) and pick the exit code: 0 approve, 1 changes
/// requested, 4 the review failed.
pub fn finish(done: &ReviewDone, json: bool) -> anyhow::Result<ExitCode> {
    let code = match done.review.verdict {
        Verdict::Approve => 0,
        Verdict::ChangesRequested => NO,
        Verdict::Error | Verdict::Interrupted | Verdict::Running => REVIEW_FAILED,
    };
    if json {
        println!("{}", crate::sanitize::json(done, true)?);
    } else {
        anstream::print!("{}", render(done));
    }
    Ok(ExitCode::from(code))
}

/// The human form of a finished review. Everything Codex or the repository wrote is made safe
/// for a terminal; multi-line text is indented so no line of it can pass for a finding line.
pub fn render(done: &ReviewDone) -> String {
    let r = &done.review;
    let mut out = String::new();
    let tokens = format!(
        "{} in ({} cached), {} out",
        r.tokens.input, r.tokens.cached_input, r.tokens.output
    );
    match r.verdict {
        Verdict::Approve | Verdict::ChangesRequested => {
            let _ = writeln!(
                out,
                "review {}: {} ({}, {}; {tokens})",
                r.id,
                r.verdict,
                line(&r.model),
                line(&r.effort)
            );
            if let Some(s) = &r.summary {
                let _ = writeln!(out, "    {}", lines(s, "    "));
            }
        }
        Verdict::Error | Verdict::Interrupted | Verdict::Running => {
            let class = r.error_class.map_or("error", ErrorClass::as_str);
            let _ = writeln!(out, "review {} failed ({class})", r.id);
            if let Some(e) = &r.error {
                let _ = writeln!(out, "    {}", lines(e, "    "));
            }
            if let Some(raw) = &r.raw_answer {
                let _ = writeln!(out, "codex answered:\n    {}", lines(raw, "    "));
            }
        }
    }
    if !done.resolved.is_empty() {
        let resolved: Vec<String> = done.resolved.iter().map(|id| line(id)).collect();
        let _ = writeln!(out, "resolved: {}", resolved.join(", "));
    }
    if !done.reopened.is_empty() {
        let reopened: Vec<String> = done.reopened.iter().map(|id| line(id)).collect();
        let _ = writeln!(
            out,
            "reopened (reported again after it was resolved): {}",
            reopened.join(", ")
        );
    }
    if !done.opened.is_empty() {
        let _ = writeln!(out, "\nnew findings:");
        for f in &done.opened {
            out.push_str(&finding_block(f));
        }
        more(&mut out, done.opened_total, done.opened.len());
    }
    let others: Vec<&Finding> = done
        .open
        .iter()
        .filter(|f| !done.opened.iter().any(|o| o.id == f.id))
        .collect();
    if !others.is_empty() {
        let _ = writeln!(out, "\nstill open:");
        for f in others {
            out.push_str(&finding_line(f));
        }
    }
    more(&mut out, done.open_total, done.open.len());
    out
}

/// The line that says an answer listed only the first `shown` of `total` findings.
pub fn more(out: &mut String, total: u64, shown: usize) {
    if total > shown as u64 {
        let _ = writeln!(
            out,
            "  ... and {} more (`cxd findings` lists them all)",
            total - shown as u64
        );
    }
}

/// One finding on one line: id, severity, location, title.
pub fn finding_line(f: &Finding) -> String {
    format!(
        "  {:<4} {:<8} {}  {}\n",
        line(&f.id),
        f.severity.as_str(),
        location(f),
        line(&f.title)
    )
}

/// `file:line` (or `file`, or `(whole change)`), safe for a terminal.
pub fn location(f: &Finding) -> String {
    let file = line(&f.file);
    match (f.file.is_empty(), f.line_start > 0) {
        (true, _) => "(whole change)".into(),
        (false, true) if f.line_end > f.line_start => {
            format!("{file}:{}-{}", f.line_start, f.line_end)
        }
        (false, true) => format!("{file}:{}", f.line_start),
        (false, false) => file,
    }
}

/// A finding with its body and recommendation; body lines are indented past any finding line.
pub fn finding_block(f: &Finding) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  {} {} [{}] {}  {}",
        line(&f.id),
        f.severity.as_str(),
        line(&f.category),
        location(f),
        line(&f.title)
    );
    if !f.body.is_empty() {
        let _ = writeln!(out, "      {}", lines(&f.body, "      "));
    }
    if !f.recommendation.is_empty() {
        let _ = writeln!(out, "      fix: {}", lines(&f.recommendation, "      "));
    }
    if let Some(d) = &f.dispute {
        let _ = writeln!(
            out,
            "      disputed by {}: {}",
            d.by,
            lines(&d.reason, "      ")
        );
        let _ = writeln!(out, "      {}", line(&ruling_text(d)));
    }
    out
}

/// Where a dispute stands, in one line: Codex's ruling and reply, or that it waits for one.
pub fn ruling_text(d: &cxd_proto::status::Dispute) -> String {
    let reply = d.reply.as_deref().unwrap_or_default();
    let review = d
        .review
        .map(|r| format!(" (review #{r})"))
        .unwrap_or_default();
    match d.ruling {
        None => "waiting for the next review's ruling".into(),
        Some(cxd_proto::domain::Ruling::Uphold) => {
            format!("Codex upheld it{review}: {reply}")
        }
        Some(cxd_proto::domain::Ruling::Withdraw) => {
            format!("Codex withdrew it{review}: {reply}")
        }
    }
}
