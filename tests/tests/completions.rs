//! `cxd completions`: every shell gets a script that knows the subcommands.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

use cxd_e2e::TestEnv;

#[test]
fn each_shell_gets_a_script_naming_the_subcommands() {
    let env = TestEnv::new();
    for shell in ["bash", "zsh", "fish"] {
        let script = env.ok(&["completions", shell]);
        assert!(!script.trim().is_empty(), "{shell}: empty script");
        assert!(
            script.contains("watch") && script.contains("review"),
            "{shell}: no `watch`/`review` in\n{script}"
        );
    }
}

#[test]
fn the_bash_script_parses() {
    let env = TestEnv::new();
    let path = env.dir.path().join("cxd.bash");
    std::fs::write(&path, env.ok(&["completions", "bash"])).unwrap();
    let out = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let env = TestEnv::new();
    let out = env.run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}
