//! When a workspace reviews, as pure logic: its states (ARCHITECTURE.md, "The workspace's
//! states") and every rule that moves between them, with no I/O, no channels and no store,
//! so the rules are unit-tested on virtual time. The actor (`actor.rs`) feeds it what
//! happened and carries out what it says.
//!
//! The rules, in one place:
//! - an edit burst settles after a quiet period (capped by a maximum wait) and then yields at
//!   most one review;
//! - edits while a review runs earn exactly one follow-up, started when it ends; never two at
//!   once;
//! - a failed review halts the workspace: nothing retries by itself, `cxd review` or
//!   `cxd unpause` starts again — except a spent usage limit whose reset time is known: when
//!   it has come, one review of what is pending runs;
//! - a paused workspace records edits but starts no review;
//! - a plan asked for during a review waits for it (one at a time), and runs before the
//!   follow-up;
//! - a root that disappears cancels the running review and is looked for every few seconds.
//!
//! One file on purpose (a little over 600 lines): the phases, inputs, effects and the one
//! transition function that relates them read best side by side.

use std::time::Duration;

use cxd_proto::domain::WorkspaceState;
use tokio::time::Instant;

use crate::settle::Settle;

/// How often a missing root is looked for; no timer runs while nothing is missing.
pub const MISSING_POLL: Duration = Duration::from_secs(2);

/// Where the workspace is in its cycle (paused and settling are kept beside it: edits settle
/// in every phase, and a pause does not stop a running review).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// No codex runs; edits may still be settling.
    Idle,
    /// Codex is running.
    Running(Run),
    /// The last review failed; nothing reviews until the user says so.
    Halted {
        /// When it halted, for the time in state that status shows.
        since: Instant,
        /// The failure and what to do about it.
        why: String,
    },
    /// The root is gone; it is looked for at `check_at`.
    Missing {
        /// When to look for the root again.
        check_at: Instant,
        /// The run that was under way when the root went, cancelled and not ended yet.
        ending: Option<Run>,
    },
}

/// A codex run under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// A code review or a plan validation.
    pub kind: RunKind,
    /// When it started, for the time in state that status shows.
    pub since: Instant,
    /// Edits (or a request) came in during it: one follow-up review after it.
    pub follow_up: bool,
    /// A plan waits for it.
    pub plan_queued: bool,
}

/// What codex is running for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// A review of a change.
    Review,
    /// A plan validation.
    Plan,
}

/// Why the actor looks at the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// An edit burst settled.
    Settled,
    /// `cxd review` (and the gate, the stop hook): review now; `all` against HEAD.
    Review {
        /// Against HEAD instead of the last reviewed tree.
        all: bool,
    },
    /// Is the newest review up to date with the tree? (the gate, `cxd approve`)
    Check,
}

/// What a look at the tree found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inspection {
    /// No net change against the last reviewed tree.
    Unchanged,
    /// A change no review covers.
    Changed,
    /// The snapshot or diff failed.
    Failed(String),
}

/// How a codex run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// It answered (approve or changes requested): a review covers its tree now.
    Answered,
    /// It failed; the message says why and what to do.
    Failed(String),
    /// The daemon stopped it (shutdown, root gone): not a failure, the change stays unreviewed.
    Interrupted,
    /// It failed for a reason the daemon has mended (a refused model replaced by the user's
    /// own): look again and review at once, as after a settle.
    Retry,
}

/// Something that happened, as the actor tells the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The watcher (or the agent's hook) reported an edit, seen `at` (the quiet period counts
    /// from then; a time after the step's own is taken as the step's).
    Edited {
        /// When the edit was seen.
        at: Instant,
    },
    /// git took or let go of its index lock, or moved HEAD.
    Git {
        /// HEAD points at another commit than at the last look (a commit, checkout or reset).
        head_moved: bool,
        /// `.git/index.lock` exists: git is writing, so the tree is not looked at until it is gone.
        index_locked: bool,
    },
    /// The OS dropped events: the next look covers the whole tree.
    Overflowed,
    /// The watcher started: `resumed` when the last reviewed tree came from the store (a
    /// restart, a root that came back), so what changed meanwhile is reviewed at the next
    /// settle.
    Watching {
        /// The baseline was not snapshotted just now.
        resumed: bool,
    },
    /// The settle timings changed (config reload, a `.cxd.toml` edit).
    Timing {
        /// Quiet period (`settle.quiet_ms`).
        quiet: Duration,
        /// Cap from the first unreviewed edit.
        max_wait: Duration,
    },
    /// A deadline the machine asked for has come.
    Tick,
    /// The root is gone.
    RootGone,
    /// The root is a git work tree again.
    RootBack,
    /// The root is still gone.
    RootStillGone,
    /// The actor looked at the tree.
    Inspected(Why, Inspection),
    /// Someone asked for a review now; `retry_halted` when a halt should not stop it (`cxd
    /// review` does, the gate and the stop hook do not).
    ReviewAsked {
        /// Every uncommitted change against HEAD, not only what changed since the last review.
        all: bool,
        /// Run even when halted, clearing the halt.
        retry_halted: bool,
    },
    /// Someone asks whether the newest review covers the tree.
    CheckAsked,
    /// Someone asked for a plan validation.
    PlanAsked,
    /// The running codex ended.
    Ended(Ending),
    /// `cxd pause`.
    Pause,
    /// `cxd unpause`.
    Unpause,
    /// The usage limit that halted the workspace has reset (the actor keeps the time).
    QuotaReset,
}

