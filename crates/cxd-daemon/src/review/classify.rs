//! Classifying a failed codex run from its exit, its JSONL errors and its stderr.

use serde::{Deserialize, Serialize};

/// Why a review failed, as shown in status and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Usage limit or rate limit reached.
    Quota,
    /// Not logged in, bad key, forbidden.
    Auth,
    /// The model server could not be reached.
    Network,
    /// The answer did not match the schema (or was empty).
    Schema,
    /// Killed after `review.timeout_s`.
    Timeout,
    /// codex crashed, was killed by a signal, or failed in a way not recognised.
    Crash,
    /// The codex executable is missing.
    NotFound,
    /// The daemon stopped (or died) while the review ran.
    Interrupted,
}

impl ErrorClass {
    /// The word used in JSON and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Quota => "quota",
            ErrorClass::Auth => "auth",
            ErrorClass::Network => "network",
            ErrorClass::Schema => "schema",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Crash => "crash",
            ErrorClass::NotFound => "not_found",
            ErrorClass::Interrupted => "interrupted",
        }
    }

    /// What the user should do about it.
    pub fn advice(self) -> &'static str {
        match self {
            ErrorClass::Quota => {
                "the Codex usage limit is reached: wait for it to reset (or raise it), then run `cxd review`"
            }
            ErrorClass::Auth => {
                "codex is not logged in or its key is rejected: run `codex login`, then `cxd review`"
            }
            ErrorClass::Network => {
                "codex cannot reach its model server: check the network, then run `cxd review`"
            }
            ErrorClass::Schema => {
                "codex answered outside the review schema: run `cxd review` again, or try another model"
            }
            ErrorClass::Timeout => {
                "the review ran past review.timeout_s: raise it or review a smaller change, then `cxd review`"
            }
            ErrorClass::Crash => "codex failed: see the error, fix it, then run `cxd review`",
            ErrorClass::NotFound => {
                "codex not found — install it with npm install -g @openai/codex (or set CXD_CODEX_BIN)"
            }
            ErrorClass::Interrupted => {
                "the daemon stopped during the review; it runs again on the next start"
            }
        }
    }
}

/// Classify a failure from everything codex said (JSONL error messages and stderr).
pub fn classify(messages: &[String], stderr: &str) -> ErrorClass {
    let text = messages
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(stderr))
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if has(&[
        "usage limit",
        "usage_limit",
        "rate limit",
        "rate_limit",
        "quota",
        "429 too many requests",
        "insufficient_quota",
    ]) {
        ErrorClass::Quota
    } else if has(&[
        "401",
        "403",
        "unauthorized",
        "forbidden",
        "not logged in",
        "login",
        "api key",
        "missing environment variable",
        "authentication",
    ]) {
        ErrorClass::Auth
    } else if has(&[
        "reconnecting",
        "connection failed",
        "connection refused",
        "error sending request",
        "dns",
        "timed out",
        "network",
        "stream disconnected",
    ]) {
        ErrorClass::Network
    } else {
        ErrorClass::Crash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_messages_are_classified() {
        // As codex 0.169 prints them.
        let quota = "You\u{2019}ve hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit https://chatgpt.com/settings/usage to purchase more credits or try again at Mar 17th, 2030 5:46 PM.";
        assert_eq!(classify(&[quota.into()], ""), ErrorClass::Quota);
        let auth = "Reconnecting... 2/5 (unexpected status 401 Unauthorized: Incorrect API key)";
        assert_eq!(classify(&[auth.into()], ""), ErrorClass::Auth);
        let net = "Reconnecting... 1/5 (Connection failed: error sending request for url)";
        assert_eq!(classify(&[net.into()], ""), ErrorClass::Network);
        let unknown = "Error: thread/resume: thread/resume failed: no rollout found for thread id X (code -32600)";
        assert_eq!(classify(&[], unknown), ErrorClass::Crash);
        assert_eq!(
            classify(&[], "thread 'main' panicked at src/main.rs"),
            ErrorClass::Crash
        );
    }
}
