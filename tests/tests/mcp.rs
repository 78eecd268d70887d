//! `cxd mcp`: the MCP server Claude Code starts from the plugin, driven over stdio with
//! JSON-RPC lines as a client would: the handshake, the tool list with its schemas and
//! annotations, every tool against a watched repository, and bad calls that come back as tool
//! errors while the server carries on.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use cxd_e2e::{TestEnv, init_repo};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

/// A `cxd mcp` process and the JSON-RPC messages it wrote, line by line.
struct Mcp {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    /// Notifications read while waiting for a response.
    notifications: Vec<Value>,
    next_id: u64,
}

impl Mcp {
    /// Start `cxd mcp` in `dir` and complete the handshake; the `initialize` result.
    fn start(env: &TestEnv, dir: &Path) -> (Self, Value) {
        let mut child = env
            .cmd(&["mcp"])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut mcp = Self {
            child,
            stdin,
            lines,
            notifications: Vec::new(),
            next_id: 1,
        };
        let init = mcp.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "cxd-e2e", "version": "1"}}),
        );
        mcp.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        (mcp, init)
    }

    fn send(&mut self, message: &Value) {
        self.send_raw(&message.to_string());
    }

    fn send_raw(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Send a request and wait for the response with its id (notifications are kept).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.response(id)
    }

    fn response(&mut self, id: u64) -> Value {
        let deadline = Instant::now() + T;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(l) => l,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no response to request {id} within {T:?}")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("cxd mcp closed its output before answering request {id}")
                }
            };
            let message: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not JSON-RPC: {e}: {line:?}"));
            if message["id"] == json!(id) {
                return message;
            }
            self.notifications.push(message);
        }
    }

    /// `tools/call`; the result object (a JSON-RPC error fails the test).
    fn call(&mut self, name: &str, arguments: Value) -> Value {
        let response = self.request("tools/call", json!({"name": name, "arguments": arguments}));
        assert!(
            response.get("error").is_none(),
            "a tool call never fails at the protocol level: {response}"
        );
        response["result"].clone()
    }
}

