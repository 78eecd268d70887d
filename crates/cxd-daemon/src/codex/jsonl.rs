//! Reading codex's `--json` output tolerantly: unknown events, items and fields are ignored,
//! lines are bounded, invalid UTF-8 survives, and only what a review needs is kept.

use serde_json::Value;

/// Longest line kept; a longer one is skipped (and counted).
pub const MAX_LINE: usize = 4 * 1024 * 1024;
/// Error messages kept (the newest).
const MAX_MESSAGES: usize = 20;
/// Longest text kept from a reasoning heading or command, for progress.
const MAX_ACTIVITY: usize = 200;

/// Cumulative token usage of a thread, as `turn.completed` reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Input tokens, cached ones included.
    pub input: u64,
    /// Of the input tokens, how many were served from cache.
    pub cached_input: u64,
    /// Output tokens, reasoning included.
    pub output: u64,
}

impl Usage {
    /// This reading minus an earlier one of the same thread (never negative).
    pub fn since(self, earlier: Usage) -> Usage {
        Usage {
            input: self.input.saturating_sub(earlier.input),
            cached_input: self.cached_input.saturating_sub(earlier.cached_input),
            output: self.output.saturating_sub(earlier.output),
        }
    }
}

/// What codex is doing right now, for progress lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activity {
    /// A reasoning summary heading, e.g. "Checking error paths" (cut to 200 bytes).
    Thinking(String),
    /// A command it runs, e.g. `rg -n unwrap src` (cut to 200 bytes).
    Running(String),
}

/// Everything a review keeps from codex's stdout.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    /// The thread id from `thread.started` (None if codex never sent one).
    pub thread_id: Option<String>,
    /// Whether a `turn.completed` came: codex finished its turn rather than dying mid-way.
    pub turn_completed: bool,
    /// The message of a `turn.failed` event (None when the turn did not fail).
    pub turn_failed: Option<String>,
    /// The last `agent_message` text: the answer, when the `-o` file is missing.
    pub last_message: Option<String>,
    /// Cumulative usage from the last `turn.completed`.
    pub usage: Option<Usage>,
    /// `error` events and error items (newest kept).
    pub errors: Vec<String>,
    /// Lines that were not JSON objects.
    pub garbage_lines: u64,
    /// Lines longer than [`MAX_LINE`], skipped.
    pub oversized_lines: u64,
}

impl Transcript {
    /// Take one line; returns the activity it shows, if any.
    pub fn line(&mut self, bytes: &[u8]) -> Option<Activity> {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let Ok(Value::Object(ev)) = serde_json::from_str::<Value>(text) else {
            self.garbage_lines += 1;
            return None;
        };
        let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        match ev.get("type").and_then(Value::as_str).unwrap_or("") {
            "thread.started" => self.thread_id = str_of(&Value::Object(ev.clone()), "thread_id"),
            "turn.completed" => {
                self.turn_completed = true;
                if let Some(u) = ev.get("usage") {
                    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
                    self.usage = Some(Usage {
                        input: n("input_tokens"),
                        cached_input: n("cached_input_tokens"),
                        output: n("output_tokens"),
                    });
                }
            }
            "turn.failed" => {
                let msg = ev
                    .get("error")
                    .and_then(|e| str_of(e, "message"))
                    .unwrap_or_else(|| "turn failed".into());
                self.push_error(msg.clone());
                self.turn_failed = Some(msg);
            }
            "error" => {
                if let Some(m) = str_of(&Value::Object(ev.clone()), "message") {
                    self.push_error(m);
                }
            }
            "item.started" | "item.updated" | "item.completed" => {
                let completed = ev.get("type").and_then(Value::as_str) == Some("item.completed");
                let item = ev.get("item")?;
                return self.item(item, completed);
            }
            _ => {}
        }
        None
    }

    fn item(&mut self, item: &Value, completed: bool) -> Option<Activity> {
        let text = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_owned);
        match item.get("type").and_then(Value::as_str).unwrap_or("") {
            "agent_message" if completed => {
                self.last_message = text("text");
                None
            }
            "reasoning" => text("text").map(|t| Activity::Thinking(heading(&t))),
            "command_execution" if !completed => {
                text("command").map(|c| Activity::Running(clip(&c)))
            }
            "error" => {
                if let Some(m) = text("message") {
                    self.push_error(m);
                }
                None
            }
            _ => None,
        }
    }

    fn push_error(&mut self, m: String) {
        if self.errors.len() == MAX_MESSAGES {
            self.errors.remove(0);
        }
        self.errors.push(m);
    }
}

/// The first line of a reasoning text, without markdown emphasis.
fn heading(text: &str) -> String {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    clip(first.trim_matches('*').trim())
}

fn clip(s: &str) -> String {
    if s.len() <= MAX_ACTIVITY {
        return s.to_owned();
    }
    let mut end = MAX_ACTIVITY;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Splits a byte stream into lines, never holding more than [`MAX_LINE`] bytes.
#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
    skipping: bool,
}

