//! The `-c`/`--disable` overrides that make a review an isolated reviewer: none of the user's
//! Codex hooks, notify program, plugins, connectors or MCP servers start inside a cxd run,
//! while the user's login and model provider (same `CODEX_HOME`) still apply.
//!
//! Facts about codex (checked against the real CLI in tests/tests/real_codex.rs):
//! - `features.hooks=false` turns off every hook source: `config.toml` `[hooks]`,
//!   `hooks.json` and plugin hooks, even when their trust is bypassed.
//! - `notify=[]` replaces the notify program list (a list is replaced, not merged).
//! - `mcp_servers={}` does NOT remove servers: `-c` tables merge into the user's. Each
//!   server has to be turned off by name, `mcp_servers.<name>.enabled=false`, so the names
//!   are read from the config files codex would load them from.
//! - `features.plugins=false` and `features.apps=false` keep plugin-bundled servers and
//!   hooks, and the connector MCP server, from starting.

use std::path::{Path, PathBuf};

use crate::config::read::{Confine, read_config_limited};

/// The largest codex config file read for MCP server names. Codex reads a file of any size,
/// so a smaller limit would let a padded file hide its servers; one past this halts reviews.
pub const MAX_CODEX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// A codex config file that exists but whose MCP servers cxd cannot list, so it cannot turn
/// them off: the review must not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot isolate the review: {path} cannot be read for its MCP servers ({reason}); \
     fix or remove that file, then run `cxd review`"
)]
pub struct IsolationError {
    /// The codex config file.
    pub path: PathBuf,
    /// Why it could not be read.
    pub reason: String,
}

/// Overrides that hold whatever the user's config says.
const FIXED: &[&str] = &[
    "features.hooks=false",
    "features.plugins=false",
    "features.apps=false",
    "notify=[]",
];

/// Config keys cxd pins for isolation; `review.extra_args` may not set them (see
/// [`crate::config::sandbox`]).
pub const PINNED_KEYS: &[&str] = &[
    "features.hooks",
    "features.plugins",
    "features.apps",
    "notify",
    "hooks",
    "mcp_servers",
];

/// Features cxd turns off; `--enable` of one in `review.extra_args` is refused.
pub const DISABLED_FEATURES: &[&str] = &["hooks", "plugins", "apps"];

