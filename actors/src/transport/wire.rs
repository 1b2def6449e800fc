//! The member-to-member wire format: what one frame is and how it is framed.
//!
//! A connection carries a sequence of frames. On the socket each frame is
//!
//! ```text
//! u32 big-endian length L | body: MessagePack (rmp-serde) of a `Frame` | u32 LE CRC-32C of the body
//!                          \_____________________ L bytes ______________________________________/
//! ```
//!
//! The length prefix is `tokio_util`'s [`LengthDelimitedCodec`]; the MessagePack
//! body is the [`Frame`] enum; block payloads inside requests and responses are
//! `serde_bytes`, so they travel as one MessagePack `bin`. The CRC-32C trailer
//! makes any corruption of the body (a flaky NIC, or the fault layer's
//! `corrupt`) a decode error rather than a silently different frame.
//!
//! Invariants:
//! * Decoding never panics and never allocates more than the frame it was
//!   given: every malformed input (too long, truncated, bad checksum, not a
//!   `Frame`, trailing bytes) is a typed [`WireError`]. A connection that
//!   yields one is closed by its owner.
//! * A frame is at most [`MAX_FRAME_BYTES`] bytes after the handshake and at most
//!   [`HANDSHAKE_MAX_FRAME_BYTES`] before it, so an unauthenticated peer cannot make
//!   us buffer more than a few KiB.
//! * [`encode`] refuses a frame the receiver would refuse, so an oversized
//!   request fails at its sender, not by killing the connection.

use std::io;
use std::marker::PhantomData;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use stripecast_config::MemberId;
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

use crate::protocol::{NodeStatus, Request, Response};

/// Largest frame body after the handshake: a request carries one block of at
/// most 16 MiB, plus headroom for the envelope.
pub const MAX_FRAME_BYTES: usize = 32 << 20;

/// Largest frame body during the handshake (Hello and Proof are ~100 bytes).
pub const HANDSHAKE_MAX_FRAME_BYTES: usize = 4 << 10;

/// Bytes of the CRC-32C trailer after the MessagePack body.
const CRC_LEN: usize = 4;

/// The first message of each side of the handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The sender's protocol version ([`crate::transport::handshake::PROTOCOL_VERSION`]).
    pub version: u16,
    /// The cluster name the sender belongs to.
    pub cluster: String,
    /// The sender's member id.
    pub from: MemberId,
    /// The member id the sender believes it is talking to.
    pub to: MemberId,
    /// A fresh random challenge (32 bytes).
    #[serde(with = "serde_bytes")]
    pub nonce: Vec<u8>,
}

/// The application messages of a connection that carries none: member
/// links (no value of it exists, so an `App` frame never decodes there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoApp {}

/// One message on a connection of this framing and handshake: a member
/// link (`Frame`, no application messages), or another system's link
/// that shares them and carries its own messages `A` (the video ring's
/// processor <-> switch connections).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Frame<A = NoApp> {
    /// Handshake, first step of each side.
    Hello(Hello),
    /// Handshake, second step: HMAC-SHA256 over the transcript.
    Proof {
        #[serde(with = "serde_bytes")]
        mac: Vec<u8>,
    },
    /// Sent every heartbeat interval; any frame counts as a sign of life.
    Heartbeat { seq: u64, status: NodeStatus },
    /// A data-path request; `id` is unique per sender and connection.
    Request { id: u64, body: Request },
    /// The answer to the request with the same `id`.
    Response { id: u64, body: Response },
    /// The sender is closing the connection on purpose.
    Goodbye { reason: String },
    /// An application message (on member links, where `A` is [`NoApp`],
    /// never valid). Named `Ring` on the wire, where it began.
    #[serde(rename = "Ring")]
    App(A),
}

impl<A> Frame<A> {
    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Hello(_) => "hello",
            Frame::Proof { .. } => "proof",
            Frame::Heartbeat { .. } => "heartbeat",
            Frame::Request { .. } => "request",
            Frame::Response { .. } => "response",
            Frame::Goodbye { .. } => "goodbye",
            Frame::App(_) => "app",
        }
    }
}

