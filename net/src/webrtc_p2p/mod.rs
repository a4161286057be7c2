//! libp2p's browser-to-browser WebRTC transport, `/webrtc` (libp2p specs, `webrtc/webrtc.md`),
//! on the webrtc crate: two peers that cannot reach each other directly (both behind NATs)
//! meet over a relayed connection, exchange an SDP offer, answer and ICE candidates on a
//! `/webrtc-signaling/0.0.1` stream, and connect directly by ICE (host candidates, and
//! server-reflexive ones from STUN). It interoperates with js-libp2p's `webRTC()`.
//!
//! A transport cannot open streams on the swarm's connections, so this comes in two halves
//! made together by [`new`]: the [`Transport`] (dials and listens; put it before the relay
//! client's transport, which would otherwise take `/p2p-circuit/webrtc` addresses for plain
//! circuits) and the [`Behaviour`] (opens and accepts the signaling streams, dials the relayed
//! connection a dial needs, learns the relayed addresses to advertise). Listening is
//! `listen_on("/webrtc")`; the transport then reports `<relayed address>/webrtc` for each
//! relay reservation.
//!
//! - `signaling.rs`: the protocol's messages and framing.
//! - `peer.rs`: one connection's set-up (offer or answer, trickle ICE, timeouts).
//! - `transport.rs`, `behaviour.rs`: the two halves.
//!
//! Nothing here depends on the rest of DXOS: it is the piece rust-libp2p lacks (its issue
//! 4389), kept apart so that it can be offered there.

mod behaviour;
mod peer;
pub mod signaling;
mod transport;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use libp2p::futures::channel::mpsc;
use libp2p::{Multiaddr, PeerId, Stream};

pub use behaviour::{Behaviour, Handler};
pub use peer::Role;
pub use transport::{MAX_INBOUND_IN_FLIGHT, Transport, listen_addr_on, parse_dial_addr};

/// Why a `/webrtc` connection could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No relayed connection to the peer could be had to signal over.
    #[error("no relayed connection to the peer to signal over: {0}")]
    NoRelayedConnection(String),
    /// The signaling stream failed.
    #[error("the signaling stream failed")]
    Signaling(#[source] std::io::Error),
    /// The peer sent something the protocol does not allow.
    #[error("the peer broke the signaling protocol: {0}")]
    Protocol(String),
    /// A step took too long.
    #[error("{step} took more than {after:?}")]
    Timeout {
        /// Which step.
        step: &'static str,
        /// Its limit.
        after: Duration,
    },
    /// ICE tried every pair of candidates and none answered.
    #[error("ICE found no direct path to the peer ({detail}); the connection stays on the relay")]
    IceFailed {
        /// The candidates each side had, and what that suggests.
        detail: String,
    },
    /// ICE had not found a path when its time was up.
    #[error("ICE found no direct path to the peer in {after:?} ({detail}); the connection stays on the relay")]
    IceTimeout {
        /// Its limit.
        after: Duration,
        /// The candidates each side had, and what that suggests.
        detail: String,
    },
    /// The WebRTC stack refused a step (a malformed SDP, say).
    #[error("the WebRTC stack refused a step")]
    WebRtc(#[from] webrtc::Error),
    /// `listen_on("/webrtc")` twice.
    #[error("already listening on /webrtc")]
    AlreadyListening,
    /// The swarm is gone.
    #[error("the node has stopped")]
    Stopped,
    /// Something that should not happen.
    #[error("{0}")]
    Internal(String),
}

/// `e` and its causes, in words.
fn chain(e: &Error) -> String {
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// How long each step of a set-up may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Reaching the peer (the relayed connection and the signaling stream), and each
    /// signaling message we wait for (the offer, the answer).
    pub signaling: Duration,
    /// ICE, from the answer to a working pair.
    pub ice: Duration,
    /// DTLS and the first data channel, once ICE has a pair.
    pub dtls: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { signaling: Duration::from_secs(10), ice: Duration::from_secs(10), dtls: Duration::from_secs(5) }
    }
}

impl Timeouts {
    /// The whole of a set-up at most.
    pub fn total(&self) -> Duration {
        self.signaling * 3 + self.ice + self.dtls * 2
    }
}

