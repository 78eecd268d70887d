//! Everything cxd knows about the Codex CLI, in one place: the command lines it runs
//! (`argv`), running a codex process (`runner`), reading its JSONL (`jsonl`), classifying
//! its failures (`classify`), the answer schema and its parser (`answer`), the prompts
//! (`prompt`), one review from prompt to stored result (`job`), reading codex's own
//! session files to adopt a thread (`sessions`), and keeping the user's hooks, notify program
//! and MCP servers out of a review (`isolation`), and when a spent usage limit resets (`quota`).
//!
//! Facts about codex this module must respect (ARCHITECTURE.md, "Talking to codex"):
//! - A first review is `codex exec --json -s read-only ... -C ROOT -`; a later one is
//!   `codex exec resume THREAD_ID ... -c sandbox_mode="read-only" -`, run in ROOT: `resume`
//!   rejects `-s` and `-C` and keeps neither sandbox nor model, so both are pinned every time.
//! - Never `resume --last` for the daemon's own thread (it takes any source's newest thread);
//!   the thread id comes from the first `thread.started` event and is kept per workspace.
//! - The prompt goes on stdin, which is then closed; stdout is read to the end (closing it
//!   early makes codex panic).
//! - JSONL is parsed tolerantly: unknown events, items and fields are ignored. `error` events
//!   are retries, not final; only `turn.failed` or the exit status is.
//! - A review succeeded only with exit status 0, a `turn.completed` and a final
//!   `agent_message`; `-o` is written only for a completed turn, and the schema is not
//!   enforced on codex's side, so the answer is parsed and checked here.
//! - `usage` is cumulative per thread: a review costs the difference from the previous reading.
//! - Failures come as text: classify them (quota, auth, network, schema, ...) and surface the
//!   class, never a finding. A thread codex no longer knows is replaced once by a new thread.
//! - `--output-schema` is the strict dialect: every object has `"additionalProperties": false`
//!   and lists all its properties in `required`.
//! - Everything codex says (answer, stderr, session files) is hostile input: sizes are capped
//!   and paths kept inside the repository before anything is stored or shown.

pub mod answer;
pub mod argv;
pub mod classify;
pub mod isolation;
pub mod job;
pub mod jsonl;
mod outcome;
pub mod prompt;
pub mod quota;
pub mod runner;
pub mod sessions;

pub use answer::{Answer, AnswerVerdict};
pub use argv::Invocation;
pub use classify::ErrorClass;
pub use job::{Job, JobError, JobResult};
pub use runner::{RunOutcome, run};
