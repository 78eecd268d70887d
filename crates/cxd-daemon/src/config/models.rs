//! Which model and effort a review runs with, and why: a section per purpose (`[review.edit]`,
//! `[review.stop]`, `[review.manual]`, `[review.plan]`, `[review.commit]`) falling back to
//! `[review]`, and a size rule that sends a big change to `review.large_model`.

use cxd_proto::domain::Trigger;
use serde::{Deserialize, Serialize};

use super::ReviewConfig;

/// `[review.<purpose>]`: the model and effort for one purpose; unset keys fall back to
/// `[review]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PurposeConfig {
    /// Model for this purpose (unset: `review.model`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Effort for this purpose (unset: `review.effort`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
}

/// The purposes a config section exists for, by the name of their section.
pub const PURPOSES: &[&str] = &["edit", "stop", "manual", "plan", "commit"];

/// The section (`[review.<name>]`) that configures reviews of `trigger`: a review the agent
/// asked for is configured like a manual one.
pub fn purpose_of(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Edit => "edit",
        Trigger::Stop => "stop",
        Trigger::Manual | Trigger::Agent => "manual",
        Trigger::Plan => "plan",
        Trigger::Commit | Trigger::Range => "commit",
    }
}

/// How a purpose is named in status and the log.
fn label(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Edit => "edit review",
        Trigger::Stop => "stop-hook review",
        Trigger::Manual => "manual review",
        Trigger::Agent => "agent review",
        Trigger::Plan => "plan validation",
        Trigger::Commit => "commit review",
        Trigger::Range => "range review",
    }
}

/// The size of a change, as the size rule weighs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeSize {
    /// Files changed.
    pub files: u64,
    /// Lines inserted plus lines deleted.
    pub lines: u64,
}

impl ChangeSize {
    /// How big `diff` is, as the size rule weighs it.
    pub fn of(diff: &crate::snapshot::Diff) -> Self {
        Self {
            files: diff.files.len() as u64,
            lines: diff.insertions() + diff.deletions(),
        }
    }
}

/// The model and effort one review runs with, and the words that say why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelChoice {
    /// Passed to codex's `-m`.
    pub model: String,
    /// Passed as `model_reasoning_effort`.
    pub effort: String,
    /// E.g. "edit review, small: gpt-5.1-codex-mini low".
    pub reason: String,
}

impl ReviewConfig {
    /// The section for `purpose` (one of [`PURPOSES`]).
    pub fn purpose(&self, purpose: &str) -> &PurposeConfig {
        match purpose {
            "edit" => &self.edit,
            "stop" => &self.stop,
            "plan" => &self.plan,
            "commit" => &self.commit,
            _ => &self.manual,
        }
    }

