//! SessionStart: make sure cxd is reviewing the session's repository (start the daemon, watch
//! the work tree) and give Claude that workspace's open findings as `additionalContext`.
//! Like every hook it never gets in the way: outside a git repository it says nothing, and a
//! daemon it cannot start is one `systemMessage`.

use cxd_daemon::config::Config;
use cxd_proto::paths::Paths;
use cxd_proto::{Request, Response};
use serde_json::{Value, json};

use super::{dispute_command, finding_lines, output, project_dir, session, system_message};
use crate::commands::findings::fetch_all;
use crate::commands::spawn::connect_or_spawn;
use crate::exit::USAGE;

/// Start or reach the daemon, watch the project, and report its open findings.
pub fn run(paths: &Paths, config: &Config, input: &Value) -> Option<String> {
    let dir = project_dir(input)?;
    let mut client = match connect_or_spawn(paths, true) {
        Ok(c) => c,
        Err(e) => {
            return system_message(&format!(
                "cxd: Codex will not review this session: {}",
                e.message
            ));
        }
    };
    let root = match client.request(&Request::Watch { path: dir.clone() }) {
        Ok(Response::Watching { root, .. }) => root,
        // Not a git work tree (or one cxd will not watch): not cxd's business.
        Err(e) if e.code == USAGE => return None,
        Ok(_) => return None,
        Err(e) => {
            return system_message(&format!(
                "cxd: cannot watch {}: {}",
                dir.display(),
                e.message
            ));
        }
    };
    let findings = fetch_all(&mut client, &root, false, None).ok()?;
    let root_text = crate::sanitize::line(&root.display().to_string());
    let context = if findings.is_empty() {
        format!(
            "cxd: Codex reviews your changes in {root_text} as you work (each settled burst of edits), and the stop hook waits for its verdict. No findings are open."
        )
    } else {
        let session = session(input);
        // Told here: the edit hook need not pass them on again in this session.
        let told = findings.iter().map(|f| f.id.clone()).collect();
        let _ = client.request(&Request::StopRound {
            session: session.clone(),
            reset: true,
            told,
        });
        let example = findings.first().map_or("F1", |f| f.id.as_str());
        format!(
            "cxd: Codex reviews your changes in {root_text} as you work. {} finding(s) from its earlier reviews are open:\n{}Answer each one before you finish: fix it, or, if it is not a real problem, dispute it with your reason (the cxd MCP dispute tool, or `{}`); Codex rules on the dispute at the next review. Gate threshold: {}.",
            findings.len(),
            finding_lines(&findings, findings.len() as u64, true),
            dispute_command(example, &session).trim(),
            config.gate.block_on
        )
    };
    output(
        &json!({"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": context}}),
    )
}
