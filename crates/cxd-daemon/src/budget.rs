//! Spending limits on Codex across all workspaces (`[budget]`): reviews in the last hour and
//! input tokens since local midnight, counted from the stored reviews. Over a limit, no
//! review starts by itself, for the gate or for a hook (edits keep accumulating) until the
//! limit frees up; `cxd review` still runs what the user asks for.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime, Time};

use crate::clock;
use crate::store::StoreError;

/// `[budget]`: limits on what reviews spend, unset = no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// Codex runs allowed in any 60 minutes (unset: no limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reviews_per_hour: Option<u64>,
    /// Input tokens allowed since local midnight (unset: no limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens_per_day: Option<u64>,
}

impl BudgetConfig {
    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        self.reviews_per_hour.is_some() || self.input_tokens_per_day.is_some()
    }
}

/// What was spent, as the budget counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spend {
    /// Codex runs started in the last 60 minutes that reached the model.
    pub reviews_hour: u64,
    /// Input tokens of runs started since local midnight.
    pub tokens_today: u64,
    /// When the oldest run of the last hour started (the hour frees up an hour after it).
    pub oldest_in_hour: Option<OffsetDateTime>,
    /// The next local midnight (the day's tokens free up then).
    pub next_midnight: OffsetDateTime,
}

/// Local midnight today and tomorrow, at `now`.
fn midnights(now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
    let today = clock::to_local(now).replace_time(Time::MIDNIGHT);
    (today, today.saturating_add(Duration::days(1)))
}

