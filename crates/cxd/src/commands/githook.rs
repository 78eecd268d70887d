//! `cxd init git-hook`: `cxd gate` as a pre-commit hook, keeping any hook already there.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::Context as _;

use super::abs_path;
use crate::cli::PathArg;
use crate::exit::{Failure, USAGE};

/// Marks the block cxd owns inside the hook.
const MARK: &str = "# cxd gate (added by `cxd init git-hook`)";

pub fn install(args: &PathArg) -> anyhow::Result<ExitCode> {
    let path = abs_path(args.path.as_deref())?;
    let hooks = hooks_dir(&path)?;
    std::fs::create_dir_all(&hooks)
        .with_context(|| format!("cannot create {}", hooks.display()))?;
    let hook = hooks.join("pre-commit");
    let existing = match std::fs::read_to_string(&hook) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", hook.display())),
    };
    if existing.as_deref().is_some_and(|t| t.contains(MARK)) {
        println!("{} already runs `cxd gate`", hook.display());
        return Ok(ExitCode::SUCCESS);
    }
    let block = format!(
        "\n{MARK}\ncxd gate || {{ echo 'commit blocked by cxd gate (git commit --no-verify skips it)' >&2; exit 1; }}\n"
    );
    let text = match existing {
        // Appended: the user's own hook runs first, and its `exit` still ends the hook.
        Some(t) => format!("{}{block}", t.trim_end_matches('\n')),
        None => format!("#!/bin/sh{block}"),
    };
    let tmp = hook.with_extension("cxd-tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, &hook).with_context(|| format!("cannot replace {}", hook.display()))?;
    println!("installed `cxd gate` in {}", hook.display());
    Ok(ExitCode::SUCCESS)
}

/// The repository's hooks directory (honours core.hooksPath and linked worktrees).
fn hooks_dir(path: &Path) -> anyhow::Result<PathBuf> {
    let out = Command::new("git")
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
