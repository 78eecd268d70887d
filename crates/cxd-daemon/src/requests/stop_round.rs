//! The stop hook's `StopRound`: count one blocked stop for an agent session (or reset the
//! count), remembering the findings the block told it about so they are not passed on again.
//! The count keeps the stop hook bounded (`gate.max_rounds`).

use cxd_proto::Response;

use super::{Handler, internal};
use crate::store::{findings, sessions};

/// The session's count of blocked stops after this one (0 after a reset).
pub(super) async fn answer(h: &Handler, session: String, reset: bool, told: &[String]) -> Response {
    let ids: Vec<i64> = told.iter().filter_map(|t| findings::parse_id(t)).collect();
    let counted = h
        .store
        .call(move |c| {
            sessions::mark_told(c, &session, &ids)?;
            sessions::bump_rounds(c, &session, reset)
        })
        .await;
    match counted {
        Ok(n) => Response::Rounds(n),
        Err(e) => internal(e),
    }
}
