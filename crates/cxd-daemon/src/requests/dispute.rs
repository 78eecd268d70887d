//! `cxd dispute`: the agent or a person argues that an open finding of the workspace it works
//! in is wrong. The dispute and its audit entry are one store transaction; the next review
//! carries it and rules on it.

use std::path::PathBuf;

use cxd_proto::domain::Author;
use cxd_proto::limits::check_dispute_reason;
use cxd_proto::status::Finding;
use cxd_proto::{ErrorKind, Response};

use super::{Handler, error};
use crate::store::findings::{self, NewDispute};

/// Longest agent session id accepted (Claude Code's are UUIDs).
const MAX_SESSION: usize = 200;

/// What a dispute names and says.
pub(super) struct Asked {
    /// The finding's id (`F12`).
    pub(super) id: String,
    /// Why it is wrong.
    pub(super) reason: String,
    /// Who disputes.
    pub(super) by: Author,
    /// The agent's session, when the agent disputes.
    pub(super) session: Option<String>,
    /// A path inside the workspace whose finding it is.
    pub(super) path: PathBuf,
}

/// Record a dispute of the open finding `id` of the workspace holding `path` (another
/// workspace's id is no finding): `reason` is the argument Codex will weigh.
pub(super) async fn answer(h: &Handler, asked: Asked) -> Response {
    let Asked {
        id,
        reason,
        by,
        session,
        path,
    } = asked;
    let row_id = match super::finding::row_id(&id) {
        Ok(r) => r,
        Err(answer) => return *answer,
    };
    if let Err(why) = check(&reason, session.as_deref()) {
        return error(ErrorKind::Usage, why);
    }
    let ws = match h.lookup(path).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let new = NewDispute {
        by,
        session: session.filter(|_| by == Author::Agent),
        reason: reason.trim().to_owned(),
    };
    let at = crate::clock::now_rfc3339();
    let result = super::finding::change_own(h, ws.id, row_id, move |c| {
        findings::dispute(c, row_id, &new, &at)
    })
    .await;
    let changed = match result {
        Ok(changed) => changed,
        Err(answer) => return *answer,
    };
    let row = &changed.row;
    h.ctx.emit(
        "dispute",
        changed.root.clone(),
        format!("{by} disputes {}: {}", row.public_id(), row.finding.title),
    );
    Response::Disputed(Box::new(Finding::from(row)))
}

/// A reason must say something and stay within 4 KiB; a session id is short.
fn check(reason: &str, session: Option<&str>) -> Result<(), String> {
    check_dispute_reason(reason)?;
    if session.is_some_and(|s| s.len() > MAX_SESSION || s.chars().any(char::is_control)) {
        return Err(format!(
            "the session id is not one (at most {MAX_SESSION} characters, no control characters)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use cxd_proto::limits::MAX_DISPUTE_REASON;

    use super::*;

    #[test]
    fn a_reason_is_checked_before_anything_is_written() {
        assert!(check("the caller checks", None).is_ok());
        assert!(check(&"x".repeat(MAX_DISPUTE_REASON), Some("sess-1")).is_ok());
        let e = check(&"x".repeat(MAX_DISPUTE_REASON + 1), None).unwrap_err();
        assert!(e.contains("at most 4096"), "{e}");
        assert!(check("  \n", None).unwrap_err().contains("empty"));
        assert!(check("r", Some(&"s".repeat(MAX_SESSION + 1))).is_err());
        assert!(check("r", Some("a\nb")).is_err());
    }
}
