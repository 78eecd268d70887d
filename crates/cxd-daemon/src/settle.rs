//! The debounce: a quiet period after the last change, capped by a maximum wait from the first
//! unreviewed one, held while git itself is busy. Pure logic over tokio's clock, so tests run
//! it on paused virtual time.

use std::time::Duration;

use tokio::time::Instant;

/// Debounce state for one workspace; sets no deadline at all while nothing is pending.
#[derive(Debug, Clone)]
pub struct Settle {
    quiet: Duration,
    max_wait: Duration,
    first: Option<Instant>,
    last: Option<Instant>,
    git_busy: bool,
}

impl Settle {
    /// A settle with nothing pending.
    pub fn new(quiet: Duration, max_wait: Duration) -> Self {
        Self {
            quiet,
            max_wait,
            first: None,
            last: None,
            git_busy: false,
        }
    }

    /// Take new timings (config reload); pending changes keep their times.
    pub fn set_timing(&mut self, quiet: Duration, max_wait: Duration) {
        self.quiet = quiet;
        self.max_wait = max_wait;
    }

    /// Record a change at `now`.
    pub fn change(&mut self, now: Instant) {
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// Whether git holds `.git/index.lock` (a commit, checkout or rebase is under way).
    pub fn set_git_busy(&mut self, busy: bool) {
        self.git_busy = busy;
    }

    /// Whether git held `.git/index.lock` at the last report, which suspends the quiet period
    /// (see [`Self::deadline`]); the workspace compares it to see the lock released.
    pub fn git_busy(&self) -> bool {
        self.git_busy
    }

    /// Whether changes are waiting to settle.
    pub fn is_pending(&self) -> bool {
        self.first.is_some()
    }

    /// When the pending changes count as settled; `None` while idle.
    ///
    /// While git is busy the quiet period and the cap are both suspended, but a lock that
    /// never goes away (a crashed git leaves a stale `index.lock`) still yields a review
    /// `max_wait` after the last change.
    pub fn deadline(&self) -> Option<Instant> {
        let (first, last) = (self.first?, self.last?);
        if self.git_busy {
            return Some(last + self.max_wait);
        }
        Some((last + self.quiet).min(first + self.max_wait))
    }

    /// If the deadline has passed, clear the pending state and say so.
    pub fn poll(&mut self, now: Instant) -> bool {
        match self.deadline() {
            Some(d) if d <= now => {
                self.clear();
                true
            }
            _ => false,
        }
    }

    /// Forget pending changes (a review was started another way, or HEAD moved).
    pub fn clear(&mut self) {
        self.first = None;
        self.last = None;
    }

    /// Time left until the deadline, for `status`.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.deadline().map(|d| d.saturating_duration_since(now))
    }
}

/// Sleep until `deadline`, or forever when there is none: an idle workspace holds no timer.
pub async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// [`until`], on the dot: tokio's timer counts whole milliseconds and wakes up to one late, so
/// this wakes a millisecond early and sleeps the rest on a blocking thread (never returning
/// before `deadline`). What the settle adds to a review's start is then the wake-up alone.
/// Real time only: under paused time the rest would never pass.
pub async fn until_exactly(deadline: Option<Instant>) {
    let Some(d) = deadline else {
        return std::future::pending().await;
    };
    if let Some(early) = d.checked_sub(EARLY) {
        tokio::time::sleep_until(early).await;
    }
    let rest = d.saturating_duration_since(Instant::now());
    if !rest.is_zero()
        && tokio::task::spawn_blocking(move || std::thread::sleep(rest))
            .await
            .is_err()
    {
        // No blocking thread (the runtime is shutting down): the timer's way, then.
        tokio::time::sleep_until(d).await;
    }
}

