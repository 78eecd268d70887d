//! The one shape Codex answers in (ARCHITECTURE.md, "The answer"), its strict JSON schema,
//! and parsing it.

use cxd_proto::domain::{Ruling, Severity, Verdict};
use serde::{Deserialize, Serialize};

use crate::finding::Finding;

/// The verdicts Codex may give: a review's [`Verdict`] also has failures, which a model's answer
/// must never be able to claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerVerdict {
    /// Codex found nothing that must change before the work is done.
    Approve,
    /// Codex wants changes; the findings say which.
    ChangesRequested,
}

impl From<AnswerVerdict> for Verdict {
    fn from(v: AnswerVerdict) -> Self {
        match v {
            AnswerVerdict::Approve => Verdict::Approve,
            AnswerVerdict::ChangesRequested => Verdict::ChangesRequested,
        }
    }
}

/// The whole answer, exactly as the output schema allows it (unknown fields are refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// Codex's verdict; it can never claim a failure such as `error`.
    pub verdict: AnswerVerdict,
    /// A few sentences on what the change does, shown in status and the hooks.
    pub summary: String,
    /// Problems this review found that are not among the listed open findings.
    pub findings: Vec<Finding>,
    /// Ids of earlier open findings the change fixes.
    pub fixed_finding_ids: Vec<String>,
    /// One ruling per disputed finding the prompt listed. The schema requires it; an answer
    /// without it (a model on an older schema) rules on nothing.
    #[serde(default)]
    pub rulings: Vec<AnswerRuling>,
    /// Ids of earlier open findings that are still there, so carried-over findings are
    /// explicit (absent in answers of older schemas: none).
    #[serde(default)]
    pub still_open_ids: Vec<String>,
}

/// Codex's decision on one disputed finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerRuling {
    /// The disputed finding's id (`F3`).
    pub id: String,
    /// withdraw | uphold (another word fails the parse)
    pub ruling: Ruling,
    /// One line: why.
    pub reply: String,
}

/// The categories a finding may have: the schema's enum and the parser's check both use this list.
pub const CATEGORIES: [&str; 7] = [
    "bug",
    "security",
    "performance",
    "edge-case",
    "architecture",
    "test",
    "style",
];

/// Why a final message is not a valid answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the answer does not match the review schema: {0}")]
pub struct AnswerError(pub String);

impl Answer {
    /// Parse and check a final message.
    pub fn parse(text: &str) -> Result<Self, AnswerError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(AnswerError("the final message is empty".into()));
        }
        let answer: Answer =
            serde_json::from_str(trimmed).map_err(|e| AnswerError(e.to_string()))?;
        for (i, f) in answer.findings.iter().enumerate() {
            if !CATEGORIES.contains(&f.category.as_str()) {
                return Err(AnswerError(format!(
                    "finding {i}: unknown category {:?}",
                    f.category
                )));
            }
            if !(0.0..=1.0).contains(&f.confidence) {
                return Err(AnswerError(format!(
                    "finding {i}: confidence {} is outside 0..1",
                    f.confidence
                )));
            }
            if f.title.trim().is_empty() {
                return Err(AnswerError(format!("finding {i}: empty title")));
            }
        }
        Ok(answer)
    }
}

