//! Reviews of committed history: `cxd review --commit/--range/--base` and the pre-push hook.
//!
//! The revisions are resolved and the diff taken before anything is recorded, so a bad name
//! is refused with nothing half-done. The review then runs on the workspace's thread like a
//! plan validation (beside the edit cycle, queued behind a running review): it covers the
//! commits' trees, never the working tree's baseline, and lists no open finding of the
//! working tree for Codex to fix or carry.

use cxd_proto::domain::Trigger;
use cxd_proto::message::Revisions;
use cxd_proto::{ErrorKind, ErrorReply, Response};
use tokio::sync::oneshot;

use super::actor::{Actor, Asker, Side};
use super::machine::Input;
use super::tree::MAX_LOGGED_FILES;
use super::{Started, Target};
use crate::codex::job::Job;
use crate::codex::prompt::{self, ChangedFile};
use crate::config::models::ChangeSize;
use crate::scope::ReviewedChange;
use crate::snapshot::hunks::DiffHunks;
use crate::snapshot::revs::{Commit, RevError};
use crate::snapshot::{Diff, Snapshot, Snapshotter};
use crate::store;

/// A review of committed history, ready to run.
pub(super) struct RevReview {
    pub(super) trigger: Trigger,
    /// What is reviewed, for the prompt and the log: "commit 1a2b3c4d", "1a2b3c4d..5e6f7a8b".
    pub(super) what: String,
    /// Where Codex reads the files when the diff is too large to include.
    pub(super) read: String,
    /// The trees the diff goes between.
    pub(super) from: String,
    pub(super) to: String,
    pub(super) diff: Diff,
    /// The trees an answer covers: every commit's in the range (and the working tree's).
    pub(super) covers: Vec<String>,
    pub(super) model: Option<String>,
    pub(super) effort: Option<String>,
}