/// How early [`until_exactly`] leaves tokio's timer: its resolution.
const EARLY: Duration = Duration::from_millis(1);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    const QUIET: Duration = Duration::from_millis(15_000);
    const MAX: Duration = Duration::from_millis(60_000);

    enum Input {
        Change,
        GitBusy(bool),
    }

    /// The loop a workspace runs: changes in, settled instants out.
    fn drive(
        mut settle: Settle,
    ) -> (
        mpsc::UnboundedSender<Input>,
        mpsc::UnboundedReceiver<Instant>,
    ) {
        let (in_tx, mut in_rx) = mpsc::unbounded_channel();
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    input = in_rx.recv() => match input {
                        Some(Input::Change) => settle.change(Instant::now()),
                        Some(Input::GitBusy(b)) => settle.set_git_busy(b),
                        None => break,
                    },
                    () = until(settle.deadline()) => {
                        if settle.poll(Instant::now()) {
                            let _ = out_tx.send(Instant::now());
                        }
                    }
                }
            }
        });
        (in_tx, out_rx)
    }

    async fn advance(ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn quiet_period_after_the_last_change() {
        let start = Instant::now();
        let (tx, mut rx) = drive(Settle::new(QUIET, MAX));
        tx.send(Input::Change).unwrap();
        advance(10_000).await;
        tx.send(Input::Change).unwrap(); // resets the quiet period
        advance(14_000).await;
        assert!(
            rx.try_recv().is_err(),
            "not settled 14s after the last change"
        );
        let at = rx.recv().await.unwrap();
        assert_eq!(at - start, Duration::from_millis(25_000));
        advance(600_000).await;
        assert!(rx.try_recv().is_err(), "one burst settles once");
    }

    #[tokio::test(start_paused = true)]
    async fn max_wait_caps_a_burst_that_never_pauses() {
        let start = Instant::now();
        let (tx, mut rx) = drive(Settle::new(QUIET, MAX));
        for _ in 0..100 {
            tx.send(Input::Change).unwrap();
            advance(1_000).await;
        }
        let first = rx.recv().await.unwrap();
        assert_eq!(first - start, MAX);
        // Changes keep coming: the next cap counts from the first change after the settle.
        let second = rx.recv().await.unwrap();
        assert!(
            second - first <= MAX + Duration::from_secs(1),
            "{:?}",
            second - first
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waits_while_git_holds_the_index_lock() {
        let start = Instant::now();
        let (tx, mut rx) = drive(Settle::new(QUIET, MAX));
        tx.send(Input::GitBusy(true)).unwrap();
        tx.send(Input::Change).unwrap();
        advance(30_000).await;
        assert!(rx.try_recv().is_err(), "held while git is busy");
        tx.send(Input::GitBusy(false)).unwrap();
        let at = rx.recv().await.unwrap();
        // Lock released at 30s: the quiet period since the change (at 0) has long passed.
        assert_eq!(at - start, Duration::from_millis(30_000));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stale_index_lock_does_not_block_forever() {
        let start = Instant::now();
        let (tx, mut rx) = drive(Settle::new(QUIET, MAX));
        tx.send(Input::GitBusy(true)).unwrap();
        tx.send(Input::Change).unwrap();
        let at = rx.recv().await.unwrap();
        assert_eq!(at - start, MAX);
    }

    #[test]
    fn idle_sets_no_deadline_and_clear_resets() {
        let now = Instant::now();
        let mut s = Settle::new(QUIET, MAX);
        assert_eq!(s.deadline(), None);
        assert!(!s.poll(now + MAX));
        s.change(now);
        assert!(s.is_pending());
        assert_eq!(s.deadline(), Some(now + QUIET));
        assert_eq!(
            s.remaining(now + Duration::from_secs(6)),
            Some(Duration::from_secs(9))
        );
        s.clear();
        assert_eq!(s.deadline(), None);
        assert!(!s.is_pending());
    }

    #[test]
    fn new_timings_apply_to_pending_changes() {
        let now = Instant::now();
        let mut s = Settle::new(QUIET, MAX);
        s.change(now);
        s.set_timing(Duration::from_millis(100), Duration::from_millis(500));
        assert_eq!(s.deadline(), Some(now + Duration::from_millis(100)));
        assert!(s.poll(now + Duration::from_millis(100)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn until_exactly_never_returns_before_its_deadline() {
        for wait_us in [0u64, 300, 1_000, 1_700, 3_200] {
            let d = Instant::now() + Duration::from_micros(wait_us);
            until_exactly(Some(d)).await;
            assert!(
                Instant::now() >= d,
                "returned early for a {wait_us} µs wait"
            );
        }
        // A deadline already past returns at once.
        until_exactly(Some(Instant::now())).await;
    }
}