/// What the actor must do. Effects naming "the asker" answer the request being handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Snapshot the tree (the whole tree when `full`, else the paths the watcher reported),
    /// diff it, record the burst, then report `Inspected(why, ..)`.
    Inspect {
        /// Why the actor looks, carried back in `Inspected` to decide what follows.
        why: Why,
        /// Look at every file, not only the reported ones.
        full: bool,
    },
    /// Start codex on the change the last inspection found.
    StartReview {
        /// An asker wants it (else an edit burst triggered it).
        asked: bool,
    },
    /// Start codex on the plan (the asker's, or the queued one).
    StartPlan,
    /// The asker waits for the running review (a follow-up covers what it did not see).
    JoinRunning,
    /// Keep the asker's plan until the running review ends.
    QueuePlan,
    /// Tell the asker no.
    Refuse(Refusal),
    /// Tell the plan that waited for the run no.
    RefuseQueuedPlan(Refusal),
    /// Tell the asker no review started: nothing to review, or halted.
    NoReview,
    /// Tell the asker whether the newest review covers the tree.
    UpToDate(bool),
    /// Tell the asker the look at the tree failed.
    Fail(String),
    /// Note in status that a look at the tree failed (nobody asked).
    Warn(String),
    /// Stop the running codex.
    Cancel,
    /// The root is gone: drop the watches and pending paths, tell the user.
    Unwatch,
    /// Look whether the root is back (answer `RootBack` or `RootStillGone`).
    LookForRoot,
    /// The root is back: snapshot and watch it again.
    Rewatch,
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The root is gone.
    Missing,
    /// Paused: reviews wait for `cxd unpause`.
    Paused,
    /// A plan already waits for the running review.
    PlanQueued,
}

/// The workspace's review cycle as a pure state machine: inputs in, effects out, no I/O.
#[derive(Debug, Clone)]
pub struct Machine {
    phase: Phase,
    paused: bool,
    settle: Settle,
    /// A change is known that no successful review covers yet.
    dirty: bool,
    /// The next look at the tree covers every file.
    full: bool,
}

impl Machine {
    /// A workspace that starts idle (paused if it was when the daemon stopped).
    pub fn new(paused: bool, quiet: Duration, max_wait: Duration) -> Self {
        Self {
            phase: Phase::Idle,
            paused,
            settle: Settle::new(quiet, max_wait),
            dirty: false,
            full: false,
        }
    }

    /// Where it is in its cycle.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The state `cxd status` shows, and since when it holds (for the states that last).
    pub fn state(&self) -> (WorkspaceState, Option<Instant>) {
        match &self.phase {
            Phase::Missing { .. } => (WorkspaceState::Missing, None),
            _ if self.paused => (WorkspaceState::Paused, None),
            Phase::Running(run) => (WorkspaceState::Reviewing, Some(run.since)),
            Phase::Halted { since, .. } => (WorkspaceState::Halted, Some(*since)),
            Phase::Idle if self.settle.is_pending() => (WorkspaceState::Settling, None),
            Phase::Idle => (WorkspaceState::Idle, None),
        }
    }

    /// Why it is halted.
    pub fn halted(&self) -> Option<&str> {
        match &self.phase {
            Phase::Halted { why, .. } => Some(why),
            _ => None,
        }
    }

    /// Whether codex is running (or winding down after a cancel).
    pub fn running(&self) -> bool {
        matches!(
            self.phase,
            Phase::Running(_)
                | Phase::Missing {
                    ending: Some(_),
                    ..
                }
        )
    }

    /// Whether the root is gone.
    pub fn missing(&self) -> bool {
        matches!(self.phase, Phase::Missing { .. })
    }

    /// Whether reviews wait for `cxd unpause`.
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Whether edits are settling.
    pub fn settling(&self) -> bool {
        self.settle.is_pending()
    }

    /// When the pending edits settle, for `status`.
    pub fn settle_deadline(&self) -> Option<Instant> {
        self.settle.deadline()
    }

