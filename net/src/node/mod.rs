//! The libp2p node: a swarm on tokio in its own task, reached through a cloneable [`Node`]
//! handle (commands with oneshot replies) and a broadcast stream of [`NodeEvent`]s.
//!
//! Transports: WebRTC-direct (required; its certificate is kept in the profile so our
//! addresses stay valid), QUIC, and TCP with Noise and Yamux, all listening by default.
//! Behaviours: identify, ping, mDNS, relay client, DCUtR, AutoNAT, and raw streams
//! for replication (`/dxos/replicate/1`), which [`crate::replicate::driver`] runs.
//!
//! No DHT: devices beyond the LAN find each other through their relays (a wanted peer is
//! also tried at `<relay>/p2p-circuit/p2p/<peer>`, and the devices of one identity share their
//! relay list through HALO) and the addresses they learned before (identify, invitations, the
//! peer store). A member's circuit addresses arrive with identify, inside the connection's
//! Noise session, on every connection, and are kept in the peer store with its other
//! addresses, so a member behind another relay is found again after both restart (a test).
//! They are not repeated in `/dxos/replicate/1`: a message its older peers cannot decode
//! would end their sessions. A space's id is in every invitation, so nothing keyed by it may
//! be published anywhere; a Kademlia node (which the first design ran in server mode with
//! nothing querying it) only added traffic and warnings.

pub mod behaviour;
pub mod cert;
mod ports;
pub mod redial;
mod swarm;

use std::path::{Path, PathBuf};
use std::time::Duration;

use dxos_echo::Echo;
use dxos_halo::{Halo, PublicKey, Role};
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::replicate::driver::SessionEvent;
use crate::replicate::proto::MAX_MESSAGE;

/// The replication protocol's stream protocol name, version 1 (messages as they are).
pub const REPLICATE_PROTOCOL: StreamProtocol = StreamProtocol::new("/dxos/replicate/1");
/// Version 2: the same messages, compressed ([`crate::replicate::compress`]). A node offers it
/// first and falls back to version 1 when the peer does not speak it (multistream-select).
pub const REPLICATE_PROTOCOL_V2: StreamProtocol = StreamProtocol::new("/dxos/replicate/2");

/// How the node is set up.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Addresses to listen on (default: [`NodeConfig::default_listen`]).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial and keep dialling (`--peer`); with or without a `/p2p/` part.
    pub peers: Vec<Multiaddr>,
    /// Find peers on the LAN by mDNS.
    pub mdns: bool,
    /// Where the WebRTC certificate is kept (none: a new one in memory).
    pub certificate: Option<PathBuf>,
    /// Where the addresses of known peers are kept across restarts (none: not kept).
    pub peer_store: Option<PathBuf>,
    /// Where the ports listened on are kept, to listen on them again after a restart so the
    /// addresses peers stored stay valid (none: new ports each start).
    pub listen_ports: Option<PathBuf>,
    /// Largest replication message accepted from a peer.
    pub max_message: usize,
    /// Relays to reserve a slot on (each `<relay address>/p2p/<relay peer id>`), so peers
    /// beyond our NAT reach us at `<relay>/p2p-circuit/p2p/<us>`. The identity's relay list
    /// (HALO) is used as well.
    pub relays: Vec<Multiaddr>,
    /// Which connection to a peer carries its replication session when there are several,
    /// best first ([`Transport::DEFAULT_ORDER`] by default; transports left out rank last).
    /// It also says how a relayed connection may go direct: by hole punching (DCUtR) only if
    /// QUIC or TCP is listed, over `/webrtc` only if `webrtc` is.
    /// Of two peers, the one with the smaller peer id applies its order (so two peers that
    /// prefer differently do not close each other's choice).
    pub transport_order: Vec<Transport>,
    /// The newest replication protocol version this node speaks (2; 1 behaves as an older
    /// node, for compatibility tests).
    pub replicate_version: u8,
    /// STUN servers (`host:port`) for `/webrtc`'s ICE; empty: each relay's host at port 3478
    /// (where `relay serve --stun 0.0.0.0:3478` answers).
    pub stun: Vec<String>,
    /// `/webrtc` offers loopback candidates too (tests on one host).
    pub webrtc_loopback: bool,
    /// How long each step of a `/webrtc` set-up may take.
    pub webrtc_timeouts: crate::webrtc_p2p::Timeouts,
    /// Where presence lives (the profile's owner keeps one across node restarts); none: the
    /// node makes its own.
    pub presence: Option<std::sync::Arc<crate::presence::Hub>>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            listen: Self::default_listen(),
            peers: Vec::new(),
            mdns: true,
            certificate: None,
            peer_store: None,
            listen_ports: None,
            max_message: MAX_MESSAGE,
            relays: Vec::new(),
            transport_order: Transport::DEFAULT_ORDER.to_vec(),
            replicate_version: 2,
            stun: Vec::new(),
            webrtc_loopback: false,
            webrtc_timeouts: crate::webrtc_p2p::Timeouts::default(),
            presence: None,
        }
    }
}

