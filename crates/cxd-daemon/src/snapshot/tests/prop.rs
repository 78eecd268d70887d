//! A seeded random driver: random bursts of work-tree changes, HEAD moves and restarts, and
//! after each settle the snapshot's tree must equal `git write-tree` of an index built from
//! scratch (`git add -A` into an empty temporary index) over the same work tree.
//!
//! Why a small seeded PRNG and not proptest: a case is a few hundred git processes against a
//! real repository, so proptest's shrinking (rerunning whole sequences many times) would
//! take minutes and a shrunk sequence still depends on timing (the stat cache). A seed plus
//! the printed operation log replays a failure exactly enough, and the case count is one
//! variable. `CXD_SNAPSHOT_PROP_CASES` (default 3) and `CXD_SNAPSHOT_PROP_STEPS` (settles per
//! case, default 40) size a run, `CXD_SNAPSHOT_PROP_SEED` picks the first seed (default
//! fixed, so CI is reproducible); `bench/run snapshot-prop` runs a long one.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::Repo;
use crate::snapshot::{Snapshot, Snapshotter};

/// SplitMix64: tiny, fast, and good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap()
    }

    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }

    fn pick<T: Clone>(&mut self, v: &[T]) -> Option<T> {
        (!v.is_empty()).then(|| v[self.below(v.len())].clone())
    }

    fn word(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b'a' + u8::try_from(self.below(26)).unwrap()))
            .collect()
    }
}

/// What is at a path of the work tree.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    File { exec: bool, data: Vec<u8> },
    Link(PathBuf),
    Dir,
}

/// Everything under the root but `.git`, by relative path.
fn manifest(root: &Path) -> BTreeMap<PathBuf, Node> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Node>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().to_owned();
            if rel == Path::new(".git") {
                continue;
            }
            let meta = path.symlink_metadata().unwrap();
            if meta.file_type().is_symlink() {
                out.insert(rel, Node::Link(std::fs::read_link(&path).unwrap()));
            } else if meta.is_dir() {
                out.insert(rel, Node::Dir);
                walk(root, &path, out);
            } else {
                let exec = meta.permissions().mode() & 0o100 != 0;
                let data = std::fs::read(&path).unwrap();
                out.insert(rel, Node::File { exec, data });
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The paths a watcher reports for the change from `before` to `after`: every path whose
/// node differs; sometimes a new or removed directory stands for everything under it.
fn reported(
    rng: &mut Rng,
    before: &BTreeMap<PathBuf, Node>,
    after: &BTreeMap<PathBuf, Node>,
) -> Vec<PathBuf> {
    let keys: BTreeSet<&PathBuf> = before.keys().chain(after.keys()).collect();
    let mut out: Vec<PathBuf> = keys
        .into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect();
    if rng.percent(30) {
        // Directories that appeared or vanished whole: report only them.
        let whole: Vec<PathBuf> = out
            .iter()
            .filter(|p| {
                let new = after.get(*p) == Some(&Node::Dir) && !before.contains_key(*p);
                let gone = before.get(*p) == Some(&Node::Dir) && !after.contains_key(*p);
                new || gone
            })
            .cloned()
            .collect();
        out.retain(|p| whole.iter().all(|d| p == d || !p.starts_with(d)));
    }
    // Order is whatever the watcher saw first.
    for i in (1..out.len()).rev() {
        out.swap(i, rng.below(i + 1));
    }
    out
}

/// The tree id of the work tree, from an empty index (no stat cache, no private state).
pub(super) fn reference(repo: &Repo, scratch: &Path) -> String {
    let index = scratch.join("index");
    let objects = scratch.join("objects");
    let _ = std::fs::remove_file(&index);
    std::fs::create_dir_all(&objects).unwrap();
    let env = [
        ("GIT_INDEX_FILE", index.as_path()),
        ("GIT_OBJECT_DIRECTORY", objects.as_path()),
    ];
    repo.try_git(&env, &["add", "-A"]).unwrap();
    repo.try_git(&env, &["write-tree"]).unwrap()
}

/// `ls-tree -r` of `tree`, looking in the private store, the reference's and the repository's.
fn listing(repo: &Repo, scratch: &Path, tree: &str) -> BTreeSet<String> {
    let alternates = format!(
        "{}:{}",
        scratch.join("objects").display(),
        repo.root.join(".git/objects").display()
    );
    let env = [
        ("GIT_OBJECT_DIRECTORY", repo.state.join("objects")),
        (
            "GIT_ALTERNATE_OBJECT_DIRECTORIES",
            PathBuf::from(alternates),
        ),
    ];
    let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
    match repo.try_git(&env, &["ls-tree", "-r", tree]) {
        Ok(out) => out.lines().map(str::to_owned).collect(),
        Err(e) => std::iter::once(format!("(unreadable: {e})")).collect(),
    }
}

/// Regular files and symlinks (not `.gitignore`), and directories (not the root).
fn files_and_dirs(m: &BTreeMap<PathBuf, Node>) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for (p, n) in m {
        if p == Path::new(".gitignore") {
            continue;
        }
        match n {
            Node::Dir => dirs.push(p.clone()),
            _ => files.push(p.clone()),
        }
    }
    (files, dirs)
}

