//! The gate's decision (`cxd gate`, the stop hook): pass or fail, and why, from plain facts
//! about a workspace. Pure, so every rule is unit-tested; `requests::gate` gathers the facts
//! and turns the decision into the answer.

use std::fmt;

use cxd_proto::domain::{GateScope, Severity, WorkspaceState};
use cxd_proto::status::SeverityCounts;

/// What the gate decides from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Open findings at or above this severity block.
    pub threshold: Severity,
    /// Whether only findings in the change block, or all.
    pub scope: GateScope,
    /// The workspace's open findings in the change (see [`crate::scope`]), by severity.
    pub open: SeverityCounts,
    /// The workspace's open findings outside the change, by severity: they block only with
    /// scope `all`.
    pub outside: SeverityCounts,
    /// The newest review covers the working tree as it is.
    pub up_to_date: bool,
    /// The workspace's state now: a running review or a pause decides before the findings do.
    pub state: WorkspaceState,
    /// Why the workspace is halted, when it is.
    pub halt_error: Option<String>,
    /// The gate waited for a review and the wait ran out.
    pub timed_out: bool,
}

impl Facts {
    /// How many open findings at or above the threshold block: those in the change, and with
    /// scope `all` the others too.
    pub fn blocking(&self) -> u64 {
        let outside = match self.scope {
            GateScope::All => self.at_threshold(&self.outside),
            GateScope::Change => 0,
        };
        self.at_threshold(&self.open) + outside
    }

    /// How many open findings at or above the threshold are left out because they are not in
    /// the change (0 with scope `all`).
    pub fn outside_change(&self) -> u64 {
        match self.scope {
            GateScope::All => 0,
            GateScope::Change => self.at_threshold(&self.outside),
        }
    }

    fn at_threshold(&self, counts: &SeverityCounts) -> u64 {
        self.threshold
            .and_above()
            .iter()
            .map(|s| counts.get(*s))
            .sum()
    }
}

/// The gate's answer: pass (exit 0) or fail with the first reason that applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Reviewed up to date, nothing open at or above the threshold.
    Pass {
        /// The threshold applied, named in the reason sentence.
        threshold: Severity,
        /// Findings at or above it left out as not in the change, named in the sentence.
        outside: u64,
    },
    /// Not passed, with the reason to report and act on.
    Fail(Reason),
}

/// Why the gate did not pass, in the order they are reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The review the gate waited for did not finish in time.
    TimedOut,
    /// The last review failed (the message says how).
    Halted(String),
    /// Reviews are paused and changes are unreviewed.
    Paused,
    /// The work tree is gone.
    Missing,
    /// A review is running.
    Reviewing,
    /// Changes are not reviewed yet.
    Unreviewed,
    /// Open findings at or above the threshold.
    Blocking {
        /// How many open findings are at or above the threshold.
        count: u64,
        /// The threshold applied, named in the reason sentence.
        threshold: Severity,
        /// Findings at or above it left out as not in the change, named in the sentence.
        outside: u64,
    },
}

impl Decision {
    /// Whether the gate passes (exit 0).
    pub fn passed(&self) -> bool {
        matches!(self, Decision::Pass { .. })
    }
}

/// Decide. Unreviewed changes come before findings: a finding count is only final once the
/// tree is reviewed.
pub fn decide(facts: &Facts) -> Decision {
    let blocking = facts.blocking();
    let outside = facts.outside_change();
    if facts.up_to_date && blocking == 0 {
        return Decision::Pass {
            threshold: facts.threshold,
            outside,
        };
    }
    let reason = if facts.timed_out {
        Reason::TimedOut
    } else if !facts.up_to_date {
        match facts.state {
            WorkspaceState::Halted => Reason::Halted(facts.halt_error.clone().unwrap_or_default()),
            WorkspaceState::Paused => Reason::Paused,
            WorkspaceState::Missing => Reason::Missing,
            WorkspaceState::Reviewing => Reason::Reviewing,
            WorkspaceState::Idle | WorkspaceState::Settling => Reason::Unreviewed,
        }
    } else {
        Reason::Blocking {
            count: blocking,
            threshold: facts.threshold,
            outside,
        }
    };
    Decision::Fail(reason)
}