impl Drop for Mcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text content of a tool result.
fn text(result: &Value) -> String {
    result["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_error(result: &Value) -> bool {
    result["isError"] == json!(true)
}

#[test]
fn the_handshake_and_the_tool_list_give_schemas_and_read_only_hints_and_no_dismiss_or_approve() {
    let env = TestEnv::new();
    let repo = init_repo(env.dir.path(), "repo");
    // No daemon: listing tools needs none.
    let (mut mcp, init) = Mcp::start(&env, &repo);
    assert_eq!(init["result"]["serverInfo"]["name"], "cxd", "{init}");
    assert!(
        init["result"]["capabilities"]["tools"].is_object(),
        "{init}"
    );
    assert!(
        init["result"]["instructions"]
            .as_str()
            .unwrap()
            .contains("dispute"),
        "{init}"
    );
    let list = mcp.request("tools/list", json!({}));
    let tools = list["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["status", "findings", "review", "plan", "dispute"]);
    for t in tools {
        let schema = &t["inputSchema"];
        assert_eq!(schema["type"], "object", "{t}");
        assert_eq!(schema["additionalProperties"], false, "{t}");
        assert!(
            t["description"]
                .as_str()
                .unwrap()
                .contains("git work tree holding the directory this server was started in"),
            "each tool says which workspace it works on: {t}"
        );
        let read_only = matches!(t["name"].as_str(), Some("status" | "findings"));
        assert_eq!(t["annotations"]["readOnlyHint"], read_only, "{t}");
    }
    let by_name = |n: &str| tools.iter().find(|t| t["name"] == n).unwrap().clone();
    assert_eq!(by_name("plan")["inputSchema"]["required"], json!(["plan"]));
    assert_eq!(
        by_name("dispute")["inputSchema"]["required"],
        json!(["id", "reason"])
    );
    assert_eq!(
        by_name("findings")["inputSchema"]["properties"]["severity"]["enum"],
        json!(["info", "low", "medium", "high", "critical"])
    );
}

#[test]
fn every_tool_works_on_the_watched_repository_it_was_started_in() {
    let env = TestEnv::new();
    env.write_config("[settle]\nquiet_ms = 60000\nmax_wait_ms = 120000\n");
    let title = "add overflows \u{1b}[2J on large inputs";
    let finding = json!({"severity": "high", "category": "bug", "file": "calc.rs", "line_start": 1,
        "line_end": 1, "title": title, "body": "u32 + u32 wraps", "recommendation": "use checked_add",
        "confidence": 0.9});
    env.script_codex(&json!([
        {"reasoning": "**Reading calc.rs**", "answer": {"verdict": "changes_requested", "summary": "one bug",
                     "findings": [finding], "fixed_finding_ids": []}},
        {"answer": {"verdict": "approve", "summary": "the plan is sound", "findings": [],
                    "fixed_finding_ids": []}},
    ]));
    let repo = init_repo(env.dir.path(), "repo");
    let sub = repo.join("src");
    std::fs::create_dir_all(&sub).unwrap();
    let _daemon = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    std::fs::write(
        repo.join("calc.rs"),
        "pub fn add(a: u32, b: u32) -> u32 { a + b }\n",
    )
    .unwrap();

    // Started in a subdirectory: the workspace is the work tree holding it.
    let (mut mcp, _) = Mcp::start(&env, &sub);

    // review: waits for the verdict, with progress notifications for the client's token.
    let review = mcp.request(
        "tools/call",
        json!({"name": "review", "arguments": {"all": true}, "_meta": {"progressToken": "tok-1"}}),
    );
    let result = &review["result"];
    assert!(!is_error(result), "{review}");
    let said = text(result);
    assert!(said.contains("changes_requested"), "{said}");
    assert!(
        said.contains("F1") && said.contains("use checked_add"),
        "{said}"
    );
    // Codex's words reach the client with no raw escape character.
    assert!(!said.contains('\u{1b}'), "{said:?}");
    assert!(said.contains("\\x1b[2J"), "{said}");
    let progress: Vec<&Value> = mcp
        .notifications
        .iter()
        .filter(|n| n["method"] == "notifications/progress")
        .collect();
    assert!(!progress.is_empty(), "{:#?}", mcp.notifications);
    assert!(
        progress
            .iter()
            .all(|n| n["params"]["progressToken"] == "tok-1")
    );
    assert!(
        progress
            .iter()
            .any(|n| n["params"]["message"].as_str().unwrap().contains("codex:")),
        "{progress:#?}"
    );
    let values: Vec<f64> = progress
        .iter()
        .map(|n| n["params"]["progress"].as_f64().unwrap())
        .collect();
    assert!(values.windows(2).all(|w| w[0] < w[1]), "{values:?}");

    // findings: the open one, with its fix; filtered by severity.
    let found = mcp.call("findings", json!({}));
    assert!(!is_error(&found), "{found}");
    let found = text(&found);
    assert!(
        found.contains("high (1)") && found.contains("F1"),
        "{found}"
    );
    assert!(found.contains("fix: use checked_add"), "{found}");
    assert!(found.contains("dispute tool"), "{found}");
    let none = text(&mcp.call("findings", json!({"severity": "critical"})));
    assert!(none.contains("no open findings"), "{none}");

    // status: this workspace, its last review and what is open.
    let status = mcp.call("status", json!({}));
    assert!(!is_error(&status), "{status}");
    let status = text(&status);
    assert!(status.contains(repo.to_str().unwrap()), "{status}");
    assert!(status.contains("changes_requested"), "{status}");

    // plan: validated by Codex, on the workspace's thread.
    let plan = mcp.call(
        "plan",
        json!({"plan": "1. Make add return Option<u32> via checked_add.\n2. Test the overflow."}),
    );
    assert!(!is_error(&plan), "{plan}");
    assert!(text(&plan).contains("approve"), "{}", text(&plan));
    let calls = env.codex_calls();
    assert_eq!(calls.len(), 2);
    assert!(
        calls[1]["prompt"]
            .as_str()
            .unwrap()
            .contains("Make add return Option<u32>"),
        "the plan reached Codex"
    );

    // dispute: recorded as the agent's, for the next review to rule on.
    let reason = "the only caller bounds both inputs to 2^20";
    let disputed = mcp.call("dispute", json!({"id": "F1", "reason": reason}));
    assert!(!is_error(&disputed), "{disputed}");
    assert!(
        text(&disputed).contains("disputed F1") && text(&disputed).contains("as agent"),
        "{}",
        text(&disputed)
    );
    let entries = env.log_kind("dispute");
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0]["by"], "agent");
    assert_eq!(entries[0]["reason"], reason);
}

