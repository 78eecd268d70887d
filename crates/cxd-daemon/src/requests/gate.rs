//! `cxd gate` and the stop hook: optionally review what is unreviewed (a bounded wait), then
//! gather the facts and turn `crate::gate`'s pure decision into the answer.

use std::path::PathBuf;
use std::time::Duration;

use cxd_proto::Response;
use cxd_proto::domain::{GateScope, Severity, Trigger};
use cxd_proto::limits::{PAGE_BYTES, fitting};
use cxd_proto::message::{Escalation, GateReport};
use cxd_proto::status::SeverityCounts;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{Handler, Reply, gone, internal};
use crate::escalation;
use crate::gate::{self, Facts};
use crate::registry::{Registry, WorkspaceRef};
use crate::store::Store;
use crate::store::findings::{self, Filter};
use crate::store::{StoreError, escalations, sessions};
use crate::workspace::Command;

/// At most this many blocking findings are listed in a gate's answer (all are counted).
const GATE_FINDINGS: usize = 50;

/// Reviews run before judging when waiting: edits during a review earn one follow-up.
const REVIEW_ROUNDS: usize = 4;

/// What a gate request asks, beyond the workspace.
#[derive(Debug, Clone)]
pub(super) struct Ask {
    /// The threshold (default `gate.block_on`).
    pub block_on: Option<Severity>,
    /// Review what is unreviewed first, answering within this many seconds.
    pub wait_s: Option<u64>,
    /// Who asks: the stop hook's default scope is `gate.scope`, everyone else's `all`.
    pub trigger: Trigger,
    /// Which findings block, when the asker says.
    pub scope: Option<GateScope>,
    /// The agent session asking: its change is what reviews since its start covered.
    pub session: Option<String>,
}

/// What [`judge`] applies.
#[derive(Debug, Clone)]
struct Rule {
    threshold: Severity,
    scope: GateScope,
    session: Option<String>,
    /// The stop hook's round cap (`gate.max_rounds`): the last block it allows escalates.
    max_rounds: u32,
}

/// Judge the workspace holding `path` at `block_on` (default: its `gate.block_on`) and scope;
/// with `wait_s`, review what is unreviewed first and answer within that many seconds. With an
/// agent session (the stop hook), a gate that blocks may escalate instead.
pub(super) async fn answer(h: &Handler, path: PathBuf, ask: Ask) -> Reply {
    let ws = match h.lookup(path.clone()).await {
        Ok(w) => w,
        Err(r) => {
            // An agent's stop in a tree that was unwatched during its session: the user hears.
            if let Some(session) = ask.session
                && let Some(note) = unwatched_during(&h.store, path, session).await
            {
                return Response::Ok { message: note }.into();
            }
            return r.into();
        }
    };
    let config = {
        let user = h.ctx.config.borrow().config.clone();
        user.for_repo(&ws.root, &h.ctx.state_dir).config.gate
    };
    // A person's `cxd gate` judges every open finding unless told otherwise; the stop hook
    // follows `gate.scope` (default `change`).
    let default_scope = match ask.trigger {
        Trigger::Stop => config.scope(),
        _ => GateScope::All,
    };
    let rule = Rule {
        threshold: ask.block_on.unwrap_or_else(|| config.threshold()),
        scope: ask.scope.unwrap_or(default_scope),
        session: ask.session,
        max_rounds: config.max_rounds,
    };
    let trigger = ask.trigger;
    let Some(secs) = ask.wait_s else {
        return judge(&h.registry, &h.store, &ws, &rule, false).await.into();
    };
    let events = h.ctx.events.subscribe();
    let (done_tx, done) = oneshot::channel();
    let (registry, store, root) = (h.registry.clone(), h.store.clone(), ws.root.clone());
    tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let timed_out = review_until_done(&ws, trigger, deadline).await;
        let _ = done_tx.send(judge(&registry, &store, &ws, &rule, timed_out).await);
    });
    Reply::Wait { root, events, done }
}

/// Review until nothing is left or `deadline` passes; whether it passed.
async fn review_until_done(ws: &WorkspaceRef, trigger: Trigger, deadline: Instant) -> bool {
    for _ in 0..REVIEW_ROUNDS {
        let (started, started_rx) = oneshot::channel();
        let cmd = Command::Review {
            all: false,
            model: None,
            effort: None,
            trigger,
            retry_halted: false,
            started,
        };
        if ws.commands.send(cmd).await.is_err() {
            return false;
        }
        let Ok(Ok(Some(rx))) = started_rx.await else {
            return false;
        };
        if tokio::time::timeout_at(deadline, rx).await.is_err() {
            return true;
        }
    }
    false
}

