//! A relay anyone can run (`dxos relay serve`): libp2p circuit relay v2, AutoNAT, identify and
//! ping, for devices behind NATs that cannot dial each other, and a STUN responder if asked.
//!
//! The relay never sees content: a circuit carries the two peers' own Noise session end to
//! end, and the relay only copies its bytes. It opens no profile and keeps only its key.
//!
//! Who may use it: the devices of the identities on its allow list, each proving it on
//! [`auth::AUTH_PROTOCOL`] before it reserves, or anyone when it is open. Circuits go only to
//! a peer holding a reservation, so a guest dialling an allowed device through the relay is
//! served. A circuit is sized by its destination, the peer holding the reservation: one to an
//! admitted device gets replication-sized limits ([`Limits::circuit_duration`]), one to anyone
//! else (a stranger on an open relay) libp2p's defaults ([`Limits::guest_duration`]). All
//! circuits together copy at most [`Limits::bytes_per_sec`].
//!
//! - `auth.rs`: the admission protocol and the [`auth::Gate`] that remembers who is admitted.
//! - `key.rs`: the relay's key file, so its address stays valid across restarts.
//! - `server.rs`: the swarm, its event loop and its events.
//! - `stun.rs`: a STUN responder (for WebRTC's ICE), when asked for.

pub mod auth;
pub mod key;
pub mod server;
pub mod stun;

use std::num::NonZeroU32;
use std::time::Duration;

use libp2p::Multiaddr;

pub use server::{RelayEvent, RelayServer};

/// How much a relay gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most reservations at once.
    pub max_reservations: usize,
    /// Most circuits at once, over all peers.
    pub max_circuits: usize,
    /// Most circuits at once per peer.
    pub max_circuits_per_peer: usize,
    /// Longest a circuit to an admitted device lasts (the peers redial or, better, go direct).
    pub circuit_duration: Duration,
    /// Most bytes a circuit to an admitted device carries in each direction.
    pub circuit_bytes: u64,
    /// Longest a circuit to anyone else lasts.
    pub guest_duration: Duration,
    /// Most bytes a circuit to anyone else carries in each direction.
    pub guest_bytes: u64,
    /// Most bytes per second all circuits together copy (0: no cap); a burst of one second's
    /// worth is allowed.
    pub bytes_per_sec: u64,
    /// Circuits a source may open in a burst...
    pub circuit_burst: NonZeroU32,
    /// ...then one per this interval.
    pub circuit_interval: Duration,
}

impl Limits {
    /// The defaults: circuits to admitted devices fit a 100k-object first sync (16 MB) and a
    /// day of editing; others get libp2p's defaults (2 minutes and 128 KiB); 32 MiB/s in all.
    pub fn replication() -> Self {
        Self {
            max_reservations: 1024,
            max_circuits: 256,
            max_circuits_per_peer: 16,
            circuit_duration: Duration::from_secs(60 * 60),
            circuit_bytes: 1 << 30,
            guest_duration: Duration::from_secs(2 * 60),
            guest_bytes: 1 << 17,
            bytes_per_sec: 32 << 20,
            circuit_burst: NonZeroU32::MIN.saturating_add(29),
            circuit_interval: Duration::from_secs(120),
        }
    }

    /// For a relay open to strangers with no allow list: libp2p's defaults for counts too.
    pub fn libp2p_defaults() -> Self {
        Self { max_reservations: 128, max_circuits: 16, max_circuits_per_peer: 4, ..Self::replication() }
    }
}

/// How a relay is set up.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Addresses to listen on (QUIC and TCP).
    pub listen: Vec<Multiaddr>,
    /// Addresses to announce as the relay's own (its public addresses, when it listens on
    /// `0.0.0.0` behind a cloud provider's 1:1 NAT); the listen addresses when empty.
    pub announce: Vec<Multiaddr>,
    /// Identities whose devices may reserve.
    pub allow: Vec<dxos_halo::PublicKey>,
    /// Anyone may reserve.
    pub open: bool,
    /// The limits.
    pub limits: Limits,
    /// Where to answer STUN Binding requests (UDP), if anywhere.
    pub stun: Option<std::net::SocketAddr>,
}

impl RelayConfig {
    /// A relay for `allow`, open to everyone when `open`, with the limits that go with it.
    pub fn new(listen: Vec<Multiaddr>, allow: Vec<dxos_halo::PublicKey>, open: bool) -> Self {
        let limits = if open && allow.is_empty() { Limits::libp2p_defaults() } else { Limits::replication() };
        Self { listen, announce: Vec::new(), allow, open, limits, stun: None }
    }
}

/// Why a relay could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Neither an allow list nor `open` was given.
    #[error("a relay needs --allow IDENTITY_KEY (repeatable) or --open")]
    NobodyAllowed,
    /// The key file could not be read or written.
    #[error("relay key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The key file holds no valid key.
    #[error("relay key file {path} does not hold a key: {reason}")]
    BadKey {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The transports could not be set up.
    #[error("cannot set up the relay's network: {0}")]
    Transport(String),
    /// An address could not be listened on.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The relay has stopped.
    #[error("the relay has stopped")]
    Stopped,
}