    /// Whether edits are taken in (not while the root is gone).
    pub fn takes_edits(&self) -> bool {
        !self.missing()
    }

    /// No change the machine knows of waits for a review (the actor adds its pending paths).
    pub fn up_to_date(&self) -> bool {
        !self.missing() && !self.dirty && !self.running() && !self.settle.is_pending()
    }

    /// The next instant the actor must send `Tick` at; `None`: no timer at all.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Missing { check_at, .. } => Some(*check_at),
            _ => self.settle.deadline(),
        }
    }

    /// Take in what happened at `now`; say what to do.
    pub fn step(&mut self, input: Input, now: Instant) -> Vec<Effect> {
        match input {
            Input::Edited { at } => {
                if self.takes_edits() {
                    self.settle.change(at.min(now));
                }
                vec![]
            }
            Input::Git {
                head_moved,
                index_locked,
            } => {
                let released = self.settle.git_busy() && !index_locked;
                self.settle.set_git_busy(index_locked);
                // git moves HEAD just after it lets go of the index: a quiet period from the
                // release (or the move) lets the settle see both, so a checkout's files are
                // never mistaken for edits.
                if self.takes_edits() && (head_moved || (released && self.settle.is_pending())) {
                    self.settle.change(now);
                }
                vec![]
            }
            Input::Overflowed => {
                if self.takes_edits() {
                    self.full = true;
                    self.settle.change(now);
                }
                vec![]
            }
            Input::Watching { resumed } => {
                if resumed {
                    self.full = true;
                    self.settle.change(now);
                }
                vec![]
            }
            Input::Timing { quiet, max_wait } => {
                self.settle.set_timing(quiet, max_wait);
                vec![]
            }
            Input::Tick => self.tick(now),
            Input::RootGone => self.root_gone(now),
            Input::RootBack => match &mut self.phase {
                Phase::Missing { ending, .. } => {
                    self.phase = match ending.take() {
                        Some(run) => Phase::Running(run),
                        None => Phase::Idle,
                    };
                    vec![Effect::Rewatch]
                }
                _ => vec![],
            },
            Input::RootStillGone => {
                if let Phase::Missing { check_at, .. } = &mut self.phase {
                    *check_at = now + MISSING_POLL;
                }
                vec![]
            }
            Input::Inspected(why, inspection) => self.inspected(why, inspection, now),
            Input::ReviewAsked { all, retry_halted } => self.review_asked(all, retry_halted),
            Input::CheckAsked => {
                if self.missing() || self.running() {
                    return vec![Effect::UpToDate(false)];
                }
                self.full = true;
                vec![self.inspect(Why::Check)]
            }
            Input::PlanAsked => match &mut self.phase {
                Phase::Missing { .. } => vec![Effect::Refuse(Refusal::Missing)],
                Phase::Running(run) if run.plan_queued => vec![Effect::Refuse(Refusal::PlanQueued)],
                Phase::Running(run) => {
                    run.plan_queued = true;
                    vec![Effect::QueuePlan]
                }
                Phase::Idle | Phase::Halted { .. } => {
                    self.phase = Phase::Running(Run {
                        kind: RunKind::Plan,
                        since: now,
                        follow_up: false,
                        plan_queued: false,
                    });
                    vec![Effect::StartPlan]
                }
            },
            Input::Ended(ending) => self.ended(ending, now),
            Input::Pause => {
                self.paused = true;
                vec![]
            }
            Input::QuotaReset => {
                if !matches!(self.phase, Phase::Halted { .. }) {
                    return vec![];
                }
                self.phase = Phase::Idle;
                if self.paused || !self.takes_edits() {
                    return vec![];
                }
                // One look at the whole tree: what piled up meanwhile is one review.
                self.full = true;
                vec![self.inspect(Why::Settled)]
            }
            Input::Unpause => {
                self.paused = false;
                if matches!(self.phase, Phase::Halted { .. }) {
                    self.phase = Phase::Idle;
                }
                // Anything left unreviewed is reviewed after the usual quiet period.
                if self.takes_edits() {
                    self.full = true;
                    self.settle.change(now);
                }
                vec![]
            }
        }
    }

    fn inspect(&mut self, why: Why) -> Effect {
        Effect::Inspect {
            why,
            full: std::mem::take(&mut self.full),
        }
    }

    fn tick(&mut self, now: Instant) -> Vec<Effect> {
        if let Phase::Missing { check_at, .. } = self.phase {
            return if check_at <= now {
                vec![Effect::LookForRoot]
            } else {
                vec![]
            };
        }
        if !self.settle.poll(now) {
            return vec![];
        }
        self.settled()
    }

    /// A burst settled: one review now, or one follow-up after the running one.
    fn settled(&mut self) -> Vec<Effect> {
        match &mut self.phase {
            Phase::Running(run) => {
                run.follow_up = true;
                vec![]
            }
            Phase::Missing { .. } => vec![],
            Phase::Idle | Phase::Halted { .. } => vec![self.inspect(Why::Settled)],
        }
    }

    fn root_gone(&mut self, now: Instant) -> Vec<Effect> {
        if self.missing() {
            return vec![];
        }
        let ending = match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Running(mut run) => {
                // Nothing is reviewed while the root is gone.
                run.follow_up = false;
                Some(run)
            }
            _ => None,
        };
        let was_running = ending.is_some();
        self.phase = Phase::Missing {
            check_at: now + MISSING_POLL,
            ending,
        };
        self.settle.clear();
        self.full = false;
        let mut effects = vec![Effect::Unwatch];
        if was_running {
            effects.push(Effect::Cancel);
        }
        effects
    }

    fn review_asked(&mut self, all: bool, retry_halted: bool) -> Vec<Effect> {
        match &mut self.phase {
            Phase::Halted { .. } if !retry_halted => vec![Effect::NoReview],
            Phase::Missing { .. } => vec![Effect::Refuse(Refusal::Missing)],
            _ if self.paused => vec![Effect::Refuse(Refusal::Paused)],
            Phase::Running(run) => {
                // One codex per workspace: wait for the running review, and follow up after it.
                run.follow_up = true;
                vec![Effect::JoinRunning]
            }
            Phase::Idle | Phase::Halted { .. } => {
                self.phase = Phase::Idle;
                self.settle.clear();
                // A write made just before the request may not have reached the watcher yet:
                // look at the whole tree rather than only the paths it reported.
                self.full = true;
                vec![self.inspect(Why::Review { all })]
            }
        }
    }

    fn inspected(&mut self, why: Why, inspection: Inspection, now: Instant) -> Vec<Effect> {
        let changed = match inspection {
            Inspection::Failed(e) => {
                return match why {
                    Why::Settled => vec![Effect::Warn(e)],
                    Why::Review { .. } | Why::Check => vec![Effect::Fail(e)],
                };
            }
            Inspection::Changed => true,
            Inspection::Unchanged => false,
        };
        // A diff against HEAD says nothing about what the last review covers.
        if why != (Why::Review { all: true }) {
            self.dirty = changed;
        }
        match why {
            Why::Settled => {
                if !changed || self.paused || !matches!(self.phase, Phase::Idle) {
                    // Recorded; reviewed once unpaused (or by `cxd review`).
                    return vec![];
                }
                self.start(RunKind::Review, now);
                vec![Effect::StartReview { asked: false }]
            }
            Why::Review { .. } => {
                if !changed {
                    return vec![Effect::NoReview];
                }
                self.start(RunKind::Review, now);
                vec![Effect::StartReview { asked: true }]
            }
            Why::Check => {
                if !changed {
                    self.settle.clear();
                } else if !self.paused && !matches!(self.phase, Phase::Halted { .. }) {
                    self.settle.change(now);
                }
                vec![Effect::UpToDate(!changed)]
            }
        }
    }

    fn start(&mut self, kind: RunKind, now: Instant) {
        self.phase = Phase::Running(Run {
            kind,
            since: now,
            follow_up: false,
            plan_queued: false,
        });
    }

    fn ended(&mut self, ending: Ending, now: Instant) -> Vec<Effect> {
        let mut run = match &mut self.phase {
            Phase::Running(run) => run.clone(),
            Phase::Missing { ending, .. } => {
                return match ending.take() {
                    Some(run) if run.plan_queued => {
                        vec![Effect::RefuseQueuedPlan(Refusal::Missing)]
                    }
                    _ => vec![],
                };
            }
            Phase::Idle | Phase::Halted { .. } => return vec![],
        };
        self.phase = Phase::Idle;
        match ending {
            Ending::Answered if run.kind == RunKind::Review => self.dirty = false,
            Ending::Answered | Ending::Interrupted => {}
            // No automatic retry: `cxd review` or `cxd unpause` starts again.
            Ending::Failed(why) => self.phase = Phase::Halted { since: now, why },
            Ending::Retry => run.follow_up = true,
        }
        if run.plan_queued {
            // The plan waited for this run; a follow-up review waits for the plan.
            self.phase = Phase::Running(Run {
                kind: RunKind::Plan,
                since: now,
                follow_up: run.follow_up,
                plan_queued: false,
            });
            return vec![Effect::StartPlan];
        }
        if run.follow_up && matches!(self.phase, Phase::Idle) {
            // Edits came in during the run: exactly one follow-up, now.
            return vec![self.inspect(Why::Settled)];
        }
        vec![]
    }
}

#[cfg(test)]
mod tests;
