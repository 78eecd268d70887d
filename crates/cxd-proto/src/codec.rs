//! The one place that knows the body encoding (bincode 2), so swapping it is a one-file change.

use serde::{Serialize, de::DeserializeOwned};

/// Why a message body could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The value could not be turned into bytes.
    #[error("cannot encode message: {0}")]
    Encode(String),
    /// The bytes are not a valid message of the expected type.
    #[error("cannot decode message ({len} bytes): {reason}")]
    Decode {
        /// Size of the body that failed.
        len: usize,
        /// What the decoder said.
        reason: String,
    },
    /// The body decoded but bytes were left over, a sign of a mismatched peer.
    #[error("message of {len} bytes has {extra} trailing bytes")]
    Trailing {
        /// Size of the body, in bytes.
        len: usize,
        /// Bytes left after the message.
        extra: usize,
    },
}

fn config() -> impl bincode::config::Config {
    // Big-endian fixed ints are not needed: varints keep small messages small. The limit
    // bounds any allocation the decoder makes from a length read inside the body.
    bincode::config::standard().with_limit::<{ crate::frame::MAX_FRAME }>()
}

/// Encode a message body with the same bincode settings [`decode`] reads back.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| CodecError::Encode(e.to_string()))
}

/// Decode a message body; every byte must be consumed.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, used) =
        bincode::serde::decode_from_slice(bytes, config()).map_err(|e| CodecError::Decode {
            len: bytes.len(),
            reason: e.to_string(),
        })?;
    if used != bytes.len() {
        return Err(CodecError::Trailing {
            len: bytes.len(),
            extra: bytes.len() - used,
        });
    }
    Ok(value)
}
