//! `cxd events --blocking-only`: one line per finding that starts blocking in one workspace
//! (open, at or above `gate.block_on`), and nothing else — for a Claude Code plugin monitor,
//! whose every stdout line reaches the model mid-turn. It outlives the daemon: while none
//! answers, or the workspace is not watched yet, it waits and tries again.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use cxd_proto::domain::Severity;
use cxd_proto::paths::Paths;
use cxd_proto::status::Finding;
use cxd_proto::{Request, Response};

use super::findings::fetch_all;
use super::review::location;
use crate::client::Client;
use crate::exit::Failure;
use crate::sanitize::line;

/// How long to wait before trying the daemon again, at first and at most.
const RETRY: Duration = Duration::from_secs(2);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// Follow the workspace holding `dir` until stdout closes.
pub fn run(paths: &Paths, dir: &Path) -> anyhow::Result<ExitCode> {
    let threshold = super::hook::block_on(paths, dir);
    let mut watcher = Watcher {
        dir: dir.to_path_buf(),
        threshold,
        root: None,
        open: BTreeSet::new(),
    };
    // Connections that failed in a row: the pause before the next try doubles with each.
    let mut failures = 0u32;
    loop {
        match watcher.follow(paths) {
            // stdout closed: nobody listens any more.
            Ok(Stop::Closed) => return Ok(ExitCode::SUCCESS),
            // The daemon went away after serving: look for the next one soon.
            Ok(Stop::Lost) => failures = 0,
            // None answers: look less and less often.
            Err(_) => failures = failures.saturating_add(1),
        }
        let pause = RETRY.saturating_mul(1 << failures.saturating_sub(1).min(4));
        std::thread::sleep(pause.min(MAX_RETRY));
    }
}

enum Stop {
    Closed,
    Lost,
}

/// What the follower knows: the workspace's root once it is watched, and the ids of the
/// blocking findings open at the last look.
struct Watcher {
    dir: PathBuf,
    threshold: Severity,
    root: Option<PathBuf>,
    open: BTreeSet<String>,
}

impl Watcher {
    /// One connection's worth of events.
    fn follow(&mut self, paths: &Paths) -> Result<Stop, Failure> {
        let mut events = Client::connect(paths)?;
        events.send(&Request::Subscribe)?;
        events.set_timeout(None)?;
        if !matches!(events.recv()?, Response::Ok { .. }) {
            return Ok(Stop::Lost);
        }
        // Subscribed first, then looked: nothing opened in between is missed.
        if self.look(paths, false)? {
            return Ok(Stop::Closed);
        }
        loop {
            let ev = match events.recv() {
                Ok(Response::Event(ev)) => ev,
                _ => return Ok(Stop::Lost),
            };
            let ours = match (&self.root, &ev.workspace) {
                (Some(root), Some(ws)) => root == ws,
                // Not watched yet: any workspace event may be the watch.
                (None, _) => true,
                (Some(_), None) => ev.kind == "lagged",
            };
            if ours && self.look(paths, true)? {
                return Ok(Stop::Closed);
            }
            if ev.kind == "daemon_stopping" {
                return Ok(Stop::Lost);
            }
        }
    }

    /// Read the workspace's blocking findings; print those that were not open at the last
    /// look (when `print`). True when stdout is closed.
    fn look(&mut self, paths: &Paths, print: bool) -> Result<bool, Failure> {
        let mut client = Client::connect(paths)?;
        let Some(root) = self.resolve(&mut client)? else {
            return Ok(false);
        };
        let findings = fetch_all(&mut client, &root, false, Some(self.threshold))?;
        let now: BTreeSet<String> = findings.iter().map(|f| f.id.clone()).collect();
        // The first look after a (re)connection only learns what is open: the session start
        // reported those.
        let first = self.root.is_none() || !print;
        let new: Vec<&Finding> = findings
            .iter()
            .filter(|f| !first && !self.open.contains(&f.id))
            .collect();
        if self.root.is_none() {
            // For people and tests: the model (stdout) hears only of findings.
            eprintln!(
                "cxd: following the blocking findings (at or above {}) of {}",
                self.threshold,
                line(&root.display().to_string())
            );
        }
        self.root = Some(root);
        self.open = now;
        let mut out = std::io::stdout().lock();
        for f in new {
            if writeln!(out, "{}", notice(f)).is_err() {
                return Ok(true);
            }
        }
        Ok(out.flush().is_err())
    }

    /// The workspace's root, once the daemon watches it.
    fn resolve(&self, client: &mut Client) -> Result<Option<PathBuf>, Failure> {
        if let Some(root) = &self.root {
            return Ok(Some(root.clone()));
        }
        match client.request(&Request::Status {
            path: Some(self.dir.clone()),
        }) {
            Ok(Response::Status(report)) => Ok(report.workspaces.first().map(|w| w.root.clone())),
            Ok(_) => Ok(None),
            Err(e) if e.code == crate::exit::USAGE => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// One finding as one line for the model: what, where, and what to do.
fn notice(f: &Finding) -> String {
    line(&format!(
        "cxd: Codex found a {} problem, {} at {}: {} — fix it, or dispute it with your reason (the cxd findings tool has the details)",
        f.severity,
        f.id,
        location(f),
        f.title
    ))
}