/// The driver's state for one case.
struct Case {
    rng: Rng,
    repo: Repo,
    scratch: tempfile::TempDir,
    snap: Option<Snapshotter>,
    last: Option<Snapshot>,
    seen: BTreeMap<PathBuf, Node>,
    log: Vec<String>,
    branches: Vec<String>,
    commits: usize,
    full_next: bool,
    fast: u64,
    moved: u64,
}

impl Case {
    fn new(seed: u64) -> Self {
        let mut rng = Rng(seed);
        let mut files = vec![
            (".gitignore".to_owned(), "*.log\nbuild/\n".to_owned()),
            ("run.sh".to_owned(), "#!/bin/sh\n".to_owned()),
        ];
        for i in 0..150 {
            let dir = format!("d{}/s{}", i % 5, i % 3);
            files.push((format!("{dir}/f{i:03}.txt"), format!("v1 {:06}\n", i)));
        }
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let repo = Repo::new(&refs);
        // A branch that differs in more files than a partial refresh takes (a reseed).
        repo.git(&["checkout", "-q", "-b", "wide"]);
        for i in 0..120 {
            let dir = format!("d{}/s{}", i % 5, i % 3);
            repo.write(
                format!("{dir}/f{i:03}.txt"),
                &format!("v2 {}\n", rng.word(6)),
            );
        }
        repo.write("d9/only-wide.txt", "wide\n");
        repo.git(&["add", "-A"]);
        repo.git(&["commit", "-q", "-m", "wide"]);
        repo.git(&["checkout", "-q", "main"]);
        let snap = repo.open();
        let seen = manifest(&repo.root);
        Self {
            rng,
            repo,
            scratch: tempfile::tempdir().unwrap(),
            snap: Some(snap),
            last: None,
            seen,
            log: Vec::new(),
            branches: vec!["main".into(), "wide".into()],
            commits: 1,
            full_next: true,
            fast: 0,
            moved: 0,
        }
    }

    fn root(&self) -> &Path {
        &self.repo.root
    }

    /// A new path: in an existing directory, or under 1–3 new nested ones.
    fn new_path(&mut self, dirs: &[PathBuf]) -> PathBuf {
        let mut p = match self.rng.pick(dirs) {
            Some(d) if self.rng.percent(50) => d,
            _ => PathBuf::new(),
        };
        if self.rng.percent(60) {
            for _ in 0..=self.rng.below(3) {
                p.push(format!("n{}", self.rng.word(2)));
            }
        }
        p.push(format!("{}.txt", self.rng.word(3)));
        p
    }

    /// Same length as what is there most of the time (the stat cache's hard case).
    fn content(&mut self, old: Option<&Node>) -> String {
        let len = match old {
            Some(Node::File { data, .. }) if self.rng.percent(75) => data.len().max(2),
            _ => 4 + self.rng.below(12),
        };
        format!("{}\n", self.rng.word(len - 1))
    }