/// Why bytes could not be turned into a frame (or a frame into bytes).
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    #[error("frame length over the {max}-byte limit")]
    TooLarge { max: usize },
    #[error("frame of {0} bytes is too short to hold a checksum")]
    Truncated(usize),
    #[error("connection closed in the middle of a frame")]
    TruncatedStream,
    #[error("frame checksum mismatch (corrupt frame)")]
    Checksum,
    #[error("frame is not a valid message: {0}")]
    Malformed(String),
    #[error("{0} bytes after the end of the message")]
    Trailing(usize),
    #[error("frame could not be encoded: {0}")]
    Encode(String),
}

/// Encodes `frame` as a frame body (MessagePack + CRC trailer), without the
/// length prefix, checked against [`MAX_FRAME_BYTES`].
pub fn encode(frame: &Frame) -> Result<Bytes, WireError> {
    encode_limited(frame, MAX_FRAME_BYTES)
}

/// [`encode`] for a frame carrying application messages `A`.
pub fn encode_app<A: Serialize>(frame: &Frame<A>) -> Result<Bytes, WireError> {
    encode_limited(frame, MAX_FRAME_BYTES)
}

/// [`encode`] with a custom size limit.
pub fn encode_limited<A: Serialize>(frame: &Frame<A>, max: usize) -> Result<Bytes, WireError> {
    let mut out = BytesMut::with_capacity(64).writer();
    rmp_serde::encode::write(&mut out, frame).map_err(|e| WireError::Encode(e.to_string()))?;
    let mut buf = out.into_inner();
    let crc = crc32c::crc32c(&buf);
    buf.put_u32_le(crc);
    if buf.len() > max {
        return Err(WireError::TooLarge { max });
    }
    Ok(buf.freeze())
}

/// Decodes one frame body (as produced by [`encode`]).
pub fn decode(body: &[u8]) -> Result<Frame, WireError> {
    decode_app(body)
}

/// [`decode`] for a frame carrying application messages `A`.
pub fn decode_app<A: DeserializeOwned>(body: &[u8]) -> Result<Frame<A>, WireError> {
    if body.len() < CRC_LEN {
        return Err(WireError::Truncated(body.len()));
    }
    let (msg, trailer) = body.split_at(body.len() - CRC_LEN);
    let mut crc = [0u8; CRC_LEN];
    crc.copy_from_slice(trailer);
    if crc32c::crc32c(msg) != u32::from_le_bytes(crc) {
        return Err(WireError::Checksum);
    }
    decode_app_message(msg)
}

/// Decodes the MessagePack part of a body (no checksum). Public so fuzzing can
/// reach the MessagePack decoder past the checksum.
pub fn decode_message(msg: &[u8]) -> Result<Frame, WireError> {
    decode_app_message(msg)
}

fn decode_app_message<A: DeserializeOwned>(msg: &[u8]) -> Result<Frame<A>, WireError> {
    // A `Read`-based deserializer copies `bin` data as it reads it, so a
    // length field claiming gigabytes fails at the end of the input instead
    // of allocating.
    let mut de = rmp_serde::Deserializer::new(io::Cursor::new(msg));
    let frame =
        Frame::<A>::deserialize(&mut de).map_err(|e| WireError::Malformed(e.to_string()))?;
    let used = usize::try_from(de.position()).unwrap_or(usize::MAX);
    if used != msg.len() {
        return Err(WireError::Trailing(msg.len().saturating_sub(used)));
    }
    Ok(frame)
}

/// Length-delimited framing plus [`decode`]: reads [`Frame`]s (carrying
/// application messages `A`), writes bodies already encoded with
/// [`encode`] (encoding happens at the sender, off the connection's actor).
#[derive(Debug)]
pub struct FrameCodec<A = NoApp> {
    inner: LengthDelimitedCodec,
    app: PhantomData<fn() -> A>,
}

impl<A> FrameCodec<A> {
    /// A codec accepting frames up to `max` bytes.
    pub fn new(max: usize) -> Self {
        FrameCodec {
            inner: LengthDelimitedCodec::builder()
                .length_field_length(4)
                .max_frame_length(max)
                .new_codec(),
            app: PhantomData,
        }
    }

