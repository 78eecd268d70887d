//! `cxd session`: the workspace's own codex thread.

use std::process::ExitCode;

use cxd_proto::message::SessionAction;
use cxd_proto::paths::Paths;
use cxd_proto::{Request, Response};

use super::abs_path;
use crate::cli::{SessionArgs, SessionCommand};
use crate::client::Client;
use crate::exit::{Failure, UNREACHABLE, USAGE};

pub fn run(paths: &Paths, args: SessionArgs) -> anyhow::Result<ExitCode> {
    let (path, action) = match args.action {
        None => (args.path, SessionAction::Show),
        Some(SessionCommand::Reset { path }) => (path, SessionAction::Reset),
        Some(SessionCommand::Adopt { id, last, path }) => match (id, last, path) {
            (Some(id), false, path) => (path, SessionAction::Adopt(id)),
            // `adopt --last PATH`: the one positional is the path.
            (id, true, None) => (id.map(std::path::PathBuf::from), SessionAction::AdoptLast),
            _ => {
                return Err(Failure::new(USAGE, "give a thread id or --last (`cxd session adopt ID [PATH]`, `cxd session adopt --last [PATH]`)").into());
            }
        },
    };
    let showing = action == SessionAction::Show;
    let path = abs_path(path.as_deref())?;
    let mut client = Client::connect(paths)?;
    match client.request(&Request::Session { path, action })? {
        Response::Session {
            root,
            thread_id,
            thread_input_tokens,
            max_thread_input_tokens,
        } => {
            match (thread_id, showing) {
                (Some(t), true) => {
                    // The id alone on stdout, for scripts; its size for people on stderr.
                    println!("{}", crate::sanitize::line(&t));
                    let size = thread_input_tokens.map_or_else(
                        || "no answered review on it yet".to_owned(),
                        |n| format!("its last review sent {n} input tokens"),
                    );
                    let limit = match max_thread_input_tokens {
                        0 => "it is resumed whatever its size (review.max_thread_input_tokens = 0)"
                            .to_owned(),
                        m => format!(
                            "a new thread starts once a review sends {m} or more (review.max_thread_input_tokens)"
                        ),
                    };
                    eprintln!("{size}; {limit}");
                }
                (None, true) => println!(
                    "no codex thread yet for {}: the first review starts one",
                    crate::sanitize::line(&root.display().to_string())
                ),
                (Some(t), false) => println!(
                    "{} now continues codex thread {}",
                    crate::sanitize::line(&root.display().to_string()),
                    crate::sanitize::line(&t)
                ),
                (None, false) => println!(
                    "{}: the next review starts a new codex thread",
                    crate::sanitize::line(&root.display().to_string())
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        other => Err(Failure::new(
            UNREACHABLE,
            format!("unexpected reply to session: {other:?}"),
        )
        .into()),
    }
}
