//! A workspace halted by a spent usage limit whose reset time codex gave: the wall clock is
//! polled (a suspend freezes monotonic timers, not the wall clock), and when the time has come
//! and it is this workspace's turn (workspaces resume [`crate::context::QUOTA_STAGGER`] apart),
//! one review of what is pending runs by itself.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;

use super::actor::Actor;
use super::machine::Input;
use crate::clock;
use crate::codex::ErrorClass;

/// How often the wall clock is looked at while a reset is awaited.
pub const QUOTA_POLL: Duration = Duration::from_secs(1);

/// A usage limit that resets at a known time.
#[derive(Debug, Clone, Copy)]
pub(super) struct QuotaPause {
    /// When codex said the limit resets.
    pub(super) resets_at: OffsetDateTime,
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
        self.quota = None;
        self.log("quota_reset", serde_json::json!({"resets_at": resets_at}))
            .await;
        self.ctx.emit(
            "quota_reset",
            Some(self.row.root.clone()),
            "the usage limit reset: reviewing what is pending".into(),
        );
        self.drive(Input::QuotaReset).await;
    }

    /// While the limit is spent, why a plan is not validated (None: it may be).
    pub(super) fn quota_refusal(&self) -> Option<String> {
        let pause = self.quota?;
        let why = self.machine.halted()?;
        (clock::now() < pause.resets_at)
            .then(|| format!("Codex's usage limit is spent ({why}); cxd resumes by itself then"))
    }
}
