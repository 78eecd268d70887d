//! `cxd findings`: a workspace's findings, grouped by severity.

use std::fmt::Write as _;
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
    anstream::print!("{}", render(&findings, args.all));
    Ok(ExitCode::SUCCESS)
}

/// The findings as people read them, grouped by severity (highest first); severity headings
/// carry ANSI colour, which `anstream` strips where colour is off.
pub fn render(findings: &[Finding], all: bool) -> String {
    if findings.is_empty() {
        return if all {
            "no findings\n"
        } else {
            "no open findings\n"
        }
        .to_owned();
    }
    let mut out = String::new();
    for &severity in Severity::ALL.iter().rev() {
        let group: Vec<_> = findings.iter().filter(|f| f.severity == severity).collect();
        if group.is_empty() {
            continue;
        }
        let heading = format!("{severity} ({})", group.len());
        let _ = writeln!(
            out,
            "{}",
            crate::style::paint(&heading, crate::style::severity(severity))
        );
        for f in group {
            out.push_str(&finding_block(f));
            if f.status != FindingStatus::Open {
                let _ = writeln!(out, "      status: {}", f.status);
            }
            if f.outdated {
                out.push_str(
                    "      outdated: the lines it pointed at were deleted; the next review is asked about it\n",
                );
            }
            if f.seen > 1 {
                let _ = writeln!(out, "      reported by {} reviews", f.seen);
            }
        }
    }
    out
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
