//! `cxd status`: the daemon and its workspaces, for people or (`--json`) for scripts.

use std::fmt::Write as _;
use std::process::ExitCode;

use cxd_proto::domain::{Severity, Trend, WorkspaceState};
use cxd_proto::paths::Paths;
use cxd_proto::status::StatusReport;
use cxd_proto::{Request, Response};

use crate::cli::StatusArgs;
use crate::client::Client;
use crate::exit::{Failure, UNREACHABLE};
use crate::sanitize::{line, lines};
use crate::style::{self, paint};

pub fn run(paths: &Paths, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let mut client = Client::connect(paths)?;
    let path = match &args.path {
        Some(p) => Some(std::path::absolute(p)?),
        None => None,
    };
    let report = match client.request(&Request::Status { path })? {
        Response::Status(r) => r,
        other => {
            return Err(Failure::new(
                UNREACHABLE,
                format!("unexpected reply to status: {other:?}"),
            )
            .into());
        }
    };
    if args.json {
        println!("{}", crate::sanitize::json(&report, true)?);
    } else {
        anstream::print!("{}", render(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// The status report as printed for people; `--json` prints the wire struct instead.
pub fn render(report: &StatusReport) -> String {
    let d = &report.daemon;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "cxd daemon {} — pid {}, up {}",
        d.version,
        d.pid,
        duration(d.uptime_s)
    );
    let _ = writeln!(out, "  socket  {}", line(&d.socket.display().to_string()));
    let _ = writeln!(
        out,
        "  config  {}",
        line(&d.config.path.display().to_string())
    );
    if let Some(err) = &d.config.error {
        let _ = writeln!(out, "  config error: {}", lines(err, "    "));
    }
    for warning in &d.warnings {
        let _ = writeln!(out, "  warning: {warning}");
    }
    let b = &report.budget;
    let of =
        |limit: Option<u64>| limit.map_or_else(|| " (no limit)".to_owned(), |l| format!(" of {l}"));
    let _ = writeln!(
        out,
        "  budget  {} review(s) this hour{}, {} input tokens today{}",
        b.reviews_this_hour,
        of(b.reviews_per_hour),
        b.input_tokens_today,
        of(b.input_tokens_per_day)
    );
    if report.workspaces.is_empty() {
        let _ = writeln!(
            out,
            "no workspaces watched — run `cxd watch` inside a git repository"
        );
    }
    for w in &report.workspaces {
        let _ = writeln!(
            out,
            "\n{}",
            paint(&line(&w.root.display().to_string()), style::bold())
        );
        let _ = writeln!(out, "  state     {}", state_line(w));
        if let Some(r) = &w.last_review {
            let when = line(r.finished_at.as_deref().unwrap_or(""));
            let verdict = r.verdict.as_str();
            let what = match r.error_class {
                Some(class) => paint(&format!("{verdict} ({class})"), style::state(verdict)),
                None => paint(verdict, style::state(verdict)),
            };
            let why = match &r.model_reason {
                Some(reason) => line(reason),
                None => format!(
                    "{} review, {} {}",
                    r.trigger,
                    line(&r.model),
                    line(&r.effort)
                ),
            };
            let _ = writeln!(out, "  last      #{} {what} — {why}, {when}", r.id);
        }
        let c = &w.open_findings;
        if c.total() == 0 {
            let _ = writeln!(out, "  findings  none open");
        } else {
            let parts: Vec<String> = Severity::ALL
                .iter()
                .rev()
                .map(|s| (s, c.get(*s)))
                .filter(|(_, n)| *n > 0)
                .map(|(s, n)| format!("{n} {s}"))
                .collect();
            let _ = writeln!(
                out,
                "  findings  {} open — `cxd findings` lists them",
                parts.join(", ")
            );
            // The most severe open findings, as the daemon picked them.
            for f in &w.top_findings {
                let severity = format!("{:<8}", f.severity.as_str());
                let _ = writeln!(
                    out,
                    "            {} {} {}  {}",
                    line(&f.id),
                    paint(&severity, style::severity(f.severity)),
                    crate::commands::review::location(f),
                    line(&f.title)
                );
            }
        }
        if let Some(n) = &w.needs_you {
            let _ = writeln!(
                out,
                "  {}  {} since {} ({}) — answer with `cxd dismiss ID --reason ...`, `cxd approve`, or an edit",
                paint("needs you", style::state("halted")),
                n.why,
                line(&n.since),
                line(&n.findings.join(", "))
            );
        }
        if let Some(l) = &w.review_loop {
            render_loop(&mut out, l);
        }
        if w.reviews > 0 {
            let t = &w.tokens_total;
            let _ = writeln!(
                out,
                "  spent     {} review(s), {} in ({} cached) / {} out tokens",
                w.reviews, t.input, t.cached_input, t.output
            );
        }
        if let Some(a) = &w.approval {
            let (word, note) = if a.current {
                ("current", "the tree is as approved")
            } else {
                ("stale", "edited since")
            };
            let _ = writeln!(
                out,
                "  approval  {} — {}, {}",
                paint(word, style::state(word)),
                line(&a.at),
                note
            );
        }
        match w.head_reviewed {
            Some(true) => {
                let _ = writeln!(out, "  HEAD      reviewed (a review covered its tree)");
            }
            Some(false) => {
                let _ = writeln!(
                    out,
                    "  HEAD      not reviewed as committed (`cxd review --commit HEAD` reviews it)"
                );
            }
            None => {}
        }
        let _ = writeln!(out, "  watches   {}", w.os_watches);
        let _ = writeln!(
            out,
            "  snapshots {:.1} MiB",
            w.snapshot_bytes as f64 / (1024.0 * 1024.0)
        );
        for warning in &w.warnings {
            let _ = writeln!(out, "  warning   {}", lines(warning, "            "));
        }
    }
    out
}

/// The current agent session's review loop: the round, the trend, and per round what the
/// review did to the findings.
fn render_loop(out: &mut String, l: &cxd_proto::status::LoopStatus) {
    let trend = match l.trend {
        Trend::Converging => "converging",
        Trend::Plateau => "plateau",
        Trend::NeedsYou => "needs you",
    };
    let session = l.session.as_deref().map_or_else(
        || "no agent session".to_owned(),
        |s| format!("session {}", line(s)),
    );
    let _ = writeln!(out, "  loop      round {} — {trend} ({session})", l.round);
    let first = (l.round as usize).saturating_sub(l.rounds.len()) + 1;
    for (n, r) in l.rounds.iter().enumerate() {
        let _ = writeln!(
            out,
            "            {:>2}. #{:<4} opened {} ({} blocking), carried {}, fixed {}, withdrawn {}",
            first + n,
            r.review,
            r.opened,
            r.blocking_opened,
            r.carried,
            r.fixed,
            r.withdrawn
        );
    }
}

/// The state with its age and what comes next.
fn state_line(w: &cxd_proto::status::WorkspaceStatus) -> String {
    let age = w.state_for_s.map(duration).unwrap_or_default();
    let text = match w.state {
        WorkspaceState::Settling => format!(
            "settling — {} file(s) changed, review in {}",
            w.pending_files,
            duration(w.settle_in_ms.unwrap_or(0).div_ceil(1000))
        ),
        WorkspaceState::Reviewing => {
            let with = line(w.reviewing_with.as_deref().unwrap_or("codex"));
            match &w.activity {
                Some(a) => format!("reviewing for {age} ({with}) — {}", line(a)),
                None => format!("reviewing for {age} ({with})"),
            }
        }
        WorkspaceState::Halted => format!(
            "halted: {}",
            lines(
                w.error.as_deref().unwrap_or("the last review failed"),
                "            "
            )
        ),
        WorkspaceState::Paused => {
            "paused — edits are recorded; `cxd unpause` resumes reviews".to_owned()
        }
        WorkspaceState::Missing => {
            "missing — the directory is gone; `cxd unwatch` forgets it".to_owned()
        }
        WorkspaceState::Idle => WorkspaceState::Idle.to_string(),
    };
    // Colour the state word at the start of the line.
    match text.split_once([' ', ':']) {
        Some((word, _)) => format!(
            "{}{}",
            paint(word, style::state(w.state.as_str())),
            &text[word.len()..]
        ),
        None => paint(&text, style::state(w.state.as_str())),
    }
}

/// `3s`, `4m12s`, `2h05m`, `3d04h`.
pub fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}
