//! Running a relay (`dxos relay serve`): a small server that devices behind NATs reserve a
//! slot on, so that others can reach them through it. It opens no profile; it keeps only its
//! key file. See `dxos_net::relay` for what it runs and who may use it.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use dxos_halo::PublicKey;
use dxos_net::relay::{Limits, RelayConfig, RelayEvent, RelayServer};

use crate::error::{ClientError, Result};
use crate::events::{self, Events};

/// How a relay is started.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Addresses to listen on (QUIC and TCP multiaddrs).
    pub listen: Vec<String>,
    /// Public addresses to announce, when they differ from the listen addresses.
    pub announce: Vec<String>,
    /// The key file (made on first run).
    pub key_file: PathBuf,
    /// Identities whose devices may reserve.
    pub allow: Vec<PublicKey>,
    /// Anyone may reserve.
    pub open: bool,
    /// Circuits one source may open in a burst (default 30)...
    pub circuit_burst: u32,
    /// ...then one per this many seconds (default 120).
    pub circuit_interval_secs: u64,
    /// Most circuits at once over all peers; `None` for the default (256, or 16 for a relay
    /// open to strangers with no allow list).
    pub max_circuits: Option<usize>,
    /// Most bytes per second all circuits together copy (0: no cap; default 32 MiB).
    pub bytes_per_sec: u64,
    /// Where to answer STUN Binding requests (`HOST:PORT`, UDP), if anywhere.
    pub stun: Option<String>,
}

/// What happens at a relay, in the client's terms (peer ids in base58).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayNotice {
    /// A device proved an allowed identity.
    Admitted {
        /// The device's peer id.
        peer_id: String,
        /// Its identity.
        identity: PublicKey,
    },
    /// A peer of an identity not on the allow list, let in because the relay is open.
    Open {
        /// The peer id.
        peer_id: String,
    },
    /// A peer's proof was refused.
    Refused {
        /// The peer id.
        peer_id: String,
        /// Why.
        reason: String,
    },
    /// A device was revoked by its identity; its reservation is gone.
    Revoked {
        /// The peer id.
        peer_id: String,
    },
    /// A reservation was made or renewed.
    Reserved {
        /// The peer id.
        peer_id: String,
        /// A renewal.
        renewed: bool,
    },
    /// A reservation was refused.
    ReservationDenied {
        /// The peer id.
        peer_id: String,
        /// libp2p's status.
        status: String,
    },
    /// A reservation ended.
    ReservationEnded {
        /// The peer id.
        peer_id: String,
    },
    /// A circuit opened from `src` to `dst` (who holds the reservation).
    Circuit {
        /// Who dialled.
        src: String,
        /// Whom.
        dst: String,
    },
    /// A circuit was refused.
    CircuitDenied {
        /// Who dialled.
        src: String,
        /// Whom.
        dst: String,
        /// libp2p's status.
        status: String,
    },
    /// A circuit closed.
    CircuitClosed {
        /// Who dialled.
        src: String,
        /// Whom.
        dst: String,
        /// Why, if it failed.
        error: Option<String>,
    },
}

fn notice(e: RelayEvent) -> RelayNotice {
    match e {
        RelayEvent::Admitted { peer, identity } => RelayNotice::Admitted { peer_id: peer.to_base58(), identity },
        RelayEvent::Open { peer } => RelayNotice::Open { peer_id: peer.to_base58() },
        RelayEvent::Refused { peer, reason } => RelayNotice::Refused { peer_id: peer.to_base58(), reason },
        RelayEvent::Revoked { peer } => RelayNotice::Revoked { peer_id: peer.to_base58() },
        RelayEvent::Reserved { peer, renewed } => RelayNotice::Reserved { peer_id: peer.to_base58(), renewed },
        RelayEvent::ReservationDenied { peer, status } => {
            RelayNotice::ReservationDenied { peer_id: peer.to_base58(), status }
        }
        RelayEvent::ReservationEnded { peer } => RelayNotice::ReservationEnded { peer_id: peer.to_base58() },
        RelayEvent::Circuit { src, dst } => RelayNotice::Circuit { src: src.to_base58(), dst: dst.to_base58() },
        RelayEvent::CircuitDenied { src, dst, status } => {
            RelayNotice::CircuitDenied { src: src.to_base58(), dst: dst.to_base58(), status }
        }
        RelayEvent::CircuitClosed { src, dst, error } => {
            RelayNotice::CircuitClosed { src: src.to_base58(), dst: dst.to_base58(), error }
        }
    }
}

