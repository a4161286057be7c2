//! A STUN responder (RFC 8489 Binding requests, the `stun` crate's messages): it tells a peer
//! the address and port its packets arrive from. WebRTC's ICE asks one to learn its public
//! candidate behind a NAT, so a relay that peers reach anyway is a natural place for one
//! (`dxos relay serve --stun`).
//!
//! It answers Binding requests only, each with a success response of about the request's size
//! (no amplification), at most [`MAX_ANSWERS_PER_SEC`] a second; anything else is ignored.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use stun::message::{BINDING_REQUEST, BINDING_SUCCESS, Getter, Message, Setter};
use stun::xoraddr::XorMappedAddress;
use tokio::net::UdpSocket;

/// Most answers the responder sends in a second (then it drops requests until the next).
pub const MAX_ANSWERS_PER_SEC: u32 = 2000;

/// The answer to one datagram from `from`: a Binding success response carrying `from` as its
/// XOR-MAPPED-ADDRESS, or `None` if the datagram is not a Binding request.
pub fn answer(datagram: &[u8], from: SocketAddr) -> Option<Vec<u8>> {
    let mut req = Message::new();
    req.unmarshal_binary(datagram).ok()?;
    if req.typ != BINDING_REQUEST {
        return None;
    }
    let mapped = XorMappedAddress { ip: from.ip(), port: from.port() };
    let mut resp = Message::new();
    let setters: [Box<dyn Setter>; 4] =
        [Box::new(req), Box::new(BINDING_SUCCESS), Box::new(mapped), Box::new(stun::fingerprint::FINGERPRINT)];
    resp.build(&setters).ok()?;
    Some(resp.raw)
}

/// Reads the mapped address from a Binding success response (a client's side; for tests and
/// for checking a relay by hand).
pub fn mapped_address(response: &[u8]) -> Option<SocketAddr> {
    let mut m = Message::new();
    m.unmarshal_binary(response).ok()?;
    if m.typ != BINDING_SUCCESS {
        return None;
    }
    let mut x = XorMappedAddress::default();
    x.get_from(&m).ok()?;
    Some(SocketAddr::new(x.ip, x.port))
}

/// A Binding request with a fresh transaction id (a client's side).
pub fn binding_request() -> Option<Vec<u8>> {
    let mut m = Message::new();
    let setters: [Box<dyn Setter>; 2] = [Box::new(BINDING_REQUEST), Box::new(stun::agent::TransactionId::new())];
    m.build(&setters).ok()?;
    Some(m.raw)
}

/// Answers Binding requests on `socket` until the task is aborted.
pub async fn serve(socket: UdpSocket) {
    let mut buf = vec![0u8; 1500];
    let (mut window, mut answered) = (Instant::now(), 0u32);
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            // An ICMP error from an earlier answer, say: keep serving.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if window.elapsed() >= Duration::from_secs(1) {
            (window, answered) = (Instant::now(), 0);
        }
        if answered >= MAX_ANSWERS_PER_SEC {
            continue;
        }
        if let Some(reply) = buf.get(..n).and_then(|d| answer(d, from)) {
            answered += 1;
            let _ = socket.send_to(&reply, from).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binding_request_gets_the_sender_s_address_back_and_nothing_else_is_answered() -> Result<(), String> {
        let from: SocketAddr = "203.0.113.7:54321".parse().map_err(|e| format!("{e}"))?;
        let req = binding_request().ok_or("no request")?;
        let reply = answer(&req, from).ok_or("no answer")?;
        assert_eq!(mapped_address(&reply), Some(from));
        assert!(reply.len() <= req.len() + 32, "no amplification: {} bytes for {}", reply.len(), req.len());
        // The response carries the request's transaction id.
        assert_eq!(reply.get(8..20), req.get(8..20));
        // IPv6 too.
        let v6: SocketAddr = "[2001:db8::1]:3478".parse().map_err(|e| format!("{e}"))?;
        assert_eq!(answer(&req, v6).and_then(|r| mapped_address(&r)), Some(v6));
        // Not STUN, truncated, or a response rather than a request: ignored.
        assert_eq!(answer(b"hello, relay", from), None);
        assert_eq!(answer(req.get(..10).ok_or("short")?, from), None);
        assert_eq!(answer(&reply, from), None);
        assert_eq!(answer(&[], from), None);
        Ok(())
    }
}
