//! `cxd init claude`: cxd's hooks merged into Claude Code's settings.json, through the binary,
//! with a private HOME.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Output;

use cxd_e2e::{TestEnv, cxd_bin, init_repo};
use serde_json::{Value, json};

/// Run `cxd ARGS` in `cwd` with `PATH` = `path`.
fn init(env: &TestEnv, cwd: &Path, path: &str, args: &[&str]) -> Output {
    env.cmd(args)
        .current_dir(cwd)
        .env("PATH", path)
        .env_remove("CLAUDE_CONFIG_DIR")
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed with {}:\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A PATH holding a `cxd` (a symlink to the binary under test) and the system's tools.
fn path_with_cxd(env: &TestEnv) -> String {
    let bin = env.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("cxd");
    if !link.exists() {
        std::os::unix::fs::symlink(cxd_bin(), &link).unwrap();
    }
    format!("{}:/usr/bin:/bin", bin.display())
}

const NO_CXD_PATH: &str = "/usr/bin:/bin";

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

/// A hook command cxd wrote (its lookup of the installing binary, this test's, then `exec
/// "$cxd" hook claude SUB`) as `cxd hook claude SUB`; any other command as it is.
fn short(command: &str) -> String {
    let exe = std::fs::canonicalize(cxd_bin()).unwrap();
    let head = format!("cxd_at={}; cxd=$cxd_at; ", exe.display());
    match command.split_once("; exec \"$cxd\" hook claude ") {
        Some((lookup, sub)) if lookup.starts_with(&head) && lookup.contains("command -v cxd") => {
            format!("cxd hook claude {sub}")
        }
        _ => command.to_owned(),
    }
}

/// `settings` with every hook command [`short`]ened.
fn normalised(mut settings: Value) -> Value {
    if let Some(all) = settings["hooks"].as_object_mut() {
        for groups in all.values_mut() {
            for g in groups.as_array_mut().unwrap() {
                for h in g["hooks"].as_array_mut().unwrap() {
                    let c = h["command"].as_str().unwrap().to_owned();
                    h["command"] = json!(short(&c));
                }
            }
        }
    }
    settings
}

fn commands(settings: &Value, event: &str) -> Vec<String> {
    normalised(settings.clone())["hooks"][event]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["hooks"].as_array().unwrap().iter())
        .map(|h| h["command"].as_str().unwrap().to_owned())
        .collect()
}

const USER_SETTINGS: &str = r#"{
  "model": "opus",
  "hooks": {
    "PostToolUse": [
      {
        "matcher": "Bash",
        "hooks": [
          {
            "type": "command",
            "command": "log-bash",
            "timeout": 5
          }
        ]
      }
    ],
    "Notification": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "notify-send hi"
          }
        ]
      }
    ]
  },
  "permissions": {
    "allow": [
      "Bash(ls:*)"
    ]
  }
}
"#;

fn user_settings() -> Value {
    json!({
        "model": "opus",
        "hooks": {
            "PostToolUse": [{"matcher": "Bash", "hooks": [
                {"type": "command", "command": "log-bash", "timeout": 5}]}],
            "Notification": [{"hooks": [{"type": "command", "command": "notify-send hi"}]}]
        },
        "permissions": {"allow": ["Bash(ls:*)"]}
    })
}

