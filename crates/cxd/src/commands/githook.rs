//! `cxd init git-hook`: `cxd gate` as a pre-commit hook, or (`--pre-push`) the pre-push review
//! of unreviewed commits, keeping any hook already there. The hooks run the binary that
//! installed them (else `cxd` on PATH; see `launch`), and installing again updates an older
//! form of cxd's own lines in place.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::abs_path;
use super::init::GitHookArgs;
use super::launch;
use crate::exit::{Failure, USAGE};

/// Marks the block cxd owns inside the pre-commit hook.
const MARK: &str = "# cxd gate (added by `cxd init git-hook`)";

/// Marks cxd's pre-push hook.
const PUSH_MARK: &str = "# cxd pre-push review (added by `cxd init git-hook --pre-push`)";

/// Where a pre-push hook that was there before goes; cxd's hook runs it first, with the same
/// arguments and input.
const PUSH_BEFORE: &str = "pre-push.before-cxd";

pub fn install(args: &GitHookArgs) -> anyhow::Result<ExitCode> {
    let path = abs_path(args.path.as_deref())?;
    let hooks = hooks_dir(&path)?;
    std::fs::create_dir_all(&hooks)
        .with_context(|| format!("cannot create {}", hooks.display()))?;
    if args.pre_push {
        return install_pre_push(&hooks);
    }
    let hook = hooks.join("pre-commit");
    let existing = read_hook(&hook)?;
    let line = pre_commit_line(launch::installing_exe().as_deref());
    let text = match existing {
        Some(t) if t.contains(MARK) => {
            let Some(text) = replace_after_mark(&t, &line) else {
                println!("{} already runs `cxd gate`", hook.display());
                return Ok(ExitCode::SUCCESS);
            };
            write_hook(&hook, &text)?;
            println!("updated `cxd gate` in {}", hook.display());
            return Ok(ExitCode::SUCCESS);
        }
        // Appended: the user's own hook runs first, and its `exit` still ends the hook.
        Some(t) => format!("{}\n{MARK}\n{line}\n", t.trim_end_matches('\n')),
        None => format!("#!/bin/sh\n{MARK}\n{line}\n"),
    };
    write_hook(&hook, &text)?;
    println!("installed `cxd gate` in {}", hook.display());
    Ok(ExitCode::SUCCESS)
}

/// The pre-commit hook's line: `cxd gate`, the commit refused when it does not pass. A cxd
/// that cannot be found refuses the commit too, as a daemon that does not answer does.
fn pre_commit_line(exe: Option<&str>) -> String {
    let refuse =
        "{ echo 'commit blocked by cxd gate (git commit --no-verify skips it)' >&2; exit 1; }";
    format!(
        "{}; \"${}\" gate || {refuse}",
        launch::find(
            exe,
            "commit blocked (git commit --no-verify skips cxd)",
            "exit 1"
        ),
        launch::VAR
    )
}

/// `text` with the line after [`MARK`] set to `line`; None when it is that already.
fn replace_after_mark(text: &str, line: &str) -> Option<String> {
    let mut lines: Vec<&str> = text.split('\n').collect();
    let at = lines.iter().position(|l| *l == MARK)?;
    match lines.get(at + 1) {
        Some(l) if *l == line => return None,
        Some(_) => lines[at + 1] = line,
        None => lines.push(line),
    }
    Some(lines.join("\n"))
}

/// The pre-push hook. git feeds the pushed refs on stdin, which a hook reads once: an existing
/// hook is moved aside and run first with a copy of that input, then cxd reads its own copy.
fn install_pre_push(hooks: &Path) -> anyhow::Result<ExitCode> {
    let hook = hooks.join("pre-push");
    let existing = read_hook(&hook)?;
    let text = pre_push_script(launch::installing_exe().as_deref());
    if let Some(t) = existing.as_deref().filter(|t| t.contains(PUSH_MARK)) {
        // The whole file is cxd's: an older form is replaced, its hook moved aside stays.
        if t == text {
            println!("{} already runs cxd's pre-push review", hook.display());
        } else {
            write_hook(&hook, &text)?;
            println!("updated cxd's pre-push review in {}", hook.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let before = hooks.join(PUSH_BEFORE);
    if existing.is_some() {
        if before.exists() {
            return Err(Failure::new(
                USAGE,
                format!(
                    "{} exists already: merge it into {} or remove it, then run this again",
                    before.display(),
                    hook.display()
                ),
            )
            .into());
        }
        std::fs::rename(&hook, &before)
            .with_context(|| format!("cannot move {} aside", hook.display()))?;
    }
    write_hook(&hook, &text)?;
    match existing {
        Some(_) => println!(
            "installed cxd's pre-push review in {} (your hook, now {}, runs first)",
            hook.display(),
            before.display()
        ),
        None => println!("installed cxd's pre-push review in {}", hook.display()),
    }
    Ok(ExitCode::SUCCESS)
}

/// cxd's pre-push hook. A cxd that cannot be found lets the push go on, saying so, as a daemon
/// that does not answer does.
fn pre_push_script(exe: Option<&str>) -> String {
    let find = launch::find(exe, "the push goes on without cxd's review", "exit 0");
    let v = launch::VAR;
    format!(
        "#!/bin/sh\n{PUSH_MARK}\n\
input=$(cat)\n\
before=\"$(dirname \"$0\")/{PUSH_BEFORE}\"\n\
if [ -x \"$before\" ]; then\n\
  printf '%s\\n' \"$input\" | \"$before\" \"$@\" || exit $?\n\
fi\n\
{find}\n\
printf '%s\\n' \"$input\" | \"${v}\" hook git pre-push \"$@\" || exit 1\n"
    )
}

fn read_hook(hook: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(hook) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", hook.display())),
    }
}

/// Write the hook executable, replacing the old one in one rename.
fn write_hook(hook: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = hook.with_extension("cxd-tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, hook).with_context(|| format!("cannot replace {}", hook.display()))?;
    Ok(())
}

/// The repository's hooks directory (honours core.hooksPath and linked worktrees).
fn hooks_dir(path: &Path) -> anyhow::Result<PathBuf> {
    let out = cxd_daemon::gitcmd::command_reading_hooks_path()
        // No `--path-format=absolute` (git 2.31+): a relative answer is relative to `path`.
        .args(["rev-parse", "--git-path", "hooks"])
        .current_dir(path)
        .output()
        .context("cannot run git")?;
    if !out.status.success() {
        return Err(Failure::new(
            USAGE,
            format!("{} is not inside a git repository", path.display()),
        )
        .into());
    }
    Ok(path.join(String::from_utf8_lossy(&out.stdout).trim()))
}
