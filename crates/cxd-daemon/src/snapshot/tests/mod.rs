//! Snapshots of real temporary repositories: the shared `Repo` fixture here, the tests split by
//! what they check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod changes;
mod differ;
mod fast;
mod head_moves;
mod moved;
mod private_store;
mod prop;
mod revs;

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Diff, Snapshotter};

const MAX: usize = 1 << 20;

/// A repository in a temp dir, with cxd's private dir beside it.
struct Repo {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
}

impl Repo {
    /// `git init` with one commit holding `files`.
    fn new(files: &[(&str, &str)]) -> Self {
        let repo = Self::unborn();
        for (path, text) in files {
            repo.write(path, text);
        }
        repo.git(&["add", "-A"]);
        repo.git(&["commit", "-q", "-m", "initial"]);
        repo
    }

    fn unborn() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("work");
        let state = tmp.path().join("state");
        std::fs::create_dir(&root).unwrap();
        let repo = Self {
            _tmp: tmp,
            root,
            state,
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    fn git(&self, args: &[&str]) -> String {
        match self.try_git(&[], args) {
            Ok(out) => out,
            Err(e) => panic!("git {args:?}: {e}"),
        }
    }

    /// Run git in the work tree with `env` set (after the inherited `GIT_*` are removed):
    /// its stdout, or its stderr when it fails.
    fn try_git(&self, env: &[(&str, &Path)], args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new("git");
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("GIT_") {
                cmd.env_remove(k);
            }
        }
        let out = cmd
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(&self.root)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn write(&self, path: impl AsRef<Path>, text: &str) {
        let path = self.root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn remove(&self, path: &str) {
        std::fs::remove_file(self.root.join(path)).unwrap();
    }

    fn open(&self) -> Snapshotter {
        Snapshotter::open(&self.root, &self.state).unwrap()
    }
}

fn paths(d: &Diff) -> Vec<String> {
    d.files
        .iter()
        .map(|f| f.path.to_string_lossy().into_owned())
        .collect()
}

fn p(list: &[&str]) -> Vec<PathBuf> {
    list.iter().map(PathBuf::from).collect()
}

/// Two branches differing in 300 files (changed, added and deleted).
fn branched_repo() -> Repo {
    let files: Vec<(String, String)> = (0..400)
        .map(|i| (format!("d{}/f{i}.txt", i % 20), format!("v1 {i}\n")))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let repo = Repo::new(&refs);
    repo.git(&["checkout", "-q", "-b", "other"]);
    for i in 0..250 {
        repo.write(format!("d{}/f{i}.txt", i % 20), &format!("v2 {i}\n"));
    }
    for i in 250..275 {
        repo.remove(&format!("d{}/f{i}.txt", i % 20));
    }
    for i in 0..25 {
        repo.write(format!("newdir/g{i}.txt"), "g\n");
    }
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "other"]);
    repo.git(&["checkout", "-q", "main"]);
    repo
}

fn changed_by(repo: &Repo, from: &str, to: &str) -> Vec<PathBuf> {
    let out = repo.git(&["diff", "--name-only", from, to]);
    out.lines().map(PathBuf::from).collect()
}
