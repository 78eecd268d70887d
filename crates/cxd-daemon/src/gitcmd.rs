//! Every `git` process cxd starts is built here, so that no program a repository's config
//! names ever runs in one.
//!
//! A repository's `.git/config` (and whatever it includes) is hostile input: it can come
//! from an unpacked archive or a shared disk. [`command`] gives a `git` that:
//!
//! - inherits no `GIT_*` variable but the few that say where git lives and which of the
//!   user's own config files to read (a parent hook's `GIT_DIR`, `GIT_CONFIG_PARAMETERS`,
//!   `GIT_EXTERNAL_DIFF`, `GIT_SSH_COMMAND`… are dropped);
//! - runs no hook (`core.hooksPath=/dev/null`: `post-index-change`, `reference-transaction`,
//!   `pre-auto-gc` and every other hook find nothing), no fsmonitor, no pager, no editor;
//! - reaches no remote: every transport is refused (`GIT_ALLOW_PROTOCOL` names none,
//!   `protocol.allow=never`), lazy fetches of a partial clone are off, so no ssh command,
//!   remote helper, upload-pack program, proxy, credential helper or askpass program can
//!   start; credential helpers and askpass are also emptied;
//! - signs and verifies nothing (the gpg programs point at `/dev/null`, which never runs);
//! - never garbage-collects or runs maintenance.
//!
//! Settings on git's command line win over every config file, whatever includes them; the
//! keys whose names a repository picks (`filter.<driver>.*`) cannot be listed ahead, so
//! [`driver_overrides`] empties every driver the repository's config defines (see its docs). Diffs are
//! made with `--no-ext-diff --no-textconv` and, for the review, in a private bare repository
//! that reads neither the repository's config nor its attributes
//! (`snapshot::git::Odb::Bare`). Commands cxd never runs (merge, archive, upload-pack, help,
//! send-email, difftool) need no override; aliases cannot shadow the built-in commands cxd
//! runs.
//!
//! The user's own `~/.gitconfig` and the system config are still read: past the overrides
//! above, the only programs they can start are their own filter drivers (the user's programs,
//! which their own git runs in the repository too), and `core.excludesFile` and
//! `core.autocrlf` from them must keep meaning what they mean for the user's own git.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

/// Inherited variables kept: where git itself lives and which of the user's config files it
/// reads.
pub const KEEP_ENV: &[&str] = &[
    "GIT_EXEC_PATH",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
];

/// `-c` settings of every git call: nothing a config file names runs.
pub const NEUTRAL_CONFIG: &[&str] = &[
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.pager=cat",
    "core.editor=:",
    "sequence.editor=:",
    "core.askPass=",
    "credential.helper=",
    "core.sshCommand=/dev/null",
    "core.gitProxy=/dev/null",
    "protocol.allow=never",
    "gpg.program=/dev/null",
    "gpg.openpgp.program=/dev/null",
    "gpg.x509.program=/dev/null",
    "gpg.ssh.program=/dev/null",
    "gpg.ssh.defaultKeyCommand=",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "log.showSignature=false",
    "submodule.recurse=false",
    "gc.auto=0",
    "maintenance.auto=false",
];

/// Environment of every git call (these also win over config).
const NEUTRAL_ENV: &[(&str, &str)] = &[
    // A protocol list naming no real transport: every fetch, push and lazy fetch is refused.
    ("GIT_ALLOW_PROTOCOL", "cxd-none"),
    ("GIT_NO_LAZY_FETCH", "1"),
    ("GIT_TERMINAL_PROMPT", "0"),
    ("GIT_OPTIONAL_LOCKS", "0"),
    ("GIT_PAGER", "cat"),
    ("GIT_EDITOR", ":"),
    ("GIT_SEQUENCE_EDITOR", ":"),
    ("GIT_ADVICE", "0"),
];

/// Whether an inherited variable is dropped from git's environment.
#[must_use]
pub fn scrubbed(name: &str) -> bool {
    name.starts_with("GIT_") && !KEEP_ENV.contains(&name)
}

/// A `git` command with the inherited `GIT_*` variables dropped and every setting above
/// applied; stdin is null. Callers add the subcommand and its arguments.
#[must_use]
pub fn command() -> Command {
    build(true)
}

/// [`command`] without the `core.hooksPath` override, for the one question that needs the
/// configured value (`rev-parse --git-path hooks`, which runs no hook).
#[must_use]
pub fn command_reading_hooks_path() -> Command {
    build(false)
}

/// `git --version` with the environment of [`command`] but no options before it: it reads no
/// config and runs nothing, and `--version` must come first for wrappers that look for it.
#[must_use]
pub fn version_command() -> Command {
    let mut cmd = env_only();
    cmd.arg("--version");
    cmd
}

fn env_only() -> Command {
    let mut cmd = Command::new("git");
    for (k, _) in std::env::vars_os() {
        if scrubbed(&k.to_string_lossy()) {
            cmd.env_remove(k);
        }
    }
    for (k, v) in NEUTRAL_ENV {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null());
    cmd
}

