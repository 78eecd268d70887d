//! The tools `cxd mcp` offers the model: their names, descriptions, argument schemas and
//! annotations. Dismissing and approving are left out on purpose: those stay the user's word.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

/// How every tool finds its workspace, said once in each description.
const WORKSPACE: &str = "The workspace is the git work tree holding the directory this server was started in (Claude Code starts it in the project directory); it must be watched by cxd (the plugin's SessionStart hook watches it, or run `cxd watch` there).";

/// The tool names, as the model calls them.
pub const STATUS: &str = "status";
/// Open (or all) findings.
pub const FINDINGS: &str = "findings";
/// Review now and wait.
pub const REVIEW: &str = "review";
/// Validate a plan.
pub const PLAN: &str = "plan";
/// Dispute a finding.
pub const DISPUTE: &str = "dispute";

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

fn tool(name: &'static str, title: &str, description: String, input: Value) -> Tool {
    Tool::new(name, description, schema(input)).with_title(title)
}

/// Every tool, in the order `tools/list` gives them.
pub fn all() -> Vec<Tool> {
    vec![
        tool(
            STATUS,
            "cxd status",
            format!(
                "The state of Codex's review of this workspace: idle, settling (edits waiting to be reviewed), reviewing, halted or paused; the last review and its verdict; the open findings by severity; whether the user approved the tree. Changes nothing. {WORKSPACE}"
            ),
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
        )
        .annotate(annotations(true)),
        tool(
            FINDINGS,
            "cxd findings",
            format!(
                "The findings Codex reported on this workspace, grouped by severity: each with its id (F12), severity, category, file and lines, title, body, recommended fix and any dispute with Codex's ruling. Open findings only unless `all` is true. Answer each open finding: fix it, or, if it is wrong, call the dispute tool with its id and your reason. Changes nothing. {WORKSPACE}"
            ),
            json!({
                "type": "object",
                "properties": {
                    "all": {"type": "boolean", "default": false,
                            "description": "Also list resolved, dismissed and withdrawn findings."},
                    "severity": {"type": "string", "enum": ["info", "low", "medium", "high", "critical"],
                                 "description": "Only findings at or above this severity."}
                },
                "additionalProperties": false
            }),
        )
        .annotate(annotations(true)),
        tool(
            REVIEW,
            "cxd review",
            format!(
                "Have Codex review this workspace's changes now (skipping the wait for edits to settle) and wait for its verdict: approve, or changes requested with the findings. It can take minutes; progress is reported while it runs. `all` reviews every uncommitted change against HEAD rather than what changed since the last review. Cheaper to leave alone: cxd reviews each settled burst of edits by itself. {WORKSPACE}"
            ),
            json!({
                "type": "object",
                "properties": {
                    "all": {"type": "boolean", "default": false,
                            "description": "Review every uncommitted change against HEAD."}
                },
                "additionalProperties": false
            }),
        )
        .annotate(annotations(false)),
        tool(
            PLAN,
            "cxd plan",
            format!(
                "Have Codex validate an implementation plan before you implement it (logic, edge cases, architecture, security) and wait for its verdict: approve, or changes requested with its concerns. A revised plan continues the same Codex thread, so Codex says which concerns it addresses. It can take minutes; progress is reported while it runs. {WORKSPACE}"
            ),
            json!({
                "type": "object",
                "properties": {
                    "plan": {"type": "string", "minLength": 1, "maxLength": super::super::plan::MAX_PLAN,
                             "description": "The whole plan, as Markdown or plain text."}
                },
                "required": ["plan"],
                "additionalProperties": false
            }),
        )
        .annotate(annotations(false)),
        tool(
            DISPUTE,
            "cxd dispute",
            format!(
                "Argue that an open finding is wrong, with your reason. The next review rules on it: Codex withdraws the finding (it stops counting) or upholds it with a reply; when Codex upholds it, stop and ask the user. Only for findings you believe are not real problems: fix the others. Recorded as the agent's dispute. {WORKSPACE}"
            ),
            json!({
                "type": "object",
                "properties": {
                    "id": {"type": "string", "pattern": "^F[0-9]+$",
                           "description": "The finding's id, as the findings tool shows it (F12)."},
                    "reason": {"type": "string", "minLength": 1,
                               "maxLength": cxd_proto::limits::MAX_DISPUTE_REASON,
                               "description": "Why the finding is not a problem: the argument Codex weighs."}
                },
                "required": ["id", "reason"],
                "additionalProperties": false
            }),
        )
        .annotate(annotations(false)),
    ]
}

/// Every tool works on this workspace only and destroys nothing; a read-only one (status,
/// findings) is also idempotent, the others start a Codex run or record a dispute.
fn annotations(read_only: bool) -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(read_only)
        .destructive(false)
        .idempotent(read_only)
        .open_world(false)
}
