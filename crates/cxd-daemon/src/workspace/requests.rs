//! The requests a workspace answers: those about the review cycle are handed to the machine
//! as the asker; pause, the codex thread, trust in the repository's config and approval of
//! the tree are answered here.

use cxd_proto::message::SessionAction;
use cxd_proto::{ErrorKind, ErrorReply, Response};

use super::Command;
use super::actor::{Actor, Asker, Side};
use super::machine::Input;
use crate::caller::Caller;
use crate::store;

impl Actor {
    /// Answer one request from the registry: those about the review cycle go to the machine
    /// (as the asker), the others are answered here.
    pub(super) async fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Review {
                all,
                model,
                effort,
                trigger,
                retry_halted,
                started,
            } => {
                let asker = Asker::Review {
                    started,
                    trigger,
                    model,
                    effort,
                    spend: retry_halted,
                };
                self.ask(asker, Input::ReviewAsked { all, retry_halted })
                    .await;
            }
            Command::Plan { text, started } => {
                if text.trim().is_empty() {
                    let _ = started.send(Err(Response::Error(ErrorReply {
                        kind: ErrorKind::Usage,
                        message: "the plan is empty".into(),
                    })));
                    return;
                }
                // While the limit is spent a plan validation would only fail: say so at once.
                if let Some(why) = self.plan_refusal().await {
                    let _ = started.send(Err(Response::Error(ErrorReply {
                        kind: ErrorKind::Internal,
                        message: why,
                    })));
                    return;
                }
                let asker = Asker::Side {
                    side: Side::Plan(text),
                    started,
                };
                self.ask(asker, Input::PlanAsked).await;
            }
            Command::Check(reply) => {
                let _ = reply.send(self.check().await);
            }
            Command::Pause(pause, who, reply) => {
                let _ = reply.send(self.set_paused(pause, &who).await);
            }
            Command::Session(action, who, reply) => {
                let _ = reply.send(self.session(action, &who).await);
            }
            Command::Approve(note, who, reply) => {
                let _ = reply.send(self.approve(note, &who).await);
            }
            Command::Trust(revoke, who, reply) => {
                let _ = reply.send(self.trust(revoke, &who).await);
            }
            Command::Refresh(done) => {
                self.refresh_summary().await;
                let _ = done.send(());
            }
            Command::ReviewRevisions {
                target,
                model,
                effort,
                started,
            } => self.review_revisions(target, model, effort, started).await,
            Command::PushedTrees {
                local,
                remote,
                remote_name,
                reply,
            } => {
                let _ = reply.send(self.pushed_trees(local, remote, remote_name).await);
            }
            Command::AgentEdit { file, session } => {
                if let Ok(rel) = file.strip_prefix(&self.row.root)
                    && self.machine.takes_edits()
                {
                    self.note_edits(&[rel.to_path_buf()]);
                    self.pending.insert(rel.to_path_buf());
                    self.agent_files.insert(rel.to_path_buf());
                    if self.agent_session.as_deref() != Some(session.as_str()) {
                        self.session_files.clear();
                    }
                    self.session_files.insert(rel.to_path_buf());
                    self.agent_session = Some(session);
                    let at = tokio::time::Instant::now();
                    self.drive(Input::Edited { at }).await;
                }
            }
        }
    }

    /// `cxd pause` / `cxd unpause`, kept in the store so a restart keeps it.
    pub(super) async fn set_paused(&mut self, pause: bool, who: &Caller) -> Response {
        let was_halted = self.machine.halted().is_some();
        let id = self.row.id;
        if let Err(e) = self
            .store
            .call(move |c| store::workspaces::set_paused(c, id, pause))
            .await
        {
            return Response::Error(ErrorReply {
                kind: ErrorKind::Internal,
                message: e.to_string(),
            });
        }
        let message = if pause {
            format!(
                "paused {}: edits are recorded, no review runs until `cxd unpause`",
                self.root().display()
            )
        } else {
            if was_halted {
                format!("unpaused {} (the halt is cleared)", self.root().display())
            } else {
                format!("unpaused {}", self.root().display())
            }
        };
        let input = if pause { Input::Pause } else { Input::Unpause };
        self.drive(input).await;
        self.log(
            if pause { "pause" } else { "unpause" },
            decided(serde_json::json!({}), who),
        )
        .await;
        Response::Ok { message }
    }

    /// `cxd session`: show, reset or adopt the workspace's codex thread.
    pub(super) async fn session(&mut self, action: SessionAction, who: &Caller) -> Response {
        let id = self.row.id;
        let new_thread = match action {
            SessionAction::Show => {
                return Response::Session {
                    root: self.row.root.clone(),
                    thread_id: self.summary.thread_id.clone(),
                    thread_input_tokens: self.summary.thread_input,
                    max_thread_input_tokens: self.config().review.max_thread_input_tokens,
                };
            }
            SessionAction::Reset => None,
            SessionAction::Adopt(t) => {
                if !crate::codex::argv::is_thread_id(&t) {
                    return Response::Error(ErrorReply {
                        kind: ErrorKind::Usage,
                        message: format!(
                            "{t:?} is not a codex thread id (a UUID such as 01a20bcf-a64a-7b03-bf54-a703d0125150)"
                        ),
                    });
                }
                Some(t)
            }
            SessionAction::AdoptLast => {
                match crate::codex::sessions::newest_thread_for(self.root()) {
                    Ok(Some(t)) => Some(t),
                    Ok(None) => {
                        return Response::Error(ErrorReply {
                            kind: ErrorKind::Usage,
                            message: format!(
                                "no codex session found whose working directory is {}",
                                self.root().display()
                            ),
                        });
                    }
                    Err(e) => {
                        return Response::Error(ErrorReply {
                            kind: ErrorKind::Internal,
                            message: e,
                        });
                    }
                }
            }
        };
        let t = new_thread.clone();
        if let Err(e) = self
            .store
            .call(move |c| store::workspaces::set_thread(c, id, t.as_deref()))
            .await
        {
            return Response::Error(ErrorReply {
                kind: ErrorKind::Internal,
                message: e.to_string(),
            });
        }
        self.log(
            "session",
            decided(serde_json::json!({ "thread_id": new_thread }), who),
        )
        .await;
        self.refresh_summary().await;
        Response::Session {
            root: self.row.root.clone(),
            thread_id: new_thread,
            thread_input_tokens: self.summary.thread_input,
            max_thread_input_tokens: self.config().review.max_thread_input_tokens,
        }
    }

    /// Record the user's trust in this repository's `.cxd.toml` (its SHA-256, so a change of
    /// the file needs trust again), or revoke it; the config in force follows at once.
    pub(super) async fn trust(&mut self, revoke: bool, who: &Caller) -> Response {
        let at = crate::clock::now_rfc3339();
        let recorded =
            match crate::config::trust::record(&self.ctx.state_dir, &self.row.root, revoke, at) {
                Ok(r) => r,
                Err(e) => {
                    let kind = if e.is_usage() {
                        ErrorKind::Usage
                    } else {
                        ErrorKind::Internal
                    };
                    return Response::Error(ErrorReply {
                        kind,
                        message: e.to_string(),
                    });
                }
            };
        if recorded.changed {
            self.log(
                "trust",
                decided(
                    serde_json::json!({"file": recorded.file, "sha256": recorded.sha256, "revoked": revoke}),
                    who,
                ),
            )
            .await;
            self.retime().await;
            self.publish();
        }
        Response::Ok {
            message: recorded.message,
        }
    }

    /// `cxd approve`: the user accepts the tree as it is now.
    pub(super) async fn approve(&mut self, note: Option<String>, who: &Caller) -> Response {
        let up_to_date = match self.check().await {
            Ok(u) => u,
            Err(r) => return r,
        };
        let Some(tree) = self.last_tree.clone() else {
            return Response::Error(ErrorReply {
                kind: ErrorKind::Internal,
                message: "this workspace has no snapshot to approve (see `cxd status`)".into(),
            });
        };
        let row = store::approvals::ApprovalRow {
            at: crate::clock::now_rfc3339(),
            tree: tree.clone(),
            head: self.baseline.as_ref().and_then(|b| b.head.clone()),
            note: note.clone(),
        };
        let id = self.row.id;
        let root = self.row.root.clone();
        let from_person = who.is_person();
        if let Err(e) = self
            .store
            .call(move |c| {
                store::approvals::add(c, id, &row)?;
                if !from_person {
                    // Only the user answers a decision the loop handed over.
                    return Ok(());
                }
                // The user's approval answers a decision the loop handed over.
                store::escalations::answer(
                    c,
                    id,
                    Some(&root),
                    store::escalations::Answer::Approval,
                    &row.at,
                )
                .map(|_| ())
            })
            .await
        {
            return Response::Error(ErrorReply {
                kind: ErrorKind::Internal,
                message: e.to_string(),
            });
        }
        let open = self.summary.open.len();
        self.log(
            "approval",
            decided(
                serde_json::json!({"note": note, "tree": tree, "up_to_date": up_to_date, "open_findings": open}),
                who,
            ),
        )
        .await;
        self.ctx.emit(
            "approval",
            Some(self.row.root.clone()),
            format!("approved {}", self.root().display()),
        );
        self.refresh_summary().await;
        let mut message = format!("approved {} as it is now", self.root().display());
        if !up_to_date {
            message.push_str(" (it has changes no review covers yet)");
        }
        if open > 0 {
            message.push_str(&format!(" with {open} finding(s) still open"));
        }
        Response::Ok { message }
    }
}

/// An audit entry's fields with the decision's maker added (`by`, and its session or why).
fn decided(mut data: serde_json::Value, who: &Caller) -> serde_json::Value {
    who.audit_fields(&mut data);
    data
}
