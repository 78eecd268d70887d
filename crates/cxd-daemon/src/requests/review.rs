//! `cxd review`: review a workspace now, skipping the debounce, or committed history; answered
//! when it starts, or (with `--wait`) with its progress and then its result.

use std::path::PathBuf;

use cxd_proto::Response;
use cxd_proto::domain::Trigger;
use cxd_proto::message::Revisions;

use super::{Handler, Reply, start_run};
use crate::workspace::{Command, Target};

/// Start a manual review of the workspace holding `path` (a halted one is retried).
pub(super) async fn answer(
    h: &Handler,
    path: PathBuf,
    all: bool,
    model: Option<String>,
    effort: Option<String>,
    wait: bool,
) -> Reply {
    let ask = |started| Command::Review {
        all,
        model,
        effort,
        trigger: Trigger::Manual,
        retry_halted: true,
        started,
    };
    start_run(h, path, wait, ask, |root| {
        Response::Ok {
            message: format!(
                "nothing to review in {}: no change since the last review",
                root.display()
            ),
        }
        .into()
    })
    .await
}

/// Review committed history (`cxd review --commit/--range/--base`): refused at once, with
/// nothing recorded, when a revision is unknown or the range empty.
pub(super) async fn revisions(
    h: &Handler,
    path: PathBuf,
    revisions: Revisions,
    model: Option<String>,
    effort: Option<String>,
    wait: bool,
) -> Reply {
    let ask = |started| Command::ReviewRevisions {
        target: Target::Revisions(revisions),
        model,
        effort,
        started,
    };
    start_run(h, path, wait, ask, |_| {
        Response::Ok {
            message: "nothing to review: the revisions change no file".into(),
        }
        .into()
    })
    .await
}
