//! `cxd plan`: have Codex validate a plan before it is implemented.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use anyhow::Context as _;
use cxd_proto::Request;
use cxd_proto::paths::Paths;

use super::abs_path;
use super::review::run_and_show;
use crate::cli::PlanArgs;
use crate::exit::{Failure, UNREACHABLE, USAGE};

/// Plans larger than this are refused (a plan is prose, not a code dump).
pub const MAX_PLAN: u64 = 1024 * 1024;

pub fn run(paths: &Paths, args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let text = read_plan(args)?;
    let path = abs_path(args.path.as_deref())?;
    let request = Request::Plan {
        path,
        text,
        wait: args.wait,
    };
    match run_and_show(paths, &request, args.wait, args.json, "plan validation")? {
        Ok(code) => Ok(code),
        Err(other) => {
            Err(Failure::new(UNREACHABLE, format!("unexpected reply to plan: {other:?}")).into())
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
    check_plan(&text)?;
    Ok(text)
}

/// A plan cxd sends to Codex: not empty, at most [`MAX_PLAN`] bytes.
pub fn check_plan(text: &str) -> Result<(), Failure> {
    if text.len() as u64 > MAX_PLAN {
        return Err(Failure::new(
            USAGE,
            format!("the plan is larger than {MAX_PLAN} bytes"),
        ));
    }
    if text.trim().is_empty() {
        return Err(Failure::new(USAGE, "the plan is empty"));
    }
    Ok(())
}
