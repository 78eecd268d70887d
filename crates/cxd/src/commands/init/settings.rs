//! cxd's entries in Claude Code's `settings.json`, as pure functions over `serde_json::Value`:
//! every key and hook of the user's stays where it was, cxd's own entries (a command starting
//! `cxd hook claude` or `/abs/cxd hook claude`, or cxd's lookup of its binary followed by
//! `exec "$cxd" hook claude`) are updated in place or appended, and running it twice changes
//! nothing.

use std::path::Path;

use cxd_daemon::config::Config;
use serde_json::{Map, Value, json};

/// The hook events cxd handles, with their matcher and `cxd hook claude` subcommand.
const EVENTS: [(&str, Option<&str>, &str); 3] = [
    (
        "PostToolUse",
        Some("Edit|Write|MultiEdit|NotebookEdit"),
        "post-tool-use",
    ),
    ("Stop", None, "stop"),
    ("PreToolUse", Some("ExitPlanMode|Bash"), "pre-tool-use"),
];

/// Seconds the PostToolUse hook may take: it only tells the daemon and returns.
const POST_TOOL_USE_TIMEOUT_S: u64 = 10;

/// What cxd puts into the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CxdHooks {
    /// The installing binary's absolute path as a shell word; the hook falls back to PATH.
    pub exe: Option<String>,
    /// Timeout of the Stop and PreToolUse hooks, in seconds (longer than any review).
    pub long_timeout_s: u64,
}

impl CxdHooks {
    fn hook(&self, event: &str, sub: &str) -> Value {
        let timeout = if event == "PostToolUse" {
            POST_TOOL_USE_TIMEOUT_S
        } else {
            self.long_timeout_s
        };
        json!({
            "type": "command",
            "command": self.command(sub),
            "timeout": timeout,
        })
    }
}

impl CxdHooks {
    /// The hook's command line: the installing binary, else `cxd` on PATH, else one line saying
    /// so and exit 0 (what the hooks do when the daemon does not answer).
    pub fn command(&self, sub: &str) -> String {
        format!(
            "{}; exec \"${}\" hook claude {sub}",
            super::super::launch::find(self.exe.as_deref(), "this hook does nothing", "exit 0"),
            super::super::launch::VAR
        )
    }
}

/// The Stop/PreToolUse timeout: longer than a review and the stop hook's wait, plus a margin.
pub fn long_timeout_s(config: &Config) -> u64 {
    config.review.timeout_s.max(config.gate.stop_wait_s) + 60
}

/// Add or update cxd's hooks in `settings`; everything else stays as it was.
pub fn merge_hooks(mut settings: Value, hooks: &CxdHooks) -> Result<Value, String> {
    let root = settings
        .as_object_mut()
        .ok_or("the top level is not a JSON object")?;
    let all = root
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or("`hooks` is not a JSON object")?;
    for (event, matcher, sub) in EVENTS {
        let groups = all
            .entry(event)
            .or_insert_with(|| Value::Array(Vec::new()))
            .as_array_mut()
            .ok_or_else(|| format!("`hooks.{event}` is not a JSON array"))?;
        merge_event(groups, matcher, hooks.hook(event, sub));
    }
    Ok(settings)
}

/// Keep the first cxd hook in a group with our matcher (set to `hook`), drop every other cxd
/// hook of the event and the groups that leaves empty; append a group when none was kept.
fn merge_event(groups: &mut Vec<Value>, matcher: Option<&str>, hook: Value) {
    let mut kept = false;
    groups.retain_mut(|group| {
        let same_matcher = group.get("matcher").and_then(Value::as_str) == matcher;
        let Some(list) = group.get_mut("hooks").and_then(Value::as_array_mut) else {
            return true;
        };
        let before = list.len();
        list.retain_mut(|h| {
            if !is_cxd_hook(h) {
                return true;
            }
            if same_matcher && !kept {
                kept = true;
                if *h != hook {
                    *h = hook.clone();
                }
                return true;
            }
            false
        });
        !(list.is_empty() && before > 0)
    });
    if !kept {
        let mut group = Map::new();
        if let Some(m) = matcher {
            group.insert("matcher".into(), json!(m));
        }
        group.insert("hooks".into(), json!([hook]));
        groups.push(Value::Object(group));
    }
}

/// Take cxd's hooks out of `settings`, and the groups, event lists and `hooks` object that
/// leaves empty; everything else stays. Returns the settings and whether anything was removed.
pub fn remove_hooks(mut settings: Value) -> Result<(Value, bool), String> {
    let root = settings
        .as_object_mut()
        .ok_or("the top level is not a JSON object")?;
    let Some(all) = root.get_mut("hooks") else {
        return Ok((settings, false));
    };
    let all = all.as_object_mut().ok_or("`hooks` is not a JSON object")?;
    let mut removed = false;
    all.retain(|_, groups| {
        let Some(groups) = groups.as_array_mut() else {
            return true;
        };
        let before = groups.len();
        groups.retain_mut(|group| {
            let Some(list) = group.get_mut("hooks").and_then(Value::as_array_mut) else {
                return true;
            };
            let n = list.len();
            list.retain(|h| !is_cxd_hook(h));
            removed |= list.len() < n;
            !(list.is_empty() && n > 0)
        });
        !(groups.is_empty() && before > 0)
    });
    if removed && all.is_empty() {
        root.remove("hooks");
    }
    Ok((settings, removed))
}

