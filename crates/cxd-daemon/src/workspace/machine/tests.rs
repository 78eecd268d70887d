//! The review cycle's rules, each driven through a simulated workspace on virtual time: the
//! simulation answers the machine's effects the way the actor does (a look at the tree reports
//! whether it differs from the last reviewed one; codex runs until the test ends it).

use std::collections::VecDeque;

use super::*;

const QUIET: Duration = Duration::from_millis(1_000);
const MAX_WAIT: Duration = Duration::from_millis(10_000);

/// A workspace with a tree, a codex and an asker, all simulated.
struct Sim {
    m: Machine,
    now: Instant,
    /// Edits so far (the tree's version).
    version: u64,
    /// The version the last answered review covered.
    reviewed: u64,
    /// The version the running review covers.
    covering: Option<u64>,
    /// Whether the root exists.
    root: bool,
    reviews: u32,
    plans: u32,
    /// Every effect, in order.
    effects: Vec<Effect>,
}

impl Sim {
    fn new() -> Self {
        Self::with(false)
    }

    fn with(paused: bool) -> Self {
        Self {
            m: Machine::new(paused, QUIET, MAX_WAIT),
            now: Instant::now(),
            version: 0,
            reviewed: 0,
            covering: None,
            root: true,
            reviews: 0,
            plans: 0,
            effects: Vec::new(),
        }
    }

    /// Feed one input and carry out what follows from it, as the actor does.
    fn feed(&mut self, input: Input) -> Vec<Effect> {
        let mut out = Vec::new();
        let mut queue = VecDeque::from([input]);
        while let Some(input) = queue.pop_front() {
            for effect in self.m.step(input, self.now) {
                match &effect {
                    Effect::Inspect { why, .. } => {
                        let changed = match why {
                            Why::Review { all: true } => true,
                            _ => self.version != self.reviewed,
                        };
                        let found = if changed {
                            Inspection::Changed
                        } else {
                            Inspection::Unchanged
                        };
                        queue.push_back(Input::Inspected(*why, found));
                    }
                    Effect::StartReview { .. } => {
                        assert!(self.covering.is_none(), "two codex runs at once");
                        self.reviews += 1;
                        self.covering = Some(self.version);
                    }
                    Effect::StartPlan => {
                        assert!(self.covering.is_none(), "two codex runs at once");
                        self.plans += 1;
                        self.covering = Some(self.reviewed);
                    }
                    Effect::LookForRoot => queue.push_back(if self.root {
                        Input::RootBack
                    } else {
                        Input::RootStillGone
                    }),
                    Effect::Rewatch => queue.push_back(Input::Watching { resumed: true }),
                    _ => {}
                }
                out.push(effect.clone());
                self.effects.push(effect);
            }
        }
        out
    }

    /// An edit of the tree, seen by the watcher.
    fn edit(&mut self) {
        self.version += 1;
        self.feed(Input::Edited { at: self.now });
    }

    /// Let `d` pass, sending `Tick` at each deadline the machine asks for.
    fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        while let Some(at) = self.m.deadline().filter(|&at| at <= until) {
            self.now = self.now.max(at);
            self.feed(Input::Tick);
        }
        self.now = until;
    }

    /// The running codex ends.
    fn end(&mut self, ending: Ending) -> Vec<Effect> {
        let covered = self.covering.take().expect("a run to end");
        if ending == Ending::Answered {
            self.reviewed = self.reviewed.max(covered);
        }
        self.feed(Input::Ended(ending))
    }

    fn state(&self) -> WorkspaceState {
        self.m.state().0
    }
}

#[test]
fn a_burst_of_any_size_yields_one_review_after_the_quiet_period() {
    for edits in [1, 10, 1_000] {
        let mut sim = Sim::new();
        for _ in 0..edits {
            sim.edit();
            sim.advance(Duration::from_millis(5));
        }
        assert_eq!(sim.state(), WorkspaceState::Settling, "{edits} edits");
        sim.advance(QUIET);
        assert_eq!(sim.reviews, 1, "{edits} edits give one review");
        assert_eq!(sim.state(), WorkspaceState::Reviewing);
        sim.end(Ending::Answered);
        sim.advance(MAX_WAIT * 3);
        assert_eq!(sim.reviews, 1, "and nothing more once it is reviewed");
        assert_eq!(sim.state(), WorkspaceState::Idle);
        assert!(sim.m.up_to_date());
    }
}

#[test]
fn a_burst_that_never_pauses_is_reviewed_at_the_maximum_wait() {
    let mut sim = Sim::new();
    let start = sim.now;
    while sim.reviews == 0 {
        assert!(sim.now - start <= MAX_WAIT, "no review by the maximum wait");
        sim.edit();
        sim.advance(QUIET / 2);
    }
    assert!(
        sim.now - start >= MAX_WAIT,
        "reviewed before the burst had to end"
    );
    assert_eq!(sim.reviews, 1);
}

