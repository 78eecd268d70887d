//! Whether the review loop converges: the rounds of the current agent session, read from the
//! audit trail (`edit` entries name the agent's session, `review_finished` entries what each
//! review did to the findings), counted against the gate's threshold, and the trend they show.
//! Pure, so plateau detection and the trend word are unit-tested; `store::loops` reads the
//! entries.

use std::collections::HashMap;

use cxd_proto::domain::{Severity, Trend};
use cxd_proto::status::RoundCounts;
use serde_json::Value;

use crate::store::events::EventRow;
use crate::store::findings::parse_id;

/// What one review did, by finding row id, as its `review_finished` entry says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    /// The review id.
    pub review: i64,
    /// Findings it opened, and resolved ones it reopened.
    pub opened: Vec<i64>,
    /// Open findings reported again or listed as still open.
    pub carried: Vec<i64>,
    /// Findings it said are fixed.
    pub fixed: Vec<i64>,
    /// Disputed findings it withdrew.
    pub withdrawn: Vec<i64>,
}

/// The agent session the rounds belong to (`session`, else the one behind the newest agent
/// edit; None when no agent edit is known) and its reviews, oldest first. A session's rounds
/// are the reviews after its first edit; with no session, every review in `events` counts.
pub fn session_rounds(events: &[EventRow], session: Option<&str>) -> (Option<String>, Vec<Round>) {
    let session = session.map(str::to_owned).or_else(|| {
        events
            .iter()
            .rev()
            .find_map(|e| agent_session(e))
            .map(str::to_owned)
    });
    let start = session
        .as_deref()
        .and_then(|s| events.iter().find(|e| agent_session(e) == Some(s)))
        .map_or(i64::MIN, |e| e.id);
    let rounds = events
        .iter()
        .filter(|e| e.id > start && e.kind == "review_finished")
        .filter_map(|e| round(&e.data))
        .collect();
    (session, rounds)
}

/// The agent session behind an `edit` entry (None: a person's edit, or not an edit).
fn agent_session(e: &EventRow) -> Option<&str> {
    (e.kind == "edit" && e.data["by"] == "agent")
        .then(|| e.data["session"].as_str())
        .flatten()
}

