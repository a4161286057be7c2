//! The transport's half inside the swarm: it opens and accepts `/webrtc-signaling/0.0.1`
//! streams on the connections the swarm has (a transport cannot), dials the relayed
//! connection a `/webrtc` dial needs when there is none, and tells the transport's listener
//! the relayed addresses to advertise `/webrtc` on.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::ReadyUpgrade;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::futures::StreamExt;
use libp2p::futures::channel::{mpsc, oneshot};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::handler::{ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm, NetworkBehaviour,
    NotifyHandler, Stream, StreamUpgradeError, SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};

use super::signaling::PROTOCOL;
use super::{Error, Event, Inbound, Request, Shared};

/// Where a signaling stream we asked for goes.
pub(super) type Reply = oneshot::Sender<Result<Stream, Error>>;

/// The behaviour (see the module's doc). Made by [`super::new`] with its transport.
pub struct Behaviour {
    shared: Arc<Shared>,
    requests: mpsc::UnboundedReceiver<Request>,
    inbound: mpsc::UnboundedSender<Inbound>,
    outcomes: mpsc::UnboundedReceiver<Event>,
    /// Our connections per peer, relayed or not, and their remote addresses.
    connections: HashMap<PeerId, Vec<(ConnectionId, bool, Multiaddr)>>,
    /// Dials of relayed connections made for a `/webrtc` dial, with who waits for them.
    dialing: HashMap<ConnectionId, Reply>,
    queued: VecDeque<ToSwarm<Event, Reply>>,
}

impl Behaviour {
    pub(super) fn new(
        shared: Arc<Shared>,
        requests: mpsc::UnboundedReceiver<Request>,
        inbound: mpsc::UnboundedSender<Inbound>,
        outcomes: mpsc::UnboundedReceiver<Event>,
    ) -> Self {
        Behaviour {
            shared,
            requests,
            inbound,
            outcomes,
            connections: HashMap::new(),
            dialing: HashMap::new(),
            queued: VecDeque::new(),
        }
    }

    fn on_request(&mut self, req: Request) {
        let Request { peer, circuit, reply } = req;
        // Any connection can carry the signaling; a relayed one is what the spec means. The
        // newest: an older one may be dead and not noticed yet (the peer restarted).
        let conn = self
            .connections
            .get(&peer)
            .and_then(|cs| cs.iter().rev().find(|(_, relayed, _)| *relayed).or_else(|| cs.last()).map(|(c, _, _)| *c));
        match conn {
            Some(c) => self.queued.push_back(ToSwarm::NotifyHandler {
                peer_id: peer,
                handler: NotifyHandler::One(c),
                event: reply,
            }),
            None => {
                let opts = DialOpts::peer_id(peer).addresses(vec![circuit]).condition(PeerCondition::Always).build();
                self.dialing.insert(opts.connection_id(), reply);
                self.queued.push_back(ToSwarm::Dial { opts });
            }
        }
    }

    /// Passes `msg` to the listener, if there is one (a stream is dropped, so reset,
    /// otherwise).
    fn forward(&mut self, msg: Inbound) {
        if let Inbound::Listen(addr, up) = &msg
            && let Ok(mut c) = self.shared.circuits.lock()
        {
            c.retain(|a| a != addr);
            if *up {
                c.push(addr.clone());
            }
        }
        if self.shared.listening.load(Ordering::Relaxed) {
            let _ = self.inbound.unbounded_send(msg);
        }
    }

    fn handler(&mut self, id: ConnectionId, peer: PeerId, remote: &Multiaddr) -> Handler {
        let relayed = remote.iter().any(|p| p == Protocol::P2pCircuit);
        self.connections.entry(peer).or_default().push((id, relayed, remote.clone()));
        if let Some(reply) = self.dialing.remove(&id) {
            self.queued.push_back(ToSwarm::NotifyHandler {
                peer_id: peer,
                handler: NotifyHandler::One(id),
                event: reply,
            });
        }
        Handler { open: VecDeque::new(), accepted: VecDeque::new() }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Event;

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(id, peer, remote))
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(id, peer, addr))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionClosed(c) => {
                if let Some(cs) = self.connections.get_mut(&c.peer_id) {
                    cs.retain(|(id, _, _)| *id != c.connection_id);
                    if cs.is_empty() {
                        self.connections.remove(&c.peer_id);
                    }
                }
            }
            FromSwarm::DialFailure(f) => {
                if let Some(reply) = self.dialing.remove(&f.connection_id) {
                    let _ = reply.send(Err(Error::NoRelayedConnection(f.error.to_string())));
                }
            }
            FromSwarm::NewListenAddr(a) if is_circuit(a.addr) => self.forward(Inbound::Listen(a.addr.clone(), true)),
            FromSwarm::ExpiredListenAddr(a) if is_circuit(a.addr) => {
                self.forward(Inbound::Listen(a.addr.clone(), false))
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(&mut self, peer: PeerId, id: ConnectionId, event: THandlerOutEvent<Self>) {
        let remote = self
            .connections
            .get(&peer)
            .and_then(|cs| cs.iter().find(|(c, _, _)| *c == id))
            .map(|(_, _, a)| a.clone())
            .unwrap_or_else(Multiaddr::empty);
        self.forward(Inbound::Stream { peer, stream: Box::new(event), remote });
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        while let Poll::Ready(Some(req)) = self.requests.poll_next_unpin(cx) {
            self.on_request(req);
        }
        while let Poll::Ready(Some(outcome)) = self.outcomes.poll_next_unpin(cx) {
            self.queued.push_back(ToSwarm::GenerateEvent(outcome));
        }
        match self.queued.pop_front() {
            Some(ev) => Poll::Ready(ev),
            None => Poll::Pending,
        }
    }
}

/// A relay's circuit address we listen on (not one of our own `/webrtc` ones).
fn is_circuit(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| p == Protocol::P2pCircuit) && !addr.iter().any(|p| p == Protocol::WebRTC)
}

/// Per connection: accepts signaling streams, opens those the behaviour asks for.
pub struct Handler {
    open: VecDeque<Reply>,
    accepted: VecDeque<Stream>,
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Reply;
    type ToBehaviour = Stream;
    type InboundProtocol = ReadyUpgrade<libp2p::StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<libp2p::StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = Reply;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), ())
    }

    fn poll(
        &mut self,
        _cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, Self::OutboundOpenInfo, Self::ToBehaviour>> {
        if let Some(stream) = self.accepted.pop_front() {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(stream));
        }
        match self.open.pop_front() {
            Some(reply) => Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), reply),
            }),
            None => Poll::Pending,
        }
    }

    fn on_behaviour_event(&mut self, reply: Reply) {
        self.open.push_back(reply);
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol, (), Self::OutboundOpenInfo>,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound { protocol: stream, .. }) => {
                self.accepted.push_back(stream);
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound { protocol: stream, info: reply }) => {
                let _ = reply.send(Ok(stream));
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { error, info: reply }) => {
                let e = match error {
                    StreamUpgradeError::NegotiationFailed => {
                        Error::Protocol("the peer does not speak /webrtc-signaling/0.0.1".into())
                    }
                    StreamUpgradeError::Timeout => Error::Timeout {
                        step: "opening the signaling stream",
                        after: std::time::Duration::from_secs(10),
                    },
                    StreamUpgradeError::Io(e) => Error::Signaling(e),
                    StreamUpgradeError::Apply(v) => libp2p::core::util::unreachable(v),
                };
                let _ = reply.send(Err(e));
            }
            _ => {}
        }
    }
}
