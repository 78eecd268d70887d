//! `cxd plan`: have Codex validate a plan before it is implemented.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use anyhow::Context as _;
use cxd_proto::paths::Paths;
use cxd_proto::{ErrorKind, Request, Response};

use super::abs_path;
use super::progress::Progress;
use super::review::render;
use crate::cli::PlanArgs;
use crate::client::Client;
use crate::exit::{Failure, NO, REVIEW_FAILED, UNREACHABLE, USAGE};

/// Plans larger than this are refused (a plan is prose, not a code dump).
const MAX_PLAN: u64 = 1024 * 1024;

pub fn run(paths: &Paths, args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let text = read_plan(args)?;
    let path = abs_path(args.path.as_deref())?;
    let mut client = Client::connect(&paths.socket)?;
    client.send(&Request::Plan {
        path,
        text,
        wait: args.wait,
    })?;
    if args.wait {
        client.set_timeout(None)?;
    }
    let mut progress = Progress::new(args.json);
    loop {
        match client.recv()? {
            Response::Progress {
                elapsed_ms,
                activity,
            } => progress.update(elapsed_ms, &activity),
            Response::ReviewDone(done) => {
                progress.finish();
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&done)?);
                } else {
                    anstream::print!("{}", render(&done));
                }
                return Ok(ExitCode::from(match done.review.verdict.as_str() {
                    "approve" => 0,
                    "changes_requested" => NO,
                    _ => REVIEW_FAILED,
                }));
            }
            Response::ReviewStarted { root } => {
                println!(
                    "plan validation started in {} — `cxd status` shows its progress",
                    root.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            Response::Error(e) => {
                progress.finish();
                let code = if e.kind == ErrorKind::Usage {
                    USAGE
                } else {
                    UNREACHABLE
                };
                return Err(Failure::new(code, e.message).into());
            }
            other => {
                return Err(Failure::new(
                    UNREACHABLE,
                    format!("unexpected reply to plan: {other:?}"),
                )
                .into());
            }
        }
    }
}

fn read_plan(args: &PlanArgs) -> anyhow::Result<String> {
    let from_stdin = match &args.file {
        None => {
            if std::io::stdin().is_terminal() {
                return Err(Failure::new(USAGE, "give a plan file, or pipe the plan in: `cxd plan PLAN.md` or `... | cxd plan -`").into());
            }
            true
        }
        Some(f) => f.as_os_str() == "-",
    };
    let mut text = String::new();
    if from_stdin {
        std::io::stdin()
            .take(MAX_PLAN + 1)
            .read_to_string(&mut text)
            .context("cannot read the plan from standard input")?;
    } else if let Some(file) = &args.file {
        std::fs::File::open(file)
            .and_then(|f| f.take(MAX_PLAN + 1).read_to_string(&mut text))
            .with_context(|| format!("cannot read the plan {}", file.display()))?;
    }
    if text.len() as u64 > MAX_PLAN {
        return Err(
            Failure::new(USAGE, format!("the plan is larger than {MAX_PLAN} bytes")).into(),
        );
    }
    if text.trim().is_empty() {
        return Err(Failure::new(USAGE, "the plan is empty").into());
    }
    Ok(text)
}