/// The `-c` arguments that isolate a review run in `root`, for a codex whose home is
/// `codex_home` (None: no home found, so only the fixed overrides). An error when a config
/// file exists but cannot be read or parsed: its servers could not be turned off.
pub fn args(codex_home: Option<&Path>, root: &Path) -> Result<Vec<String>, IsolationError> {
    let mut names = Vec::new();
    for file in config_files(codex_home, root) {
        for name in mcp_server_names(&file)? {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let mut out = Vec::new();
    for o in FIXED {
        out.extend(["-c".to_owned(), (*o).to_owned()]);
    }
    for name in names {
        out.extend(["-c".to_owned(), format!("mcp_servers.{name}.enabled=false")]);
    }
    Ok(out)
}

/// The config files codex may read MCP servers from: the user's, and the project's
/// `.codex/config.toml` from the root up (codex loads a project layer only for a trusted
/// project, but disabling a server that would not start anyway costs nothing).
fn config_files(codex_home: Option<&Path>, root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = codex_home
        .map(|h| h.join("config.toml"))
        .into_iter()
        .collect();
    files.extend(
        root.ancestors()
            .map(|d| d.join(".codex").join("config.toml")),
    );
    files
}

/// The `[mcp_servers.<name>]` names in `file` that can be addressed on a codex command line
/// (codex itself accepts only `[A-Za-z0-9_-]` names); none when it does not exist. A file
/// that exists but is not a regular UTF-8 file of at most [`MAX_CODEX_CONFIG_BYTES`], or is
/// not TOML, is an error: cxd cannot know which servers codex would start from it. A
/// repository holds some of these files, so they are read as every hostile config is: never
/// a FIFO or device.
fn mcp_server_names(file: &Path) -> Result<Vec<String>, IsolationError> {
    let failed = |reason: String| IsolationError {
        path: file.to_path_buf(),
        reason,
    };
    let text = match read_config_limited(file, Confine::Anywhere, MAX_CODEX_CONFIG_BYTES) {
        Ok(Some(text)) => text,
        Ok(None) => return Ok(Vec::new()),
        Err(crate::config::ConfigError::Read { reason, .. }) => return Err(failed(reason)),
        Err(e) => return Err(failed(e.to_string())),
    };
    let value = text
        .parse::<toml::Table>()
        .map_err(|e| failed(format!("not valid TOML: {}", e.message())))?;
    let Some(servers) = value.get("mcp_servers") else {
        return Ok(Vec::new());
    };
    let Some(servers) = servers.as_table() else {
        return Err(failed("`mcp_servers` is not a table".into()));
    };
    Ok(servers
        .keys()
        .filter(|k| is_plain_name(k))
        .cloned()
        .collect())
}

/// A name that is a bare TOML key and cannot change the meaning of a `-c` argument.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_overrides_come_even_without_a_codex_home() {
        let dir = tempfile::tempdir().unwrap();
        let a = args(None, dir.path()).unwrap();
        assert!(a.windows(2).any(|w| w == ["-c", "features.hooks=false"]));
        assert!(a.windows(2).any(|w| w == ["-c", "notify=[]"]));
        assert!(!a.iter().any(|x| x.starts_with("mcp_servers.")));
    }

    #[test]
    fn every_plain_mcp_server_of_user_and_project_is_turned_off_once() {
        let home = tempfile::tempdir().unwrap();
        let repo = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join("config.toml"),
            "[mcp_servers.docs]\ncommand = \"x\"\n[mcp_servers.\"evil.name=true\"]\ncommand = \"y\"\n[mcp_servers.git-hub_2]\nurl = \"z\"\n",
        )
        .unwrap();
        std::fs::create_dir_all(repo.path().join(".codex")).unwrap();
        std::fs::write(
            repo.path().join(".codex/config.toml"),
            "[mcp_servers.docs]\ncommand = \"x\"\n[mcp_servers.proj]\ncommand = \"p\"\n",
        )
        .unwrap();
        let a = args(Some(home.path()), repo.path()).unwrap();
        let mcp: Vec<&String> = a.iter().filter(|x| x.starts_with("mcp_servers.")).collect();
        assert_eq!(
            mcp,
            [
                "mcp_servers.docs.enabled=false",
                "mcp_servers.git-hub_2.enabled=false",
                "mcp_servers.proj.enabled=false"
            ]
        );
    }

    #[test]
    fn a_fifo_for_a_projects_config_does_not_block_the_review() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join(".codex")).unwrap();
        let fifo = repo.path().join(".codex/config.toml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let root = repo.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(args(None, &root)));
        let a = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("reading a FIFO must not block");
        let err = a.unwrap_err();
        assert_eq!(err.path, fifo);
    }

    #[test]
    fn an_unparsable_config_is_an_error_naming_it() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join("config.toml"), "[[[").unwrap();
        let err = args(Some(home.path()), Path::new("/nonexistent")).unwrap_err();
        assert_eq!(err.path, home.path().join("config.toml"));
        assert!(err.to_string().contains("config.toml"), "{err}");
    }

    #[test]
    fn a_large_config_is_read_in_full() {
        let home = tempfile::tempdir().unwrap();
        let pad = format!("# {}\n", "x".repeat(200 * 1024));
        std::fs::write(
            home.path().join("config.toml"),
            format!("{pad}[mcp_servers.late]\ncommand = \"x\"\n"),
        )
        .unwrap();
        let a = args(Some(home.path()), Path::new("/nonexistent")).unwrap();
        assert!(
            a.iter().any(|x| x == "mcp_servers.late.enabled=false"),
            "{a:?}"
        );
    }

    #[test]
    fn a_config_past_the_limit_is_an_error() {
        let home = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(home.path().join("config.toml")).unwrap();
        file.set_len(MAX_CODEX_CONFIG_BYTES + 1).unwrap();
        let err = args(Some(home.path()), Path::new("/nonexistent")).unwrap_err();
        assert!(err.reason.contains("bytes"), "{err}");
    }
}
