//! The relay's swarm: TCP and QUIC with Noise and Yamux; circuit relay v2 (server), AutoNAT
//! (answering dial-back requests), identify, ping and the admission protocol. Runs on tokio
//! in its own task; reports what happens as [`RelayEvent`]s.

// The derive generates `RelayBehaviourEvent`, whose variants carry no docs.
#![allow(missing_docs)]

use std::time::Duration;

use futures_util::StreamExt;
use libp2p::identity::Keypair;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, autonat, identify, noise, ping, relay, tcp, yamux};
use tokio::sync::{mpsc, oneshot};
use tokio_util::compat::FuturesAsyncReadCompatExt;

use super::auth::{self, Admission, Gate};
use super::{RelayConfig, RelayError};

/// Identify's protocol version string for DXOS relays.
pub const RELAY_IDENTIFY: &str = "/dxos-relay/1.0.0";

/// Every behaviour the relay runs.
#[derive(NetworkBehaviour)]
pub struct RelayBehaviour {
    relay: relay::Behaviour,
    autonat: autonat::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    stream: libp2p_stream::Behaviour,
}

/// What happens at a relay, for its log (the CLI prints each as a JSON line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEvent {
    /// A device proved an allowed identity.
    Admitted {
        /// The device.
        peer: PeerId,
        /// Its identity.
        identity: dxos_halo::PublicKey,
    },
    /// A peer of an identity not on the allow list was let in because the relay is open.
    Open {
        /// The peer.
        peer: PeerId,
    },
    /// A peer's proof was refused.
    Refused {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// A device was revoked by its identity: its reservation is gone.
    Revoked {
        /// The device.
        peer: PeerId,
    },
    /// A reservation was made or renewed.
    Reserved {
        /// The peer.
        peer: PeerId,
        /// A renewal.
        renewed: bool,
    },
    /// A reservation was refused.
    ReservationDenied {
        /// The peer.
        peer: PeerId,
        /// libp2p's status code.
        status: String,
    },
    /// A reservation ended (closed or timed out).
    ReservationEnded {
        /// The peer.
        peer: PeerId,
    },
    /// A circuit opened.
    Circuit {
        /// Who dialled.
        src: PeerId,
        /// Who holds the reservation.
        dst: PeerId,
    },
    /// A circuit was refused.
    CircuitDenied {
        /// Who dialled.
        src: PeerId,
        /// Whom.
        dst: PeerId,
        /// libp2p's status code.
        status: String,
    },
    /// A circuit closed.
    CircuitClosed {
        /// Who dialled.
        src: PeerId,
        /// Who holds the reservation.
        dst: PeerId,
        /// Why, if it failed.
        error: Option<String>,
    },
}

enum Command {
    Stop(oneshot::Sender<()>),
}

enum Internal {
    Admission(PeerId, Admission),
}

/// A running relay.
pub struct RelayServer {
    peer_id: PeerId,
    addrs: Vec<Multiaddr>,
    stun: Option<std::net::SocketAddr>,
    cmd: mpsc::Sender<Command>,
}

