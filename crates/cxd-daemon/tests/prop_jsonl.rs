//! Property tests of the codex JSONL reader (`codex::jsonl`): arbitrary bytes in arbitrary
//! chunkings never panic and never yield a line longer than `MAX_LINE`, the splitter agrees
//! with a simple whole-stream model, and a valid transcript split anywhere parses exactly as
//! it does whole.
//!
//! The case count is proptest's default (256; `PROPTEST_CASES` overrides it), except for the
//! multi-megabyte long-line property, which runs fewer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cxd_daemon::codex::jsonl::{Activity, LineSplitter, MAX_LINE, Transcript, Usage};
use cxd_peak_alloc::PeakAlloc;
use proptest::prelude::*;
use serde_json::{Value, json};

// ---- the largest allocation made on this thread ----------------------------------------

// The counting allocator: the only way to see the largest single allocation the splitter makes.
#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

// ---- feeding ----------------------------------------------------------------------------

/// Cut `bytes` at the given points (any order, duplicates allowed).
fn chunks<'a>(bytes: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    at.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

/// What a reading of a stream produced.
#[derive(Debug, PartialEq)]
struct Read {
    transcript: Transcript,
    activities: Vec<Activity>,
    /// Lengths of the lines handed out (the lines themselves can be megabytes).
    line_lens: Vec<usize>,
    skipped: u64,
}

/// Feed the chunks through a splitter into a transcript, as the review runner does.
fn read(chunks: &[&[u8]]) -> Read {
    let mut t = Transcript::default();
    let mut activities = Vec::new();
    let mut line_lens = Vec::new();
    let mut split = LineSplitter::default();
    let mut skipped = 0;
    for c in chunks {
        skipped += split.feed(c, |l| {
            line_lens.push(l.len());
            activities.extend(t.line(l));
        });
    }
    split.finish(|l| {
        line_lens.push(l.len());
        activities.extend(t.line(l));
    });
    t.oversized_lines += skipped;
    Read {
        transcript: t,
        activities,
        line_lens,
        skipped,
    }
}

/// The model: split the whole stream on `\n`; lines up to `MAX_LINE` are handed out (a final
/// unterminated one only if non-empty), longer ones are skipped and counted.
fn model(bytes: &[u8]) -> (Vec<usize>, u64) {
    let mut lens = Vec::new();
    let mut skipped = 0;
    let mut parts: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let last = parts.pop().unwrap_or(&[]);
    for p in parts {
        if p.len() > MAX_LINE {
            skipped += 1;
        } else {
            lens.push(p.len());
        }
    }
    if last.len() > MAX_LINE {
        skipped += 1;
    } else if !last.is_empty() {
        lens.push(last.len());
    }
    (lens, skipped)
}

// ---- strategies -------------------------------------------------------------------------

/// Short pieces of noise, newlines, JSON-looking fragments and invalid UTF-8.
fn small_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..128),
        2 => Just(b"\n".to_vec()),
        1 => Just(b"\r\n".to_vec()),
        1 => Just(b"{\"type\":\"item.started\",\"item\":{\"type\":\"reasoning\",\"text\":\"**x**\"}}".to_vec()),
        1 => Just(b"{\"type\":\"thread.started\",\"thread_id\":".to_vec()),
        1 => Just(vec![0xff, 0xfe, 0xc3]),
    ]
}

/// A stream that also holds lines around `MAX_LINE` long.
fn long_stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        8 => small_piece(),
        1 => (0usize..=4).prop_map(|d| vec![b'x'; MAX_LINE - 2 + d]), // MAX_LINE-2 ..= MAX_LINE+2
        1 => (1usize..MAX_LINE).prop_map(|n| vec![b'{'; n]),
    ];
    proptest::collection::vec(piece, 0..10).prop_map(|ps| ps.concat())
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9 *_./-]{0,30}",
        // Newlines inside a JSON string are escaped, so the event stays one line.
        "\\*\\*[a-z ]{1,10}\\*\\*\n\n[a-z\n ]{0,20}",
        "[é€🦀a]{190,220}",
    ]
}

fn usage() -> impl Strategy<Value = Value> {
    (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(i, c, o)| {
        json!({"input_tokens": i, "cached_input_tokens": c, "cache_write_input_tokens": 0,
               "output_tokens": o, "reasoning_output_tokens": 0})
    })
}

/// One event as codex prints it, including ones cxd ignores.
fn event() -> impl Strategy<Value = Value> {
    let item_kind = prop_oneof![
        Just("item.started"),
        Just("item.updated"),
        Just("item.completed")
    ];
    prop_oneof![
        text().prop_map(|id| json!({"type": "thread.started", "thread_id": id})),
        Just(json!({"type": "turn.started"})),
        usage().prop_map(|u| json!({"type": "turn.completed", "usage": u})),
        text().prop_map(|m| json!({"type": "turn.failed", "error": {"message": m}})),
        text().prop_map(|m| json!({"type": "error", "message": m})),
        (item_kind.clone(), text())
            .prop_map(|(k, t)| json!({"type": k, "item": {"id": "i", "type": "reasoning", "text": t}})),
        (item_kind.clone(), text()).prop_map(|(k, c)| {
            json!({"type": k, "item": {"id": "i", "type": "command_execution", "command": c, "status": "in_progress"}})
        }),
        (item_kind.clone(), text())
            .prop_map(|(k, t)| json!({"type": k, "item": {"id": "i", "type": "agent_message", "text": t}})),
        (item_kind, text())
            .prop_map(|(k, m)| json!({"type": k, "item": {"id": "i", "type": "error", "message": m}})),
        (text(), any::<i64>()).prop_map(|(t, x)| {
            json!({"type": format!("future.{t}"), "x": x, "nested": {"a": [1, 2]}})
        }),
    ]
}

