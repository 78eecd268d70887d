//! Builders for what the fake codex answers with: one finding, and one answer step.
//!
//! `finding("off by one").severity("low").file("README").line(2)` and
//! `answer([finding("overflow")]).fixed(&["F1"])` give the JSON of the fake codex's script; both
//! serialize as that JSON, so they stand inside `json!` and convert `Into<Value>`.

use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

/// A finding as the fake codex reports it; every field has a default until set.
#[derive(Clone, Debug)]
pub struct FindingJson(Map<String, Value>);

/// A finding titled `title`: high, bug, src.rs line 1, body "b", recommendation "r", 0.9 sure.
pub fn finding(title: &str) -> FindingJson {
    let Value::Object(map) = json!({
        "severity": "high", "category": "bug", "file": "src.rs", "line_start": 1, "line_end": 1,
        "title": title, "body": "b", "recommendation": "r", "confidence": 0.9,
    }) else {
        unreachable!("a json object literal is an object")
    };
    FindingJson(map)
}

impl FindingJson {
    /// Sets any field to any value (one a test means to get wrong, say).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }
    /// Sets the severity.
    pub fn severity(self, severity: &str) -> Self {
        self.with("severity", severity)
    }
    /// Sets the category.
    pub fn category(self, category: &str) -> Self {
        self.with("category", category)
    }
    /// Sets the file ("" for none).
    pub fn file(self, file: &str) -> Self {
        self.with("file", file)
    }
    /// Sets the one line it covers (start and end alike).
    pub fn line(self, line: i64) -> Self {
        self.lines(line, line)
    }
    /// Sets the lines it covers.
    pub fn lines(self, start: i64, end: i64) -> Self {
        self.with("line_start", start).with("line_end", end)
    }
    /// Sets the body.
    pub fn body(self, body: &str) -> Self {
        self.with("body", body)
    }
    /// Sets the recommendation.
    pub fn recommendation(self, recommendation: &str) -> Self {
        self.with("recommendation", recommendation)
    }
    /// Sets the confidence.
    pub fn confidence(self, confidence: f64) -> Self {
        self.with("confidence", confidence)
    }
    /// The JSON the fake codex reports.
    pub fn json(self) -> Value {
        Value::Object(self.0)
    }
}

impl From<FindingJson> for Value {
    fn from(f: FindingJson) -> Value {
        f.json()
    }
}

impl Serialize for FindingJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// One answer step of the fake codex's script: its answer and, if set, its token usage.
#[derive(Clone, Debug)]
pub struct AnswerJson {
    answer: Map<String, Value>,
    usage: Option<Value>,
}

/// An answer with these findings: "changes_requested" with findings and "approve" without,
/// summary "s", nothing fixed; no still-open ids, rulings or usage until set.
pub fn answer(findings: impl IntoIterator<Item = FindingJson>) -> AnswerJson {
    let findings: Vec<Value> = findings.into_iter().map(FindingJson::json).collect();
    let verdict = if findings.is_empty() {
        "approve"
    } else {
        "changes_requested"
    };
    let Value::Object(answer) = json!({
        "verdict": verdict, "summary": "s", "findings": findings, "fixed_finding_ids": [],
    }) else {
        unreachable!("a json object literal is an object")
    };
    AnswerJson {
        answer,
        usage: None,
    }
}

impl AnswerJson {
    /// Sets any field of the answer to any value.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.answer.insert(key.to_owned(), value.into());
        self
    }
    /// Sets the verdict.
    pub fn verdict(self, verdict: &str) -> Self {
        self.with("verdict", verdict)
    }
    /// Sets the summary.
    pub fn summary(self, summary: &str) -> Self {
        self.with("summary", summary)
    }
    /// Sets the ids it says are fixed.
    pub fn fixed(self, ids: &[&str]) -> Self {
        self.with("fixed_finding_ids", json!(ids))
    }
    /// Sets the ids it says are still open.
    pub fn still_open(self, ids: &[&str]) -> Self {
        self.with("still_open_ids", json!(ids))
    }
    /// Sets its rulings on disputes.
    pub fn rulings(self, rulings: Value) -> Self {
        self.with("rulings", rulings)
    }
    /// Sets the token usage it reports.
    pub fn usage(mut self, input: u64, cached_input: u64, output: u64) -> Self {
        self.usage = Some(
            json!({"input_tokens": input, "cached_input_tokens": cached_input,
                                 "output_tokens": output}),
        );
        self
    }
    /// The step as the fake codex's script holds it.
    pub fn json(self) -> Value {
        let mut step = json!({"answer": Value::Object(self.answer)});
        if let Some(usage) = self.usage {
            step["usage"] = usage;
        }
        step
    }
}

impl From<AnswerJson> for Value {
    fn from(a: AnswerJson) -> Value {
        a.json()
    }
}

impl Serialize for AnswerJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.clone().json().serialize(s)
    }
}
