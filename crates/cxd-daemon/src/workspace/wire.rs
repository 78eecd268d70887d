//! How the workspace's stored rows look on the wire (status, review answers, findings).

use cxd_proto::status::{ReviewInfo, Tokens};

use crate::store;

/// At most this many findings of each list in one answer (a byte budget cuts them further).
pub const ANSWER_FINDINGS: usize = 200;

/// `F1`, `F2`, ... for row ids.
pub(super) fn public_ids(ids: &[i64]) -> Vec<String> {
    ids.iter().map(|&i| store::findings::public_id(i)).collect()
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
        model_reason: r.model_reason.clone(),
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
