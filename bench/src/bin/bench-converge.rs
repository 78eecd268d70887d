//! Does the review loop converge? Scripted reviewers (the fake codex, one scripted answer per
//! review) against a simulated Claude Code session driven through the real hooks: the agent
//! writes a file (the edit hook), tries to stop (the stop hook), and when blocked edits again
//! (and, where the scenario says so, disputes) before stopping again. Prints, per scenario,
//! the blocks per turn, the rounds to the end, duplicate findings opened and escalations, and
//! whether the targets are met. Run through `bench/run converge`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::ExitCode;

use cxd_e2e::{Daemon, TestEnv, init_repo};
use serde_json::{Value, json};

/// The agent session's id, as Claude Code would send it.
const SESSION: &str = "bench-session-1";
/// Stops per turn before the simulated agent gives up (above `gate.max_rounds`).
const MAX_STOPS: usize = 8;
/// The words an escalation to the user carries in a stop hook's reason.
const ESCALATION: &str = "AskUserQuestion";

/// `src/a.rs` as committed: 20 numbered lines.
fn original() -> String {
    (1..=20).map(|i| format!("let a{i} = {i};\n")).collect()
}

/// The agent's `n`th write of `src/a.rs` (n from 1): line 5 changed, then one comment line
/// more at the top each time (the line it changed moves down: it is at `5 + n - 1`).
fn agent_version(n: usize) -> String {
    let mut text: String = (1..n).map(|i| format!("// attempt {i}\n")).collect();
    text.push_str(&original().replace("let a5 = 5;", "let a5 = five();"));
    text
}

fn finding(severity: &str, file: &str, line: usize, title: &str) -> Value {
    json!({"severity": severity, "category": "bug", "file": file, "line_start": line,
           "line_end": line, "title": title, "body": "b", "recommendation": "r", "confidence": 0.9})
}

fn review(findings: Vec<Value>, fixed: &[&str], rulings: Value) -> Value {
    let verdict = if findings.is_empty() {
        "approve"
    } else {
        "changes_requested"
    };
    json!({"answer": {"verdict": verdict, "summary": "s", "findings": findings,
                      "fixed_finding_ids": fixed, "rulings": rulings}})
}

/// What the simulated agent does when a stop is blocked, besides editing again.
#[derive(Clone, Copy, PartialEq)]
enum Reply {
    /// Edit again (a fix attempt).
    Fix,
    /// Dispute the first finding the reason names, then edit again.
    Dispute,
}

struct Scenario {
    name: &'static str,
    /// One fake codex answer per review (each stop after an edit runs one).
    script: Value,
    /// How many user turns the session has (each starts with an edit and ends at a stop).
    turns: usize,
    /// Distinct problems the reviewer raises: findings beyond these are duplicates.
    distinct: usize,
    reply: Reply,
}

/// Nits with nothing in common, two per review.
const NITS: [&str; 6] = [
    "Variable name abbreviates too much",
    "Missing trailing comma in list",
    "Prefer an early return",
    "Comment restates the obvious",
    "Magic number without explanation",
    "Inconsistent blank lines between items",
];

/// Blocking problems with nothing in common, one new per review.
const PLATEAU: [&str; MAX_STOPS] = [
    "Division by zero when count is empty",
    "Leaked file handle on error path",
    "Integer overflow in offset arithmetic",
    "Race between check and use of path",
    "Unbounded recursion on nested input",
    "Lock held across await point",
    "Index out of range for last element",
    "Silent truncation of negative values",
];