impl NodeConfig {
    /// WebRTC-direct, QUIC and TCP on every interface, on ports the system picks.
    pub fn default_listen() -> Vec<Multiaddr> {
        ["/ip4/0.0.0.0/udp/0/webrtc-direct", "/ip4/0.0.0.0/udp/0/quic-v1", "/ip4/0.0.0.0/tcp/0"]
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
    }

    /// The defaults, with the certificate, the peer addresses and the listen ports kept in
    /// profile folder `dir`.
    pub fn for_profile(dir: &Path) -> Self {
        Self {
            certificate: Some(dir.join("webrtc-cert.pem")),
            peer_store: Some(dir.join("peers.json")),
            listen_ports: Some(dir.join("listen-ports.json")),
            ..Self::default()
        }
    }

    /// Listening on loopback only, over the given transports (`webrtc-direct`, `quic`,
    /// `tcp`), with no mDNS: for tests and the demo.
    pub fn loopback(transports: &[Transport]) -> Self {
        let listen = transports
            .iter()
            .filter_map(|t| match t {
                Transport::WebRtcDirect => "/ip4/127.0.0.1/udp/0/webrtc-direct".parse().ok(),
                Transport::Quic => "/ip4/127.0.0.1/udp/0/quic-v1".parse().ok(),
                Transport::Tcp => "/ip4/127.0.0.1/tcp/0".parse().ok(),
                Transport::Relay | Transport::WebRtc => None,
            })
            .collect();
        Self { listen, mdns: false, webrtc_loopback: true, ..Self::default() }
    }
}

/// The transport a connection runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// WebRTC-direct (UDP, DTLS, SCTP).
    WebRtcDirect,
    /// QUIC v1.
    Quic,
    /// TCP with Noise and Yamux.
    Tcp,
    /// Through a relay.
    Relay,
    /// WebRTC between browsers' kind of peers (`/p2p-circuit/webrtc`): signalled through a
    /// relay circuit, then direct by ICE ([`crate::webrtc_p2p`]).
    WebRtc,
}

impl Transport {
    /// The order of preference by default: direct QUIC (fast to set up, survives a change of
    /// address), WebRTC-direct, TCP, WebRTC through a relay's signalling, then the relay.
    pub const DEFAULT_ORDER: [Transport; 5] =
        [Transport::Quic, Transport::WebRtcDirect, Transport::Tcp, Transport::WebRtc, Transport::Relay];

    /// Reads a transport by its CLI name ([`Transport::as_str`]).
    pub fn parse(name: &str) -> Option<Transport> {
        [Transport::WebRtcDirect, Transport::Quic, Transport::Tcp, Transport::Relay, Transport::WebRtc]
            .into_iter()
            .find(|t| t.as_str() == name.trim())
    }

    /// The transport of a connection to or from `addr`.
    pub fn of(addr: &Multiaddr) -> Transport {
        use libp2p::multiaddr::Protocol;
        let mut t = Transport::Tcp;
        for p in addr.iter() {
            match p {
                // `/p2p-circuit/webrtc`: the circuit only carries WebRTC's signalling.
                Protocol::WebRTC => return Transport::WebRtc,
                Protocol::P2pCircuit => t = Transport::Relay,
                Protocol::WebRTCDirect if t != Transport::Relay => t = Transport::WebRtcDirect,
                Protocol::QuicV1 | Protocol::Quic if t != Transport::Relay => t = Transport::Quic,
                _ => {}
            }
        }
        t
    }

    /// Its name in the CLI's output: `webrtc-direct`, `quic`, `tcp`, `relay` or `webrtc`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Transport::WebRtcDirect => "webrtc-direct",
            Transport::Quic => "quic",
            Transport::Tcp => "tcp",
            Transport::Relay => "relay",
            Transport::WebRtc => "webrtc",
        }
    }
}

