//! The diffs cxd sends to codex are made from the files' bytes alone: no attribute (in the
//! tree, `.git/info/attributes` or the user's attributes file) and no repository config
//! (`diff.<driver>.binary`, `core.bigFileThreshold`) turns a text change into "Binary files
//! differ". A changed file git shows without hunks (binary by content) counts as changed in
//! full for the stop hook's scope.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;

use cxd_e2e::{SETTLE_NEVER, TestEnv, answer, finding, git, init_repo};
use serde_json::{Value, json};

fn original() -> String {
    (1..=20).map(|i| format!("let a{i} = {i};\n")).collect()
}

fn agent_write(env: &TestEnv, repo: &Path, file: &str, content: &[u8], session: &str) {
    let path = repo.join(file);
    std::fs::write(&path, content).unwrap();
    env.hook(
        "post-tool-use",
        &json!({"session_id": session, "cwd": repo, "hook_event_name": "PostToolUse",
                "tool_name": "Write", "tool_input": {"file_path": path, "content": "x"}}),
    );
}

fn stop(env: &TestEnv, repo: &Path, session: &str) -> Value {
    let out = env.hook(
        "stop",
        &json!({"session_id": session, "cwd": repo, "hook_event_name": "Stop",
                "stop_hook_active": false, "last_assistant_message": "Done."}),
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&out.stdout)))
}

fn setup(script: &Value) -> TestEnv {
    let env = TestEnv::new();
    env.write_config(SETTLE_NEVER);
    env.script_codex(script);
    env
}

#[test]
fn no_attribute_or_config_hides_a_text_change_from_the_reviewer() {
    let env = setup(&json!([answer(vec![
        finding("five may fail").file("src/a.rs").line(5)
    ])]));
    let repo = init_repo(env.dir.path(), "repo");
    std::fs::create_dir(repo.join("src")).unwrap();
    for f in [
        "src/a.rs",
        "notes.txt",
        "doc.md",
        "big.cfg",
        "info.dat",
        "home.ini",
    ] {
        std::fs::write(repo.join(f), original()).unwrap();
    }
    // Every way to say "binary": the attribute, its macro, a driver the config calls
    // binary, a size threshold, and attributes from outside the tree.
    std::fs::write(
        repo.join(".gitattributes"),
        "*.rs -diff\n*.txt binary\n*.md diff=hidden\n",
    )
    .unwrap();
    std::fs::write(repo.join(".git/info/attributes"), "*.dat -diff\n").unwrap();
    std::fs::create_dir_all(env.home.join(".config/git")).unwrap();
    std::fs::write(env.home.join(".config/git/attributes"), "*.ini -diff\n").unwrap();
    git(&repo, &["config", "diff.hidden.binary", "true"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "attributes"]);
    git(&repo, &["config", "core.bigFileThreshold", "10"]);
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);

    let edited = original().replace("let a5 = 5;", "let a5 = five();");
    for f in [
        "src/a.rs",
        "notes.txt",
        "doc.md",
        "big.cfg",
        "info.dat",
        "home.ini",
    ] {
        agent_write(&env, &repo, f, edited.as_bytes(), "s1");
    }
    let v = stop(&env, &repo, "s1");
    let calls = env.codex_calls();
    assert_eq!(calls.len(), 1, "{v}");
    let prompt = calls[0]["prompt"].as_str().unwrap();
    assert!(!prompt.contains("Binary files"), "{prompt}");
    for f in [
        "src/a.rs",
        "notes.txt",
        "doc.md",
        "big.cfg",
        "info.dat",
        "home.ini",
    ] {
        assert!(prompt.contains(&format!("+++ b/{f}\n")), "{f}: {prompt}");
    }
    assert_eq!(prompt.matches("+let a5 = five();").count(), 6, "{prompt}");
    // The finding on the edited line is in the agent's change.
    assert_eq!(v["decision"], "block", "{v}");
}

#[test]
fn a_binary_file_changed_counts_whole_for_the_stop_hook() {
    let env = setup(&json!([answer(vec![
        finding("bad table").file("data.bin").line(3)
    ])]));
    let repo = init_repo(env.dir.path(), "repo");
    std::fs::write(repo.join("data.bin"), b"\0\x01\x02 table\nrow\nrow\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "data"]);
    let _d = env.start_daemon();
    env.ok(&["watch", repo.to_str().unwrap()]);
    agent_write(
        &env,
        &repo,
        "data.bin",
        b"\0\x01\x03 table\nrow\nrow2\n",
        "s1",
    );
    let v = stop(&env, &repo, "s1");
    let calls = env.codex_calls();
    assert_eq!(calls.len(), 1, "{v}");
    let prompt = calls[0]["prompt"].as_str().unwrap();
    assert!(
        prompt.contains("Binary files a/data.bin and b/data.bin differ"),
        "{prompt}"
    );
    assert_eq!(
        v["decision"], "block",
        "a finding in a changed binary file is in the change: {v}"
    );
}