    fn write(&self, rel: &Path, text: &str) {
        let path = self.root().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, text).unwrap();
    }

    /// Remove whatever is at `rel`.
    fn clear(&self, rel: &Path) {
        let path = self.root().join(rel);
        match path.symlink_metadata() {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path).unwrap(),
            Ok(_) => std::fs::remove_file(&path).unwrap(),
            Err(_) => {}
        }
    }

    /// One random change; its description goes to the log. True when it moved HEAD (or
    /// tried to).
    #[allow(clippy::too_many_lines)]
    fn op(&mut self) -> bool {
        let now = manifest(self.root());
        let (files, dirs) = files_and_dirs(&now);
        let regular: Vec<PathBuf> = files
            .iter()
            .filter(|p| matches!(now.get(*p), Some(Node::File { .. })))
            .cloned()
            .collect();
        let what = self.rng.below(100);
        let text = match what {
            0..=34 => {
                let Some(f) = self.rng.pick(&regular) else {
                    return false;
                };
                let text = self.content(now.get(&f));
                if self.rng.percent(15) {
                    // An editor's save: a new file renamed over the old one.
                    let tmp = self.root().join(".cxd-prop-tmp");
                    std::fs::write(&tmp, &text).unwrap();
                    let mode = std::fs::metadata(self.root().join(&f))
                        .unwrap()
                        .permissions();
                    std::fs::set_permissions(&tmp, mode).unwrap();
                    std::fs::rename(&tmp, self.root().join(&f)).unwrap();
                    format!("save {f:?} by rename")
                } else {
                    self.write(&f, &text);
                    format!("edit {f:?}")
                }
            }
            35..=46 => {
                let p = self.new_path(&dirs);
                if now.contains_key(&p) {
                    return false;
                }
                let text = self.content(None);
                // A parent that is a file makes the write fail: skip those.
                if p.ancestors()
                    .skip(1)
                    .any(|a| matches!(now.get(a), Some(n) if *n != Node::Dir))
                {
                    return false;
                }
                self.write(&p, &text);
                format!("create {p:?}")
            }
            47..=52 => {
                let Some(f) = self.rng.pick(&files) else {
                    return false;
                };
                self.clear(&f);
                format!("delete {f:?}")
            }
            53..=58 => {
                let Some(f) = self.rng.pick(&files) else {
                    return false;
                };
                let to = self.new_path(&dirs);
                if now.contains_key(&to)
                    || to
                        .ancestors()
                        .skip(1)
                        .any(|a| matches!(now.get(a), Some(n) if *n != Node::Dir))
                {
                    return false;
                }
                std::fs::create_dir_all(self.root().join(to.parent().unwrap())).unwrap();
                std::fs::rename(self.root().join(&f), self.root().join(&to)).unwrap();
                format!("rename {f:?} -> {to:?}")
            }
            59..=64 => {
                let Some(f) = self.rng.pick(&regular) else {
                    return false;
                };
                let path = self.root().join(&f);
                let mode = std::fs::metadata(&path).unwrap().permissions().mode() ^ 0o111;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
                format!("chmod {f:?} {mode:o}")
            }
            65..=70 => {
                let Some(f) = self.rng.pick(&files) else {
                    return false;
                };
                let target = self.rng.pick(&files).unwrap_or_default();
                let target = if self.rng.percent(30) {
                    PathBuf::from(format!("nowhere-{}", self.rng.word(3)))
                } else {
                    target
                };
                if self.rng.percent(20) && matches!(now.get(&f), Some(Node::Link(_))) {
                    self.clear(&f);
                    let text = self.content(None);
                    self.write(&f, &text);
                    format!("symlink {f:?} back to a file")
                } else {
                    self.clear(&f);
                    std::os::unix::fs::symlink(&target, self.root().join(&f)).unwrap();
                    format!("symlink {f:?} -> {target:?}")
                }
            }
            71..=74 => {
                let Some(f) = self.rng.pick(&files) else {
                    return false;
                };
                self.clear(&f);
                let text = self.content(None);
                self.write(&f.join("inner.txt"), &text);
                format!("file {f:?} -> directory")
            }
            75..=77 => {
                let Some(d) = self.rng.pick(&dirs) else {
                    return false;
                };
                self.clear(&d);
                let text = self.content(None);
                self.write(&d, &text);
                format!("directory {d:?} -> file")
            }
            78..=80 => {
                let p = if self.rng.percent(50) {
                    PathBuf::from(format!("build/{}.o", self.rng.word(3)))
                } else {
                    PathBuf::from(format!("{}.log", self.rng.word(3)))
                };
                // `build` may have been replaced by a file (or a symlink) meanwhile.
                if p.ancestors()
                    .skip(1)
                    .any(|a| matches!(now.get(a), Some(n) if *n != Node::Dir))
                {
                    return false;
                }
                let text = self.content(None);
                self.write(&p, &text);
                format!("ignored {p:?}")
            }
            81..=84 => {
                let _ = self.repo.try_git(&[], &["add", "-A"]);
                let msg = format!("c{}", self.commits);
                match self.repo.try_git(&[], &["commit", "-q", "-m", &msg]) {
                    Ok(_) => {
                        self.commits += 1;
                        format!("commit {msg}")
                    }
                    Err(_) => "commit (nothing to commit)".into(),
                }
            }
            85..=89 => {
                let target = if self.rng.percent(20) {
                    "HEAD~1".to_owned()
                } else {
                    self.rng.pick(&self.branches).unwrap()
                };
                let mut args = vec!["checkout", "-q"];
                if self.rng.percent(70) {
                    args.push("-f");
                }
                if target == "HEAD~1" {
                    args.push("--detach");
                }
                args.push(&target);
                let r = self.repo.try_git(&[], &args);
                format!("{args:?}: {}", if r.is_ok() { "ok" } else { "refused" })
            }
            90..=91 => {
                let name = format!("b{}", self.rng.word(3));
                if self
                    .repo
                    .try_git(&[], &["checkout", "-q", "-b", &name])
                    .is_ok()
                {
                    self.branches.push(name.clone());
                }
                format!("new branch {name}")
            }
            92..=95 => {
                let mode = self.rng.pick(&["--hard", "--mixed", "--soft"]).unwrap();
                let to = self.rng.pick(&["HEAD", "HEAD~1", "wide", "main"]).unwrap();
                let r = self.repo.try_git(&[], &["reset", "-q", mode, to]);
                format!(
                    "reset {mode} {to}: {}",
                    if r.is_ok() { "ok" } else { "refused" }
                )
            }
            _ => {
                // Many same-length edits at once: more paths than a partial refresh takes.
                let n = 101 + self.rng.below(30);
                for _ in 0..n {
                    if let Some(f) = self.rng.pick(&regular) {
                        let text = self.content(now.get(&f));
                        self.write(&f, &text);
                    }
                }
                format!("mass edit of {n} files")
            }
        };
        self.log.push(text);
        (81..=95).contains(&what)
    }

    /// Settle: snapshot what changed since the last settle and check it.
    fn settle(&mut self, seed: u64, step: usize) {
        let after = manifest(self.root());
        let paths = reported(&mut self.rng, &self.seen, &after);
        self.seen = after;
        let full = std::mem::take(&mut self.full_next);
        let snap = self.snap.as_mut().unwrap();
        let before = snap.fast_snapshots();
        let moved_before = snap.moved_snapshots();
        let got = snap
            .snapshot(if full { None } else { Some(&paths) })
            .unwrap_or_else(|e| panic!("seed {seed} step {step}: snapshot failed: {e}"));
        let fast = snap.fast_snapshots() - before;
        let moved = snap.moved_snapshots() - moved_before;
        self.fast += fast;
        self.moved += moved;
        let want = reference(&self.repo, self.scratch.path());
        if got.tree != want {
            let got_list = listing(&self.repo, self.scratch.path(), &got.tree);
            let want_list = listing(&self.repo, self.scratch.path(), &want);
            let extra: Vec<_> = got_list.difference(&want_list).collect();
            let missing: Vec<_> = want_list.difference(&got_list).collect();
            panic!(
                "seed {seed} step {step}: snapshot tree {} != from-scratch tree {want} \
                 (fast path: {fast}, HEAD-move path: {moved}, {} paths reported{})\n\
                 snapshot has: {extra:#?}\nfrom scratch has: {missing:#?}\nops:\n  {}",
                got.tree,
                paths.len(),
                if full { ", full refresh" } else { "" },
                self.log.join("\n  "),
            );
        }
        // The long-lived diff-tree answers what one run answers.
        if let Some(last) = &self.last {
            let snap = self.snap.as_ref().unwrap();
            assert_eq!(
                snap.diff(last, &got, 1 << 20).unwrap(),
                snap.diff_once(&last.tree, &got.tree, 1 << 20).unwrap(),
                "seed {seed} step {step}: the diff from the last settle\nops:\n  {}",
                self.log.join("\n  ")
            );
        }
        // Carrying the last snapshot onto a moved HEAD: the tree patch equals the index's.
        if let Some(last) = self
            .last
            .as_ref()
            .filter(|l| l.head != got.head && l.head.is_some())
        {
            let keep: std::collections::HashSet<PathBuf> =
                paths.iter().take(self.rng.below(3)).cloned().collect();
            let snap = self.snap.as_ref().unwrap();
            let patched = snap.rebase_onto_head(last, &got, &keep).unwrap();
            let indexed = snap.rebase_by_index(last, &got, &keep).unwrap();
            assert_eq!(
                patched.tree,
                indexed.tree,
                "seed {seed} step {step}: rebase onto the moved HEAD\nops:\n  {}",
                self.log.join("\n  ")
            );
        }
        self.log.push(format!(
            "-- settle {step}: {} paths{}{}{}",
            paths.len(),
            if full { ", full" } else { "" },
            if fast > 0 { ", fast path" } else { "" },
            if moved > 0 { ", HEAD-move path" } else { "" }
        ));
        self.last = Some(got);
    }

    fn run(&mut self, seed: u64, steps: usize) {
        self.settle(seed, 0);
        for step in 1..=steps {
            for _ in 0..=self.rng.below(4) {
                // A HEAD move alone in its burst half the time (a checkout, reset or commit
                // is mostly what an agent does between edits), so that the HEAD-move path
                // is taken often, and not only when its fallbacks allow.
                if self.op() && self.rng.percent(50) {
                    break;
                }
            }
            self.settle(seed, step);
            match self.rng.below(100) {
                0..=5 => {
                    // A daemon restart: a new snapshotter over the same state dir.
                    self.snap = None;
                    self.snap = Some(self.repo.open());
                    self.log.push("restart".into());
                }
                6..=7 => {
                    let last = self.last.clone().unwrap();
                    self.snap.as_ref().unwrap().prune(&[&last]).unwrap();
                    self.log.push("prune".into());
                }
                8..=9 => self.full_next = true,
                _ => {}
            }
        }
    }
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn snapshot_random_sequences_match_a_from_scratch_index() {
    let cases = env_num("CXD_SNAPSHOT_PROP_CASES", 3);
    let steps = usize::try_from(env_num("CXD_SNAPSHOT_PROP_STEPS", 40)).unwrap();
    let first = env_num("CXD_SNAPSHOT_PROP_SEED", 17);
    let mut fast = 0;
    let mut moved = 0;
    for seed in first..first + cases {
        let mut case = Case::new(seed);
        case.run(seed, steps);
        fast += case.fast;
        moved += case.moved;
    }
    eprintln!(
        "{cases} cases of {steps} settles from seed {first}: every tree matched; {fast} took \
         the fast path, {moved} the HEAD-move path"
    );
    assert!(
        fast > 0,
        "no settle took the fast path: the driver does not guard it"
    );
    assert!(
        moved > 0,
        "no settle took the HEAD-move path: the driver does not guard it"
    );
}
