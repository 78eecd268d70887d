//! `cxd events`: follow the daemon's live events until interrupted.

use std::io::Write;
use std::process::ExitCode;

use cxd_proto::paths::Paths;
use cxd_proto::{Request, Response};

use crate::cli::EventsArgs;
use crate::client::Client;
use crate::exit::{Failure, UNREACHABLE};
use crate::sanitize::line;

pub fn run(paths: &Paths, args: &EventsArgs) -> anyhow::Result<ExitCode> {
    if args.blocking_only {
        let dir = super::abs_path(args.path.as_deref())?;
        return super::new_findings::run(paths, &dir);
    }
    let mut client = Client::connect(paths)?;
    client.send(&Request::Subscribe)?;
    client.set_timeout(None)?;
    match client.recv()? {
        Response::Ok { .. } => {}
        other => {
            return Err(Failure::new(
                UNREACHABLE,
                format!("unexpected reply to subscribe: {other:?}"),
            )
            .into());
        }
    }
    let stdout = std::io::stdout();
    loop {
        let ev = match client.recv() {
            Ok(Response::Event(ev)) => ev,
            Ok(other) => {
                return Err(Failure::new(
                    UNREACHABLE,
                    format!("unexpected event frame: {other:?}"),
                )
                .into());
            }
            // The daemon stopped: the stream ends.
            Err(_) => return Ok(ExitCode::SUCCESS),
        };
        let mut out = stdout.lock();
        let line = if args.json {
            crate::sanitize::json_text(
                serde_json::json!({"at": ev.at, "kind": ev.kind, "workspace": ev.workspace, "message": ev.message}).to_string(),
            )
        } else {
            let ws = ev
                .workspace
                .as_ref()
                .map(|p| line(&p.display().to_string()))
                .unwrap_or_default();
            format!(
                "{}  {:<17} {ws}  {}",
                line(&ev.at),
                line(&ev.kind),
                line(&ev.message)
            )
        };
        // A closed pipe (`cxd events | head`) ends the stream quietly.
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return Ok(ExitCode::SUCCESS);
        }
        if ev.kind == "daemon_stopping" {
            return Ok(ExitCode::SUCCESS);
        }
    }
}
