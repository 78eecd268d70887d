//! What the workspace shows: the store's summary of its reviews and findings, and the status
//! it publishes for `cxd status` after every step.

use cxd_proto::domain::WorkspaceState;
use cxd_proto::status::{
    Approval, Finding, LoopStatus, NeedsYou, ReviewInfo, SeverityCounts, TOP_FINDINGS, Tokens,
    WorkspaceStatus,
};

use super::View;
use super::actor::Actor;
use super::review_info;
use crate::store::{self, findings::FindingRow};

/// What the store says about this workspace, refreshed after each review.
#[derive(Debug, Clone, Default)]
pub(super) struct Summary {
    pub(super) reviews: u64,
    pub(super) thread_id: Option<String>,
    /// Input tokens the newest answered review on the thread sent (its size when resumed).
    pub(super) thread_input: Option<u64>,
    pub(super) last_review: Option<ReviewInfo>,
    pub(super) open: Vec<FindingRow>,
    pub(super) tokens_total: Tokens,
    pub(super) approval: Option<store::approvals::ApprovalRow>,
    /// The decision handed to a person that nobody has answered yet.
    pub(super) needs_you: Option<NeedsYou>,
    /// How the current agent session's review loop goes.
    pub(super) review_loop: Option<LoopStatus>,
}

impl Actor {
    /// Re-read the reviews, findings and approval from the store.
    pub(super) async fn refresh_summary(&mut self) {
        let ws = self.row.id;
        let root = self.row.root.clone();
        let threshold = self.config().gate.threshold();
        let got = self
            .store
            .call(move |c| {
                let row = store::workspaces::get(c, &root)?;
                let thread_id = row.and_then(|r| r.thread_id);
                let thread_input = match &thread_id {
                    Some(t) => store::reviews::thread_input(c, ws, t)?,
                    None => None,
                };
                let last = store::reviews::last(c, ws)?;
                let (reviews, tokens) = store::reviews::totals(c, ws)?;
                let open = store::findings::list(c, ws, false)?;
                let approval = store::approvals::last(c, ws)?;
                let at = crate::clock::now_rfc3339();
                let needs_you =
                    store::escalations::current(c, ws, &root, &at)?.map(|e| e.needs_you());
                let (session, rounds) = store::escalations::rounds(c, ws, &root, threshold, None)?;
                let review_loop =
                    store::escalations::loop_status(session, &rounds, needs_you.is_some());
                Ok(Summary {
                    reviews,
                    thread_id,
                    thread_input,
                    last_review: last.as_ref().map(review_info),
                    open,
                    tokens_total: Tokens {
                        input: tokens.0,
                        cached_input: tokens.1,
                        output: tokens.2,
                    },
                    approval,
                    needs_you,
                    review_loop,
                })
            })
            .await;
        match got {
            Ok(summary) => self.summary = summary,
            Err(e) => tracing::error!(error = %e, "cannot read the workspace's reviews"),
        }
    }

    /// No change the daemon knows of is waiting for a review.
    fn up_to_date(&self) -> bool {
        self.machine.up_to_date() && self.pending.is_empty()
    }

    /// The most severe open findings, most severe first, then the oldest.
    fn top_findings(&self) -> Vec<Finding> {
        let mut open: Vec<&FindingRow> = self.summary.open.iter().collect();
        open.sort_by_key(|f| (std::cmp::Reverse(f.finding.severity), f.id));
        open.into_iter()
            .take(TOP_FINDINGS)
            .map(Finding::from)
            .collect()
    }

    /// Publish the status `cxd status` shows.
    pub(super) fn publish(&self) {
        let (state, since) = self.machine.state();
        let mut warnings = self.warnings.clone();
        warnings.extend(self.config_warnings.iter().cloned());
        if let Some(w) = &self.watcher {
            for warning in w.warnings() {
                if !warnings.contains(&warning) {
                    warnings.push(warning);
                }
            }
        }
        let mut open_findings = SeverityCounts::default();
        for f in &self.summary.open {
            open_findings.add(f.finding.severity);
        }
        let status = WorkspaceStatus {
            root: self.row.root.clone(),
            state,
            pending_files: self.pending.len() as u64,
            settle_in_ms: None,
            os_watches: self.os_watches(),
            warnings,
            reviews: self.summary.reviews,
            thread_id: self.summary.thread_id.clone(),
            last_review: self.summary.last_review.clone(),
            open_findings,
            approval: self.summary.approval.as_ref().map(|a| Approval {
                at: a.at.clone(),
                current: Some(&a.tree) == self.last_tree.as_ref()
                    && self.pending.is_empty()
                    && !self.machine.settling(),
            }),
            tokens_total: self.summary.tokens_total,
            activity: self.running.as_ref().and_then(|r| r.activity.clone()),
            state_for_s: None,
            error: self.machine.halted().map(str::to_owned),
            resumes_at: self.quota_resumes_at(),
            reviewing_with: self.running.as_ref().map(|r| r.with.clone()),
            up_to_date: self.up_to_date(),
            snapshot_bytes: self.upkeep.bytes,
            top_findings: self.top_findings(),
            needs_you: self.summary.needs_you.clone(),
            review_loop: self.summary.review_loop.clone(),
            head_reviewed: self.head_reviewed,
        };
        let deadline = if state == WorkspaceState::Settling {
            self.machine.settle_deadline()
        } else {
            None
        };
        self.view_tx.send_replace(View {
            status,
            deadline,
            since,
        });
    }
}
