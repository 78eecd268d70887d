//! The exact codex command lines (ARCHITECTURE.md, "Talking to codex"): a new read-only
//! thread, or a resume of ours.

use std::ffi::OsString;
use std::path::Path;

/// Everything that goes on a codex command line.
#[derive(Debug, Clone)]
pub struct Invocation<'a> {
    /// Model name for `-m`, already checked to not look like a flag.
    pub model: &'a str,
    /// Reasoning effort, passed as `-c model_reasoning_effort=...`.
    pub effort: &'a str,
    /// The JSON schema file for `--output-schema`, which pins the answer's shape.
    pub schema: &'a Path,
    /// The `-o` file for the last message.
    pub output: &'a Path,
    /// The work-tree root (`-C` for a new thread; the cwd for a resume).
    pub root: &'a Path,
    /// The workspace's own thread, to resume.
    pub thread: Option<&'a str>,
    /// The user's `review.extra_args`, already checked to leave the sandbox alone.
    pub extra_args: &'a [String],
    /// The overrides that keep the user's hooks, notify program and MCP servers out of the
    /// run ([`super::isolation::args`]).
    pub isolation: &'a [String],
}

impl Invocation<'_> {
    /// The arguments after the program name. The prompt goes on stdin (`-`).
    ///
    /// `resume` rejects `-s` and `-C` and keeps neither sandbox nor model, so both are pinned
    /// with `-c`/`-m` on every call, and the root becomes the working directory. The user's
    /// `extra_args` (already checked to leave the sandbox alone) come before cxd's own flags,
    /// so the pinned read-only sandbox is the last word on the line; the isolation overrides
    /// come last of all, for the same reason.
    pub fn args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec!["exec".into()];
        if let Some(thread) = self.thread {
            a.extend(["resume".into(), thread.into()]);
        }
        a.extend(self.extra_args.iter().map(OsString::from));
        match self.thread {
            Some(_) => {
                a.push("--json".into());
                a.extend(["-m".into(), self.model.into()]);
                a.extend([
                    "-c".into(),
                    format!("model_reasoning_effort={}", self.effort).into(),
                ]);
                a.extend(["-c".into(), "sandbox_mode=\"read-only\"".into()]);
                a.extend([
                    "--output-schema".into(),
                    self.schema.into(),
                    "-o".into(),
                    self.output.into(),
                ]);
            }
            None => {
                a.extend(["--json".into(), "-s".into(), "read-only".into()]);
                a.extend(["-m".into(), self.model.into()]);
                a.extend([
                    "-c".into(),
                    format!("model_reasoning_effort={}", self.effort).into(),
                ]);
                a.extend([
                    "--output-schema".into(),
                    self.schema.into(),
                    "-o".into(),
                    self.output.into(),
                ]);
                a.extend(["-C".into(), self.root.into()]);
            }
        }
        a.extend(self.isolation.iter().map(OsString::from));
        a.push("-".into());
        a
    }
}

/// Whether `id` looks like a codex thread id (a UUID). `resume` of anything else silently
/// starts a new thread, so such an id is never resumed.
pub fn is_thread_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    parts.len() == 5
        && parts
            .iter()
            .zip(lens)
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: Vec<OsString>) -> Vec<String> {
        v.into_iter().map(|s| s.into_string().unwrap()).collect()
    }

    #[test]
    fn new_thread_is_read_only_in_the_root() {
        let extra = vec!["--skip-git-repo-check".to_owned()];
        let iso = vec!["-c".to_owned(), "notify=[]".to_owned()];
        let inv = Invocation {
            model: "gpt-5.2-codex",
            effort: "medium",
            schema: Path::new("/s/schema.json"),
            output: Path::new("/s/out.txt"),
            root: Path::new("/repo"),
            thread: None,
            extra_args: &extra,
            isolation: &iso,
        };
        assert_eq!(
            strings(inv.args()),
            [
                "exec",
                "--skip-git-repo-check",
                "--json",
                "-s",
                "read-only",
                "-m",
                "gpt-5.2-codex",
                "-c",
                "model_reasoning_effort=medium",
                "--output-schema",
                "/s/schema.json",
                "-o",
                "/s/out.txt",
                "-C",
                "/repo",
                "-c",
                "notify=[]",
                "-"
            ]
        );
    }

    #[test]
    fn resume_pins_sandbox_and_model_and_has_no_s_or_c_flags() {
        let inv = Invocation {
            model: "m",
            effort: "high",
            schema: Path::new("/s"),
            output: Path::new("/o"),
            root: Path::new("/repo"),
            thread: Some("01a20bcf-a64a-7b03-bf54-a703d0125150"),
            extra_args: &[],
            isolation: &[],
        };
        let args = strings(inv.args());
        assert_eq!(
            args,
            [
                "exec",
                "resume",
                "01a20bcf-a64a-7b03-bf54-a703d0125150",
                "--json",
                "-m",
                "m",
                "-c",
                "model_reasoning_effort=high",
                "-c",
                "sandbox_mode=\"read-only\"",
                "--output-schema",
                "/s",
                "-o",
                "/o",
                "-"
            ]
        );
        assert!(!args.iter().any(|a| a == "-s" || a == "-C" || a == "--last"));
    }

    #[test]
    fn thread_ids_are_uuids() {
        assert!(is_thread_id("01a20bcf-a64a-7b03-bf54-a703d0125150"));
        assert!(!is_thread_id("not-a-uuid"));
        assert!(!is_thread_id(""));
        assert!(!is_thread_id("01a20bcf-a64a-7b03-bf54-a703d012515z"));
    }
}
