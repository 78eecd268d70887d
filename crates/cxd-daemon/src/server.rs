//! The local socket server: one task a connection, handshake, framing, dispatch, subscriptions.

use std::sync::Arc;
use std::time::Duration;

use cxd_proto::async_frame::{read_frame, write_frame};
use cxd_proto::frame::FrameError;
use cxd_proto::message::Event;
use cxd_proto::{ErrorKind, ErrorReply, Hello, PROTOCOL_VERSION, Request, Response};
use std::path::PathBuf;

use interprocess::local_socket::tokio::{Listener, Stream};
use interprocess::local_socket::traits::StreamCommon as _;
use interprocess::local_socket::traits::tokio::Listener as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Semaphore, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::caller::Caller;
use crate::requests::{Handler, Reply};
use crate::socket_watch::SocketWatch;

/// How long a new client has to send its `Hello`.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a frame may take to arrive once its header has.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more wait in the accept queue.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// Accept connections until `shutdown` fires, then wait (bounded) for those in flight.
/// Where the server listens, so it can put its socket back if someone removes it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The socket path it binds, and rebinds if the file is removed.
    pub socket: PathBuf,
    /// How its directory is to be checked when the socket is put back.
    pub socket_dir: cxd_proto::ownership::SocketDir,
    /// Only this user may connect (the daemon's own user).
    pub uid: u32,
}

/// Accept connections until `shutdown` fires, then wait (bounded) for those in flight.
pub async fn run(
    mut listener: Listener,
    endpoint: Endpoint,
    handler: Arc<Handler>,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    // Told when the socket's directory changes (no timer while idle); armed before the
    // socket's identity is read, so a change in between is heard.
    let mut socket_watch = SocketWatch::new(&endpoint.socket);
    let mut identity = socket_identity(&endpoint.socket);
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = loop {
            tokio::select! {
                () = shutdown.cancelled() => break None,
                () = socket_watch.changed() => {
                    if socket_identity(&endpoint.socket) != identity {
                        match relisten(&endpoint) {
                            Ok(l) => {
                                listener = l;
                                socket_watch = SocketWatch::new(&endpoint.socket);
                                identity = socket_identity(&endpoint.socket);
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "the socket was removed and cannot be recreated; stopping");
                                shutdown.cancel();
                                break None;
                            }
                        }
                    }
                }
                r = listener.accept() => match r {
                    Ok(s) => break Some(s),
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        };
        let Some(stream) = stream else { break };
        let handler = handler.clone();
        let shutdown = shutdown.clone();
        let uid = endpoint.uid;
        let idle_slots = slots.clone();
        tracker.spawn(async move {
            if let Err(e) = serve(stream, uid, &handler, &shutdown).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
            // The last of a crowd of clients is gone: give their buffers back.
            if idle_slots.available_permits() == MAX_CONNECTIONS {
                crate::memory::trim();
            }
        });
    }
    drop(listener);
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = tracker.len(),
            "connections still open at shutdown; closing them"
        );
    }
}