/// What the blocking side found: a review to run, or (None) nothing to review.
type Found = Option<RevReview>;

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn is_hex(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_zero(s: &str) -> bool {
    s.bytes().all(|b| b == b'0')
}

fn trees(commits: &[Commit]) -> Vec<String> {
    commits.iter().map(|c| c.tree.clone()).collect()
}

/// The range a user named (or HEAD's branch against its base), as a diff between trees.
fn named(snap: &mut Snapshotter, revisions: &Revisions) -> Result<RevReview, RevError> {
    let blank = |trigger, what: String, read: String, from: String, to: String| RevReview {
        trigger,
        what,
        read,
        from,
        to,
        diff: Diff::default(),
        covers: Vec::new(),
        model: None,
        effort: None,
    };
    match revisions {
        Revisions::Commit(rev) => {
            let c = snap.resolve_commit(rev)?;
            let from = snap.parent_tree(&c)?;
            let id = short(&c.id);
            let read = format!("`git show {id}` shows it, `git show {id}:PATH` a file as it");
            let mut r = blank(
                Trigger::Commit,
                format!("commit {id} (against its first parent)"),
                read,
                from,
                c.tree.clone(),
            );
            r.covers = vec![c.tree];
            Ok(r)
        }
        Revisions::Range { from, to } => {
            let a = snap.resolve_commit(from)?;
            let b = snap.resolve_commit(to)?;
            let commits = snap.commits_between(&b.id, &[&a.id])?;
            if commits.is_empty() {
                return Err(RevError::Empty {
                    from: from.clone(),
                    to: to.clone(),
                });
            }
            let (x, y) = (short(&a.id), short(&b.id));
            let mut r = blank(
                Trigger::Range,
                format!("the commits {x}..{y} (`git diff {x} {y}`)"),
                format!("`git diff {x} {y} -- PATH`, `git show {y}:PATH`"),
                a.tree,
                b.tree,
            );
            r.covers = trees(&commits);
            Ok(r)
        }
        Revisions::Base {
            branch,
            uncommitted,
        } => {
            let head = snap.resolve_commit("HEAD")?;
            if !snap.head_on_branch()? {
                return Err(RevError::Detached(branch.clone()));
            }
            let b = snap.resolve_commit(branch)?;
            let base = snap.merge_base(branch, &b.id, &head.id)?;
            let commits = snap.commits_between(&head.id, &[&base.id])?;
            let mut covers = trees(&commits);
            let x = short(&base.id).to_owned();
            let (to, what, read) = if *uncommitted {
                let now = snap.snapshot(None)?;
                covers.push(now.tree.clone());
                (
                    now.tree,
                    format!(
                        "the work on this branch since its merge base {x} with the base branch, committed and not"
                    ),
                    format!("in the working tree; `git diff {x} -- PATH`"),
                )
            } else {
                let y = short(&head.id);
                (
                    head.tree.clone(),
                    format!(
                        "the commits on this branch since its merge base with the base branch ({x}..{y}, `git diff {x} {y}`)"
                    ),
                    format!("`git diff {x} {y} -- PATH`, `git show {y}:PATH`"),
                )
            };
            if commits.is_empty() && to == base.tree {
                return Err(RevError::NothingAhead(branch.clone()));
            }
            let mut r = blank(Trigger::Range, what, read, base.tree, to);
            r.covers = covers;
            Ok(r)
        }
    }
}

/// The commits a push sends: those `local` holds and `remote` lacks (when the branch is new,
/// or the remote's commit is not here: those no remote-tracking ref of the pushed-to remote
/// has; another remote's refs, or a hand-made `refs/remotes/x/y`, say nothing about this one).
/// A deletion sends none.
fn pushed(
    snap: &Snapshotter,
    local: &str,
    remote: &str,
    remote_name: Option<&str>,
) -> Result<Vec<Commit>, RevError> {
    if is_zero(local) {
        return Ok(Vec::new());
    }
    for sha in [local, remote] {
        if !is_hex(sha) {
            return Err(RevError::BadName(sha.to_owned()));
        }
    }
    let known = !is_zero(remote) && snap.resolve_commit(remote).is_ok();
    if known {
        return snap.commits_between(local, &[remote]);
    }
    match remote_name.and_then(remote_refs) {
        Some(glob) => snap.commits_between(local, &[&glob]),
        None => snap.commits_between(local, &[]),
    }
}

/// `--glob=refs/remotes/NAME/*` for a remote name git could have (so no glob character in it),
/// None for anything else (a URL, a path).
fn remote_refs(name: &str) -> Option<String> {
    let plain = !name.is_empty()
        && name.len() <= 200
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
        && !name.starts_with(['-', '.', '/'])
        && !name.ends_with(['/', '.'])
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("/.")
        && !name.ends_with(".lock");
    plain.then(|| format!("--glob=refs/remotes/{name}/*"))
}

/// The review of the pushed commits from the oldest one whose tree no review covered
/// (`uncovered[i]` says for `commits[i]`, newest first), or nothing when every one is covered.
fn push_review(
    snap: &Snapshotter,
    commits: &[Commit],
    uncovered: &[bool],
) -> Result<Found, RevError> {
    let Some(oldest) = uncovered.iter().rposition(|u| *u) else {
        return Ok(None);
    };
    let (tip, first) = (&commits[0], &commits[oldest]);
    let from = snap.parent_tree(first)?;
    let x = first
        .parent
        .as_deref()
        .map_or_else(|| "(root)".to_owned(), |p| short(p).to_owned());
    let y = short(&tip.id);
    Ok(Some(RevReview {
        trigger: Trigger::Range,
        what: format!("the commits about to be pushed, {x}..{y} (`git diff {x} {y}`)"),
        read: format!("`git diff {x} {y} -- PATH`, `git show {y}:PATH`"),
        from,
        to: tip.tree.clone(),
        diff: Diff::default(),
        covers: trees(&commits[..=oldest]),
        model: None,
        effort: None,
    }))
}

fn usage(message: String) -> Response {
    Response::Error(ErrorReply {
        kind: ErrorKind::Usage,
        message,
    })
}

fn rev_error(e: &RevError) -> Response {
    Response::Error(ErrorReply {
        kind: if e.is_usage() {
            ErrorKind::Usage
        } else {
            ErrorKind::Internal
        },
        message: e.to_string(),
    })
}

impl Actor {
    /// Run `f` on the snapshotter off the async workers (it runs git).
    async fn with_snapshotter<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Snapshotter) -> Result<T, RevError> + Send + 'static,
    ) -> Result<T, Response> {
        let Some(mut snap) = self.snapshotter.take() else {
            return Err(usage(
                "this workspace has no snapshot (see its warnings in `cxd status`)".into(),
            ));
        };
        let result = tokio::task::spawn_blocking(move || {
            let out = f(&mut snap);
            (snap, out)
        })
        .await;
        match result {
            Ok((snap, out)) => {
                self.snapshotter = Some(snap);
                out.map_err(|e| rev_error(&e))
            }
            Err(e) => Err(Response::Error(ErrorReply {
                kind: ErrorKind::Internal,
                message: format!("snapshot task failed: {e}"),
            })),
        }
    }

    /// Which of `trees` no answered review covered.
    async fn uncovered(&self, trees: Vec<String>) -> Result<Vec<bool>, Response> {
        let ws = self.row.id;
        self.store
            .call(move |c| {
                trees
                    .iter()
                    .map(|t| store::reviewed::covered(c, ws, t).map(|yes| !yes))
                    .collect::<Result<Vec<bool>, _>>()
            })
            .await
            .map_err(|e| {
                Response::Error(ErrorReply {
                    kind: ErrorKind::Internal,
                    message: e.to_string(),
                })
            })
    }

    /// `cxd review --commit/--range/--base` or the pre-push hook: resolve and diff first (a
    /// bad name is refused with nothing recorded), then run beside the edit cycle.
    pub(super) async fn review_revisions(
        &mut self,
        target: Target,
        model: Option<String>,
        effort: Option<String>,
        started: Started,
    ) {
        let max_bytes = self.config().review.max_diff_bytes as usize;
        let pushed = matches!(target, Target::Pushed { .. });
        let found = match target {
            Target::Revisions(revisions) => {
                self.with_snapshotter(move |snap| named(snap, &revisions).map(Some))
                    .await
            }
            Target::Pushed {
                local,
                remote,
                remote_name,
            } => self.push_found(local, remote, remote_name).await,
        };
        let mut review = match found {
            Ok(Some(r)) => r,
            Ok(None) => {
                let _ = started.send(Ok(None));
                return;
            }
            Err(reply) => {
                let _ = started.send(Err(reply));
                return;
            }
        };
        let (from, to) = (review.from.clone(), review.to.clone());
        let diff = self
            .with_snapshotter(move |snap| {
                let snapshot = |tree: String| Snapshot { tree, head: None };
                Ok(snap.diff(&snapshot(from), &snapshot(to), max_bytes)?)
            })
            .await;
        review.diff = match diff {
            Ok(d) if d.is_empty() => {
                let _ = started.send(Ok(None));
                return;
            }
            Ok(d) => d,
            Err(reply) => {
                let _ = started.send(Err(reply));
                return;
            }
        };
        // A push waits for no review that cannot run (Codex's usage limit or the budget is
        // spent): the hook lets it through with the reason, as the stop hook does.
        if pushed && let Some(why) = self.plan_refusal().await {
            let _ = started.send(Err(Response::Error(ErrorReply {
                kind: ErrorKind::Internal,
                message: format!("no review now: {why}"),
            })));
            return;
        }
        review.model = model;
        review.effort = effort;
        let asker = Asker::Side {
            side: Side::Revisions(Box::new(review)),
            started,
        };
        self.ask(asker, Input::PlanAsked).await;
    }

    /// The review a push needs: from the oldest pushed commit no review covered.
    async fn push_found(
        &mut self,
        local: String,
        remote: String,
        remote_name: Option<String>,
    ) -> Result<Found, Response> {
        let commits = self
            .with_snapshotter(move |snap| pushed(snap, &local, &remote, remote_name.as_deref()))
            .await?;
        if commits.is_empty() {
            return Ok(None);
        }
        let uncovered = self.uncovered(trees(&commits)).await?;
        self.with_snapshotter(move |snap| push_review(snap, &commits, &uncovered))
            .await
    }

    /// The trees of the commits a push sends, newest first.
    pub(super) async fn pushed_trees(
        &mut self,
        local: String,
        remote: String,
        remote_name: Option<String>,
    ) -> Result<Vec<String>, Response> {
        self.with_snapshotter(move |snap| {
            pushed(snap, &local, &remote, remote_name.as_deref()).map(|c| trees(&c))
        })
        .await
    }

    /// Start codex on committed history (the machine said a side run may start).
    pub(super) async fn start_revisions(
        &mut self,
        review: RevReview,
        waiter: oneshot::Sender<Response>,
    ) {
        let config = self.config();
        let diff = &review.diff;
        let size = ChangeSize::of(diff);
        let choice = config.review.choose(
            review.trigger,
            Some(size),
            (review.model.clone(), review.effort.clone()),
        );
        let (model, effort) = (choice.model.clone(), choice.effort.clone());
        let files = ChangedFile::list(diff);
        let reviewed = Some(match diff.unified.as_deref() {
            Some(text) => ReviewedChange::Hunks(DiffHunks::parse(text)),
            None => ReviewedChange::Files(files.iter().map(|f| f.path.clone()).collect()),
        });
        let prompt = prompt::revisions(
            &prompt::ReviewInput {
                files: &files,
                diff: diff.unified.as_deref(),
                open: &[],
                disputes: &[],
            },
            &review.what,
            &review.read,
        );
        let job = Job {
            stats: (files.len() as u64, diff.insertions(), diff.deletions()),
            trees: (Some(review.from.clone()), Some(review.to.clone())),
            reader: self.snapshotter.as_ref().map(Snapshotter::tree_reader),
            change: reviewed,
            covers: review.covers.clone(),
            ..self.job(&config, review.trigger, prompt, &choice)
        };
        self.log(
            "review_started",
            serde_json::json!({
                "trigger": review.trigger,
                "model": model,
                "effort": effort,
                "reason": choice.reason,
                "what": review.what,
                "files": files.iter().take(MAX_LOGGED_FILES).map(|f| &f.path).collect::<Vec<_>>(),
                "count": files.len(),
                "insertions": diff.insertions(),
                "deletions": diff.deletions(),
                "diff_bytes": diff.bytes,
                "diff_inline": diff.unified.is_some(),
                "commits": review.covers.len(),
            }),
        )
        .await;
        self.ctx.emit(
            "review_started",
            Some(self.row.root.clone()),
            format!(
                "{}: {} file(s), {}",
                review.what,
                files.len(),
                choice.reason
            ),
        );
        self.launch(job, None, vec![waiter], choice.reason.clone());
    }

    /// Look up whether a review covered HEAD's tree, for status. The commit HEAD was at when
    /// the workspace was first looked at is nobody's news: it is reported only once a review
    /// covered it, so a fresh watch does not greet the user with "not reviewed".
    pub(super) async fn refresh_head_reviewed(&mut self) {
        let head = match self
            .with_snapshotter(|snap| Ok(snap.head_snapshot()?))
            .await
        {
            Ok(h) => h,
            Err(_) => {
                self.head_reviewed = None;
                return;
            }
        };
        let first = self.first_head.get_or_insert_with(|| head.head.clone());
        let found_so = *first == head.head;
        if head.head.is_none() {
            self.head_reviewed = None;
            return;
        }
        let ws = self.row.id;
        let covered = self
            .store
            .call(move |c| store::reviewed::covered(c, ws, &head.tree))
            .await
            .ok();
        self.head_reviewed = covered.filter(|&c| c || !found_so);
    }
}

#[cfg(test)]
mod tests {
    use super::remote_refs;

    #[test]
    fn only_a_plain_remote_name_names_refs() {
        assert_eq!(
            remote_refs("origin").as_deref(),
            Some("--glob=refs/remotes/origin/*")
        );
        assert!(remote_refs("up/stream").is_some());
        for bad in [
            "",
            "*",
            "o*",
            "o?",
            "o[a]",
            "/tmp/remote.git",
            "../r",
            "https://host/r.git",
            "git@host:r",
            "-x",
            "a..b",
            "a/",
            "a b",
            "a.lock",
        ] {
            assert_eq!(remote_refs(bad), None, "{bad}");
        }
    }
}
