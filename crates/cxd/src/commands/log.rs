//! `cxd log`: the audit trail.

use std::process::ExitCode;

use cxd_proto::paths::Paths;
use cxd_proto::{Request, Response};

use super::abs_path;
use crate::cli::LogArgs;
use crate::client::Client;
use crate::exit::{Failure, UNREACHABLE};
use crate::sanitize::line;

pub fn run(paths: &Paths, args: &LogArgs) -> anyhow::Result<ExitCode> {
    let path = match &args.path {
        Some(p) => Some(abs_path(Some(p))?),
        None => None,
    };
    let mut client = Client::connect(paths)?;
    let entries = match client.request(&Request::Log {
        path,
        limit: args.lines,
    })? {
        Response::Log(e) => e,
        other => {
            return Err(
                Failure::new(UNREACHABLE, format!("unexpected reply to log: {other:?}")).into(),
            );
        }
    };
    if args.json {
        let rows: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                let mut obj = serde_json::Map::new();
                obj.insert("at".into(), e.at.clone().into());
                obj.insert("kind".into(), e.kind.clone().into());
                obj.insert(
                    "workspace".into(),
                    e.workspace
                        .as_ref()
                        .map(|p| p.to_string_lossy().into_owned())
                        .into(),
                );
                if let Ok(serde_json::Value::Object(data)) = serde_json::from_str(&e.data_json) {
                    for (k, v) in data {
                        obj.entry(k).or_insert(v);
                    }
                }
                serde_json::Value::Object(obj)
            })
            .collect();
        println!("{}", crate::sanitize::json(&rows, true)?);
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        println!("the audit trail is empty");
    }
    for e in &entries {
        let data: serde_json::Value = serde_json::from_str(&e.data_json).unwrap_or_default();
        let ws = e
            .workspace
            .as_ref()
            .map(|p| line(&p.display().to_string()))
            .unwrap_or_default();
        // File names, notes and titles in the data are hostile text: one safe line.
        println!(
            "{}  {:<17} {}  {}",
            line(&e.at),
            line(&e.kind),
            ws,
            line(&summary(&e.kind, &data))
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One line about an entry's data.
fn summary(kind: &str, data: &serde_json::Value) -> String {
    let count = data["count"].as_u64().unwrap_or(0);
    let files: Vec<&str> = data["files"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f.as_str()).take(3).collect())
        .unwrap_or_default();
    let more = if count as usize > files.len() {
        format!(" (+{} more)", count as usize - files.len())
    } else {
        String::new()
    };
    match kind {
        "edit" => format!(
            "by {}: {}{more}",
            data["by"].as_str().unwrap_or("?"),
            files.join(", ")
        ),
        "review_started" => format!(
            "{} ({}): {} file(s), +{} -{}",
            match data["reason"].as_str() {
                Some(reason) => reason.to_owned(),
                None => format!(
                    "{} {} {}",
                    data["trigger"].as_str().unwrap_or("?"),
                    data["model"].as_str().unwrap_or("?"),
                    data["effort"].as_str().unwrap_or("?")
                ),
            },
            if data["diff_inline"].as_bool().unwrap_or(true) {
                "diff"
            } else {
                "file list"
            },
            count,
            data["insertions"].as_u64().unwrap_or(0),
            data["deletions"].as_u64().unwrap_or(0),
        ),
        "review_finished" => {
            let verdict = data["verdict"].as_str().unwrap_or("?");
            let class = data["error_class"]
                .as_str()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            let t = &data["tokens"];
            let list = |k: &str| {
                data[k]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default()
            };
            let (opened, resolved) = (list("opened"), list("resolved"));
            let mut s = format!(
                "#{} {verdict}{class}, exit {}, {:.1}s, {} in / {} out tokens",
                data["review"],
                data["exit_code"]
                    .as_i64()
                    .map_or("-".to_owned(), |c| c.to_string()),
                data["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0,
                t["input"].as_u64().unwrap_or(0),
                t["output"].as_u64().unwrap_or(0),
            );
            if !opened.is_empty() {
                s += &format!("; opened {opened}");
            }
            if !resolved.is_empty() {
                s += &format!("; resolved {resolved}");
            }
            for (key, word) in [("withdrawn", "withdrew"), ("upheld", "upheld")] {
                let ids = list(key);
                if !ids.is_empty() {
                    s += &format!("; {word} {ids}");
                }
            }
            // The daemon writes these ids itself (`F<n>`); Codex's own strings are not shown.
            for (key, what) in [
                ("reopened", "reopened"),
                ("carried", "reported again"),
                ("dismissed_seen", "reported again, still dismissed"),
                ("outdated", "outdated (lines deleted)"),
            ] {
                let ids = list(key);
                if !ids.is_empty() {
                    s += &format!("; {what} {ids}");
                }
            }
            s
        }
        "dispute" => format!(
            "{} {} — by {}: {}",
            data["finding"].as_str().unwrap_or("?"),
            data["title"].as_str().unwrap_or(""),
            data["by"].as_str().unwrap_or("?"),
            data["reason"].as_str().unwrap_or("")
        ),
        "withdrawal" | "upheld" => format!(
            "{} {} — review #{}: {}",
            data["finding"].as_str().unwrap_or("?"),
            data["title"].as_str().unwrap_or(""),
            data["review"],
            data["reply"].as_str().unwrap_or("")
        ),
        "escalation" => format!(
            "needs you: {} ({}){}",
            data["why"].as_str().unwrap_or("?"),
            data["findings"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default(),
            data["session"]
                .as_str()
                .map(|s| format!(" — session {s}"))
                .unwrap_or_default()
        ),
        "escalation_answered" => {
            format!("answered by {}", data["by"].as_str().unwrap_or("?"))
        }
        "head_moved" => format!(
            "{} → {} ({count} file(s) changed by git; not reviewed)",
            short(data["from"].as_str()),
            short(data["to"].as_str())
        ),
        "session" => format!("thread {}", data["thread_id"].as_str().unwrap_or("reset")),
        "trust" => {
            let sha = data["sha256"].as_str().unwrap_or("");
            let sha = sha.get(..12).unwrap_or(sha);
            if data["revoked"] == true {
                "revoked trust in .cxd.toml".to_owned()
            } else {
                format!("trusted .cxd.toml (sha256 {sha})")
            }
        }
        "approval" => {
            let note = data["note"]
                .as_str()
                .map(|n| format!(": {n}"))
                .unwrap_or_default();
            let extra = if data["up_to_date"] == false {
                " (with unreviewed changes)"
            } else {
                ""
            };
            format!("approved{extra}{note}")
        }
        "dismissal" | "reopen" => {
            let reason = data["reason"]
                .as_str()
                .map(|r| format!(" — {r}"))
                .unwrap_or_default();
            format!(
                "{} {}{reason}",
                data["finding"].as_str().unwrap_or("?"),
                data["title"].as_str().unwrap_or("")
            )
        }
        "plan" => format!(
            "{} ({} bytes)",
            if data["revision"] == true {
                "revised plan"
            } else {
                "plan"
            },
            data["bytes"].as_u64().unwrap_or(0)
        ),
        _ => String::new(),
    }
}

fn short(commit: Option<&str>) -> String {
    commit.map_or_else(|| "(none)".to_owned(), |c| c.chars().take(10).collect())
}