#[test]
fn bad_calls_are_tool_errors_that_say_what_to_do_and_the_server_keeps_serving() {
    let env = TestEnv::new();
    let repo = init_repo(env.dir.path(), "repo");
    let plain = env.dir.path().join("not-a-repo");
    std::fs::create_dir_all(&plain).unwrap();
    let (mut mcp, _) = Mcp::start(&env, &repo);

    // No daemon: a tool error naming the way forward, not a crash.
    let down = mcp.call("status", json!({}));
    assert!(is_error(&down), "{down}");
    assert!(
        text(&down).contains("not running") && text(&down).contains("cxd watch"),
        "{}",
        text(&down)
    );

    let unknown = mcp.call("dismiss", json!({"id": "F1"}));
    assert!(is_error(&unknown), "{unknown}");
    assert!(
        text(&unknown).contains("user's"),
        "dismissing is the user's: {}",
        text(&unknown)
    );
    for (tool, args, says) in [
        ("findings", json!({"severity": "severe"}), "unknown variant"),
        ("findings", json!({"colour": true}), "unknown field"),
        ("plan", json!({}), "missing field `plan`"),
        ("plan", json!({"plan": 7}), "invalid type"),
        ("dispute", json!({"id": "F1"}), "missing field `reason`"),
    ] {
        let r = mcp.call(tool, args.clone());
        assert!(is_error(&r), "{tool} {args}: {r}");
        assert!(
            text(&r).contains(says) && text(&r).contains(tool),
            "{tool} {args}: {}",
            text(&r)
        );
    }
    // Refused before anything is sent (so even with no daemon these are about the input).
    let empty = mcp.call("plan", json!({"plan": "  \n"}));
    assert!(
        is_error(&empty) && text(&empty).contains("the plan is empty"),
        "{empty}"
    );
    let no_reason = mcp.call("dispute", json!({"id": "F1", "reason": " "}));
    assert!(
        is_error(&no_reason) && text(&no_reason).contains("the reason is empty"),
        "{no_reason}"
    );

    // A line that is not JSON-RPC does not end the session.
    mcp.send_raw("this is not json");
    mcp.send_raw(
        "{\"jsonrpc\": \"2.0\", \"id\": \"x\", \"method\": \"tools/call\", \"params\": 5}",
    );
    let list = mcp.request("tools/list", json!({}));
    assert_eq!(
        list["result"]["tools"].as_array().unwrap().len(),
        5,
        "{list}"
    );

    // With a daemon, a directory outside every watched work tree is a tool error too.
    let _daemon = env.start_daemon();
    let (mut outside, _) = Mcp::start(&env, &plain);
    for tool in ["status", "findings"] {
        let r = outside.call(tool, json!({}));
        assert!(is_error(&r), "{tool}: {r}");
        assert!(text(&r).contains("cxd watch"), "{tool}: {}", text(&r));
    }
    // The first server is still there.
    assert!(is_error(&mcp.call("review", json!({"all": "yes"}))));
}