    /// The codec for the handshake ([`HANDSHAKE_MAX_FRAME_BYTES`]).
    pub fn handshake() -> Self {
        Self::new(HANDSHAKE_MAX_FRAME_BYTES)
    }

    /// The codec for an authenticated connection ([`MAX_FRAME_BYTES`]).
    pub fn connection() -> Self {
        Self::new(MAX_FRAME_BYTES)
    }

    pub fn max_frame(&self) -> usize {
        self.inner.max_frame_length()
    }

    pub fn set_max_frame(&mut self, max: usize) {
        self.inner.set_max_frame_length(max);
    }

    fn map_err(&self, e: io::Error) -> WireError {
        // LengthDelimitedCodec reports an oversized length as InvalidData.
        if e.kind() == io::ErrorKind::InvalidData {
            WireError::TooLarge {
                max: self.max_frame(),
            }
        } else {
            WireError::Io(e)
        }
    }
}

impl<A: DeserializeOwned> Decoder for FrameCodec<A> {
    type Item = Frame<A>;
    type Error = WireError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame<A>>, WireError> {
        match self.inner.decode(src) {
            Ok(Some(body)) => decode_app(&body).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(self.map_err(e)),
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame<A>>, WireError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => {
                src.advance(src.len());
                Err(WireError::TruncatedStream)
            }
        }
    }
}

impl<A> Encoder<Bytes> for FrameCodec<A> {
    type Error = WireError;

    fn encode(&mut self, body: Bytes, dst: &mut BytesMut) -> Result<(), WireError> {
        self.inner.encode(body, dst).map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidInput {
                WireError::TooLarge {
                    max: self.max_frame(),
                }
            } else {
                WireError::Io(e)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ErrorKind, NodeStatus};
    use proptest::prelude::*;

    fn samples() -> Vec<Frame> {
        vec![
            Frame::Hello(Hello {
                version: 1,
                cluster: "demo".into(),
                from: MemberId::new(0),
                to: MemberId::new(2),
                nonce: vec![7; 32],
            }),
            Frame::Proof { mac: vec![1; 32] },
            Frame::Heartbeat {
                seq: 9,
                status: NodeStatus {
                    incarnation: stripecast_persistence::VolumeIncarnation::new(3),
                    dirty: true,
                    rebuilding: false,
                    rebuild_remaining: 12,
                    fresh: false,
                    objects: 4,
                    volume_id: 77,
                    marks_for: vec![MemberId::new(2)],
                    applied_index: crate::meta::LogIndex::new(17),
                },
            },
            Frame::Request {
                id: 1,
                body: Request::Ping,
            },
            Frame::Request {
                id: u64::MAX,
                body: Request::Echo {
                    payload: vec![0xAB; 1000],
                },
            },
            Frame::Response {
                id: 2,
                body: Response::Error {
                    kind: ErrorKind::NotFound,
                    message: "no such object".into(),
                },
            },
            Frame::Goodbye {
                reason: "shutdown".into(),
            },
        ]
    }

    #[test]
    fn frames_round_trip() {
        for f in samples() {
            let bytes = encode(&f).unwrap();
            assert_eq!(decode(&bytes).unwrap(), f);
        }
    }

    #[test]
    fn payloads_travel_as_one_bin() {
        // serde_bytes: 1 MiB of payload costs a few bytes of envelope, not 2x.
        let f: Frame = Frame::Request {
            id: 1,
            body: Request::Echo {
                payload: vec![0xFF; 1 << 20],
            },
        };
        let bytes = encode(&f).unwrap();
        assert!(bytes.len() < (1 << 20) + 64, "{}", bytes.len());
    }

    #[test]
    fn oversized_frames_are_refused_at_the_sender() {
        let f: Frame = Frame::Request {
            id: 1,
            body: Request::Echo {
                payload: vec![0; 2000],
            },
        };
        assert!(matches!(
            encode_limited(&f, 1000),
            Err(WireError::TooLarge { max: 1000 })
        ));
    }

    #[test]
    fn codec_splits_a_stream_and_reports_typed_errors() {
        let mut codec = FrameCodec::new(1 << 16);
        let mut buf = BytesMut::new();
        for f in samples() {
            codec.encode(encode(&f).unwrap(), &mut buf).unwrap();
        }
        let mut got = Vec::new();
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            got.push(f);
        }
        assert_eq!(got, samples());

        // "GET " read as a length is ~1.2 GB.
        let mut http = BytesMut::from(&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..]);
        assert!(matches!(
            FrameCodec::<NoApp>::handshake().decode(&mut http),
            Err(WireError::TooLarge {
                max: HANDSHAKE_MAX_FRAME_BYTES
            })
        ));

