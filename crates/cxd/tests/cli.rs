//! Command-line parsing of the built binary. Living in the `cxd` package, these tests also make
//! `cargo test`/`cargo nextest run --workspace` build the binary the end-to-end suite drives.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

fn cxd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cxd"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn version_and_help() {
    let out = cxd(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("cxd {}", env!("CARGO_PKG_VERSION"))
    );
    let help = String::from_utf8(cxd(&["--help"]).stdout).unwrap();
    for word in ["daemon", "status", "stop", "Exit codes", "CXD_SOCKET"] {
        assert!(help.contains(word), "{word} missing from --help:\n{help}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = cxd(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-command"));
    let out = cxd(&["status", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
}
