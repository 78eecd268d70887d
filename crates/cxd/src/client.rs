//! The thin client: connect, handshake, one request, one response, with timeouts throughout.

use std::io::ErrorKind as IoKind;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use cxd_proto::frame::FrameError;
use cxd_proto::paths::Paths;
use cxd_proto::{ErrorKind, Hello, Request, Response, read_frame, write_frame};

use crate::exit::{Failure, NO, UNREACHABLE, USAGE};

/// How long a request may take before the daemon counts as wedged.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to the daemon that has passed the handshake.
pub struct Client {
    stream: UnixStream,
    socket: PathBuf,
}

impl Client {
    /// Connect and shake hands; a missing or dead daemon is exit code 3, and so is a socket that
    /// is not provably our own daemon's (checked before anything is sent).
    pub fn connect(paths: &Paths) -> Result<Self, Failure> {
        let socket = paths.socket.as_path();
        crate::socket_check::check_location(socket, paths.socket_dir)?;
        let stream = UnixStream::connect(socket).map_err(|e| match e.kind() {
            IoKind::NotFound | IoKind::ConnectionRefused => {
                crate::socket_check::not_running(socket)
            }
            _ => Failure::new(
                UNREACHABLE,
                format!(
                    "cannot connect to the cxd daemon at {}: {e}",
                    socket.display()
                ),
            ),
        })?;
        let stream = crate::socket_check::check_peer(stream, socket)?;
        let mut client = Self {
            stream,
            socket: socket.to_path_buf(),
        };
        client.set_timeout(Some(REQUEST_TIMEOUT))?;
        write_frame(&mut client.stream, &Hello::new()).map_err(|e| client.wire_error(e))?;
        match read_frame::<_, Response>(&mut client.stream).map_err(|e| client.wire_error(e))? {
            Response::Welcome { .. } => Ok(client),
            Response::Error(e) => Err(Failure::new(UNREACHABLE, e.message)),
            other => Err(Failure::new(
                UNREACHABLE,
                format!("unexpected handshake reply from the daemon: {other:?}"),
            )),
        }
    }

    /// Change the read timeout (None waits forever, for streams and long waits).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), Failure> {
        self.stream
            .set_read_timeout(timeout)
            .and_then(|()| {
                self.stream
                    .set_write_timeout(timeout.or(Some(REQUEST_TIMEOUT)))
            })
            .map_err(|e| Failure::new(UNREACHABLE, format!("socket setup failed: {e}")))
    }

    /// Send one request and read its response; daemon-side errors become failures.
    pub fn request(&mut self, request: &Request) -> Result<Response, Failure> {
        self.send(request)?;
        match self.recv()? {
            Response::Error(e) => Err(Failure::new(exit_code(e.kind), e.message)),
            other => Ok(other),
        }
    }

    /// Send one request without waiting, for requests answered by several frames (progress, events).
    pub fn send(&mut self, request: &Request) -> Result<(), Failure> {
        write_frame(&mut self.stream, request).map_err(|e| self.wire_error(e))
    }

    /// Read the next response frame; blocks up to the timeout given to [`Client::set_timeout`].
    pub fn recv(&mut self) -> Result<Response, Failure> {
        read_frame(&mut self.stream).map_err(|e| self.wire_error(e))
    }

    fn wire_error(&self, e: FrameError) -> Failure {
        let socket = self.socket.display();
        match e {
            FrameError::Io(io) if matches!(io.kind(), IoKind::WouldBlock | IoKind::TimedOut) => {
                Failure::new(
                    UNREACHABLE,
                    format!(
                        "the cxd daemon at {socket} did not answer within {}s: it may be wedged; check its log, or restart it (`cxd stop`, then `cxd daemon`)",
                        REQUEST_TIMEOUT.as_secs()
                    ),
                )
            }
            FrameError::Closed => Failure::new(
                UNREACHABLE,
                format!("the cxd daemon at {socket} closed the connection (is it stopping?)"),
            ),
            other => Failure::new(
                UNREACHABLE,
                format!("talking to the cxd daemon at {socket}: {other}"),
            ),
        }
    }
}

/// The exit code a daemon-side error of `kind` ends the client with.
pub fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Usage => USAGE,
        // Refused to the agent under review: a "no", not a daemon that is down.
        ErrorKind::UserDecision => NO,
        _ => UNREACHABLE,
    }
}