/// A connected peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its libp2p id.
    pub peer_id: PeerId,
    /// Its device key (the same key), if it is an ed25519 peer.
    pub device_key: Option<PublicKey>,
    /// The addresses of our connections to it, the one that carries the traffic first.
    pub addrs: Vec<Multiaddr>,
    /// The transport of the connection that carries the traffic.
    pub transport: Transport,
    /// The round trip of that connection's last ping (none before its first).
    pub rtt: Option<Duration>,
    /// The replication protocol version of the session running with it, if one runs.
    pub replication: Option<u8>,
}

/// Someone online in a space: a connected device that proved it acts for a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// The space.
    pub space: PublicKey,
    /// The connected device.
    pub device: PublicKey,
    /// The member it acts for.
    pub member: PublicKey,
    /// The member's role.
    pub role: Role,
}

/// What the node reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// Listening on a new address.
    Listening {
        /// The address.
        addr: Multiaddr,
    },
    /// A first connection to a peer is up.
    Connected {
        /// The peer.
        peer: PeerId,
        /// The connection's remote address.
        addr: Multiaddr,
        /// Its transport.
        transport: Transport,
    },
    /// The last connection to a peer closed.
    Disconnected {
        /// The peer.
        peer: PeerId,
    },
    /// A peer was found on the LAN.
    Discovered {
        /// The peer.
        peer: PeerId,
        /// Where.
        addr: Multiaddr,
    },
    /// Something happened in the replication session with a peer.
    Session {
        /// The peer.
        peer: PeerId,
        /// What.
        event: SessionEvent,
    },
    /// The replication session with a peer ended (with why, if it failed).
    SessionEnded {
        /// The peer.
        peer: PeerId,
        /// Why it failed (none: closed).
        error: Option<String>,
    },
    /// A relay refused to admit this device (its identity is not allowed there, or this
    /// device was revoked).
    RelayRefused {
        /// The relay.
        relay: PeerId,
        /// Why.
        reason: String,
    },
    /// A `/webrtc` set-up with a peer ended: connected, or failed (the peer stays on the
    /// relay then). `took` runs from the signaling stream to the first data channel.
    WebRtc {
        /// The peer.
        peer: PeerId,
        /// How long it took.
        took: std::time::Duration,
        /// Why it failed (none: connected).
        error: Option<String>,
    },
}

