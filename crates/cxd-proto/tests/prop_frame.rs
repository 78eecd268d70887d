//! Property tests of the frame codec: arbitrary bytes never panic and never make the reader
//! allocate past [`MAX_FRAME`], and every valid frame round-trips, however the stream is cut.
//!
//! The case count is proptest's default (256; `PROPTEST_CASES` overrides it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{self, Read};
use std::path::PathBuf;

use cxd_peak_alloc::{PeakAlloc, peak_of};
use cxd_proto::domain::{
    Author, ErrorClass, FindingStatus, GateScope, Ruling, Severity, Trigger, Verdict,
    WorkspaceState,
};
use cxd_proto::frame::{FrameError, check_len, encode_frame};
use cxd_proto::message::{Event, FindingsPage, GateReport, LogEntry, ReviewDone, SessionAction};
use cxd_proto::status::{Dispute, Finding, ReviewInfo, Tokens};
use cxd_proto::{ErrorKind, ErrorReply, Hello, MAX_FRAME, Request, Response, read_frame};
use proptest::prelude::*;

// ---- the largest allocation made on this thread ----------------------------------------

// The counting allocator: the only way to see the largest single allocation the decoder makes.
#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

// ---- readers ----------------------------------------------------------------------------

/// A reader over bytes that hands out at most `step` bytes a call, fails with `Interrupted`
/// on every `interrupt_every`-th call (0: never; 1 would never progress), and records the
/// largest buffer it was asked to fill.
struct Chunked<'a> {
    data: &'a [u8],
    steps: Vec<usize>,
    call: usize,
    interrupt_every: usize,
    largest_request: usize,
    requested: usize,
}

impl<'a> Chunked<'a> {
    fn new(data: &'a [u8], steps: Vec<usize>, interrupt_every: usize) -> Self {
        Self {
            data,
            steps,
            call: 0,
            interrupt_every,
            largest_request: 0,
            requested: 0,
        }
    }
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.call += 1;
        self.largest_request = self.largest_request.max(buf.len());
        self.requested += buf.len();
        if self.interrupt_every > 0 && self.call.is_multiple_of(self.interrupt_every) {
            return Err(io::Error::from(io::ErrorKind::Interrupted));
        }
        let step = if self.steps.is_empty() {
            usize::MAX
        } else {
            self.steps[self.call % self.steps.len()].max(1)
        };
        let n = buf.len().min(self.data.len()).min(step);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

// ---- strategies -------------------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9 ./_-]{0,24}",
        Just(String::new()),
        // Long enough to need a multi-byte varint length.
        "[a-zA-Zé€🦀]{200,400}",
    ]
}

fn path() -> impl Strategy<Value = PathBuf> {
    prop_oneof![
        any::<String>().prop_map(PathBuf::from),
        "(/[^/\u{0}]{1,12}){0,6}".prop_map(PathBuf::from),
    ]
}

fn opt<S: Strategy>(s: S) -> impl Strategy<Value = Option<S::Value>> {
    proptest::option::of(s)
}

fn session_action() -> impl Strategy<Value = SessionAction> {
    prop_oneof![
        Just(SessionAction::Show),
        Just(SessionAction::Reset),
        text().prop_map(SessionAction::Adopt),
        Just(SessionAction::AdoptLast),
    ]
}

