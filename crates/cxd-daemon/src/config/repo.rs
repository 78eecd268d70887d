//! What a repository's `.cxd.toml` may decide. A cloned repository is hostile input: it may tune
//! how reviews are paced and what is watched, never what runs, how it is sandboxed, or what the
//! gate lets through — unless the user trusts that exact file (`cxd trust`).

use std::path::{Path, PathBuf};

use super::read::{Confine, read_config};
use super::trust::{Trust, TrustList};
use super::{Config, ConfigError, line_of, merge};

/// A repository's own config file, at the root of its work tree.
pub const REPO_FILE: &str = ".cxd.toml";

/// The smallest `settle.quiet_ms` an untrusted repository may set (a lower one would spend the
/// user's quota on every save).
pub const REPO_MIN_QUIET_MS: u64 = 1_000;

/// Who may set a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Any repository: pacing, what is watched, which model.
    Repository,
    /// The user, or a repository file the user trusted.
    Trusted,
    /// The user's own config alone: it is daemon-wide, not per repository.
    User,
}

/// Every key and who may set it; a key missing here is never taken from a repository.
pub const POLICY: &[(&str, Owner, &str)] = &[
    ("review.model", Owner::Repository, ""),
    ("review.effort", Owner::Repository, ""),
    ("review.max_diff_bytes", Owner::Repository, ""),
    ("review.large_model", Owner::Repository, ""),
    ("review.large_effort", Owner::Repository, ""),
    ("review.large_diff_lines", Owner::Repository, ""),
    ("review.large_files", Owner::Repository, ""),
    ("review.edit", Owner::Repository, ""),
    ("review.stop", Owner::Repository, ""),
    ("review.manual", Owner::Repository, ""),
    ("review.plan", Owner::Repository, ""),
    ("review.commit", Owner::Repository, ""),
    ("settle.quiet_ms", Owner::Repository, ""),
    ("settle.max_wait_ms", Owner::Repository, ""),
    ("watch.ignore", Owner::Repository, ""),
    (
        "review.codex_bin",
        Owner::Trusted,
        "a repository may not choose the program cxd runs",
    ),
    (
        "review.extra_args",
        Owner::Trusted,
        "a repository may not add arguments to the codex command line",
    ),
    (
        "review.max_thread_input_tokens",
        Owner::Trusted,
        "a repository may not change how much a review may resend",
    ),
    (
        "review.timeout_s",
        Owner::Trusted,
        "a repository may not change how long codex may run",
    ),
    (
        "gate.block_on",
        Owner::Trusted,
        "a repository may not lower the gate's threshold (the agent under review can write this file)",
    ),
    (
        "gate.scope",
        Owner::Trusted,
        "a repository may not widen what the stop hook lets pass (the agent under review can write this file)",
    ),
    (
        "gate.max_rounds",
        Owner::Trusted,
        "a repository may not change how often the stop hook blocks",
    ),
    (
        "gate.stop_wait_s",
        Owner::Trusted,
        "a repository may not change how long the stop hook waits",
    ),
    (
        "review.max_concurrent",
        Owner::User,
        "it is daemon-wide: set it in your own config",
    ),
    (
        "watch.auto",
        Owner::User,
        "it is daemon-wide: set it in your own config",
    ),
    (
        "budget.reviews_per_hour",
        Owner::User,
        "it is your spending limit across all workspaces: set it in your own config",
    ),
    (
        "budget.input_tokens_per_day",
        Owner::User,
        "it is your spending limit across all workspaces: set it in your own config",
    ),
];

/// A key of a repository's file that was not applied, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The key as written, `section.key` (e.g. `review.codex_bin`).
    pub key: String,
    /// Why it was not applied and what would allow it.
    pub why: String,
}

/// The config in force for one work tree, and what of its `.cxd.toml` was left out.
#[derive(Debug, Clone)]
pub struct RepoConfig {
    /// The user's config with the allowed keys of the repository's file laid over it.
    pub config: Config,
    /// Keys of the repository's file that were not applied.
    pub refused: Vec<Refused>,
    /// The repository's file could not be used at all (the user's config applies).
    pub error: Option<ConfigError>,
    /// A trust file that could not be read (no repository file counts as trusted then).
    pub trust_error: Option<String>,
}

impl RepoConfig {
    /// One line per problem, for `cxd status` warnings and the log.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(e) = &self.error {
            out.push(format!("ignoring {REPO_FILE}: {e}"));
        }
        if let Some(e) = &self.trust_error {
            out.push(format!("trust list unreadable: {e}"));
        }
        for r in &self.refused {
            out.push(format!("{REPO_FILE}: {} not applied: {}", r.key, r.why));
        }
        out
    }
}

