//! How a hook cxd installs finds cxd: the binary that installed it (its absolute path), else
//! `cxd` on PATH, else one line on stderr and the hook's own policy for "cxd cannot judge".
//! A git client started from a desktop, or a shell without `~/.cargo/bin` on PATH, runs hooks
//! with a PATH that has no cxd; a hook naming only `cxd` would fail there with "not found".

/// The shell variable the lookup leaves the binary in.
pub const VAR: &str = "cxd";

/// This executable's absolute path as one shell word, if it has one in UTF-8.
pub fn installing_exe() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let exe = exe.to_str()?;
    exe.starts_with('/').then(|| shell_quote(exe))
}

/// One line of sh that sets `$cxd` to the installing binary `exe` (a shell word, or None when
/// unknown), else to `cxd` on PATH; when neither is there it prints "cxd: not found …: `what`"
/// on stderr and runs `otherwise` (e.g. `exit 0`). `what` must hold no `"`, `$`, `` ` `` or `\`.
pub fn find(exe: Option<&str>, what: &str, otherwise: &str) -> String {
    debug_assert!(!what.contains(['"', '$', '`', '\\']));
    let v = VAR;
    let at = exe.unwrap_or("''");
    format!(
        "{v}_at={at}; {v}=${v}_at; {{ [ -f \"${v}\" ] && [ -x \"${v}\" ]; }} || {v}=$(command -v cxd) || \
{{ echo \"cxd: not found (not at ${{{v}_at:-the path that installed this hook}}, not on PATH): {what}\" >&2; {otherwise}; }}"
    )
}

/// Whether `command` starts with the lookup [`find`] writes (any path, message and action),
/// and returns the command that follows it (after its `;`).
pub fn after_find(command: &str) -> Option<&str> {
    let v = VAR;
    let rest = command.trim_start().strip_prefix(&format!("{v}_at="))?;
    let marker = format!("{v}=$(command -v cxd) || {{ echo \"cxd: not found (");
    let (_, tail) = rest.split_once(&marker)?;
    // The block ends at the first `; }` after the message (the message holds no `"`).
    let (_, tail) = tail.split_once('"')?;
    let (_, tail) = tail.split_once("; }")?;
    Some(tail.strip_prefix(';')?.trim_start())
}

/// `s` as one shell word: unchanged when it is plain, else single-quoted.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%".contains(&b));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/usr/bin/cxd"), "/usr/bin/cxd");
        assert_eq!(shell_quote("/a b/cxd"), "'/a b/cxd'");
        assert_eq!(shell_quote("/it's/cxd"), r"'/it'\''s/cxd'");
        assert_eq!(shell_quote("/$(x)`y`/cxd"), "'/$(x)`y`/cxd'");
    }

    #[test]
    fn the_lookup_is_found_again_with_what_follows() {
        for exe in [Some("/usr/bin/cxd"), Some("'/a b/it'\\''s'"), None] {
            let line = format!(
                "{}; exec \"$cxd\" hook claude stop",
                find(exe, "this hook does nothing", "exit 0")
            );
            assert_eq!(
                after_find(&line),
                Some("exec \"$cxd\" hook claude stop"),
                "{line}"
            );
        }
        assert_eq!(after_find("cxd hook claude stop"), None);
        assert_eq!(after_find("cxd_at=x; echo hi"), None);
    }

    /// The line runs as sh: the installing binary when it is there, PATH's next, else the
    /// message and the fallback action.
    #[test]
    fn the_lookup_runs_in_sh() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("cxd-launch-test-{}", std::process::id()));
        let odd = dir.join("it's a $dir");
        std::fs::create_dir_all(&odd).unwrap();
        let bin = odd.join("cxd");
        std::fs::write(&bin, "#!/bin/sh\necho ran \"$@\"\n").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let run = |exe: &str, path: &str| {
            let script = format!(
                "{}; \"$cxd\" hook x",
                find(Some(&shell_quote(exe)), "it goes on", "exit 0")
            );
            let out = std::process::Command::new("/bin/sh")
                .args(["-c", &script])
                .env("PATH", path)
                .output()
                .unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (code, out, _) = run(bin.to_str().unwrap(), "/nonexistent");
        assert_eq!((code, out.as_str()), (Some(0), "ran hook x\n"));
        let gone = dir.join("gone/cxd");
        let (code, out, _) = run(gone.to_str().unwrap(), odd.to_str().unwrap());
        assert_eq!((code, out.as_str()), (Some(0), "ran hook x\n"), "from PATH");
        let (code, out, err) = run(gone.to_str().unwrap(), "/nonexistent");
        assert_eq!((code, out.as_str()), (Some(0), ""));
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(gone.to_str().unwrap()) && err.contains("it goes on"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