/// A valid transcript: events one per line, sometimes with blank lines or CRLF, with or
/// without a final newline. Also returns the events.
fn transcript() -> impl Strategy<Value = (Vec<u8>, Vec<Value>)> {
    (
        proptest::collection::vec((event(), 0u8..8), 0..24),
        any::<bool>(),
    )
        .prop_map(|(evs, final_newline)| {
            let mut out = Vec::new();
            let mut events = Vec::new();
            for (i, (ev, sep)) in evs.into_iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(match sep {
                        0 => b"\r\n",
                        1 => b"\n\n",
                        2 => b"\n   \n",
                        _ => b"\n",
                    });
                }
                out.extend_from_slice(ev.to_string().as_bytes());
                events.push(ev);
            }
            if final_newline {
                out.push(b'\n');
            }
            (out, events)
        })
}

// ---- properties -------------------------------------------------------------------------

#[test]
fn the_allocation_probe_sees_allocations() {
    cxd_peak_alloc::reset();
    let v = vec![1u8; 100_000];
    assert_eq!(v.len(), 100_000);
    assert!(cxd_peak_alloc::peak() >= 100_000);
}

proptest! {
    #[test]
    fn arbitrary_bytes_in_arbitrary_chunks_match_the_model(
        pieces in proptest::collection::vec(small_piece(), 0..40),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let bytes = pieces.concat();
        let got = read(&chunks(&bytes, &cuts));
        let (lens, skipped) = model(&bytes);
        prop_assert_eq!(&got.line_lens, &lens);
        prop_assert_eq!(got.skipped, skipped);
        prop_assert!(got.line_lens.iter().all(|&l| l <= MAX_LINE));
        // The same bytes whole, and one byte at a time, read the same.
        prop_assert_eq!(&read(&[&bytes]), &got);
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(&read(&bytewise), &got);
    }

    #[test]
    fn arbitrary_lines_never_panic(line in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut t = Transcript::default();
        let _ = t.line(&line);
        prop_assert!(t.garbage_lines <= 1);
        prop_assert!(t.errors.len() <= 1);
    }

    #[test]
    fn any_json_event_never_panics(ev in event(), junk in any::<Vec<u8>>()) {
        let mut t = Transcript::default();
        let _ = t.line(ev.to_string().as_bytes());
        prop_assert_eq!(t.garbage_lines, 0);
        // Valid JSON followed by junk on the same line is not an object line.
        let mut line = ev.to_string().into_bytes();
        line.extend_from_slice(&junk);
        let _ = t.line(&line);
    }

    #[test]
    fn a_valid_transcript_split_anywhere_reads_as_whole(
        (bytes, events) in transcript(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..30),
    ) {
        let whole = read(&[&bytes]);
        prop_assert_eq!(&read(&chunks(&bytes, &cuts)), &whole);
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(&read(&bytewise), &whole);

        // And what it read is what the events say.
        let t = &whole.transcript;
        prop_assert_eq!(t.garbage_lines, 0);
        prop_assert_eq!(t.oversized_lines, 0);
        let of = |kind: &'static str| events.iter().filter(move |e| e["type"] == kind);
        prop_assert_eq!(
            t.thread_id.as_deref(),
            of("thread.started").next_back().map(|e| e["thread_id"].as_str().unwrap())
        );
        prop_assert_eq!(t.turn_completed, of("turn.completed").next().is_some());
        let last_usage = of("turn.completed").next_back().map(|e| {
            let n = |k: &str| e["usage"][k].as_u64().unwrap();
            Usage { input: n("input_tokens"), cached_input: n("cached_input_tokens"), output: n("output_tokens") }
        });
        prop_assert_eq!(t.usage, last_usage);
        let last_message = of("item.completed")
            .rfind(|e| e["item"]["type"] == "agent_message")
            .map(|e| e["item"]["text"].as_str().unwrap());
        prop_assert_eq!(t.last_message.as_deref(), last_message);
        prop_assert!(t.errors.len() <= 20);
    }
}

proptest! {
    // Each case moves megabytes through an unoptimised test build: fewer cases.
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn long_lines_are_skipped_and_never_kept_past_the_limit(
        bytes in long_stream(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        cxd_peak_alloc::reset();
        let got = read(&chunks(&bytes, &cuts));
        let peak = cxd_peak_alloc::peak();
        let (lens, skipped) = model(&bytes);
        prop_assert_eq!(&got.line_lens, &lens);
        prop_assert_eq!(got.skipped, skipped);
        prop_assert!(got.line_lens.iter().all(|&l| l <= MAX_LINE));
        // The pending line never exceeds MAX_LINE, so its buffer (grown by doubling) stays
        // under twice that; nothing else in a reading comes close.
        prop_assert!(peak <= 2 * MAX_LINE, "allocated {} bytes at once", peak);
    }
}
