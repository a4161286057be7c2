//! The libp2p [`Transport`](libp2p::core::Transport) for `/webrtc`: dialing
//! `<relayed address>/webrtc/p2p/<peer>` asks the behaviour for a signaling stream to the
//! peer and offers on it; listening on `/webrtc` answers the streams peers open and
//! advertises `<relayed address>/webrtc` for each relay reservation.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use libp2p::PeerId;
use libp2p::core::Multiaddr;
use libp2p::core::transport::{DialOpts, ListenerId, TransportError, TransportEvent};
use libp2p::futures::StreamExt;
use libp2p::futures::channel::{mpsc, oneshot};
use libp2p::futures::future::BoxFuture;
use libp2p::multiaddr::Protocol;
use libp2p_webrtc::tokio::Connection;

use super::peer::{self, Role};
use super::signaling::Signaling;
use super::{Error, Inbound, Request, Shared};

/// At most this many inbound `/webrtc` set-ups at once (each holds a peer connection and its
/// UDP sockets); more signaling streams are dropped.
pub const MAX_INBOUND_IN_FLIGHT: usize = 8;

/// A set-up under way.
type Upgrade = BoxFuture<'static, Result<(PeerId, Connection), Error>>;

/// The transport (see the module's doc). Made by [`super::new`] with its behaviour.
pub struct Transport {
    shared: Arc<Shared>,
    requests: mpsc::UnboundedSender<Request>,
    inbound: Option<mpsc::UnboundedReceiver<Inbound>>,
    listener: Option<Listener>,
    events: VecDeque<TransportEvent<Upgrade, Error>>,
}

struct Listener {
    id: ListenerId,
    inbound: mpsc::UnboundedReceiver<Inbound>,
    addrs: Vec<Multiaddr>,
    in_flight: Arc<AtomicUsize>,
}

impl Transport {
    pub(super) fn new(
        shared: Arc<Shared>,
        requests: mpsc::UnboundedSender<Request>,
        inbound: mpsc::UnboundedReceiver<Inbound>,
    ) -> Self {
        Transport { shared, requests, inbound: Some(inbound), listener: None, events: VecDeque::new() }
    }
}

/// `<relayed address>/webrtc/p2p/<peer>` read as the peer and its relayed address
/// (`<relayed address>/p2p/<peer>`); `None` if it is not such an address.
pub fn parse_dial_addr(addr: &Multiaddr) -> Option<(PeerId, Multiaddr)> {
    let parts: Vec<Protocol> = addr.iter().collect();
    let n = parts.len();
    if n < 3 {
        return None;
    }
    let Protocol::P2p(peer) = parts[n - 1] else { return None };
    if parts[n - 2] != Protocol::WebRTC || parts[n - 3] != Protocol::P2pCircuit {
        return None;
    }
    if parts.iter().filter(|p| **p == Protocol::WebRTC).count() != 1
        || parts.iter().filter(|p| **p == Protocol::P2pCircuit).count() != 1
    {
        return None;
    }
    let circuit: Multiaddr = parts.into_iter().filter(|p| *p != Protocol::WebRTC).collect();
    Some((peer, circuit))
}

/// Our `/webrtc` address on a relay's circuit address (ours, perhaps ending in our id).
pub fn listen_addr_on(circuit: &Multiaddr) -> Multiaddr {
    let mut a = circuit.clone();
    if matches!(a.iter().last(), Some(Protocol::P2p(_))) {
        a.pop();
    }
    a.with(Protocol::WebRTC)
}

impl libp2p::core::Transport for Transport {
    type Output = (PeerId, Connection);
    type Error = Error;
    type ListenerUpgrade = BoxFuture<'static, Result<Self::Output, Self::Error>>;
    type Dial = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn listen_on(&mut self, id: ListenerId, addr: Multiaddr) -> Result<(), TransportError<Self::Error>> {
        let exact = addr.iter().count() == 1 && addr.iter().next() == Some(Protocol::WebRTC);
        if !exact {
            return Err(TransportError::MultiaddrNotSupported(addr));
        }
        let Some(inbound) = self.inbound.take() else {
            return Err(TransportError::Other(Error::AlreadyListening));
        };
        self.listener = Some(Listener { id, inbound, addrs: Vec::new(), in_flight: Arc::new(AtomicUsize::new(0)) });
        self.shared.listening.store(true, Ordering::Relaxed);
        // The reservations made before: the rest arrive through the behaviour.
        let circuits = self.shared.circuits.lock().map(|c| c.clone()).unwrap_or_default();
        if let Some(l) = self.listener.as_mut() {
            for c in circuits {
                let addr = listen_addr_on(&c);
                if !l.addrs.contains(&addr) {
                    l.addrs.push(addr.clone());
                    self.events.push_back(TransportEvent::NewAddress { listener_id: id, listen_addr: addr });
                }
            }
        }
        Ok(())
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        match self.listener.take() {
            Some(l) if l.id == id => {
                self.shared.listening.store(false, Ordering::Relaxed);
                self.inbound = Some(l.inbound);
                self.events.push_back(TransportEvent::ListenerClosed { listener_id: id, reason: Ok(()) });
                true
            }
            other => {
                self.listener = other;
                false
            }
        }
    }

