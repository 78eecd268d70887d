//! Hostile text made safe to print: Codex's words and a repository's file names reach people's
//! terminals, and an escape sequence, a bare newline or a bidi override in them could retitle
//! the window, clear the screen, fake a finding line or reorder what is shown.
//!
//! Every place that prints model- or repository-controlled text for people goes through
//! [`line()`] or [`lines`]; JSON goes through [`json`], which keeps every value exact.

use std::fmt::Write as _;

/// Would this character change what a terminal shows beyond printing a glyph?
fn is_unsafe(c: char) -> bool {
    c.is_control() // C0, DEL and C1
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' // left-to-right / right-to-left marks
                | '\u{061C}' // Arabic letter mark
                | '\u{202A}'..='\u{202E}' // embeddings and overrides
                | '\u{2066}'..='\u{2069}' // isolates
                | '\u{2028}' | '\u{2029}' // line and paragraph separators
        )
}

/// Write `c` as visible text: `\n`, `\x1b`, `\u{202e}`.
fn escape(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push(' '),
        c if (c as u32) < 0x100 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:04x}}}", c as u32);
        }
    }
}

/// A single-line field (a title, a file name, a path, a progress line): every control and bidi
/// character, newlines included, becomes a visible escape.
pub fn line(text: &str) -> String {
    if !text.chars().any(is_unsafe) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// Multi-line text (a body, an error with codex's stderr): each line made safe by [`line()`],
/// lines after the first prefixed with `indent`, so that no line can pass for one of cxd's own.
/// A trailing newline is dropped; the caller ends the last line.
pub fn lines(text: &str, indent: &str) -> String {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let mut out = String::with_capacity(text.len() + 8);
    for (i, l) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(indent);
        }
        out.push_str(&line(l.strip_suffix('\r').unwrap_or(l)));
    }
    out
}

/// Serialized JSON with no raw control or bidi character left in it: serde already escapes
/// C0; DEL, C1 and bidi controls (valid raw in JSON) become `\uXXXX` escapes too, so the
/// values parse back exactly and a terminal showing the JSON shows only glyphs.
pub fn json_text(serialized: String) -> String {
    if !serialized.chars().any(is_unsafe_in_json) {
        return serialized;
    }
    let mut out = String::with_capacity(serialized.len() + 16);
    for c in serialized.chars() {
        if is_unsafe_in_json(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// Unsafe, and not the structural whitespace of pretty-printed JSON (which serde only emits
/// outside strings: inside them it escapes every C0 character itself).
fn is_unsafe_in_json(c: char) -> bool {
    is_unsafe(c) && !matches!(c, '\n' | ' ')
}

/// `value` as JSON (pretty or compact), through [`json_text`].
pub fn json<T: serde::Serialize + ?Sized>(value: &T, pretty: bool) -> serde_json::Result<String> {
    let text = if pretty {
        serde_json::to_string_pretty(value)?
    } else {
        serde_json::to_string(value)?
    };
    Ok(json_text(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str =
        "a\u{1b}]0;pwned\u{7}b\u{1b}[2J\nF9 critical fake\u{202e}x\u{9b}y\u{2066}";

    #[test]
    fn a_line_keeps_no_control_or_bidi_character() {
        let safe = line(HOSTILE);
        assert!(!safe.chars().any(is_unsafe), "{safe:?}");
        assert_eq!(
            safe,
            "a\\x1b]0;pwned\\x07b\\x1b[2J\\nF9 critical fake\\u{202e}x\\x9by\\u{2066}"
        );
        assert_eq!(line("plain text — ünïcode"), "plain text — ünïcode");
        assert_eq!(line("tab\there"), "tab here");
    }

    #[test]
    fn lines_keep_newlines_but_indent_every_continuation() {
        assert_eq!(
            lines("first\r\nF9 critical fake\n\u{1b}[2Jthird\n", "      "),
            "first\n      F9 critical fake\n      \\x1b[2Jthird"
        );
        assert_eq!(lines("", "  "), "");
    }

    #[test]
    fn json_stays_exact_without_raw_controls() {
        let value = serde_json::json!({"title": HOSTILE, "del": "\u{7f}"});
        for pretty in [true, false] {
            let text = json(&value, pretty).unwrap();
            assert!(
                !text
                    .chars()
                    .any(|c| is_unsafe(c) && !matches!(c, '\n' | ' ')),
                "{text:?}"
            );
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back, value);
        }
    }
}
