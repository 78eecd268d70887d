//! No program a repository's git config names runs in any git process cxd starts: a
//! repository whose `.git/config` (and the files it includes) points every key that can name
//! a program at a script that leaves a marker, and whose hooks directories are full of such
//! scripts, goes through the session-start hook, edits, reviews, the stop hook, the gate, a
//! commit review, a commit and the pre-push hook; no marker appears. The same repository
//! makes plain git run the scripts, so the test shows what it claims.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cxd_e2e::{TestEnv, git, init_repo, run_with_stdin, wait_for, wait_for_or_none};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

/// Every hook git knows.
const HOOKS: &[&str] = &[
    "applypatch-msg",
    "pre-applypatch",
    "post-applypatch",
    "pre-commit",
    "pre-merge-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "pre-rebase",
    "post-checkout",
    "post-merge",
    "pre-push",
    "pre-receive",
    "update",
    "proc-receive",
    "post-receive",
    "post-update",
    "reference-transaction",
    "push-to-checkout",
    "pre-auto-gc",
    "post-rewrite",
    "sendemail-validate",
    "fsmonitor-watchman",
    "p4-changelist",
    "p4-prepare-changelist",
    "p4-post-changelist",
    "p4-pre-submit",
    "post-index-change",
];

/// The hostile config: every key that can name a program, `M` standing for the marker script.
const HOSTILE: &str = r#"[filter "mine"]
	clean = M filter-mine-overridden
[filter "evil"]
	clean = M filter-clean
	smudge = M filter-smudge
	required = true
[filter "proc"]
	process = M filter-process
	required = true
[diff "evil"]
	textconv = M textconv
	command = M diff-command
[merge "evil"]
	driver = M merge-driver
[diff]
	external = M diff-external
[core]
	fsmonitor = M fsmonitor
	hooksPath = HOOKSDIR
	pager = M pager
	editor = M editor
	sshCommand = M ssh-command
	askPass = M askpass
	gitProxy = M git-proxy
	alternateRefsCommand = M alternate-refs
[pager]
	diff = M pager-diff
	log = M pager-log
	show = M pager-show
[sequence]
	editor = M sequence-editor
[credential]
	helper = !M credential-helper
[gpg]
	program = M gpg
[gpg "ssh"]
	program = M gpg-ssh
	defaultKeyCommand = M gpg-ssh-key
[commit]
	gpgSign = true
[log]
	showSignature = true
[uploadpack]
	packObjectsHook = M pack-objects-hook
[remote "origin"]
	uploadpack = M uploadpack
	receivepack = M receivepack
[remote "evil"]
	url = ext::M ext-transport
	vcs = evil
[protocol]
	allow = always
[alias]
	status = !M alias
[includeIf "gitdir:/"]
	path = hostile-late.config
"#;

const HOSTILE_LATE: &str =
    "[filter \"late\"]\n\tclean = M filter-late\n\tsmudge = M filter-late-smudge\n";

fn script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A git as the test's own user would run it, with the hostile programs switched off (only
/// for setting the scene: cxd's own calls are what is tested).
fn quiet_git(repo: &Path, args: &[&str]) -> String {
    let mut all = vec![
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "core.fsmonitor=false",
        "-c",
        "commit.gpgSign=false",
    ];
    for d in ["evil", "proc", "late", "mine"] {
        for k in ["clean", "smudge", "process"] {
            all.push("-c");
            all.push(Box::leak(format!("filter.{d}.{k}=").into_boxed_str()));
        }
        all.push("-c");
        all.push(Box::leak(
            format!("filter.{d}.required=false").into_boxed_str(),
        ));
    }
    all.extend_from_slice(args);
    git(repo, &all)
}

/// Stops the daemon the session-start hook started, also when the test fails.
struct StopDaemon<'a>(&'a TestEnv);

impl Drop for StopDaemon<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["stop"]);
    }
}

fn markers(env: &TestEnv) -> String {
    std::fs::read_to_string(env.dir.path().join("markers")).unwrap_or_default()
}

fn agent_write(env: &TestEnv, repo: &Path, file: &str, content: &str) {
    let path = repo.join(file);
    std::fs::write(&path, content).unwrap();
    env.hook(
        "post-tool-use",
        &json!({"session_id": "s1", "cwd": repo, "hook_event_name": "PostToolUse",
                "tool_name": "Write", "tool_input": {"file_path": path, "content": content}}),
    );
}

