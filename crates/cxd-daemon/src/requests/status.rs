//! `cxd status` (and `cxd list`): the daemon's own facts beside what every workspace, or the
//! one holding a path, publishes.

use std::path::PathBuf;

use cxd_proto::Response;
use cxd_proto::status::{BudgetStatus, ConfigInfo, DaemonInfo, StatusReport, WorkspaceStatus};

use super::Handler;
use crate::context::Context;

/// The status of every workspace, or only of the one holding `path`.
pub(super) async fn answer(h: &Handler, path: Option<PathBuf>) -> Response {
    match h.registry.status(path).await {
        Ok(workspaces) => {
            let budget = budget(h).await;
            Response::Status(report(&h.ctx, workspaces, budget))
        }
        Err(e) => e.into(),
    }
}

/// Spend against the budget now (zeros when it cannot be counted): counted on the store
/// thread only when something was written since the last count or its window moved.
async fn budget(h: &Handler) -> BudgetStatus {
    let limits = h.ctx.config.borrow().config.budget.clone();
    let now = crate::clock::now();
    let spend = match h.spend.get(h.store.generation(), now) {
        Some(s) => Some(s),
        None => h
            .store
            .call(move |c| Ok((crate::budget::spend(c, now)?, c.total_changes())))
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "cannot count the budget"))
            .ok()
            .map(|(s, generation)| {
                h.spend.put(generation, now, s);
                s
            }),
    };
    BudgetStatus {
        reviews_this_hour: spend.map_or(0, |s| s.reviews_hour),
        reviews_per_hour: limits.reviews_per_hour,
        input_tokens_today: spend.map_or(0, |s| s.tokens_today),
        input_tokens_per_day: limits.input_tokens_per_day,
    }
}

fn report(ctx: &Context, workspaces: Vec<WorkspaceStatus>, budget: BudgetStatus) -> StatusReport {
    let config = ctx.config.borrow();
    StatusReport {
        daemon: DaemonInfo {
            pid: std::process::id(),
            version: cxd_proto::VERSION.to_owned(),
            socket: ctx.socket.clone(),
            uptime_s: ctx.started.elapsed().as_secs(),
            config: ConfigInfo {
                path: ctx.config_path.clone(),
                error: config.error.clone(),
            },
            warnings: ctx.warnings.clone(),
        },
        workspaces,
        budget,
    }
}
