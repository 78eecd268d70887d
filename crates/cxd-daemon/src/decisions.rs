//! The user's decisions: the requests that would lower the gate or switch the reviewer off,
//! which the daemon refuses to the agent under review (see [`crate::caller`]).
//!
//! The list, and why each is on it:
//! - `dismiss`, `approve`: they close a finding or accept a tree for the user;
//! - `trust` (and `trust --revoke`): a trusted `.cxd.toml` may change the gate and name the
//!   program that reviews;
//! - `session adopt|reset`: they choose the thread the reviewer continues (a thread the agent
//!   wrote would speak for Codex);
//! - `review --model/--effort`: a weaker reviewer, chosen by the one under review;
//! - `pause`, `unwatch`, `stop`: they switch the reviewer off.
//!
//! Everything else stays open to the agent: status, findings, log, watch, unpause, reopen,
//! review (with the configured model), plan, gate, and dispute — the agent's own way to say a
//! finding is wrong, which the next review rules on.

use cxd_proto::Request;
use cxd_proto::message::SessionAction;

/// The decision `request` makes for the user, as the command that makes it (None: not one).
pub fn decision(request: &Request) -> Option<&'static str> {
    let name = match request {
        Request::Dismiss { .. } => "cxd dismiss",
        Request::Approve { .. } => "cxd approve",
        Request::Trust { revoke: false, .. } => "cxd trust",
        Request::Trust { revoke: true, .. } => "cxd trust --revoke",
        Request::Session {
            action: SessionAction::Adopt(_) | SessionAction::AdoptLast,
            ..
        } => "cxd session adopt",
        Request::Session {
            action: SessionAction::Reset,
            ..
        } => "cxd session reset",
        Request::Review { model, effort, .. } | Request::ReviewRevisions { model, effort, .. }
            if model.is_some() || effort.is_some() =>
        {
            "cxd review --model/--effort"
        }
        Request::Pause { .. } => "cxd pause",
        Request::Unwatch { .. } => "cxd unwatch",
        Request::Stop => "cxd stop",
        _ => return None,
    };
    Some(name)
}

/// Whether the audit entry of `request` names who made it, so its caller must be attributed:
/// the user's decisions, and what the agent may do that the log records as someone's (a
/// dispute, an unpause, a reopen).
pub fn attributed(request: &Request) -> bool {
    decision(request).is_some()
        || matches!(
            request,
            Request::Dispute { .. } | Request::Unpause { .. } | Request::Reopen { .. }
        )
}

/// The refusal an agent gets for `decision`: what it may do instead.
pub fn refusal(decision: &str) -> String {
    format!(
        "`{decision}` is the user's decision, and this request comes from the agent under review (a Claude Code session), so cxd refused it. Instead: fix the finding; or, if you believe it is wrong, dispute it (`cxd dispute ID --reason \"...\"`) and Codex rules on your argument at the next review; or ask the user, who can run `{decision}` in their own terminal."
    )
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use cxd_proto::domain::Author;

    use super::*;

    #[test]
    fn the_decisions_that_lower_the_gate_are_listed_and_the_rest_are_not() {
        let p = || PathBuf::from("/r");
        let decisions = [
            Request::Dismiss {
                id: "F1".into(),
                reason: None,
                path: p(),
            },
            Request::Approve {
                path: p(),
                note: None,
            },
            Request::Trust {
                path: p(),
                revoke: false,
            },
            Request::Trust {
                path: p(),
                revoke: true,
            },
            Request::Session {
                path: p(),
                action: SessionAction::Adopt("t".into()),
            },
            Request::Session {
                path: p(),
                action: SessionAction::AdoptLast,
            },
            Request::Session {
                path: p(),
                action: SessionAction::Reset,
            },
            Request::Review {
                path: p(),
                all: false,
                model: Some("weak".into()),
                effort: None,
                wait: false,
            },
            Request::Pause { path: p() },
            Request::Unwatch { path: p() },
            Request::Stop,
        ];
        for r in &decisions {
            assert!(decision(r).is_some(), "{r:?}");
        }
        let open = [
            Request::Status { path: None },
            Request::Watch { path: p() },
            Request::Unpause { path: p() },
            Request::Reopen {
                id: "F1".into(),
                path: p(),
            },
            Request::Session {
                path: p(),
                action: SessionAction::Show,
            },
            Request::Review {
                path: p(),
                all: true,
                model: None,
                effort: None,
                wait: true,
            },
            Request::Dispute {
                id: "F1".into(),
                reason: "r".into(),
                by: Author::Agent,
                session: None,
                path: p(),
            },
        ];
        for r in &open {
            assert_eq!(decision(r), None, "{r:?}");
        }
        // Every decision is attributed, and so is what the agent may do that the log records
        // as someone's; a status is not.
        assert!(decisions.iter().all(attributed));
        let (logged, plain): (Vec<_>, Vec<_>) = open.iter().partition(|r| attributed(r));
        assert_eq!(logged.len(), 3, "unpause, reopen, dispute: {logged:?}");
        assert!(plain.iter().all(|r| !matches!(
            r,
            Request::Unpause { .. } | Request::Reopen { .. } | Request::Dispute { .. }
        )));
    }

    #[test]
    fn the_refusal_says_what_to_do_instead() {
        let text = refusal("cxd approve");
        assert!(text.contains("cxd dispute ID"));
        assert!(text.contains("ask the user"));
    }
}
