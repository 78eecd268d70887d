//! The words of cxd's domain as types: a severity, a verdict, a trigger, a workspace state, a
//! finding's status and a failure class.
//!
//! Each is a closed set of snake_case words that travel in JSON, the store and on the command
//! line; typed, policy code compares values instead of strings, and an unknown word is refused
//! where it enters (a request, a config file, a model's answer, a stored row).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A word that is not one of a domain type's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {what}; use one of {}", accepted.join(", "))]
pub struct ParseError {
    /// What was expected (`severity`, `verdict`, ...).
    pub what: &'static str,
    /// The word given, as typed (e.g. `hihg`).
    pub value: String,
    /// Every accepted word.
    pub accepted: &'static [&'static str],
}

/// Declares a domain enum with its word for each value, `as_str`, `FromStr` and `Display`.
macro_rules! words {
    (
        $(#[$meta:meta])*
        $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $word:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];
            /// Every value's word, in declaration order.
            pub const WORDS: &'static [&'static str] = &[$($word,)+];

            /// The word used in JSON, the store and on the command line.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = ParseError;

            fn from_str(s: &str) -> Result<Self, ParseError> {
                match s {
                    $($word => Ok($name::$variant),)+
                    _ => Err(ParseError {
                        what: $what,
                        value: s.to_owned(),
                        accepted: Self::WORDS,
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // pad, not write_str: a width such as `{:<8}` applies.
                f.pad(self.as_str())
            }
        }
    };
}

words! {
    /// How much a finding matters; the gate blocks on findings at or above a threshold, so the
    /// order (`Info < Low < Medium < High < Critical`) is the policy.
    #[derive(PartialOrd, Ord)]
    Severity("severity") {
        /// Worth knowing, never worth blocking.
        Info = "info",
        /// Minor: worth fixing when convenient; blocks only a gate set to `low`.
        Low = "low",
        /// Should be fixed.
        Medium = "medium",
        /// Must be fixed (the default gate threshold).
        High = "high",
        /// Must be fixed before anything else.
        Critical = "critical",
    }
}

impl Severity {
    /// This severity and every more severe one, least severe first: what "at or above" means.
    pub fn and_above(self) -> &'static [Severity] {
        // ALL is in increasing order, so the tail from self is everything >= self.
        let at = Self::ALL.iter().position(|s| *s == self).unwrap_or(0);
        &Self::ALL[at..]
    }
}

words! {
    /// How a review ended, so status, the gate and the hooks can tell a verdict from a failure.
    Verdict("verdict") {
        /// Codex found nothing that blocks.
        Approve = "approve",
        /// Codex asks for changes.
        ChangesRequested = "changes_requested",
        /// codex failed; the change is not reviewed.
        Error = "error",
        /// The daemon stopped while the review ran.
        Interrupted = "interrupted",
        /// Not finished yet (a stored review in progress; never in a finished review's report).
        Running = "running",
    }
}

words! {
    /// What started a review, for the audit trail and status.
    Trigger("trigger") {
        /// An edit burst settled.
        Edit = "edit",
        /// `cxd review` or `cxd gate`.
        Manual = "manual",
        /// The agent asked.
        Agent = "agent",
        /// `cxd plan`: a plan, not a change.
        Plan = "plan",
        /// The agent's stop hook.
        Stop = "stop",
        /// `cxd review --commit`: one commit against its parent.
        Commit = "commit",
        /// `cxd review --range` or `--base`, and the pre-push hook: commits between two points.
        Range = "range",
    }
}

words! {
    /// Where a workspace is in its cycle, as status and the gate report it (ARCHITECTURE.md,
    /// "The workspace's states").
    WorkspaceState("workspace state") {
        /// Nothing pending.
        Idle = "idle",
        /// Changes are waiting for the quiet period.
        Settling = "settling",
        /// A review is running.
        Reviewing = "reviewing",
        /// The last review failed; no automatic retry.
        Halted = "halted",
        /// The user paused reviews.
        Paused = "paused",
        /// The work tree is gone.
        Missing = "missing",
    }
}

words! {
    /// Where a finding is in its lifecycle: only open findings count and block.
    FindingStatus("finding status") {
        /// Not fixed yet.
        Open = "open",
        /// A later review said it is fixed.
        Resolved = "resolved",
        /// The user dismissed it.
        Dismissed = "dismissed",
        /// Codex withdrew it after a dispute.
        Withdrawn = "withdrawn",
    }
}

words! {
    /// Who disputed a finding (or edited a file): the agent, from its session, or a person.
    Author("author") {
        /// The coding agent (Claude Code), from one of its sessions.
        Agent = "agent",
        /// A person at a terminal.
        Human = "human",
    }
}

words! {
    /// Codex's ruling on a disputed finding: a dispute is argued, then decided, not ignored.
    Ruling("ruling") {
        /// The objection is right: the finding is withdrawn and stops counting.
        Withdraw = "withdraw",
        /// The finding stands: it stays open with Codex's reply.
        Uphold = "uphold",
    }
}

words! {
    /// Why the stop hook stopped asking for fixes and handed the decision to the user.
    EscalationWhy("escalation reason") {
        /// Codex upheld a blocking finding after a dispute: the two disagree.
        Upheld = "upheld",
        /// A blocking finding is about the architecture: the user decides those.
        Architecture = "architecture",
        /// Two reviews in a row each opened as many blocking findings as they closed.
        Plateau = "plateau",
        /// The stop hook blocked `gate.max_rounds` times this turn.
        RoundCap = "round_cap",
        /// A blocking finding was closed by neither a review nor a person (a caller cxd could
        /// not attribute): only the user can say whether it stands.
        Unattributed = "unattributed",
    }
}