#[test]
fn edits_during_a_review_earn_exactly_one_follow_up_after_it() {
    let mut sim = Sim::new();
    sim.edit();
    sim.advance(QUIET);
    assert_eq!(sim.reviews, 1);
    // Three bursts settle while codex runs.
    for _ in 0..3 {
        sim.edit();
        sim.advance(QUIET * 2);
    }
    assert_eq!(sim.reviews, 1, "no second review while one runs");
    sim.end(Ending::Answered);
    assert_eq!(sim.reviews, 2, "one follow-up when it ends");
    sim.advance(MAX_WAIT * 2);
    assert_eq!(sim.reviews, 2, "and only one");
    sim.end(Ending::Answered);
    sim.advance(MAX_WAIT * 2);
    assert_eq!(sim.reviews, 2, "the follow-up covered every edit");
    assert!(sim.m.up_to_date());
}

#[test]
fn a_follow_up_with_no_net_change_starts_nothing() {
    let mut sim = Sim::new();
    sim.edit();
    sim.advance(QUIET);
    // An edit that is undone before the review ends (the tree is as the review saw it).
    let at = sim.now;
    sim.feed(Input::Edited { at });
    sim.advance(QUIET * 2);
    sim.end(Ending::Answered);
    assert_eq!(sim.reviews, 1);
    assert!(
        sim.effects.contains(&Effect::Inspect {
            why: Why::Settled,
            full: false
        }),
        "the follow-up looked at the tree"
    );
    assert_eq!(sim.state(), WorkspaceState::Idle);
}

#[test]
fn a_failure_halts_and_nothing_retries_by_itself() {
    let mut sim = Sim::new();
    sim.edit();
    sim.advance(QUIET);
    sim.edit();
    sim.advance(QUIET * 2);
    let after = sim.end(Ending::Failed("quota".into()));
    assert!(after.is_empty(), "no follow-up after a failure: {after:?}");
    assert_eq!(sim.state(), WorkspaceState::Halted);
    assert_eq!(sim.m.halted(), Some("quota"));
    for _ in 0..5 {
        sim.edit();
        sim.advance(MAX_WAIT * 2);
    }
    assert_eq!(sim.reviews, 1, "edits after a failure start no review");
    assert_eq!(sim.state(), WorkspaceState::Halted);
    // The gate and the stop hook do not retry either.
    assert_eq!(
        sim.feed(Input::ReviewAsked {
            all: false,
            retry_halted: false
        }),
        vec![Effect::NoReview]
    );
    assert_eq!(sim.reviews, 1);
    // `cxd review` does.
    sim.feed(Input::ReviewAsked {
        all: false,
        retry_halted: true,
    });
    assert_eq!(sim.reviews, 2);
    assert_eq!(sim.state(), WorkspaceState::Reviewing);
}

#[test]
fn a_quota_reset_runs_exactly_one_review_of_everything_pending() {
    let mut sim = Sim::new();
    sim.edit();
    sim.advance(QUIET);
    sim.end(Ending::Failed("quota".into()));
    for _ in 0..5 {
        sim.edit();
        sim.advance(MAX_WAIT * 2);
    }
    assert_eq!(sim.reviews, 1);
    sim.feed(Input::QuotaReset);
    assert_eq!(sim.reviews, 2, "one review of what piled up");
    assert_eq!(sim.state(), WorkspaceState::Reviewing);
    // A second reset (the clock jumped again) while it runs starts nothing more.
    assert!(sim.feed(Input::QuotaReset).is_empty());
    sim.end(Ending::Answered);
    assert!(sim.feed(Input::QuotaReset).is_empty());
    assert_eq!(sim.reviews, 2);
    assert_eq!(sim.state(), WorkspaceState::Idle);
}

#[test]
fn a_quota_reset_with_nothing_pending_or_paused_starts_nothing() {
    let mut sim = Sim::new();
    sim.edit();
    sim.advance(QUIET);
    sim.reviewed = sim.version;
    sim.end(Ending::Failed("quota".into()));
    sim.feed(Input::QuotaReset);
    assert_eq!(sim.reviews, 1);
    assert_eq!(sim.state(), WorkspaceState::Idle);

    let mut sim = Sim::new();
    sim.edit();
    sim.advance(QUIET);
    sim.end(Ending::Failed("quota".into()));
    sim.feed(Input::Pause);
    sim.feed(Input::QuotaReset);
    assert_eq!(sim.reviews, 1);
}

