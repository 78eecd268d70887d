//! `cxd init claude`: add (or remove) cxd's hooks in Claude Code's `settings.json`; and
//! `cxd init git-hook`, whose work `githook` does.
//!
//! This module finds the settings file, reads and writes it; `settings` holds the merge itself.

mod settings;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use cxd_daemon::config::Config;
use cxd_proto::paths::Paths;

use settings::{CxdHooks, long_timeout_s, merge_hooks, parse, remove_hooks, render};

use super::abs_path;

/// `cxd init`
#[derive(Debug, Args)]
pub struct InitArgs {
    /// What to set up.
    #[command(subcommand)]
    pub target: InitTarget,
}

/// What `cxd init` sets up.
#[derive(Debug, Subcommand)]
pub enum InitTarget {
    /// Add cxd's hooks to Claude Code's .claude/settings.json, keeping the user's own.
    ///
    /// PostToolUse (Edit|Write|MultiEdit|NotebookEdit) tells the daemon who edited what; Stop
    /// waits for the review and blocks on open findings; PreToolUse (ExitPlanMode) has the plan
    /// reviewed. Idempotent; --remove takes out only cxd's entries.
    Claude(ClaudeArgs),
    /// Install `cxd gate` as the repository's pre-commit hook (an existing hook keeps running
    /// first); with --pre-push, a pre-push hook that reviews the pushed commits no review
    /// covered yet and refuses the push on blocking findings.
    GitHook(GitHookArgs),
}

/// `cxd init git-hook`
#[derive(Debug, Args)]
pub struct GitHookArgs {
    /// A path inside the repository (default: the current directory).
    pub path: Option<PathBuf>,
    /// Install the pre-push hook (`cxd hook git pre-push`) instead of the pre-commit gate.
    #[arg(long)]
    pub pre_push: bool,
}

/// `cxd init claude`
#[derive(Debug, Args)]
pub struct ClaudeArgs {
    /// The project (default: the git root of the current directory, else the current directory).
    #[arg(conflicts_with = "global")]
    pub path: Option<PathBuf>,
    /// Change the user's settings (~/.claude/settings.json, or $CLAUDE_CONFIG_DIR) instead.
    #[arg(long)]
    pub global: bool,
    /// Print the resulting settings instead of writing them.
    #[arg(long)]
    pub print: bool,
    /// Take cxd's hooks out instead of adding them.
    #[arg(long)]
    pub remove: bool,
}

/// Run `cxd init`.
pub fn run(paths: &Paths, args: &InitArgs) -> anyhow::Result<ExitCode> {
    match &args.target {
        InitTarget::Claude(claude) => run_claude(paths, claude),
        InitTarget::GitHook(args) => super::githook::install(args),
    }
}

fn run_claude(paths: &Paths, args: &ClaudeArgs) -> anyhow::Result<ExitCode> {
    let file = if args.global {
        claude_config_dir()?.join("settings.json")
    } else {
        project_dir(args.path.as_deref())?
            .join(".claude")
            .join("settings.json")
    };
    // Write through a symlink (dotfile managers), not over it.
    let file = std::fs::canonicalize(&file).unwrap_or(file);
    let old = match std::fs::read_to_string(&file) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => anyhow::bail!("cannot read {}: {e}", file.display()),
    };
    let settings = parse(&file, old.as_deref().unwrap_or(""))?;
    let shape = |e: String| {
        anyhow::anyhow!(
            "{}: {e}; cxd left the file untouched: fix it, then run `cxd init claude` again",
            file.display()
        )
    };
    let (new, what) = if args.remove {
        let (new, removed) = remove_hooks(settings).map_err(shape)?;
        let what = if removed {
            format!("removed cxd's hooks from {}", file.display())
        } else {
            format!("no cxd hooks in {}; nothing changed", file.display())
        };
        (new, what)
    } else {
        let config = Config::load(&paths.config).map_err(|e| {
            anyhow::anyhow!("{e}\nfix the config (the hooks' timeout comes from it), then run `cxd init claude` again")
        })?;
        let hooks = CxdHooks {
            exe: super::launch::installing_exe(),
            long_timeout_s: long_timeout_s(&config),
        };
        let new = merge_hooks(settings, &hooks).map_err(shape)?;
        let what = format!(
            "added cxd's hooks to {} (running {}; Stop and PreToolUse time out after {}s)",
            file.display(),
            hooks
                .exe
                .as_deref()
                .map_or("`cxd` on PATH".to_owned(), |e| format!(
                    "{e}, else `cxd` on PATH"
                )),
            hooks.long_timeout_s
        );
        (new, what)
    };
    let text = render(&new);
    if args.print {
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    if old.as_deref() == Some(text.as_str()) || (old.is_none() && args.remove) {
        if args.remove {
            println!("no cxd hooks in {}; nothing changed", file.display());
        } else {
            println!(
                "cxd's hooks are already in {}; nothing changed",
                file.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    write_atomically(&file, &text)?;
    println!("{what}");
    Ok(ExitCode::SUCCESS)
}

/// Write `text` to `path` through a temporary file in the same directory and a rename, keeping
/// the old file's permissions.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create {}: check its permissions", dir.display()))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.cxd-{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        if let Ok(meta) = std::fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!(
            "cannot write {}: {e}; the old file is unchanged: check the directory's permissions",
            path.display()
        )
    })
}

/// `$CLAUDE_CONFIG_DIR`, else `~/.claude`.
fn claude_config_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CLAUDE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set: cannot find ~/.claude; set HOME or CLAUDE_CONFIG_DIR")?;
    Ok(PathBuf::from(home).join(".claude"))
}

/// PATH as given; else the git root of the current directory; else the current directory.
fn project_dir(path: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = abs_path(path)?;
    if path.is_some() {
        anyhow::ensure!(
            dir.is_dir(),
            "{} is not a directory: give the project's directory",
            dir.display()
        );
        return Ok(dir);
    }
    let top = cxd_daemon::gitcmd::command()
        .args(["rev-parse", "--show-toplevel"])
        .current_dir(&dir)
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim_end().to_owned())
        .filter(|t| !t.is_empty());
    Ok(top.map_or(dir, PathBuf::from))
}