/// The transport's settings.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// STUN servers (`host:port`) for server-reflexive candidates.
    pub stun: Vec<String>,
    /// Offer loopback candidates too (for tests on a host with no other interface).
    pub include_loopback: bool,
    /// Each step's limit.
    pub timeouts: Timeouts,
}

/// What the transport and the behaviour share: the settings, which may change while running
/// (the STUN servers follow the relays).
pub(crate) struct Shared {
    config: Mutex<Config>,
    /// Whether the transport listens on `/webrtc` (the behaviour passes nothing on otherwise).
    listening: std::sync::atomic::AtomicBool,
    /// The relays' circuit addresses we listen on now.
    circuits: Mutex<Vec<Multiaddr>>,
    /// How each set-up ended, for the behaviour to report.
    outcomes: mpsc::UnboundedSender<Event>,
}

impl Shared {
    /// Reports how a set-up with `peer` that started at `started` ended.
    fn report<T>(&self, peer: PeerId, role: Role, started: std::time::Instant, result: &Result<T, Error>) {
        let took = started.elapsed();
        let event = match result {
            Ok(_) => Event::Connected { peer, role, took },
            Err(e) => Event::Failed { peer, role, took, error: chain(e) },
        };
        let _ = self.outcomes.unbounded_send(event);
    }

    fn peer_config(&self) -> peer::PeerConfig {
        let c = self.config.lock().map(|c| c.clone()).unwrap_or_default();
        peer::PeerConfig { stun: c.stun, include_loopback: c.include_loopback, timeouts: c.timeouts }
    }
}

/// Changes the settings of a running transport.
#[derive(Clone)]
pub struct Settings(Arc<Shared>);

impl Settings {
    /// Replaces the STUN servers (used from the next set-up on).
    pub fn set_stun(&self, stun: Vec<String>) {
        if let Ok(mut c) = self.0.config.lock() {
            c.stun = stun;
        }
    }

    /// The STUN servers in use.
    pub fn stun(&self) -> Vec<String> {
        self.0.config.lock().map(|c| c.stun.clone()).unwrap_or_default()
    }
}

/// How one `/webrtc` set-up ended: the [`Behaviour`]'s events. `took` runs from the signaling
/// stream being open to the first data channel opening (or the failure).
#[derive(Debug, Clone)]
pub enum Event {
    /// The connection is up.
    Connected {
        /// The remote.
        peer: PeerId,
        /// Our side of the exchange.
        role: Role,
        /// How long it took.
        took: Duration,
    },
    /// It failed; the peer stays on whatever connection it had (the relay).
    Failed {
        /// The remote.
        peer: PeerId,
        /// Our side of the exchange.
        role: Role,
        /// How long it ran.
        took: Duration,
        /// Why, in words (with the candidates each side had, when ICE failed).
        error: String,
    },
}

/// A dial's request for a signaling stream to `peer`.
pub(crate) struct Request {
    peer: PeerId,
    /// `<relayed address>/p2p/<peer>`, dialled if there is no connection to the peer.
    circuit: Multiaddr,
    reply: behaviour::Reply,
}

/// What the behaviour tells the listener.
pub(crate) enum Inbound {
    /// A relay's circuit address we listen on came (`true`) or went.
    Listen(Multiaddr, bool),
    /// A peer opened a signaling stream on a connection from `remote`.
    Stream { peer: PeerId, stream: Box<Stream>, remote: Multiaddr },
}

/// The transport and its behaviour, and a handle on their settings.
pub fn new(config: Config) -> (Transport, Behaviour, Settings) {
    let (outcomes, outcomes_rx) = mpsc::unbounded();
    let shared = Arc::new(Shared {
        config: Mutex::new(config),
        listening: std::sync::atomic::AtomicBool::new(false),
        circuits: Mutex::new(Vec::new()),
        outcomes,
    });
    let (req_tx, req_rx) = mpsc::unbounded();
    // Unbounded, but only filled while the listener (polled with the swarm) runs; it drops
    // streams beyond MAX_INBOUND_IN_FLIGHT set-ups at once.
    let (in_tx, in_rx) = mpsc::unbounded();
    (
        Transport::new(shared.clone(), req_tx, in_rx),
        Behaviour::new(shared.clone(), req_rx, in_tx, outcomes_rx),
        Settings(shared),
    )
}
