//! `cxd findings`: a workspace's findings, grouped by severity.

use std::process::ExitCode;

use cxd_proto::paths::Paths;
use cxd_proto::{Request, Response};

use super::abs_path;
use super::review::finding_block;
use crate::cli::FindingsArgs;
use crate::client::Client;
use crate::exit::{Failure, UNREACHABLE};

pub fn run(paths: &Paths, args: &FindingsArgs) -> anyhow::Result<ExitCode> {
    let path = abs_path(args.path.as_deref())?;
    let mut client = Client::connect(paths)?;
    let request = Request::Findings {
        path,
        all: args.all,
        severity: args.severity.clone(),
    };
    let findings = match client.request(&request)? {
        Response::Findings(f) => f,
        other => {
            return Err(Failure::new(
                UNREACHABLE,
                format!("unexpected reply to findings: {other:?}"),
            )
            .into());
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
        return Ok(ExitCode::SUCCESS);
    }
    if findings.is_empty() {
        println!(
            "{}",
            if args.all {
                "no findings"
            } else {
                "no open findings"
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    for severity in ["critical", "high", "medium", "low", "info"] {
        let group: Vec<_> = findings.iter().filter(|f| f.severity == severity).collect();
        if group.is_empty() {
            continue;
        }
        let heading = format!("{severity} ({})", group.len());
        anstream::println!(
            "{}",
            crate::style::paint(&heading, crate::style::severity(severity))
        );
        for f in group {
            anstream::print!("{}", finding_block(f));
            if f.status != "open" {
                println!("      status: {}", f.status);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
