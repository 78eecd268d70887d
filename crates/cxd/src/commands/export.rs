//! `cxd export`: a workspace's findings as SARIF 2.1.0 (code-scanning UIs) or reviewdog rdjsonl.
//!
//! Findings about the change as a whole (`file` = "") have no place in a file:
//! - SARIF: the result carries no `locations` (allowed by SARIF §3.27.12). GitHub code scanning
//!   rejects a whole upload with such a result; use `cxd findings --json` for those.
//! - rdjsonl: the diagnostic has `"location": {"path": ""}` and no range, which reviewdog parses
//!   and reports only with `-filter-mode=nofilter` (no diff line can hold it).
//!
//! Paths are relative to the workspace root: run reviewdog from the repository's root.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use cxd_proto::domain::{FindingStatus, Severity};
use cxd_proto::limits;
use cxd_proto::paths::Paths;
use cxd_proto::status::Finding;
use cxd_proto::{Request, Response};
use serde_json::{Map, Value, json};

use super::abs_path;
use crate::client::Client;
use crate::exit::{Failure, UNREACHABLE};

/// `cxd export`
#[derive(Debug, Args)]
#[command(
    after_help = "Findings about the change as a whole (no file) get no location in \
SARIF (GitHub code scanning refuses such results) and `\"location\": {\"path\": \"\"}` in \
rdjsonl (reviewdog shows them with -filter-mode=nofilter). Paths are relative to the \
repository root."
)]
pub struct ExportArgs {
    /// A path inside the workspace (default: the current directory).
    pub path: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Include resolved and dismissed findings (SARIF marks dismissed ones as suppressed).
    #[arg(long)]
    pub all: bool,
}

/// What `cxd export` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// SARIF 2.1.0: one JSON document with one run.
    Sarif,
    /// reviewdog's rdjsonl: one JSON Diagnostic a line.
    Rdjsonl,
}

/// The SARIF schema this output follows.
const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The `uriBaseId` that stands for the workspace root.
const ROOT_BASE: &str = "SRCROOT";

/// Fetch the findings and print them in the chosen format.
pub fn run(paths: &Paths, args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let path = abs_path(args.path.as_deref())?;
    let mut client = Client::connect(paths)?;
    let findings = super::findings::fetch_all(&mut client, &path, args.all, None)?;
    let root = match client.request(&Request::Status {
        path: Some(path.clone()),
    })? {
        Response::Status(report) => report.workspaces.into_iter().next().map(|w| w.root),
        other => return Err(unexpected("status", &other).into()),
    };
    let root = root.ok_or_else(|| {
        Failure::new(
            UNREACHABLE,
            format!(
                "the daemon no longer watches a workspace holding {}: run `cxd watch {}`",
                path.display(),
                path.display()
            ),
        )
    })?;
    match args.format {
        Format::Sarif => {
            println!("{}", crate::sanitize::json(&sarif(&findings, &root), true)?);
        }
        Format::Rdjsonl => print!("{}", rdjsonl(&findings, &root)),
    }
    Ok(ExitCode::SUCCESS)
}

fn unexpected(what: &str, reply: &Response) -> Failure {
    Failure::new(
        UNREACHABLE,
        format!("unexpected reply to {what} from the daemon: {reply:?}"),
    )
}

/// The findings as a SARIF 2.1.0 log with one run; `root` is the workspace root.
pub fn sarif(findings: &[Finding], root: &Path) -> Value {
    let mut categories: Vec<&str> = findings.iter().map(|f| f.category.as_str()).collect();
    categories.sort_unstable();
    categories.dedup();
    let rules: Vec<Value> = categories
        .iter()
        .map(|c| {
            json!({
                "id": c,
                "shortDescription": {"text": rule_description(c)},
                "properties": {"tags": [c]},
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut r = Map::new();
            r.insert("ruleId".into(), json!(f.category));
            if let Ok(i) = categories.binary_search(&f.category.as_str()) {
                r.insert("ruleIndex".into(), json!(i));
            }
            r.insert("level".into(), json!(sarif_level(f.severity)));
            r.insert("message".into(), json!({"text": message(f)}));
            if let Some((file, lines)) = place(f, root) {
                let mut physical = Map::new();
                physical.insert(
                    "artifactLocation".into(),
                    json!({"uri": uri_path(&file), "uriBaseId": ROOT_BASE}),
                );
                if let Some((start, end)) = lines {
                    physical.insert("region".into(), json!({"startLine": start, "endLine": end}));
                }
                r.insert(
                    "locations".into(),
                    json!([{"physicalLocation": Value::Object(physical)}]),
                );
            }
            r.insert(
                "partialFingerprints".into(),
                json!({"cxdFindingId/v1": f.id}),
            );
            if matches!(
                f.status,
                FindingStatus::Dismissed | FindingStatus::Withdrawn
            ) {
                r.insert("suppressions".into(), json!([{"kind": "external"}]));
            }
            r.insert(
                "properties".into(),
                json!({
                    "severity": f.severity,
                    "confidence": f.confidence,
                    "status": f.status,
                    "findingId": f.id,
                    "firstReview": f.first_review,
                    "lastReview": f.last_review,
                }),
            );
            Value::Object(r)
        })
        .collect();
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "cxd",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "originalUriBaseIds": {ROOT_BASE: {"uri": dir_uri(root)}},
            "results": results,
        }],
    })
}

