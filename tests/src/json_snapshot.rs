//! Snapshots of cxd's `--json` output: the whole document, with the values that differ from
//! run to run (timestamps, pids, temp paths, durations, random ids) replaced by a placeholder
//! naming their type, compared with a committed file under `tests/snapshots/`.
//!
//! A field that is renamed, removed, added or changes type makes the snapshot differ; values
//! that a deterministic scenario fixes (verdicts, severities, states, counts, titles) stay
//! literal. Object keys are written sorted (JSON objects have no order); array order is kept.
//!
//! Update the snapshots after an intended change of the output:
//!
//! ```text
//! CXD_UPDATE_SNAPSHOTS=1 cargo nextest run -p cxd-e2e -E 'binary(json_contract)'
//! ```
//!
//! then review `git diff tests/snapshots/`. Under CI (`CI` set and not `false`/`0`) nothing is
//! ever written: a missing or different snapshot fails.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Where the snapshot called `name` lives.
pub fn snapshot_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("snapshots/json_contract")
        .join(format!("{name}.json"))
}

/// What a field called `key` holds when its value varies between runs; None for fields whose
/// value is kept literally.
fn volatile(key: &str) -> Option<Kind> {
    Some(match key {
        // RFC 3339 times.
        "at" | "finished_at" | "started_at" => Kind::Timestamp,
        "pid" => Kind::Unsigned("<u32>"),
        // Durations, watch counts and sizes that depend on timing, the platform or git's
        // diff header.
        "uptime_s" | "duration_ms" | "elapsed_ms" | "state_for_s" | "settle_in_ms"
        | "os_watches" | "snapshot_bytes" | "diff_bytes" | "bytes_on_disk" => {
            Kind::Unsigned("<u64>")
        }
        "version" => Kind::Version,
        // Absolute paths in the test's temporary directory.
        "root" | "workspace" | "socket" | "path" | "state_dir" | "log_dir" => Kind::AbsPath,
        // codex's thread ids are UUIDs it makes up.
        "thread_id" => Kind::Uuid,
        // Git object ids (commits carry the time they were made).
        "tree" | "head" | "from" | "to" | "base_tree" | "to_tree" => Kind::GitOid,
        "sha256" => Kind::Hex("<sha256>", 64),
        _ => return None,
    })
}

/// The type a volatile value must have to be replaced by its placeholder.
#[derive(Clone, Copy)]
enum Kind {
    Timestamp,
    Unsigned(&'static str),
    Version,
    AbsPath,
    Uuid,
    GitOid,
    Hex(&'static str, usize),
}

impl Kind {
    /// The placeholder for `v`, or None when `v` is not of this type (then it stays literal,
    /// so the snapshot shows the surprise). `null` always stays `null`.
    fn placeholder(self, v: &Value) -> Option<&'static str> {
        let s = v.as_str();
        let ok = match self {
            Kind::Timestamp => s.is_some_and(is_rfc3339),
            Kind::Unsigned(_) => v.is_u64(),
            // cxd's own version (the workspace's), not any version: SARIF's "2.1.0" is a
            // constant of the format and stays literal.
            Kind::Version => s == Some(env!("CARGO_PKG_VERSION")),
            Kind::AbsPath => s.is_some_and(|s| s.starts_with('/')),
            Kind::Uuid => s.is_some_and(is_uuid),
            Kind::GitOid => s.is_some_and(|s| is_hex(s) && (s.len() == 40 || s.len() == 64)),
            Kind::Hex(_, n) => s.is_some_and(|s| is_hex(s) && s.len() == n),
        };
        ok.then_some(match self {
            Kind::Timestamp => "<timestamp>",
            Kind::Unsigned(p) | Kind::Hex(p, _) => p,
            Kind::Version => "<version>",
            Kind::AbsPath => "<path>",
            Kind::Uuid => "<uuid>",
            Kind::GitOid => "<git-oid>",
        })
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `2026-11-29T16:58:07Z`, with optional fraction and a `Z` or `±hh:mm` offset.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 {
        return false;
    }
    let shape = |i: usize, c: u8| b.get(i) == Some(&c);
    let digits = |r: std::ops::Range<usize>| s.get(r).is_some_and(is_digits);
    let date_time = digits(0..4)
        && shape(4, b'-')
        && digits(5..7)
        && shape(7, b'-')
        && digits(8..10)
        && (shape(10, b'T') || shape(10, b't'))
        && digits(11..13)
        && shape(13, b':')
        && digits(14..16)
        && shape(16, b':')
        && digits(17..19);
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    let offset = matches!(rest, "Z" | "z")
        || (rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && rest.as_bytes()[3] == b':'
            && is_digits(&rest[1..3])
            && is_digits(&rest[4..6]));
    date_time && offset
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && is_hex(g))
}

/// `value` with every volatile field replaced by its type's placeholder (recursively, by field
/// name), `tmp` (the test's temporary directory) replaced by `<tmp>` inside any other string,
/// and object keys sorted.
pub fn normalise(value: &Value, tmp: &Path) -> Value {
    let tmp = tmp.to_string_lossy();
    // The daemon reports canonical paths: /tmp may be a symlink (macOS: /private/tmp).
    let canonical = std::fs::canonicalize(tmp.as_ref())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| tmp.clone().into_owned());
    normalise_in(value, &[canonical.as_str(), tmp.as_ref()])
}

