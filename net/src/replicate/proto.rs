//! The replication protocol as an IO-less state machine: bytes in, actions out.
//!
//! Per connection (DESIGN.md, Network):
//! 1. Each side sends `Have`: the discovery keys (hashes of the space ids) of the spaces it
//!    holds. A peer that lacks a space cannot tell which space a key stands for.
//! 2. For each space both hold, each side sends `Prove`: the space's credentials it holds,
//!    which include the chain proving that its own device belongs to a member.
//! 3. Each side checks the other's device against its own copy of the space's credentials
//!    (the genesis is enough to check a chain). If valid, it keeps the credentials it lacked
//!    and starts y-sync (state vector, then missing updates, then live updates) with yrs'
//!    y-sync message encoding. If not, it sends nothing more about that space.
//! 4. Updates from a reader's device are refused; a reader sends no updates.
//!
//! The peer's device key comes from the authenticated connection (Noise proves it). Nothing
//! here touches a socket: the driver feeds received messages and local updates in, and sends
//! what the actions say.

use std::collections::HashMap;

use dxos_echo::{EchoError, Space};
use dxos_halo::{Credential, PublicKey, Role, SpaceState};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use yrs::StateVector;
use yrs::sync::protocol::SyncMessage;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;

/// Largest protocol message accepted (a whole space's first sync is one message).
pub const MAX_MESSAGE: usize = 256 << 20;
/// Most discovery keys or credentials one message may carry.
const MAX_ITEMS: usize = 10_000;

/// A space's discovery key: what peers exchange instead of the space id.
pub type DiscoveryKey = [u8; 32];

/// The discovery key of a space.
pub fn discovery_key(space: &PublicKey) -> DiscoveryKey {
    let mut h = Sha256::new();
    h.update(b"dxos/discovery/v1");
    h.update(space.as_bytes());
    h.finalize().into()
}

/// A protocol message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wire {
    /// The discovery keys of the spaces the sender holds.
    Have(Vec<DiscoveryKey>),
    /// The sender's credentials for a space both hold (its membership proof among them).
    Prove {
        /// Which space.
        dk: DiscoveryKey,
        /// Encoded credentials.
        credentials: Vec<Vec<u8>>,
    },
    /// A y-sync message (yrs' v1 encoding) for a verified space.
    Sync {
        /// Which space.
        dk: DiscoveryKey,
        /// The encoded `SyncMessage`.
        message: Vec<u8>,
    },
}

impl Wire {
    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Decodes a message from the peer (bounded; never panics).
    pub fn decode(bytes: &[u8]) -> Result<Wire, ProtoError> {
        if bytes.len() > MAX_MESSAGE {
            return Err(ProtoError::TooLarge(bytes.len()));
        }
        let wire: Wire = postcard::from_bytes(bytes).map_err(|e| ProtoError::Malformed(e.to_string()))?;
        let items = match &wire {
            Wire::Have(dks) => dks.len(),
            Wire::Prove { credentials, .. } => credentials.len(),
            Wire::Sync { .. } => 0,
        };
        if items > MAX_ITEMS {
            return Err(ProtoError::Malformed(format!("{items} items in one message")));
        }
        Ok(wire)
    }
}

/// A fault that ends the connection's replication.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// The bytes are not a protocol message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Larger than [`MAX_MESSAGE`].
    #[error("message of {0} bytes is too large")]
    TooLarge(usize),
    /// A y-sync message or update for a space could not be used.
    #[error("bad sync message for space {space}: {reason}")]
    BadSync {
        /// The space.
        space: String,
        /// Why.
        reason: String,
    },
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this message to the peer.
    Send(Wire),
    /// Keep these credentials of a space (they passed verification).
    Store {
        /// The space.
        space: PublicKey,
        /// The credentials.
        credentials: Vec<Credential>,
    },
    /// The peer's device was verified for a space, with this role.
    Verified {
        /// The space.
        space: PublicKey,
        /// The member identity the peer's device acts for.
        member: PublicKey,
        /// Its role.
        role: Role,
    },
    /// The peer could not prove membership of a space: it gets nothing about it.
    Denied {
        /// The space.
        space: PublicKey,
        /// Why, for the log.
        reason: String,
    },
    /// An update from the peer was refused (it is a reader), and not applied.
    Refused {
        /// The space.
        space: PublicKey,
    },
}

enum Phase {
    /// We hold it; the peer has not said it does.
    Ours,
    /// Both hold it; we sent our proof and wait for theirs.
    Proved,
    /// The peer's device is a member with this role.
    Verified(Role),
    /// The peer failed to prove membership.
    Denied,
}

struct Entry {
    space: Space,
    members: SpaceState,
    phase: Phase,
}

/// One connection's replication state.
pub struct Session {
    local_device: PublicKey,
    peer_device: PublicKey,
    /// Identifies this connection as the source of the updates it applies.
    source: u64,
    spaces: HashMap<DiscoveryKey, Entry>,
}

