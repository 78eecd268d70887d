//! `cxd findings`: one page of a workspace's findings; the client asks for the next page until
//! there is none, so no answer outgrows a frame.

use std::path::PathBuf;

use cxd_proto::Response;
use cxd_proto::domain::Severity;
use cxd_proto::limits::{PAGE_BYTES, fitting};
use cxd_proto::message::FindingsPage;

use super::{Handler, internal};
use crate::store::findings::{self, Filter};
use crate::workspace::ANSWER_FINDINGS;

/// The page after `after` (from the start when `None`): at most [`ANSWER_FINDINGS`] findings
/// and [`PAGE_BYTES`].
pub(super) async fn answer(
    h: &Handler,
    path: PathBuf,
    all: bool,
    severity: Option<Severity>,
    after: Option<i64>,
) -> Response {
    let ws = match h.lookup(path).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let id = ws.id;
    let filter = Filter {
        all,
        min: severity.unwrap_or(Severity::Info),
    };
    let after = after.unwrap_or(0);
    let page = h
        .store
        .call(move |c| {
            // One more than a page: whether another page follows.
            let rows = findings::list_page(c, id, filter, after, ANSWER_FINDINGS + 1)?;
            Ok((rows, findings::count(c, id, filter)?))
        })
        .await;
    let (rows, total) = match page {
        Ok(got) => got,
        Err(e) => return internal(e),
    };
    let mut page: Vec<_> = rows
        .iter()
        .take(ANSWER_FINDINGS)
        .map(cxd_proto::status::Finding::from)
        .collect();
    page.truncate(fitting(&page, PAGE_BYTES));
    let next = (rows.len() > page.len())
        .then(|| rows.get(page.len().saturating_sub(1)).map(|r| r.id))
        .flatten();
    Response::Findings(FindingsPage {
        findings: page,
        next,
        total,
    })
}