/// A running relay, on a runtime of its own.
pub struct Relay {
    host: Host,
    events: Option<Events<RelayNotice>>,
}

/// The relay's server and the runtime it runs on.
struct Host {
    runtime: tokio::runtime::Runtime,
    server: RelayServer,
}

impl Relay {
    /// Starts a relay; returns once it listens on every address.
    pub fn start(options: &RelayOptions) -> Result<Relay> {
        if options.allow.is_empty() && !options.open {
            return Err(ClientError::Usage("a relay needs --allow IDENTITY_KEY (repeatable) or --open".into()));
        }
        if options.listen.is_empty() {
            return Err(ClientError::Usage("a relay needs at least one --listen MULTIADDR".into()));
        }
        let parse = |a: &String| a.parse().map_err(|e| ClientError::Usage(format!("{a:?} is not a multiaddr: {e}")));
        let listen = options.listen.iter().map(parse).collect::<Result<Vec<_>>>()?;
        let announce = options.announce.iter().map(parse).collect::<Result<Vec<_>>>()?;
        let burst = NonZeroU32::new(options.circuit_burst)
            .ok_or_else(|| ClientError::Usage("--circuit-burst must be at least 1".into()))?;
        let mut config = RelayConfig::new(listen, options.allow.clone(), options.open);
        config.announce = announce;
        if options.max_circuits == Some(0) {
            return Err(ClientError::Usage("--max-circuits must be at least 1".into()));
        }
        config.limits = Limits {
            circuit_burst: burst,
            circuit_interval: Duration::from_secs(options.circuit_interval_secs),
            max_circuits: options.max_circuits.unwrap_or(config.limits.max_circuits),
            bytes_per_sec: options.bytes_per_sec,
            ..config.limits
        };
        config.stun = match &options.stun {
            Some(s) => Some(s.parse().map_err(|e| {
                ClientError::Usage(format!("--stun {s:?} is not HOST:PORT (for example 0.0.0.0:3478): {e}"))
            })?),
            None => None,
        };
        let key = dxos_net::relay::key::load_or_create(&options.key_file)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("dxos-relay")
            .enable_all()
            .build()
            .map_err(|e| ClientError::io("cannot start the relay's runtime", e))?;
        let (server, mut rx) = runtime.block_on(RelayServer::start(key, config))?;
        let (tx, events) = events::channel();
        std::thread::Builder::new()
            .name("dxos-relay-events".into())
            .spawn(move || {
                while let Some(e) = rx.blocking_recv() {
                    if !tx.emit(notice(e)) {
                        break;
                    }
                }
            })
            .map_err(|e| ClientError::io("cannot start the relay's event thread", e))?;
        Ok(Relay { host: Host { runtime, server }, events: Some(events) })
    }

    /// The relay's peer id (base58).
    pub fn peer_id(&self) -> String {
        self.host.server.peer_id().to_base58()
    }

    /// The relay's addresses, each ending in `/p2p/<peer id>`: what `dxos relay add` takes.
    pub fn addrs(&self) -> Vec<String> {
        self.host.server.addrs().iter().map(|a| a.to_string()).collect()
    }

    /// Where the relay answers STUN requests (`HOST:PORT`), if it does.
    pub fn stun_addr(&self) -> Option<String> {
        self.host.server.stun_addr().map(|a| a.to_string())
    }

    /// What happens at the relay, from its start (taken once).
    pub fn events(&mut self) -> Option<Events<RelayNotice>> {
        self.events.take()
    }

    /// Closes every circuit and connection, then stops.
    pub fn stop(self) {
        let Host { runtime, server } = self.host;
        runtime.block_on(async { tokio::time::timeout(Duration::from_secs(5), server.stop()).await.ok() });
        runtime.shutdown_timeout(Duration::from_secs(2));
    }
}
