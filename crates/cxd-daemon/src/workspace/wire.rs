//! How the workspace's stored rows look on the wire (status, review answers, findings).

use cxd_proto::status::{Finding, ReviewInfo, Tokens};

use crate::store::{self, findings::FindingRow};

/// At most this many findings of each list in one answer (a byte budget cuts them further).
pub const ANSWER_FINDINGS: usize = 200;

/// `F1`, `F2`, ... for row ids.
pub(super) fn public_ids(ids: &[i64]) -> Vec<String> {
    ids.iter().map(|&i| store::findings::public_id(i)).collect()
}

/// `file:line`, `file`, or "".
pub fn location(file: &str, line: i64) -> String {
    match (file.is_empty(), line > 0) {
        (true, _) => String::new(),
        (false, true) => format!("{file}:{line}"),
        (false, false) => file.to_owned(),
    }
}

/// A stored review as the wire shows it.
pub fn review_info(r: &store::reviews::ReviewRow) -> ReviewInfo {
    ReviewInfo {
        id: r.id,
        verdict: r.verdict,
        error_class: r.error_class,
        trigger: r.trigger,
        model: r.model.clone(),
        effort: r.effort.clone(),
        exit_code: r.exit_code,
        tokens: Tokens {
            input: r.tokens.0,
            cached_input: r.tokens.1,
            output: r.tokens.2,
        },
        summary: r.summary.clone(),
        error: r.error_message.clone(),
        raw_answer: r.raw_answer.clone(),
        finished_at: r.finished_at.clone(),
        duration_ms: r.duration_ms,
    }
}

/// A stored finding as the wire shows it. Sizes are capped again here, for rows stored before
/// answers were capped on the way in: one finding must never outgrow an answer.
pub fn finding_wire(f: &FindingRow) -> Finding {
    use cxd_proto::limits::{self, truncate};
    Finding {
        id: f.public_id(),
        severity: f.finding.severity,
        category: f.finding.category.clone(),
        file: if f.finding.file.len() > limits::MAX_FILE {
            String::new()
        } else {
            f.finding.file.clone()
        },
        line_start: f.finding.line_start,
        line_end: f.finding.line_end,
        title: truncate(&f.finding.title, limits::MAX_TITLE).into_owned(),
        body: truncate(&f.finding.body, limits::MAX_BODY).into_owned(),
        recommendation: truncate(&f.finding.recommendation, limits::MAX_RECOMMENDATION)
            .into_owned(),
        confidence: f.finding.confidence,
        status: f.status,
        first_review: f.first_review,
        last_review: f.last_review,
    }
}
