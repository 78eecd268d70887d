//! A usage-limit message whose reset time is at the edge of the calendar (the last minute of
//! year 9999, read in a zone west of UTC, lands past it): the workspace halts with codex's
//! words and stays alive, status answers, and after a restart (the stored workspace and its
//! failed review read back) the same message from codex halts it again, alive.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use cxd_e2e::{TestEnv, init_repo, wait_for};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

/// A POSIX zone eight hours west of UTC (no zoneinfo needed).
const WEST: &str = "PST8";

#[test]
fn a_reset_time_past_the_end_of_the_calendar_halts_without_killing_the_workspace() {
    for message in [
        "You've hit your usage limit. Try again at Dec 31st, 9999 11:59 PM.",
        "You've hit your usage limit. Try again at Dec 31st, 9999 4:01 PM.",
        "You've hit your usage limit. Try again at Feb 29th, 2100 5:46 PM.",
        "You've hit your usage limit. Try again at Dec 31st, 99999999999 11:59 PM.",
    ] {
        let env = TestEnv::new();
        env.write_config("[settle]\nquiet_ms = 200\nmax_wait_ms = 2000\n");
        env.script_codex(&json!([
            {"mode": "fail_quota", "message": message},
            {"mode": "fail_quota", "message": message},
            {"mode": "fail_quota", "message": message},
        ]));
        let mut d = env.start_daemon_with(|c| {
            c.env("TZ", WEST);
        });
        let repo = init_repo(env.dir.path(), "repo");
        env.ok(&["watch", repo.to_str().unwrap()]);
        std::fs::write(repo.join("README"), "hello\nworld\n").unwrap();
        let w = wait_for("the quota halt", T, || {
            let w = env.workspace();
            (w["state"] == "halted").then_some(w)
        });
        assert_eq!(w["last_review"]["error_class"], "quota", "{message}: {w}");
        assert!(
            w["error"].as_str().unwrap().contains("usage limit"),
            "{message}: {w}"
        );
        assert!(d.try_exit().is_none(), "{message}: the daemon died");
        // The workspace still answers requests and reviews on demand.
        let text = env.ok(&["status"]);
        assert!(text.contains("halted"), "{message}: {text}");
        env.ok(&["findings", repo.to_str().unwrap()]);
        let out = env.run(&["review", "--wait", repo.to_str().unwrap()]);
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panick"),
            "{message}: {out:?}"
        );
        let w = wait_for("the second halt", T, || {
            let w = env.workspace();
            (w["reviews"].as_u64() == Some(2) && w["state"] == "halted").then_some(w)
        });
        assert_eq!(w["last_review"]["error_class"], "quota", "{message}: {w}");
        assert!(
            !d.log_text().contains("panicked"),
            "{message}: {}",
            d.log_text()
        );

        // A restart re-reads the stored workspace and its last review.
        drop(d);
        let d = env.start_daemon_with(|c| {
            c.env("TZ", WEST);
        });
        env.ok(&["watch", repo.to_str().unwrap()]);
        env.ok(&["status"]);
        env.ok(&["findings", repo.to_str().unwrap()]);
        env.ok(&["log"]);
        // And codex saying it again halts it again, alive.
        std::fs::write(repo.join("README"), "hello\nagain\n").unwrap();
        env.run(&["review", "--wait", repo.to_str().unwrap()]);
        let w = wait_for("the halt after the restart", T, || {
            let w = env.workspace();
            (w["reviews"].as_u64() == Some(3) && w["state"] == "halted").then_some(w)
        });
        assert_eq!(w["last_review"]["error_class"], "quota", "{message}: {w}");
        env.ok(&["status"]);
        assert!(
            !d.log_text().contains("panicked"),
            "{message}: {}",
            d.log_text()
        );
    }
}
