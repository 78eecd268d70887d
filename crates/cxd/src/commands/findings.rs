//! `cxd findings`: a workspace's findings, grouped by severity.

use std::process::ExitCode;

use cxd_proto::domain::{FindingStatus, Severity};
use cxd_proto::paths::Paths;
use cxd_proto::status::Finding;
use cxd_proto::{Request, Response};

use super::abs_path;
use super::review::finding_block;
use crate::cli::FindingsArgs;
use crate::client::Client;
use crate::exit::{Failure, UNREACHABLE};

pub fn run(paths: &Paths, args: &FindingsArgs) -> anyhow::Result<ExitCode> {
    let path = abs_path(args.path.as_deref())?;
    let mut client = Client::connect(paths)?;
    let findings = fetch_all(&mut client, &path, args.all, args.severity)?;
    if args.json {
        println!("{}", crate::sanitize::json(&findings, true)?);
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
    for &severity in Severity::ALL.iter().rev() {
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
            if f.status != FindingStatus::Open {
                println!("      status: {}", f.status);
            }
            if f.outdated {
                println!(
                    "      outdated: the lines it pointed at were deleted; the next review is asked about it"
                );
            }
            if f.seen > 1 {
                println!("      reported by {} reviews", f.seen);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every finding of the workspace holding `path`, asking page after page: a whole list may
/// be larger than one answer can be.
pub fn fetch_all(
    client: &mut Client,
    path: &std::path::Path,
    all: bool,
    severity: Option<Severity>,
) -> Result<Vec<Finding>, Failure> {
    let mut findings = Vec::new();
    let mut after = None;
    loop {
        let request = Request::Findings {
            path: path.to_path_buf(),
            all,
            severity,
            after,
        };
        let page = match client.request(&request)? {
            Response::Findings(page) => page,
            other => {
                return Err(Failure::new(
                    UNREACHABLE,
                    format!("unexpected reply to findings: {other:?}"),
                ));
            }
        };
        findings.extend(page.findings);
        match page.next {
            // Each page must move on, or a confused daemon would keep us here.
            Some(next) if after.is_none_or(|a| next > a) => after = Some(next),
            Some(_) => {
                return Err(Failure::new(
                    UNREACHABLE,
                    "the daemon sent the same page of findings twice; restart it (`cxd stop`, then `cxd daemon`)",
                ));
            }
            None => return Ok(findings),
        }
    }
}
