//! The swarm task: owns the libp2p swarm and everything about connections, and spawns a
//! replication session per connected peer. Nothing here blocks on the disk except the
//! sessions' HALO writes (small) and the peer store (on shutdown and every half minute).
//!
//! Here: the task's state and its event loop (commands, swarm events, the redial tick).
//! `build.rs` builds the swarm and starts the task; `sessions.rs` runs a replication session
//! per peer; `peer_store.rs` keeps peers' addresses across restarts; `addrs.rs` reads addresses.

mod addrs;
mod build;
mod peer_store;
mod relays;
mod sessions;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use dxos_echo::Echo;
use dxos_halo::{Halo, PublicKey};
use futures_util::StreamExt;
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::ListenerId;
use libp2p::core::{ConnectedPoint, Transport as _};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, mdns, noise, ping, tcp, yamux};
use libp2p_stream::{Control, OpenStreamError};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::compat::FuturesAsyncReadCompatExt;

use super::behaviour::{Behaviour, BehaviourEvent};
use super::ports::{self, ListenPorts};
use super::redial::Redial;
use super::{
    NetError, NodeConfig, NodeEvent, PeerInfo, Presence, REPLICATE_PROTOCOL, REPLICATE_PROTOCOL_V2, Transport, cert,
};
use crate::replicate::driver::{self, Context, SessionEvent};
use addrs::{dial_patience, is_loopback, peer_of, without_peer};
pub(super) use build::spawn;
use dxos_halo::PeerIdExt;

/// Commands from [`super::Node`].
pub(super) enum Command {
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    Presence(oneshot::Sender<Vec<Presence>>),
    Dial(Multiaddr, oneshot::Sender<Result<(), NetError>>),
    /// Dial an inviter once (its addresses are learned, it is not redialled for that).
    DialOnce(PeerId, Vec<Multiaddr>, oneshot::Sender<()>),
    IsConnected(PeerId, oneshot::Sender<bool>),
    Sever(Duration, oneshot::Sender<()>),
    /// Replace the relays (added ones are reserved on, removed ones let go).
    SetRelays(Vec<Multiaddr>, oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

/// What the node's own tasks tell the swarm task.
enum Internal {
    /// A replication stream the peer opened, with its protocol version.
    Incoming(PeerId, libp2p::Stream, u8),
    /// The replication stream we opened (and its version), or why not.
    Opened(PeerId, Result<(libp2p::Stream, u8), OpenStreamError>),
    Session(PeerId, u64, SessionEvent),
    SessionEnded(PeerId, u64, Option<String>),
    Retry(PeerId),
    HaloChanged,
    /// A relay answered our admission request.
    RelayAuth(PeerId, relays::AuthOutcome),
    /// Ask a relay for admission again (its reservation ended while connected).
    RelayAgain(PeerId),
}

struct Running {
    id: u64,
    handle: tokio::task::AbortHandle,
    /// The protocol version the session speaks.
    version: u8,
}

#[derive(Default)]
struct PeerPresence {
    spaces: HashMap<PublicKey, (PublicKey, dxos_halo::Role)>,
}

struct Task {
    swarm: Swarm<Behaviour>,
    ctx: Context,
    control: Control,
    events: broadcast::Sender<NodeEvent>,
    internal: mpsc::UnboundedSender<Internal>,
    redial: Redial,
    /// Explicit peers given without a peer id, until a connection tells us who they are.
    anonymous: Vec<(Multiaddr, Instant)>,
    /// Peers given explicitly (always wanted).
    explicit: HashSet<PeerId>,
    connections: HashMap<PeerId, Vec<(ConnectionId, Multiaddr)>>,
    /// When each connection came up.
    since: HashMap<ConnectionId, Instant>,
    /// The redial in flight per peer, and when it started.
    dialing: HashMap<PeerId, (ConnectionId, Instant)>,
    sessions: HashMap<PeerId, Running>,
    opening: HashSet<PeerId>,
    presence: HashMap<PeerId, PeerPresence>,
    listen: Vec<Multiaddr>,
    /// Listeners that have no address yet, and who waits for them all.
    pending_listeners: HashSet<ListenerId>,
    /// The configured address each listener was started for.
    listeners: HashMap<ListenerId, Multiaddr>,
    /// The ports listened on, kept for the next start.
    ports: ListenPorts,
    ready: Option<oneshot::Sender<Result<(), NetError>>>,
    down_until: Option<Instant>,
    next_session: u64,
    peer_store: Option<PathBuf>,
    store_dirty: bool,
    /// Whether the profile had an identity when the sessions started.
    had_identity: bool,
    /// Our relays and where we stand with each: this device's own ([`Self::local_relays`])
    /// and the identity's list (HALO's relay credentials).
    relays: HashMap<PeerId, relays::RelaySlot>,
    /// The relays this device was given (its profile's list, the environment's).
    local_relays: Vec<Multiaddr>,
    /// Which connection to keep when there are several, best first.
    transport_order: Vec<Transport>,
    /// When we last dialled a peer at a better transport than its connection, and from which
    /// connection.
    upgrading: HashMap<PeerId, (Instant, ConnectionId)>,
    /// The round trip of each connection's last successful ping.
    rtt: HashMap<ConnectionId, Duration>,
    /// The newest replication protocol version we speak.
    replicate_version: u8,
    /// Relayed connections to close once a direct one has been up a while.
    retiring: Vec<(PeerId, ConnectionId, Instant)>,
    /// `/webrtc`'s settings (its STUN servers follow the relays).
    webrtc: crate::webrtc_p2p::Settings,
    /// The STUN servers configured (none: the relays' hosts).
    stun: Vec<String>,
}

/// How long a WebRTC-direct connection may take to come up.
const WEBRTC_DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// A redial still pending after this long (LAN addresses) is given up for a fresh one: one
/// started while the link was down would otherwise hold up reconnecting once it is back.
const LAN_DIAL_PATIENCE: Duration = Duration::from_millis(1500);
/// The same for peers beyond the LAN, whose handshakes take longer.
const WAN_DIAL_PATIENCE: Duration = Duration::from_secs(4);
/// How long a dial to one of our relays may take before a fresh one replaces it (a QUIC
/// handshake with a relay is one round trip).
const RELAY_DIAL_PATIENCE: Duration = Duration::from_millis(1500);
/// How long a connection stays once a better one to the same peer is up (a relayed one
/// after a direct one; a worse direct one after the transport order's choice).
const RELAYED_GRACE: Duration = Duration::from_secs(5);
/// How long a stopping node waits for its connections to close.
const CLOSE_PATIENCE: Duration = Duration::from_millis(500);

impl Task {
    fn emit(&self, ev: NodeEvent) {
        let _ = self.events.send(ev);
    }

    fn is_down(&mut self) -> bool {
        match self.down_until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                self.down_until = None;
                self.redial.all_due(Instant::now());
                false
            }
            None => false,
        }
    }

