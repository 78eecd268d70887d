//! Who is asking: a person, or the agent under review. The agent's decisions that would lower
//! the gate (dismiss, approve, trust, ...) are the user's to make, so the daemon tells the two
//! apart from the client process itself, not from anything the client says about itself.
//!
//! The agent is recognised by what Claude Code leaves on the processes it starts: its
//! environment (`CLAUDECODE`, `CLAUDE_CODE_ENTRYPOINT`, `CLAUDE_CODE_SESSION_ID`) on the client
//! *or any of its ancestors*, and the Claude Code process itself among the ancestors (by name).
//! An agent can unset a variable in its own shell, but not in the shell Claude Code started,
//! nor rename Claude Code. A client whose parent is init (a double-forked process, the one way
//! out of the ancestry) or that cannot be inspected at all is [`Caller::Unverified`]: allowed,
//! recorded as such, and never taken as the user's answer.

use std::path::Path;

/// Variables Claude Code sets for every command it runs (the Bash tool, hooks, MCP servers).
const AGENT_VARS: &[&str] = &[
    "CLAUDECODE",
    "CLAUDE_CODE_ENTRYPOINT",
    "CLAUDE_CODE_SESSION_ID",
];
/// The variable holding the agent's session id.
const SESSION_VAR: &str = "CLAUDE_CODE_SESSION_ID";
/// Names the Claude Code process goes by (its native binary, or node's process title).
const AGENT_PROGRAMS: &[&str] = &["claude", "claude.exe"];
/// Ancestors inspected at most (a deeper chain is unusual; what lies beyond is not looked at).
const MAX_DEPTH: usize = 64;
/// Longest session id kept from an environment (Claude Code's are UUIDs).
const MAX_SESSION: usize = 200;

/// Who a request comes from, as far as the daemon can establish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No sign of an agent on the client or its ancestors: a person (or their own script).
    Person,
    /// A process of an agent session (Claude Code), with the session's id when it is known.
    Agent {
        /// `CLAUDE_CODE_SESSION_ID` of the nearest process that has it.
        session: Option<String>,
    },
    /// The client could not be attributed: its process could not be inspected, or it was
    /// detached from whatever started it (its parent is init).
    Unverified {
        /// Why, for the audit trail.
        why: String,
    },
}

impl Caller {
    /// The word the audit trail records in `by`: `human`, `agent` or `unverified`.
    pub fn by(&self) -> &'static str {
        match self {
            Caller::Person => "human",
            Caller::Agent { .. } => "agent",
            Caller::Unverified { .. } => "unverified",
        }
    }

    /// Whether this is the agent under review.
    pub fn is_agent(&self) -> bool {
        matches!(self, Caller::Agent { .. })
    }

    /// Whether a decision from this caller is the user's (only a person's is).
    pub fn is_person(&self) -> bool {
        matches!(self, Caller::Person)
    }

    /// The agent's session, if this is an agent and its session is known.
    pub fn session(&self) -> Option<&str> {
        match self {
            Caller::Agent { session } => session.as_deref(),
            _ => None,
        }
    }

    /// The fields an audit entry gets for this caller: `by`, and `session` or `why`.
    pub fn audit_fields(&self, data: &mut serde_json::Value) {
        let Some(map) = data.as_object_mut() else {
            return;
        };
        map.insert("by".into(), self.by().into());
        match self {
            Caller::Person => {}
            Caller::Agent { session } => {
                map.insert("session".into(), session.clone().into());
            }
            Caller::Unverified { why } => {
                map.insert("unverified_because".into(), why.clone().into());
            }
        }
    }
}

/// One process as far as attribution needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Process {
    /// Its parent's pid (0 when unknown).
    pub ppid: u32,
    /// Its short name (`comm`).
    pub name: String,
    /// Its command line, the first element being the program.
    pub argv: Vec<String>,
    /// Its environment as `KEY=VALUE` strings (as the process was started).
    pub environ: Vec<String>,
}

/// Where processes are looked up: the real system, or a table in tests.
pub trait Processes {
    /// The process `pid`, or why it cannot be read.
    fn get(&self, pid: u32) -> Result<Process, String>;
}

/// The running system's processes (`/proc` on Linux, `ps` elsewhere).
#[derive(Debug, Clone, Copy, Default)]
pub struct System;

impl Processes for System {
    fn get(&self, pid: u32) -> Result<Process, String> {
        read_process(pid)
    }
}

/// Attribute the client process `pid` (the socket peer).
pub fn of_pid(pid: Option<u32>) -> Caller {
    match pid {
        Some(pid) if pid > 0 => attribute(&System, pid),
        _ => Caller::Unverified {
            why: "the system does not say which process connected".into(),
        },
    }
}