/// A fault of the node.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A transport could not be set up.
    #[error("cannot set up the network: {0}")]
    Transport(String),
    /// An address could not be listened on.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The WebRTC certificate could not be read or written.
    #[error("WebRTC certificate: {0}")]
    Certificate(String),
    /// A dial failed.
    #[error("cannot dial {addr}: {reason}")]
    Dial {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// This profile has no identity (its device key is the node's identity).
    #[error("this profile has no identity yet")]
    NoIdentity,
    /// The device key could not be used as the node's identity.
    #[error("this device's key: {0}")]
    Key(#[from] dxos_halo::KeyError),
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
}

/// The addresses an offer carries: one relay circuit if we have one (first, since an offer
/// too long for its URI loses addresses from the end, and behind a NAT the circuit is what a
/// guest elsewhere can reach), then one per transport (WebRTC-direct, QUIC, TCP), each the
/// best of ours: a LAN IPv4 address, else another IPv4, else loopback, else IPv6. Without our
/// own `/p2p/` (the offer names the inviter); a circuit keeps its relay's.
fn offer_addrs(listen: &[Multiaddr]) -> Vec<Multiaddr> {
    use libp2p::multiaddr::Protocol;
    let rank = |a: &Multiaddr| match a.iter().next() {
        Some(Protocol::Ip4(ip)) if ip.is_private() => 0,
        Some(Protocol::Ip4(ip)) if !ip.is_loopback() && !ip.is_unspecified() => 1,
        Some(Protocol::Ip4(ip)) if ip.is_loopback() => 2,
        _ => 3,
    };
    let mut out = Vec::new();
    for t in [Transport::Relay, Transport::WebRtcDirect, Transport::Quic, Transport::Tcp] {
        let best = listen.iter().filter(|a| Transport::of(a) == t).min_by_key(|a| rank(a));
        if let Some(a) = best {
            let mut a = a.clone();
            if matches!(a.iter().last(), Some(Protocol::P2p(_))) {
                a.pop();
            }
            out.push(a);
        }
    }
    out
}

/// A handle to a running node. Cheap to clone; the node stops on [`Node::shutdown`] or when
/// the runtime it runs on ends.
#[derive(Clone)]
pub struct Node {
    peer_id: PeerId,
    cmd: mpsc::UnboundedSender<swarm::Command>,
    events: broadcast::Sender<NodeEvent>,
    /// Subscribed before the node started, for the first subscriber.
    first: std::sync::Arc<std::sync::Mutex<Option<broadcast::Receiver<NodeEvent>>>>,
    control: libp2p_stream::Control,
    halo: Halo,
    invites: std::sync::Arc<crate::invite::driver::Registry>,
    presence: std::sync::Arc<crate::presence::Hub>,
}

impl Node {
    /// Starts the node of the profile whose ECHO and HALO these are (its identity is the
    /// device key), on the current tokio runtime; returns once every listener has an address.
    pub async fn start(config: NodeConfig, echo: Echo, halo: Halo) -> Result<Node, NetError> {
        let (events, first) = broadcast::channel(4096);
        let invites = std::sync::Arc::default();
        let presence = config.presence.clone().unwrap_or_default();
        let (peer_id, cmd, control) =
            swarm::spawn(config, echo, halo.clone(), events.clone(), std::sync::Arc::clone(&invites)).await?;
        let node = Node {
            peer_id,
            cmd,
            events,
            first: std::sync::Arc::new(std::sync::Mutex::new(Some(first))),
            control,
            halo,
            invites,
            presence,
        };
        tokio::spawn(crate::presence::run(node.clone(), node.presence.clone()));
        Ok(node)
    }

    /// Live presence in spaces (`/dxos/presence/1`): say what this device is doing, hear
    /// who else is here.
    pub fn live_presence(&self) -> &std::sync::Arc<crate::presence::Hub> {
        &self.presence
    }

    /// Events from now on (never those from before, unlike the first [`Node::subscribe`]).
    pub fn subscribe_new(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    pub(crate) fn halo(&self) -> &Halo {
        &self.halo
    }

    pub(crate) fn control(&self) -> libp2p_stream::Control {
        self.control.clone()
    }

    /// Whether a connection to `peer` is up.
    pub async fn is_connected(&self, peer: PeerId) -> bool {
        self.ask(|tx| swarm::Command::IsConnected(peer, tx)).await.unwrap_or(false)
    }

    pub(crate) async fn dial_invite(&self, peer: PeerId, addrs: Vec<Multiaddr>) -> Result<(), NetError> {
        self.ask(|tx| swarm::Command::DialOnce(peer, addrs, tx)).await
    }

    /// Opens an invitation (device pairing or a space shared with a role), valid for
    /// `valid_for`, with a 6-digit code when `with_code`. The offer carries a few of our
    /// addresses (one per transport, LAN IPv4 first). The profile needs an identity.
    pub async fn invite(
        &self,
        kind: dxos_halo::OfferKind,
        valid_for: Duration,
        with_code: bool,
    ) -> Result<crate::invite::Invitation, NetError> {
        let identity = self.halo.identity().ok_or(NetError::NoIdentity)?;
        let addrs = offer_addrs(&self.listen_addrs().await?);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let offer = dxos_halo::Offer {
            kind,
            id: rand::random(),
            secret: rand::random(),
            inviter: *identity.device_key.as_bytes(),
            addrs: addrs.iter().map(|a| a.to_vec()).collect(),
            expires_at: now + valid_for.as_secs().max(1),
            code_required: with_code,
        };
        let code = with_code.then(crate::invite::proto::new_code);
        Ok(self.invites.open(offer, code, identity.device_key))
    }

    /// Cancels an open invitation; returns whether one was open.
    pub fn cancel_invitation(&self, id: &[u8; 8]) -> bool {
        self.invites.cancel(id)
    }

    /// Redeems an invitation: dials the inviter, proves the secret (and `code`), stores what
    /// admits this device (naming it `label` when it joins an identity) and waits for the
    /// first sync. Each step has a timeout; the returned channel says where it stands.
    pub fn join(
        &self,
        offer: dxos_halo::Offer,
        code: Option<String>,
        label: String,
    ) -> tokio::sync::watch::Receiver<crate::invite::JoinStatus> {
        let (tx, rx) = tokio::sync::watch::channel(crate::invite::JoinStatus::Connecting);
        tokio::spawn(crate::invite::driver::join(self.clone(), offer, code, label, tx));
        rx
    }

    /// This node's peer id (its device key).
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Events from now on; the first subscriber also gets those since the node started
    /// (its listen addresses, peers found meanwhile).
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        let first = self.first.lock().unwrap_or_else(|e| e.into_inner()).take();
        first.unwrap_or_else(|| self.events.subscribe())
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> swarm::Command) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.cmd.send(make(tx)).map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Replaces this device's relays (each `<address>/p2p/<relay peer id>`); the identity's
    /// list (HALO) is used as well.
    pub async fn set_relays(&self, relays: Vec<Multiaddr>) -> Result<(), NetError> {
        self.ask(|tx| swarm::Command::SetRelays(relays, tx)).await
    }

    /// The addresses the node listens on (with `/p2p/<peer id>`, ready to dial).
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        self.ask(swarm::Command::ListenAddrs).await
    }

    /// The connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetError> {
        self.ask(swarm::Command::Peers).await
    }

    /// Who is online in which space.
    pub async fn presence(&self) -> Result<Vec<Presence>, NetError> {
        self.ask(swarm::Command::Presence).await
    }

    /// Dials `addr` (with or without `/p2p/`) and keeps it among the peers to redial.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetError> {
        self.ask(|tx| swarm::Command::Dial(addr, tx)).await?
    }

    /// Test hook for link loss: closes every connection and refuses any for `down_for`, as
    /// if the network were gone; afterwards the node reconnects by itself.
    pub async fn sever(&self, down_for: Duration) -> Result<(), NetError> {
        self.ask(|tx| swarm::Command::Sever(down_for, tx)).await
    }

    /// Stops the node (keeping the known peers' addresses), and waits until it has.
    pub async fn shutdown(&self) -> Result<(), NetError> {
        self.ask(swarm::Command::Shutdown).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dxos_halo::{Offer, OfferKind};

    #[test]
    fn an_offer_behind_a_nat_keeps_its_circuit_within_the_uri() {
        let relay = PeerId::random();
        let me = PeerId::random();
        // A WebRTC-direct address with its certificate hash, as the node listens.
        let hash = libp2p::multiaddr::multihash::Multihash::wrap(0x12, &[7u8; 32]).unwrap_or_else(|e| panic!("{e}"));
        let listen: Vec<Multiaddr> = [
            "/ip4/192.168.1.20/udp/40000/webrtc-direct".to_owned(),
            "/ip4/192.168.1.20/udp/40001/quic-v1".to_owned(),
            "/ip4/192.168.1.20/tcp/40002".to_owned(),
            "/ip4/127.0.0.1/tcp/40002".to_owned(),
            format!("/ip4/203.0.113.9/udp/4001/quic-v1/p2p/{relay}/p2p-circuit"),
        ]
        .iter()
        .map(|a| a.parse::<Multiaddr>().unwrap_or_else(|e| panic!("{a}: {e}")))
        .map(|a| {
            if Transport::of(&a) == Transport::WebRtcDirect {
                a.with(libp2p::multiaddr::Protocol::Certhash(hash))
            } else {
                a
            }
        })
        .map(|a| a.with(libp2p::multiaddr::Protocol::P2p(me)))
        .collect();
        let addrs = offer_addrs(&listen);
        assert_eq!(addrs.len(), 4);
        assert_eq!(addrs[0].to_string(), format!("/ip4/203.0.113.9/udp/4001/quic-v1/p2p/{relay}/p2p-circuit"));
        let offer = Offer {
            kind: OfferKind::Space { space: [9; 32], role: Role::Editor },
            id: [1; 8],
            secret: [2; 16],
            inviter: [3; 32],
            addrs: addrs.iter().map(|a| a.to_vec()).collect(),
            expires_at: 2_000_000_000,
            code_required: false,
        };
        let uri = offer.to_uri();
        assert!(uri.len() <= dxos_halo::invitation::MAX_URI, "{} characters", uri.len());
        let back = Offer::from_uri(&uri, 0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.addrs.first(), Some(&addrs[0].to_vec()), "the circuit survives the URI's limit");
        println!("offer URI with a circuit: {} characters, {} addresses", uri.len(), back.addrs.len());
    }
}
