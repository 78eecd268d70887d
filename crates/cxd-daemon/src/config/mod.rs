//! The user's configuration: TOML, every key known and validated, errors that name file,
//! line and key.

use std::path::{Path, PathBuf};

use cxd_proto::domain::{GateScope, Severity};
use serde::{Deserialize, Serialize};

pub mod models;
pub mod read;
pub mod repo;
pub mod sandbox;
pub mod trust;

pub use repo::{REPO_FILE, RepoConfig};

/// The whole configuration; an unset key takes its default (see the README's Configuration).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How codex is run: model, effort, limits, the executable.
    pub review: ReviewConfig,
    /// When an edit burst counts as settled.
    pub settle: SettleConfig,
    /// What blocks the gate and the stop hook.
    pub gate: GateConfig,
    /// What is watched beyond git's own ignores, and whether hooks add repositories.
    pub watch: WatchSection,
    /// What reviews may spend, across all workspaces.
    pub budget: crate::budget::BudgetConfig,
}

/// `[review]`: how codex is run for every review.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewConfig {
    /// Model name passed to codex's `-m` (default `gpt-5.2-codex`).
    pub model: String,
    /// Reasoning effort passed to codex (default `medium`).
    pub effort: String,
    /// Seconds a review may run before it is killed (default 900, at least 1).
    pub timeout_s: u64,
    /// Codex processes allowed at once across all workspaces (default 2).
    pub max_concurrent: u32,
    /// Bytes of diff sent in a prompt; a larger diff goes as a file list with stats (default 256 KiB).
    pub max_diff_bytes: u64,
    /// The codex executable, a name on PATH or a path (default `codex`; `CXD_CODEX_BIN` overrides).
    pub codex_bin: String,
    /// Extra codex flags put on every invocation (empty by default; flags that weaken the sandbox are refused).
    pub extra_args: Vec<String>,
    /// Model for a large change (unset by default: a large change keeps its purpose's model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub large_model: Option<String>,
    /// Effort with `large_model` (unset: the purpose's effort).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub large_effort: Option<String>,
    /// A review whose thread's last review sent at least this many input tokens starts a new
    /// thread with a brief instead of resuming (0: never; default 20 000).
    pub max_thread_input_tokens: u64,
    /// A change of at least this many lines (inserted plus deleted) is large (default 400).
    pub large_diff_lines: u64,
    /// A change of at least this many files is large (default 20).
    pub large_files: u64,
    /// `[review.edit]`: reviews of a settled edit burst.
    pub edit: models::PurposeConfig,
    /// `[review.stop]`: reviews the agent's stop hook asks for.
    pub stop: models::PurposeConfig,
    /// `[review.manual]`: `cxd review`, `cxd gate`, and reviews the agent asks for.
    pub manual: models::PurposeConfig,
    /// `[review.plan]`: plan validations.
    pub plan: models::PurposeConfig,
    /// `[review.commit]`: reviews of a commit or a range of commits.
    pub commit: models::PurposeConfig,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        Self {
            model: "gpt-5.2-codex".into(),
            effort: "medium".into(),
            timeout_s: 900,
            max_concurrent: 2,
            max_diff_bytes: 262_144,
            codex_bin: "codex".into(),
            extra_args: Vec::new(),
            large_model: None,
            large_effort: None,
            max_thread_input_tokens: DEFAULT_MAX_THREAD_INPUT_TOKENS,
            large_diff_lines: 400,
            large_files: 20,
            edit: models::PurposeConfig::default(),
            stop: models::PurposeConfig::default(),
            manual: models::PurposeConfig::default(),
            plan: models::PurposeConfig::default(),
            commit: models::PurposeConfig::default(),
        }
    }
}

/// `[settle]`: when an edit burst counts as finished and is reviewed.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SettleConfig {
    /// Milliseconds without an edit after which the burst is reviewed (default 15 000).
    pub quiet_ms: u64,
    /// ... or this many milliseconds after the first unreviewed change, edits or not (default 60 000).
    pub max_wait_ms: u64,
}

impl Default for SettleConfig {
    fn default() -> Self {
        Self {
            quiet_ms: 15_000,
            max_wait_ms: 60_000,
        }
    }
}