fn scenarios() -> Vec<Scenario> {
    let a = "src/a.rs";
    let none = json!([]);
    let repeat_titles = [
        "Greeting text is hardcoded",
        "Hard-coded greeting text",
        "The greeting string is hardcoded",
        "Greeting text hardcoded again",
        "Hardcoded greeting text remains",
        "The greeting text is still hardcoded",
        "Greeting text is hardcoded",
        "Hard-coded greeting text",
    ];
    vec![
        Scenario {
            name: "repeat-offender",
            // The same problem, reworded, at the line as it moves.
            script: Value::Array(
                repeat_titles
                    .iter()
                    .enumerate()
                    .map(|(i, t)| review(vec![finding("high", a, 5 + i, t)], &[], none.clone()))
                    .collect(),
            ),
            turns: 1,
            distinct: 1,
            reply: Reply::Fix,
        },
        Scenario {
            name: "nit-flood",
            // Two new low/medium findings every review, below block_on (high).
            script: Value::Array(
                NITS.chunks(2)
                    .enumerate()
                    .map(|(i, pair)| {
                        review(
                            vec![
                                finding("low", a, 5 + i, pair[0]),
                                finding("medium", a, 5 + i, pair[1]),
                            ],
                            &[],
                            none.clone(),
                        )
                    })
                    .collect(),
            ),
            turns: 3,
            distinct: 6,
            reply: Reply::Fix,
        },
        Scenario {
            name: "flip-flop",
            // Raises a finding, withdraws it when disputed, then raises it again.
            script: json!([
                review(
                    vec![finding("high", a, 5, "Unchecked call to five")],
                    &[],
                    none.clone()
                ),
                review(
                    vec![],
                    &[],
                    json!([{"id": "F1", "ruling": "withdraw", "reply": "fair: five cannot fail"}])
                ),
                review(
                    vec![finding("high", a, 7, "Unchecked call to five")],
                    &[],
                    none.clone()
                ),
            ]),
            turns: 2,
            distinct: 1,
            reply: Reply::Dispute,
        },
        Scenario {
            name: "real-bug",
            // One real bug in the change, fixed in round 2.
            script: json!([
                review(
                    vec![finding("high", a, 5, "five() can panic on empty input")],
                    &[],
                    none.clone()
                ),
                review(vec![], &["F1"], none.clone()),
            ]),
            turns: 1,
            distinct: 1,
            reply: Reply::Fix,
        },
        Scenario {
            name: "untouched-code",
            // High findings on code the change did not touch.
            script: json!([review(
                vec![
                    finding("high", "src/b.rs", 3, "b3 overflows"),
                    finding("high", a, 15, "a15 overflows"),
                ],
                &[],
                none.clone()
            )]),
            turns: 1,
            distinct: 2,
            reply: Reply::Fix,
        },
        Scenario {
            name: "plateau",
            // Each review closes the last blocking finding and opens a new one (on the line the
            // agent just inserted).
            script: Value::Array(
                (0..MAX_STOPS)
                    .map(|i| {
                        let line = if i == 0 { 5 } else { i };
                        let title = PLATEAU[i % PLATEAU.len()];
                        let fixed = if i == 0 {
                            vec![]
                        } else {
                            vec![format!("F{i}")]
                        };
                        let fixed: Vec<&str> = fixed.iter().map(String::as_str).collect();
                        review(vec![finding("high", a, line, title)], &fixed, none.clone())
                    })
                    .collect(),
            ),
            turns: 1,
            distinct: MAX_STOPS,
            reply: Reply::Fix,
        },
    ]
}

/// What one scenario's session saw.
#[derive(Default)]
struct Outcome {
    /// Per turn, per stop: blocked (`B`) or let go (`.`).
    blocks: Vec<String>,
    /// Stops in all.
    rounds: usize,
    /// Stops blocked in all.
    blocked: usize,
    /// Findings stored (every status).
    findings: usize,
    /// Findings beyond the distinct problems raised.
    duplicates: usize,
    /// Stops whose words hand the decision to the user, and the first one's number.
    escalations: usize,
    first_escalation: Option<usize>,
    /// The last stop let go with Codex's approval.
    approved_at_end: bool,
}

struct Session {
    env: TestEnv,
    repo: PathBuf,
    _daemon: Daemon,
    writes: usize,
}

impl Session {
    fn new(script: &Value) -> Self {
        let env = TestEnv::new();
        env.write_config(
            "[settle]\nquiet_ms = 600000\nmax_wait_ms = 600000\n[gate]\nmax_rounds = 5\nstop_wait_s = 60\n",
        );
        env.script_codex(script);
        let repo = init_repo(env.dir.path(), "repo");
        std::fs::create_dir(repo.join("src")).unwrap();
        std::fs::write(repo.join("src/a.rs"), original()).unwrap();
        std::fs::write(repo.join("src/b.rs"), original()).unwrap();
        let daemon = env.start_daemon();
        env.ok(&["watch", repo.to_str().unwrap()]);
        Self {
            env,
            repo,
            _daemon: daemon,
            writes: 0,
        }
    }

    /// The agent writes `src/a.rs` through the edit hook, as Claude Code does.
    fn write(&mut self) {
        self.writes += 1;
        let path = self.repo.join("src/a.rs");
        let content = agent_version(self.writes);
        std::fs::write(&path, &content).unwrap();
        self.env.hook(
            "post-tool-use",
            &json!({"session_id": SESSION, "cwd": self.repo, "hook_event_name": "PostToolUse",
                    "tool_name": "Write", "tool_input": {"file_path": path, "content": content}}),
        );
    }