/// Where a finding points, as an export may show it: a repository-relative file and sane
/// lines, or None (no location) for the change as a whole and for a file that cannot be made
/// relative to `root` (`../..`, an absolute path elsewhere).
fn place(f: &Finding, root: &Path) -> Option<(String, Option<(i64, i64)>)> {
    let file = limits::normalize_file(&f.file, Some(root)).filter(|p| !p.is_empty())?;
    let lines = match limits::normalize_lines(f.line_start, f.line_end) {
        (0, _) => None,
        lines => Some(lines),
    };
    Some((file, lines))
}

/// The findings as reviewdog rdjsonl: one Diagnostic a line, each line ending in `\n`; `root`
/// is the workspace root.
pub fn rdjsonl(findings: &[Finding], root: &Path) -> String {
    let mut out = String::new();
    for f in findings {
        let mut location = Map::new();
        match place(f, root) {
            Some((file, lines)) => {
                location.insert("path".into(), json!(file));
                if let Some((start, end)) = lines {
                    location.insert(
                        "range".into(),
                        json!({"start": {"line": start}, "end": {"line": end}}),
                    );
                }
            }
            None => {
                location.insert("path".into(), json!(""));
            }
        }
        let d = json!({
            "message": message(f),
            "location": location,
            "severity": rdjson_severity(f.severity),
            "source": {"name": "cxd"},
            "code": {"value": f.id},
        });
        let _ = writeln!(out, "{}", crate::sanitize::json_text(d.to_string()));
    }
    out
}

/// SARIF `level`: critical/high → error, medium → warning, anything else → note.
fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// reviewdog `severity`: critical/high → ERROR, medium → WARNING, anything else → INFO.
fn rdjson_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "ERROR",
        Severity::Medium => "WARNING",
        Severity::Low | Severity::Info => "INFO",
    }
}

/// Title, body and recommendation, blank-line separated, empty parts left out.
fn message(f: &Finding) -> String {
    let mut parts = vec![f.title.trim().to_owned()];
    if !f.body.trim().is_empty() {
        parts.push(f.body.trim().to_owned());
    }
    if !f.recommendation.trim().is_empty() {
        parts.push(format!("Recommendation: {}", f.recommendation.trim()));
    }
    parts.join("\n\n")
}

fn rule_description(category: &str) -> String {
    match category {
        "bug" => "Incorrect behaviour".to_owned(),
        "security" => "A security weakness".to_owned(),
        "performance" => "Needless cost in time or memory".to_owned(),
        "edge-case" => "An input or state the code does not handle".to_owned(),
        "architecture" => "A structural or design problem".to_owned(),
        "test" => "Missing or weak tests".to_owned(),
        "style" => "Readability and convention".to_owned(),
        other => format!("cxd findings in category {other}"),
    }
}