/// The gate's verdict on a workspace as it is now.
async fn judge(
    registry: &Registry,
    store: &Store,
    ws: &WorkspaceRef,
    rule: &Rule,
    timed_out: bool,
) -> Response {
    let threshold = rule.threshold;
    let (tx, rx) = oneshot::channel();
    if ws.commands.send(Command::Check(tx)).await.is_err() {
        return gone();
    }
    let up_to_date = match rx.await {
        Ok(Ok(u)) => u,
        Ok(Err(r)) => return r,
        Err(_) => return gone(),
    };
    let status = match registry.status(Some(ws.root.clone())).await {
        Ok(mut s) if !s.is_empty() => s.remove(0),
        Ok(_) => return gone(),
        Err(e) => return e.into(),
    };
    let id = ws.id;
    // The decision comes from the counts; the answer shows only the first blocking findings,
    // so its size can never make the gate fail open.
    let filter = Filter {
        all: false,
        min: threshold,
    };
    let (scope, session) = (rule.scope, rule.session.clone());
    let (rows, outside_rows, open, outside) = match store
        .call(move |c| {
            if scope == GateScope::All {
                let rows = findings::list_page(c, id, filter, 0, GATE_FINDINGS)?;
                let none = SeverityCounts::default();
                return Ok((rows, Vec::new(), findings::open_counts(c, id)?, none));
            }
            // The session's change: what reviews since it began covered (a session first
            // seen at a stop, or none: every reviewed change).
            let since = match &session {
                Some(s) => sessions::began_by_stop(c, s, id)?,
                None => 0,
            };
            let (open, outside) = findings::open_counts_by_change(c, id, since)?;
            let rows = findings::open_by_change(c, id, since, true, threshold, GATE_FINDINGS)?;
            let out = findings::open_by_change(c, id, since, false, threshold, GATE_FINDINGS)?;
            Ok((rows, out, open, outside))
        })
        .await
    {
        Ok(got) => got,
        Err(e) => return internal(e),
    };
    let wire = |rows: &[findings::FindingRow]| {
        let mut list: Vec<_> = rows.iter().map(cxd_proto::status::Finding::from).collect();
        // Both lists share one answer: each gets half of a page.
        list.truncate(fitting(&list, PAGE_BYTES / 2));
        list
    };
    let (blocking, outside_list) = (wire(&rows), wire(&outside_rows));
    let facts = Facts {
        threshold,
        scope,
        open,
        outside,
        up_to_date,
        state: status.state,
        halt_error: status.error.clone(),
        timed_out,
    };
    let decision = gate::decide(&facts);
    // An agent's stop may hand the decision to the user: when findings block (also while a
    // newer review failed or still runs: the known ones still stand), or when one escalation
    // already stands. A pause or a gone workspace is the user's doing: nothing to ask.
    let user_state = matches!(
        decision,
        gate::Decision::Fail(gate::Reason::Paused | gate::Reason::Missing)
    );
    let escalation = match &rule.session {
        Some(session) if !user_state => {
            let asked = Asked {
                workspace_id: id,
                root: ws.root.clone(),
                session: session.clone(),
                max_rounds: rule.max_rounds,
                threshold,
            };
            let blocking = facts.blocking() > 0;
            match store
                .call(move |c| escalate(c, &asked, &rows, blocking))
                .await
            {
                Ok(e) => e,
                Err(e) => return internal(e),
            }
        }
        _ => None,
    };
    // A standing escalation holds the stop even where the findings alone would pass.
    let pass = decision.passed() && escalation.is_none();
    if escalation.as_ref().is_some_and(|e| e.first) {
        // `cxd status` shows `needs you` from the workspace's summary.
        ws.refresh().await;
    }
    Response::Gate(Box::new(GateReport {
        root: ws.root.clone(),
        pass,
        up_to_date,
        block_on: threshold,
        blocking,
        blocking_total: facts.blocking(),
        reason: decision.to_string(),
        last_review: status.last_review,
        state: status.state,
        scope,
        outside: outside_list,
        outside_change: facts.outside_change(),
        escalation,
    }))
}

/// The sentence for the user when the workspace holding `path` was unwatched after agent
/// `session` was first seen (None: it was not, or nothing is known of it).
async fn unwatched_during(store: &Store, path: PathBuf, session: String) -> Option<String> {
    store
        .call(move |c| crate::store::events::unwatched_since_session(c, &path, &session))
        .await
        .ok()
        .flatten()
        .map(|(root, at, by)| {
            format!(
                "cxd stopped watching {} at {at} (by the {}) during this session, so Codex did not review this turn: `cxd watch {}` resumes the reviews",
                root.display(),
                match by.as_str() {
                    "human" => "user",
                    "agent" => "agent",
                    _ => "unverified caller",
                },
                root.display()
            )
        })
}

/// What an agent's blocked stop escalates from.
struct Asked {
    workspace_id: i64,
    root: PathBuf,
    session: String,
    max_rounds: u32,
    threshold: Severity,
}

/// The escalation that stands, or a new one when a trigger applies to the blocking findings
/// `rows` (see [`crate::escalation::decide`]); either is marked told to the agent.
fn escalate(
    c: &mut rusqlite::Connection,
    asked: &Asked,
    rows: &[findings::FindingRow],
    blocking: bool,
) -> Result<Option<Escalation>, StoreError> {
    let at = crate::clock::now_rfc3339();
    let (ws, root) = (asked.workspace_id, asked.root.as_path());
    let standing = escalations::current(c, ws, root, &at)?;
    let row = match standing {
        Some(row) => row,
        // Nothing blocks: nothing new to hand over.
        None if !blocking => return Ok(None),
        None => {
            let (_, rounds) =
                escalations::rounds(c, ws, root, asked.threshold, Some(&asked.session))?;
            let facts = escalation::Facts {
                blocking: rows
                    .iter()
                    .map(|f| escalation::Blocking {
                        category: f.finding.category.clone(),
                        ruling: f.dispute.as_ref().and_then(|d| d.ruling),
                    })
                    .collect(),
                rounds,
                stops_blocked: sessions::rounds(c, &asked.session)?,
                max_rounds: asked.max_rounds,
            };
            let Some(why) = escalation::decide(&facts) else {
                return Ok(None);
            };
            let ids: Vec<i64> = rows.iter().map(|f| f.id).collect();
            escalations::raise(c, ws, root, Some(&asked.session), why, &ids, &at)?
        }
    };
    if !row.told {
        escalations::mark_told(c, row.id)?;
    }
    Ok(Some(Escalation {
        needs_you: row.needs_you(),
        first: !row.told,
    }))
}