impl Mcp {
    /// Send `line`, then a `tools/list` request; the messages that came before its answer
    /// (which must list the tools: the server kept serving).
    fn answers_to(&mut self, line: &str) -> Vec<Value> {
        self.send_raw(line);
        self.notifications.clear();
        let list = self.request("tools/list", json!({}));
        assert_eq!(
            list["result"]["tools"].as_array().map(Vec::len),
            Some(5),
            "the server answers after {:?}: {list}",
            line.get(..200).unwrap_or(line)
        );
        std::mem::take(&mut self.notifications)
    }

    /// The one JSON-RPC error `line` is answered with, before the next request's answer.
    fn error_for(&mut self, line: &str, code: i64, id: &Value) -> String {
        let shown = line.get(..200).unwrap_or(line).to_owned();
        let answers = self.answers_to(line);
        assert_eq!(answers.len(), 1, "{shown:?} gets one answer: {answers:?}");
        let a = &answers[0];
        assert_eq!(a["jsonrpc"], "2.0", "{shown:?}: {a}");
        assert_eq!(a["error"]["code"], code, "{shown:?}: {a}");
        assert_eq!(&a["id"], id, "{shown:?}: {a}");
        a["error"]["message"].as_str().unwrap().to_owned()
    }
}

#[test]
fn every_line_gets_an_answer_however_large_deep_or_malformed_and_the_server_keeps_serving() {
    let env = TestEnv::new();
    let repo = init_repo(env.dir.path(), "repo");
    let (mut mcp, _) = Mcp::start(&env, &repo);
    let null = Value::Null;

    // Not JSON: a parse error, id null.
    for line in [
        "this is not json",
        "{\"jsonrpc\": \"2.0\", \"id\": 1,",
        "\u{1b}[2J",
        "[1,]",
    ] {
        mcp.error_for(line, -32700, &null);
    }
    // JSON that is no request: invalid request, with its id when it has one.
    mcp.error_for("[]", -32600, &null);
    mcp.error_for("42", -32600, &null);
    mcp.error_for(r#"{"id": 9, "method": "tools/list"}"#, -32600, &json!(9));
    mcp.error_for(
        r#"{"jsonrpc": "2.0", "id": "x", "method": "tools/call", "params": 5}"#,
        -32600,
        &json!("x"),
    );
    mcp.error_for(
        r#"{"jsonrpc": "2.0", "id": {"no": 1}, "method": "tools/list"}"#,
        -32600,
        &null,
    );

    // Deep arguments: over serde's own limit, and under it but past the server's.
    for (n, id) in [(100_000, 101), (200, 102), (100, 103)] {
        let nested = format!("{}0{}", "[".repeat(n), "]".repeat(n));
        let line = format!(
            r#"{{"jsonrpc": "2.0", "id": {id}, "method": "tools/call", "params": {{"name": "status", "arguments": {{"x": {nested}}}}}}}"#
        );
        let msg = mcp.error_for(&line, -32600, &json!(id));
        assert!(msg.contains("deeper"), "{msg}");
    }

    // A 20 MB call: refused (its id is in the part that was not read), and the line after it
    // is read whole.
    let big = format!(
        r#"{{"jsonrpc": "2.0", "id": 104, "method": "tools/call", "params": {{"name": "plan", "arguments": {{"plan": "{}"}}}}}}"#,
        "x".repeat(20 * 1024 * 1024)
    );
    let msg = mcp.error_for(&big, -32600, &null);
    assert!(msg.contains("bytes"), "{msg}");
    // Twice, back to back with a good request in the same write.
    let two = format!(
        "{big}\n{}",
        json!({"jsonrpc": "2.0", "id": 105, "method": "ping"})
    );
    let answers = mcp.answers_to(&two);
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!(answers[0]["error"]["code"], -32600, "{answers:?}");
    assert_eq!(answers[1]["id"], 105, "{answers:?}");
    assert!(answers[1]["result"].is_object(), "{answers:?}");

    // A tool call still works after all of it.
    let r = mcp.call("plan", json!({"plan": " "}));
    assert!(
        is_error(&r) && text(&r).contains("the plan is empty"),
        "{r}"
    );
}