impl RelayServer {
    /// Starts a relay with this key; returns once it listens on every configured address,
    /// with the stream of its events.
    pub async fn start(
        key: Keypair,
        config: RelayConfig,
    ) -> Result<(RelayServer, mpsc::UnboundedReceiver<RelayEvent>), RelayError> {
        if config.allow.is_empty() && !config.open {
            return Err(RelayError::NobodyAllowed);
        }
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let gate = Gate::new(config.allow.iter().copied(), config.open);
        let limits = config.limits.clone();
        let (reserve_gate, circuit_gate, policy_gate) = (gate.clone(), gate.clone(), gate.clone());
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
            .map_err(|e| RelayError::Transport(e.to_string()))?
            .with_quic()
            .with_behaviour(|k| {
                let peer = k.public().to_peer_id();
                let mut rc = relay::Config {
                    max_reservations: limits.max_reservations,
                    max_reservations_per_peer: 4,
                    reservation_duration: Duration::from_secs(60 * 60),
                    reservation_rate_limiters: Vec::new(),
                    max_circuits: limits.max_circuits,
                    max_circuits_per_peer: limits.max_circuits_per_peer,
                    max_circuit_duration: limits.guest_duration,
                    max_circuit_bytes: limits.guest_bytes,
                    circuit_src_rate_limiters: Vec::new(),
                    circuit_policy: Some(std::sync::Arc::new(Policy {
                        gate: policy_gate,
                        admitted: (limits.circuit_duration, limits.circuit_bytes),
                        pace: Pace::new(limits.bytes_per_sec),
                    })),
                }
                .reservation_rate_per_peer(std::num::NonZeroU32::MIN.saturating_add(29), Duration::from_secs(60));
                // Only admitted devices (or anyone, when open) may reserve.
                rc.reservation_rate_limiters
                    .push(Box::new(move |p: PeerId, _: &Multiaddr, _| reserve_gate.may_reserve(&p)));
                // Circuits per source: a burst, then one per interval; admitted devices are
                // not limited (they try absent devices of theirs through the relay now and
                // then, and must still reach them when they come back).
                let mut bucket = Buckets::new(limits.circuit_burst.get(), limits.circuit_interval);
                rc.circuit_src_rate_limiters.push(Box::new(move |p: PeerId, _: &Multiaddr, now| {
                    circuit_gate.is_admitted(&p) || bucket.take(p, now)
                }));
                let mut relay = relay::Behaviour::new(peer, rc);
                // Serve reservations whether or not AutoNAT has confirmed an address: the
                // person running a relay says where it is.
                relay.set_status(Some(relay::Status::Enable));
                RelayBehaviour {
                    relay,
                    autonat: autonat::Behaviour::new(
                        peer,
                        autonat::Config { only_global_ips: false, ..autonat::Config::default() },
                    ),
                    identify: identify::Behaviour::new(identify::Config::new(RELAY_IDENTIFY.into(), k.public())),
                    ping: ping::Behaviour::new(ping::Config::new()),
                    stream: libp2p_stream::Behaviour::new(),
                }
            })
            .map_err(|e| RelayError::Transport(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        let peer_id = *swarm.local_peer_id();
        // Take up the admission protocol before listening: a node that reaches the relay while
        // it is still starting (after a restart) would otherwise have its stream cut.
        let mut control = swarm.behaviour().stream.new_control();
        let mut auths = control.accept(auth::AUTH_PROTOCOL).map_err(|e| RelayError::Transport(e.to_string()))?;
        let mut pending = Vec::new();
        let mut listener_ids = Vec::new();
        for addr in &config.listen {
            let id = swarm
                .listen_on(addr.clone())
                .map_err(|e| RelayError::Listen { addr: addr.to_string(), reason: e.to_string() })?;
            pending.push((id, addr.clone()));
            listener_ids.push(id);
        }
        for a in &config.announce {
            swarm.add_external_address(a.clone());
        }
        // Wait for every listener's first address.
        let mut addrs = Vec::new();
        while !pending.is_empty() {
            match tokio::time::timeout(Duration::from_secs(10), swarm.select_next_some()).await {
                Ok(SwarmEvent::NewListenAddr { listener_id, address }) => {
                    pending.retain(|(id, _)| *id != listener_id);
                    if config.announce.is_empty() {
                        swarm.add_external_address(address.clone());
                    }
                    addrs.push(address);
                }
                Ok(SwarmEvent::ListenerClosed { listener_id, reason, .. }) => {
                    if let Some((_, addr)) = pending.iter().find(|(id, _)| *id == listener_id) {
                        let reason = reason.err().map(|e| e.to_string()).unwrap_or_else(|| "closed".into());
                        return Err(RelayError::Listen { addr: addr.to_string(), reason });
                    }
                }
                Ok(SwarmEvent::ListenerError { listener_id, error }) => {
                    if let Some((_, addr)) = pending.iter().find(|(id, _)| *id == listener_id) {
                        return Err(RelayError::Listen { addr: addr.to_string(), reason: format!("{error:?}") });
                    }
                }
                Ok(_) => {}
                Err(_) => {
                    let addr = pending.first().map(|(_, a)| a.to_string()).unwrap_or_default();
                    return Err(RelayError::Listen { addr, reason: "no address after 10 s".into() });
                }
            }
        }
        let shown: Vec<Multiaddr> = if config.announce.is_empty() { addrs } else { config.announce.clone() };
        let (stun, stun_task) = match config.stun {
            Some(at) => {
                let socket = tokio::net::UdpSocket::bind(at)
                    .await
                    .map_err(|e| RelayError::Listen { addr: format!("STUN {at}"), reason: e.to_string() })?;
                let local = socket
                    .local_addr()
                    .map_err(|e| RelayError::Listen { addr: format!("STUN {at}"), reason: e.to_string() })?;
                (Some(local), Some(tokio::spawn(super::stun::serve(socket))))
            }
            None => (None, None),
        };
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (cmd_tx, mut cmd_rx) = mpsc::channel(4);
        let (internal_tx, mut internal_rx) = mpsc::unbounded_channel();
        let answer_gate = gate.clone();
        let answering = tokio::spawn(async move {
            while let Some((peer, stream)) = auths.next().await {
                let (gate, tx) = (answer_gate.clone(), internal_tx.clone());
                tokio::spawn(async move {
                    let admission =
                        match tokio::time::timeout(Duration::from_secs(10), auth::answer(stream.compat(), peer, &gate))
                            .await
                        {
                            Ok(Ok(a)) => a,
                            Ok(Err(e)) => Admission::Refused(e.to_string()),
                            Err(_) => Admission::Refused("no request within 10 s".into()),
                        };
                    let _ = tx.send(Internal::Admission(peer, admission));
                });
            }
        });
        let mut task = Task { swarm, listeners: listener_ids, gate, events: events_tx };
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    ev = task.swarm.select_next_some() => task.on_swarm(ev),
                    Some(Internal::Admission(peer, a)) = internal_rx.recv() => task.on_admission(peer, a),
                    cmd = cmd_rx.recv() => {
                        task.close_all().await;
                        if let Some(Command::Stop(done)) = cmd {
                            let _ = done.send(());
                        }
                        break;
                    }
                }
            }
            answering.abort();
            if let Some(t) = stun_task {
                t.abort();
            }
        });
        Ok((RelayServer { peer_id, addrs: shown, stun, cmd: cmd_tx }, events_rx))
    }

    /// The relay's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The relay's addresses, each ending in `/p2p/<relay>`: what `dxos relay add` takes.
    pub fn addrs(&self) -> Vec<Multiaddr> {
        self.addrs.iter().map(|a| a.clone().with(libp2p::multiaddr::Protocol::P2p(self.peer_id))).collect()
    }

    /// Where the STUN responder answers, if it runs (with the port the system chose).
    pub fn stun_addr(&self) -> Option<std::net::SocketAddr> {
        self.stun
    }

    /// Closes every circuit and connection, then stops.
    pub async fn stop(self) {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Command::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Sizes circuits by their destination and paces all of them together.
struct Policy {
    gate: Gate,
    /// The limits of a circuit to an admitted device.
    admitted: (Duration, u64),
    pace: Option<Pace>,
}

impl relay::CircuitPolicy for Policy {
    fn limits(&self, _src: &PeerId, dst: &PeerId) -> Option<(Duration, u64)> {
        // The destination holds the reservation: a guest dialling an admitted device (to join
        // its space) is served in full; a circuit to a stranger gets the guest limits.
        self.gate.is_admitted(dst).then_some(self.admitted)
    }

    fn spend(&self, bytes: u64) -> Option<Duration> {
        self.pace.as_ref().and_then(|p| p.spend(bytes, std::time::Instant::now()))
    }
}

/// A relay-wide byte budget: `rate` bytes a second with a one-second burst. Copies may run it
/// into debt; every circuit then waits until the debt is paid back.
struct Pace {
    rate: f64,
    /// (bytes available, possibly negative; when last counted)
    state: std::sync::Mutex<(f64, std::time::Instant)>,
}

impl Pace {
    fn new(bytes_per_sec: u64) -> Option<Self> {
        (bytes_per_sec > 0).then(|| {
            let rate = bytes_per_sec as f64;
            Self { rate, state: std::sync::Mutex::new((rate, std::time::Instant::now())) }
        })
    }

    /// Counts `bytes` copied at `now`: how long to wait before copying more, if in debt.
    fn spend(&self, bytes: u64, now: std::time::Instant) -> Option<Duration> {
        // A poisoned lock only means another copy panicked mid-count; the numbers are intact.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, at) = &mut *state;
        *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * self.rate).min(self.rate);
        *at = now;
        *tokens -= bytes as f64;
        (*tokens < 0.0).then(|| Duration::from_secs_f64(-*tokens / self.rate))
    }
}