fn build(no_hooks: bool) -> Command {
    let mut cmd = env_only();
    cmd.arg("--no-pager");
    for c in NEUTRAL_CONFIG {
        if no_hooks || !c.starts_with("core.hooksPath=") {
            cmd.arg("-c").arg(c);
        }
    }
    cmd
}

/// A driver name cxd cannot override on git's command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the git config defines a filter driver named {name:?}, which cxd cannot switch off on \
     git's command line: rename or remove that driver"
)]
pub struct UnsafeDriver {
    /// The driver's name as the config spells it.
    pub name: String,
}

/// The `-c` settings that switch off every filter driver the repository's config defines,
/// from `git config -z --list --show-scope --show-origin` output `listed`: `clean`, `smudge`
/// and `process` emptied (git then runs none) and `required` false, so `git add` stores a
/// file's bytes as they are. A filter runs only when an attribute names a driver some config
/// defines, so this covers every one the repository could name, whatever its attributes say.
///
/// A driver only the user's own config (scope `global` or `system`) defines still runs: it is
/// the user's program, which their own git runs in this repository too (git-crypt, say). Any
/// key of a driver set at another scope (the repository's config, a file it includes, its
/// worktree config) switches that driver off, also when it only overrides the user's. Git
/// LFS's filter is always off (its clean step writes into `.git/lfs`).
pub fn driver_overrides(listed: &[u8]) -> Result<Vec<String>, UnsafeDriver> {
    let mut names: BTreeSet<String> = BTreeSet::from(["lfs".to_owned()]);
    let fields: Vec<&[u8]> = listed.split(|&b| b == 0).collect();
    for entry in fields.chunks(3) {
        let [scope, _origin, kv] = entry else {
            continue;
        };
        if matches!(*scope, b"global" | b"system") {
            continue;
        }
        let key = kv.split(|&b| b == b'\n').next().unwrap_or_default();
        let Some(rest) = key.strip_prefix(b"filter.") else {
            continue;
        };
        // `filter.<name>.<key>`: the name is everything up to the last dot.
        let Some(dot) = rest.iter().rposition(|&b| b == b'.') else {
            continue;
        };
        let name = std::str::from_utf8(&rest[..dot]).map_err(|_| UnsafeDriver {
            name: String::from_utf8_lossy(&rest[..dot]).into_owned(),
        })?;
        // `-c` splits at the first `=`: git would read such a name as another key.
        if name.contains('=') || name.is_empty() {
            return Err(UnsafeDriver { name: name.into() });
        }
        names.insert(name.to_owned());
    }
    let mut out = Vec::with_capacity(names.len() * 4);
    for n in names {
        out.push(format!("filter.{n}.clean="));
        out.push(format!("filter.{n}.smudge="));
        out.push(format!("filter.{n}.process="));
        out.push(format!("filter.{n}.required=false"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_filter_the_repository_defines_is_emptied() {
        let listed = b"local\0file:.git/config\0core.bare\nfalse\0\
                       local\0file:.git/x\0filter.evil.clean\nsh x\0\
                       worktree\0file:.git/config.worktree\0filter.A.b.process\ny\0\
                       local\0file:.git/config\0filter.evil.required\ntrue\0\
                       global\0file:/home/u/.gitconfig\0filter.crypt.clean\nc\0\
                       system\0file:/etc/gitconfig\0filter.sys.clean\nc\0\
                       local\0file:.git/config\0diff.x.textconv\nz\0";
        let o = driver_overrides(listed).unwrap();
        for n in ["evil", "A.b", "lfs"] {
            for k in ["clean=", "smudge=", "process=", "required=false"] {
                assert!(o.contains(&format!("filter.{n}.{k}")), "{n}.{k} in {o:?}");
            }
        }
        assert_eq!(o.len(), 12, "the user's own drivers run: {o:?}");
        // The repository overriding one of the user's switches it off.
        let o = driver_overrides(b"local\0file:.git/config\0filter.crypt.clean\nevil\0").unwrap();
        assert!(o.contains(&"filter.crypt.clean=".to_owned()), "{o:?}");
    }

    #[test]
    fn a_name_the_command_line_cannot_hold_is_refused() {
        let one = |key: &[u8]| {
            let mut v = b"local\0file:.git/config\0".to_vec();
            v.extend_from_slice(key);
            v.extend_from_slice(b"\nx\0");
            driver_overrides(&v)
        };
        assert!(one(b"filter.a=b.clean").is_err());
        assert!(one(b"filter.\xff.clean").is_err());
        assert!(one(b"filter.\xc3\xa9.clean").is_ok());
    }

    #[test]
    fn only_git_variables_outside_the_kept_ones_are_dropped() {
        assert!(scrubbed("GIT_DIR"));
        assert!(scrubbed("GIT_CONFIG_PARAMETERS"));
        assert!(scrubbed("GIT_SSH_COMMAND"));
        assert!(!scrubbed("GIT_CONFIG_GLOBAL"));
        assert!(!scrubbed("HOME"));
    }
}