/// `[gate]`: what blocks `cxd gate` and the stop hook, and how long they wait.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GateConfig {
    /// Severity word at or above which gate and stop hook block (default `high`).
    pub block_on: String,
    /// Stop-hook blocks per agent turn before it lets the agent stop anyway (default 3).
    pub max_rounds: u32,
    /// Seconds the stop hook waits for a running or pending review (default 600).
    pub stop_wait_s: u64,
    /// Which findings the stop hook blocks on: `change` (only those in the agent's change,
    /// the default) or `all`. `cxd gate` uses `all` unless told `--scope change`.
    pub scope: String,
}

impl GateConfig {
    /// `block_on` as a severity: the text is kept so that a bad value is reported with its key
    /// and line, and checked on load, so the fallback to the default is never reached.
    pub fn threshold(&self) -> Severity {
        self.block_on.parse().unwrap_or(DEFAULT_BLOCK_ON)
    }

    /// `scope` as a gate scope (checked on load, like `block_on`).
    pub fn scope(&self) -> GateScope {
        self.scope.parse().unwrap_or(GateScope::Change)
    }
}

/// The gate's threshold when none is configured.
const DEFAULT_BLOCK_ON: Severity = Severity::High;

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            block_on: DEFAULT_BLOCK_ON.as_str().into(),
            max_rounds: 3,
            stop_wait_s: 600,
            scope: GateScope::Change.as_str().into(),
        }
    }
}

/// `[watch]`: what the watcher skips and whether hooks may add repositories.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct WatchSection {
    /// Gitignore-style patterns ignored on top of the repository's own ignores (e.g. `*.log`).
    pub ignore: Vec<String>,
    /// Watch a repository by itself when the Claude hook reports an edit in it (default off).
    pub auto: bool,
}

/// Why a config file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("cannot read config {path}: {reason}")]
    Read {
        /// The config file's path.
        path: PathBuf,
        /// The OS error in words.
        reason: String,
    },
    /// The file is not valid TOML or has an unknown key or a value of the wrong type.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The config file's path.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// What the TOML parser said, e.g. "unknown field `modle`".
        message: String,
    },
    /// A key has a value outside what cxd accepts.
    #[error("{path}:{line}: {key}: {message}")]
    Invalid {
        /// The config file's path (the user's, or a repository's `.cxd.toml`).
        path: PathBuf,
        /// 1-based line of the key (0 when it is not in the file).
        line: usize,
        /// The key as written in the file, `section.key` (e.g. `review.timeout_s`).
        key: String,
        /// What is wrong and what is accepted.
        message: String,
    },
}

