//! Everything the cxd daemon and its client share: wire messages, framing and paths.
//!
//! This crate has no async runtime and does no I/O beyond `std::io::{Read, Write}` (its one
//! system call is `geteuid`), so the thin client can depend on it alone. The daemon turns on
//! the `tokio` feature for [`async_frame`], the same framing over tokio's async I/O.

#[cfg(feature = "tokio")]
pub mod async_frame;
pub mod codec;
pub mod domain;
pub mod frame;
pub mod limits;
pub mod message;
pub mod ownership;
pub mod paths;
pub mod status;

pub use frame::{FrameError, MAX_FRAME, read_frame, write_frame};
pub use message::{ErrorKind, ErrorReply, Hello, Request, Response};

/// Version of the wire protocol; a client and daemon must agree on it exactly.
pub const PROTOCOL_VERSION: u32 = 7;

/// Version of this build of cxd, sent in the handshake and shown by `status`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