#[test]
fn merges_into_the_projects_settings_keeping_the_users_and_is_idempotent() {
    let env = TestEnv::new();
    env.write_config("[review]\ntimeout_s = 1200\n[gate]\nstop_wait_s = 30\n");
    let repo = init_repo(env.dir.path(), "repo");
    let sub = repo.join("src/deep");
    std::fs::create_dir_all(&sub).unwrap();
    let file = repo.join(".claude/settings.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    // Written by hand: this test crate's serde_json may sort keys, the user's file does not.
    std::fs::write(&file, USER_SETTINGS).unwrap();
    let path = path_with_cxd(&env);

    // From a subdirectory: the git root's settings.
    let out = ok(init(&env, &sub, &path, &["init", "claude"]));
    assert!(out.contains("added cxd's hooks"), "{out}");
    let first = read(&file);
    assert!(
        first.ends_with("}\n") && first.contains("\n  \"model\""),
        "{first}"
    );
    let s: Value = normalised(serde_json::from_str(&first).unwrap());
    // The user's key order stays (checked on the text: this crate's serde_json may sort keys).
    let at = |k: &str| first.find(&format!("\n  \"{k}\": ")).unwrap();
    assert!(
        at("model") < at("hooks") && at("hooks") < at("permissions"),
        "{first}"
    );
    assert_eq!(s["permissions"], user_settings()["permissions"]);
    assert_eq!(
        s["hooks"]["Notification"],
        user_settings()["hooks"]["Notification"]
    );
    assert_eq!(
        s["hooks"]["PostToolUse"],
        json!([
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "log-bash", "timeout": 5}]},
            {"matcher": "Edit|Write|MultiEdit|NotebookEdit", "hooks": [
                {"type": "command", "command": "cxd hook claude post-tool-use", "timeout": 10}]}
        ])
    );
    assert_eq!(
        s["hooks"]["Stop"],
        json!([{"hooks": [{"type": "command", "command": "cxd hook claude stop", "timeout": 1260}]}])
    );
    assert_eq!(
        s["hooks"]["PreToolUse"],
        json!([{"matcher": "ExitPlanMode|Bash", "hooks": [
            {"type": "command", "command": "cxd hook claude pre-tool-use", "timeout": 1260}]}])
    );

    // Twice: byte-identical.
    let out = ok(init(&env, &repo, &path, &["init", "claude"]));
    assert!(out.contains("nothing changed"), "{out}");
    assert_eq!(read(&file), first);
    let names: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["settings.json"], "a temp file was left behind");

    // --print --remove shows the result and writes nothing.
    let printed = ok(init(
        &env,
        &repo,
        &path,
        &[
            "init",
            "claude",
            repo.to_str().unwrap(),
            "--remove",
            "--print",
        ],
    ));
    assert_eq!(
        serde_json::from_str::<Value>(&printed).unwrap(),
        user_settings()
    );
    assert_eq!(read(&file), first);

    // --remove takes out only cxd's entries.
    let out = ok(init(&env, &repo, &path, &["init", "claude", "--remove"]));
    assert!(out.contains("removed"), "{out}");
    assert_eq!(
        read(&file),
        USER_SETTINGS,
        "byte for byte the user's file again"
    );
    let out = ok(init(&env, &repo, &path, &["init", "claude", "--remove"]));
    assert!(out.contains("no cxd hooks"), "{out}");
}

#[test]
fn without_cxd_on_path_the_hooks_name_the_absolute_binary() {
    let env = TestEnv::new();
    let dir = env.dir.path().join("plain");
    std::fs::create_dir_all(&dir).unwrap();
    let printed = ok(init(
        &env,
        &dir,
        NO_CXD_PATH,
        &["init", "claude", "--print"],
    ));
    assert!(
        !dir.join(".claude").exists(),
        "--print must not write anything"
    );
    let s: Value = serde_json::from_str(&printed).unwrap();
    // The installing binary by its absolute path (PATH is the fallback).
    assert_eq!(commands(&s, "Stop"), ["cxd hook claude stop"]);
    assert!(
        s["hooks"]["Stop"][0]["hooks"][0]["command"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "cxd_at={};",
                std::fs::canonicalize(cxd_bin()).unwrap().display()
            ))
    );
    // Defaults: review.timeout_s 900, gate.stop_wait_s 600, plus 60.
    assert_eq!(s["hooks"]["Stop"][0]["hooks"][0]["timeout"], 960);

    // Written with the absolute path, then recognised as cxd's by a run that finds `cxd` on PATH.
    ok(init(&env, &dir, NO_CXD_PATH, &["init", "claude"]));
    let file = dir.join(".claude/settings.json");
    ok(init(&env, &dir, &path_with_cxd(&env), &["init", "claude"]));
    let s: Value = serde_json::from_str(&read(&file)).unwrap();
    assert_eq!(commands(&s, "Stop"), ["cxd hook claude stop"]);
    assert_eq!(
        commands(&s, "PostToolUse"),
        ["cxd hook claude post-tool-use"]
    );
    ok(init(
        &env,
        &dir,
        NO_CXD_PATH,
        &["init", "claude", "--remove"],
    ));
    assert_eq!(read(&file), "{}\n");
}

#[test]
fn global_writes_the_users_settings() {
    let env = TestEnv::new();
    let path = path_with_cxd(&env);
    let out = ok(init(
        &env,
        env.dir.path(),
        &path,
        &["init", "claude", "--global"],
    ));
    let file: PathBuf = env.home.join(".claude/settings.json");
    assert!(out.contains(file.to_str().unwrap()), "{out}");
    let s: Value = serde_json::from_str(&read(&file)).unwrap();
    assert_eq!(commands(&s, "PreToolUse"), ["cxd hook claude pre-tool-use"]);
    let out = init(
        &env,
        env.dir.path(),
        &path,
        &["init", "claude", "--global", "somewhere"],
    );
    assert_eq!(out.status.code(), Some(2), "PATH and --global conflict");
}

#[test]
fn invalid_json_is_refused_and_left_untouched() {
    let env = TestEnv::new();
    let dir = env.dir.path().join("p");
    let file = dir.join(".claude/settings.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let broken = "{\n  \"model\": \"opus\",\n}\n";
    std::fs::write(&file, broken).unwrap();
    let out = init(&env, &dir, &path_with_cxd(&env), &["init", "claude"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:3:", file.display())) && err.contains("untouched"),
        "{err}"
    );
    assert_eq!(read(&file), broken);
}
