//! The node's libp2p behaviours, composed into one.

// The derive generates `BehaviourEvent`, whose variants carry no docs.
#![allow(missing_docs)]

use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{autonat, dcutr, identify, mdns, ping, relay};

/// Identify's protocol version string for DXOS nodes.
pub const IDENTIFY_PROTOCOL: &str = "/dxos/1.0.0";

/// Every behaviour the node runs.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Reaches peers through relays (beyond the LAN).
    pub relay: relay::client::Behaviour,
    /// Exchanges listen addresses and protocols with each peer.
    pub identify: identify::Behaviour,
    /// Measures round trips and finds dead links.
    pub ping: ping::Behaviour,
    /// Finds peers on the LAN (off with `--no-mdns`).
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// Hole punching through NATs, upgrading relayed connections (off when the transport
    /// order lists neither QUIC nor TCP).
    pub dcutr: Toggle<dcutr::Behaviour>,
    /// `/webrtc`'s signaling over relayed connections (its transport's other half).
    pub webrtc: crate::webrtc_p2p::Behaviour,
    /// Learns whether this node is reachable from outside.
    pub autonat: autonat::Behaviour,
    /// Raw streams for DXOS's own protocols (replication).
    pub stream: libp2p_stream::Behaviour,
}

impl Behaviour {
    /// All behaviours for a node with this key; `mdns` turns LAN discovery on, `punch` hole
    /// punching.
    pub fn new(
        key: &Keypair,
        relay: relay::client::Behaviour,
        webrtc: crate::webrtc_p2p::Behaviour,
        mdns: bool,
        punch: bool,
    ) -> std::io::Result<Self> {
        let peer = key.public().to_peer_id();
        let mdns = if mdns {
            let config = mdns::Config { query_interval: Duration::from_secs(5), ..Default::default() };
            Some(mdns::tokio::Behaviour::new(config, peer)?)
        } else {
            None
        };
        Ok(Self {
            relay,
            identify: identify::Behaviour::new(identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public())),
            ping: ping::Behaviour::new(
                ping::Config::new().with_interval(Duration::from_secs(1)).with_timeout(Duration::from_secs(3)),
            ),
            mdns: mdns.into(),
            dcutr: punch.then(|| dcutr::Behaviour::new(peer)).into(),
            webrtc,
            autonat: autonat::Behaviour::new(peer, autonat::Config::default()),
            stream: libp2p_stream::Behaviour::new(),
        })
    }
}