/// Token buckets per peer: `burst` tokens, one more every `every`.
struct Buckets {
    burst: u32,
    every: Duration,
    peers: std::collections::HashMap<PeerId, (f64, std::time::Instant)>,
}

impl Buckets {
    fn new(burst: u32, every: Duration) -> Self {
        Self { burst, every, peers: std::collections::HashMap::new() }
    }

    /// Takes a token for `peer` at `now`, if it has one.
    fn take(&mut self, peer: PeerId, now: std::time::Instant) -> bool {
        let (burst, every) = (f64::from(self.burst), self.every.as_secs_f64().max(1e-3));
        // Forget peers whose bucket is full again (bounded memory under a flood of ids).
        if self.peers.len() > 10_000 {
            self.peers
                .retain(|_, (tokens, at)| *tokens + now.saturating_duration_since(*at).as_secs_f64() / every < burst);
        }
        let (tokens, at) = self.peers.entry(peer).or_insert((burst, now));
        *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() / every).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Task {
    swarm: Swarm<RelayBehaviour>,
    listeners: Vec<libp2p::core::transport::ListenerId>,
    gate: Gate,
    events: mpsc::UnboundedSender<RelayEvent>,
}

impl Task {
    fn emit(&self, ev: RelayEvent) {
        let _ = self.events.send(ev);
    }