/// Every `Request` variant, with arbitrary strings, paths and numbers.
fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        opt(path()).prop_map(|path| Request::Status { path }),
        Just(Request::Stop),
        Just(Request::Subscribe),
        path().prop_map(|path| Request::Watch { path }),
        path().prop_map(|path| Request::Unwatch { path }),
        (opt(path()), any::<u32>()).prop_map(|(path, limit)| Request::Log { path, limit }),
        (
            path(),
            any::<bool>(),
            opt(text()),
            opt(text()),
            any::<bool>()
        )
            .prop_map(|(path, all, model, effort, wait)| Request::Review {
                path,
                all,
                model,
                effort,
                wait
            }),
        path().prop_map(|path| Request::Pause { path }),
        path().prop_map(|path| Request::Unpause { path }),
        (
            path(),
            any::<bool>(),
            opt(word(Severity::ALL)),
            opt(any::<i64>())
        )
            .prop_map(|(path, all, severity, after)| Request::Findings {
                path,
                all,
                severity,
                after,
            }),
        (path(), session_action()).prop_map(|(path, action)| Request::Session { path, action }),
        (path(), opt(text())).prop_map(|(path, note)| Request::Approve { path, note }),
        (text(), opt(text()), path()).prop_map(|(id, reason, path)| Request::Dismiss {
            id,
            reason,
            path
        }),
        (text(), path()).prop_map(|(id, path)| Request::Reopen { id, path }),
        (
            path(),
            opt(word(Severity::ALL)),
            opt(any::<u64>()),
            word(Trigger::ALL),
            opt(word(GateScope::ALL)),
            opt(text())
        )
            .prop_map(
                |(path, block_on, wait_s, trigger, scope, session)| Request::Gate {
                    path,
                    block_on,
                    wait_s,
                    trigger,
                    scope,
                    session
                }
            ),
        (path(), text(), any::<bool>()).prop_map(|(path, text, wait)| Request::Plan {
            path,
            text,
            wait
        }),
        (path(), opt(path()), text()).prop_map(|(file, cwd, session)| Request::AgentEdit {
            file,
            cwd,
            session
        }),
        (
            text(),
            any::<bool>(),
            proptest::collection::vec(text(), 0..3)
        )
            .prop_map(|(session, reset, told)| Request::StopRound {
                session,
                reset,
                told
            }),
        (text(), text(), word(Author::ALL), opt(text()), path()).prop_map(
            |(id, reason, by, session, path)| Request::Dispute {
                id,
                reason,
                by,
                session,
                path,
            }
        ),
    ]
}

/// Any value of a domain type.
fn word<T: Clone + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> {
    proptest::sample::select(all)
}

fn tokens() -> impl Strategy<Value = Tokens> {
    (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(input, cached_input, output)| Tokens {
        input,
        cached_input,
        output,
    })
}

fn dispute() -> impl Strategy<Value = Dispute> {
    (
        word(Author::ALL),
        text(),
        text(),
        opt(word(Ruling::ALL)),
        opt(text()),
        opt(any::<i64>()),
    )
        .prop_map(|(by, reason, at, ruling, reply, review)| Dispute {
            by,
            reason,
            at,
            ruling,
            reply,
            review,
        })
}

fn finding() -> impl Strategy<Value = Finding> {
    (
        (text(), word(Severity::ALL), text(), path()),
        (any::<i64>(), any::<i64>(), text(), text(), text()),
        (
            0.0f64..=1.0,
            word(FindingStatus::ALL),
            any::<i64>(),
            any::<i64>(),
            any::<u64>(),
            any::<bool>(),
        ),
        opt(dispute()),
    )
        .prop_map(
            |(
                (id, severity, category, file),
                (line_start, line_end, title, body, recommendation),
                (confidence, status, first_review, last_review, seen, outdated),
                dispute,
            )| Finding {
                id,
                severity,
                category,
                file: file.to_string_lossy().into_owned(),
                line_start,
                line_end,
                title,
                body,
                recommendation,
                confidence,
                status,
                first_review,
                last_review,
                seen,
                outdated,
                dispute,
            },
        )
}

fn review_info() -> impl Strategy<Value = ReviewInfo> {
    (
        (
            any::<i64>(),
            word(Verdict::ALL),
            opt(word(ErrorClass::ALL)),
            word(Trigger::ALL),
            text(),
            text(),
        ),
        (opt(any::<i32>()), tokens(), opt(text()), opt(text())),
        (opt(text()), opt(text()), opt(any::<u64>()), opt(text())),
    )
        .prop_map(
            |(
                (id, verdict, error_class, trigger, model, effort),
                (exit_code, tokens, summary, error),
                (raw_answer, finished_at, duration_ms, model_reason),
            )| ReviewInfo {
                id,
                verdict,
                error_class,
                trigger,
                model,
                effort,
                model_reason,
                exit_code,
                tokens,
                summary,
                error,
                raw_answer,
                finished_at,
                duration_ms,
            },
        )
}

fn error_kind() -> impl Strategy<Value = ErrorKind> {
    prop_oneof![
        Just(ErrorKind::BadFrame),
        Just(ErrorKind::VersionMismatch),
        Just(ErrorKind::HandshakeTimeout),
        Just(ErrorKind::Usage),
        Just(ErrorKind::ShuttingDown),
        Just(ErrorKind::Internal),
        Just(ErrorKind::Forbidden),
    ]
}