/// Count what was spent up to `now`. A run counts when it reached the model: it answered,
/// runs, or spent tokens (a usage-limit refusal costs nothing).
pub fn spend(conn: &Connection, now: OffsetDateTime) -> Result<Spend, StoreError> {
    let hour_ago = clock::rfc3339(now.saturating_sub(Duration::hours(1)));
    let (midnight, next_midnight) = midnights(now);
    let counted = "(verdict != 'error' OR tokens_input > 0)";
    let (reviews_hour, oldest): (i64, Option<String>) = conn
        .query_row(
            &format!(
                "SELECT COUNT(*), MIN(started_at) FROM reviews WHERE started_at > ?1 AND {counted}"
            ),
            params![hour_ago],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(StoreError::query("count reviews of the last hour"))?;
    let tokens_today: i64 = conn
        .query_row(
            "SELECT COALESCE(SUM(tokens_input), 0) FROM reviews WHERE started_at >= ?1",
            params![clock::rfc3339(midnight)],
            |r| r.get(0),
        )
        .map_err(StoreError::query("sum today's input tokens"))?;
    Ok(Spend {
        reviews_hour: reviews_hour.max(0) as u64,
        tokens_today: tokens_today.max(0) as u64,
        oldest_in_hour: oldest.as_deref().and_then(clock::parse_rfc3339),
        next_midnight,
    })
}

/// When a spend counted at `at` stops being true with no write to the store: the oldest run
/// of the hour leaves it, or the day turns. None: not known (count again each time).
fn good_until(spend: &Spend) -> Option<OffsetDateTime> {
    match (spend.reviews_hour, spend.oldest_in_hour) {
        (0, _) => Some(spend.next_midnight),
        (_, Some(oldest)) => Some(
            oldest
                .saturating_add(Duration::hours(1))
                .min(spend.next_midnight),
        ),
        (_, None) => None,
    }
}

/// The last spend counted for `cxd status`, so that a crowd of status requests does not
/// queue a count each on the store thread: it is reused while nothing was written to the
/// store and the clock stays inside the window it was counted for.
#[derive(Debug, Default)]
pub struct SpendCache {
    last: std::sync::Mutex<Option<Counted>>,
}

#[derive(Debug, Clone, Copy)]
struct Counted {
    spend: Spend,
    /// The store's generation it was counted at.
    generation: u64,
    /// The clock when it was counted.
    at: OffsetDateTime,
    until: OffsetDateTime,
}

impl SpendCache {
    /// The spend counted at a `generation` of the store, if it still holds at `now`.
    pub fn get(&self, generation: u64, now: OffsetDateTime) -> Option<Spend> {
        let last = *self.last.lock().ok()?;
        last.filter(|c| c.generation == generation && c.at <= now && now < c.until)
            .map(|c| c.spend)
    }

    /// Keep `spend`, counted at `now` when the store was at `generation`.
    pub fn put(&self, generation: u64, now: OffsetDateTime, spend: Spend) {
        let Some(until) = good_until(&spend) else {
            return;
        };
        if let Ok(mut last) = self.last.lock() {
            *last = Some(Counted {
                spend,
                generation,
                at: now,
                until,
            });
        }
    }
}

/// Over a limit: why, in words ("budget reached: 10 of 10 reviews this hour"), and when it
/// frees up. None: within budget.
pub fn exceeded(config: &BudgetConfig, spend: &Spend) -> Option<(String, OffsetDateTime)> {
    if let Some(limit) = config.input_tokens_per_day
        && spend.tokens_today >= limit
    {
        return Some((
            format!(
                "budget reached: {} of {limit} input tokens today (budget.input_tokens_per_day)",
                spend.tokens_today
            ),
            spend.next_midnight,
        ));
    }
    if let Some(limit) = config.reviews_per_hour
        && spend.reviews_hour >= limit
    {
        let free = spend.oldest_in_hour.map_or(spend.next_midnight, |t| {
            t.saturating_add(Duration::hours(1))
        });
        return Some((
            format!(
                "budget reached: {} of {limit} reviews this hour (budget.reviews_per_hour)",
                spend.reviews_hour
            ),
            free,
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn spend_of(reviews: u64, tokens: u64) -> Spend {
        Spend {
            reviews_hour: reviews,
            tokens_today: tokens,
            oldest_in_hour: Some(datetime!(2030-03-17 16:20 UTC)),
            next_midnight: datetime!(2030-03-18 00:00 UTC),
        }
    }

    #[test]
    fn unset_limits_never_stop_anything() {
        assert_eq!(
            exceeded(&BudgetConfig::default(), &spend_of(1000, 1 << 40)),
            None
        );
    }

    #[test]
    fn each_limit_says_which_and_when_it_frees_up() {
        let c = BudgetConfig {
            reviews_per_hour: Some(3),
            input_tokens_per_day: Some(1000),
        };
        assert_eq!(exceeded(&c, &spend_of(2, 999)), None);
        let (why, at) = exceeded(&c, &spend_of(3, 10)).unwrap();
        assert_eq!(
            why,
            "budget reached: 3 of 3 reviews this hour (budget.reviews_per_hour)"
        );
        assert_eq!(at, datetime!(2030-03-17 17:20 UTC));
        let (why, at) = exceeded(&c, &spend_of(0, 1000)).unwrap();
        assert!(why.contains("1000 of 1000 input tokens today"), "{why}");
        assert_eq!(at, datetime!(2030-03-18 00:00 UTC));
    }

    #[test]
    fn a_counted_spend_holds_until_a_write_or_its_window_moves() {
        let cache = SpendCache::default();
        let at = datetime!(2030-03-17 16:50 UTC);
        // The oldest run of the hour started 16:20: the count holds until 17:20.
        cache.put(7, at, spend_of(2, 10));
        assert_eq!(cache.get(7, at), Some(spend_of(2, 10)));
        assert_eq!(
            cache.get(7, datetime!(2030-03-17 17:19:59 UTC)),
            Some(spend_of(2, 10))
        );
        assert_eq!(cache.get(7, datetime!(2030-03-17 17:20 UTC)), None);
        assert_eq!(cache.get(8, at), None, "something was written since");
        assert_eq!(
            cache.get(7, datetime!(2030-03-17 16:49 UTC)),
            None,
            "the clock went back"
        );
        // Nothing in the hour: the count holds until midnight.
        let quiet = Spend {
            oldest_in_hour: None,
            ..spend_of(0, 10)
        };
        cache.put(9, at, quiet);
        assert_eq!(
            cache.get(9, datetime!(2030-03-17 23:59:59 UTC)),
            Some(quiet)
        );
        assert_eq!(cache.get(9, datetime!(2030-03-18 00:00 UTC)), None);
    }

    #[test]
    fn a_spend_without_its_oldest_run_is_not_kept() {
        let cache = SpendCache::default();
        let at = datetime!(2030-03-17 16:50 UTC);
        let unknown = Spend {
            oldest_in_hour: None,
            ..spend_of(3, 10)
        };
        cache.put(1, at, unknown);
        assert_eq!(cache.get(1, at), None);
    }

    #[tokio::test]
    async fn the_store_generation_moves_with_a_write_before_its_caller_hears_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("db")).unwrap();
        let now = datetime!(2030-03-17 16:50 UTC);
        let (_, counted_at) = store
            .call(move |c| Ok((spend(c, now)?, c.total_changes())))
            .await
            .unwrap();
        let before = store.generation();
        assert_eq!(before, counted_at, "a read moves nothing");
        store
            .call(|c| crate::store::workspaces::add(c, std::path::Path::new("/w"), "t"))
            .await
            .unwrap();
        assert_ne!(store.generation(), before);
    }
}
