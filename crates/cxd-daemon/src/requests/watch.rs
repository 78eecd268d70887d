//! `cxd watch` / `cxd unwatch`: start or stop watching the work tree holding a path (the
//! registry owns the set; `cxd list` is a status request).

use std::path::PathBuf;

use cxd_proto::Response;

use super::Handler;
use crate::caller::Caller;

/// Watch the work tree holding `path` (or say it already is).
pub(super) async fn watch(h: &Handler, path: PathBuf) -> Response {
    match h.registry.watch(path).await {
        Ok((root, os_watches, already)) => Response::Watching {
            root,
            os_watches,
            already,
        },
        Err(e) => e.into(),
    }
}

/// Stop watching the workspace holding `path`.
pub(super) async fn unwatch(h: &Handler, path: PathBuf, who: Caller) -> Response {
    match h.registry.unwatch(path).await {
        Ok(root) => {
            // Kept after the workspace's own rows are gone: the stop hook reports an unwatch
            // during an agent's session to the user.
            super::audit_decision(&h.store, Some(root.clone()), "unwatch", &who).await;
            Response::Ok {
                message: format!("stopped watching {}", root.display()),
            }
        }
        Err(e) => e.into(),
    }
}