#[test]
fn no_program_the_repository_config_names_runs() {
    let env = TestEnv::new();
    env.write_config("[settle]\nquiet_ms = 600000\nmax_wait_ms = 600000\n");
    let repo = init_repo(env.dir.path(), "repo");
    let remote = env.dir.path().join("remote.git");
    git(
        env.dir.path(),
        &["init", "-q", "--bare", remote.to_str().unwrap()],
    );
    git(
        &repo,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    std::fs::create_dir(repo.join("src")).unwrap();
    std::fs::write(repo.join("src/a.rs"), "fn a() {}\n").unwrap();
    std::fs::write(repo.join("x.p"), "p\n").unwrap();
    std::fs::write(repo.join("y.late"), "late\n").unwrap();
    std::fs::write(repo.join("z.mine"), "mine\n").unwrap();
    std::fs::write(
        repo.join(".gitattributes"),
        "* filter=evil diff=evil merge=evil\n*.p filter=proc\n*.late filter=late\n\
         *.mine filter=mine\n",
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "files"]);
    git(&repo, &["push", "-q", "origin", "main"]);
    let pushed = git(&repo, &["rev-parse", "HEAD"]).trim().to_owned();

    // The scene: a marker script, hooks everywhere, and the config pointing at them (through
    // an include and a conditional include, as an unpacked archive could have it).
    let mark = env.dir.path().join("mark.sh");
    let markers_file = env.dir.path().join("markers");
    script(
        &mark,
        &format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\ncase \"$1\" in filter-*) exec cat ;; esac\nexit 0\n",
            markers_file.display()
        ),
    );
    let hooks_dir = env.dir.path().join("hooks");
    std::fs::create_dir_all(&hooks_dir).unwrap();
    for dir in [&hooks_dir, &repo.join(".git/hooks")] {
        for h in HOOKS {
            script(
                &dir.join(h),
                &format!("#!/bin/sh\n'{}' hook-{h}\n", mark.display()),
            );
        }
    }
    let m = mark.to_str().unwrap();
    let hostile = HOSTILE
        .replace("M ", &format!("{m} "))
        .replace("HOOKSDIR", hooks_dir.to_str().unwrap());
    std::fs::write(repo.join(".git/hostile.config"), hostile).unwrap();
    std::fs::write(
        repo.join(".git/hostile-late.config"),
        HOSTILE_LATE.replace("M ", &format!("{m} ")),
    )
    .unwrap();
    // A filter of the user's own that the repository redefines is switched off too.
    std::fs::write(
        env.home.join(".gitconfig"),
        format!("[filter \"mine\"]\n\tclean = \"{m} filter-mine-user\"\n"),
    )
    .unwrap();
    let mut config = std::fs::read_to_string(repo.join(".git/config")).unwrap();
    config.push_str("[include]\n\tpath = hostile.config\n");
    std::fs::write(repo.join(".git/config"), config).unwrap();
    assert_eq!(markers(&env), "", "setting the scene ran nothing");

    // A session starts in the repository: the hook starts the daemon and watches the tree.
    let _stop = StopDaemon(&env);
    let out = env.hook(
        "session-start",
        &json!({"session_id": "s1", "cwd": repo, "hook_event_name": "SessionStart",
                "source": "startup"}),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("the workspace", T, || {
        let s = env.status_json();
        (s["workspaces"].as_array().is_some_and(|w| !w.is_empty())).then_some(())
    });

    // Edits of every kind of file the attributes name, a review, the stop hook.
    agent_write(&env, &repo, "src/a.rs", "fn a() { b() }\n");
    agent_write(&env, &repo, "x.p", "p2\n");
    agent_write(&env, &repo, "y.late", "late2\n");
    agent_write(&env, &repo, "z.mine", "mine2\n");
    agent_write(&env, &repo, "src/new.rs", "fn n() {}\n");
    let out = env.hook(
        "stop",
        &json!({"session_id": "s1", "cwd": repo, "hook_event_name": "Stop",
                "stop_hook_active": false, "last_assistant_message": "Done."}),
    );
    assert!(out.status.success());
    let reviewed = wait_for_or_none(T, || {
        let w = env.workspace();
        (w["reviews"].as_u64() == Some(1) && w["state"] != "reviewing").then_some(w)
    });
    assert_eq!(
        markers(&env),
        "",
        "cxd ran programs the repository's config names"
    );
    assert!(reviewed.is_some(), "no review: {:#}", env.workspace());
    let r = repo.to_str().unwrap();
    env.run(&["gate", r]);
    env.run(&["findings", r]);

    // A commit (HEAD moves), a review of it, another review of the tree, the pre-push hook.
    quiet_git(&repo, &["add", "-A"]);
    quiet_git(&repo, &["commit", "-q", "-m", "edits"]);
    let head = quiet_git(&repo, &["rev-parse", "HEAD"]).trim().to_owned();
    env.run(&["review", "--wait", "--commit", "HEAD", r]);
    agent_write(&env, &repo, "src/a.rs", "fn a() { c() }\n");
    env.run(&["review", "--wait", r]);
    env.run(&["gate", r]);
    let mut push = env.cmd(&[
        "hook",
        "git",
        "pre-push",
        "origin",
        remote.to_str().unwrap(),
    ]);
    push.current_dir(&repo);
    run_with_stdin(
        push,
        format!("refs/heads/main {head} refs/heads/main {pushed}\n").as_bytes(),
    );
    env.run(&["init", "git-hook", "--pre-push", r]);
    env.run(&["unwatch", r]);

    assert_eq!(
        markers(&env),
        "",
        "cxd ran programs the repository's config names"
    );

    // Plain git in the same repository runs them: the scene is live.
    std::fs::write(repo.join("y.late"), "late3\n").unwrap();
    std::fs::write(repo.join("src/a.rs"), "fn a() { d() }\n").unwrap();
    for args in [
        &["add", "--", "y.late"][..],
        &["add", "--", "src/a.rs"][..],
        // The hook alone (a commit may stop earlier, at a filter that is no real filter
        // process, whenever git has to look at a file's content to refresh the index).
        &["hook", "run", "pre-commit"][..],
    ] {
        let _ = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env_remove("GIT_DIR")
            .output()
            .unwrap();
    }
    let seen = markers(&env);
    for m in [
        "filter-clean",
        "filter-late",
        "fsmonitor",
        "hook-pre-commit",
    ] {
        assert!(seen.lines().any(|l| l == m), "{m} not in {seen}");
    }
}
