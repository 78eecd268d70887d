//! Codex arguments no config may add: anything that would loosen the read-only sandbox, the
//! approval policy, where codex works, or the answer channel cxd reads, nor anything that
//! would bring the user's hooks, notify program or MCP servers back into a review.

use crate::codex::isolation::{DISABLED_FEATURES, PINNED_KEYS};

/// Flags refused in `review.extra_args`, with why.
const REFUSED_FLAGS: &[(&str, &str)] = &[
    ("-s", "sets the sandbox, which cxd pins to read-only"),
    ("--sandbox", "sets the sandbox, which cxd pins to read-only"),
    (
        "--dangerously-bypass-approvals-and-sandbox",
        "turns the sandbox off",
    ),
    ("--yolo", "turns the sandbox off"),
    ("--full-auto", "gives codex write access to the tree"),
    ("-a", "changes the approval policy"),
    ("--ask-for-approval", "changes the approval policy"),
    ("--add-dir", "makes more directories writable"),
    ("-C", "changes the directory codex works in"),
    ("--cd", "changes the directory codex works in"),
    (
        "-p",
        "selects a profile, which may set the sandbox or approval policy",
    ),
    (
        "--profile",
        "selects a profile, which may set the sandbox or approval policy",
    ),
    ("-o", "redirects the answer cxd reads"),
    ("--output-last-message", "redirects the answer cxd reads"),
    ("--output-schema", "replaces the answer schema cxd needs"),
    ("--json", "is always given by cxd"),
];

/// `-c key=value` keys refused (a key equal to one of these, or below it).
const REFUSED_CONFIG_KEYS: &[&str] = &[
    "sandbox_mode",
    "sandbox_workspace_write",
    "sandbox",
    "approval_policy",
    "profile",
    "profiles",
    "experimental_use_exec_command_tool",
];

/// Why `args` would weaken codex's sandbox, naming the argument; None when they do not.
pub fn weakening(args: &[String]) -> Option<String> {
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (arg, None),
        };
        for (refused, why) in REFUSED_FLAGS {
            let short_glued = refused.len() == 2
                && !refused.starts_with("--")
                && flag.len() > 2
                && !flag.starts_with("--")
                && flag.starts_with(refused);
            if flag == *refused || short_glued {
                return Some(format!(
                    "\"{arg}\" is refused: it {why}; remove it from review.extra_args"
                ));
            }
        }
        if flag == "--enable" {
            let feature = inline
                .map(str::to_owned)
                .or_else(|| args.get(i + 1).cloned());
            if let Some(f) = feature.filter(|f| DISABLED_FEATURES.contains(&f.as_str())) {
                return Some(format!(
                    "\"{arg}\" is refused: it turns on {f}, and cxd keeps the user's hooks, plugins and connectors out of reviews; remove it from review.extra_args"
                ));
            }
        }
        let mut shown = arg.to_owned();
        let config_value = if flag == "-c" || flag == "--config" {
            match inline {
                Some(v) => Some(v.to_owned()),
                None => {
                    i += 1;
                    let v = args.get(i).cloned();
                    if let Some(v) = &v {
                        shown = format!("{arg} {v}");
                    }
                    v
                }
            }
        } else {
            flag.strip_prefix("-c")
                .filter(|_| !flag.starts_with("--"))
                .map(str::to_owned)
        };
        if let Some(value) = config_value {
            let key = value
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"');
            let root = key.split('.').next().unwrap_or("");
            if REFUSED_CONFIG_KEYS.contains(&root) {
                return Some(format!(
                    "\"{shown}\" is refused: it changes codex's sandbox or approval policy, which cxd pins to read-only; remove it from review.extra_args"
                ));
            }
            let pinned = PINNED_KEYS
                .iter()
                .any(|p| key == *p || key.strip_prefix(p).is_some_and(|r| r.starts_with('.')));
            if pinned {
                return Some(format!(
                    "\"{shown}\" is refused: cxd keeps the user's hooks, notify program and MCP servers out of reviews; remove it from review.extra_args"
                ));
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(args: &[&str]) -> Option<String> {
        weakening(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn sandbox_and_approval_changes_are_refused_naming_the_argument() {
        for args in [
            &["--dangerously-bypass-approvals-and-sandbox"][..],
            &["-s", "danger-full-access"],
            &["-sdanger-full-access"],
            &["--sandbox=workspace-write"],
            &["--full-auto"],
            &["-c", "sandbox_mode=\"danger-full-access\""],
            &["-csandbox_mode=danger-full-access"],
            &["--config=approval_policy=never"],
            &["--config", "sandbox_workspace_write.network_access=true"],
            &["-c", "\"sandbox_mode\"=x"],
            &["--add-dir", "/"],
            &["-p", "yolo"],
            &["-C", "/"],
            &["-o", "/tmp/x"],
            &["-c", "features.hooks=true"],
            &["-c", "notify=[\"/bin/x\"]"],
            &["--config", "mcp_servers.docs.enabled=true"],
            &["--enable", "hooks"],
            &["--enable=plugins"],
        ] {
            let why = check(args).unwrap_or_else(|| panic!("{args:?} was allowed"));
            assert!(why.contains(args[0]), "{why}");
        }
    }

    #[test]
    fn harmless_arguments_pass() {
        assert_eq!(check(&[]), None);
        assert_eq!(check(&["--skip-git-repo-check"]), None);
        assert_eq!(check(&["-c", "model_verbosity=low", "--enable", "x"]), None);
        assert_eq!(check(&["--config=hide_agent_reasoning=true"]), None);
        assert_eq!(check(&["-c", "features.web_search=true"]), None);
        assert_eq!(check(&["-c", "notify_x=1", "--enable", "shell_tool"]), None);
    }
}
