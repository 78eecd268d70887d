//! Colour for people: styles are written as ANSI codes and printed through `anstream`, which
//! strips them when stdout is not a terminal or `NO_COLOR` is set.

use anstyle::{AnsiColor, Style};

/// `text` wrapped in `style`'s ANSI codes; printing through `anstream` strips them where
/// colour is off.
pub fn paint(text: &str, style: Style) -> String {
    format!("{}{text}{}", style.render(), style.render_reset())
}

/// The style of a severity word.
pub fn severity(s: &str) -> Style {
    match s {
        "critical" => AnsiColor::Red.on_default().bold(),
        "high" => AnsiColor::Red.on_default(),
        "medium" => AnsiColor::Yellow.on_default(),
        "low" => AnsiColor::Cyan.on_default(),
        _ => Style::new().dimmed(),
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
