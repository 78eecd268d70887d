//! Length-prefixed frames: a big-endian `u32` length, then that many body bytes.

use std::io::{self, Read, Write};

use serde::{Serialize, de::DeserializeOwned};

use crate::codec::{self, CodecError};

/// The largest body a peer may send; checked before anything is allocated.
pub const MAX_FRAME: usize = 8 * 1024 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer announced a body larger than [`MAX_FRAME`].
    #[error("frame of {len} bytes exceeds the {max} byte limit")]
    TooLarge {
        /// The length the header announced, in bytes.
        len: u64,
        /// The largest body accepted, in bytes ([`MAX_FRAME`]).
        max: usize,
    },
    /// The connection closed cleanly before a new frame began.
    #[error("connection closed")]
    Closed,
    /// The connection closed in the middle of a frame.
    #[error("connection closed mid-frame ({got} of {want} bytes)")]
    Truncated {
        /// Body bytes received before the connection closed.
        got: usize,
        /// Body bytes the header announced.
        want: usize,
    },
    /// The body is not a valid message.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Reading or writing the socket failed.
    #[error("socket i/o failed: {0}")]
    Io(#[from] io::Error),
}

/// Check an announced body length against [`MAX_FRAME`].
pub fn check_len(header: [u8; 4]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge {
            len: len as u64,
            max: MAX_FRAME,
        });
    }
    Ok(len)
}

/// Encode `value` into one complete frame (header and body).
pub fn encode_frame<T: Serialize>(value: &T) -> Result<Vec<u8>, FrameError> {
    let body = codec::encode(value)?;
    if body.len() > MAX_FRAME {
        return Err(FrameError::TooLarge {
            len: body.len() as u64,
            max: MAX_FRAME,
        });
    }
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Write one frame and flush.
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, value: &T) -> Result<(), FrameError> {
    let frame = encode_frame(value)?;
    w.write_all(&frame)?;
    w.flush()?;
    Ok(())
}

/// Read one frame and decode its body.
pub fn read_frame<R: Read, T: DeserializeOwned>(r: &mut R) -> Result<T, FrameError> {
    let mut header = [0u8; 4];
    let got = read_full(r, &mut header)?;
    let mut body = vec![0u8; body_len(header, got)?];
    let got = read_full(r, &mut body)?;
    decode_body(&body, got)
}

/// What a header of which `got` bytes arrived announces: a clean close (nothing arrived), a
/// truncated header, or a body length within [`MAX_FRAME`]. Shared by the blocking and the
/// async reader, so both map a stream the same way.
pub(crate) fn body_len(header: [u8; 4], got: usize) -> Result<usize, FrameError> {
    if got == 0 {
        return Err(FrameError::Closed);
    }
    if got < header.len() {
        return Err(FrameError::Truncated {
            got,
            want: header.len(),
        });
    }
    check_len(header)
}

/// Decode a body of which `got` bytes arrived (fewer than its length: truncated).
pub(crate) fn decode_body<T: DeserializeOwned>(body: &[u8], got: usize) -> Result<T, FrameError> {
    if got < body.len() {
        return Err(FrameError::Truncated {
            got,
            want: body.len(),
        });
    }
    Ok(codec::decode(body)?)
}

/// Read until `buf` is full or EOF; returns the bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<usize, io::Error> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Hello, Request};

    #[test]
    fn round_trip() {
        let hello = Hello::new();
        let mut buf = Vec::new();
        write_frame(&mut buf, &hello).unwrap();
        let back: Hello = read_frame(&mut buf.as_slice()).unwrap();
        assert_eq!(back, hello);

        let req = Request::Status {
            path: Some("/tmp/x y".into()),
        };
        let mut buf = Vec::new();
        write_frame(&mut buf, &req).unwrap();
        assert_eq!(
            u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize,
            buf.len() - 4
        );
        let back: Request = read_frame(&mut buf.as_slice()).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn oversized_header_is_refused_before_allocating() {
        let bytes = [0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        let err = read_frame::<_, Request>(&mut bytes.as_slice()).unwrap_err();
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

    #[test]
    fn empty_stream_is_closed() {
        let err = read_frame::<_, Request>(&mut [].as_slice()).unwrap_err();
        assert!(matches!(err, FrameError::Closed), "{err}");
    }

    #[test]
    fn truncated_header_and_body() {
        let err = read_frame::<_, Request>(&mut [0u8, 0].as_slice()).unwrap_err();
        assert!(
            matches!(err, FrameError::Truncated { got: 2, want: 4 }),
            "{err}"
        );
        let err = read_frame::<_, Request>(&mut [0u8, 0, 0, 10, 1, 2].as_slice()).unwrap_err();
        assert!(
            matches!(err, FrameError::Truncated { got: 2, want: 10 }),
            "{err}"
        );
    }

    #[test]
    fn garbage_body_is_a_codec_error() {
        let bytes = [0u8, 0, 0, 3, 0xfe, 0xfe, 0xfe];
        let err = read_frame::<_, Request>(&mut bytes.as_slice()).unwrap_err();
        assert!(
            matches!(err, FrameError::Codec(CodecError::Decode { len: 3, .. })),
            "{err}"
        );
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut body = codec::encode(&Request::Stop).unwrap();
        body.extend_from_slice(&[0, 0]);
        let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&body);
        let err = read_frame::<_, Request>(&mut bytes.as_slice()).unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::Codec(CodecError::Trailing { extra: 2, .. })
            ),
            "{err}"
        );
    }

    #[test]
    fn inner_length_cannot_force_a_huge_allocation() {
        // A string claiming u64::MAX bytes inside a small frame must fail, not allocate.
        let mut body = vec![1u8]; // variant index of a struct with a string (Status{path: Some})
        body.push(1); // Some
        body.extend_from_slice(&[253]); // varint marker for u64
        body.extend_from_slice(&u64::MAX.to_le_bytes());
        let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&body);
        assert!(read_frame::<_, Request>(&mut bytes.as_slice()).is_err());
    }

    #[test]
    fn io_errors_are_reported() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("boom"))
            }
        }
        let err = read_frame::<_, Request>(&mut Broken).unwrap_err();
        assert!(matches!(err, FrameError::Io(_)), "{err}");
    }
}