#[test]
fn unpause_clears_a_halt_and_reviews_what_is_left_after_the_quiet_period() {
    let mut sim = Sim::new();
    sim.edit();
    sim.advance(QUIET);
    sim.end(Ending::Failed("network".into()));
    sim.feed(Input::Unpause);
    assert_eq!(sim.state(), WorkspaceState::Settling);
    assert_eq!(sim.reviews, 1, "not at once");
    sim.advance(QUIET);
    assert_eq!(sim.reviews, 2);
}

#[test]
fn a_paused_workspace_records_edits_and_reviews_none_until_unpaused() {
    let mut sim = Sim::with(true);
    assert_eq!(sim.state(), WorkspaceState::Paused);
    sim.edit();
    sim.advance(MAX_WAIT * 2);
    assert_eq!(sim.reviews, 0);
    assert!(
        sim.effects.iter().any(|e| matches!(
            e,
            Effect::Inspect {
                why: Why::Settled,
                ..
            }
        )),
        "the burst is still looked at (and recorded)"
    );
    assert_eq!(
        sim.feed(Input::ReviewAsked {
            all: false,
            retry_halted: true
        }),
        vec![Effect::Refuse(Refusal::Paused)]
    );
    assert!(!sim.m.up_to_date(), "the edit is not reviewed");
    sim.feed(Input::Unpause);
    sim.advance(QUIET);
    assert_eq!(sim.reviews, 1);
    // Pausing during a review lets it finish, and holds the follow-up.
    sim.edit();
    sim.feed(Input::Pause);
    sim.advance(QUIET * 2);
    sim.end(Ending::Answered);
    sim.advance(MAX_WAIT * 2);
    assert_eq!(sim.reviews, 1);
    assert_eq!(sim.state(), WorkspaceState::Paused);
}

#[test]
fn a_plan_waits_for_the_running_review_and_runs_before_its_follow_up() {
    let mut sim = Sim::new();
    sim.edit();
    sim.advance(QUIET);
    assert_eq!(sim.feed(Input::PlanAsked), vec![Effect::QueuePlan]);
    assert_eq!(
        sim.feed(Input::PlanAsked),
        vec![Effect::Refuse(Refusal::PlanQueued)],
        "one plan waits at a time"
    );
    sim.edit();
    sim.advance(QUIET * 2);
    assert_eq!(sim.end(Ending::Answered), vec![Effect::StartPlan]);
    assert_eq!((sim.reviews, sim.plans), (1, 1));
    assert_eq!(sim.state(), WorkspaceState::Reviewing);
    sim.end(Ending::Answered);
    assert_eq!(sim.reviews, 2, "the follow-up runs after the plan");
}

#[test]
fn a_plan_on_an_idle_workspace_starts_at_once_even_when_paused() {
    let mut sim = Sim::with(true);
    assert_eq!(sim.feed(Input::PlanAsked), vec![Effect::StartPlan]);
    sim.end(Ending::Answered);
    assert!(sim.m.up_to_date() || sim.version == 0);
}

#[test]
fn a_root_that_disappears_mid_review_cancels_it_and_is_looked_for() {
    let mut sim = Sim::new();
    sim.edit();
    sim.advance(QUIET);
    sim.feed(Input::PlanAsked);
    sim.edit();
    sim.root = false;
    assert_eq!(
        sim.feed(Input::RootGone),
        vec![Effect::Unwatch, Effect::Cancel]
    );
    assert_eq!(sim.state(), WorkspaceState::Missing);
    assert!(sim.m.running(), "codex is still winding down");
    // Edits and requests while it is gone change nothing.
    sim.edit();
    assert_eq!(
        sim.feed(Input::ReviewAsked {
            all: false,
            retry_halted: true
        }),
        vec![Effect::Refuse(Refusal::Missing)]
    );
    assert_eq!(
        sim.end(Ending::Interrupted),
        vec![Effect::RefuseQueuedPlan(Refusal::Missing)],
        "the waiting plan is told, and no follow-up runs"
    );
    assert!(!sim.m.running());
    sim.advance(MISSING_POLL * 5);
    let looks = sim
        .effects
        .iter()
        .filter(|e| **e == Effect::LookForRoot)
        .count();
    assert_eq!(looks, 5, "looked for every {MISSING_POLL:?}");
    assert_eq!((sim.reviews, sim.plans), (1, 0));
    // It comes back: what changed meanwhile is reviewed after the quiet period.
    sim.root = true;
    sim.advance(MISSING_POLL);
    assert!(sim.effects.contains(&Effect::Rewatch));
    assert_eq!(sim.state(), WorkspaceState::Settling);
    sim.advance(QUIET);
    assert_eq!(sim.reviews, 2);
    assert_eq!(
        sim.m.deadline(),
        None,
        "no timer while it runs and nothing settles"
    );
}

