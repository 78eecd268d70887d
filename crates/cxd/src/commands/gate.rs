//! `cxd gate`: exit 0 iff reviewed up to date with nothing open at or above the threshold.

use std::fmt::Write as _;
use std::process::ExitCode;

use cxd_proto::domain::Trigger;
use cxd_proto::message::GateReport;
use cxd_proto::paths::Paths;
use cxd_proto::{Request, Response};

use super::abs_path;
use super::progress::until_answer;
use super::review::finding_line;
use crate::cli::GateArgs;
use crate::client::Client;
use crate::exit::{Failure, NO, UNREACHABLE};

pub fn run(paths: &Paths, args: &GateArgs) -> anyhow::Result<ExitCode> {
    let path = abs_path(args.path.as_deref())?;
    let mut client = Client::connect(paths)?;
    client.send(&Request::Gate {
        path,
        block_on: args.block_on,
        wait_s: args.wait,
        trigger: Trigger::Manual,
        scope: args.scope,
        session: None,
    })?;
    if args.wait.is_some() {
        client.set_timeout(None)?;
    }
    let report = match until_answer(&mut client, args.json)? {
        Response::Gate(report) => report,
        other => {
            return Err(
                Failure::new(UNREACHABLE, format!("unexpected reply to gate: {other:?}")).into(),
            );
        }
    };
    if args.json {
        println!("{}", crate::sanitize::json(&report, true)?);
    } else {
        anstream::print!("{}", render(&report));
    }
    Ok(if report.pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(NO)
    })
}

/// The gate report as printed for people; `--json` prints the wire struct instead.
pub fn render(r: &GateReport) -> String {
    let mut out = String::new();
    let word = if r.pass { "pass" } else { "fail" };
    let _ = writeln!(
        out,
        "gate {}: {}",
        crate::style::paint(word, crate::style::state(word)),
        crate::sanitize::lines(&r.reason, "    ")
    );
    for f in &r.blocking {
        out.push_str(&finding_line(f));
    }
    super::review::more(&mut out, r.blocking_total, r.blocking.len());
    if r.outside_change > 0 {
        let _ = writeln!(
            out,
            "not blocking: not in the change ({}):",
            r.outside_change
        );
        for f in &r.outside {
            out.push_str(&finding_line(f));
        }
        super::review::more(&mut out, r.outside_change, r.outside.len());
    }
    out
}