    fn on_admission(&mut self, peer: PeerId, a: Admission) {
        match a {
            Admission::Admitted { identity, revoked } => {
                self.emit(RelayEvent::Admitted { peer, identity });
                for p in revoked {
                    // Its reservation (and circuits) go with its connections.
                    let _ = self.swarm.disconnect_peer_id(p);
                    self.emit(RelayEvent::Revoked { peer: p });
                }
            }
            Admission::Open => self.emit(RelayEvent::Open { peer }),
            Admission::Refused(reason) => self.emit(RelayEvent::Refused { peer, reason }),
        }
    }

    #[allow(deprecated)]
    fn on_swarm(&mut self, ev: SwarmEvent<RelayBehaviourEvent>) {
        use relay::Event as R;
        match ev {
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => self.gate.forget(&peer_id),
            SwarmEvent::Behaviour(RelayBehaviourEvent::Relay(e)) => match e {
                R::ReservationReqAccepted { src_peer_id, renewed } => {
                    self.emit(RelayEvent::Reserved { peer: src_peer_id, renewed })
                }
                R::ReservationReqDenied { src_peer_id, status } => {
                    self.emit(RelayEvent::ReservationDenied { peer: src_peer_id, status: format!("{status:?}") })
                }
                R::ReservationClosed { src_peer_id } | R::ReservationTimedOut { src_peer_id } => {
                    self.emit(RelayEvent::ReservationEnded { peer: src_peer_id })
                }
                R::CircuitReqAccepted { src_peer_id, dst_peer_id } => {
                    self.emit(RelayEvent::Circuit { src: src_peer_id, dst: dst_peer_id })
                }
                R::CircuitReqDenied { src_peer_id, dst_peer_id, status } => self.emit(RelayEvent::CircuitDenied {
                    src: src_peer_id,
                    dst: dst_peer_id,
                    status: format!("{status:?}"),
                }),
                R::CircuitClosed { src_peer_id, dst_peer_id, error } => self.emit(RelayEvent::CircuitClosed {
                    src: src_peer_id,
                    dst: dst_peer_id,
                    error: error.map(|e| e.to_string()),
                }),
                _ => {}
            },
            _ => {}
        }
    }

    /// Stops listening (so nobody connects again while it closes), then closes every
    /// connection (and so every circuit), waiting briefly for them to go.
    async fn close_all(&mut self) {
        for id in std::mem::take(&mut self.listeners) {
            self.swarm.remove_listener(id);
        }
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for p in peers {
            let _ = self.swarm.disconnect_peer_id(p);
        }
        let deadline = tokio::time::sleep(Duration::from_millis(500));
        tokio::pin!(deadline);
        while self.swarm.connected_peers().next().is_some() {
            tokio::select! {
                _ = &mut deadline => break,
                _ = self.swarm.select_next_some() => {}
            }
        }
        // QUIC sends its closes from the endpoint's own task: give it a moment before the
        // process ends, or peers learn of the relay's end only when their connection times
        // out (10 s; seen in the NAT lab's restart test).
        let grace = tokio::time::sleep(Duration::from_millis(250));
        tokio::pin!(grace);
        loop {
            tokio::select! {
                _ = &mut grace => break,
                _ = self.swarm.select_next_some() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_gives_its_burst_then_one_per_interval() {
        let mut b = Buckets::new(3, Duration::from_secs(60));
        let (p, q) = (PeerId::random(), PeerId::random());
        let t0 = std::time::Instant::now();
        assert!((0..3).all(|_| b.take(p, t0)));
        assert!(!b.take(p, t0));
        assert!(b.take(q, t0), "another peer has its own bucket");
        assert!(!b.take(p, t0 + Duration::from_secs(30)));
        assert!(b.take(p, t0 + Duration::from_secs(61)));
        assert!(!b.take(p, t0 + Duration::from_secs(62)));
    }

    #[test]
    fn the_pace_allows_a_second_of_burst_then_makes_copies_wait_off_their_debt() -> Result<(), &'static str> {
        assert!(Pace::new(0).is_none(), "0 is no cap");
        let pace = Pace::new(1000).ok_or("a pace")?;
        let t0 = std::time::Instant::now();
        // A burst of one second's worth goes through at once...
        assert_eq!(pace.spend(600, t0), None);
        assert_eq!(pace.spend(400, t0), None);
        // ...the next 500 bytes put the relay half a second in debt...
        assert_eq!(pace.spend(500, t0), Some(Duration::from_millis(500)));
        // ...which time pays back: after 0.5 s it is even, and 100 bytes cost 0.1 s.
        let wait = pace.spend(100, t0 + Duration::from_millis(500)).ok_or("in debt")?;
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
        // Idle time refills the burst, no more than one second's worth.
        assert_eq!(pace.spend(1000, t0 + Duration::from_secs(60)), None);
        assert!(pace.spend(1, t0 + Duration::from_secs(60)).is_some());
        Ok(())
    }
}