/// The `--output-schema` document, in the strict structured-output dialect: every object has
/// `additionalProperties: false` and lists all its properties as required.
pub fn schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["verdict", "summary", "findings", "fixed_finding_ids", "still_open_ids", "rulings"],
        "properties": {
            "verdict": {"type": "string", "enum": ["approve", "changes_requested"]},
            "summary": {"type": "string"},
            "findings": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["severity", "category", "file", "line_start", "line_end",
                                 "title", "body", "recommendation", "confidence"],
                    "properties": {
                        "severity": {"type": "string", "enum": Severity::WORDS},
                        "category": {"type": "string", "enum": CATEGORIES},
                        "file": {"type": "string"},
                        "line_start": {"type": "integer"},
                        "line_end": {"type": "integer"},
                        "title": {"type": "string"},
                        "body": {"type": "string"},
                        "recommendation": {"type": "string"},
                        "confidence": {"type": "number"}
                    }
                }
            },
            "fixed_finding_ids": {"type": "array", "items": {"type": "string"}},
            "still_open_ids": {"type": "array", "items": {"type": "string"}},
            "rulings": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["id", "ruling", "reply"],
                    "properties": {
                        "id": {"type": "string"},
                        "ruling": {"type": "string", "enum": Ruling::WORDS},
                        "reply": {"type": "string"}
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::finding;

    #[test]
    fn parses_a_full_answer() {
        let text = serde_json::json!({"verdict": "changes_requested", "summary": "s",
            "findings": [finding("off by one").file("src/a.rs").lines(3, 4).confidence(0.8).json()], "fixed_finding_ids": ["F1"], "still_open_ids": ["F2", "nonsense"]})
        .to_string();
        let a = Answer::parse(&text).unwrap();
        assert_eq!(a.still_open_ids, ["F2", "nonsense"]);
        assert_eq!(a.verdict, AnswerVerdict::ChangesRequested);
        assert_eq!(a.findings[0].severity, Severity::High);
        assert_eq!(a.findings[0].line_start, 3);
        assert_eq!(a.fixed_finding_ids, ["F1"]);
    }

    #[test]
    fn rejects_what_does_not_match() {
        assert!(Answer::parse("").is_err());
        assert!(Answer::parse("Looks fine to me!").is_err());
        assert!(
            Answer::parse(
                r#"{"verdict":"maybe","summary":"","findings":[],"fixed_finding_ids":[]}"#
            )
            .is_err()
        );
        let mut f = finding("off by one")
            .file("src/a.rs")
            .lines(3, 4)
            .confidence(0.8)
            .json();
        f["severity"] = "severe".into();
        let text = serde_json::json!({"verdict": "approve", "summary": "s", "findings": [f], "fixed_finding_ids": []});
        let e = Answer::parse(&text.to_string()).unwrap_err().0;
        assert!(
            e.contains("unknown variant `severe`, expected one of `info`"),
            "{e}"
        );
        // A model may not claim a failure verdict for itself.
        for verdict in ["error", "interrupted", "running"] {
            let text = serde_json::json!({"verdict": verdict, "summary": "s", "findings": [], "fixed_finding_ids": []});
            assert!(Answer::parse(&text.to_string()).is_err(), "{verdict}");
        }
        let mut f = finding("off by one")
            .file("src/a.rs")
            .lines(3, 4)
            .confidence(0.8)
            .json();
        f["confidence"] = 3.into();
        let text = serde_json::json!({"verdict": "approve", "summary": "s", "findings": [f], "fixed_finding_ids": []});
        assert!(Answer::parse(&text.to_string()).is_err());
    }

    #[test]
    fn rulings_parse_and_an_unknown_ruling_fails_the_schema() {
        let text = serde_json::json!({"verdict": "approve", "summary": "s", "findings": [],
            "fixed_finding_ids": [], "rulings": [
                {"id": "F3", "ruling": "withdraw", "reply": "right, the caller checks"},
                {"id": "F4", "ruling": "uphold", "reply": "still overflows"}]})
        .to_string();
        let a = Answer::parse(&text).unwrap();
        assert_eq!(
            a.rulings
                .iter()
                .map(|r| (r.id.as_str(), r.ruling))
                .collect::<Vec<_>>(),
            [("F3", Ruling::Withdraw), ("F4", Ruling::Uphold)]
        );
        assert_eq!(a.rulings[1].reply, "still overflows");
        // Without rulings (an older schema): no rulings, not a failure.
        let old = r#"{"verdict":"approve","summary":"","findings":[],"fixed_finding_ids":[]}"#;
        assert!(Answer::parse(old).unwrap().rulings.is_empty());
        for bad in [
            serde_json::json!({"id": "F3", "ruling": "maybe", "reply": "r"}),
            serde_json::json!({"id": "F3", "ruling": "withdraw"}),
            serde_json::json!({"id": "F3", "ruling": "uphold", "reply": "r", "extra": 1}),
        ] {
            let text = serde_json::json!({"verdict": "approve", "summary": "s", "findings": [],
                "fixed_finding_ids": [], "rulings": [bad]});
            assert!(Answer::parse(&text.to_string()).is_err(), "{text}");
        }
        let rulings = &schema()["properties"]["rulings"]["items"];
        assert_eq!(
            rulings["properties"]["ruling"]["enum"],
            serde_json::json!(["withdraw", "uphold"])
        );
    }

    /// Every object in the schema is strict: no extra properties, all properties required.
    #[test]
    fn schema_is_in_the_strict_dialect() {
        fn check(v: &serde_json::Value) {
            if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
                assert_eq!(v["additionalProperties"], false, "{v}");
                let mut required: Vec<&str> = v["required"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap())
                    .collect();
                let mut keys: Vec<&str> = props.keys().map(String::as_str).collect();
                required.sort_unstable();
                keys.sort_unstable();
                assert_eq!(required, keys);
                props.values().for_each(check);
            }
            if let Some(items) = v.get("items") {
                check(items);
            }
        }
        check(&schema());
    }
}