impl Config {
    /// Load `path`; a missing file means all defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        match read::read_config(path, read::Confine::Anywhere)? {
            Some(text) => Self::parse(path, &text),
            None => Ok(Self::default()),
        }
    }

    /// Parse and validate TOML text that came from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            ConfigError::Parse {
                path: path.to_path_buf(),
                line,
                message: with_key(text, line, e.message().trim()),
            }
        })?;
        config.validated(path, text)
    }

    /// This config if its values are acceptable, else the error naming the key and its line in
    /// `text` (the file at `path`).
    fn validated(self, path: &Path, text: &str) -> Result<Self, ConfigError> {
        self.validate()
            .map_err(|(key, message)| ConfigError::Invalid {
                path: path.to_path_buf(),
                line: find_key_line(text, &key),
                key,
                message,
            })?;
        Ok(self)
    }

    /// Check values a type cannot express; returns the offending key and why.
    fn validate(&self) -> Result<(), (String, String)> {
        self.validate_static().map_err(|(k, m)| (k.to_owned(), m))?;
        self.validate_models()
    }

    /// The model keys of `[review]` and its purpose sections: plain names, sizes at least 1.
    fn validate_models(&self) -> Result<(), (String, String)> {
        let r = &self.review;
        let mut names: Vec<(String, &String)> = Vec::new();
        for (purpose, section) in r.purposes() {
            if let Some(m) = &section.model {
                names.push((format!("review.{purpose}.model"), m));
            }
            if let Some(e) = &section.effort {
                names.push((format!("review.{purpose}.effort"), e));
            }
        }
        if let Some(m) = &r.large_model {
            names.push(("review.large_model".into(), m));
        }
        if let Some(e) = &r.large_effort {
            names.push(("review.large_effort".into(), e));
        }
        for (key, value) in names {
            if !is_plain_token(value) {
                return Err((
                    key,
                    format!(
                        "{value:?} is not a plain name (letters, digits, . _ - : / and no leading -)"
                    ),
                ));
            }
        }
        if r.large_diff_lines == 0 {
            return Err((
                "review.large_diff_lines".into(),
                "must be at least 1".into(),
            ));
        }
        if r.large_files == 0 {
            return Err(("review.large_files".into(), "must be at least 1".into()));
        }
        let b = &self.budget;
        for (key, value) in [
            ("budget.reviews_per_hour", b.reviews_per_hour),
            ("budget.input_tokens_per_day", b.input_tokens_per_day),
        ] {
            if value == Some(0) {
                return Err((
                    key.into(),
                    "must be at least 1 (leave it out for no limit)".into(),
                ));
            }
        }
        Ok(())
    }

    /// Check the values of keys with fixed names.
    fn validate_static(&self) -> Result<(), (&'static str, String)> {
        let r = &self.review;
        if r.model.trim().is_empty() {
            return Err(("review.model", "must not be empty".into()));
        }
        if r.effort.trim().is_empty() {
            return Err((
                "review.effort",
                "must not be empty (low, medium, high, ...)".into(),
            ));
        }
        if r.timeout_s == 0 {
            return Err(("review.timeout_s", "must be at least 1 second".into()));
        }
        if r.max_concurrent == 0 {
            return Err(("review.max_concurrent", "must be at least 1".into()));
        }
        if r.max_diff_bytes < 1024 {
            return Err(("review.max_diff_bytes", "must be at least 1024".into()));
        }
        if r.codex_bin.trim().is_empty() {
            return Err(("review.codex_bin", "must not be empty".into()));
        }
        if r.codex_bin.contains('/') && !Path::new(&r.codex_bin).is_absolute() {
            return Err((
                "review.codex_bin",
                format!(
                    "\"{}\" is a relative path: use a command name found on PATH or an absolute path",
                    r.codex_bin
                ),
            ));
        }
        for (key, value) in [("review.model", &r.model), ("review.effort", &r.effort)] {
            if !is_plain_token(value) {
                return Err((
                    key,
                    format!(
                        "{value:?} is not a plain name (letters, digits, . _ - : / and no leading -)"
                    ),
                ));
            }
        }
        if let Some(why) = sandbox::weakening(&r.extra_args) {
            return Err(("review.extra_args", why));
        }
        let s = &self.settle;
        if s.quiet_ms < MIN_QUIET_MS {
            return Err((
                "settle.quiet_ms",
                format!("must be at least {MIN_QUIET_MS} ms"),
            ));
        }
        if s.max_wait_ms < s.quiet_ms {
            return Err((
                "settle.max_wait_ms",
                format!("must be at least settle.quiet_ms ({})", s.quiet_ms),
            ));
        }
        if let Err(e) = self.gate.block_on.parse::<Severity>() {
            return Err(("gate.block_on", e.to_string()));
        }
        if let Err(e) = self.gate.scope.parse::<GateScope>() {
            return Err(("gate.scope", e.to_string()));
        }
        for pattern in &self.watch.ignore {
            if pattern.trim().is_empty() {
                return Err(("watch.ignore", "patterns must not be empty".into()));
            }
        }
        Ok(())
    }
}

/// `review.max_thread_input_tokens` when none is configured (see the README's cost figures).
pub const DEFAULT_MAX_THREAD_INPUT_TOKENS: u64 = 20_000;

/// The smallest `settle.quiet_ms` any config may set.
pub const MIN_QUIET_MS: u64 = 50;

/// A model or effort name that cannot be mistaken for a flag or smuggle a second setting.
fn is_plain_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/'))
}

/// Lay `over` onto `base`, table by table; `over`'s values win.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

