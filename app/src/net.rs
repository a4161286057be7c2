//! The profile owner's network node (the app and `serve` run the same one): a tokio runtime
//! of its own in the background, and blocking calls for the owner's threads.

use std::time::Duration;

use dxos_net::{Node, NodeConfig, NodeEvent, PeerInfo, Presence};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::client::Client;
use crate::profile::Profile;
use crate::request::{CmdError, Kind};

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
    /// The node config for `profile` (certificate and peer store kept in its folder).
    pub fn config(&self, profile: &Profile) -> Result<NodeConfig, CmdError> {
        let parse =
            |a: &String| a.parse().map_err(|e| CmdError::new(Kind::Usage, format!("{a:?} is not a multiaddr: {e}")));
        let mut config = NodeConfig::for_profile(profile.dir());
        if !self.listen.is_empty() {
            config.listen = self.listen.iter().map(parse).collect::<Result<_, _>>()?;
        }
        config.peers = self.peers.iter().map(parse).collect::<Result<_, _>>()?;
        config.mdns = !self.no_mdns;
        Ok(config)
    }
}

/// A running node and the runtime it runs on.
pub struct NetHost {
    runtime: tokio::runtime::Runtime,
    node: Node,
}

impl NetHost {
    /// Starts the node of `client`'s profile (which needs an identity, or the key it joins
    /// one with).
    pub fn start(client: &Client, config: NodeConfig) -> Result<NetHost, CmdError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("dxos-net")
            .enable_all()
            .build()
            .map_err(|e| CmdError::new(Kind::Io, format!("cannot start the network runtime: {e}")))?;
        let node = runtime
            .block_on(Node::start(config, client.echo().clone(), client.halo().clone()))
            .map_err(|e| CmdError::new(Kind::Io, e.to_string()))?;
        Ok(NetHost { runtime, node })
    }

    /// The node's events from now on (the first caller also gets those since the start).
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.node.subscribe()
    }

    /// The node's events from now on, only.
    pub fn subscribe_new(&self) -> broadcast::Receiver<NodeEvent> {
        self.node.subscribe_new()
    }

    /// The addresses the node listens on, as strings with `/p2p/`.
    pub fn addrs(&self) -> Vec<String> {
        self.runtime.block_on(self.node.listen_addrs()).unwrap_or_default().iter().map(|a| a.to_string()).collect()
    }

    /// The connected peers.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.runtime.block_on(self.node.peers()).unwrap_or_default()
    }

    /// Who is online in which space.
    pub fn presence(&self) -> Vec<Presence> {
        self.runtime.block_on(self.node.presence()).unwrap_or_default()
    }

    /// Marks who is online in a result of `identity show` (devices) or `space members`
    /// (members of `space`).
    pub fn mark_online(&self, v: &mut Value, space: Option<dxos_halo::PublicKey>) {
        if let Some(devices) = v.get_mut("devices").and_then(Value::as_array_mut) {
            let connected: Vec<String> = self.peers().iter().filter_map(|p| p.device_key.map(|k| k.to_hex())).collect();
            for d in devices {
                if d["device_key"].as_str().is_some_and(|k| connected.iter().any(|c| c == k)) {
                    d["online"] = Value::Bool(true);
                }
            }
        }
        if let (Some(space), Some(members)) = (space, v.as_array_mut()) {
            let online: Vec<String> =
                self.presence().iter().filter(|p| p.space == space).map(|p| p.member.to_hex()).collect();
            for m in members {
                if m["identity_key"].as_str().is_some_and(|k| online.iter().any(|o| o == k)) {
                    m["online"] = Value::Bool(true);
                }
            }
        }
    }

    /// Opens an invitation on the node.
    pub fn invite(
        &self,
        kind: dxos_halo::OfferKind,
        valid_for: Duration,
        code: bool,
    ) -> Result<dxos_net::invite::Invitation, CmdError> {
        self.runtime.block_on(self.node.invite(kind, valid_for, code)).map_err(|e| match e {
            dxos_net::NetError::NoIdentity => dxos_halo::HaloError::NoIdentity.into(),
            e => CmdError::new(Kind::Network, e.to_string()),
        })
    }

    /// Cancels an open invitation.
    pub fn cancel_invitation(&self, id: &[u8; 8]) -> bool {
        self.node.cancel_invitation(id)
    }

    /// Starts redeeming an invitation; the channel says where it stands.
    pub fn join(
        &self,
        offer: dxos_halo::Offer,
        code: Option<String>,
        label: String,
    ) -> tokio::sync::watch::Receiver<dxos_net::invite::JoinStatus> {
        let _guard = self.runtime.enter();
        self.node.join(offer, code, label)
    }

    /// `dxos peers --json`.
    pub fn peers_json(&self) -> Value {
        Value::Array(self.peers().iter().map(PeerInfo::to_json).collect())
    }

    /// Stops the node (saving the known peers' addresses) and its runtime.
    /// The runtime goes when the last holder lets go (a command still running on the node
    /// holds it until it sees the node stopped).
    pub fn shutdown(self: std::sync::Arc<Self>) {
        let node = self.node.clone();
        let _ = self.runtime.block_on(async { tokio::time::timeout(Duration::from_secs(5), node.shutdown()).await });
        if let Ok(host) = std::sync::Arc::try_unwrap(self) {
            host.runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}