/// Attribute this process (for commands the client carries out itself).
pub fn of_self() -> Caller {
    attribute(&System, std::process::id())
}

/// Walk from `pid` up its ancestry looking for the agent. Pure over `procs`, so unit-tested.
pub fn attribute(procs: &impl Processes, pid: u32) -> Caller {
    let first = match procs.get(pid) {
        Ok(p) => p,
        Err(e) => {
            return Caller::Unverified {
                why: format!("process {pid} cannot be inspected: {e}"),
            };
        }
    };
    let detached = first.ppid <= 1;
    let mut current = Some((pid, first));
    let mut session: Option<String> = None;
    let mut agent = false;
    for _ in 0..MAX_DEPTH {
        let Some((this, p)) = current.take() else {
            break;
        };
        if session.is_none() {
            session = session_of(&p.environ);
        }
        if is_agent_process(&p) {
            agent = true;
        }
        if p.ppid <= 1 || p.ppid == this {
            break;
        }
        // An ancestor that is gone or unreadable ends the walk; what was seen still counts.
        current = procs.get(p.ppid).ok().map(|q| (p.ppid, q));
    }
    if agent {
        return Caller::Agent { session };
    }
    if detached {
        return Caller::Unverified {
            why: "the client was detached from the process that started it (its parent is init)"
                .into(),
        };
    }
    Caller::Person
}

/// Whether `p` is Claude Code or was started by it.
fn is_agent_process(p: &Process) -> bool {
    let named = |s: &str| AGENT_PROGRAMS.contains(&s);
    if named(p.name.as_str()) {
        return true;
    }
    if let Some(program) = p.argv.first()
        && Path::new(program)
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(named)
    {
        return true;
    }
    // node running Claude Code's script.
    if p.argv
        .iter()
        .take(3)
        .any(|a| a.contains("@anthropic-ai/claude-code"))
    {
        return true;
    }
    p.environ.iter().any(|kv| {
        AGENT_VARS.iter().any(|var| {
            kv.strip_prefix(var)
                .and_then(|rest| rest.strip_prefix('='))
                .is_some_and(|value| !value.is_empty() && value != "0")
        })
    })
}

/// `CLAUDE_CODE_SESSION_ID` from an environment, when it is a plausible id.
fn session_of(environ: &[String]) -> Option<String> {
    environ.iter().find_map(|kv| {
        let v = kv.strip_prefix(SESSION_VAR)?.strip_prefix('=')?;
        (!v.is_empty() && v.len() <= MAX_SESSION && !v.chars().any(char::is_control))
            .then(|| v.to_owned())
    })
}

#[cfg(target_os = "linux")]
fn read_process(pid: u32) -> Result<Process, String> {
    let dir = Path::new("/proc").join(pid.to_string());
    let stat = std::fs::read_to_string(dir.join("stat")).map_err(|e| e.to_string())?;
    let (name, ppid) = parse_stat(&stat).ok_or_else(|| "unreadable /proc stat".to_owned())?;
    // Both may be unreadable (another user's process, a kernel thread): the name still counts.
    let split = |bytes: Vec<u8>| -> Vec<String> {
        bytes
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    };
    let argv = std::fs::read(dir.join("cmdline"))
        .map(split)
        .unwrap_or_default();
    let environ = std::fs::read(dir.join("environ"))
        .map(split)
        .unwrap_or_default();
    Ok(Process {
        ppid,
        name,
        argv,
        environ,
    })
}

/// `comm` and the parent pid from `/proc/PID/stat` (the name is in parentheses and may hold
/// anything, parentheses and spaces included: the fields after the last `)` are fixed).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_stat(stat: &str) -> Option<(String, u32)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let _state = rest.next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((name, ppid))
}

