//! Claude Code hooks. They never get in Claude's way: bad input, a daemon that is down, or a
//! workspace cxd does not watch all end in exit 0; only a finding Codex stands behind blocks.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cxd_daemon::config::Config;
use cxd_daemon::config::repo::work_tree_of;
use cxd_proto::domain::{ErrorClass, EscalationWhy, Trigger, Verdict, WorkspaceState};
use cxd_proto::message::{GateReport, ReviewDone};
use cxd_proto::paths::Paths;
use cxd_proto::status::Finding;
use cxd_proto::{Request, Response};
use serde_json::{Value, json};

mod bash_guard;
mod session_start;

use super::progress::until_answer;
use super::review::{location, ruling_text};
use crate::cli::ClaudeHook;
use crate::client::Client;
use crate::exit::USAGE;

/// Hook input larger than this is not read (it is one JSON line; Write carries the file).
const MAX_INPUT: u64 = 16 * 1024 * 1024;
/// Claude Code truncates longer reasons; stay under it.
const MAX_REASON: usize = 9_000;
/// Most of a reason the finding list takes: the rest holds the dispute lines and the text
/// around them.
const MAX_FINDING_LIST: usize = MAX_REASON - 2_500;
/// Most of a plan review's summary quoted in a deny reason (the findings follow it).
const MAX_SUMMARY: usize = 800;
/// How long the edit hook waits for the daemon (it must not slow Claude down).
const EDIT_TIMEOUT: Duration = Duration::from_secs(2);

/// Run a hook; the exit code is always 0 (a decision, if any, is in the JSON on stdout).
pub fn run(paths: &Paths, event: ClaudeHook) -> ExitCode {
    let mut raw = String::new();
    if std::io::stdin()
        .take(MAX_INPUT)
        .read_to_string(&mut raw)
        .is_err()
    {
        return ExitCode::SUCCESS;
    }
    let Ok(input) = serde_json::from_str::<Value>(&raw) else {
        return ExitCode::SUCCESS;
    };
    let config = hook_config(paths, project_dir(&input));
    let output = match event {
        ClaudeHook::PostToolUse => post_tool_use(paths, &input),
        ClaudeHook::Stop => stop(paths, &config, &input),
        ClaudeHook::PreToolUse => pre_tool_use(paths, &config, &input),
        ClaudeHook::SessionStart => session_start::run(paths, &config, &input),
    };
    if let Some(out) = output {
        println!("{out}");
    }
    ExitCode::SUCCESS
}

/// How long a hook waits for its config: a file that cannot be read promptly never holds
/// Claude up (the defaults apply then).
const CONFIG_TIMEOUT: Duration = Duration::from_secs(2);

/// The gate's threshold in force for the project holding `dir`.
pub fn block_on(paths: &Paths, dir: &std::path::Path) -> cxd_proto::domain::Severity {
    hook_config(paths, Some(dir.to_path_buf())).gate.threshold()
}

/// The config in force for the project: read on a helper thread, with a deadline.
fn hook_config(paths: &Paths, dir: Option<PathBuf>) -> Config {
    let (tx, rx) = std::sync::mpsc::channel();
    let user_path = paths.config.clone();
    let state_dir = paths.state_dir.clone();
    std::thread::spawn(move || {
        let user = Config::load(&user_path).unwrap_or_default();
        let config = match dir {
            Some(d) => {
                let root = work_tree_of(&d).unwrap_or(d);
                user.for_repo(&root, &state_dir).config
            }
            None => user,
        };
        let _ = tx.send(config);
    });
    rx.recv_timeout(CONFIG_TIMEOUT).unwrap_or_default()
}

fn str_field<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The project directory: the hook's `cwd`, else `CLAUDE_PROJECT_DIR`.
fn project_dir(input: &Value) -> Option<PathBuf> {
    str_field(input, "/cwd")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("CLAUDE_PROJECT_DIR").map(PathBuf::from))
}