    fn dial(&mut self, addr: Multiaddr, _opts: DialOpts) -> Result<Self::Dial, TransportError<Self::Error>> {
        let Some((peer, circuit)) = parse_dial_addr(&addr) else {
            return Err(TransportError::MultiaddrNotSupported(addr));
        };
        let config = self.shared.peer_config();
        let requests = self.requests.clone();
        let shared = self.shared.clone();
        Ok(Box::pin(async move {
            let (reply, stream) = oneshot::channel();
            requests.unbounded_send(Request { peer, circuit, reply }).map_err(|_| Error::Stopped)?;
            let patience = config.timeouts.signaling;
            let stream = match tokio::time::timeout(patience, stream).await {
                Ok(Ok(r)) => r?,
                Ok(Err(_)) => return Err(Error::Stopped),
                Err(_) => return Err(Error::Timeout { step: "reaching the peer through a relay", after: patience }),
            };
            let started = Instant::now();
            let result = peer::connect(Signaling::new(stream), Role::Offerer, &config).await;
            shared.report(peer, Role::Offerer, started, &result);
            Ok((peer, result?))
        }))
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        if let Some(ev) = self.events.pop_front() {
            return Poll::Ready(ev);
        }
        let config = self.shared.peer_config();
        let shared = self.shared.clone();
        let Some(l) = self.listener.as_mut() else { return Poll::Pending };
        while let Poll::Ready(msg) = l.inbound.poll_next_unpin(cx) {
            match msg {
                None => {
                    let id = l.id;
                    self.listener = None;
                    return Poll::Ready(TransportEvent::ListenerClosed {
                        listener_id: id,
                        reason: Err(Error::Stopped),
                    });
                }
                Some(Inbound::Listen(circuit, up)) => {
                    let addr = listen_addr_on(&circuit);
                    if up && !l.addrs.contains(&addr) {
                        l.addrs.push(addr.clone());
                        return Poll::Ready(TransportEvent::NewAddress { listener_id: l.id, listen_addr: addr });
                    }
                    if !up && l.addrs.contains(&addr) {
                        l.addrs.retain(|a| *a != addr);
                        return Poll::Ready(TransportEvent::AddressExpired { listener_id: l.id, listen_addr: addr });
                    }
                }
                Some(Inbound::Stream { peer, stream, remote }) => {
                    if l.in_flight.load(Ordering::Relaxed) >= MAX_INBOUND_IN_FLIGHT {
                        tracing::debug!(%peer, "a /webrtc attempt was refused: too many at once");
                        continue;
                    }
                    let in_flight = l.in_flight.clone();
                    in_flight.fetch_add(1, Ordering::Relaxed);
                    let config = config.clone();
                    let shared = shared.clone();
                    let upgrade: Self::ListenerUpgrade = Box::pin(async move {
                        let _count = InFlight(in_flight);
                        let started = Instant::now();
                        let result = peer::connect(Signaling::new(*stream), Role::Answerer, &config).await;
                        shared.report(peer, Role::Answerer, started, &result);
                        Ok((peer, result?))
                    });
                    let local_addr =
                        l.addrs.first().cloned().unwrap_or_else(|| Multiaddr::empty().with(Protocol::WebRTC));
                    let mut send_back_addr = remote;
                    if matches!(send_back_addr.iter().last(), Some(Protocol::P2p(_))) {
                        send_back_addr.pop();
                    }
                    let send_back_addr = send_back_addr.with(Protocol::WebRTC).with(Protocol::P2p(peer));
                    return Poll::Ready(TransportEvent::Incoming {
                        listener_id: l.id,
                        upgrade,
                        local_addr,
                        send_back_addr,
                    });
                }
            }
        }
        Poll::Pending
    }
}

/// Counts an inbound set-up while it runs.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ma(s: &str) -> Multiaddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn dial_addresses_name_a_relay_and_a_peer() {
        let relay = PeerId::random();
        let peer = PeerId::random();
        let a = ma(&format!("/ip4/203.0.113.9/udp/4001/quic-v1/p2p/{relay}/p2p-circuit/webrtc/p2p/{peer}"));
        let (p, circuit) = parse_dial_addr(&a).unwrap_or_else(|| panic!("not read"));
        assert_eq!(p, peer);
        assert_eq!(circuit, ma(&format!("/ip4/203.0.113.9/udp/4001/quic-v1/p2p/{relay}/p2p-circuit/p2p/{peer}")));
        // Not /webrtc: a plain circuit, WebRTC-direct, no peer, two circuits.
        assert!(parse_dial_addr(&ma(&format!("/ip4/1.2.3.4/tcp/1/p2p/{relay}/p2p-circuit/p2p/{peer}"))).is_none());
        assert!(parse_dial_addr(&ma(&format!("/ip4/1.2.3.4/udp/1/webrtc-direct/p2p/{peer}"))).is_none());
        assert!(parse_dial_addr(&ma(&format!("/ip4/1.2.3.4/tcp/1/p2p/{relay}/p2p-circuit/webrtc"))).is_none());
        assert!(
            parse_dial_addr(&ma(&format!("/p2p/{relay}/p2p-circuit/p2p/{relay}/p2p-circuit/webrtc/p2p/{peer}")))
                .is_none()
        );
    }

    #[test]
    fn listen_addresses_end_in_webrtc() {
        let relay = PeerId::random();
        let me = PeerId::random();
        let want = ma(&format!("/ip4/1.2.3.4/udp/1/quic-v1/p2p/{relay}/p2p-circuit/webrtc"));
        assert_eq!(listen_addr_on(&ma(&format!("/ip4/1.2.3.4/udp/1/quic-v1/p2p/{relay}/p2p-circuit/p2p/{me}"))), want);
        assert_eq!(listen_addr_on(&ma(&format!("/ip4/1.2.3.4/udp/1/quic-v1/p2p/{relay}/p2p-circuit"))), want);
    }
}