/// Most `Response` variants (all but the status report), with arbitrary contents.
fn response() -> impl Strategy<Value = Response> {
    let findings = || proptest::collection::vec(finding(), 0..4);
    prop_oneof![
        (any::<u32>(), text(), any::<u32>()).prop_map(|(protocol_version, daemon_version, pid)| {
            Response::Welcome {
                protocol_version,
                daemon_version,
                pid,
            }
        }),
        (error_kind(), text())
            .prop_map(|(kind, message)| Response::Error(ErrorReply { kind, message })),
        text().prop_map(|message| Response::Ok { message }),
        (text(), text(), opt(path()), text()).prop_map(|(at, kind, workspace, message)| {
            Response::Event(Event {
                at,
                kind,
                workspace,
                message,
            })
        }),
        (path(), any::<u64>(), any::<bool>()).prop_map(|(root, os_watches, already)| {
            Response::Watching {
                root,
                os_watches,
                already,
            }
        }),
        proptest::collection::vec(
            (text(), text(), opt(path()), text()).prop_map(|(at, kind, workspace, data_json)| {
                LogEntry {
                    at,
                    kind,
                    workspace,
                    data_json,
                }
            }),
            0..5
        )
        .prop_map(Response::Log),
        path().prop_map(|root| Response::ReviewStarted { root }),
        (any::<u64>(), text()).prop_map(|(elapsed_ms, activity)| Response::Progress {
            elapsed_ms,
            activity
        }),
        (
            path(),
            review_info(),
            findings(),
            proptest::collection::vec(text(), 0..4),
            findings(),
            proptest::collection::vec(text(), 0..4),
        )
            .prop_map(|(root, review, opened, resolved, open, reopened)| {
                Response::ReviewDone(Box::new(ReviewDone {
                    root,
                    review,
                    opened_total: opened.len() as u64,
                    opened,
                    resolved,
                    reopened,
                    open_total: open.len() as u64,
                    open,
                }))
            }),
        (findings(), opt(any::<i64>()), any::<u64>()).prop_map(|(findings, next, total)| {
            Response::Findings(FindingsPage {
                findings,
                next,
                total,
            })
        }),
        (path(), opt(text()), opt(any::<u64>()), any::<u64>()).prop_map(
            |(root, thread_id, thread_input_tokens, max_thread_input_tokens)| Response::Session {
                root,
                thread_id,
                thread_input_tokens,
                max_thread_input_tokens
            }
        ),
        (
            (path(), any::<bool>(), any::<bool>(), word(Severity::ALL)),
            (
                findings(),
                text(),
                opt(review_info()),
                word(WorkspaceState::ALL)
            ),
            (word(GateScope::ALL), findings())
        )
            .prop_map(
                |(
                    (root, pass, up_to_date, block_on),
                    (blocking, reason, last_review, state),
                    (scope, outside),
                )| {
                    Response::Gate(Box::new(GateReport {
                        root,
                        pass,
                        up_to_date,
                        block_on,
                        blocking_total: blocking.len() as u64,
                        blocking,
                        reason,
                        last_review,
                        state,
                        scope,
                        outside_change: outside.len() as u64,
                        outside,
                        escalation: None,
                    }))
                }
            ),
        findings().prop_map(Response::Undelivered),
        any::<u32>().prop_map(Response::Rounds),
        finding().prop_map(|f| Response::Disputed(Box::new(f))),
    ]
}

fn hello() -> impl Strategy<Value = Hello> {
    (any::<u32>(), text()).prop_map(|(protocol_version, client_version)| Hello {
        protocol_version,
        client_version,
    })
}

/// Bytes that are mostly noise, sometimes a plausible header in front of noise, sometimes a
/// header announcing just past the limit.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let noise = || proptest::collection::vec(any::<u8>(), 0..2048);
    prop_oneof![
        noise(),
        (noise(), 0u32..64).prop_map(|(body, slack)| {
            // A header that roughly matches the body, so the decoder sees the noise.
            let len = (body.len() as u32).saturating_sub(slack);
            let mut v = len.to_be_bytes().to_vec();
            v.extend_from_slice(&body);
            v
        }),
        (any::<u32>(), noise()).prop_map(|(len, body)| {
            let mut v = len.to_be_bytes().to_vec();
            v.extend_from_slice(&body);
            v
        }),
        (0u32..1024, noise()).prop_map(|(over, body)| {
            let mut v = (MAX_FRAME as u32 + 1 + over).to_be_bytes().to_vec();
            v.extend_from_slice(&body);
            v
        }),
    ]
}