fn session(input: &Value) -> String {
    str_field(input, "/session_id")
        .map(str::to_owned)
        .or_else(|| std::env::var("CLAUDE_CODE_SESSION_ID").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Hook output: JSON with no raw control or bidi character (Codex's words travel in it).
fn output(value: &Value) -> Option<String> {
    Some(crate::sanitize::json_text(value.to_string()))
}

fn system_message(text: &str) -> Option<String> {
    output(&json!({ "systemMessage": text }))
}

/// One line a finding, within [`MAX_FINDING_LIST`]; `total` counts those not in `findings` too.
fn finding_lines(findings: &[Finding], total: u64, with_fix: bool) -> String {
    let mut out = String::new();
    for (shown, f) in findings.iter().enumerate() {
        let mut line = format!("- {} [{}] {}: {}", f.id, f.severity, location(f), f.title);
        if with_fix && !f.recommendation.is_empty() {
            line.push_str(&format!(" — fix: {}", f.recommendation));
        }
        if let Some(d) = &f.dispute {
            line.push_str(&format!(" — disputed by {}; {}", d.by, ruling_text(d)));
        }
        // One finding, one line: a newline or escape sequence in Codex's words stays visible
        // as an escape and cannot start a line that passes for another finding.
        let line = crate::sanitize::line(&line);
        if out.len() + line.len() > MAX_FINDING_LIST {
            out.push_str(&format!(
                "- … and {} more (`cxd findings`)\n",
                total.saturating_sub(shown as u64)
            ));
            return out;
        }
        out.push_str(&line);
        out.push('\n');
    }
    let total_shown = findings.len() as u64;
    if total > total_shown {
        out.push_str(&format!(
            "- … and {} more (`cxd findings`)\n",
            total - total_shown
        ));
    }
    out
}

/// PostToolUse: tell the daemon the agent edited a file; pass on findings it has not seen.
fn post_tool_use(paths: &Paths, input: &Value) -> Option<String> {
    let file = str_field(input, "/tool_input/file_path")
        .or_else(|| str_field(input, "/tool_input/notebook_path"))?;
    let cwd = project_dir(input);
    let file = PathBuf::from(file);
    let file = if file.is_absolute() {
        file
    } else {
        cwd.clone()?.join(file)
    };
    let mut client = Client::connect(paths).ok()?;
    client.set_timeout(Some(EDIT_TIMEOUT)).ok()?;
    let response = client
        .request(&Request::AgentEdit {
            file,
            cwd,
            session: session(input),
        })
        .ok()?;
    let Response::Undelivered(findings) = response else {
        return None;
    };
    if findings.is_empty() {
        return None;
    }
    let context = format!(
        "cxd: Codex reviewed your recent changes and found {} open problem(s):\n{}Fix them. If one is not a real problem, dispute it and Codex rules on your argument at the next review:\n{}",
        findings.len(),
        finding_lines(&findings, findings.len() as u64, true),
        dispute_commands(&findings, &session(input))
    );
    output(
        &json!({"hookSpecificOutput": {"hookEventName": "PostToolUse", "additionalContext": context}}),
    )
}

/// Stop: review what is unreviewed (bounded wait) and block while Codex's findings at or
/// above `gate.block_on` are open — at most `gate.max_rounds` times per session.
fn stop(paths: &Paths, config: &Config, input: &Value) -> Option<String> {
    let dir = project_dir(input)?;
    let session = session(input);
    let continuing = input
        .pointer("/stop_hook_active")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let way_out = "(`cxd pause` turns cxd's stop check off for this workspace)";
    // Not running, or not provably ours (then nothing was sent to it): fail open, saying why.
    let mut client = match Client::connect(paths) {
        Ok(c) => c,
        Err(e) => {
            return system_message(&format!(
                "cxd: Codex did not check this turn: {e} {way_out}"
            ));
        }
    };
    if !continuing {
        // A new turn: the round counter starts again.
        let _ = client.request(&Request::StopRound {
            session: session.clone(),
            reset: true,
            told: Vec::new(),
        });
    }
    let wait = config.gate.stop_wait_s;
    if client
        .set_timeout(Some(Duration::from_secs(wait + 30)))
        .is_err()
    {
        return None;
    }
    let request = Request::Gate {
        path: dir,
        block_on: None,
        wait_s: Some(wait),
        trigger: Trigger::Stop,
        // The daemon applies `gate.scope` (a repository may set it only when trusted).
        scope: None,
        session: Some(session.clone()),
    };
    if client.send(&request).is_err() {
        return system_message(&format!(
            "cxd: cannot reach the daemon; letting Claude stop {way_out}"
        ));
    }
    let report: GateReport = match until_answer(&mut client, true) {
        Ok(Response::Gate(r)) => *r,
        // Unwatched during this session: the user hears of it.
        Ok(Response::Ok { message }) => {
            return system_message(&format!("cxd: {}", crate::sanitize::line(&message)));
        }
        // Not a watched workspace: not cxd's business.
        Err(e) if e.code == USAGE => return None,
        Ok(other) => {
            return system_message(&format!(
                "cxd: unexpected answer from the daemon ({other:?}); letting Claude stop {way_out}"
            ));
        }
        Err(e) => {
            return system_message(&format!(
                "cxd: {}; letting Claude stop {way_out}",
                e.message
            ));
        }
    };
    let review = report
        .last_review
        .as_ref()
        .map(|r| format!("review #{}", r.id))
        .unwrap_or_else(|| "no review".into());
    if report.pass {
        let _ = client.request(&Request::StopRound {
            session,
            reset: true,
            told: Vec::new(),
        });
        let approved = report
            .last_review
            .as_ref()
            .is_some_and(|r| r.verdict == Verdict::Approve);
        let mut text = if approved {
            format!("cxd: Codex approved the changes ({review})")
        } else {
            format!("cxd: {} ({review})", report.reason)
        };
        text.push_str(&outside_lines(&report));
        return system_message(&text);
    }
    // Codex's words (a failed review's error) travel in the reason: one line, escaped.
    let why = crate::sanitize::line(&report.reason);
    // The daemon counts blocking findings; the list it sends may be cut short. With none, a
    // review that could not be had (failed, timed out, paused) lets Claude stop, saying so.
    let by_user = matches!(
        report.state,
        WorkspaceState::Paused | WorkspaceState::Missing
    );
    if report.escalation.is_none() && (report.blocking_total == 0 || by_user) {
        return system_message(&format!(
            "cxd: {why} — letting Claude stop without Codex's check {way_out}"
        ));
    }
    // Findings the last good review left open still block while a newer review failed or
    // still runs: a review that cannot be had must not count as a pass.
    let newer = if report.up_to_date {
        String::new()
    } else {
        format!(
            "The newer review of your latest changes did not give a verdict ({why}), so these findings from the last completed review still stand. "
        )
    };
    // An escalation blocks once, with the instruction to stop fixing and ask the user; while it
    // stands (nobody has dismissed, approved or edited yet), later stops are let through with a
    // note. Blocking again could not help: only the user can settle it, and a Stop block that
    // repeats only burns the agent's turns until Claude Code forces the stop anyway.
    if let Some(escalation) = &report.escalation
        && !escalation.first
    {
        // A newer review that could not be had is said too (and the way out of the checks).
        let trouble = if report.up_to_date {
            String::new()
        } else {
            format!("{why} {way_out}; ")
        };
        return system_message(&format!(
            "cxd: {trouble}waiting for you ({}: {}): answer with `cxd dismiss ID --reason ...`, `cxd approve`, or an edit of your own; letting Claude stop.",
            escalation.needs_you.why,
            escalation.needs_you.findings.join(", ")
        ));
    }
    // The block tells the agent about these: the edit hook need not pass them on again.
    let told = report.blocking.iter().map(|f| f.id.clone()).collect();
    let rounds = match client.request(&Request::StopRound {
        session: session.clone(),
        reset: false,
        told,
    }) {
        Ok(Response::Rounds(n)) => n,
        _ => {
            return system_message(&format!(
                "cxd: cannot count stop rounds; letting Claude stop {way_out}"
            ));
        }
    };
    if let Some(escalation) = &report.escalation {
        let reason = escalation_reason(&report, escalation.needs_you.why, &review, config);
        return output(&json!({"decision": "block", "reason": reason}));
    }
    if rounds > config.gate.max_rounds {
        return system_message(&format!(
            "cxd: {} finding(s) at or above {} are still open after {} blocked stop(s); letting Claude stop. `cxd findings` lists them.",
            report.blocking_total, report.block_on, config.gate.max_rounds
        ));
    }
    let mut reason = format!(
        "{newer}Codex ({review}) found {} open problem(s) at or above {} in your changes:\n{}Fix them before finishing. If you believe a finding is wrong, do not ignore it: dispute it, and Codex rules on your argument at the next review (withdraw, or uphold with its reply):\n{}\nThe user can also run `cxd dismiss ID --reason ...`, or `cxd pause` to stop these checks. (Round {rounds} of {}.)",
        report.blocking_total,
        report.block_on,
        finding_lines(&report.blocking, report.blocking_total, true),
        dispute_commands(&report.blocking, &session),
        config.gate.max_rounds
    );
    reason.push_str(&outside_lines(&report));
    output(&json!({"decision": "block", "reason": reason}))
}

/// The block reason that hands the decision to the user: stop changing code, lay out the
/// disagreement, ask with AskUserQuestion.
fn escalation_reason(
    report: &GateReport,
    why: EscalationWhy,
    review: &str,
    config: &Config,
) -> String {
    let why = match why {
        EscalationWhy::Upheld => "Codex upheld a finding that was disputed".to_owned(),
        EscalationWhy::Architecture => {
            "a blocking finding is about the architecture, and that is the user's call".to_owned()
        }
        EscalationWhy::Plateau => {
            "the last two reviews each opened as many blocking findings as they closed: more rounds will not settle it".to_owned()
        }
        EscalationWhy::RoundCap => format!(
            "this is the last of the {} blocked stop(s) allowed in a turn",
            config.gate.max_rounds
        ),
        EscalationWhy::Unattributed => "a blocking finding was closed by neither a review nor the user (a process cxd could not attribute to a person dismissed it)".to_owned(),
    };
    let concerned = report
        .escalation
        .as_ref()
        .map(|e| e.needs_you.findings.join(", "))
        .unwrap_or_default();
    format!(
        "cxd needs the user: {why} ({review}; findings concerned: {concerned}). Stop changing code now. Summarise the open disagreements for the user — for each finding below: what it is, Codex's position (its reply to a dispute, if any) and your own position — then ask the user how to proceed with the AskUserQuestion tool (for example: fix it as Codex asks, keep the code as it is, or another way). Open findings at or above {}:\n{}The user answers cxd with `cxd dismiss ID --reason ...`, `cxd approve`, or an edit of their own; until then cxd lets you stop.",
        report.block_on,
        finding_lines(&report.blocking, report.blocking_total, true),
    )
}

/// The findings at or above the threshold that do not block because the change did not touch
/// them, as a paragraph to append ("" when there are none). Short: the blocking ones need the
/// room, and these are not the agent's to fix.
fn outside_lines(report: &GateReport) -> String {
    if report.outside_change == 0 {
        return String::new();
    }
    const MAX_OUTSIDE: usize = 10;
    let shown = &report.outside[..report.outside.len().min(MAX_OUTSIDE)];
    let mut out = format!(
        "\nNot blocking: not in your change ({} finding(s) on code your change did not touch; leave them unless the user asks):\n",
        report.outside_change
    );
    out.push_str(&finding_lines(shown, report.outside_change, false));
    // The reason stays under Claude Code's limit whatever the blocking list took.
    cxd_proto::limits::truncate(&out, MAX_OUTSIDE_TEXT).into_owned()
}

/// Most of a reason the out-of-change list may take.
const MAX_OUTSIDE_TEXT: usize = 600;

/// Most dispute command lines a reason offers (one per finding, in the order listed).
const MAX_DISPUTE_LINES: usize = 12;

/// One dispute command line per finding (each names its own finding), newline-separated.
fn dispute_commands(findings: &[Finding], session: &str) -> String {
    let mut lines: Vec<String> = findings
        .iter()
        .take(MAX_DISPUTE_LINES)
        .map(|f| dispute_command(&crate::sanitize::line(&f.id), session))
        .collect();
    if lines.is_empty() {
        lines.push(dispute_command("ID", session));
    }
    lines.join("\n")
}

/// The command line that disputes finding `id` as the agent of `session`. The session goes in
/// only when it is a plain token (it comes from hook input and lands in a shell command).
fn dispute_command(id: &str, session: &str) -> String {
    let plain = !session.is_empty()
        && session.len() <= 200
        && session
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let session = if plain {
        format!(" --session {session}")
    } else {
        String::new()
    };
    format!("  cxd dispute {id}{session} --reason \"why it is not a problem\"")
}

/// PreToolUse on Bash: deny a command that makes one of the user's decisions with cxd.
fn bash(input: &Value) -> Option<String> {
    let command = str_field(input, "/tool_input/command")?;
    let decision = bash_guard::decision(command)?;
    output(
        &json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": cxd_daemon::decisions::refusal(decision)}}),
    )
}

/// PreToolUse on ExitPlanMode: validate the plan; deny it with Codex's findings.
fn pre_tool_use(paths: &Paths, config: &Config, input: &Value) -> Option<String> {
    match str_field(input, "/tool_name") {
        Some("Bash") => return bash(input),
        Some("ExitPlanMode") | None => {}
        Some(_) => return None,
    }
    let plan = str_field(input, "/tool_input/plan")?;
    let dir = project_dir(input)?;
    let fail_open = |why: &str| {
        system_message(&format!(
            "cxd: {why}; the plan goes ahead without Codex's check"
        ))
    };
    let mut client = match Client::connect(paths) {
        Ok(c) => c,
        Err(e) => return fail_open(&e.message),
    };
    if client
        .set_timeout(Some(Duration::from_secs(config.review.timeout_s + 60)))
        .is_err()
    {
        return None;
    }
    if client
        .send(&Request::Plan {
            path: dir,
            text: plan.to_owned(),
            wait: true,
        })
        .is_err()
    {
        return fail_open("cannot reach the daemon");
    }
    let done: ReviewDone = match until_answer(&mut client, true) {
        Ok(Response::ReviewDone(d)) => *d,
        Err(e) if e.code == USAGE => return None,
        Ok(_) => return fail_open("unexpected answer from the daemon"),
        Err(e) => return fail_open(&e.message),
    };
    match done.review.verdict {
        // An allow would not approve ExitPlanMode anyway: say nothing.
        Verdict::Approve => None,
        Verdict::ChangesRequested => {
            let mut reason = format!(
                "Codex reviewed the plan (review #{}) and asks for changes: {}\n",
                done.review.id,
                // The findings need the room: reasons stay under Claude Code's limit.
                cxd_proto::limits::truncate(
                    done.review.summary.as_deref().unwrap_or_default(),
                    MAX_SUMMARY
                )
            );
            reason.push_str(&finding_lines(&done.opened, done.opened_total, true));
            reason.push_str("Revise the plan to address these, then present it again.");
            output(
                &json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": reason}}),
            )
        }
        Verdict::Error | Verdict::Interrupted | Verdict::Running => fail_open(&format!(
            "plan validation failed ({})",
            done.review.error_class.map_or("error", ErrorClass::as_str)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dispute_command_names_the_session_only_when_it_is_a_plain_token() {
        assert_eq!(
            dispute_command("F3", "0b5e-11aa_x.y"),
            "  cxd dispute F3 --session 0b5e-11aa_x.y --reason \"why it is not a problem\""
        );
        assert_eq!(
            dispute_command("F3", "a; rm -rf ~"),
            "  cxd dispute F3 --reason \"why it is not a problem\""
        );
    }
}
