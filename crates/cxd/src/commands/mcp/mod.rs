//! `cxd mcp`: an MCP server on stdio that gives the model cxd's tools (status, findings,
//! review, plan, dispute) for the workspace it was started in. Each call is a client of the
//! daemon, over the same socket and requests as the matching `cxd` command.

mod calls;
mod lines;
mod tools;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use cxd_proto::paths::Paths;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProgressToken,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, Peer, ServerHandler, ServiceExt as _};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, DuplexStream, Stdout};
use tokio::sync::{Mutex, mpsc};

/// What the server tells the client about itself at `initialize`.
const INSTRUCTIONS: &str = "cxd has Codex review this project's changes as you work. Validate a plan with the plan tool before implementing it; cxd reviews each settled burst of edits by itself; read open findings with the findings tool and answer each one: fix it, or dispute it with the dispute tool and your reason. When Codex upholds a dispute or raises an architecture concern, stop and ask the user. Dismissing and approving are the user's decisions.";

/// Bytes buffered between the checked stdin, the server and stdout.
const PIPE: usize = 64 * 1024;

/// The server: the cxd paths (socket) and the workspace every tool works on.
struct CxdMcp {
    paths: Paths,
    workspace: PathBuf,
}

/// Serve MCP on stdin/stdout until the client closes stdin.
pub fn run(paths: &Paths) -> anyhow::Result<ExitCode> {
    let workspace = std::env::current_dir().context("cannot read the current directory")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let server = CxdMcp {
        paths: paths.clone(),
        workspace,
    };
    let result = runtime.block_on(async move {
        let (to_server, server_in) = tokio::io::duplex(PIPE);
        let (server_out, from_server) = tokio::io::duplex(PIPE);
        let stdout = Arc::new(Mutex::new(tokio::io::stdout()));
        let intake = tokio::spawn(intake(to_server, stdout.clone()));
        let output = tokio::spawn(output(from_server, stdout));
        let running = server
            .serve((server_in, server_out))
            .await
            .context("the MCP client did not complete the handshake")?;
        running.waiting().await.context("the MCP server failed")?;
        intake.abort();
        // What the server wrote last goes out before the process ends.
        let _ = tokio::time::timeout(Duration::from_secs(1), output).await;
        anyhow::Ok(())
    });
    // A review still waited on by a call the client gave up on must not keep the process.
    runtime.shutdown_timeout(Duration::from_millis(500));
    result.map(|()| ExitCode::SUCCESS)
}

impl ServerHandler for CxdMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("cxd", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::all()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let args = request.arguments.unwrap_or_default();
        let (tx, rx) = mpsc::unbounded_channel::<(u64, String)>();
        let forward = context
            .meta
            .get_progress_token()
            .map(|token| tokio::spawn(forward_progress(context.peer.clone(), token, rx)));
        let paths = self.paths.clone();
        let workspace = self.workspace.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let mut progress = |ms: u64, activity: &str| {
                let _ = tx.send((ms, activity.to_owned()));
            };
            calls::call(&paths, &workspace, &name, args, &mut progress)
        })
        .await;
        if let Some(forward) = forward {
            // Every progress notification goes out before the result.
            let _ = forward.await;
        }
        let result = match outcome {
            Ok(o) if o.is_error => CallToolResult::error(vec![ContentBlock::text(o.text)]),
            Ok(o) => CallToolResult::success(vec![ContentBlock::text(o.text)]),
            Err(e) => CallToolResult::error(vec![ContentBlock::text(format!(
                "cxd: the tool call failed inside cxd ({e}); try again, and if it keeps failing run the matching `cxd` command to see why"
            ))]),
        };
        Ok(result.into())
    }
}

/// Send each change of codex's activity as a progress notification; `progress` is the
/// milliseconds into the wait, made strictly increasing as the protocol asks.
async fn forward_progress(
    peer: Peer<RoleServer>,
    token: ProgressToken,
    mut rx: mpsc::UnboundedReceiver<(u64, String)>,
) {
    let mut last_progress = 0u64;
    let mut last_activity = String::new();
    while let Some((ms, activity)) = rx.recv().await {
        if activity == last_activity {
            continue;
        }
        last_progress = ms.max(last_progress + 1);
        let message = format!(
            "[{}] codex: {}",
            crate::commands::status::duration(ms / 1000),
            crate::sanitize::line(&activity)
        );
        last_activity = activity;
        let param = ProgressNotificationParam::new(token.clone(), last_progress as f64)
            .with_message(message);
        if peer.notify_progress(param).await.is_err() {
            return;
        }
    }
}

/// Read the client's lines from stdin, each bounded and checked ([`lines::check`]): a good
/// one goes on to the server, a bad one is answered on stdout with a JSON-RPC error. At the
/// end of stdin the server's input ends too.
async fn intake(mut to_server: DuplexStream, stdout: Arc<Mutex<Stdout>>) {
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    loop {
        let answer = match lines::read_line(&mut stdin, &mut line, lines::MAX_LINE).await {
            Ok(lines::Read::Oversized) => lines::oversized(),
            Ok(read) => match lines::check(&line) {
                lines::Check::Forward => {
                    line.push(b'\n');
                    if to_server.write_all(&line).await.is_err() {
                        return;
                    }
                    if read == lines::Read::Eof {
                        return;
                    }
                    continue;
                }
                lines::Check::Skip if read == lines::Read::Eof => return,
                lines::Check::Skip => continue,
                lines::Check::Answer(a) => a,
            },
            Err(e) => {
                tracing::debug!(error = %e, "cannot read stdin");
                return;
            }
        };
        if write_line(&stdout, answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Copy the server's messages to stdout a whole line at a time (so an answer from
/// [`intake`] never lands inside one).
async fn output(from_server: DuplexStream, stdout: Arc<Mutex<Stdout>>) {
    let mut from_server = BufReader::new(from_server);
    let mut line = Vec::new();
    loop {
        line.clear();
        match from_server.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                if write_line(&stdout, text).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Write one message and its newline to stdout, flushed.
async fn write_line(stdout: &Mutex<Stdout>, line: &[u8]) -> std::io::Result<()> {
    let mut out = stdout.lock().await;
    out.write_all(line).await?;
    out.write_all(b"\n").await?;
    out.flush().await
}
