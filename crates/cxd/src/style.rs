//! Colour for people: styles are written as ANSI codes and printed through `anstream`, which
//! strips them when stdout is not a terminal or `NO_COLOR` is set.

use anstyle::{AnsiColor, Style};
use cxd_proto::domain::Severity;

/// `text` wrapped in `style`'s ANSI codes; printing through `anstream` strips them where
/// colour is off.
pub fn paint(text: &str, style: Style) -> String {
    format!("{}{text}{}", style.render(), style.render_reset())
}

/// The colour of a severity in lists: red for critical and high, down to dimmed for info.
pub fn severity(s: Severity) -> Style {
    match s {
        Severity::Critical => AnsiColor::Red.on_default().bold(),
        Severity::High => AnsiColor::Red.on_default(),
        Severity::Medium => AnsiColor::Yellow.on_default(),
        Severity::Low => AnsiColor::Cyan.on_default(),
        Severity::Info => Style::new().dimmed(),
    }
}

/// The style of a workspace state or verdict word.
pub fn state(s: &str) -> Style {
    match s {
        "idle" | "approve" | "pass" | "current" => AnsiColor::Green.on_default(),
        "settling" | "reviewing" | "paused" | "stale" => AnsiColor::Yellow.on_default(),
        "halted" | "missing" | "error" | "changes_requested" | "fail" | "interrupted" => {
            AnsiColor::Red.on_default().bold()
        }
        _ => Style::new(),
    }
}

/// The style of headings and field labels in human output.
pub fn bold() -> Style {
    Style::new().bold()
}
