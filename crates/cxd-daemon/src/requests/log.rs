//! `cxd log`: the audit trail (all of it, or one workspace's), newest last, cut to what one
//! answer may carry.

use std::path::PathBuf;

use cxd_proto::Response;
use cxd_proto::message::LogEntry;

use super::{Handler, internal};
use crate::store::events;

/// Bytes of audit-trail entries one answer carries at most (far under the frame limit).
const LOG_BYTES: usize = 4 * 1024 * 1024;

/// At most `limit` of the newest entries, only the workspace holding `path` when given.
pub(super) async fn answer(h: &Handler, path: Option<PathBuf>, limit: u32) -> Response {
    let root = match path {
        Some(p) => match h.registry.resolve(p).await {
            Ok(r) => Some(r),
            Err(e) => return e.into(),
        },
        None => None,
    };
    let rows = h
        .store
        .call(move |c| events::recent(c, root.as_deref(), limit))
        .await;
    match rows {
        Ok(rows) => {
            let entries: Vec<LogEntry> = rows
                .into_iter()
                .map(|r| LogEntry {
                    at: r.at,
                    kind: r.kind,
                    workspace: r.workspace,
                    data_json: r.data.to_string(),
                })
                .collect();
            Response::Log(newest_within(entries, LOG_BYTES))
        }
        Err(e) => internal(e),
    }
}

/// The newest of `entries` (oldest first) that fit in `budget` bytes, still oldest first: a
/// long trail must not outgrow an answer.
fn newest_within(mut entries: Vec<LogEntry>, budget: usize) -> Vec<LogEntry> {
    let mut used = 0;
    let keep = entries
        .iter()
        .rev()
        .take_while(|e| {
            let size = e.at.len()
                + e.kind.len()
                + e.data_json.len()
                + e.workspace.as_ref().map_or(0, |w| w.as_os_str().len())
                + 32;
            used += size;
            used <= budget
        })
        .count();
    entries.drain(..entries.len() - keep);
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_log_keeps_its_newest_entries_within_the_budget() {
        let entry = |i: usize| LogEntry {
            at: format!("t{i}"),
            kind: "dismissal".into(),
            workspace: None,
            data_json: "x".repeat(1000),
        };
        let entries: Vec<LogEntry> = (0..100).map(entry).collect();
        let kept = newest_within(entries.clone(), 10_500);
        assert_eq!(kept.len(), 10);
        assert_eq!(kept[0].at, "t90");
        assert_eq!(kept[9].at, "t99");
        assert_eq!(newest_within(entries, usize::MAX).len(), 100);
    }
}
