//! When a spent Codex usage limit resets, read from the words codex prints: "... or try again
//! at 5:46 PM." (today, codex's local time) or "... try again at Mar 17th, 2030 5:46 PM."
//! (another day). Any other form gives no time: never a guess. A time the calendar cannot
//! hold (a year past 9999 once in UTC, say) gives no time either: nothing here can panic.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// The reset time in `text`, read in the local time zone `offset` (codex formats it in its
/// own local time, which is the daemon's); `now` dates the same-day form.
pub fn reset_time(text: &str, now: OffsetDateTime, offset: UtcOffset) -> Option<OffsetDateTime> {
    let lower = text.to_ascii_lowercase();
    let needle = "try again at ";
    let at = lower.rfind(needle)? + needle.len();
    let rest = text.get(at..)?;
    let rest = rest.lines().next().unwrap_or("");
    // The sentence ends at a full stop followed by a space or the end.
    let end = rest
        .char_indices()
        .find(|&(i, c)| c == '.' && rest[i + 1..].chars().next().is_none_or(char::is_whitespace))
        .map_or(rest.len(), |(i, _)| i);
    let words: Vec<&str> = rest[..end].split_whitespace().collect();
    let (date, clock) = match words.as_slice() {
        [clock, meridiem] => (
            now.checked_to_offset(offset)?.date(),
            parse_clock(clock, meridiem)?,
        ),
        [month, day, year, clock, meridiem] => {
            let month = parse_month(month)?;
            let day = parse_day(day)?;
            let year: i32 = year.parse().ok()?;
            (
                Date::from_calendar_date(year, month, day).ok()?,
                parse_clock(clock, meridiem)?,
            )
        }
        _ => return None,
    };
    PrimitiveDateTime::new(date, clock)
        .assume_offset(offset)
        .checked_to_offset(UtcOffset::UTC)
}

/// `5:46` with `PM` as a time of day.
fn parse_clock(clock: &str, meridiem: &str) -> Option<Time> {
    let (h, m) = clock.split_once(':')?;
    let (h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
    if !(1..=12).contains(&h) {
        return None;
    }
    let h = match meridiem.to_ascii_uppercase().as_str() {
        "AM" => h % 12,
        "PM" => h % 12 + 12,
        _ => return None,
    };
    Time::from_hms(h, m, 0).ok()
}

/// `Mar` as a month.
fn parse_month(word: &str) -> Option<Month> {
    const NAMES: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let i = NAMES.iter().position(|n| word.eq_ignore_ascii_case(n))?;
    Month::try_from(i as u8 + 1).ok()
}

/// `17th,` as a day of the month.
fn parse_day(word: &str) -> Option<u8> {
    let word = word.strip_suffix(',')?;
    let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &word[digits.len()..];
    if !["st", "nd", "rd", "th"].contains(&suffix) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, offset};

    const NOW: OffsetDateTime = datetime!(2030-03-17 15:00 UTC);

    #[test]
    fn the_other_day_form_is_read_in_local_time() {
        let text = "You\u{2019}ve hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit https://chatgpt.com/settings/usage to purchase more credits or try again at Mar 18th, 2030 5:46 PM.";
        assert_eq!(
            reset_time(text, NOW, UtcOffset::UTC),
            Some(datetime!(2030-03-18 17:46 UTC))
        );
        assert_eq!(
            reset_time(text, NOW, offset!(+2)),
            Some(datetime!(2030-03-18 15:46 UTC))
        );
        for (day, n) in [
            ("1st,", 1),
            ("2nd,", 2),
            ("3rd,", 3),
            ("22nd,", 22),
            ("11th,", 11),
        ] {
            let t = format!("Try again at Apr {day} 2031 12:05 AM.");
            let d = Date::from_calendar_date(2031, Month::April, n).unwrap();
            assert_eq!(
                reset_time(&t, NOW, UtcOffset::UTC),
                Some(PrimitiveDateTime::new(d, Time::from_hms(0, 5, 0).unwrap()).assume_utc()),
                "{t}"
            );
        }
    }

    #[test]
    fn the_same_day_form_is_today() {
        let text = "You've hit your usage limit. Try again at 5:46 PM.";
        assert_eq!(
            reset_time(text, NOW, UtcOffset::UTC),
            Some(datetime!(2030-03-17 17:46 UTC))
        );
        let noon =
            "To get more access now, send a request to your admin or try again at 12:00 PM.\nmore";
        assert_eq!(
            reset_time(noon, NOW, UtcOffset::UTC),
            Some(datetime!(2030-03-17 12:00 UTC))
        );
    }

    #[test]
    fn anything_else_gives_no_time() {
        for text in [
            "You've hit your usage limit. Try again later.",
            "rate limit reached",
            "try again at soon.",
            "try again at 13:00 PM.",
            "try again at 5:46.",
            "try again at Foo 17th, 2030 5:46 PM.",
            "try again at Mar 17, 2030 5:46 PM.",
            "try again at Feb 30th, 2030 5:46 PM.",
            "try again at 5:46 PM tomorrow.",
        ] {
            assert_eq!(reset_time(text, NOW, UtcOffset::UTC), None, "{text}");
        }
    }

    #[test]
    fn a_time_the_calendar_cannot_hold_gives_no_time() {
        let last = "try again at Dec 31st, 9999 11:59 PM.";
        assert_eq!(reset_time(last, NOW, offset!(-8)), None);
        assert_eq!(
            reset_time(last, NOW, offset!(+8)),
            Some(datetime!(9999-12-31 15:59 UTC))
        );
        assert_eq!(
            reset_time("try again at Dec 31st, 10000 1:00 AM.", NOW, UtcOffset::UTC),
            None
        );
        let end = datetime!(9999-12-31 23:00 UTC);
        assert_eq!(reset_time("try again at 5:46 PM.", end, offset!(+14)), None);
        assert_eq!(
            reset_time("try again at Feb 29th, 2100 5:46 PM.", NOW, UtcOffset::UTC),
            None
        );
        assert_eq!(
            reset_time("try again at Feb 29th, 2028 5:46 PM.", NOW, UtcOffset::UTC),
            Some(datetime!(2028-02-29 17:46 UTC))
        );
    }
}
