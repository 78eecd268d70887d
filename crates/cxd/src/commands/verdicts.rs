//! `cxd approve`, `cxd trust`, `cxd dismiss`, `cxd reopen`, `cxd dispute`: the user's (or
//! the agent's) word on a tree, a repository's config or a finding.

use std::process::ExitCode;

use cxd_proto::domain::Author;
use cxd_proto::paths::Paths;
use cxd_proto::{Request, Response};

use super::abs_path;
use crate::cli::{ApproveArgs, DismissArgs, DisputeArgs, ReopenArgs, TrustArgs};
use crate::client::Client;
use crate::exit::{Failure, UNREACHABLE, USAGE};

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
            path: abs_path(args.path.as_deref())?,
        },
    )
}

pub fn reopen(paths: &Paths, args: &ReopenArgs) -> anyhow::Result<ExitCode> {
    say(
        paths,
        &Request::Reopen {
            id: args.id.clone(),
            path: abs_path(args.path.as_deref())?,
        },
    )
}

/// The environment variable Claude Code sets for the commands of a session.
const SESSION_ENV: &str = "CLAUDE_CODE_SESSION_ID";

/// Who disputes: the agent when a session is given or the environment names one, else a person.
fn disputer(flag: Option<&str>, env: Option<String>) -> (Author, Option<String>) {
    let session = flag
        .map(str::to_owned)
        .or(env)
        .filter(|s| !s.trim().is_empty());
    match session {
        Some(s) => (Author::Agent, Some(s)),
        None => (Author::Human, None),
    }
}

pub fn dispute(paths: &Paths, args: &DisputeArgs) -> anyhow::Result<ExitCode> {
    cxd_proto::limits::check_dispute_reason(&args.reason).map_err(|m| Failure::new(USAGE, m))?;
    let (by, session) = disputer(args.session.as_deref(), std::env::var(SESSION_ENV).ok());
    let path = abs_path(args.path.as_deref())?;
    let mut client = Client::connect(paths)?;
    let request = Request::Dispute {
        id: args.id.clone(),
        reason: args.reason.clone(),
        by,
        session,
        path,
    };
    match client.request(&request)? {
        Response::Disputed(f) if args.json => {
            println!("{}", crate::sanitize::json(&*f, true)?);
            Ok(ExitCode::SUCCESS)
        }
        Response::Disputed(f) => {
            println!("{}", disputed_text(&f, by));
            Ok(ExitCode::SUCCESS)
        }
        other => Err(Failure::new(UNREACHABLE, format!("unexpected reply: {other:?}")).into()),
    }
}

/// The one line that confirms a recorded dispute, safe for a terminal.
pub fn disputed_text(f: &cxd_proto::status::Finding, by: Author) -> String {
    crate::sanitize::line(&format!(
        "disputed {} ({}) as {by}: the next review rules on it (withdraw or uphold); `cxd findings` shows the ruling",
        f.id, f.title
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_makes_the_dispute_the_agents() {
        assert_eq!(disputer(None, None), (Author::Human, None));
        assert_eq!(disputer(Some(" "), None), (Author::Human, None));
        assert_eq!(
            disputer(Some("s1"), Some("env".into())),
            (Author::Agent, Some("s1".into()))
        );
        assert_eq!(
            disputer(None, Some("env".into())),
            (Author::Agent, Some("env".into()))
        );
    }
}