    fn add_explicit(&mut self, addr: Multiaddr, now: Instant) {
        match peer_of(&addr) {
            Some(peer) => {
                self.explicit.insert(peer);
                self.redial.want(peer);
                self.redial.learn(peer, without_peer(&addr), now);
            }
            None => self.anonymous.push((addr, now)),
        }
    }

    /// The peers we care about: our devices, the members' devices of our spaces, and the
    /// peers given explicitly.
    fn refresh_wanted(&mut self) {
        let mut wanted: HashSet<PeerId> =
            self.ctx.halo.wanted_devices().iter().filter_map(|k| k.to_peer_id().ok()).collect();
        wanted.extend(self.explicit.iter().copied());
        self.learn_circuits(&wanted);
        self.redial.set_wanted(wanted);
    }

    /// Where a connection at `addr` stands in the transport order (0 best; relayed
    /// connections always after direct ones).
    fn rank(&self, addr: &Multiaddr) -> usize {
        let t = Transport::of(addr);
        let n = self.transport_order.len();
        let at = self.transport_order.iter().position(|o| *o == t).unwrap_or(n);
        if t == Transport::Relay { 2 * n + at } else { at }
    }

    /// The peer lists an address of a transport our order prefers to the connection we have
    /// (the first dial took whichever answered first): if we decide (the smaller peer id),
    /// dial it once; the better connection then takes over. A relayed connection goes direct
    /// by hole punching (DCUtR's business) and, if the peer speaks `/webrtc`'s signaling, over
    /// `/webrtc` at the same time (whichever comes up and ranks better stays).
    fn maybe_upgrade(&mut self, peer: PeerId, addrs: &[Multiaddr], signals: bool, now: Instant) {
        if *self.swarm.local_peer_id() >= peer || self.is_relay(&peer) {
            return;
        }
        // The best connection we have; of equals, the newest (an older one may be dead and not
        // noticed yet: a peer that restarted meets us again on a new relayed connection).
        let Some((current, current_addr, current_id)) = self
            .connections
            .get(&peer)
            .and_then(|cs| cs.iter().rev().map(|(id, a)| (self.rank(a), a.clone(), *id)).min_by_key(|(r, _, _)| *r))
        else {
            return;
        };
        let better = if current >= 2 * self.transport_order.len() {
            // Relayed only.
            if !signals || !self.transport_order.contains(&Transport::WebRtc) {
                return;
            }
            // The peer's own `/webrtc` address, or one made of the circuit we reach it by
            // (the signaling runs over the connection we have either way).
            addrs
                .iter()
                .find(|a| Transport::of(a) == Transport::WebRtc)
                .map(|a| a.clone().with(Protocol::P2p(peer)))
                .or_else(|| addrs::webrtc_via(&current_addr, peer))
        } else {
            addrs
                .iter()
                .filter(|a| Transport::of(a) != Transport::Relay && Transport::of(a) != Transport::WebRtc)
                .min_by_key(|a| self.rank(a))
                .filter(|a| self.rank(a) < current)
                .cloned()
        };
        let Some(better) = better else { return };
        // One attempt a minute from a given connection (identify may repeat itself); a new
        // connection (the peer restarted) may be upgraded at once.
        if self
            .upgrading
            .get(&peer)
            .is_some_and(|(t, from)| *from == current_id && now.duration_since(*t) < Duration::from_secs(60))
        {
            return;
        }
        // Forget old attempts, so the map stays as small as the peers dialled in a minute.
        self.upgrading.retain(|_, (t, _)| now.duration_since(*t) < Duration::from_secs(60));
        self.upgrading.insert(peer, (now, current_id));
        tracing::debug!(%peer, %better, "dialling a better transport than the connection we have");
        let opts = DialOpts::peer_id(peer).addresses(vec![better]).condition(PeerCondition::Always).build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(%peer, "cannot dial the better transport: {e}");
        }
    }

    fn on_tick(&mut self) {
        if self.is_down() {
            return;
        }
        let now = Instant::now();
        let due: Vec<(PeerId, ConnectionId)> =
            self.retiring.iter().filter(|(_, _, t)| *t <= now).map(|(p, c, _)| (*p, *c)).collect();
        self.retiring.retain(|(_, _, t)| *t > now);
        for (peer, c) in due {
            // Only while a better connection is still there to take over.
            let conns = self.connections.get(&peer).map(Vec::as_slice).unwrap_or_default();
            let mine = conns.iter().find(|(id, _)| *id == c).map(|(_, a)| self.rank(a));
            let better = conns.iter().any(|(id, a)| *id != c && mine.is_some_and(|r| self.rank(a) < r));
            if better {
                tracing::debug!(%peer, "closing a connection: a better one is up");
                self.swarm.close_connection(c);
            }
        }
        for (peer, addrs) in self.redial.due(now) {
            // One dial at a time; one pending too long (a WebRTC-direct dial into a link that
            // is down never completes) is aborted for a fresh one.
            // A relay that went away is dialled afresh every RELAY_DIAL_PATIENCE: a QUIC dial
            // into a port nobody listens on yet only resends its first packet after 1, 2, 4 s,
            // so one started before the relay was back could leave it waiting seconds more.
            if let Some((_, started)) = self.dialing.get(&peer) {
                let patience = if self.is_relay(&peer) { RELAY_DIAL_PATIENCE } else { dial_patience(&addrs) };
                if now.duration_since(*started) < patience {
                    continue;
                }
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            let opts = DialOpts::peer_id(peer).addresses(addrs).condition(PeerCondition::Disconnected).build();
            let id = opts.connection_id();
            match self.swarm.dial(opts) {
                Ok(()) => {
                    self.dialing.insert(peer, (id, now));
                }
                Err(e) => tracing::debug!(%peer, "redial: {e}"),
            }
        }
        let connected_addrs: HashSet<Multiaddr> =
            self.connections.values().flatten().map(|(_, a)| without_peer(a)).collect();
        for (addr, next) in &mut self.anonymous {
            if *next <= now && !connected_addrs.contains(addr) {
                *next = now + super::redial::MAX_BACKOFF;
                if let Err(e) = self.swarm.dial(DialOpts::unknown_peer_id().address(addr.clone()).build()) {
                    tracing::debug!(%addr, "dial: {e}");
                }
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::ListenAddrs(tx) => {
                let me = *self.swarm.local_peer_id();
                // A circuit address comes from the relay client already ending in our id.
                let addrs = self
                    .listen
                    .iter()
                    .map(|a| if peer_of(a) == Some(me) { a.clone() } else { a.clone().with(Protocol::P2p(me)) })
                    .collect();
                let _ = tx.send(addrs);
            }
            Command::Peers(tx) => {
                let mut peers: Vec<PeerInfo> = self
                    .connections
                    .iter()
                    // Our relays carry circuits; they are no peers of ours.
                    .filter(|(peer, c)| !c.is_empty() && !self.relays.contains_key(peer))
                    .map(|(peer, conns)| {
                        // The best connection carries the traffic (others are on their way
                        // out); it comes first.
                        let mut by_rank: Vec<&(ConnectionId, Multiaddr)> = conns.iter().collect();
                        by_rank.sort_by_key(|(_, a)| self.rank(a));
                        let best = by_rank.first();
                        PeerInfo {
                            peer_id: *peer,
                            device_key: PublicKey::from_peer_id(peer).ok(),
                            transport: best.map(|(_, a)| Transport::of(a)).unwrap_or(Transport::Relay),
                            rtt: best.and_then(|(id, _)| self.rtt.get(id).copied()),
                            addrs: by_rank.iter().map(|(_, a)| a.clone()).collect(),
                            replication: self.sessions.get(peer).map(|s| s.version),
                        }
                    })
                    .collect();
                peers.sort_by_key(|p| p.peer_id.to_base58());
                let _ = tx.send(peers);
            }
            Command::Presence(tx) => {
                let mut out = Vec::new();
                for (peer, p) in &self.presence {
                    let Ok(device) = PublicKey::from_peer_id(peer) else { continue };
                    for (space, (member, role)) in &p.spaces {
                        out.push(Presence { space: *space, device, member: *member, role: *role });
                    }
                }
                out.sort_by_key(|p| (p.space, p.device));
                let _ = tx.send(out);
            }
            Command::Dial(addr, tx) => {
                let opts = match peer_of(&addr) {
                    Some(peer) => DialOpts::peer_id(peer)
                        .addresses(vec![without_peer(&addr)])
                        .condition(PeerCondition::Always)
                        .build(),
                    None => DialOpts::unknown_peer_id().address(addr.clone()).build(),
                };
                let r =
                    self.swarm.dial(opts).map_err(|e| NetError::Dial { addr: addr.to_string(), reason: e.to_string() });
                if r.is_ok() {
                    self.add_explicit(addr, Instant::now() + super::redial::MAX_BACKOFF);
                }
                let _ = tx.send(r);
            }
            Command::DialOnce(peer, addrs, tx) => {
                let now = Instant::now();
                for a in &addrs {
                    self.redial.learn(peer, without_peer(a), now);
                }
                let mut all: Vec<Multiaddr> = addrs.iter().map(without_peer).collect();
                all.extend(self.redial.addrs(&peer).iter().filter(|a| !all.contains(a)).cloned().collect::<Vec<_>>());
                // One dial at a time; one still pending after a while is given up for a fresh
                // one (a WebRTC-direct dial now and then never completes: waiting out its 5 s
                // timeout would hold up the pairing).
                let stale =
                    self.dialing.get(&peer).map(|(_, started)| now.duration_since(*started) >= dial_patience(&all));
                if !self.connections.contains_key(&peer) && stale != Some(false) {
                    if stale == Some(true) {
                        let _ = self.swarm.disconnect_peer_id(peer);
                    }
                    let opts = DialOpts::peer_id(peer).addresses(all).condition(PeerCondition::Disconnected).build();
                    let id = opts.connection_id();
                    match self.swarm.dial(opts) {
                        Ok(()) => {
                            self.dialing.insert(peer, (id, now));
                        }
                        Err(e) => tracing::debug!(%peer, "dial inviter: {e}"),
                    }
                }
                let _ = tx.send(());
            }
            Command::IsConnected(peer, tx) => {
                let _ = tx.send(self.connections.get(&peer).is_some_and(|c| !c.is_empty()));
            }
            Command::Sever(down_for, tx) => {
                self.down_until = Some(Instant::now() + down_for);
                // Replication stops now, not when the connections have finished closing.
                for (_, s) in self.sessions.drain() {
                    s.handle.abort();
                }
                self.presence.clear();
                for conns in self.connections.values() {
                    for (id, _) in conns {
                        self.swarm.close_connection(*id);
                    }
                }
                let _ = tx.send(());
            }
            Command::SetRelays(relays, tx) => {
                self.local_relays = relays;
                self.set_relays(&relays::merged(&self.local_relays, &self.ctx.halo.relays()));
                let _ = tx.send(());
            }
            Command::Shutdown(_) => {}
        }
    }

    fn stop(&mut self) {
        for (_, s) in self.sessions.drain() {
            s.handle.abort();
        }
        self.store_dirty = true;
        self.save_peer_store();
    }

    /// Closes every connection and waits (briefly) until they are closed, so that peers learn
    /// at once that this node is gone. A connection merely dropped with the process is not
    /// closed at the other end: over WebRTC nothing tells the peer, which keeps replicating
    /// into it until its pings fail some 15 s later (seen with short-lived CLI owners).
    async fn close_connections(&mut self) {
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        let deadline = tokio::time::sleep(CLOSE_PATIENCE);
        tokio::pin!(deadline);
        while self.swarm.connected_peers().next().is_some() {
            tokio::select! {
                _ = &mut deadline => break,
                _ = self.swarm.select_next_some() => {}
            }
        }
    }

    fn on_swarm(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        let now = Instant::now();
        match ev {
            SwarmEvent::NewListenAddr { listener_id, address } => {
                if let Some(configured) = self.listeners.get(&listener_id) {
                    self.ports.record(configured, &address);
                }
                if !self.listen.contains(&address) {
                    self.listen.push(address.clone());
                }
                // An address coming (back) up is news of the network: dial everyone now.
                if self.ready.is_none() {
                    self.redial.all_due(now);
                }
                // A reservation (back) on a relay: peers may be reachable through it now.
                // Dials still pending (to addresses that will time out, such as a peer's
                // unpunchable address behind a symmetric NAT) are given up for fresh ones.
                if address.iter().any(|p| p == Protocol::P2pCircuit) {
                    let pending: Vec<PeerId> =
                        self.dialing.keys().filter(|p| !self.connections.contains_key(p)).copied().collect();
                    for p in pending {
                        self.dialing.remove(&p);
                        let _ = self.swarm.disconnect_peer_id(p);
                    }
                    self.redial.all_due(now);
                }
                self.listener_done(listener_id, None);
                self.emit(NodeEvent::Listening { addr: address });
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => self.listen.retain(|a| *a != address),
            SwarmEvent::ListenerClosed { listener_id, reason, addresses } => {
                self.on_relay_listener_closed(listener_id);
                self.listeners.remove(&listener_id);
                self.listen.retain(|a| !addresses.contains(a));
                let reason = reason.err().map(|e| e.to_string()).unwrap_or_else(|| "closed".into());
                self.listener_done(listener_id, Some(reason));
            }
            SwarmEvent::ListenerError { listener_id, error } => {
                tracing::warn!("listener: {error}");
                self.listener_done(listener_id, Some(error.to_string()));
            }
            SwarmEvent::ConnectionEstablished { peer_id, connection_id, endpoint, num_established, .. } => {
                if self.is_down() {
                    self.swarm.close_connection(connection_id);
                    return;
                }
                // A relayed connection's remote address is only `/p2p/<peer>` on the listening
                // side: keep the circuit address, so its transport reads as `relay`.
                let addr = match &endpoint {
                    ConnectedPoint::Listener { local_addr, .. } if endpoint.is_relayed() => local_addr.clone(),
                    _ => endpoint.get_remote_address().clone(),
                };
                if let ConnectedPoint::Dialer { address, .. } = &endpoint
                    && Transport::of(address) != Transport::WebRtc
                {
                    let plain = without_peer(address);
                    if let Some(i) = self.anonymous.iter().position(|(a, _)| *a == plain) {
                        self.anonymous.remove(i);
                        self.explicit.insert(peer_id);
                        self.redial.want(peer_id);
                    }
                    self.redial.learn(peer_id, plain, now);
                    self.store_dirty = true;
                }
                // A new connection to a peer we have had a connection with for a while means
                // the peer came back (after a link loss or sleep) and the old one is likely
                // dead though not yet noticed (ping takes up to 20 s to tell). Close the old
                // ones so replication moves over now. Young ones are left alone: two peers
                // dialling each other at once.
                // A relayed connection never displaces a direct one; a direct one (hole punched,
                // or the peer came within reach) displaces relayed ones soon, so replication
                // moves off the relay: not at once, since an invitation's exchange may be
                // running over the circuit (closing it then failed the guest's join; seen).
                // Between direct connections, the node that decides (the smaller peer id) keeps
                // the best by its transport order: a better one takes over (the old one goes
                // after the same grace), a worse one arriving while a good one is young goes
                // after the grace too (both peers dialled at once).
                // (`/p2p-circuit/webrtc` is a direct connection, though its address names a
                // circuit.)
                let relayed = Transport::of(&addr) == Transport::Relay;
                let decides = *self.swarm.local_peer_id() < peer_id;
                let new_rank = self.rank(&addr);
                let mut close_new = false;
                for (old, old_addr) in self.connections.get(&peer_id).into_iter().flatten() {
                    let old_relayed = Transport::of(old_addr) == Transport::Relay;
                    let aged = self.since.get(old).is_some_and(|t| now.duration_since(*t) > Duration::from_secs(2));
                    let old_rank = self.rank(old_addr);
                    if !relayed && old_relayed {
                        self.retiring.push((peer_id, *old, now + RELAYED_GRACE));
                    } else if relayed && !old_relayed {
                        // A relayed connection never displaces a direct one.
                    } else if aged {
                        // Most likely dead (the peer came back after a link loss): close it now,
                        // or a session still on it would hold the peer's new one off until it
                        // went (6 s outages in the namespace test waited out the 5 s grace, 1 round in 6).
                        tracing::debug!(peer = %peer_id, "closing an older connection");
                        self.swarm.close_connection(*old);
                    } else if decides && new_rank < old_rank {
                        tracing::debug!(peer = %peer_id, "a better connection: the older one retires");
                        self.retiring.push((peer_id, *old, now + RELAYED_GRACE));
                    } else if decides && new_rank > old_rank {
                        close_new = true;
                    }
                }
                if close_new {
                    // Not at once: closing any connection restarts the peer's session (yamux may
                    // not wake a stream whose connection closed), and an invitation's exchange
                    // or a first sync may be under way (a join failed so).
                    tracing::debug!(peer = %peer_id, "a worse connection than the one up: it retires");
                    self.retiring.push((peer_id, connection_id, now + RELAYED_GRACE));
                }
                self.since.insert(connection_id, now);
                self.dialing.remove(&peer_id);
                self.connections.entry(peer_id).or_default().push((connection_id, addr.clone()));
                self.redial.connected(peer_id, now);
                if num_established.get() == 1 {
                    self.emit(NodeEvent::Connected {
                        peer: peer_id,
                        addr: addr.clone(),
                        transport: Transport::of(&addr),
                    });
                }
                if num_established.get() == 1 && self.is_relay(&peer_id) {
                    self.relay_auth(peer_id);
                }
                self.maybe_open(peer_id);
            }
            SwarmEvent::ConnectionClosed { peer_id, connection_id, num_established, .. } => {
                if let Some(c) = self.connections.get_mut(&peer_id) {
                    c.retain(|(id, _)| *id != connection_id);
                }
                self.since.remove(&connection_id);
                self.rtt.remove(&connection_id);
                // The session may have run over the connection that closed, and then it may
                // never hear of it: yamux 0.14 closes a connection without waking its streams
                // (seen after a ping timeout closed a TCP connection: the session waited for
                // ever). End the session; it starts again over what remains, or on return.
                if let Some(s) = self.sessions.remove(&peer_id) {
                    tracing::debug!(peer = %peer_id, session = s.id, "a connection closed: replication restarts");
                    s.handle.abort();
                    self.presence.remove(&peer_id);
                }
                if num_established == 0 {
                    self.connections.remove(&peer_id);
                    // A peer that comes back is a new meeting: it may be upgraded at once.
                    self.upgrading.remove(&peer_id);
                    self.redial.disconnected(peer_id, now);
                    self.emit(NodeEvent::Disconnected { peer: peer_id });
                } else {
                    self.maybe_open(peer_id);
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, connection_id, error } => {
                tracing::debug!(?peer_id, "dial failed: {error}");
                if let Some(p) = peer_id
                    && self.dialing.get(&p).is_some_and(|(id, _)| *id == connection_id)
                {
                    self.dialing.remove(&p);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    // Over the LAN, a peer's loopback addresses lead back to ourselves.
                    if is_loopback(&addr) {
                        continue;
                    }
                    let addr = without_peer(&addr);
                    let fresh = self.redial.addrs(&peer).is_empty();
                    self.redial.learn(peer, addr.clone(), now);
                    self.store_dirty = true;
                    self.emit(NodeEvent::Discovered { peer, addr: addr.clone() });
                    // LAN peers we do not know yet (another device of ours that has not
                    // met us, say) are dialled once; the handshake tells them nothing.
                    if fresh && !self.redial.is_wanted(&peer) && !self.connections.contains_key(&peer) {
                        self.dial_lan(peer, vec![addr]);
                    }
                }
            }
            // A relay is reached at the address it was added with, not at every address it
            // lists: hole punching needs both peers to reach it over the same transport (QUIC
            // with QUIC), since each offers the other the address the relay observed.
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, .. }))
                if self.is_relay(&peer_id) => {}
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                // A peer's loopback addresses are only worth keeping if it is on this host.
                let local = self.connections.get(&peer_id).is_some_and(|c| c.iter().any(|(_, a)| is_loopback(a)));
                let mut usable = Vec::new();
                for addr in info.listen_addrs {
                    if is_loopback(&addr) && !local {
                        continue;
                    }
                    let addr = without_peer(&addr);
                    usable.push(addr.clone());
                    // A `/webrtc` address is only dialled to leave a relayed connection.
                    if self.redial.is_wanted(&peer_id) && Transport::of(&addr) != Transport::WebRtc {
                        self.redial.learn(peer_id, addr, now);
                        self.store_dirty = true;
                    }
                }
                let signals = info.protocols.contains(&crate::webrtc_p2p::signaling::PROTOCOL);
                self.maybe_upgrade(peer_id, &usable, signals, now);
            }
            // Only for connections we still hold (an event may trail a close).
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { connection, result: Ok(rtt), .. }))
                if self.since.contains_key(&connection) =>
            {
                self.rtt.insert(connection, rtt);
            }
            // A link that stopped answering is closed, so the peer is redialled; a peer that
            // just does not speak ping keeps its connection.
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { peer, connection, result: Err(e) }))
                if !matches!(e, ping::Failure::Unsupported) =>
            {
                tracing::info!(%peer, "ping failed ({e}): closing the connection");
                self.swarm.close_connection(connection);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Webrtc(outcome)) => {
                use crate::webrtc_p2p::Event;
                let (peer, took, error) = match outcome {
                    Event::Connected { peer, took, .. } => (peer, took, None),
                    Event::Failed { peer, took, error, .. } => {
                        tracing::info!(%peer, "/webrtc failed after {took:?}: {error}");
                        (peer, took, Some(error))
                    }
                };
                self.emit(NodeEvent::WebRtc { peer, took, error });
            }
            _ => {}
        }
    }

    /// Dials a LAN peer we do not know yet, unless connected or dialling it already.
    fn dial_lan(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        if self.connections.contains_key(&peer) || self.is_down() {
            return;
        }
        let opts = DialOpts::peer_id(peer).addresses(addrs).condition(PeerCondition::DisconnectedAndNotDialing).build();
        let _ = self.swarm.dial(opts);
    }

    fn listener_done(&mut self, id: ListenerId, error: Option<String>) {
        if !self.pending_listeners.remove(&id) {
            return;
        }
        if let Some(reason) = error
            && let Some(r) = self.ready.take()
        {
            let _ = r.send(Err(NetError::Listen { addr: format!("{id:?}"), reason }));
            return;
        }
        if self.pending_listeners.is_empty()
            && let Some(r) = self.ready.take()
        {
            let _ = r.send(Ok(()));
        }
    }
}
