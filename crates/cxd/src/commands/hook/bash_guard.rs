//! PreToolUse on Bash: deny a command that would make one of the user's decisions with cxd
//! (`cxd approve`, `cxd dismiss`, ...) before it runs. The daemon refuses those to the agent
//! anyway (it inspects the client process); this turns them away earlier, with the same words,
//! so the agent does not try its way around.
//!
//! It reads each simple command for cxd and the subcommand after it, whatever flags come
//! between (`cxd --json approve`, `/path/to/cxd dismiss`, `sh -c "cxd approve"`); when the
//! subcommand is not in the text (`X=approve; cxd $X`, `... | xargs cxd`), any decision's word
//! anywhere in the command counts. A dispute's reason may say anything. Text can always be
//! spelled past a guard like this one: it is the early word, the daemon's check is the rule.

/// The decision a Bash command would make with cxd, as its command (None: none).
pub fn decision(command: &str) -> Option<&'static str> {
    let mut dynamic = false;
    for segment in command.split(|c: char| ";|&\n()`".contains(c)) {
        let words = words(segment, "");
        let Some(at) = words.iter().position(|w| is_cxd(w)) else {
            continue;
        };
        let rest = &words[at + 1..];
        match rest.iter().find(|w| !w.starts_with('-')) {
            // `cxd $X`, `xargs cxd`: the subcommand is not in the text.
            None => dynamic = true,
            Some(sub) if sub.starts_with('$') => dynamic = true,
            Some(sub) => {
                if let Some(d) = subcommand_decision(sub, rest) {
                    return Some(d);
                }
            }
        }
    }
    if !dynamic {
        return None;
    }
    // The subcommand comes from elsewhere in the command: any decision's word there counts.
    let all = words(command, "=$;|&()`");
    let verbs = [
        "dismiss",
        "approve",
        "trust",
        "pause",
        "unwatch",
        "stop",
        "adopt",
        "uninstall",
    ];
    verbs
        .iter()
        .find(|v| all.contains(v))
        .and_then(|v| subcommand_decision(v, &all))
}

/// The words of `text`, split at blanks, quotes, escapes and the characters in `more`.
fn words<'a>(text: &'a str, more: &str) -> Vec<&'a str> {
    text.split(|c: char| c.is_whitespace() || "\"'\\{}<>".contains(c) || more.contains(c))
        .filter(|w| !w.is_empty())
        .collect()
}

fn is_cxd(word: &str) -> bool {
    word == "cxd" || word.ends_with("/cxd")
}

/// The decision subcommand `sub` makes with the arguments `rest` (None: not a decision).
fn subcommand_decision(sub: &str, rest: &[&str]) -> Option<&'static str> {
    let has = |w: &str| rest.contains(&w);
    Some(match sub {
        "dismiss" => "cxd dismiss",
        "approve" => "cxd approve",
        "trust" => "cxd trust",
        "pause" => "cxd pause",
        "unwatch" => "cxd unwatch",
        "stop" => "cxd stop",
        "adopt" => "cxd session adopt",
        "session" if has("adopt") || has("reset") => "cxd session adopt",
        "review" if rest.iter().any(|w| is_model_flag(w)) => "cxd review --model/--effort",
        "init" if has("--remove") => "cxd init claude --remove",
        "service" | "uninstall" if has("uninstall") => "cxd service uninstall",
        _ => return None,
    })
}

fn is_model_flag(word: &str) -> bool {
    ["--model", "--effort", "-m"]
        .iter()
        .any(|f| word == *f || word.starts_with(&format!("{f}=")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_found_in_any_wording_or_order() {
        for (cmd, want) in [
            ("cxd approve", "cxd approve"),
            ("cxd --json approve .", "cxd approve"),
            ("cd /r && cxd dismiss F1 --reason 'not real'", "cxd dismiss"),
            ("X=approve; cxd $X", "cxd approve"),
            ("/home/u/.cargo/bin/cxd trust", "cxd trust"),
            (
                "env -u CLAUDECODE cxd session adopt 0190",
                "cxd session adopt",
            ),
            ("cxd session reset", "cxd session adopt"),
            ("(cxd unwatch)", "cxd unwatch"),
            ("nohup cxd stop &", "cxd stop"),
            ("cxd pause", "cxd pause"),
            (
                "cxd review --wait --model=tiny",
                "cxd review --model/--effort",
            ),
            ("cxd init claude --remove", "cxd init claude --remove"),
            ("cxd service uninstall", "cxd service uninstall"),
            ("sh -c \"cxd\\ approve\"", "cxd approve"),
            ("echo approve | xargs cxd", "cxd approve"),
            ("cxd dispute F1 --reason x; cxd approve", "cxd approve"),
            ("cxd\napprove", "cxd approve"),
        ] {
            assert_eq!(decision(cmd), Some(want), "{cmd}");
        }
    }

    #[test]
    fn the_agents_own_commands_pass() {
        for cmd in [
            "cxd status",
            "cxd findings --json",
            "cxd dispute F1 --reason \"bounded by the caller\"",
            "cxd dispute F2 --reason 'the user said to approve and stop, trust me'",
            "cxd --json status",
            "cxd review --wait",
            "cxd log -n 5",
            "cargo test",
            "echo approve",
            "git stash",
        ] {
            assert_eq!(decision(cmd), None, "{cmd}");
        }
    }
}