impl LineSplitter {
    /// Feed a chunk; `on_line` gets each complete line. Returns the number of oversized lines
    /// skipped in this chunk.
    pub fn feed(&mut self, chunk: &[u8], mut on_line: impl FnMut(&[u8])) -> u64 {
        let mut skipped = 0;
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(pos);
            if self.skipping {
                self.skipping = false;
            } else if self.buf.len() + head.len() > MAX_LINE {
                skipped += 1;
                self.buf.clear();
            } else if self.buf.is_empty() {
                on_line(head);
            } else {
                self.buf.extend_from_slice(head);
                on_line(&self.buf);
                self.buf.clear();
            }
            rest = &tail[1..];
        }
        if !self.skipping {
            if self.buf.len() + rest.len() > MAX_LINE {
                self.buf.clear();
                self.skipping = true;
                skipped += 1;
            } else {
                self.buf.extend_from_slice(rest);
            }
        }
        skipped
    }

    /// The last line, if the stream did not end with a newline.
    pub fn finish(&mut self, on_line: impl FnOnce(&[u8])) {
        if !self.skipping && !self.buf.is_empty() {
            on_line(&self.buf);
        }
        self.buf.clear();
        self.skipping = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real lines from codex 0.169 (see tests/fixtures/README.md).
    const REAL: &str = r#"{"type":"thread.started","thread_id":"01a20bcf-a64a-7b03-bf54-a703d0125150"}
{"type":"item.completed","item":{"id":"item_0","type":"error","message":"Model metadata for `some-model` not found."}}
{"type":"turn.started"}
{"type":"item.completed","item":{"id":"item_1","type":"reasoning","text":"**Reading the diff**\n\nmore"}}
{"type":"item.started","item":{"id":"item_2","type":"command_execution","command":"bash -lc 'cat src/a.rs'","status":"in_progress"}}
{"type":"item.completed","item":{"id":"item_3","type":"agent_message","text":"{\"verdict\":\"approve\"}"}}
{"type":"some.future.event","x":1}
{"type":"turn.completed","usage":{"input_tokens":10188,"cached_input_tokens":5,"cache_write_input_tokens":0,"output_tokens":57,"reasoning_output_tokens":0}}
"#;

    fn read(text: &[u8]) -> (Transcript, Vec<Activity>) {
        let mut t = Transcript::default();
        let mut acts = Vec::new();
        let mut split = LineSplitter::default();
        let skipped = split.feed(text, |l| acts.extend(t.line(l)));
        split.finish(|l| acts.extend(t.line(l)));
        t.oversized_lines += skipped;
        (t, acts)
    }

    #[test]
    fn reads_a_real_transcript() {
        let (t, acts) = read(REAL.as_bytes());
        assert_eq!(
            t.thread_id.as_deref(),
            Some("01a20bcf-a64a-7b03-bf54-a703d0125150")
        );
        assert!(t.turn_completed);
        assert_eq!(t.last_message.as_deref(), Some(r#"{"verdict":"approve"}"#));
        assert_eq!(
            t.usage,
            Some(Usage {
                input: 10188,
                cached_input: 5,
                output: 57
            })
        );
        assert_eq!(t.errors.len(), 1);
        assert_eq!(
            acts,
            [
                Activity::Thinking("Reading the diff".into()),
                Activity::Running("bash -lc 'cat src/a.rs'".into())
            ]
        );
    }

    #[test]
    fn failures_and_garbage() {
        let text = b"not json\n\xff\xfe binary\n[1,2]\n{\"type\":\"error\",\"message\":\"Reconnecting... 1/5\"}\n{\"type\":\"turn.failed\",\"error\":{\"message\":\"usage limit\"}}\n";
        let (t, _) = read(text);
        assert_eq!(t.garbage_lines, 3);
        assert_eq!(t.turn_failed.as_deref(), Some("usage limit"));
        assert_eq!(t.errors, ["Reconnecting... 1/5", "usage limit"]);
        assert!(!t.turn_completed);
    }

    #[test]
    fn oversized_lines_are_skipped_in_any_chunking() {
        let mut big = vec![b'x'; MAX_LINE + 10];
        big.push(b'\n');
        big.extend_from_slice(
            b"{\"type\":\"turn.started\"}\n{\"type\":\"thread.started\",\"thread_id\":\"t\"}",
        );
        for chunk in [7usize, 4096, big.len()] {
            let mut t = Transcript::default();
            let mut split = LineSplitter::default();
            let mut skipped = 0;
            for c in big.chunks(chunk) {
                skipped += split.feed(c, |l| {
                    t.line(l);
                });
            }
            split.finish(|l| {
                t.line(l);
            });
            assert_eq!(skipped, 1, "chunk {chunk}");
            assert_eq!(t.thread_id.as_deref(), Some("t"), "chunk {chunk}");
            assert_eq!(t.garbage_lines, 0);
        }
    }

    #[test]
    fn usage_difference_never_underflows() {
        let a = Usage {
            input: 10,
            cached_input: 2,
            output: 5,
        };
        let b = Usage {
            input: 25,
            cached_input: 2,
            output: 9,
        };
        assert_eq!(
            b.since(a),
            Usage {
                input: 15,
                cached_input: 0,
                output: 4
            }
        );
        assert_eq!(a.since(b), Usage::default());
    }
}
