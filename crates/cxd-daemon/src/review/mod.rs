//! Code review by the Codex CLI: the prompt, the answer schema, running codex, reading its
//! JSONL, and classifying its failures.

pub mod answer;
pub mod classify;
pub mod invocation;
pub mod jsonl;
pub mod prompt;
pub mod runner;

pub use answer::{Answer, AnswerFinding, AnswerVerdict};
pub use classify::ErrorClass;
pub use invocation::Invocation;
pub use runner::{RunOutcome, run};