/// Read frames of type `T` from `bytes` until an error; nothing may panic, the reader may
/// never be asked for more than `MAX_FRAME` at once, and no allocation may exceed it.
fn read_all<T: serde::de::DeserializeOwned>(bytes: &[u8], steps: Vec<usize>, interrupt: usize) {
    let mut r = Chunked::new(bytes, steps, interrupt);
    let (frames, peak) = peak_of(|| {
        let mut frames = 0usize;
        // Every frame consumes at least its 4-byte header, so this ends.
        while read_frame::<_, T>(&mut r).is_ok() {
            frames += 1;
            assert!(frames <= bytes.len() / 4 + 1);
        }
        frames
    });
    let _ = frames;
    assert!(
        r.largest_request <= MAX_FRAME,
        "asked the reader for {} bytes",
        r.largest_request
    );
    assert!(peak <= MAX_FRAME, "allocated {peak} bytes at once");
}

// ---- properties -------------------------------------------------------------------------

#[test]
fn the_allocation_probe_sees_allocations() {
    let (v, peak) = peak_of(|| vec![1u8; 100_000]);
    assert_eq!(v.len(), 100_000);
    assert!(peak >= 100_000, "{peak}");
    // A frame announcing the limit exactly is allocated (and then found truncated).
    let mut bytes = (MAX_FRAME as u32).to_be_bytes().to_vec();
    bytes.push(0);
    let (got, peak) = peak_of(|| read_frame::<_, Request>(&mut bytes.as_slice()));
    assert!(
        matches!(got, Err(FrameError::Truncated { got: 1, .. })),
        "{got:?}"
    );
    assert_eq!(peak, MAX_FRAME);
}

