//! systemd's readiness protocol (`sd_notify`): `READY=1` once the daemon serves and its stored
//! workspaces are watched, `STOPPING=1` when shutdown begins. A no-op without `NOTIFY_SOCKET`.
//!
//! The protocol is one datagram a message to the Unix socket named in `NOTIFY_SOCKET`: a path,
//! or `@name` for a Linux abstract address. No crate is needed for that.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;

use tokio_util::sync::CancellationToken;

/// The variable systemd sets for a `Type=notify` service.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Tell the service manager the daemon is ready: its socket listens, its workspaces are watched.
pub fn ready() {
    send_logged("READY=1\nSTATUS=serving");
}

/// Tell the service manager the daemon is shutting down.
pub fn stopping() {
    send_logged("STOPPING=1\nSTATUS=stopping");
}

/// Send `STOPPING=1` as soon as `shutdown` fires, whatever fired it (a signal or `cxd stop`).
pub fn stopping_on(shutdown: CancellationToken) {
    if std::env::var_os(NOTIFY_SOCKET).is_none() {
        return;
    }
    tokio::spawn(async move {
        shutdown.cancelled().await;
        stopping();
    });
}

fn send_logged(message: &str) {
    let Some(addr) = std::env::var_os(NOTIFY_SOCKET) else {
        return;
    };
    match send(&addr, message) {
        Ok(()) => tracing::debug!(
            socket = %addr.to_string_lossy(),
            message = %message.replace('\n', " "),
            "notified the service manager"
        ),
        // The daemon works without it; systemd will time the start out and say so.
        Err(e) => tracing::warn!(
            socket = %addr.to_string_lossy(),
            error = %e,
            "cannot notify the service manager (NOTIFY_SOCKET)"
        ),
    }
}

/// Send one notification to `addr`: a socket path, or `@name` for an abstract address (Linux).
pub fn send(addr: &OsStr, message: &str) -> io::Result<()> {
    let bytes = addr.as_bytes();
    if bytes.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "NOTIFY_SOCKET is empty",
        ));
    }
    let sock = UnixDatagram::unbound()?;
    let sent = match bytes.strip_prefix(b"@") {
        Some(name) => send_abstract(&sock, name, message.as_bytes())?,
        None => sock.send_to(message.as_bytes(), addr)?,
    };
    if sent != message.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("sent {sent} of {} bytes", message.len()),
        ));
    }
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_abstract(sock: &UnixDatagram, name: &[u8], message: &[u8]) -> io::Result<usize> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt as _;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt as _;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    sock.send_to_addr(message, &addr)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_abstract(_sock: &UnixDatagram, _name: &[u8], _message: &[u8]) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract socket addresses (@name) exist only on Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn recv(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn sends_to_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        send(path.as_os_str(), "READY=1").unwrap();
        assert_eq!(recv(&listener), "READY=1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_to_an_abstract_address() {
        use std::os::linux::net::SocketAddrExt as _;
        let name = format!("cxd-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        send(OsStr::new(&format!("@{name}")), "STOPPING=1").unwrap();
        assert_eq!(recv(&listener), "STOPPING=1");
    }

    #[test]
    fn a_missing_socket_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = send(dir.path().join("nobody").as_os_str(), "READY=1").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        assert!(send(OsStr::new(""), "READY=1").is_err());
    }
}
