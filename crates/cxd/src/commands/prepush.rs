//! `cxd hook git pre-push`: git's pre-push hook. For each pushed ref, the daemon reviews the
//! commits no review covered yet (waiting, with progress on stderr) and judges the findings of
//! the reviews that cover them; the push is refused (exit 1) on blocking findings or commits
//! left unreviewed, with the way out printed.
//!
//! When cxd cannot judge (the daemon does not answer, the repository is not watched), the push
//! goes on and stderr says so: a hook that failed closed whenever the daemon is down would be
//! skipped with `--no-verify` by habit, and then it protects nothing.

use std::io::Read as _;
use std::process::ExitCode;

use cxd_proto::paths::Paths;
use cxd_proto::{Request, Response};

use super::abs_path;
use super::progress::until_answer;
use crate::client::Client;
use crate::sanitize::line;

/// More input than git ever sends for one push (a line per ref) is cut here.
const MAX_INPUT: u64 = 4 << 20;

/// One line of git's pre-push input.
#[derive(Debug, PartialEq, Eq)]
struct Update {
    local_ref: String,
    local: String,
    remote: String,
}

/// `<local ref> SP <local sha> SP <remote ref> SP <remote sha>` lines; others are skipped.
fn parse(input: &str) -> Vec<Update> {
    input
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (local_ref, local, _remote_ref, remote) =
                (w.next()?, w.next()?, w.next()?, w.next()?);
            Some(Update {
                local_ref: local_ref.to_owned(),
                local: local.to_owned(),
                remote: remote.to_owned(),
            })
        })
        .collect()
}

fn fail_open(why: &str) -> ExitCode {
    eprintln!("cxd: {}: the push goes on without cxd's review", line(why));
    ExitCode::SUCCESS
}

pub fn run(paths: &Paths, remote_name: Option<&str>) -> ExitCode {
    let mut raw = String::new();
    if std::io::stdin()
        .take(MAX_INPUT)
        .read_to_string(&mut raw)
        .is_err()
    {
        return fail_open("cannot read git's pre-push input");
    }
    let updates = parse(&raw);
    let path = match abs_path(None) {
        Ok(p) => p,
        Err(e) => return fail_open(&e.to_string()),
    };
    let mut refused = false;
    for u in updates {
        let mut client = match Client::connect(paths) {
            Ok(c) => c,
            Err(e) => return fail_open(&e.message),
        };
        let request = Request::PrePush {
            path: path.clone(),
            local: u.local.clone(),
            remote: u.remote.clone(),
            remote_name: remote_name.map(str::to_owned),
            block_on: None,
        };
        if let Err(e) = client
            .send(&request)
            .and_then(|()| client.set_timeout(None))
        {
            return fail_open(&e.message);
        }
        let report = match until_answer(&mut client, false) {
            Ok(Response::Gate(report)) => report,
            Ok(other) => return fail_open(&format!("unexpected reply to pre-push: {other:?}")),
            Err(e) => return fail_open(&e.message),
        };
        let to = remote_name
            .map(|r| format!(" to {}", line(r)))
            .unwrap_or_default();
        // Through anstream: the colour codes are stripped off a terminal or with NO_COLOR.
        anstream::eprint!(
            "cxd pre-push, {}{to}: {}",
            line(&u.local_ref),
            super::gate::render(&report)
        );
        refused |= !report.pass;
    }
    if refused {
        eprintln!(
            "push refused by cxd: fix the findings and commit, or `cxd dismiss ID` the ones that do not apply, then push again (`git push --no-verify` pushes without this check)"
        );
        return ExitCode::from(crate::exit::NO);
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gits_lines_and_skips_the_rest() {
        let z = "0".repeat(40);
        let a = "a".repeat(40);
        let input = format!("refs/heads/main {a} refs/heads/main {z}\n\ngarbage\n");
        assert_eq!(
            parse(&input),
            [Update {
                local_ref: "refs/heads/main".into(),
                local: a,
                remote: z,
            }]
        );
    }
}