/// One sentence: why, and what to do.
impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Pass {
                threshold,
                outside: 0,
            } => {
                write!(f, "reviewed up to date; nothing open at or above {threshold}")
            }
            Decision::Pass { threshold, outside } => write!(
                f,
                "reviewed up to date; nothing open at or above {threshold} in the change ({outside} outside it, not blocking: `cxd findings`)"
            ),
            Decision::Fail(Reason::TimedOut) => f.write_str(
                "the review did not finish in time: run `cxd gate --wait SECS` with more time, or check `cxd status`",
            ),
            // A spent limit is no failure of the review: say the limit and when it frees up.
            Decision::Fail(Reason::Halted(error))
                if error.starts_with("quota — ") || error.starts_with("budget reached") =>
            {
                write!(f, "no review now: {error}")
            }
            Decision::Fail(Reason::Halted(error)) => {
                write!(f, "the last review failed: {error}")
            }
            Decision::Fail(Reason::Paused) => f.write_str(
                "reviews are paused and changes are unreviewed: `cxd unpause`, or `cxd review --wait`",
            ),
            Decision::Fail(Reason::Missing) => f.write_str("the workspace directory is gone"),
            Decision::Fail(Reason::Reviewing) => {
                f.write_str("a review is running: `cxd gate --wait SECS` waits for it")
            }
            Decision::Fail(Reason::Unreviewed) => f.write_str(
                "changes since the last review are not reviewed yet: `cxd review --wait` or `cxd gate --wait SECS`",
            ),
            Decision::Fail(Reason::Blocking {
                count,
                threshold,
                outside,
            }) => {
                write!(
                    f,
                    "{count} open finding(s) at or above {threshold}: fix them, or `cxd dismiss ID --reason ...`"
                )?;
                if *outside > 0 {
                    write!(f, " ({outside} more outside the change do not block)")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reviewed up to date, idle, nothing open, threshold high.
    fn clean() -> Facts {
        Facts {
            threshold: Severity::High,
            scope: GateScope::All,
            open: SeverityCounts::default(),
            outside: SeverityCounts::default(),
            up_to_date: true,
            state: WorkspaceState::Idle,
            halt_error: None,
            timed_out: false,
        }
    }

    fn with_open(threshold: Severity, open: Severity) -> Facts {
        let mut facts = clean();
        facts.threshold = threshold;
        facts.open.add(open);
        facts
    }

    #[test]
    fn a_clean_reviewed_tree_passes() {
        let d = decide(&clean());
        assert!(d.passed());
        assert_eq!(
            d.to_string(),
            "reviewed up to date; nothing open at or above high"
        );
    }

    #[test]
    fn a_finding_just_below_the_threshold_passes() {
        assert!(decide(&with_open(Severity::High, Severity::Medium)).passed());
        assert!(decide(&with_open(Severity::Low, Severity::Info)).passed());
    }

    #[test]
    fn a_finding_at_the_threshold_fails() {
        assert_eq!(
            decide(&with_open(Severity::High, Severity::High)),
            Decision::Fail(Reason::Blocking {
                count: 1,
                threshold: Severity::High,
                outside: 0,
            })
        );
        assert!(!decide(&with_open(Severity::Info, Severity::Info)).passed());
    }

    #[test]
    fn a_finding_above_the_threshold_fails() {
        let d = decide(&with_open(Severity::Medium, Severity::Critical));
        assert!(!d.passed());
        assert_eq!(
            d.to_string(),
            "1 open finding(s) at or above medium: fix them, or `cxd dismiss ID --reason ...`"
        );
        let mut facts = with_open(Severity::Low, Severity::Critical);
        facts.open.add(Severity::Low);
        facts.open.add(Severity::Info);
        assert_eq!(facts.blocking(), 2, "info is below low and does not count");
    }

    #[test]
    fn unreviewed_changes_fail_even_with_nothing_open() {
        let mut facts = clean();
        facts.up_to_date = false;
        facts.state = WorkspaceState::Settling;
        assert_eq!(decide(&facts), Decision::Fail(Reason::Unreviewed));
    }

    #[test]
    fn unreviewed_changes_are_reported_before_findings() {
        let mut facts = with_open(Severity::High, Severity::Critical);
        facts.up_to_date = false;
        assert_eq!(decide(&facts), Decision::Fail(Reason::Unreviewed));
    }

    #[test]
    fn a_running_review_fails_and_says_to_wait() {
        let mut facts = clean();
        facts.up_to_date = false;
        facts.state = WorkspaceState::Reviewing;
        let d = decide(&facts);
        assert_eq!(d, Decision::Fail(Reason::Reviewing));
        assert!(d.to_string().contains("cxd gate --wait"), "{d}");
        facts.timed_out = true;
        assert_eq!(decide(&facts), Decision::Fail(Reason::TimedOut));
    }

    /// A high finding in the change and a critical one on code the change did not touch.
    fn one_in_one_outside(scope: GateScope) -> Facts {
        let mut facts = with_open(Severity::High, Severity::High);
        facts.scope = scope;
        facts.outside.add(Severity::Critical);
        facts
    }

    #[test]
    fn with_scope_change_only_findings_in_the_change_block() {
        let facts = one_in_one_outside(GateScope::Change);
        assert_eq!((facts.blocking(), facts.outside_change()), (1, 1));
        let d = decide(&facts);
        assert_eq!(
            d,
            Decision::Fail(Reason::Blocking {
                count: 1,
                threshold: Severity::High,
                outside: 1,
            })
        );
        assert!(
            d.to_string()
                .ends_with("(1 more outside the change do not block)"),
            "{d}"
        );
    }

    #[test]
    fn with_scope_change_findings_outside_it_pass_and_are_named() {
        let mut facts = clean();
        facts.scope = GateScope::Change;
        facts.outside.add(Severity::Critical);
        facts.outside.add(Severity::Low);
        let d = decide(&facts);
        assert_eq!(
            d,
            Decision::Pass {
                threshold: Severity::High,
                outside: 1,
            },
            "the low one is below the threshold: not counted at all"
        );
        assert!(d.to_string().contains("1 outside it, not blocking"), "{d}");
    }

    #[test]
    fn with_scope_all_findings_outside_the_change_block_too() {
        let facts = one_in_one_outside(GateScope::All);
        assert_eq!((facts.blocking(), facts.outside_change()), (2, 0));
        let mut facts = clean();
        facts.outside.add(Severity::Critical);
        assert_eq!(
            decide(&facts),
            Decision::Fail(Reason::Blocking {
                count: 1,
                threshold: Severity::High,
                outside: 0,
            })
        );
    }

    #[test]
    fn with_scope_change_unreviewed_changes_still_come_first() {
        let mut facts = one_in_one_outside(GateScope::Change);
        facts.open = SeverityCounts::default();
        facts.up_to_date = false;
        assert_eq!(decide(&facts), Decision::Fail(Reason::Unreviewed));
    }

    #[test]
    fn halted_paused_and_missing_say_why() {
        let mut facts = clean();
        facts.up_to_date = false;
        facts.state = WorkspaceState::Halted;
        facts.halt_error = Some("codex exited 1: quota".into());
        assert_eq!(
            decide(&facts).to_string(),
            "the last review failed: codex exited 1: quota"
        );
        facts.state = WorkspaceState::Paused;
        assert_eq!(decide(&facts), Decision::Fail(Reason::Paused));
        facts.state = WorkspaceState::Missing;
        assert_eq!(decide(&facts), Decision::Fail(Reason::Missing));
    }
}