#[test]
fn a_request_during_a_review_joins_it_and_follows_up() {
    let mut sim = Sim::new();
    sim.edit();
    sim.advance(QUIET);
    sim.edit();
    assert_eq!(
        sim.feed(Input::ReviewAsked {
            all: false,
            retry_halted: true
        }),
        vec![Effect::JoinRunning]
    );
    sim.end(Ending::Answered);
    assert_eq!(sim.reviews, 2);
}

#[test]
fn a_request_with_nothing_changed_starts_nothing() {
    let mut sim = Sim::new();
    let effects = sim.feed(Input::ReviewAsked {
        all: false,
        retry_halted: true,
    });
    assert_eq!(
        effects,
        vec![
            Effect::Inspect {
                why: Why::Review { all: false },
                full: true
            },
            Effect::NoReview
        ]
    );
    assert_eq!(sim.reviews, 0);
}

#[test]
fn a_review_against_head_does_not_count_as_covering_the_last_edits() {
    let mut sim = Sim::new();
    sim.feed(Input::ReviewAsked {
        all: true,
        retry_halted: true,
    });
    assert_eq!(sim.reviews, 1);
    sim.end(Ending::Answered);
    assert!(sim.m.up_to_date());
    sim.edit();
    sim.advance(QUIET);
    assert_eq!(sim.reviews, 2);
}

#[test]
fn a_check_looks_at_the_whole_tree_and_queues_what_is_unreviewed() {
    let mut sim = Sim::new();
    assert_eq!(
        sim.feed(Input::CheckAsked),
        vec![
            Effect::Inspect {
                why: Why::Check,
                full: true
            },
            Effect::UpToDate(true)
        ]
    );
    // A write the watcher has not reported yet.
    sim.version += 1;
    assert_eq!(sim.feed(Input::CheckAsked)[1], Effect::UpToDate(false));
    assert_eq!(sim.state(), WorkspaceState::Settling, "queued for review");
    sim.advance(QUIET);
    assert_eq!(sim.reviews, 1);
    assert_eq!(
        sim.feed(Input::CheckAsked),
        vec![Effect::UpToDate(false)],
        "not up to date while a review runs"
    );
}

#[test]
fn a_failed_look_warns_when_nobody_asked_and_fails_the_asker_otherwise() {
    let mut m = Machine::new(false, QUIET, MAX_WAIT);
    let now = Instant::now();
    let failed = Inspection::Failed("disk full".into());
    assert_eq!(
        m.step(Input::Inspected(Why::Settled, failed.clone()), now),
        vec![Effect::Warn("disk full".into())]
    );
    assert_eq!(
        m.step(Input::Inspected(Why::Check, failed), now),
        vec![Effect::Fail("disk full".into())]
    );
    assert_eq!(m.state().0, WorkspaceState::Idle);
}

#[test]
fn git_holding_its_index_lock_holds_the_settle_until_it_lets_go() {
    let mut sim = Sim::new();
    sim.feed(Input::Git {
        head_moved: false,
        index_locked: true,
    });
    sim.edit();
    sim.advance(QUIET * 3);
    assert_eq!(sim.reviews, 0, "no review while git is busy");
    sim.feed(Input::Git {
        head_moved: true,
        index_locked: false,
    });
    sim.advance(QUIET);
    assert_eq!(sim.reviews, 1);
}

#[test]
fn state_names_the_most_important_condition() {
    let mut sim = Sim::new();
    assert_eq!(sim.state(), WorkspaceState::Idle);
    sim.edit();
    assert_eq!(sim.state(), WorkspaceState::Settling);
    sim.advance(QUIET);
    let started = sim.now;
    sim.advance(QUIET / 4);
    sim.edit();
    assert_eq!(
        sim.state(),
        WorkspaceState::Reviewing,
        "reviewing over settling"
    );
    sim.feed(Input::Pause);
    assert_eq!(sim.state(), WorkspaceState::Paused, "paused over reviewing");
    let (_, since) = sim.m.state();
    assert_eq!(since, None);
    sim.feed(Input::Unpause);
    assert_eq!(sim.m.state().1, Some(started), "reviewing since it started");
    sim.feed(Input::RootGone);
    assert_eq!(
        sim.state(),
        WorkspaceState::Missing,
        "missing over everything"
    );
}

#[test]
fn the_quiet_period_counts_from_when_the_edit_was_seen() {
    let mut sim = Sim::new();
    // Seen 300 ms before the machine hears of it (the workspace was busy): due 700 ms later.
    let seen = sim.now;
    sim.now += Duration::from_millis(300);
    sim.feed(Input::Edited { at: seen });
    assert_eq!(sim.m.deadline(), Some(seen + QUIET));
    // A time after the step's own is taken as the step's.
    let mut sim = Sim::new();
    let later = sim.now + Duration::from_millis(500);
    sim.feed(Input::Edited { at: later });
    assert_eq!(sim.m.deadline(), Some(sim.now + QUIET));
}