fn normalise_in(value: &Value, tmp: &[&str]) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                let v = &map[k];
                let placeholder = volatile(k).and_then(|kind| kind.placeholder(v));
                let v = match placeholder {
                    Some(p) => Value::String(p.to_owned()),
                    None => normalise_in(v, tmp),
                };
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| normalise_in(v, tmp)).collect()),
        Value::String(s) => {
            let mut s = s.clone();
            for t in tmp {
                if !t.is_empty() {
                    s = s.replace(t, "<tmp>");
                }
            }
            Value::String(s)
        }
        other => other.clone(),
    }
}

/// Is this run under CI, where snapshots are only ever compared?
fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn update_requested() -> bool {
    std::env::var("CXD_UPDATE_SNAPSHOTS").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Compare `value` (normalised against the test's temporary directory `tmp`) with the
/// snapshot `name`; panics with a line diff when they differ or the snapshot is missing.
/// With `CXD_UPDATE_SNAPSHOTS=1` (and not under CI) the snapshot is written instead.
pub fn assert_json_snapshot(name: &str, value: &Value, tmp: &Path) {
    let normalised = normalise(value, tmp);
    let actual = serde_json::to_string_pretty(&normalised).unwrap() + "\n";
    let path = snapshot_path(name);
    let expected = std::fs::read_to_string(&path).ok();
    if expected.as_deref() == Some(actual.as_str()) {
        return;
    }
    let update = "CXD_UPDATE_SNAPSHOTS=1 cargo nextest run -p cxd-e2e -E 'binary(json_contract)'";
    if update_requested() && !under_ci() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        eprintln!("wrote snapshot {}", path.display());
        return;
    }
    match expected {
        None => panic!(
            "the snapshot {} is missing{}; the output is:\n{actual}\nwrite it with `{update}` \
             (never under CI) and commit it",
            path.display(),
            if under_ci() {
                " (CI never writes snapshots)"
            } else {
                ""
            }
        ),
        Some(expected) => panic!(
            "`{name}` differs from its snapshot {} (- snapshot, + now):\n{}\nIf the change is \
             intended (a field may be added, never renamed or removed), update it with \
             `{update}` and review `git diff tests/snapshots/`",
            path.display(),
            line_diff(&expected, &actual)
        ),
    }
}

/// A unified-style line diff of two small texts (longest common subsequence).
fn line_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out += &format!("  {}\n", a[i]);
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out += &format!("- {}\n", a[i]);
            i += 1;
        } else {
            out += &format!("+ {}\n", b[j]);
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn volatile_values_become_their_type_and_the_rest_stays() {
        let v = json!({
            "pid": 4242, "version": env!("CARGO_PKG_VERSION"), "uptime_s": 3,
            "root": "/tmp/cxdAB/repo", "message": "watching /tmp/cxdAB/repo",
            "at": "2026-11-29T16:58:07.123Z", "finished_at": null,
            "thread_id": "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "tree": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
            "verdict": "approve", "sarif": {"version": "2.1.0"}, "z": [ {"severity": "high", "b": 1, "a": 2} ]
        });
        let n = normalise(&v, Path::new("/tmp/cxdAB"));
        assert_eq!(
            n,
            json!({
                "at": "<timestamp>", "finished_at": null, "message": "watching <tmp>/repo",
                "pid": "<u32>", "root": "<path>", "thread_id": "<uuid>", "tree": "<git-oid>",
                "sarif": {"version": "2.1.0"}, "uptime_s": "<u64>", "verdict": "approve",
                "version": "<version>",
                "z": [ {"a": 2, "b": 1, "severity": "high"} ]
            })
        );
        let keys: Vec<&String> = n.as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "keys are written sorted");
    }

    #[test]
    fn a_volatile_field_of_the_wrong_type_stays_literal() {
        let v = json!({"pid": "4242", "at": 17, "root": "relative/path", "thread_id": "nope"});
        assert_eq!(normalise(&v, Path::new("/nowhere")), v);
    }

    #[test]
    fn the_diff_marks_changed_lines() {
        assert_eq!(line_diff("a\nb\nc\n", "a\nx\nc\n"), "  a\n- b\n+ x\n  c\n");
    }
}