#[cfg(not(target_os = "linux"))]
fn read_process(pid: u32) -> Result<Process, String> {
    // `ps -E` appends the environment to the command (this user's processes only).
    let out = std::process::Command::new("ps")
        .args(["-wwE", "-o", "ppid=,comm=", "-p"])
        .arg(pid.to_string())
        .output()
        .map_err(|e| format!("ps: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().ok_or("no such process")?.trim();
    let (ppid, name) = line
        .split_once(char::is_whitespace)
        .ok_or("ps said nothing")?;
    let ppid = ppid.trim().parse().map_err(|_| "ps gave no parent")?;
    let name = name.trim();
    let base = Path::new(name)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(name)
        .to_owned();
    let env = std::process::Command::new("ps")
        .args(["-wwE", "-o", "command=", "-p"])
        .arg(pid.to_string())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    Ok(Process {
        ppid,
        name: base,
        argv: vec![name.to_owned()],
        environ: env.split_whitespace().map(str::to_owned).collect(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Table(HashMap<u32, Process>);

    impl Processes for Table {
        fn get(&self, pid: u32) -> Result<Process, String> {
            self.0.get(&pid).cloned().ok_or_else(|| "gone".into())
        }
    }

    fn p(ppid: u32, name: &str, env: &[&str]) -> Process {
        Process {
            ppid,
            name: name.into(),
            argv: vec![format!("/usr/bin/{name}")],
            environ: env.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn table(rows: &[(u32, Process)]) -> Table {
        Table(rows.iter().cloned().collect())
    }

    #[test]
    fn a_terminal_shell_is_a_person() {
        let t = table(&[
            (1, p(0, "init", &[])),
            (10, p(1, "sshd", &[])),
            (20, p(10, "bash", &["HOME=/h"])),
            (30, p(20, "cxd", &["HOME=/h"])),
        ]);
        assert_eq!(attribute(&t, 30), Caller::Person);
    }

    #[test]
    fn the_agent_is_found_by_its_variables_or_by_claude_among_the_ancestors() {
        let t = table(&[
            (1, p(0, "init", &[])),
            (5, p(1, "claude", &[])),
            (
                20,
                p(5, "bash", &["CLAUDECODE=1", "CLAUDE_CODE_SESSION_ID=s-1"]),
            ),
            // `env -u CLAUDECODE ...` cleans the client, not its parent shell.
            (30, p(20, "cxd", &[])),
            // `exec env -i cxd ...` leaves nothing but Claude Code itself above it.
            (40, p(5, "cxd", &[])),
        ]);
        assert_eq!(
            attribute(&t, 30),
            Caller::Agent {
                session: Some("s-1".into())
            }
        );
        assert_eq!(attribute(&t, 40), Caller::Agent { session: None });
    }

    #[test]
    fn claude_code_is_recognised_by_its_program_or_script_too() {
        let mut node = p(1, "node", &[]);
        node.argv = vec![
            "node".into(),
            "/x/node_modules/@anthropic-ai/claude-code/cli.js".into(),
        ];
        let mut native = p(1, "MainThread", &[]);
        native.argv = vec!["/x/bin/claude.exe".into()];
        let t = table(&[
            (5, node),
            (6, native),
            (30, p(5, "cxd", &[])),
            (31, p(6, "cxd", &[])),
        ]);
        assert!(attribute(&t, 30).is_agent());
        assert!(attribute(&t, 31).is_agent());
    }

    #[test]
    fn a_detached_or_unreadable_client_is_unverified() {
        let t = table(&[(1, p(0, "init", &[])), (30, p(1, "cxd", &[]))]);
        assert!(matches!(attribute(&t, 30), Caller::Unverified { .. }));
        assert!(matches!(attribute(&t, 99), Caller::Unverified { .. }));
        assert!(matches!(of_pid(None), Caller::Unverified { .. }));
    }

    #[test]
    fn an_empty_or_zero_variable_is_no_sign_of_an_agent() {
        let t = table(&[
            (1, p(0, "init", &[])),
            (
                20,
                p(1, "bash", &["CLAUDECODE=", "CLAUDE_CODE_ENTRYPOINT=0"]),
            ),
            (30, p(20, "cxd", &[])),
        ]);
        assert_eq!(attribute(&t, 30), Caller::Person);
    }

    #[test]
    fn a_loop_in_the_table_ends() {
        let t = table(&[(20, p(30, "bash", &[])), (30, p(20, "cxd", &[]))]);
        assert_eq!(attribute(&t, 30), Caller::Person);
    }

    #[test]
    fn stat_names_may_hold_parentheses_and_spaces() {
        assert_eq!(
            parse_stat("123 (a) b (c) S 45 123 123 0"),
            Some(("a) b (c".into(), 45))
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_is_attributed() {
        // The test runner is no agent (the suite runs outside agent sessions).
        let me = of_self();
        assert!(
            !matches!(me, Caller::Unverified { ref why } if why.contains("inspected")),
            "{me:?}"
        );
    }

    #[test]
    fn the_audit_fields_name_the_actor() {
        let mut v = serde_json::json!({"note": "x"});
        Caller::Agent {
            session: Some("s".into()),
        }
        .audit_fields(&mut v);
        assert_eq!(v["by"], "agent");
        assert_eq!(v["session"], "s");
        let mut v = serde_json::json!({});
        Caller::Person.audit_fields(&mut v);
        assert_eq!(v, serde_json::json!({"by": "human"}));
    }
}
