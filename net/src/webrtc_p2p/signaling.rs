//! The signaling protocol `/webrtc-signaling/0.0.1` (libp2p specs, `webrtc/webrtc.md`):
//! protobuf messages, each prefixed with its length as an unsigned varint, that carry the SDP
//! offer, the SDP answer and the ICE candidates (as `RTCIceCandidate.toJSON()`) over a
//! stream on the relayed connection.

use std::time::Duration;

use asynchronous_codec::Framed;
use libp2p::futures::{SinkExt, StreamExt};
use libp2p::{Stream, StreamProtocol};
use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;

use super::Error;

/// The protocol's id.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/webrtc-signaling/0.0.1");

/// The largest message read or written. An SDP offer from a browser with a few candidates is
/// 2-6 KB; a longer one is refused rather than buffered.
pub const MAX_MESSAGE: usize = 32 * 1024;

/// A signaling message, as the spec's protobuf defines it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    /// What `data` holds ([`Type`]).
    #[prost(enumeration = "Type", optional, tag = "1")]
    pub r#type: Option<i32>,
    /// The SDP, or the candidate's JSON.
    #[prost(string, optional, tag = "2")]
    pub data: Option<String>,
}

/// The kinds of [`Message`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, prost::Enumeration)]
#[repr(i32)]
pub enum Type {
    /// `RTCSessionDescription.sdp` of the offer.
    SdpOffer = 0,
    /// `RTCSessionDescription.sdp` of the answer.
    SdpAnswer = 1,
    /// `JSON.stringify(RTCIceCandidate.toJSON())`.
    IceCandidate = 2,
}

impl Message {
    /// A message of kind `kind` carrying `data`.
    pub fn new(kind: Type, data: String) -> Self {
        Message { r#type: Some(kind as i32), data: Some(data) }
    }

    /// Its kind, if it is one the spec knows.
    pub fn kind(&self) -> Option<Type> {
        self.r#type.and_then(|t| Type::try_from(t).ok())
    }
}

/// What a candidate message says.
#[derive(Debug, Clone, PartialEq)]
pub enum Candidate {
    /// A candidate to add.
    Add(RTCIceCandidateInit),
    /// The end of (this generation of) candidates: `null` or an empty candidate.
    End,
}

/// Reads a candidate message's JSON (`RTCIceCandidate.toJSON()`, `null` or `""`).
pub fn parse_candidate(data: &str) -> Result<Candidate, Error> {
    let value: serde_json::Value =
        serde_json::from_str(data).map_err(|e| Error::Protocol(format!("an ICE candidate that is not JSON: {e}")))?;
    match &value {
        serde_json::Value::Null => return Ok(Candidate::End),
        serde_json::Value::String(s) if s.is_empty() => return Ok(Candidate::End),
        _ => {}
    }
    let init: RTCIceCandidateInit = serde_json::from_value(value)
        .map_err(|e| Error::Protocol(format!("an ICE candidate that is not RTCIceCandidateInit: {e}")))?;
    if init.candidate.is_empty() {
        return Ok(Candidate::End);
    }
    Ok(Candidate::Add(init))
}

/// The signaling stream, framed.
pub struct Signaling {
    framed: Framed<Stream, prost_codec::Codec<Message>>,
}

impl Signaling {
    /// Frames `stream` (a negotiated `/webrtc-signaling/0.0.1` stream).
    pub fn new(stream: Stream) -> Self {
        Signaling { framed: Framed::new(stream, prost_codec::Codec::new(MAX_MESSAGE)) }
    }

    /// Sends one message, waiting at most `patience`.
    pub async fn send(&mut self, msg: Message, patience: Duration) -> Result<(), Error> {
        match tokio::time::timeout(patience, self.framed.send(msg)).await {
            Ok(r) => r.map_err(codec_err),
            Err(_) => Err(Error::Timeout { step: "sending a signaling message", after: patience }),
        }
    }

    /// The next message (`None` once the remote closed the stream).
    pub async fn next(&mut self) -> Result<Option<Message>, Error> {
        self.framed.next().await.transpose().map_err(codec_err)
    }

    /// Closes the stream (after a successful exchange).
    pub async fn close(mut self, patience: Duration) {
        let _ = tokio::time::timeout(patience, self.framed.close()).await;
    }
}

fn codec_err(e: prost_codec::Error) -> Error {
    let io: std::io::Error = e.into();
    match io.kind() {
        std::io::ErrorKind::InvalidData => Error::Protocol(format!("a malformed signaling message: {io}")),
        _ => Error::Signaling(io),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    #[test]
    fn messages_encode_as_the_spec_says() {
        // type = 1 (SDP_ANSWER), data = "v=0": fields 1 (varint) and 2 (length-delimited).
        let m = Message::new(Type::SdpAnswer, "v=0".into());
        assert_eq!(m.encode_to_vec(), vec![0x08, 0x01, 0x12, 0x03, b'v', b'=', b'0']);
        // proto3's default enum value (SDP_OFFER = 0) is still written, as js-libp2p does.
        let back = Message::decode(&[0x08u8, 0x00, 0x12, 0x01, b'x'][..]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.kind(), Some(Type::SdpOffer));
        assert_eq!(Message::decode(&[0x08u8, 0x07][..]).map(|m| m.kind()).ok(), Some(None));
    }

    #[test]
    fn candidates_read_as_browsers_write_them() {
        let js = r#"{"candidate":"candidate:1 1 UDP 2122252543 192.168.1.2 50000 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":null}"#;
        match parse_candidate(js) {
            Ok(Candidate::Add(c)) => {
                assert!(c.candidate.contains("typ host"));
                assert_eq!(c.sdp_mid.as_deref(), Some("0"));
                assert_eq!(c.sdp_mline_index, Some(0));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_candidate("null").ok(), Some(Candidate::End));
        assert_eq!(parse_candidate("\"\"").ok(), Some(Candidate::End));
        assert_eq!(parse_candidate(r#"{"candidate":""}"#).ok(), Some(Candidate::End));
        assert!(matches!(parse_candidate("{not json"), Err(Error::Protocol(_))));
        assert!(matches!(parse_candidate("[1,2]"), Err(Error::Protocol(_))));
    }
}
