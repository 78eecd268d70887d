//! When the stop hook stops asking the agent for fixes and hands the decision to the user:
//! more rounds cannot settle a disagreement Codex upheld, an architecture question, a loop that
//! churns, or a turn that used up its rounds. Pure, so each trigger is unit-tested;
//! `requests::gate` gathers the facts.

use cxd_proto::domain::{EscalationWhy, Ruling};
use cxd_proto::status::RoundCounts;

use crate::convergence;

/// One blocking finding, as far as escalation cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocking {
    /// Its category (`architecture` escalates).
    pub category: String,
    /// Codex's ruling on its newest dispute, if any.
    pub ruling: Option<Ruling>,
}

/// What the escalation decision reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The open findings that make the gate block.
    pub blocking: Vec<Blocking>,
    /// The session's rounds, oldest first.
    pub rounds: Vec<RoundCounts>,
    /// Stops already blocked this turn.
    pub stops_blocked: u32,
    /// `gate.max_rounds`.
    pub max_rounds: u32,
}

/// Why to escalate instead of blocking for fixes, the first trigger that applies (None: ask
/// for fixes as usual). Only called when the gate blocks on a review of the current tree.
pub fn decide(facts: &Facts) -> Option<EscalationWhy> {
    if facts
        .blocking
        .iter()
        .any(|b| b.ruling == Some(Ruling::Uphold))
    {
        Some(EscalationWhy::Upheld)
    } else if facts.blocking.iter().any(|b| b.category == "architecture") {
        Some(EscalationWhy::Architecture)
    } else if convergence::plateau(&facts.rounds) {
        Some(EscalationWhy::Plateau)
    } else if facts.max_rounds > 0 && facts.stops_blocked.saturating_add(1) >= facts.max_rounds {
        // This block would be the last one the cap allows: hand over now rather than let the
        // agent stop after it with nobody told.
        Some(EscalationWhy::RoundCap)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bug() -> Blocking {
        Blocking {
            category: "bug".into(),
            ruling: None,
        }
    }

    fn facts(blocking: Vec<Blocking>) -> Facts {
        Facts {
            blocking,
            rounds: Vec::new(),
            stops_blocked: 0,
            max_rounds: 3,
        }
    }

    fn churn() -> RoundCounts {
        RoundCounts {
            review: 1,
            opened: 1,
            carried: 0,
            fixed: 1,
            withdrawn: 0,
            blocking_opened: 1,
            blocking_closed: 1,
        }
    }

    #[test]
    fn an_ordinary_blocking_finding_asks_for_fixes() {
        assert_eq!(decide(&facts(vec![bug()])), None);
    }

    #[test]
    fn an_upheld_dispute_escalates() {
        let mut upheld = bug();
        upheld.ruling = Some(Ruling::Uphold);
        assert_eq!(
            decide(&facts(vec![bug(), upheld])),
            Some(EscalationWhy::Upheld)
        );
        let mut withdrawn = bug();
        withdrawn.ruling = Some(Ruling::Withdraw);
        assert_eq!(decide(&facts(vec![withdrawn])), None);
    }

    #[test]
    fn an_architecture_finding_escalates() {
        let mut arch = bug();
        arch.category = "architecture".into();
        assert_eq!(
            decide(&facts(vec![arch])),
            Some(EscalationWhy::Architecture)
        );
    }

    #[test]
    fn a_plateau_escalates() {
        let mut f = facts(vec![bug()]);
        f.rounds = vec![churn()];
        assert_eq!(decide(&f), None);
        f.rounds.push(churn());
        assert_eq!(decide(&f), Some(EscalationWhy::Plateau));
    }

    #[test]
    fn the_last_block_the_cap_allows_escalates() {
        let mut f = facts(vec![bug()]);
        f.stops_blocked = 1;
        assert_eq!(decide(&f), None);
        f.stops_blocked = 2;
        assert_eq!(decide(&f), Some(EscalationWhy::RoundCap));
        f.max_rounds = 0;
        f.stops_blocked = 0;
        assert_eq!(decide(&f), None, "no blocks at all: nothing to hand over");
    }
}
