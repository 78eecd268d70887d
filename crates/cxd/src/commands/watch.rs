//! `cxd watch`, `cxd unwatch`, `cxd list`.

use std::process::ExitCode;

use cxd_proto::paths::Paths;
use cxd_proto::{Request, Response};

use super::abs_path;
use super::spawn::connect_or_spawn;
use crate::cli::{ListArgs, PathArg, WatchArgs};
use crate::client::Client;
use crate::exit::{Failure, UNREACHABLE};

fn unexpected(what: &str, r: &Response) -> Failure {
    Failure::new(UNREACHABLE, format!("unexpected reply to {what}: {r:?}"))
}

pub fn watch(paths: &Paths, args: &WatchArgs) -> anyhow::Result<ExitCode> {
    let path = abs_path(args.path.as_deref())?;
    let mut client = connect_or_spawn(paths, !args.no_spawn)?;
    match client.request(&Request::Watch { path })? {
        Response::Watching {
            root,
            os_watches,
            already,
        } => {
            if already {
                println!(
                    "already watching {}",
                    crate::sanitize::line(&root.display().to_string())
                );
            } else {
                println!(
                    "watching {} ({os_watches} OS watches)",
                    crate::sanitize::line(&root.display().to_string())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        other => Err(unexpected("watch", &other).into()),
    }
}

pub fn unwatch(paths: &Paths, args: &PathArg) -> anyhow::Result<ExitCode> {
    let path = abs_path(args.path.as_deref())?;
    let mut client = Client::connect(paths)?;
    match client.request(&Request::Unwatch { path })? {
        Response::Ok { message } => {
            println!("{}", crate::sanitize::line(&message));
            Ok(ExitCode::SUCCESS)
        }
        other => Err(unexpected("unwatch", &other).into()),
    }
}

pub fn list(paths: &Paths, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let mut client = Client::connect(paths)?;
    let report = match client.request(&Request::Status { path: None })? {
        Response::Status(r) => r,
        other => return Err(unexpected("list", &other).into()),
    };
    if args.json {
        let rows: Vec<_> = report
            .workspaces
            .iter()
            .map(|w| {
                serde_json::json!({
                    "root": w.root,
                    "state": w.state,
                    "pending_files": w.pending_files,
                    "os_watches": w.os_watches,
                })
            })
            .collect();
        println!("{}", crate::sanitize::json(&rows, true)?);
    } else if report.workspaces.is_empty() {
        println!("no workspaces watched — run `cxd watch` inside a git repository");
    } else {
        for w in &report.workspaces {
            println!(
                "{:<10} {}",
                w.state,
                crate::sanitize::line(&w.root.display().to_string())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn pause(paths: &Paths, args: &PathArg, pause: bool) -> anyhow::Result<ExitCode> {
    let path = abs_path(args.path.as_deref())?;
    let mut client = Client::connect(paths)?;
    let request = if pause {
        Request::Pause { path }
    } else {
        Request::Unpause { path }
    };
    match client.request(&request)? {
        Response::Ok { message } => {
            println!("{}", crate::sanitize::line(&message));
            Ok(ExitCode::SUCCESS)
        }
        other => Err(unexpected("pause", &other).into()),
    }
}