/// The socket file's (device, inode), or None when it is gone.
fn socket_identity(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

fn relisten(endpoint: &Endpoint) -> Result<Listener, crate::socket::SocketError> {
    tracing::warn!(socket = %endpoint.socket.display(), "the socket file was removed or replaced; listening again");
    crate::socket::listen(&endpoint.socket, endpoint.socket_dir)
}

/// Serve one connection to its end.
async fn serve(
    stream: Stream,
    uid: u32,
    handler: &Handler,
    shutdown: &CancellationToken,
) -> Result<(), FrameError> {
    // The socket's directory is private, but check the peer too where the OS says who it is.
    let creds = stream.peer_creds().ok();
    let peer = creds.as_ref().and_then(|c| c.euid());
    let peer_pid = creds
        .as_ref()
        .and_then(|c| c.pid())
        .and_then(|p| u32::try_from(p).ok());
    // Who the client is, worked out the first time a request needs it (a user's decision).
    let mut caller: Option<Caller> = None;
    let (rd, mut wr) = tokio::io::split(stream);
    // A request's header and body arrive together: one read takes both.
    let mut rd = tokio::io::BufReader::new(rd);
    if let Some(peer) = peer
        && peer != uid
        && peer != 0
    {
        tracing::warn!(peer, "refused a connection from another user");
        let msg = format!("user {peer} may not use this cxd daemon (it belongs to user {uid})");
        return refuse(&mut wr, ErrorKind::Forbidden, msg).await;
    }

    let hello = match tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        read_frame::<_, Hello>(&mut rd, FRAME_TIMEOUT),
    )
    .await
    {
        Err(_) => {
            let msg = format!("no handshake within {}s", HANDSHAKE_TIMEOUT.as_secs());
            return refuse(&mut wr, ErrorKind::HandshakeTimeout, msg).await;
        }
        Ok(Err(FrameError::Closed)) => return Ok(()),
        Ok(Err(e)) => return refuse_bad_frame(&mut wr, e).await,
        Ok(Ok(h)) => h,
    };
    if hello.protocol_version != PROTOCOL_VERSION {
        let msg = format!(
            "protocol version {} is not supported (daemon {} speaks {}): restart the daemon with `cxd stop` and run the same cxd version on both sides",
            hello.protocol_version,
            cxd_proto::VERSION,
            PROTOCOL_VERSION
        );
        return refuse(&mut wr, ErrorKind::VersionMismatch, msg).await;
    }
    let welcome = Response::Welcome {
        protocol_version: PROTOCOL_VERSION,
        daemon_version: cxd_proto::VERSION.to_owned(),
        pid: std::process::id(),
    };
    write_frame(&mut wr, &welcome).await?;

    loop {
        let request = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            r = read_frame::<_, Request>(&mut rd, FRAME_TIMEOUT) => r,
        };
        let request = match request {
            Ok(r) => r,
            Err(FrameError::Closed) => return Ok(()),
            Err(e) => return refuse_bad_frame(&mut wr, e).await,
        };
        match request {
            Request::Subscribe => {
                let events = handler.ctx.events.subscribe();
                return stream_events(rd, wr, events, shutdown).await;
            }
            Request::Stop => {
                let who = caller.get_or_insert_with(|| crate::caller::of_pid(peer_pid));
                if who.is_agent() {
                    let reply = refused_decision("cxd stop");
                    write_frame(&mut wr, &reply).await?;
                    continue;
                }
                crate::requests::audit_decision(&handler.store, None, "daemon_stop", who).await;
                let reply = Response::Ok {
                    message: "cxd daemon is stopping".into(),
                };
                let written = write_frame(&mut wr, &reply).await;
                shutdown.cancel();
                return written;
            }
            other => {
                // Attributed only where it matters: where the audit trail names who did it.
                let who = if crate::decisions::attributed(&other) {
                    caller
                        .get_or_insert_with(|| crate::caller::of_pid(peer_pid))
                        .clone()
                } else {
                    Caller::Person
                };
                if let Some(decision) = crate::decisions::decision(&other)
                    && who.is_agent()
                {
                    tracing::info!(decision, session = ?who.session(), "refused a user's decision from an agent session");
                    write_frame(&mut wr, &refused_decision(decision)).await?;
                    continue;
                }
                match handler.handle(other, who).await {
                    Reply::One(reply) => write_frame(&mut wr, &reply).await?,
                    Reply::Wait { root, events, done } => {
                        wait_for_review(&mut rd, &mut wr, &root, events, done, shutdown).await?;
                    }
                }
            }
        }
    }
}

