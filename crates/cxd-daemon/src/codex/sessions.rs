//! Finding an existing codex thread to adopt: codex keeps each session as
//! `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread_id>.jsonl`, whose first line
//! records the session's working directory.

use std::path::{Path, PathBuf};

/// The newest codex thread whose working directory is `root`, if any.
pub fn newest_thread_for(root: &Path) -> Result<Option<String>, String> {
    let home = codex_home().ok_or("cannot find codex's home: set CODEX_HOME or HOME")?;
    Ok(newest_thread_in(&home, root))
}

/// The newest thread under `codex_home` whose working directory is `root`.
pub fn newest_thread_in(codex_home: &Path, root: &Path) -> Option<String> {
    let sessions = codex_home.join("sessions");
    let mut files = Vec::new();
    collect(&sessions, 0, &mut files);
    // Names start with the time, so the newest sorts last.
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    for file in files.iter().rev() {
        let Some(name) = file.file_stem().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(id) = thread_id_of(name) else {
            continue;
        };
        if session_cwd(file).as_deref() == Some(root) {
            return Some(id);
        }
    }
    None
}

/// codex's home: `CODEX_HOME`, else `~/.codex`.
pub fn codex_home() -> Option<PathBuf> {
    std::env::var_os("CODEX_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".codex")))
}

fn collect(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if depth < 3 && p.is_dir() {
            collect(&p, depth + 1, out);
        } else if p.extension().is_some_and(|x| x == "jsonl") {
            out.push(p);
        }
    }
}

/// `rollout-2026-11-24T10-00-00-<uuid>` → the uuid (its last five dash-separated parts).
fn thread_id_of(stem: &str) -> Option<String> {
    let parts: Vec<&str> = stem.rsplitn(6, '-').collect();
    if parts.len() < 6 {
        return None;
    }
    let id = format!(
        "{}-{}-{}-{}-{}",
        parts[4], parts[3], parts[2], parts[1], parts[0]
    );
    crate::codex::argv::is_thread_id(&id).then_some(id)
}

/// The `cwd` recorded in a rollout's first line (`session_meta`).
fn session_cwd(file: &Path) -> Option<PathBuf> {
    use std::io::{BufRead, Read};
    let f = std::fs::File::open(file).ok()?;
    let mut line = String::new();
    // A session_meta line can be large (it carries instructions); cap what is read.
    std::io::BufReader::new(f.take(1024 * 1024))
        .read_line(&mut line)
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(&line).ok()?;
    let cwd = v
        .pointer("/payload/cwd")
        .or_else(|| v.get("cwd"))?
        .as_str()?;
    Some(std::fs::canonicalize(cwd).unwrap_or_else(|_| PathBuf::from(cwd)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_newest_thread_for_a_directory() {
        let home = tempfile::tempdir().unwrap();
        let repo = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(repo.path()).unwrap();
        let day = home.path().join("sessions/2026/11/24");
        std::fs::create_dir_all(&day).unwrap();
        let write = |time: &str, id: &str, cwd: &Path| {
            let line =
                serde_json::json!({"type": "session_meta", "payload": {"id": id, "cwd": cwd}});
            std::fs::write(
                day.join(format!("rollout-{time}-{id}.jsonl")),
                format!("{line}\n"),
            )
            .unwrap();
        };
        write(
            "2026-11-24T10-00-00",
            "01a20bcf-a64a-7b03-bf54-a703d0125150",
            &root,
        );
        write(
            "2026-11-24T11-00-00",
            "02a20bcf-a64a-7b03-bf54-a703d0125150",
            &root,
        );
        write(
            "2026-11-24T12-00-00",
            "03a20bcf-a64a-7b03-bf54-a703d0125150",
            Path::new("/elsewhere"),
        );
        assert_eq!(
            newest_thread_in(home.path(), &root).as_deref(),
            Some("02a20bcf-a64a-7b03-bf54-a703d0125150")
        );
        assert_eq!(newest_thread_in(home.path(), Path::new("/nowhere")), None);
    }
}
