//! Property tests of the usage-limit reset parser (`codex::quota`) and the wall-clock helpers
//! (`clock`): whatever text codex prints, at whatever "now" and in whatever zone, nothing
//! panics; a time the parser gives is one the calendar holds and formats. The same text sent
//! through the JSONL reader as a `turn.failed` or `error` event is read without panicking and
//! parsed the same.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cxd_daemon::clock;
use cxd_daemon::codex::jsonl::Transcript;
use cxd_daemon::codex::quota::reset_time;
use proptest::prelude::*;
use serde_json::json;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Any instant the calendar holds, weighted towards its two ends.
fn instant() -> impl Strategy<Value = OffsetDateTime> {
    let min = PrimitiveDateTime::MIN.assume_utc().unix_timestamp();
    let max = PrimitiveDateTime::MAX.assume_utc().unix_timestamp();
    prop_oneof![
        min..=max,
        (0i64..200_000).prop_map(move |d| min + d),
        (0i64..200_000).prop_map(move |d| max - d),
        1_800_000_000i64..2_000_000_000,
    ]
    .prop_map(|s| OffsetDateTime::from_unix_timestamp(s).unwrap())
}

/// Any offset a zone may have, the two extremes included.
fn offset() -> impl Strategy<Value = UtcOffset> {
    prop_oneof![
        (-93_599i32..=93_599).prop_map(|s| UtcOffset::from_whole_seconds(s).unwrap()),
        Just(UtcOffset::from_whole_seconds(-93_599).unwrap()),
        Just(UtcOffset::from_whole_seconds(93_599).unwrap()),
        Just(UtcOffset::from_hms(-8, 0, 0).unwrap()),
    ]
}

/// A word that may stand where codex puts a month, day, year, clock or meridiem.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "Jan",
            "feb",
            "MAR",
            "Dec",
            "Foo",
            "",
            "0",
            "-1",
            "+1",
            "Dec.",
            "décembre",
        ])
        .prop_map(str::to_owned),
        // Days: ordinal suffixes on any number, a comma or not.
        (
            any::<i64>(),
            prop::sample::select(vec!["st,", "nd,", "rd,", "th,", "th", ",", "TH,"])
        )
            .prop_map(|(n, s)| format!("{n}{s}")),
        (
            0u32..=40,
            prop::sample::select(vec!["st,", "nd,", "rd,", "th,"])
        )
            .prop_map(|(n, s)| format!("{n}{s}")),
        // Years: the calendar's edges, past them, huge, negative.
        prop::sample::select(vec![
            "9999",
            "10000",
            "-9999",
            "-10000",
            "0",
            "99999999999",
            "-2147483648",
            "2147483647",
            "2100",
            "2000",
            "1900",
            "2024",
        ])
        .prop_map(str::to_owned),
        any::<i64>().prop_map(|n| n.to_string()),
        // Clocks and meridiems.
        (0u32..=300, 0u32..=300).prop_map(|(h, m)| format!("{h}:{m:02}")),
        prop::sample::select(vec![
            "AM", "PM", "pm", "am.", "PM.", "ＰＭ", "12:00", "11:59", ":"
        ])
        .prop_map(str::to_owned),
        "\\PC{0,6}",
    ]
}

/// Text around a "try again at" phrase, or none at all.
fn message() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (
            "\\PC{0,20}",
            prop::sample::select(vec!["try again at ", "Try again at ", "TRY AGAIN AT ", "try again at  "]),
            proptest::collection::vec(word(), 0..7),
            prop::sample::select(vec![".", "", ". more", ".\nnext line", "..", " .", "\u{2019}."]),
        )
            .prop_map(|(pre, at, words, end)| format!("{pre}{at}{}{end}", words.join(" "))),
        1 => any::<String>(),
        1 => "(try again at |[ .,:\\n\u{0}-\u{1f}\u{80}-\u{10ffff}0-9a-zA-Z]){0,40}",
    ]
}

/// The reset time is representable, formats (RFC 3339 holds years 0 to 9999), and is shown
/// without a panic.
fn check(text: &str, now: OffsetDateTime, offset: UtcOffset) {
    if let Some(at) = reset_time(text, now, offset) {
        assert_eq!(at.offset(), UtcOffset::UTC, "{text:?}");
        let s = clock::rfc3339(at);
        if (0..=9999).contains(&at.year()) {
            assert_eq!(clock::parse_rfc3339(&s), Some(at), "{text:?} → {s}");
        }
        let _ = clock::local_short(at);
    }
}

proptest! {
    #[test]
    fn no_text_at_any_time_in_any_zone_panics(text in message(), now in instant(), offset in offset()) {
        check(&text, now, offset);
    }

    #[test]
    fn every_calendar_date_at_the_edge_of_the_day_parses_or_gives_none(
        year in prop_oneof![-9999i32..=9999, Just(9999), Just(-9999), Just(2100), Just(2000)],
        month in 0usize..12,
        day in 0u32..=32,
        clock_words in prop::sample::select(vec!["11:59 PM", "12:00 AM", "12:59 AM", "1:00 PM"]),
        now in instant(),
        offset in offset(),
    ) {
        const M: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let text = format!("try again at {} {day}th, {year} {clock_words}.", M[month]);
        check(&text, now, offset);
    }

    #[test]
    fn the_jsonl_reader_reads_any_failure_text_and_the_parser_takes_it(
        text in message(), now in instant(), offset in offset(),
    ) {
        let mut t = Transcript::default();
        for ev in [
            json!({"type": "error", "message": text}),
            json!({"type": "turn.failed", "error": {"message": text}}),
            json!({"type": "item.completed", "item": {"type": "error", "message": text}}),
        ] {
            t.line(ev.to_string().as_bytes());
        }
        prop_assert_eq!(t.turn_failed.as_deref(), Some(text.as_str()));
        for m in &t.errors {
            check(m, now, offset);
        }
        // The raw text as a line of its own is garbage or an event, never a panic.
        t.line(text.as_bytes());
    }

    #[test]
    fn the_clock_helpers_take_any_instant(now in instant()) {
        let s = clock::rfc3339(now);
        if (0..=9999).contains(&now.year()) {
            prop_assert_eq!(clock::parse_rfc3339(&s), Some(now.replace_nanosecond(0).unwrap()));
        }
        let _ = clock::local_short(now);
        let _ = clock::to_local(now);
        let _ = clock::local_offset(now);
    }
}

#[test]
fn the_last_minute_of_the_calendar_west_of_utc_gives_no_time() {
    let now = OffsetDateTime::from_unix_timestamp(1_899_997_200).unwrap();
    let west = UtcOffset::from_hms(-8, 0, 0).unwrap();
    let text = "You've hit your usage limit. Try again at Dec 31st, 9999 11:59 PM.";
    assert_eq!(reset_time(text, now, west), None);
    assert!(reset_time(text, now, UtcOffset::UTC).is_some());
    // The same-day form at the calendar's last day, read east of UTC.
    let last = PrimitiveDateTime::MAX.assume_utc();
    let east = UtcOffset::from_hms(14, 0, 0).unwrap();
    assert_eq!(reset_time("try again at 5:46 PM.", last, east), None);
}
