//! The profile owner's network node (the app and `serve` run the same one): a tokio runtime
//! of its own in the background, and blocking calls for the owner's threads.

use std::time::Duration;

use dxos_net::{Node, NodeConfig, NodeEvent, SessionEvent};
use tokio::sync::broadcast;

use crate::error::{ClientError, Result};
use crate::profile::Profile;
use crate::types::{Peer, PeerEvent, Presence};

/// What `serve` (or the app) was asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct NetOptions {
    /// `--listen`: replaces the default listen addresses.
    pub listen: Vec<String>,
    /// `--peer`: peers to dial and keep dialling.
    pub peers: Vec<String>,
    /// `--no-mdns`.
    pub no_mdns: bool,
}

impl NetOptions {
    /// Listening on loopback only, over the given transports (`webrtc-direct`, `quic`, `tcp`),
    /// with no mDNS: for tests and the demo.
    pub fn loopback(transports: &[&str]) -> Self {
        let listen = transports
            .iter()
            .filter_map(|t| match *t {
                "webrtc-direct" => Some("/ip4/127.0.0.1/udp/0/webrtc-direct"),
                "quic" => Some("/ip4/127.0.0.1/udp/0/quic-v1"),
                "tcp" => Some("/ip4/127.0.0.1/tcp/0"),
                _ => None,
            })
            .map(str::to_owned)
            .collect();
        NetOptions { listen, peers: Vec::new(), no_mdns: true }
    }

    /// The node config for `profile` (certificate and peer store kept in its folder).
    pub(crate) fn config(&self, profile: &Profile) -> Result<NodeConfig> {
        let parse = |a: &String| a.parse().map_err(|e| ClientError::Usage(format!("{a:?} is not a multiaddr: {e}")));
        let mut config = NodeConfig::for_profile(profile.dir());
        if !self.listen.is_empty() {
            config.listen = self.listen.iter().map(parse).collect::<Result<_, _>>()?;
        }
        config.peers = self.peers.iter().map(parse).collect::<Result<_, _>>()?;
        config.relays = crate::relays::all(profile.dir())?;
        config.stun = crate::stun::all(profile.dir())?;
        config.mdns = !self.no_mdns;
        if let Some(order) = transport_order()? {
            config.transport_order = order;
        }
        Ok(config)
    }
}

/// The environment variable that sets which connection to a peer is kept when there are
/// several, best first (transport names as `peers` prints them, commas between them).
pub(crate) const TRANSPORT_ORDER_ENV: &str = "DXOS_TRANSPORT_ORDER";

