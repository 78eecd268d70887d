//! Bounded thread cost: resuming a thread resends its whole history, so a review's input
//! grows with the thread's age. Once the thread's newest review sent
//! `review.max_thread_input_tokens` or more, the next run starts a new thread whose prompt
//! opens with a brief (the open findings and disputes follow with their ids, as always).

use super::actor::Actor;
use crate::codex::prompt;
use crate::config::Config;

impl Actor {
    /// The thread the next run resumes (None: a new one), and the brief that opens its prompt
    /// when the workspace's thread grew past the limit.
    pub(super) async fn thread_for_run(
        &mut self,
        config: &Config,
    ) -> (Option<String>, Option<String>) {
        let thread = self.summary.thread_id.clone();
        let limit = config.review.max_thread_input_tokens;
        match (&thread, self.summary.thread_input) {
            (Some(old), Some(size)) if limit > 0 && size >= limit => {
                self.log(
                    "thread_rotated",
                    serde_json::json!({"from": old, "input_tokens": size, "limit": limit}),
                )
                .await;
                self.ctx.emit(
                    "thread_rotated",
                    Some(self.row.root.clone()),
                    format!(
                        "the codex thread's last review sent {size} input tokens (review.max_thread_input_tokens = {limit}): starting a new thread with a brief"
                    ),
                );
                let summary = self
                    .summary
                    .last_review
                    .as_ref()
                    .and_then(|r| r.summary.clone());
                (None, Some(prompt::rotation_brief(summary.as_deref())))
            }
            _ => (thread, None),
        }
    }
}