fn is_cxd_hook(hook: &Value) -> bool {
    hook.get("command")
        .and_then(Value::as_str)
        .is_some_and(is_cxd_command)
}

/// Is this hook command one of cxd's: `cxd hook claude …` or `/abs/path/cxd hook claude …`
/// (the path possibly quoted)?
pub fn is_cxd_command(command: &str) -> bool {
    if let Some(rest) = super::super::launch::after_find(command) {
        let mut words = rest.split_whitespace();
        return words.next() == Some("exec")
            && words.next() == Some("\"$cxd\"")
            && words.next() == Some("hook")
            && words.next() == Some("claude");
    }
    let Some((program, rest)) = first_word(command) else {
        return false;
    };
    let program = Path::new(&program);
    let is_cxd = program == Path::new("cxd")
        || (program.is_absolute() && program.file_name().is_some_and(|n| n == "cxd"));
    let mut words = rest.split_whitespace();
    is_cxd && words.next() == Some("hook") && words.next() == Some("claude")
}

/// The first shell word of `s`, unquoted (single and double quotes, backslashes), and the rest;
/// None for an unterminated quote.
fn first_word(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    let mut word = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => return Some((word, &s[i..])),
            '\'' => loop {
                match chars.next()?.1 {
                    '\'' => break,
                    c => word.push(c),
                }
            },
            '"' => loop {
                match chars.next()?.1 {
                    '"' => break,
                    '\\' => word.push(chars.next()?.1),
                    c => word.push(c),
                }
            },
            '\\' => word.push(chars.next()?.1),
            c => word.push(c),
        }
    }
    Some((word, ""))
}

/// The settings file as the user keeps it: pretty JSON, 2-space indent, a trailing newline.
pub fn render(settings: &Value) -> String {
    let mut text = serde_json::to_string_pretty(settings).unwrap_or_default();
    text.push('\n');
    text
}