        // Half a frame, then end of stream.
        let mut half = BytesMut::new();
        let body = encode(&samples()[0]).unwrap();
        codec.encode(body, &mut half).unwrap();
        half.truncate(half.len() / 2);
        assert!(matches!(
            FrameCodec::<NoApp>::connection().decode_eof(&mut half),
            Err(WireError::TruncatedStream)
        ));
    }

    #[test]
    fn trailing_bytes_and_wrong_shapes_are_malformed() {
        let mut body = rmp_serde::to_vec(&Frame::<NoApp>::Request {
            id: 1,
            body: Request::Ping,
        })
        .unwrap();
        body.push(0xC0);
        assert!(matches!(decode_message(&body), Err(WireError::Trailing(1))));
        let not_a_frame = rmp_serde::to_vec(&(1u8, "x")).unwrap();
        assert!(matches!(
            decode_message(&not_a_frame),
            Err(WireError::Malformed(_))
        ));
    }

    fn arb_frame() -> impl Strategy<Value = Frame> {
        prop_oneof![
            (any::<u64>(), proptest::collection::vec(any::<u8>(), 0..512)).prop_map(
                |(id, payload)| Frame::Request {
                    id,
                    body: Request::Echo { payload }
                }
            ),
            (any::<u64>(), any::<u32>(), any::<bool>(), any::<u64>()).prop_map(
                |(seq, incarnation, dirty, rebuild_remaining)| Frame::Heartbeat {
                    seq,
                    status: NodeStatus {
                        incarnation: stripecast_persistence::VolumeIncarnation::new(incarnation),
                        dirty,
                        rebuilding: !dirty,
                        rebuild_remaining,
                        fresh: dirty,
                        objects: rebuild_remaining,
                        volume_id: incarnation,
                        marks_for: Vec::new(),
                        applied_index: crate::meta::LogIndex::new(0),
                    },
                }
            ),
            (any::<u64>(), ".{0,40}").prop_map(|(id, message)| Frame::Response {
                id,
                body: Response::Error {
                    kind: ErrorKind::Internal,
                    message
                }
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Arbitrary bytes never panic any decoder.
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode(&bytes);
            let _ = decode_message(&bytes);
            let mut codec = FrameCodec::<NoApp>::new(1 << 12);
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = codec.decode(&mut buf) {}
            let mut buf = BytesMut::from(&bytes[..]);
            let _ = FrameCodec::<NoApp>::new(1 << 12).decode_eof(&mut buf);
        }

        /// Garbage behind a valid checksum (what a buggy but authenticated
        /// peer could send) reaches the MessagePack decoder: still no panic.
        #[test]
        fn checksummed_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let mut body = bytes.clone();
            body.extend_from_slice(&crc32c::crc32c(&bytes).to_le_bytes());
            let _ = decode(&body);
        }

        /// Mutations of a valid frame (MessagePack-shaped garbage) never panic.
        #[test]
        fn mutated_messages_never_panic(f in arb_frame(), pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
            let mut msg = rmp_serde::to_vec(&f).unwrap();
            let i = pos.index(msg.len());
            msg[i] = byte;
            let _ = decode_message(&msg);
            let c = cut.index(msg.len() + 1);
            let _ = decode_message(&msg[..c]);
        }

        #[test]
        fn round_trip(f in arb_frame()) {
            prop_assert_eq!(decode(&encode(&f).unwrap()).unwrap(), f);
        }

        /// Any single flipped byte is detected (the fault layer's `corrupt`).
        #[test]
        fn any_flipped_byte_is_detected(f in arb_frame(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut body = encode(&f).unwrap().to_vec();
            let i = pos.index(body.len());
            body[i] ^= 1 << bit;
            prop_assert!(decode(&body).is_err());
        }
    }
}