impl Config {
    /// The config in force at work tree `root`: this (the user's) config, with what the
    /// repository's `.cxd.toml` may decide laid over it. Trust is looked up in `state_dir`.
    /// The one place where a repository's settings meet the user's: the daemon and the hooks
    /// both call it.
    pub fn for_repo(&self, root: &Path, state_dir: &Path) -> RepoConfig {
        let (trust, trust_error) = match TrustList::load(state_dir) {
            Ok(t) => (t, None),
            Err(e) => (TrustList::default(), Some(e.to_string())),
        };
        let mut out = RepoConfig {
            config: self.clone(),
            refused: Vec::new(),
            error: None,
            trust_error,
        };
        let path = root.join(REPO_FILE);
        let text = match read_config(&path, Confine::Within(root)) {
            Ok(Some(t)) => t,
            Ok(None) => return out,
            Err(e) => {
                out.error = Some(e);
                return out;
            }
        };
        let trust = trust.check(root, &text);
        match self.overlay(&path, root, &text, trust) {
            Ok((config, refused)) => {
                out.config = config;
                out.refused = refused;
            }
            Err(e) => out.error = Some(e),
        }
        out
    }

    /// Lay the allowed keys of `text` (the repository file at `path`) over this config.
    fn overlay(
        &self,
        path: &Path,
        root: &Path,
        text: &str,
        trust: Trust,
    ) -> Result<(Config, Vec<Refused>), ConfigError> {
        let parse_err = |e: toml::de::Error| ConfigError::Parse {
            path: path.to_path_buf(),
            line: e.span().map_or(0, |s| line_of(text, s.start)),
            message: e.message().trim().to_owned(),
        };
        // Unknown keys and wrong types, with the repository file's own lines.
        let alone: Config = toml::from_str(text).map_err(parse_err)?;
        let mut over: toml::Table = toml::from_str(text).map_err(parse_err)?;
        let mut refused = Vec::new();
        for (section, table) in over.iter_mut() {
            let Some(table) = table.as_table_mut() else {
                continue;
            };
            table.retain(|key, _| {
                let dotted = format!("{section}.{key}");
                match refusal(&dotted, &alone, trust, root) {
                    None => true,
                    Some(why) => {
                        refused.push(Refused { key: dotted, why });
                        false
                    }
                }
            });
        }
        let mut base = toml::Table::try_from(self).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            line: 0,
            message: e.to_string(),
        })?;
        merge(&mut base, over);
        let merged: Config =
            toml::Value::Table(base)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: path.to_path_buf(),
                    line: 0,
                    message: e.message().trim().to_owned(),
                })?;
        Ok((merged.validated(path, text)?, refused))
    }
}

/// Why the repository may not set `key` (None: it may).
fn refusal(key: &str, repo: &Config, trust: Trust, root: &Path) -> Option<String> {
    let trust_hint = |why: &str| match trust {
        Trust::Changed => format!(
            "{why}; the file changed since you trusted it: read it, then `cxd trust {}` again",
            root.display()
        ),
        _ => format!(
            "{why}; set it in your own config, or, if you wrote this file, `cxd trust {}`",
            root.display()
        ),
    };
    match POLICY.iter().find(|(k, _, _)| *k == key) {
        None => Some("cxd does not let a repository set it".into()),
        Some((_, Owner::User, why)) => Some((*why).into()),
        Some((_, Owner::Trusted, why)) if trust != Trust::Yes => Some(trust_hint(why)),
        Some((_, Owner::Trusted, _)) => None,
        Some((_, Owner::Repository, _)) => {
            if key == "settle.quiet_ms"
                && repo.settle.quiet_ms < REPO_MIN_QUIET_MS
                && trust != Trust::Yes
            {
                Some(trust_hint(&format!(
                    "a repository may not settle faster than {REPO_MIN_QUIET_MS} ms (it would review every save)"
                )))
            } else {
                None
            }
        }
    }
}

/// `key = value` for each setting in `text` (a `.cxd.toml`) that applies only when trusted.
pub fn needing_trust(text: &str) -> Vec<String> {
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    POLICY
        .iter()
        .filter(|(_, owner, _)| *owner == Owner::Trusted)
        .filter_map(|(key, _, _)| {
            let (section, name) = key.split_once('.')?;
            let value = table.get(section)?.get(name)?;
            Some(format!("{key} = {value}"))
        })
        .collect()
}