/// A relative path as a URI reference: `/`-separated, everything but unreserved bytes escaped.
fn uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// An absolute directory as a `file://` URI ending in `/`.
fn dir_uri(dir: &Path) -> String {
    use std::os::unix::ffi::OsStrExt as _;
    let raw = dir.as_os_str().as_bytes();
    let mut path = uri_path(&String::from_utf8_lossy(raw));
    if !path.ends_with('/') {
        path.push('/');
    }
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    format!("file://{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &str, severity: &str, category: &str, file: &str, lines: (i64, i64)) -> Finding {
        Finding {
            id: id.into(),
            severity: severity.parse().unwrap(),
            category: category.into(),
            file: file.into(),
            line_start: lines.0,
            line_end: lines.1,
            title: format!("title {id}"),
            body: "what and why".into(),
            recommendation: "the fix".into(),
            confidence: 0.75,
            status: FindingStatus::Open,
            first_review: 1,
            last_review: 2,
            dispute: None,
            seen: 1,
            outdated: false,
        }
    }

    fn sample() -> Vec<Finding> {
        let mut dismissed = finding("F3", "low", "bug", "src/a b.rs", (4, 0));
        dismissed.status = FindingStatus::Dismissed;
        vec![
            finding("F1", "critical", "security", "src/lib.rs", (10, 12)),
            finding("F2", "medium", "bug", "", (0, 0)),
            dismissed,
            finding("F4", "info", "style", "README", (0, 0)),
        ]
    }

    #[test]
    fn sarif_has_one_run_with_rules_from_categories() {
        let log = sarif(&sample(), Path::new("/work/my repo"));
        assert_eq!(log["version"], "2.1.0");
        let runs = log["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 1);
        let driver = &runs[0]["tool"]["driver"];
        assert_eq!(driver["name"], "cxd");
        assert!(driver.get("informationUri").is_none());
        let ids: Vec<_> = driver["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["bug", "security", "style"]);
        assert_eq!(
            runs[0]["originalUriBaseIds"]["SRCROOT"]["uri"],
            "file:///work/my%20repo/"
        );
    }

    #[test]
    fn sarif_results_map_level_location_and_fingerprint() {
        let log = sarif(&sample(), Path::new("/r"));
        let results = log["runs"][0]["results"].as_array().unwrap();
        let r = &results[0];
        assert_eq!(r["ruleId"], "security");
        assert_eq!(r["ruleIndex"], 1);
        assert_eq!(r["level"], "error");
        let text = r["message"]["text"].as_str().unwrap();
        assert!(text.contains("title F1") && text.contains("what and why"));
        assert!(text.contains("Recommendation: the fix"), "{text}");
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "src/lib.rs");
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "SRCROOT");
        assert_eq!(loc["region"], json!({"startLine": 10, "endLine": 12}));
        assert_eq!(r["partialFingerprints"]["cxdFindingId/v1"], "F1");
        assert_eq!(r["properties"]["severity"], "critical");
        assert_eq!(r["properties"]["confidence"], 0.75);
        assert_eq!(r["properties"]["status"], "open");
        assert!(r.get("suppressions").is_none());
        // The change as a whole: no location.
        assert_eq!(results[1]["level"], "warning");
        assert!(results[1].get("locations").is_none());
        // Escaped path, an end line before the start is clamped, dismissed is suppressed.
        let loc = &results[2]["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "src/a%20b.rs");
        assert_eq!(loc["region"], json!({"startLine": 4, "endLine": 4}));
        assert_eq!(results[2]["level"], "note");
        assert_eq!(results[2]["suppressions"][0]["kind"], "external");
        // A file without lines: a location without a region.
        let loc = &results[3]["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "README");
        assert!(loc.get("region").is_none());
        assert_eq!(results[3]["level"], "note");
    }

    #[test]
    fn sarif_of_nothing_is_an_empty_run() {
        let log = sarif(&[], Path::new("/r"));
        assert_eq!(log["runs"][0]["results"], json!([]));
        assert_eq!(log["runs"][0]["tool"]["driver"]["rules"], json!([]));
    }

    #[test]
    fn rdjsonl_is_one_diagnostic_a_line() {
        let text = rdjsonl(&sample(), Path::new("/r"));
        assert!(text.ends_with('\n'));
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        let d = &lines[0];
        assert_eq!(d["severity"], "ERROR");
        assert_eq!(d["source"]["name"], "cxd");
        assert_eq!(d["code"]["value"], "F1");
        assert_eq!(
            d["location"],
            json!({"path": "src/lib.rs", "range": {"start": {"line": 10}, "end": {"line": 12}}})
        );
        assert!(
            d["message"]
                .as_str()
                .unwrap()
                .contains("Recommendation: the fix")
        );
        assert_eq!(lines[1]["severity"], "WARNING");
        assert_eq!(lines[1]["location"], json!({"path": ""}));
        assert_eq!(lines[2]["severity"], "INFO");
        assert_eq!(lines[2]["location"]["path"], "src/a b.rs");
        assert_eq!(lines[3]["location"], json!({"path": "README"}));
        assert_eq!(rdjsonl(&[], Path::new("/r")), "");
    }

    #[test]
    fn exports_keep_locations_inside_the_repository() {
        let root = Path::new("/r");
        let findings = vec![
            finding("F1", "high", "bug", "../../etc/passwd", (1, 2)),
            finding("F2", "high", "bug", "/etc/passwd", (1, 2)),
            finding("F3", "high", "bug", "/r/src/a.rs", (i64::MAX, i64::MAX)),
            finding("F4", "high", "bug", "./src/b.rs", (3, i64::MAX)),
        ];
        let log = sarif(&findings, root);
        let results = log["runs"][0]["results"].as_array().unwrap();
        assert!(results[0].get("locations").is_none(), "{:#}", results[0]);
        assert!(results[1].get("locations").is_none(), "{:#}", results[1]);
        let loc = &results[2]["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "src/a.rs");
        assert!(loc.get("region").is_none(), "{loc:#}");
        let loc = &results[3]["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "src/b.rs");
        assert_eq!(loc["region"], json!({"startLine": 3, "endLine": 3}));
        let lines: Vec<Value> = rdjsonl(&findings, root)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["location"], json!({"path": ""}));
        assert_eq!(lines[1]["location"], json!({"path": ""}));
        assert_eq!(lines[2]["location"], json!({"path": "src/a.rs"}));
        assert_eq!(
            lines[3]["location"],
            json!({"path": "src/b.rs", "range": {"start": {"line": 3}, "end": {"line": 3}}})
        );
    }
}