impl Session {
    /// A session with `peer_device` (from the authenticated connection) over `spaces` (each
    /// with its membership state from HALO). `source` tags the updates this session applies.
    pub fn new(local_device: PublicKey, peer_device: PublicKey, source: u64, spaces: Vec<(Space, SpaceState)>) -> Self {
        let spaces = spaces
            .into_iter()
            .map(|(space, members)| (discovery_key(&space.id()), Entry { space, members, phase: Phase::Ours }))
            .collect();
        Self { local_device, peer_device, source, spaces }
    }

    /// The first message: the discovery keys of our spaces.
    pub fn start(&mut self) -> Vec<Action> {
        let mut dks: Vec<DiscoveryKey> = self.spaces.keys().copied().collect();
        dks.sort_unstable();
        vec![Action::Send(Wire::Have(dks))]
    }

    /// Whether we may send updates of this space (we are not a reader there).
    fn we_write(&self, e: &Entry) -> bool {
        e.members.member_of_device(&self.local_device).is_some_and(|(_, r)| r != Role::Reader)
    }

    /// Handles a message from the peer.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<Vec<Action>, ProtoError> {
        match Wire::decode(bytes)? {
            Wire::Have(dks) => Ok(self.on_have(&dks)),
            Wire::Prove { dk, credentials } => Ok(self.on_prove(dk, credentials)),
            Wire::Sync { dk, message } => self.on_sync(dk, &message),
        }
    }

    fn on_have(&mut self, dks: &[DiscoveryKey]) -> Vec<Action> {
        let mut out = Vec::new();
        for dk in dks {
            let Some(e) = self.spaces.get_mut(dk) else { continue };
            if matches!(e.phase, Phase::Ours) {
                e.phase = Phase::Proved;
                let credentials = e.members.credentials().iter().map(Credential::encode).collect();
                out.push(Action::Send(Wire::Prove { dk: *dk, credentials }));
            }
        }
        out
    }

    fn on_prove(&mut self, dk: DiscoveryKey, encoded: Vec<Vec<u8>>) -> Vec<Action> {
        let peer = self.peer_device;
        let Some(e) = self.spaces.get_mut(&dk) else { return Vec::new() };
        if !matches!(e.phase, Phase::Proved) {
            return Vec::new();
        }
        let space = e.space.id();
        // Check against a copy: nothing the peer sent counts until its device is verified.
        let mut trial = e.members.clone();
        let mut taken = Vec::new();
        for bytes in &encoded {
            if let Ok(c) = Credential::decode(bytes)
                && trial.apply(c.clone()).is_ok()
            {
                taken.push(c);
            }
        }
        match trial.member_of_device(&peer) {
            Some((member, role)) => {
                e.members = trial;
                e.phase = Phase::Verified(role);
                let sv =
                    e.space.state_vector().ok().and_then(|sv| StateVector::decode_v1(&sv).ok()).unwrap_or_default();
                vec![
                    Action::Store { space, credentials: taken },
                    Action::Verified { space, member, role },
                    Action::Send(Wire::Sync { dk, message: SyncMessage::SyncStep1(sv).encode_v1() }),
                ]
            }
            None => {
                e.phase = Phase::Denied;
                vec![Action::Denied { space, reason: format!("device {peer} is not a member") }]
            }
        }
    }

    fn on_sync(&mut self, dk: DiscoveryKey, message: &[u8]) -> Result<Vec<Action>, ProtoError> {
        let Some(e) = self.spaces.get(&dk) else { return Ok(Vec::new()) };
        let Phase::Verified(peer_role) = e.phase else { return Ok(Vec::new()) };
        let space = e.space.id();
        let bad = |reason: String| ProtoError::BadSync { space: space.to_string(), reason };
        let msg = SyncMessage::decode_v1(message).map_err(|e| bad(e.to_string()))?;
        match msg {
            SyncMessage::SyncStep1(sv) => {
                if !self.we_write(e) {
                    return Ok(Vec::new()); // a reader sends no updates
                }
                let diff = e.space.diff(&sv.encode_v1()).map_err(|e| bad(e.to_string()))?;
                Ok(vec![Action::Send(Wire::Sync { dk, message: SyncMessage::SyncStep2(diff).encode_v1() })])
            }
            SyncMessage::SyncStep2(update) | SyncMessage::Update(update) => {
                if peer_role == Role::Reader {
                    return Ok(vec![Action::Refused { space }]);
                }
                match e.space.apply_update(&update, self.source) {
                    Ok(()) => Ok(Vec::new()),
                    Err(EchoError::MalformedUpdate(reason)) => Err(bad(reason)),
                    Err(other) => Err(bad(other.to_string())),
                }
            }
        }
    }

    /// A local update of a space (from the space's update stream): forwarded to the peer if it
    /// is verified and we may write. `source` is where the update came from (`None`: made
    /// here), so an update is not echoed back to the peer it came from.
    pub fn local_update(&self, space: &PublicKey, update: &[u8], source: Option<u64>) -> Vec<Action> {
        if source == Some(self.source) {
            return Vec::new();
        }
        let dk = discovery_key(space);
        match self.spaces.get(&dk) {
            Some(e) if matches!(e.phase, Phase::Verified(_)) && self.we_write(e) => {
                vec![Action::Send(Wire::Sync { dk, message: SyncMessage::Update(update.to_vec()).encode_v1() })]
            }
            _ => Vec::new(),
        }
    }
}