proptest! {
    #[test]
    fn check_len_accepts_exactly_up_to_the_limit(len in any::<u32>()) {
        let got = check_len(len.to_be_bytes());
        if len as usize <= MAX_FRAME {
            prop_assert_eq!(got.unwrap(), len as usize);
        } else {
            let is_too_large = matches!(got, Err(FrameError::TooLarge { len: l, max: MAX_FRAME }) if l == u64::from(len));
            prop_assert!(is_too_large);
        }
    }

    #[test]
    fn arbitrary_bytes_as_requests_never_panic_or_overallocate(
        bytes in hostile_bytes(),
        steps in proptest::collection::vec(1usize..64, 0..4),
        interrupt in prop_oneof![Just(0usize), 2usize..5],
    ) {
        read_all::<Request>(&bytes, steps, interrupt);
    }

    #[test]
    fn arbitrary_bytes_as_hellos_never_panic_or_overallocate(
        bytes in hostile_bytes(),
        steps in proptest::collection::vec(1usize..64, 0..4),
        interrupt in prop_oneof![Just(0usize), 2usize..5],
    ) {
        read_all::<Hello>(&bytes, steps, interrupt);
    }

    #[test]
    fn an_oversized_header_is_refused_before_the_body_is_read(
        over in 1u32..=(u32::MAX - MAX_FRAME as u32),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = (MAX_FRAME as u32 + over).to_be_bytes().to_vec();
        bytes.extend_from_slice(&body);
        let mut r = Chunked::new(&bytes, Vec::new(), 0);
        let (got, peak) = peak_of(|| read_frame::<_, Request>(&mut r));
        let too_large = matches!(got, Err(FrameError::TooLarge { .. }));
        prop_assert!(too_large, "{:?}", got);
        // Only the header was asked for, and nothing near the announced size was allocated.
        prop_assert_eq!(r.requested, 4);
        prop_assert!(peak < 4096, "allocated {} bytes", peak);
    }

    #[test]
    fn requests_round_trip_in_any_chunking(
        reqs in proptest::collection::vec(request(), 1..6),
        steps in proptest::collection::vec(1usize..32, 0..4),
        interrupt in prop_oneof![Just(0usize), 2usize..5],
    ) {
        let mut stream = Vec::new();
        for q in &reqs {
            stream.extend(encode_frame(q).unwrap());
        }
        let mut r = Chunked::new(&stream, steps, interrupt);
        for q in &reqs {
            let back: Request = read_frame(&mut r).unwrap();
            prop_assert_eq!(&back, q);
        }
        let end = read_frame::<_, Request>(&mut r);
        let closed = matches!(end, Err(FrameError::Closed));
        prop_assert!(closed, "{:?}", end);
    }

    #[test]
    fn responses_round_trip(resp in response(), steps in proptest::collection::vec(1usize..32, 0..4)) {
        let frame = encode_frame(&resp).unwrap();
        prop_assert_eq!(
            u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize,
            frame.len() - 4
        );
        let back: Response = read_frame(&mut Chunked::new(&frame, steps, 0)).unwrap();
        prop_assert_eq!(back, resp);
    }

    #[test]
    fn hellos_round_trip(h in hello()) {
        let frame = encode_frame(&h).unwrap();
        let back: Hello = read_frame(&mut frame.as_slice()).unwrap();
        prop_assert_eq!(back, h);
    }

    #[test]
    fn a_cut_frame_is_truncated_never_a_value(req in request(), cut in any::<prop::sample::Index>()) {
        let frame = encode_frame(&req).unwrap();
        let at = cut.index(frame.len()); // strictly inside: 0..len
        let got = read_frame::<_, Request>(&mut &frame[..at]);
        let ok = if at == 0 {
            matches!(got, Err(FrameError::Closed))
        } else {
            matches!(got, Err(FrameError::Truncated { got, .. }) if got < frame.len())
        };
        prop_assert!(ok, "cut at {}: {:?}", at, got);
    }

    #[test]
    fn a_corrupted_body_never_panics_or_overallocates(
        req in request(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let mut frame = encode_frame(&req).unwrap();
        let body_len = frame.len() - 4;
        if body_len > 0 {
            for (i, x) in flips {
                frame[4 + i.index(body_len)] ^= x;
            }
        }
        let (_, peak) = peak_of(|| read_frame::<_, Request>(&mut frame.as_slice()));
        prop_assert!(peak <= MAX_FRAME);
    }
}

// ---- the async reader (the daemon's) maps every stream as the blocking one does ---------

/// What a reader made of a stream, comparable: the values read, then how it ended.
#[cfg(feature = "tokio")]
fn outcome<T: std::fmt::Debug>(frames: Vec<T>, end: FrameError) -> (Vec<String>, String) {
    (
        frames.iter().map(|f| format!("{f:?}")).collect(),
        end.to_string(),
    )
}

#[cfg(feature = "tokio")]
proptest! {
    #[test]
    fn the_async_reader_agrees_with_the_blocking_one(bytes in hostile_bytes()) {
        use cxd_proto::async_frame;
        let timeout = std::time::Duration::from_secs(5);
        let mut r = bytes.as_slice();
        let mut frames = Vec::new();
        let end = loop {
            match read_frame::<_, Request>(&mut r) {
                Ok(f) => frames.push(f),
                Err(e) => break e,
            }
        };
        let blocking = outcome(frames, end);

        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let (asynced, peak) = peak_of(|| rt.block_on(async {
            let mut r = bytes.as_slice();
            let mut frames = Vec::new();
            let end = loop {
                match async_frame::read_frame::<_, Request>(&mut r, timeout).await {
                    Ok(f) => frames.push(f),
                    Err(e) => break e,
                }
            };
            outcome(frames, end)
        }));
        prop_assert_eq!(asynced, blocking);
        prop_assert!(peak <= MAX_FRAME, "allocated {} bytes at once", peak);
    }

    #[test]
    fn the_async_reader_refuses_an_oversized_header_and_a_cut_frame(
        over in 1u32..=(u32::MAX - MAX_FRAME as u32),
        req in request(),
        cut in any::<prop::sample::Index>(),
    ) {
        use cxd_proto::async_frame;
        let timeout = std::time::Duration::from_secs(5);
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();

        let mut bytes = (MAX_FRAME as u32 + over).to_be_bytes().to_vec();
        bytes.extend_from_slice(&[1, 2, 3]);
        let (got, peak) = peak_of(|| rt.block_on(async_frame::read_frame::<_, Request>(&mut bytes.as_slice(), timeout)));
        let too_large = matches!(got, Err(FrameError::TooLarge { .. }));
        prop_assert!(too_large, "{:?}", got);
        prop_assert!(peak < 4096, "allocated {} bytes", peak);

        let frame = encode_frame(&req).unwrap();
        let at = cut.index(frame.len());
        let got = rt.block_on(async_frame::read_frame::<_, Request>(&mut &frame[..at], timeout));
        let ok = if at == 0 {
            matches!(got, Err(FrameError::Closed))
        } else {
            matches!(got, Err(FrameError::Truncated { got, .. }) if got < frame.len())
        };
        prop_assert!(ok, "cut at {}: {:?}", at, got);
    }
}
