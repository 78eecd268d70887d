//! A workspace halted until a known time: a spent usage limit whose reset time codex gave,
//! or a `[budget]` limit until it frees up. The wall clock is polled (a suspend freezes
//! monotonic timers, not the wall clock), and when the time has come and it is this
//! workspace's turn (workspaces resume [`crate::context::QUOTA_STAGGER`] apart), one review of
//! what is pending runs by itself.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;

use super::actor::Actor;
use super::machine::Input;
use crate::clock;
use crate::codex::ErrorClass;
use cxd_proto::domain::Trigger;

/// How often the wall clock is looked at while a reset is awaited.
pub const QUOTA_POLL: Duration = Duration::from_secs(1);

/// A limit that frees up at a known time.
#[derive(Debug, Clone, Copy)]
pub(super) struct QuotaPause {
    /// When codex said the limit resets, or the budget frees up.
    pub(super) resets_at: OffsetDateTime,
    /// Codex's usage limit (true) or cxd's own budget (false).
    pub(super) codex: bool,
    /// When the wall clock is looked at next.
    pub(super) next_poll: Instant,
}

impl Actor {
    /// What halted the workspace, in words: for a spent limit with a readable reset time,
    /// "quota — resumes at 17:46: <codex's words>" (and the pause is kept); otherwise the
    /// error, its class and the advice.
    pub(super) fn halt_reason(&mut self, class: ErrorClass, msg: &str) -> String {
        self.quota = None;
        if class == ErrorClass::Quota {
            let now = clock::now();
            if let Some(at) = crate::codex::quota::reset_time(msg, now, clock::local_offset(now)) {
                self.quota = Some(QuotaPause {
                    resets_at: at,
                    codex: true,
                    next_poll: Instant::now(),
                });
                return format!("quota — resumes at {}: {msg}", clock::local_short(at));
            }
        }
        format!("{msg} ({}) — {}", class.as_str(), class.advice())
    }

    /// When the actor must look at the wall clock for a reset (None: nothing awaited).
    pub(super) fn quota_deadline(&self) -> Option<Instant> {
        self.quota.map(|q| q.next_poll)
    }

    /// When the limit resets, RFC 3339, for status (None: not paused for quota, or no time).
    pub(super) fn quota_resumes_at(&self) -> Option<String> {
        self.quota
            .filter(|_| self.machine.halted().is_some())
            .map(|q| clock::rfc3339(q.resets_at))
    }

    /// Look at the wall clock: resume when the reset time has come and it is our turn.
    pub(super) async fn quota_poll(&mut self) {
        let Some(pause) = self.quota.as_mut() else {
            return;
        };
        if self.machine.halted().is_none() {
            // `cxd review` or `cxd unpause` cleared the halt first.
            self.quota = None;
            return;
        }
        pause.next_poll = Instant::now() + QUOTA_POLL;
        let now = clock::now();
        if now < pause.resets_at || !self.ctx.quota_turn(now) {
            return;
        }
        let resets_at = clock::rfc3339(pause.resets_at);
        let after = if pause.codex { "quota" } else { "budget" };
        self.quota = None;
        self.log(
            "resumed",
            serde_json::json!({"after": after, "at": resets_at}),
        )
        .await;
        self.ctx.emit(
            "resumed",
            Some(self.row.root.clone()),
            format!("the {after} limit freed up: reviewing what is pending"),
        );
        self.drive(Input::QuotaReset).await;
    }

    /// While a limit is spent, why a plan is not validated (None: it may be).
    pub(super) async fn plan_refusal(&self) -> Option<String> {
        if let (Some(pause), Some(why)) = (self.quota, self.machine.halted())
            && pause.codex
            && clock::now() < pause.resets_at
        {
            return Some(format!(
                "Codex's usage limit is spent ({why}); cxd resumes by itself then"
            ));
        }
        self.over_budget()
            .await
            .map(|(why, at)| format!("{why}; reviews resume at {}", clock::local_short(at)))
    }

    /// Why no review may start now by the budget, and when one may (None: within it).
    pub(super) async fn over_budget(&self) -> Option<(String, OffsetDateTime)> {
        let config = self.ctx.config.borrow().config.budget.clone();
        if !config.any() {
            return None;
        }
        let now = clock::now();
        let spend = self.store.call(move |c| crate::budget::spend(c, now)).await;
        match spend {
            Ok(s) => crate::budget::exceeded(&config, &s),
            Err(e) => {
                // The budget cannot be counted: spending goes on rather than stopping for good.
                tracing::warn!(error = %e, "cannot count the budget");
                None
            }
        }
    }

    /// A review of `trigger` is due: when the budget forbids it, halt until it frees up and
    /// say why. `spend`: `cxd review` asked, which is the user choosing to spend (never held).
    pub(super) async fn budget_halt(&mut self, trigger: Trigger, spend: bool) -> Option<String> {
        if spend {
            return None;
        }
        let (why, at) = self.over_budget().await?;
        self.quota = Some(QuotaPause {
            resets_at: at,
            codex: false,
            next_poll: Instant::now(),
        });
        let why = format!("{why} — resumes at {}", clock::local_short(at));
        self.log(
            "budget_reached",
            serde_json::json!({"trigger": trigger, "why": why, "resumes_at": clock::rfc3339(at)}),
        )
        .await;
        self.ctx
            .emit("budget_reached", Some(self.row.root.clone()), why.clone());
        Some(why)
    }
}
