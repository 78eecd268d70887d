//! Wall-clock time for the daemon: timestamps in the one format the log and events use
//! (RFC 3339, UTC), and "now" for what waits on the wall clock (a quota's reset time), which
//! tests can set by naming a file that holds it ([`CLOCK_FILE_ENV`]). Nothing here panics on
//! a time at the calendar's edge (year 9999): a conversion that cannot be made keeps the time
//! as it was, and sums saturate.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Names a file holding the current time as Unix seconds; when set and readable, [`now`]
/// reads it instead of the system clock (for tests: a clock that jumps without sleeping).
pub const CLOCK_FILE_ENV: &str = "CXD_CLOCK_FILE";

/// Now, by the system clock or the clock file.
pub fn now() -> OffsetDateTime {
    if let Some(path) = std::env::var_os(CLOCK_FILE_ENV).filter(|p| !p.is_empty())
        && let Ok(text) = std::fs::read_to_string(path)
        && let Ok(secs) = text.trim().parse::<i64>()
        && let Ok(t) = OffsetDateTime::from_unix_timestamp(secs)
    {
        return t;
    }
    OffsetDateTime::now_utc()
}

/// Now, as RFC 3339 in UTC with second precision.
pub fn now_rfc3339() -> String {
    rfc3339(now())
}

/// `t` as RFC 3339 in UTC with second precision.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.checked_to_offset(UtcOffset::UTC).unwrap_or(t);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// An RFC 3339 timestamp as [`rfc3339`] writes it (None: not one).
pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// The local time zone's offset from UTC at `at` (UTC when it cannot be had).
#[allow(unsafe_code)]
pub fn local_offset(at: OffsetDateTime) -> UtcOffset {
    let t: libc::time_t = at.unix_timestamp() as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which lives on this stack frame; a null
    // return (failure) leaves it unread.
    let gmtoff = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return UtcOffset::UTC;
        }
        tm.tm_gmtoff
    };
    i32::try_from(gmtoff)
        .ok()
        .and_then(|s| UtcOffset::from_whole_seconds(s).ok())
        .unwrap_or(UtcOffset::UTC)
}

/// `at` in the local time zone (as it was when the calendar cannot hold it there).
pub fn to_local(at: OffsetDateTime) -> OffsetDateTime {
    at.checked_to_offset(local_offset(at)).unwrap_or(at)
}

/// `at` as local `HH:MM`, with the date in front when it is not today's.
pub fn local_short(at: OffsetDateTime) -> String {
    let offset = local_offset(at);
    let local = at.checked_to_offset(offset).unwrap_or(at);
    let today = now().checked_to_offset(offset).map(|t| t.date());
    if Some(local.date()) == today {
        format!("{:02}:{:02}", local.hour(), local.minute())
    } else {
        format!(
            "{}-{:02}-{:02} {:02}:{:02}",
            local.year(),
            local.month() as u8,
            local.day(),
            local.hour(),
            local.minute()
        )
    }
}
