//! The framing of [`crate::frame`] over tokio's async I/O: the same header, length check,
//! limit and error mapping (shared with the blocking reader), plus a deadline for the body so
//! a client that announces a frame and goes silent cannot hold a connection forever.

use std::io;
use std::time::Duration;

use serde::{Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::frame::{FrameError, body_len, decode_body, encode_frame};

/// Read one frame: the header may take as long as it likes (an idle client), the body must
/// follow within `body_timeout`.
pub async fn read_frame<R, T>(rd: &mut R, body_timeout: Duration) -> Result<T, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut header = [0u8; 4];
    let got = read_full(rd, &mut header).await?;
    let len = body_len(header, got)?;
    let mut body = vec![0u8; len];
    let got = match tokio::time::timeout(body_timeout, read_full(rd, &mut body)).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(FrameError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "frame body of {len} bytes did not arrive within {}s",
                    body_timeout.as_secs()
                ),
            )));
        }
    };
    decode_body(&body, got)
}

/// Write one frame and flush.
pub async fn write_frame<W, T>(wr: &mut W, value: &T) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let frame = encode_frame(value)?;
    wr.write_all(&frame).await?;
    wr.flush().await?;
    Ok(())
}

/// Read until `buf` is full or EOF; returns the bytes read.
async fn read_full<R: AsyncRead + Unpin>(rd: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match rd.read(&mut buf[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Hello, Request};

    const T: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &Hello::new()).await.unwrap();
        let back: Hello = read_frame(&mut buf.as_slice(), T).await.unwrap();
        assert_eq!(back, Hello::new());
    }

    #[tokio::test]
    async fn an_oversized_header_is_refused_before_the_body() {
        let bytes = [0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        let err = read_frame::<_, Request>(&mut bytes.as_slice(), T)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::TooLarge {
                    len: 0xffff_ffff,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn closed_truncated_header_and_truncated_body() {
        let err = read_frame::<_, Request>(&mut [].as_slice(), T)
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::Closed), "{err}");
        let err = read_frame::<_, Request>(&mut [0u8, 0].as_slice(), T)
            .await
            .unwrap_err();
        assert!(
            matches!(err, FrameError::Truncated { got: 2, want: 4 }),
            "{err}"
        );
        let err = read_frame::<_, Request>(&mut [0u8, 0, 0, 10, 1, 2].as_slice(), T)
            .await
            .unwrap_err();
        assert!(
            matches!(err, FrameError::Truncated { got: 2, want: 10 }),
            "{err}"
        );
    }

    /// A header, then silence: the body's deadline ends the read (on paused time).
    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_comes_times_out() {
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(&[0, 0, 0, 10, 1]).await.unwrap();
        let err = read_frame::<_, Request>(&mut server, T).await.unwrap_err();
        match err {
            FrameError::Io(e) => {
                assert_eq!(e.kind(), io::ErrorKind::TimedOut);
                assert!(
                    e.to_string()
                        .contains("frame body of 10 bytes did not arrive within 5s"),
                    "{e}"
                );
            }
            other => panic!("{other}"),
        }
        drop(client);
    }
}