/// `message` with the `section.key` written on `line` of `text` in front, when that line
/// sets a key (a wrong type is reported at the value; the key is what the user looks for).
fn with_key(text: &str, line: usize, message: &str) -> String {
    let mut section = String::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = name.trim().to_owned();
        } else if i + 1 == line
            && let Some((key, _)) = t.split_once('=')
        {
            let key = key.trim();
            return match section.is_empty() {
                true => format!("{key}: {message}"),
                false => format!("{section}.{key}: {message}"),
            };
        }
    }
    message.to_owned()
}

/// 1-based line number of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Line of `key = ...` inside `[section]`, or 0 when absent (the default was at fault).
fn find_key_line(text: &str, dotted: &str) -> usize {
    let Some((section, key)) = dotted.rsplit_once('.') else {
        return 0;
    };
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            current = name.trim().to_owned();
            continue;
        }
        let Some((k, _)) = t.split_once('=') else {
            continue;
        };
        let k = k.trim();
        if (current == section && k == key) || (current.is_empty() && k == dotted) {
            return i + 1;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/c.toml"), text)
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.review.model, "gpt-5.2-codex");
        assert_eq!(c.settle.quiet_ms, 15_000);
        assert_eq!(c.gate.block_on, "high");
        assert_eq!(c.gate.scope(), GateScope::Change);
    }

    #[test]
    fn a_bad_gate_scope_names_its_key_and_the_words() {
        let err = parse("[gate]\nscope = \"mine\"\n").unwrap_err().to_string();
        assert!(err.contains("gate.scope"), "{err}");
        assert!(err.contains("change, all"), "{err}");
        assert_eq!(
            parse("[gate]\nscope = \"all\"\n").unwrap().gate.scope(),
            GateScope::All
        );
    }

    #[test]
    fn every_key_parses() {
        let c = parse(
            r#"
[review]
model = "m"
effort = "high"
timeout_s = 5
max_concurrent = 1
max_diff_bytes = 2048
codex_bin = "/bin/codex"
extra_args = ["--x"]
[settle]
quiet_ms = 50
max_wait_ms = 60
[gate]
block_on = "medium"
max_rounds = 1
stop_wait_s = 3
[watch]
ignore = ["*.log"]
"#,
        )
        .unwrap();
        assert_eq!(c.review.extra_args, vec!["--x"]);
        assert_eq!(c.settle.max_wait_ms, 60);
        assert_eq!(c.watch.ignore, vec!["*.log"]);
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let err = parse("[review]\nmodel = \"m\"\nmodle = \"x\"\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("/c.toml:3:"), "{msg}");
        assert!(msg.contains("modle"), "{msg}");
    }

    #[test]
    fn wrong_type_names_line() {
        let err = parse("[settle]\n\nquiet_ms = \"soon\"\n").unwrap_err();
        assert!(matches!(err, ConfigError::Parse { line: 3, .. }), "{err}");
        assert!(
            err.to_string().starts_with("/c.toml:3: settle.quiet_ms: "),
            "{err}"
        );
    }

    #[test]
    fn bad_value_names_key_and_line() {
        let err = parse("[gate]\nmax_rounds = 2\nblock_on = \"severe\"\n").unwrap_err();
        assert_eq!(
            err,
            ConfigError::Invalid {
                path: "/c.toml".into(),
                line: 3,
                key: "gate.block_on".into(),
                message:
                    "\"severe\" is not a severity; use one of info, low, medium, high, critical"
                        .into(),
            }
        );
        let err = parse("[settle]\nquiet_ms = 100\nmax_wait_ms = 50\n").unwrap_err();
        assert!(
            err.to_string().starts_with("/c.toml:3: settle.max_wait_ms"),
            "{err}"
        );
        let err = parse("[review]\ntimeout_s = 0\n").unwrap_err();
        assert!(err.to_string().contains("review.timeout_s"), "{err}");
    }

    #[test]
    fn missing_file_is_defaults_and_unreadable_is_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Config::load(&dir.path().join("nope.toml")).unwrap(),
            Config::default()
        );
        let err = Config::load(dir.path()).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    }
}