/// One `review_finished` entry as a round (None: not a review of code, e.g. one that failed
/// before answering has empty lists and still counts; an entry without a review id does not).
fn round(data: &Value) -> Option<Round> {
    let ids = |key: &str| -> Vec<i64> {
        data[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter_map(parse_id)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut opened = ids("opened");
    opened.extend(ids("reopened"));
    Some(Round {
        review: data["review"].as_i64()?,
        opened,
        carried: ids("carried"),
        fixed: ids("resolved"),
        withdrawn: ids("withdrawn"),
    })
}

/// A round's counts; a finding is blocking when `severity` knows it at or above `threshold`.
pub fn counts(
    round: &Round,
    severity: &HashMap<i64, Severity>,
    threshold: Severity,
) -> RoundCounts {
    let blocking = |ids: &[i64]| -> u64 {
        ids.iter()
            .filter(|id| severity.get(id).is_some_and(|s| *s >= threshold))
            .count() as u64
    };
    RoundCounts {
        review: round.review,
        opened: round.opened.len() as u64,
        carried: round.carried.len() as u64,
        fixed: round.fixed.len() as u64,
        withdrawn: round.withdrawn.len() as u64,
        blocking_opened: blocking(&round.opened),
        blocking_closed: blocking(&round.fixed) + blocking(&round.withdrawn),
    }
}

/// The loop plateaus: the two newest reviews each opened as many blocking findings as they
/// closed (and opened some: a review that touches nothing blocking is not churn).
pub fn plateau(rounds: &[RoundCounts]) -> bool {
    rounds.len() >= 2
        && rounds[rounds.len() - 2..]
            .iter()
            .all(|r| r.blocking_opened > 0 && r.blocking_opened == r.blocking_closed)
}

/// The word for the loop: a decision waiting for a person comes first, then a plateau.
pub fn trend(rounds: &[RoundCounts], needs_you: bool) -> Trend {
    if needs_you {
        Trend::NeedsYou
    } else if plateau(rounds) {
        Trend::Plateau
    } else {
        Trend::Converging
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ev(id: i64, kind: &str, data: Value) -> EventRow {
        EventRow {
            id,
            at: format!("t{id}"),
            workspace: Some("/w".into()),
            kind: kind.into(),
            data,
        }
    }

    fn rc(opened: u64, closed: u64) -> RoundCounts {
        RoundCounts {
            review: 1,
            opened,
            carried: 0,
            fixed: closed,
            withdrawn: 0,
            blocking_opened: opened,
            blocking_closed: closed,
        }
    }

    #[test]
    fn two_reviews_that_each_open_as_many_as_they_close_are_a_plateau() {
        assert!(plateau(&[rc(1, 0), rc(1, 1), rc(2, 2)]));
        assert!(!plateau(&[rc(1, 1)]), "one round is not a trend");
        assert!(!plateau(&[rc(1, 1), rc(0, 1)]), "closing more converges");
        assert!(!plateau(&[rc(2, 1), rc(1, 1)]), "both rounds must churn");
        assert!(
            !plateau(&[rc(0, 0), rc(0, 0)]),
            "quiet reviews are no churn"
        );
    }

    #[test]
    fn the_trend_word_puts_a_waiting_person_first() {
        assert_eq!(trend(&[], false), Trend::Converging);
        assert_eq!(trend(&[rc(1, 0), rc(0, 1)], false), Trend::Converging);
        assert_eq!(trend(&[rc(1, 1), rc(1, 1)], false), Trend::Plateau);
        assert_eq!(trend(&[rc(1, 1), rc(1, 1)], true), Trend::NeedsYou);
        assert_eq!(trend(&[], true), Trend::NeedsYou);
    }

    #[test]
    fn a_session_counts_the_reviews_after_its_first_edit() {
        let events = [
            ev(1, "review_finished", json!({"review": 1, "opened": ["F1"]})),
            ev(2, "edit", json!({"by": "agent", "session": "s1"})),
            ev(
                3,
                "review_finished",
                json!({"review": 2, "opened": ["F2"], "reopened": ["F1"], "carried": ["F9"]}),
            ),
            ev(4, "edit", json!({"by": "human", "session": null})),
            ev(
                5,
                "review_finished",
                json!({"review": 3, "resolved": ["F2"], "withdrawn": ["F1"]}),
            ),
            ev(6, "review_finished", json!({"opened": ["F7"]})),
        ];
        let (session, rounds) = session_rounds(&events, None);
        assert_eq!(session.as_deref(), Some("s1"));
        assert_eq!(
            rounds,
            [
                Round {
                    review: 2,
                    opened: vec![2, 1],
                    carried: vec![9],
                    ..Round::default()
                },
                Round {
                    review: 3,
                    fixed: vec![2],
                    withdrawn: vec![1],
                    ..Round::default()
                },
            ]
        );
        let (_, other) = session_rounds(&events, Some("s2"));
        assert_eq!(other.len(), 3, "an unknown session: every review counts");
        let (none, all) = session_rounds(&events[..1], None);
        assert_eq!((none, all.len()), (None, 1));
    }

    #[test]
    fn counts_split_blocking_findings_by_the_threshold() {
        let round = Round {
            review: 4,
            opened: vec![1, 2],
            carried: vec![3],
            fixed: vec![3, 5],
            withdrawn: vec![4],
        };
        let severity = HashMap::from([
            (1, Severity::High),
            (2, Severity::Low),
            (3, Severity::Critical),
            (4, Severity::High),
        ]);
        let c = counts(&round, &severity, Severity::High);
        assert_eq!((c.opened, c.carried, c.fixed, c.withdrawn), (2, 1, 2, 1));
        assert_eq!((c.blocking_opened, c.blocking_closed), (1, 2));
    }
}
