//! The JSON-RPC lines the MCP client sends, bounded and checked before the MCP library reads
//! them: a line over [`MAX_LINE`] bytes (the rest of it discarded, so the next line is read
//! whole), one that is not JSON, one nested deeper than [`MAX_DEPTH`], or one that is not a
//! JSON-RPC message is answered here with a JSON-RPC error, so no request goes unanswered and
//! the server keeps serving.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _};

/// Most bytes of one line (a message) taken from the client.
pub const MAX_LINE: usize = 4 * 1024 * 1024;
/// Deepest nesting of arrays and objects taken in a message.
pub const MAX_DEPTH: usize = 64;

/// JSON-RPC: the line is not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: the JSON is not a request this server takes (too large or deep, or malformed).
pub const INVALID_REQUEST: i64 = -32600;

/// What to do with one line from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    /// Pass it to the server as it is.
    Forward,
    /// Answer it with this JSON-RPC error message (one line, no newline).
    Answer(String),
    /// Nothing to do (a blank line).
    Skip,
}

/// One line read from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// A whole line is in the buffer (without its newline).
    Line,
    /// The line was longer than the limit: it was discarded up to its newline.
    Oversized,
    /// The client closed its end (a last unterminated line is in the buffer, if any).
    Eof,
}

/// Read one `\n`-terminated line into `buf` (cleared first), never holding more than `max`
/// bytes of it: past that the rest of the line is read and dropped.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Read> {
    buf.clear();
    let mut oversized = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(if oversized {
                Read::Oversized
            } else {
                Read::Eof
            });
        }
        let newline = available.iter().position(|b| *b == b'\n');
        let take = newline.map_or(available.len(), |i| i + 1);
        let data = newline.map_or(available, |i| &available[..i]);
        if !oversized {
            if buf.len().saturating_add(data.len()) > max {
                oversized = true;
                buf.clear();
            } else {
                buf.extend_from_slice(data);
            }
        }
        reader.consume(take);
        if newline.is_some() {
            return Ok(if oversized {
                Read::Oversized
            } else {
                Read::Line
            });
        }
    }
}

/// The error answer to a line over the size limit.
pub fn oversized() -> String {
    error(
        &Value::Null,
        INVALID_REQUEST,
        &format!("invalid request: the message is over {MAX_LINE} bytes and was discarded"),
    )
}

/// What to do with `line`, a message from the client.
pub fn check(line: &[u8]) -> Check {
    let line = line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(line);
    let line = line.trim_ascii();
    if line.is_empty() {
        return Check::Skip;
    }
    // serde_json skips ignored values without recursing: any depth is checked for syntax.
    if let Err(e) = serde_json::from_slice::<IgnoredAny>(line) {
        return Check::Answer(error(
            &Value::Null,
            PARSE_ERROR,
            &format!("parse error: the message is not JSON ({e})"),
        ));
    }
    if depth(line) > MAX_DEPTH {
        return Check::Answer(error(
            &shallow_id(line),
            INVALID_REQUEST,
            &format!("invalid request: the message nests deeper than {MAX_DEPTH} levels"),
        ));
    }
    let Ok(value) = serde_json::from_slice::<Value>(line) else {
        return Check::Answer(error(
            &Value::Null,
            PARSE_ERROR,
            "parse error: the message is not JSON",
        ));
    };
    let Value::Object(message) = &value else {
        return Check::Answer(error(
            &Value::Null,
            INVALID_REQUEST,
            "invalid request: a message is one JSON object (batches are not taken)",
        ));
    };
    let id = message.get("id").filter(|id| is_id(id)).cloned();
    if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Check::Answer(error(
            id.as_ref().unwrap_or(&Value::Null),
            INVALID_REQUEST,
            "invalid request: \"jsonrpc\" must be \"2.0\"",
        ));
    }
    if message.contains_key("id") && id.is_none() {
        return Check::Answer(error(
            &Value::Null,
            INVALID_REQUEST,
            "invalid request: an id is a string or a number",
        ));
    }
    match serde_json::from_value::<rmcp::model::ClientJsonRpcMessage>(value.clone()) {
        Ok(_) => Check::Forward,
        // A notification gets no answer; the server ignores the ones it does not know.
        Err(_) if id.is_none() && message.get("method").is_some_and(Value::is_string) => {
            Check::Forward
        }
        Err(e) => Check::Answer(error(
            id.as_ref().unwrap_or(&Value::Null),
            INVALID_REQUEST,
            &format!("invalid request: {e}"),
        )),
    }
}