    /// The stop hook's JSON answer (`{}` when it printed nothing).
    fn stop(&self, active: bool) -> Value {
        let out = self.env.hook(
            "stop",
            &json!({"session_id": SESSION, "cwd": self.repo, "hook_event_name": "Stop",
                    "stop_hook_active": active, "last_assistant_message": "Done."}),
        );
        if out.stdout.is_empty() {
            return json!({});
        }
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Dispute the first finding id a block reason names (`- F12 [high] ...`).
    fn dispute_first(&self, reason: &str) {
        let Some(id) = reason
            .lines()
            .find_map(|l| l.strip_prefix("- ")?.split_whitespace().next())
        else {
            return;
        };
        let _ = self.env.run(&[
            "dispute",
            id,
            "--session",
            SESSION,
            "--reason",
            "five() cannot fail: its input is a constant",
        ]);
    }

    fn findings(&self) -> usize {
        let out = self
            .env
            .ok(&["findings", self.repo.to_str().unwrap(), "--all", "--json"]);
        serde_json::from_str::<Value>(&out)
            .unwrap()
            .as_array()
            .map_or(0, Vec::len)
    }
}

fn run(s: &Scenario) -> Outcome {
    let mut session = Session::new(&s.script);
    let mut o = Outcome::default();
    for _ in 0..s.turns {
        let mut marks = String::new();
        session.write();
        let mut active = false;
        for _ in 0..MAX_STOPS {
            let v = session.stop(active);
            o.rounds += 1;
            let words = format!(
                "{}{}",
                v["reason"].as_str().unwrap_or_default(),
                v["systemMessage"].as_str().unwrap_or_default()
            );
            if words.contains(ESCALATION) {
                o.escalations += 1;
                o.first_escalation.get_or_insert(o.rounds);
            }
            if v["decision"] != "block" {
                marks.push('.');
                o.approved_at_end = words.contains("Codex approved");
                break;
            }
            marks.push('B');
            o.blocked += 1;
            if s.reply == Reply::Dispute {
                session.dispute_first(&words);
            }
            session.write();
            active = true;
        }
        o.blocks.push(marks);
    }
    o.findings = session.findings();
    o.duplicates = o.findings.saturating_sub(s.distinct);
    o
}

/// Whether this build's hooks can escalate to the user (the text is in the binary).
fn escalation_built() -> bool {
    std::fs::read(cxd_e2e::cxd_bin())
        .map(|bin| {
            bin.windows(ESCALATION.len())
                .any(|w| w == ESCALATION.as_bytes())
        })
        .unwrap_or(false)
}

/// The scenario's target, and whether it is met (None: this build cannot meet it yet).
fn target(name: &str, o: &Outcome, escalation: bool) -> (&'static str, Option<bool>) {
    match name {
        "repeat-offender" => ("1 finding", Some(o.findings == 1)),
        "nit-flood" => ("0 blocks", Some(o.blocked == 0)),
        "real-bug" => (
            "1 block, then approve",
            Some(o.blocked == 1 && o.blocks == ["B."] && o.approved_at_end),
        ),
        "untouched-code" => ("0 blocks", Some(o.blocked == 0)),
        // Reviews 2 and 3 each close one blocking finding and open one: escalated by stop 3.
        "plateau" => (
            "escalated within 2 rounds",
            escalation.then(|| o.first_escalation.is_some_and(|n| n <= 3)),
        ),
        "flip-flop" => ("withdrawn stays withdrawn", Some(o.blocks == ["B.", "."])),
        _ => ("—", None),
    }
}

fn main() -> ExitCode {
    let escalation = escalation_built();
    println!(
        "{:<16} {:<16} {:>6} {:>8} {:>10} {:>11}  {:<28} met",
        "scenario", "blocks per turn", "rounds", "findings", "duplicates", "escalations", "target"
    );
    let mut missed = Vec::new();
    for s in scenarios() {
        let o = run(&s);
        let (goal, met) = target(s.name, &o, escalation);
        let met_word = match met {
            Some(true) => "yes",
            Some(false) => {
                missed.push(s.name);
                "NO"
            }
            None => "n/a on this build",
        };
        println!(
            "{:<16} {:<16} {:>6} {:>8} {:>10} {:>11}  {:<28} {met_word}",
            s.name,
            o.blocks.join(" "),
            o.rounds,
            o.findings,
            o.duplicates,
            o.escalations,
            goal
        );
    }
    println!("blocks per turn: one mark per stop, B blocked, . let go; gate.max_rounds = 5");
    if missed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("targets missed: {}", missed.join(", "));
        ExitCode::FAILURE
    }
}