    /// Every `[review.<purpose>]` section with its name.
    pub fn purposes(&self) -> [(&'static str, &PurposeConfig); 5] {
        [
            ("edit", &self.edit),
            ("stop", &self.stop),
            ("manual", &self.manual),
            ("plan", &self.plan),
            ("commit", &self.commit),
        ]
    }

    /// Whether a change of `size` counts as large.
    fn is_large(&self, size: ChangeSize) -> bool {
        size.lines >= self.large_diff_lines || size.files >= self.large_files
    }

    /// The model and effort for a review of `trigger` over a change of `size` (None for a
    /// plan), unless `asked` (`cxd review --model/--effort`) names them.
    pub fn choose(
        &self,
        trigger: Trigger,
        size: Option<ChangeSize>,
        asked: (Option<String>, Option<String>),
    ) -> ModelChoice {
        self.choose_for(purpose_of(trigger), label(trigger), size, asked)
    }

    /// [`Self::choose`] by section name and label.
    pub fn choose_for(
        &self,
        purpose: &str,
        label: &str,
        size: Option<ChangeSize>,
        asked: (Option<String>, Option<String>),
    ) -> ModelChoice {
        let section = self.purpose(purpose);
        let mut model = section.model.clone().unwrap_or_else(|| self.model.clone());
        let mut effort = section
            .effort
            .clone()
            .unwrap_or_else(|| self.effort.clone());
        let mut why = match size {
            None => String::new(),
            Some(s) if !self.is_large(s) => ", small".to_owned(),
            Some(s) => {
                let what = format!(", large ({} lines, {} files)", s.lines, s.files);
                match &self.large_model {
                    Some(large) => {
                        model = large.clone();
                        if let Some(e) = &self.large_effort {
                            effort = e.clone();
                        }
                        what
                    }
                    None => format!("{what}, no review.large_model"),
                }
            }
        };
        if asked.0.is_some() || asked.1.is_some() {
            why.push_str(", as asked");
        }
        let model = asked.0.unwrap_or(model);
        let effort = asked.1.unwrap_or(effort);
        ModelChoice {
            reason: format!("{label}{why}: {model} {effort}"),
            model,
            effort,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config(text: &str) -> ReviewConfig {
        Config::parse(std::path::Path::new("/c.toml"), text)
            .unwrap()
            .review
    }

    const SMALL: Option<ChangeSize> = Some(ChangeSize { files: 1, lines: 3 });

    #[test]
    fn a_purpose_section_wins_and_unset_keys_fall_back_to_review() {
        let c = config(
            "[review]\nmodel = \"base\"\neffort = \"medium\"\n[review.edit]\nmodel = \"mini\"\neffort = \"low\"\n[review.stop]\neffort = \"high\"\n",
        );
        let edit = c.choose(Trigger::Edit, SMALL, (None, None));
        assert_eq!((edit.model.as_str(), edit.effort.as_str()), ("mini", "low"));
        assert_eq!(edit.reason, "edit review, small: mini low");
        let stop = c.choose(Trigger::Stop, SMALL, (None, None));
        assert_eq!(stop.reason, "stop-hook review, small: base high");
        let plan = c.choose(Trigger::Plan, None, (None, None));
        assert_eq!(plan.reason, "plan validation: base medium");
        let agent = c.choose(Trigger::Agent, SMALL, (None, None));
        assert_eq!(agent.reason, "agent review, small: base medium");
        let commit = c.choose_for("commit", "commit review", SMALL, (None, None));
        assert_eq!(commit.model, "base");
    }

    #[test]
    fn a_big_change_goes_to_the_large_model_by_lines_or_files() {
        let c = config(
            "[review]\nmodel = \"base\"\nlarge_model = \"big\"\nlarge_effort = \"high\"\nlarge_diff_lines = 100\nlarge_files = 5\n[review.edit]\nmodel = \"mini\"\n",
        );
        let by_lines = c.choose(
            Trigger::Edit,
            Some(ChangeSize {
                files: 1,
                lines: 100,
            }),
            (None, None),
        );
        assert_eq!(
            by_lines.reason,
            "edit review, large (100 lines, 1 files): big high"
        );
        let by_files = c.choose(
            Trigger::Manual,
            Some(ChangeSize { files: 5, lines: 1 }),
            (None, None),
        );
        assert_eq!(by_files.model, "big");
        let small = c.choose(
            Trigger::Edit,
            Some(ChangeSize {
                files: 4,
                lines: 99,
            }),
            (None, None),
        );
        assert_eq!(small.model, "mini");
    }

    #[test]
    fn without_a_large_model_a_big_change_keeps_its_model_and_says_so() {
        let c = config("[review]\nmodel = \"base\"\nlarge_diff_lines = 10\n");
        let ch = c.choose(
            Trigger::Edit,
            Some(ChangeSize {
                files: 1,
                lines: 50,
            }),
            (None, None),
        );
        assert_eq!(ch.model, "base");
        assert!(ch.reason.contains("no review.large_model"), "{}", ch.reason);
    }

    #[test]
    fn what_the_user_asked_for_wins() {
        let c = config("[review]\nlarge_model = \"big\"\nlarge_diff_lines = 1\n");
        let ch = c.choose(
            Trigger::Manual,
            Some(ChangeSize {
                files: 9,
                lines: 900,
            }),
            (Some("x".into()), None),
        );
        assert_eq!(ch.model, "x");
        assert_eq!(
            ch.reason,
            "manual review, large (900 lines, 9 files), as asked: x medium"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            (
                "[budget]\nreviews_per_hour = 0\n",
                "budget.reviews_per_hour",
            ),
            (
                "[budget]\ninput_tokens_per_day = 0\n",
                "budget.input_tokens_per_day",
            ),
            ("[review.edit]\nmodel = \"-x\"\n", "review.edit.model"),
            ("[review.plan]\neffort = \"\"\n", "review.plan.effort"),
            ("[review]\nlarge_model = \"a b\"\n", "review.large_model"),
            (
                "[review]\nlarge_diff_lines = 0\n",
                "review.large_diff_lines",
            ),
            ("[review]\nlarge_files = 0\n", "review.large_files"),
        ] {
            let err = Config::parse(std::path::Path::new("/c.toml"), text)
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{text}: {err}");
            assert!(err.starts_with("/c.toml:2:"), "{text}: {err}");
        }
        let err = Config::parse(
            std::path::Path::new("/c.toml"),
            "[review.edit]\nmodle = \"x\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("modle"), "{err}");
        for text in [
            "[budget]\n\nreviews_per_hour = -1\n",
            "[budget]\n\ninput_tokens_per_day = \"lots\"\n",
        ] {
            let err = Config::parse(std::path::Path::new("/c.toml"), text)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("/c.toml:3:"), "{text}: {err}");
        }
    }
}