words! {
    /// Which way the review loop of the current agent session is going.
    Trend("trend") {
        /// Not stuck and nobody needed: the loop goes on.
        Converging = "converging",
        /// Reviews open as many blocking findings as they close.
        Plateau = "plateau",
        /// The loop handed a decision to the user, who has not answered yet.
        NeedsYou = "needs_you",
    }
}

words! {
    /// Which open findings the gate blocks on: only those in the agent's change, or all.
    GateScope("gate scope") {
        /// Findings whose lines a reviewed change touched (or about a change as a whole).
        Change = "change",
        /// Every open finding, wherever it points.
        All = "all",
    }
}

words! {
    /// Why a review failed, so status and the hooks can say what to do about it.
    ErrorClass("error class") {
        /// Usage limit or rate limit reached.
        Quota = "quota",
        /// Not logged in, bad key, forbidden.
        Auth = "auth",
        /// The model server could not be reached.
        Network = "network",
        /// The answer did not match the schema (or was empty).
        Schema = "schema",
        /// Killed after `review.timeout_s`.
        Timeout = "timeout",
        /// codex crashed, was killed by a signal, or failed in a way not recognised.
        Crash = "crash",
        /// The codex executable is missing.
        NotFound = "not_found",
        /// The daemon stopped (or died) while the review ran.
        Interrupted = "interrupted",
    }
}

impl ErrorClass {
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

/// SQLite conversions, so the store reads and writes the same words as JSON.
#[cfg(feature = "sql")]
mod sql {
    use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

    use super::{
        Author, ErrorClass, EscalationWhy, FindingStatus, Ruling, Severity, Trigger, Verdict,
        WorkspaceState,
    };

    macro_rules! sql {
        ($($name:ident),+) => {$(
            impl ToSql for $name {
                fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                    Ok(ToSqlOutput::from(self.as_str()))
                }
            }

            /// A stored word this build does not know is a conversion error naming the word
            /// and the accepted ones (never a guess: a guessed severity could let a gate pass).
            impl FromSql for $name {
                fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                    value
                        .as_str()?
                        .parse()
                        .map_err(|e: super::ParseError| FromSqlError::Other(Box::new(e)))
                }
            }
        )+};
    }

    sql!(
        Severity,
        Verdict,
        Trigger,
        WorkspaceState,
        FindingStatus,
        ErrorClass,
        Author,
        Ruling,
        EscalationWhy
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_are_ordered_by_weight() {
        use Severity::*;
        assert!(Info < Low && Low < Medium && Medium < High && High < Critical);
        let mut shuffled = vec![High, Info, Critical, Low, Medium];
        shuffled.sort();
        assert_eq!(shuffled, Severity::ALL);
        assert_eq!(High.and_above(), [High, Critical]);
        assert_eq!(Info.and_above(), Severity::ALL);
        assert_eq!(Critical.and_above(), [Critical]);
    }

    /// Every word survives JSON and `FromStr` both ways, and JSON uses the same word as `as_str`.
    fn round_trips<T>(all: &[T])
    where
        T: Copy + PartialEq + fmt::Debug + fmt::Display + FromStr<Err = ParseError>,
        T: Serialize + for<'de> Deserialize<'de>,
    {
        for v in all {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{v}\""));
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *v);
            assert_eq!(v.to_string().parse::<T>().unwrap(), *v);
        }
    }

    #[test]
    fn every_word_round_trips() {
        round_trips(Severity::ALL);
        round_trips(Verdict::ALL);
        round_trips(Trigger::ALL);
        round_trips(WorkspaceState::ALL);
        round_trips(FindingStatus::ALL);
        round_trips(ErrorClass::ALL);
        round_trips(Author::ALL);
        round_trips(Ruling::ALL);
        round_trips(EscalationWhy::ALL);
        round_trips(Trend::ALL);
        round_trips(GateScope::ALL);
    }

    #[test]
    fn words_are_todays_json_strings() {
        assert_eq!(
            Severity::WORDS,
            ["info", "low", "medium", "high", "critical"]
        );
        assert_eq!(
            Verdict::WORDS,
            [
                "approve",
                "changes_requested",
                "error",
                "interrupted",
                "running"
            ]
        );
        assert_eq!(
            Trigger::WORDS,
            ["edit", "manual", "agent", "plan", "stop", "commit", "range"]
        );
        assert_eq!(
            WorkspaceState::WORDS,
            [
                "idle",
                "settling",
                "reviewing",
                "halted",
                "paused",
                "missing"
            ]
        );
        assert_eq!(
            FindingStatus::WORDS,
            ["open", "resolved", "dismissed", "withdrawn"]
        );
        assert_eq!(Author::WORDS, ["agent", "human"]);
        assert_eq!(Ruling::WORDS, ["withdraw", "uphold"]);
        assert_eq!(
            EscalationWhy::WORDS,
            [
                "upheld",
                "architecture",
                "plateau",
                "round_cap",
                "unattributed"
            ]
        );
        assert_eq!(Trend::WORDS, ["converging", "plateau", "needs_you"]);
        assert_eq!(ErrorClass::NotFound.as_str(), "not_found");
    }

    #[test]
    fn an_unknown_word_names_what_is_accepted() {
        let e = "severe".parse::<Severity>().unwrap_err();
        assert_eq!(
            e.to_string(),
            r#""severe" is not a severity; use one of info, low, medium, high, critical"#
        );
        assert!(
            "High".parse::<Severity>().is_err(),
            "words are case-sensitive"
        );
        let e = serde_json::from_str::<Verdict>("\"maybe\"").unwrap_err();
        assert!(e.to_string().contains("unknown variant `maybe`"), "{e}");
    }
}