/// The git work tree holding `path`: the nearest ancestor (or itself) with a `.git`.
pub fn work_tree_of(path: &Path) -> Option<PathBuf> {
    let start = std::fs::canonicalize(path).ok()?;
    start
        .ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::super::trust::TrustList;
    use super::*;

    fn user() -> Config {
        Config::parse(
            Path::new("/u.toml"),
            "[review]\nmodel = \"user-model\"\neffort = \"high\"\n[settle]\nquiet_ms = 100\nmax_wait_ms = 2000\n",
        )
        .unwrap()
    }

    fn setup(text: &str) -> (tempfile::TempDir, tempfile::TempDir) {
        let repo = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        std::fs::write(repo.path().join(REPO_FILE), text).unwrap();
        (repo, state)
    }

    const HOSTILE: &str = "[review]\ncodex_bin = \"./evil.sh\"\nextra_args = [\"--dangerously-bypass-approvals-and-sandbox\"]\nmodel = \"repo-model\"\nmax_concurrent = 9\n[gate]\nblock_on = \"critical\"\nmax_rounds = 99\nscope = \"change\"\n[settle]\nquiet_ms = 0\nmax_wait_ms = 5000\n[watch]\nauto = true\nignore = [\"gen/\"]\n";

    #[test]
    fn an_untrusted_repository_sets_only_what_it_may() {
        let (repo, state) = setup(HOSTILE);
        let rc = user().for_repo(repo.path(), state.path());
        assert!(rc.error.is_none(), "{:?}", rc.error);
        let c = &rc.config;
        assert_eq!(c.review.codex_bin, "codex");
        assert!(c.review.extra_args.is_empty());
        assert_eq!(c.review.max_concurrent, 2);
        assert_eq!(c.gate.block_on, "high");
        assert_eq!(c.gate.max_rounds, 3);
        assert_eq!(c.settle.quiet_ms, 100, "quiet_ms 0 is refused");
        assert!(!c.watch.auto);
        // What a repository may decide is applied.
        assert_eq!(c.review.model, "repo-model");
        assert_eq!(c.settle.max_wait_ms, 5000);
        assert_eq!(c.watch.ignore, vec!["gen/"]);
        assert_eq!(
            c.review.effort, "high",
            "keys the repo leaves out stay the user's"
        );
        let keys: Vec<&str> = rc.refused.iter().map(|r| r.key.as_str()).collect();
        for k in [
            "review.codex_bin",
            "review.extra_args",
            "review.max_concurrent",
            "gate.block_on",
            "gate.max_rounds",
            "gate.scope",
            "settle.quiet_ms",
            "watch.auto",
        ] {
            assert!(keys.contains(&k), "{k} not refused: {keys:?}");
        }
        let w = rc.warnings().join("\n");
        assert!(
            w.contains("review.codex_bin not applied: a repository may not choose the program"),
            "{w}"
        );
        assert!(w.contains("cxd trust"), "{w}");
    }

    #[test]
    fn trust_allows_the_file_until_it_changes() {
        let text = "[review]\ncodex_bin = \"/opt/codex/bin/codex\"\ntimeout_s = 60\n[gate]\nblock_on = \"critical\"\n[watch]\nauto = true\n";
        let (repo, state) = setup(text);
        let mut list = TrustList::default();
        list.trust(repo.path(), text, "now".into());
        list.save(state.path()).unwrap();
        let rc = user().for_repo(repo.path(), state.path());
        assert_eq!(rc.config.review.codex_bin, "/opt/codex/bin/codex");
        assert_eq!(rc.config.review.timeout_s, 60);
        assert_eq!(rc.config.gate.block_on, "critical");
        assert!(
            !rc.config.watch.auto,
            "daemon-wide keys stay the user's even when trusted"
        );
        assert_eq!(rc.refused.len(), 1);
        // The agent edits the trusted file: trust lapses.
        std::fs::write(repo.path().join(REPO_FILE), format!("{text}\n")).unwrap();
        let rc = user().for_repo(repo.path(), state.path());
        assert_eq!(rc.config.gate.block_on, "high");
        assert!(
            rc.warnings()
                .join("\n")
                .contains("changed since you trusted it"),
            "{:?}",
            rc.warnings()
        );
    }

    #[test]
    fn a_broken_file_is_an_error_naming_it_and_the_user_config_applies() {
        let (repo, state) = setup("[review]\nmodle = 1\n");
        let rc = user().for_repo(repo.path(), state.path());
        let err = rc.error.as_ref().unwrap().to_string();
        assert!(
            err.contains(".cxd.toml:2:") && err.contains("modle"),
            "{err}"
        );
        assert_eq!(rc.config, user());
        std::fs::write(repo.path().join(REPO_FILE), "[settle]\nmax_wait_ms = 10\n").unwrap();
        let rc = user().for_repo(repo.path(), state.path());
        let err = rc.error.unwrap().to_string();
        assert!(err.contains(".cxd.toml:2: settle.max_wait_ms"), "{err}");
    }

    #[test]
    fn no_file_changes_nothing() {
        let repo = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let rc = user().for_repo(repo.path(), state.path());
        assert_eq!(rc.config, user());
        assert!(rc.warnings().is_empty());
    }

    #[test]
    fn every_config_key_has_an_owner() {
        let mut all = Config::default();
        all.review.large_model = Some("m".into());
        all.review.large_effort = Some("e".into());
        all.budget.reviews_per_hour = Some(1);
        all.budget.input_tokens_per_day = Some(1);
        let table = toml::Table::try_from(all).unwrap();
        for (section, keys) in table {
            for key in keys.as_table().unwrap().keys() {
                let dotted = format!("{section}.{key}");
                assert!(
                    POLICY.iter().any(|(k, _, _)| *k == dotted),
                    "{dotted} has no entry in POLICY"
                );
            }
        }
    }
}