/// The order `DXOS_TRANSPORT_ORDER` sets, if it is set.
pub(crate) fn transport_order() -> Result<Option<Vec<dxos_net::Transport>>> {
    let Ok(v) = std::env::var(TRANSPORT_ORDER_ENV) else { return Ok(None) };
    let order = v
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            dxos_net::Transport::parse(s).ok_or_else(|| {
                ClientError::Usage(format!(
                    "{TRANSPORT_ORDER_ENV}: {s:?} is not a transport (quic, webrtc-direct, tcp, webrtc, relay)"
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(order))
}

/// A running node and the runtime it runs on (held by [`Local`](crate::Local)).
pub(crate) struct NetHost {
    runtime: tokio::runtime::Runtime,
    node: Node,
}

impl NetHost {
    /// Starts the node over `echo` and `halo` (which needs an identity, or the key it joins
    /// one with).
    pub(crate) fn start(echo: &dxos_echo::Echo, halo: &dxos_halo::Halo, config: NodeConfig) -> Result<NetHost> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("dxos-net")
            .enable_all()
            .build()
            .map_err(|e| ClientError::io("cannot start the network runtime", e))?;
        let node = runtime
            .block_on(Node::start(config, echo.clone(), halo.clone()))
            .map_err(|source| ClientError::Net { what: "the network node did not start".into(), source })?;
        Ok(NetHost { runtime, node })
    }

    /// The node's events from now on (the first caller also gets those since the start).
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.node.subscribe()
    }

    /// The next event on `rx`, waiting at most `timeout` (`Ok(None)`: none came); `Err` once
    /// the node stopped. Events a slow reader missed are skipped (with a warning).
    pub(crate) fn next_event(
        &self,
        rx: &mut broadcast::Receiver<NodeEvent>,
        timeout: Duration,
    ) -> std::result::Result<Option<NodeEvent>, ()> {
        self.runtime.block_on(async {
            loop {
                match tokio::time::timeout(timeout, rx.recv()).await {
                    Err(_) => return Ok(None),
                    Ok(Ok(ev)) => return Ok(Some(ev)),
                    Ok(Err(broadcast::error::RecvError::Lagged(n))) => {
                        tracing::warn!("{n} node events were skipped (their reader was too slow)");
                    }
                    Ok(Err(broadcast::error::RecvError::Closed)) => return Err(()),
                }
            }
        })
    }

    /// The addresses the node listens on, as strings with `/p2p/`.
    pub(crate) fn addrs(&self) -> Vec<String> {
        self.runtime.block_on(self.node.listen_addrs()).unwrap_or_default().iter().map(|a| a.to_string()).collect()
    }

    /// Replaces the relays the node reserves on.
    pub(crate) fn set_relays(&self, relays: Vec<dxos_net::multiaddr::Multiaddr>) {
        let _ = self.runtime.block_on(self.node.set_relays(relays));
    }

    /// The connected peers.
    pub(crate) fn peers(&self) -> Vec<Peer> {
        let peers = self.runtime.block_on(self.node.peers()).unwrap_or_default();
        peers
            .into_iter()
            .map(|p| Peer {
                peer_id: p.peer_id.to_base58(),
                device_key: p.device_key,
                addrs: p.addrs.iter().map(|a| a.to_string()).collect(),
                transport: p.transport.as_str().to_owned(),
                rtt_micros: p.rtt.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            })
            .collect()
    }

    /// Who is online in which space.
    pub(crate) fn presence(&self) -> Vec<Presence> {
        let presence = self.runtime.block_on(self.node.presence()).unwrap_or_default();
        presence.into_iter().map(|p| Presence { space: p.space, device: p.device, member: p.member }).collect()
    }

    /// Opens an invitation on the node.
    pub(crate) fn invite(
        &self,
        kind: dxos_halo::OfferKind,
        valid_for: Duration,
        code: bool,
    ) -> Result<dxos_net::invite::Invitation> {
        self.runtime.block_on(self.node.invite(kind, valid_for, code)).map_err(|e| match e {
            dxos_net::NetError::NoIdentity => dxos_halo::HaloError::NoIdentity.into(),
            source => ClientError::Net { what: "cannot open the invitation".into(), source },
        })
    }

    /// Waits (at most `timeout`) for `rx` to change; false if it did not (or its sender is gone).
    pub(crate) fn wait_changed<T>(&self, rx: &mut tokio::sync::watch::Receiver<T>, timeout: Duration) -> bool {
        self.runtime.block_on(async { matches!(tokio::time::timeout(timeout, rx.changed()).await, Ok(Ok(()))) })
    }

    /// Cancels an open invitation.
    pub(crate) fn cancel_invitation(&self, id: &[u8; 8]) -> bool {
        self.node.cancel_invitation(id)
    }

    /// Starts redeeming an invitation; the channel says where it stands.
    pub(crate) fn join(
        &self,
        offer: dxos_halo::Offer,
        code: Option<String>,
        label: String,
    ) -> tokio::sync::watch::Receiver<dxos_net::invite::JoinStatus> {
        let _guard = self.runtime.enter();
        self.node.join(offer, code, label)
    }

    /// Stops the node (saving the known peers' addresses) and its runtime.
    /// The runtime goes when the last holder lets go (a command still running on the node
    /// holds it until it sees the node stopped).
    pub(crate) fn shutdown(self: std::sync::Arc<Self>) {
        let node = self.node.clone();
        let _ = self.runtime.block_on(async { tokio::time::timeout(Duration::from_secs(5), node.shutdown()).await });
        if let Ok(host) = std::sync::Arc::try_unwrap(self) {
            host.runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// A node event in the client's own terms.
pub(crate) fn peer_event(ev: &NodeEvent) -> PeerEvent {
    match ev {
        NodeEvent::Listening { addr } => PeerEvent::Listening { addr: addr.to_string() },
        NodeEvent::Connected { peer, addr, transport } => PeerEvent::Connected {
            peer_id: peer.to_base58(),
            addr: addr.to_string(),
            transport: transport.as_str().to_owned(),
        },
        NodeEvent::Disconnected { peer } => PeerEvent::Disconnected { peer_id: peer.to_base58() },
        NodeEvent::Discovered { peer, addr } => {
            PeerEvent::Discovered { peer_id: peer.to_base58(), addr: addr.to_string() }
        }
        NodeEvent::Session { peer, event } => {
            let peer_id = peer.to_base58();
            match event {
                SessionEvent::Verified { space, member, role } => {
                    PeerEvent::Verified { peer_id, space: *space, member: *member, role: *role }
                }
                SessionEvent::Denied { space, reason } => {
                    PeerEvent::Denied { peer_id, space: *space, reason: reason.clone() }
                }
                SessionEvent::Synced { space } => PeerEvent::Synced { peer_id, space: *space },
                SessionEvent::Refused { space } => PeerEvent::Refused { peer_id, space: *space },
                SessionEvent::SameIdentity(same) => PeerEvent::SameIdentity { peer_id, same: *same },
            }
        }
        NodeEvent::SessionEnded { peer, error } => {
            PeerEvent::SessionEnded { peer_id: peer.to_base58(), error: error.clone() }
        }
        NodeEvent::RelayRefused { relay, reason } => {
            PeerEvent::RelayRefused { relay: relay.to_base58(), reason: reason.clone() }
        }
        NodeEvent::WebRtc { peer, took, error } => PeerEvent::WebRtc {
            peer_id: peer.to_base58(),
            micros: u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            error: error.clone(),
        },
    }
}