/// A JSON-RPC id: a string or a number.
fn is_id(v: &Value) -> bool {
    v.is_string() || v.is_number()
}

/// A JSON-RPC error response, as one line.
fn error(id: &Value, code: i64, message: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}).to_string()
}

/// How deep arrays and objects nest in `json` (valid JSON).
fn depth(json: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The id of a message too deep to parse whole, when it is a top-level string or number
/// (everything else is skipped without recursing); null otherwise.
fn shallow_id(json: &[u8]) -> Value {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        id: Option<Value>,
    }
    if json.first() != Some(&b'{') {
        return Value::Null;
    }
    serde_json::from_slice::<Envelope>(json)
        .ok()
        .and_then(|e| e.id)
        .filter(is_id)
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(line: &str) -> Value {
        match check(line.as_bytes()) {
            Check::Answer(a) => serde_json::from_str(&a).unwrap(),
            other => panic!("{line:?}: {other:?}"),
        }
    }

    #[test]
    fn requests_and_notifications_go_through() {
        for line in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":"a","method":"ping"}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/whatever","params":5}"#,
        ] {
            assert_eq!(check(line.as_bytes()), Check::Forward, "{line}");
        }
        assert_eq!(check(b"  \r"), Check::Skip);
    }

    #[test]
    fn not_json_is_a_parse_error_with_a_null_id() {
        for line in ["{", "not json", "{\"id\":1,", "\u{1b}[2J", "[1,]"] {
            let a = answer(line);
            assert_eq!(a["error"]["code"], PARSE_ERROR, "{line}");
            assert_eq!(a["id"], Value::Null, "{line}");
        }
        assert!(matches!(check(b"\"\xff\""), Check::Answer(_)));
    }

    #[test]
    fn deep_nesting_is_refused_with_the_id_when_it_can_be_read() {
        let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        for n in [MAX_DEPTH, 200, 100_000] {
            let line = format!(
                r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"status","arguments":{{"x":{}}}}}}}"#,
                deep(n)
            );
            let a = answer(&line);
            assert_eq!(a["error"]["code"], INVALID_REQUEST, "{n}");
            assert_eq!(a["id"], 7, "{n}");
        }
        let a = answer(&deep(100_000));
        assert_eq!(a["id"], Value::Null);
        // Brackets inside strings are not nesting.
        let line = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"_meta":{{"s":"{}\"\\"}}}}}}"#,
            "[".repeat(1000)
        );
        assert_eq!(check(line.as_bytes()), Check::Forward);
    }

    #[test]
    fn json_that_is_not_a_request_is_an_invalid_request() {
        for (line, id) in [
            ("[]", Value::Null),
            ("5", Value::Null),
            (r#"{"id":3,"method":"ping"}"#, json!(3)),
            (r#"{"jsonrpc":"1.0","id":3,"method":"ping"}"#, json!(3)),
            (
                r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
                Value::Null,
            ),
            (
                r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":"x"}"#,
                json!(4),
            ),
            (r#"{"jsonrpc":"2.0","id":"q","method":5}"#, json!("q")),
            (r#"{"jsonrpc":"2.0"}"#, Value::Null),
        ] {
            let a = answer(line);
            assert_eq!(a["error"]["code"], INVALID_REQUEST, "{line}");
            assert_eq!(a["id"], id, "{line}");
        }
    }

    #[tokio::test]
    async fn an_oversized_line_is_dropped_up_to_its_newline_and_the_next_read_whole() {
        let mut input = vec![b'x'; 100];
        input.extend_from_slice(b"\nok\ntail");
        let mut reader = tokio::io::BufReader::with_capacity(7, input.as_slice());
        let mut buf = Vec::new();
        assert_eq!(
            read_line(&mut reader, &mut buf, 10).await.unwrap(),
            Read::Oversized
        );
        assert!(buf.is_empty());
        assert_eq!(
            read_line(&mut reader, &mut buf, 10).await.unwrap(),
            Read::Line
        );
        assert_eq!(buf, b"ok");
        assert_eq!(
            read_line(&mut reader, &mut buf, 10).await.unwrap(),
            Read::Eof
        );
        assert_eq!(buf, b"tail");
    }
}
