//! `cxd approve`, `cxd trust`, `cxd dismiss`, `cxd reopen`: the user's word on a tree, a
//! repository's config or a finding.

use std::process::ExitCode;

use cxd_proto::paths::Paths;
use cxd_proto::{Request, Response};

use super::abs_path;
use crate::cli::{ApproveArgs, DismissArgs, ReopenArgs, TrustArgs};
use crate::client::Client;
use crate::exit::{Failure, UNREACHABLE};

fn say(paths: &Paths, request: &Request) -> anyhow::Result<ExitCode> {
    let mut client = Client::connect(paths)?;
    match client.request(request)? {
        Response::Ok { message } => {
            println!("{}", crate::sanitize::line(&message));
            Ok(ExitCode::SUCCESS)
        }
        other => Err(Failure::new(UNREACHABLE, format!("unexpected reply: {other:?}")).into()),
    }
}

pub fn approve(paths: &Paths, args: &ApproveArgs) -> anyhow::Result<ExitCode> {
    let path = abs_path(args.path.as_deref())?;
    say(
        paths,
        &Request::Approve {
            path,
            note: args.note.clone(),
        },
    )
}

pub fn trust(paths: &Paths, args: &TrustArgs) -> anyhow::Result<ExitCode> {
    let path = abs_path(args.path.as_deref())?;
    say(
        paths,
        &Request::Trust {
            path,
            revoke: args.revoke,
        },
    )
}

pub fn dismiss(paths: &Paths, args: &DismissArgs) -> anyhow::Result<ExitCode> {
    say(
        paths,
        &Request::Dismiss {
            id: args.id.clone(),
            reason: args.reason.clone(),
        },
    )
}

pub fn reopen(paths: &Paths, args: &ReopenArgs) -> anyhow::Result<ExitCode> {
    say(
        paths,
        &Request::Reopen {
            id: args.id.clone(),
        },
    )
}