/// Forward live events until the client hangs up or the daemon stops.
async fn stream_events<R, W>(
    mut rd: R,
    mut wr: W,
    mut events: broadcast::Receiver<Event>,
    shutdown: &CancellationToken,
) -> Result<(), FrameError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    write_frame(
        &mut wr,
        &Response::Ok {
            message: "subscribed".into(),
        },
    )
    .await?;
    let mut sink = [0u8; 64];
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                // The last event a subscriber sees (bounded: it may not be reading).
                let ev = Event {
                    at: crate::clock::now_rfc3339(),
                    kind: "daemon_stopping".into(),
                    workspace: None,
                    message: "cxd daemon is stopping".into(),
                };
                let _ = tokio::time::timeout(FRAME_TIMEOUT, write_frame(&mut wr, &Response::Event(ev))).await;
                return Ok(());
            }
            n = rd.read(&mut sink) => match n {
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => {} // nothing is expected from a subscriber; ignore it
            },
            ev = events.recv() => match ev {
                Ok(ev) => write_frame(&mut wr, &Response::Event(ev)).await?,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    let ev = Event {
                        at: crate::clock::now_rfc3339(),
                        kind: "lagged".into(),
                        workspace: None,
                        message: format!("{n} events were dropped because this subscriber fell behind"),
                    };
                    write_frame(&mut wr, &Response::Event(ev)).await?;
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
        }
    }
}

/// Relay what codex is doing for `root` until the review's result arrives.
async fn wait_for_review<R, W>(
    rd: &mut R,
    wr: &mut W,
    root: &std::path::Path,
    mut events: broadcast::Receiver<Event>,
    mut done: tokio::sync::oneshot::Receiver<Response>,
    shutdown: &CancellationToken,
) -> Result<(), FrameError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let started = std::time::Instant::now();
    let mut sink = [0u8; 64];
    loop {
        tokio::select! {
            result = &mut done => {
                let reply = result.unwrap_or_else(|_| Response::Error(ErrorReply {
                    kind: ErrorKind::ShuttingDown,
                    message: "the review was cut short: the daemon is stopping or the workspace was unwatched".into(),
                }));
                return write_frame(wr, &reply).await;
            }
            ev = events.recv() => match ev {
                Ok(ev) if ev.kind == "review_activity" && ev.workspace.as_deref() == Some(root) => {
                    let progress = Response::Progress {
                        elapsed_ms: started.elapsed().as_millis() as u64,
                        activity: ev.message,
                    };
                    write_frame(wr, &progress).await?;
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => {}
            },
            // The client hung up: the review goes on without it.
            n = rd.read(&mut sink) => if matches!(n, Ok(0) | Err(_)) { return Ok(()) },
            () = shutdown.cancelled() => {
                // Let the workspace record the interruption, then tell the client.
                if let Ok(Ok(reply)) = tokio::time::timeout(SHUTDOWN_GRACE, &mut done).await {
                    return write_frame(wr, &reply).await;
                }
                return Ok(());
            }
        }
    }
}

/// The answer to an agent that asked for one of the user's decisions.
fn refused_decision(decision: &str) -> Response {
    Response::Error(ErrorReply {
        kind: ErrorKind::UserDecision,
        message: crate::decisions::refusal(decision),
    })
}

async fn refuse_bad_frame<W: AsyncWrite + Unpin>(
    wr: &mut W,
    e: FrameError,
) -> Result<(), FrameError> {
    tracing::info!(error = %e, "closing a connection that sent a bad frame");
    refuse(wr, ErrorKind::BadFrame, format!("bad frame: {e}")).await
}

async fn refuse<W: AsyncWrite + Unpin>(
    wr: &mut W,
    kind: ErrorKind,
    message: String,
) -> Result<(), FrameError> {
    let reply = Response::Error(ErrorReply { kind, message });
    // The peer may be gone already; the error reply is best effort.
    let _ = tokio::time::timeout(FRAME_TIMEOUT, write_frame(wr, &reply)).await;
    let _ = wr.shutdown().await;
    Ok(())
}
