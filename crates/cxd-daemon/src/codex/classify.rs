//! Classifying a failed codex run from its exit, its JSONL errors and its stderr.

pub use cxd_proto::domain::ErrorClass;

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

/// Whether codex's failure `text` says the provider refused the model (unknown, not
/// supported, no access): a repository's model choice cxd can replace by the user's own.
pub fn model_refused(text: &str) -> bool {
    let text = text.to_lowercase();
    text.contains("model")
        && [
            "not supported",
            "does not exist",
            "not found",
            "model_not_found",
            "unknown model",
            "invalid model",
            "not available",
            "do not have access",
        ]
        .iter()
        .any(|n| text.contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_model_is_recognised() {
        assert!(model_refused(
            "unexpected status 400 Bad Request: {\"detail\":\"The 'x-9' model is not supported when using Codex with a ChatGPT account.\"}"
        ));
        assert!(model_refused(
            "The model `x-9` does not exist or you do not have access to it."
        ));
        assert!(!model_refused("You've hit your usage limit."));
        assert!(!model_refused("stream disconnected before completion"));
    }

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