/// Parse a settings file's text; an empty file counts as `{}`.
pub(super) fn parse(path: &Path, text: &str) -> anyhow::Result<Value> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_str(text).map_err(|e| {
        anyhow::anyhow!(
            "{}:{}:{}: not valid JSON ({e}); cxd left the file untouched: fix it, then run `cxd init claude` again",
            path.display(),
            e.line(),
            e.column()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks() -> CxdHooks {
        CxdHooks {
            exe: Some("/usr/bin/cxd".into()),
            long_timeout_s: 960,
        }
    }

    fn expected_cxd() -> Value {
        let c = |sub: &str| hooks().command(sub);
        json!({
            "PostToolUse": [{"matcher": "Edit|Write|MultiEdit|NotebookEdit", "hooks": [
                {"type": "command", "command": c("post-tool-use"), "timeout": 10}]}],
            "Stop": [{"hooks": [
                {"type": "command", "command": c("stop"), "timeout": 960}]}],
            "PreToolUse": [{"matcher": "ExitPlanMode|Bash", "hooks": [
                {"type": "command", "command": c("pre-tool-use"), "timeout": 960}]}],
        })
    }

    fn users() -> Value {
        json!({
            "model": "opus",
            "permissions": {"allow": ["Bash(ls:*)"]},
            "hooks": {
                "PostToolUse": [{"matcher": "Bash", "hooks": [
                    {"type": "command", "command": "log-bash", "timeout": 5}]}],
                "Notification": [{"hooks": [{"type": "command", "command": "notify-send hi"}]}],
            },
            "env": {"A": "1"},
        })
    }

    #[test]
    fn merge_into_empty_settings() {
        let merged = merge_hooks(json!({}), &hooks()).unwrap();
        assert_eq!(merged, json!({"hooks": expected_cxd()}));
    }

    #[test]
    fn merge_keeps_unrelated_keys_and_hooks_in_order() {
        let merged = merge_hooks(users(), &hooks()).unwrap();
        let keys: Vec<_> = merged.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["model", "permissions", "hooks", "env"]);
        let h = &merged["hooks"];
        let events: Vec<_> = h.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            events,
            ["PostToolUse", "Notification", "Stop", "PreToolUse"]
        );
        // The user's own PostToolUse group stays first; ours comes after it.
        assert_eq!(h["PostToolUse"][0], users()["hooks"]["PostToolUse"][0]);
        assert_eq!(h["PostToolUse"][1], expected_cxd()["PostToolUse"][0]);
        assert_eq!(h["Notification"], users()["hooks"]["Notification"]);
        assert_eq!(h["Stop"], expected_cxd()["Stop"]);
        assert_eq!(merged["permissions"], users()["permissions"]);
    }

    #[test]
    fn merge_is_idempotent() {
        let once = merge_hooks(users(), &hooks()).unwrap();
        let twice = merge_hooks(once.clone(), &hooks()).unwrap();
        assert_eq!(render(&once), render(&twice));
    }

    #[test]
    fn merge_updates_cxd_entries_in_place() {
        // The user put their own group after ours, and the timeout changed since.
        let mut settings = merge_hooks(users(), &hooks()).unwrap();
        settings["hooks"]["Stop"]
            .as_array_mut()
            .unwrap()
            .push(json!({"hooks": [{"type": "command", "command": "say done"}]}));
        let new = CxdHooks {
            exe: Some("/opt/cxd/bin/cxd".into()),
            long_timeout_s: 1000,
        };
        let merged = merge_hooks(settings, &new).unwrap();
        let stop = merged["hooks"]["Stop"].as_array().unwrap();
        assert_eq!(stop.len(), 2);
        assert_eq!(
            stop[0]["hooks"][0],
            json!({"type": "command", "command": new.command("stop"), "timeout": 1000})
        );
        assert_eq!(stop[1]["hooks"][0]["command"], "say done");
        assert_eq!(merged["hooks"]["PostToolUse"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn merge_drops_duplicate_cxd_hooks() {
        let dup = json!({"hooks": {"Stop": [
            {"hooks": [{"type": "command", "command": "cxd hook claude stop", "timeout": 1}]},
            {"hooks": [{"type": "command", "command": "'/x y/cxd' hook claude stop"},
                       {"type": "command", "command": "mine"}]},
        ]}});
        let merged = merge_hooks(dup, &hooks()).unwrap();
        assert_eq!(
            merged["hooks"]["Stop"],
            json!([
                {"hooks": [{"type": "command", "command": hooks().command("stop"), "timeout": 960}]},
                {"hooks": [{"type": "command", "command": "mine"}]},
            ])
        );
    }

    #[test]
    fn remove_takes_out_only_cxd_entries() {
        let merged = merge_hooks(users(), &hooks()).unwrap();
        let (removed, changed) = remove_hooks(merged).unwrap();
        assert!(changed);
        assert_eq!(render(&removed), render(&users()));
        // Only cxd's hooks: the hooks object goes too.
        let (removed, changed) = remove_hooks(json!({"hooks": expected_cxd()})).unwrap();
        assert!(changed);
        assert_eq!(removed, json!({}));
    }

    #[test]
    fn remove_when_absent_changes_nothing() {
        let (same, changed) = remove_hooks(users()).unwrap();
        assert!(!changed);
        assert_eq!(render(&same), render(&users()));
        let (same, changed) = remove_hooks(json!({"a": 1})).unwrap();
        assert!(!changed);
        assert_eq!(same, json!({"a": 1}));
    }

    #[test]
    fn wrong_shapes_are_refused() {
        assert!(merge_hooks(json!([1]), &hooks()).is_err());
        let e = merge_hooks(json!({"hooks": {"Stop": {}}}), &hooks()).unwrap_err();
        assert!(e.contains("hooks.Stop"), "{e}");
        assert!(remove_hooks(json!({"hooks": []})).is_err());
    }

    #[test]
    fn cxd_commands_are_recognised() {
        for yes in [
            "cxd hook claude stop",
            "  cxd hook claude post-tool-use",
            "/usr/local/bin/cxd hook claude pre-tool-use",
            "'/home/a b/cxd' hook claude stop",
            "\"/home/a b/cxd\" hook  claude stop",
            r"'/it'\''s/cxd' hook claude stop",
            r"/a\ b/cxd hook claude stop",
            &hooks().command("stop"),
            &CxdHooks {
                exe: None,
                long_timeout_s: 1,
            }
            .command("post-tool-use"),
        ] {
            assert!(is_cxd_command(yes), "{yes}");
        }
        for no in [
            "cxd gate",
            "cxdx hook claude stop",
            "bin/cxd hook claude stop",
            "/usr/bin/other hook claude stop",
            "echo cxd hook claude stop",
            "'/unterminated/cxd hook claude stop",
            "cxd\\ hook claude stop",
            "",
        ] {
            assert!(!is_cxd_command(no), "{no}");
        }
    }

    #[test]
    fn timeout_exceeds_review_and_stop_wait() {
        let mut c = Config::default();
        assert_eq!(long_timeout_s(&c), 960);
        c.gate.stop_wait_s = 2000;
        assert_eq!(long_timeout_s(&c), 2060);
    }

    #[test]
    fn invalid_json_names_file_and_line() {
        let e = parse(Path::new("/p/settings.json"), "{\n  \"a\": 1,\n}\n").unwrap_err();
        assert!(e.to_string().starts_with("/p/settings.json:3:"), "{e}");
        assert_eq!(parse(Path::new("x"), "  \n").unwrap(), json!({}));
    }
}
