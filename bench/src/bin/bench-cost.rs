//! What a review sends to the model as the workspace's thread ages. 40 consecutive reviews
//! through the REAL codex CLI (installed like the real-CLI tests do) against the loopback mock
//! Responses server, which reports usage from each request's actual size; each review covers
//! a realistic agent burst (one file rewritten, a diff of 3–5 KB). Run once with rotation off
//! (`review.max_thread_input_tokens = 0`) and once with the default, it prints every
//! request's size in bytes and the input tokens cxd recorded, then first/median/last/max, and
//! checks the target: with rotation on, no review's input exceeds twice the first's. Run
//! through `bench/run cost` (`--reviews N` for another count).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cxd_bench::Rng;
use cxd_e2e::{MockServer, TestEnv, init_repo, mock_codex_home, wait_for};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(180);

/// One review's cost: the model request's body size, and the input tokens cxd recorded.
struct Sample {
    bytes: u64,
    tokens: u64,
}

/// A Rust-looking file of about `bytes` bytes, different for every `seed`.
fn source(rng: &mut Rng, bytes: usize) -> String {
    let mut out = String::new();
    let mut n = 0;
    while out.len() < bytes {
        n += 1;
        let a = rng.range(0, 1000);
        let b = rng.range(1, 50);
        out.push_str(&format!(
            "/// Step {n}: scale the input by {b} and clamp it.\npub fn step_{n}_{a}(x: u64) -> u64 {{\n    (x.saturating_mul({b}) + {a}).min(1_000_000)\n}}\n\n"
        ));
    }
    out
}

/// Run `reviews` reviews with `review.max_thread_input_tokens = limit` (None: the default).
fn run(codex: &PathBuf, reviews: usize, limit: Option<u64>) -> Vec<Sample> {
    let env = TestEnv::new();
    let answers: Vec<Value> = (0..reviews)
        .map(|i| {
            json!({"verdict": "approve",
                   "summary": format!("Review {i}: the new helpers are consistent with the module; nothing at medium or above."),
                   "findings": [], "fixed_finding_ids": []})
            .to_string()
            .into()
        })
        .collect();
    let server = MockServer::start(
        "mock_responses_server.py",
        env.dir.path(),
        "model",
        &Value::Array(answers),
    );
    let codex_home = mock_codex_home(env.dir.path(), server.port, "");
    let limit_line = limit.map_or(String::new(), |l| {
        format!("max_thread_input_tokens = {l}\n")
    });
    env.write_config(&format!(
        "[settle]\nquiet_ms = 60000\nmax_wait_ms = 600000\n[review]\nmodel = \"mock-model\"\ntimeout_s = 120\n{limit_line}"
    ));
    let repo = init_repo(env.dir.path(), "repo");
    let d = env.start_daemon_with(|c| {
        c.env("CXD_CODEX_BIN", codex)
            .env("CODEX_HOME", &codex_home)
            .env("CXD_MOCK_API_KEY", "dummy");
    });
    let r = repo.to_str().unwrap();
    env.ok(&["watch", r]);
    let mut rng = Rng::new(7);
    let mut samples = Vec::new();
    for i in 0..reviews {
        let size = rng.range(3_000, 5_000) as usize;
        let text = source(&mut rng, size);
        std::fs::write(repo.join(format!("src_{}.rs", i % 6)), text).unwrap();
        let out = env.run(&["review", r, "--wait", "--json"]);
        let done: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "review {i}: {e}: {}\n{}\ndaemon log:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                d.log_text()
            )
        });
        let tokens = done["review"]["tokens"]["input"].as_u64().unwrap_or(0);
        let requests = wait_for("the model request", T, || {
            let r: Vec<Value> = server
                .requests()
                .into_iter()
                .filter(|q| q["body_bytes"].is_u64())
                .collect();
            (r.len() > samples.len()).then_some(r)
        });
        // A turn may take more than one request; the review costs them all.
        let bytes: u64 = requests[samples.len()..]
            .iter()
            .map(|q| q["body_bytes"].as_u64().unwrap_or(0))
            .sum();
        samples.push(Sample { bytes, tokens });
    }
    let rotations = env.log_kind("thread_rotated").len();
    println!("  rotations: {rotations}");
    drop(d);
    samples
}

/// first / median / last / max of `v`.
fn curve(v: &[u64]) -> (u64, u64, u64, u64) {
    let mut sorted = v.to_vec();
    sorted.sort_unstable();
    (
        v[0],
        sorted[sorted.len() / 2],
        *v.last().unwrap(),
        *sorted.last().unwrap(),
    )
}

fn main() -> ExitCode {
    let mut reviews = 40;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--reviews" {
            reviews = args.next().and_then(|v| v.parse().ok()).unwrap_or(40);
        }
    }
    let Some(codex) = cxd_e2e::npm_cli("CXD_REAL_CODEX", "codex CLI", "install-codex.sh", "codex")
    else {
        eprintln!("the real codex CLI is needed (node and npm): skipped");
        return ExitCode::FAILURE;
    };
    let mut ok = true;
    for (name, limit) in [("rotation off", Some(0)), ("rotation on (default)", None)] {
        println!("{name}:");
        let samples = run(&codex, reviews, limit);
        println!("  review  request bytes  input tokens");
        for (i, s) in samples.iter().enumerate() {
            println!("  {:>6}  {:>13}  {:>12}", i + 1, s.bytes, s.tokens);
        }
        let bytes: Vec<u64> = samples.iter().map(|s| s.bytes).collect();
        let tokens: Vec<u64> = samples.iter().map(|s| s.tokens).collect();
        let (f, m, l, x) = curve(&bytes);
        println!(
            "  request bytes: first {f}, median {m}, last {l}, max {x} ({:.2}x first)",
            x as f64 / f as f64
        );
        let (f, m, l, x) = curve(&tokens);
        println!(
            "  input tokens:  first {f}, median {m}, last {l}, max {x} ({:.2}x first)",
            x as f64 / f as f64
        );
        if limit.is_none() && x > 2 * f {
            println!("  TARGET MISSED: a review's input exceeds twice the first's");
            ok = false;
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
