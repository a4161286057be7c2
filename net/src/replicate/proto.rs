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
//! here touches a socket or ECHO: the driver feeds received messages and local updates in,
//! sends what the actions say, and does the work on a space's replica that
//! [`Action::Echo`] asks for (read its state vector, make a diff, apply an update).

use std::collections::HashMap;

use dxos_halo::{Credential, IdentityState, PublicKey, Role, SpaceState};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use yrs::sync::protocol::SyncMessage;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;

/// Largest protocol message accepted (a whole space's first sync is one message).
pub const MAX_MESSAGE: usize = 256 << 20;
/// Most discovery keys or credentials one message may carry.
const MAX_ITEMS: usize = 100_000;

/// A space's discovery key: what peers exchange instead of the space id.
pub type DiscoveryKey = [u8; 32];

/// The discovery key of a space (or identity) on the connection between devices `a` and
/// `b`: salted with both device keys, so it means nothing on any other connection and a
/// peer that lacks the key cannot even match it with what it sees elsewhere.
pub fn discovery_key(space: &PublicKey, a: &PublicKey, b: &PublicKey) -> DiscoveryKey {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut h = Sha256::new();
    h.update(b"dxos/discovery/v2");
    h.update(space.as_bytes());
    h.update(lo.as_bytes());
    h.update(hi.as_bytes());
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
    /// The sender's identity chain (the identity's credentials), when both devices hold the
    /// identity named by `dk`: two devices of one identity.
    ProveIdentity {
        /// The identity's discovery key.
        dk: DiscoveryKey,
        /// Encoded credentials.
        credentials: Vec<Vec<u8>>,
    },
    /// To another device of the same identity: the credentials of the identity's spaces, so
    /// it takes them up (a device that joins an identity gets every space of it).
    Spaces {
        /// Encoded credentials.
        credentials: Vec<Vec<u8>>,
    },
    /// Credentials of a verified space the peer may lack (sent when ours change: a new
    /// member, a revocation).
    Credentials {
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
            Wire::Prove { credentials, .. }
            | Wire::Credentials { credentials, .. }
            | Wire::ProveIdentity { credentials, .. }
            | Wire::Spaces { credentials } => credentials.len(),
            Wire::Sync { .. } => 0,
        };
        if items > MAX_ITEMS {
            return Err(ProtoError::Malformed(format!("{items} items in one message")));
        }
        Ok(wire)
    }
}

/// Reads the Yjs sync message a [`Wire::Sync`] carries, as a session does; a message yrs
/// cannot read (or panics on) is an error, never a crash. A state vector (sync step 1) may not
/// declare more entries than its bytes could hold: yrs reserves room for the declared count
/// before reading any, so a few bytes could ask for gigabytes (found by fuzzing).
pub fn decode_sync(message: &[u8]) -> Result<SyncMessage, String> {
    use yrs::encoding::read::{Cursor, Read};
    let mut c = Cursor::new(message);
    if c.read_var::<u8>().is_ok_and(|tag| tag == yrs::sync::protocol::MSG_SYNC_STEP_1)
        && let Ok(sv) = c.read_buf()
        && let Ok(entries) = Cursor::new(sv).read_var::<u32>()
        && entries as usize > sv.len() / 2
    {
        return Err(format!("a state vector declaring {entries} entries in {} bytes", sv.len()));
    }
    match std::panic::catch_unwind(|| SyncMessage::decode_v1(message)) {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("a sync message yrs cannot read".into()),
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

/// Work on a space's ECHO replica that the driver does for the session, which holds no
/// replica itself. Each ends in messages to send or in [`Action::Synced`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EchoAction {
    /// Send the peer our state vector of `space` (y-sync step 1: "send me what I lack").
    SendStateVector {
        /// The space.
        space: PublicKey,
        /// Its discovery key on this connection.
        dk: DiscoveryKey,
    },
    /// Send the peer what it lacks of `space`, given its state vector (y-sync step 2). A
    /// state vector the replica cannot read is the peer's fault: the session ends.
    SendDiff {
        /// The space.
        space: PublicKey,
        /// Its discovery key on this connection.
        dk: DiscoveryKey,
        /// The peer's state vector (yrs v1 encoding), as received.
        state_vector: Vec<u8>,
    },
    /// Apply the peer's update of `space` (it is a verified member that may write). A
    /// malformed update changes nothing and ends the session.
    Apply {
        /// The space.
        space: PublicKey,
        /// The update (yrs v1 encoding), as received.
        update: Vec<u8>,
        /// True for the peer's answer to our step 1: its first sync, reported once applied.
        first: bool,
    },
}

impl EchoAction {
    /// The space it works on.
    pub fn space(&self) -> PublicKey {
        match self {
            EchoAction::SendStateVector { space, .. }
            | EchoAction::SendDiff { space, .. }
            | EchoAction::Apply { space, .. } => *space,
        }
    }
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this message to the peer.
    Send(Wire),
    /// Work on the space's replica, then act on what it yields.
    Echo(EchoAction),
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
    /// The peer's first sync of a space (its missing updates) was applied.
    Synced {
        /// The space.
        space: PublicKey,
    },
    /// Keep these credentials from another device of this identity (they are checked as
    /// HALO files them).
    StoreAll(Vec<Credential>),
    /// The peer is another device of this identity (`true`), or no longer is (`false`).
    SameIdentity(bool),
    /// An update from the peer was refused (it is a reader), and not applied.
    Refused {
        /// The space.
        space: PublicKey,
    },
}

enum Kind {
    Step2,
    Other,
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
    space: PublicKey,
    members: SpaceState,
    phase: Phase,
    /// How many credentials the peer has been sent (they only grow).
    sent: usize,
}

/// One connection's replication state.
pub struct Session {
    local_device: PublicKey,
    peer_device: PublicKey,
    /// Identifies this connection as the source of the updates it applies.
    source: u64,
    spaces: HashMap<DiscoveryKey, Entry>,
    /// This device's identity, and where the peer stands with it.
    identity: Option<(IdentityState, Phase)>,
    /// Discovery keys the peer said it holds (also those we lack, for spaces we join later).
    peer_has: std::collections::HashSet<DiscoveryKey>,
}

impl Session {
    /// A session with `peer_device` (from the authenticated connection) over the spaces whose
    /// membership states (from HALO) are `spaces`. `source` tags the updates this session
    /// applies, so they are not echoed back to the peer.
    pub fn new(local_device: PublicKey, peer_device: PublicKey, source: u64, spaces: Vec<SpaceState>) -> Self {
        let spaces = spaces
            .into_iter()
            .map(|members| {
                let space = members.space();
                let dk = discovery_key(&space, &local_device, &peer_device);
                (dk, Entry { space, members, phase: Phase::Ours, sent: 0 })
            })
            .collect();
        Self { local_device, peer_device, source, spaces, identity: None, peer_has: Default::default() }
    }

    /// Also recognise the peer as another device of this identity (whose state this is):
    /// such devices swap the identity's credentials and the credentials of its spaces.
    pub fn with_identity(mut self, identity: IdentityState) -> Self {
        self.identity = Some((identity, Phase::Ours));
        self
    }

    fn dk(&self, key: &PublicKey) -> DiscoveryKey {
        discovery_key(key, &self.local_device, &self.peer_device)
    }

    fn identity_dk(&self) -> Option<DiscoveryKey> {
        self.identity.as_ref().map(|(i, _)| self.dk(&i.identity()))
    }

    /// Whether the peer is a verified device of this identity.
    pub fn same_identity(&self) -> bool {
        matches!(self.identity, Some((_, Phase::Verified(_))))
    }

    /// The credentials of every space this device holds (for another device of its identity).
    fn all_space_credentials(&self) -> Vec<Vec<u8>> {
        self.spaces.values().flat_map(|e| e.members.credentials()).map(|c| c.encode()).collect()
    }

    /// This identity's state changed (a device added or revoked): the peer, if another device
    /// of it, gets the new credentials, or nothing more once revoked.
    pub fn update_identity(&mut self, state: IdentityState) -> Vec<Action> {
        let peer = self.peer_device;
        let Some(dk) = self.identity_dk() else { return Vec::new() };
        let Some((id, phase)) = self.identity.as_mut() else { return Vec::new() };
        let before = id.credentials().count();
        *id = state;
        if !matches!(phase, Phase::Verified(_)) {
            return Vec::new();
        }
        if !id.is_active_device(&peer) {
            *phase = Phase::Denied;
            return vec![Action::SameIdentity(false)];
        }
        if id.credentials().count() > before {
            let credentials = id.credentials().map(Credential::encode).collect();
            return vec![Action::Send(Wire::Credentials { dk, credentials })];
        }
        Vec::new()
    }

    /// The peer's device key.
    pub fn peer_device(&self) -> PublicKey {
        self.peer_device
    }

    /// Whether the session replicates this space.
    pub fn has_space(&self, space: &PublicKey) -> bool {
        self.spaces.contains_key(&self.dk(space))
    }

    /// A space this device took up after the session started (created or joined): announced
    /// to the peer, and proved at once if the peer already said it holds it.
    pub fn add_space(&mut self, members: SpaceState) -> Vec<Action> {
        let space = members.space();
        let dk = self.dk(&space);
        if self.spaces.contains_key(&dk) {
            return self.update_members(members);
        }
        let mut entry = Entry { space, members, phase: Phase::Ours, sent: 0 };
        let mut out = vec![Action::Send(Wire::Have(vec![dk]))];
        if self.same_identity() {
            let credentials = entry.members.credentials().iter().map(Credential::encode).collect();
            out.push(Action::Send(Wire::Spaces { credentials }));
        }
        if self.peer_has.contains(&dk) {
            entry.phase = Phase::Proved;
            out.push(Action::Send(Self::prove(dk, &mut entry)));
        }
        self.spaces.insert(dk, entry);
        out
    }

    fn prove(dk: DiscoveryKey, e: &mut Entry) -> Wire {
        let credentials: Vec<Vec<u8>> = e.members.credentials().iter().map(Credential::encode).collect();
        e.sent = credentials.len();
        Wire::Prove { dk, credentials }
    }

    /// The space's membership changed locally (HALO took new credentials): the peer is sent
    /// what it lacks, and checked again. A revoked device or removed member gets nothing more.
    pub fn update_members(&mut self, members: SpaceState) -> Vec<Action> {
        let dk = self.dk(&members.space());
        let peer = self.peer_device;
        let Some(e) = self.spaces.get_mut(&dk) else { return Vec::new() };
        e.members = members;
        let Phase::Verified(role) = e.phase else { return Vec::new() };
        let space = e.space;
        match e.members.member_of_device(&peer) {
            Some((member, new_role)) => {
                let mut out = Vec::new();
                if new_role != role {
                    e.phase = Phase::Verified(new_role);
                    out.push(Action::Verified { space, member, role: new_role });
                }
                let all = e.members.credentials();
                if all.len() > e.sent {
                    e.sent = all.len();
                    let credentials = all.iter().map(Credential::encode).collect();
                    out.push(Action::Send(Wire::Credentials { dk, credentials }));
                }
                out
            }
            None => {
                e.phase = Phase::Denied;
                vec![Action::Denied { space, reason: format!("device {peer} is no longer a member") }]
            }
        }
    }

    /// The first message: the discovery keys of our spaces.
    pub fn start(&mut self) -> Vec<Action> {
        let mut dks: Vec<DiscoveryKey> = self.spaces.keys().copied().chain(self.identity_dk()).collect();
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
            Wire::Credentials { dk, credentials } if Some(dk) == self.identity_dk() => {
                Ok(self.on_identity_credentials(credentials))
            }
            Wire::Credentials { dk, credentials } => Ok(self.on_credentials(dk, credentials)),
            Wire::ProveIdentity { dk, credentials } => Ok(self.on_prove_identity(dk, credentials)),
            Wire::Spaces { credentials } => Ok(self.on_spaces(credentials)),
            Wire::Sync { dk, message } => self.on_sync(dk, &message),
        }
    }

    /// The peer's identity chain: if it shows the peer's device is an active device of this
    /// identity, the two swap the credentials of their spaces.
    fn on_prove_identity(&mut self, dk: DiscoveryKey, encoded: Vec<Vec<u8>>) -> Vec<Action> {
        let peer = self.peer_device;
        if Some(dk) != self.identity_dk() {
            return Vec::new();
        }
        let Some((id, phase)) = self.identity.as_mut() else { return Vec::new() };
        if !matches!(phase, Phase::Proved) {
            return Vec::new();
        }
        let mut trial = id.clone();
        let mut taken = Vec::new();
        for bytes in &encoded {
            if let Ok(c) = Credential::decode(bytes)
                && matches!(trial.apply(c.clone()), Ok(dxos_halo::Applied::Accepted | dxos_halo::Applied::Pending))
            {
                taken.push(c);
            }
        }
        if !trial.is_active_device(&peer) {
            *phase = Phase::Denied;
            return Vec::new();
        }
        *id = trial;
        *phase = Phase::Verified(Role::Owner);
        let mut out = vec![Action::SameIdentity(true)];
        if !taken.is_empty() {
            out.push(Action::StoreAll(taken));
        }
        out.push(Action::Send(Wire::Spaces { credentials: self.all_space_credentials() }));
        out
    }

    /// Credentials of the identity's spaces, from another device of it.
    fn on_spaces(&mut self, encoded: Vec<Vec<u8>>) -> Vec<Action> {
        if !self.same_identity() {
            return Vec::new();
        }
        let creds: Vec<Credential> = encoded.iter().filter_map(|b| Credential::decode(b).ok()).collect();
        if creds.is_empty() { Vec::new() } else { vec![Action::StoreAll(creds)] }
    }

    /// New identity credentials from another device of it (a device added or revoked).
    fn on_identity_credentials(&mut self, encoded: Vec<Vec<u8>>) -> Vec<Action> {
        let peer = self.peer_device;
        let Some((id, phase @ Phase::Verified(_))) = self.identity.as_mut() else { return Vec::new() };
        let mut taken = Vec::new();
        for bytes in &encoded {
            if let Ok(c) = Credential::decode(bytes)
                && matches!(id.apply(c.clone()), Ok(dxos_halo::Applied::Accepted | dxos_halo::Applied::Pending))
            {
                taken.push(c);
            }
        }
        let mut out = Vec::new();
        if !taken.is_empty() {
            out.push(Action::StoreAll(taken));
        }
        if !id.is_active_device(&peer) {
            *phase = Phase::Denied;
            out.push(Action::SameIdentity(false));
        }
        out
    }

    /// Credentials a verified peer sent: the valid ones are kept, and the peer's device is
    /// checked again (they may revoke it).
    fn on_credentials(&mut self, dk: DiscoveryKey, encoded: Vec<Vec<u8>>) -> Vec<Action> {
        let peer = self.peer_device;
        let Some(e) = self.spaces.get_mut(&dk) else { return Vec::new() };
        let Phase::Verified(role) = e.phase else { return Vec::new() };
        let space = e.space;
        let before = e.members.credentials().len();
        let mut taken = Vec::new();
        for bytes in &encoded {
            if let Ok(c) = Credential::decode(bytes)
                && matches!(e.members.apply(c.clone()), Ok(dxos_halo::Applied::Accepted | dxos_halo::Applied::Pending))
            {
                taken.push(c);
            }
        }
        // What the peer sent, it holds: no need to send it back.
        e.sent = e.sent.max(before + taken.len());
        let mut out = Vec::new();
        if !taken.is_empty() {
            out.push(Action::Store { space, credentials: taken });
        }
        match e.members.member_of_device(&peer) {
            Some((member, new_role)) if new_role != role => {
                e.phase = Phase::Verified(new_role);
                out.push(Action::Verified { space, member, role: new_role });
            }
            Some(_) => {}
            None => {
                e.phase = Phase::Denied;
                out.push(Action::Denied { space, reason: format!("device {peer} is no longer a member") });
            }
        }
        out
    }

    fn on_have(&mut self, dks: &[DiscoveryKey]) -> Vec<Action> {
        let mut out = Vec::new();
        let identity_dk = self.identity_dk();
        for dk in dks {
            if Some(*dk) == identity_dk {
                if let Some((id, phase @ Phase::Ours)) = self.identity.as_mut() {
                    *phase = Phase::Proved;
                    let credentials = id.credentials().map(Credential::encode).collect();
                    out.push(Action::Send(Wire::ProveIdentity { dk: *dk, credentials }));
                }
                continue;
            }
            if self.peer_has.len() < MAX_ITEMS {
                self.peer_has.insert(*dk);
            }
            let Some(e) = self.spaces.get_mut(dk) else { continue };
            if matches!(e.phase, Phase::Ours) {
                e.phase = Phase::Proved;
                out.push(Action::Send(Self::prove(*dk, e)));
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
        let space = e.space;
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
                vec![
                    Action::Store { space, credentials: taken },
                    Action::Verified { space, member, role },
                    Action::Echo(EchoAction::SendStateVector { space, dk }),
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
        let space = e.space;
        let bad = |reason: String| ProtoError::BadSync { space: space.to_string(), reason };
        let msg = decode_sync(message).map_err(bad)?;
        let msg_kind = if matches!(msg, SyncMessage::SyncStep2(_)) { Kind::Step2 } else { Kind::Other };
        match msg {
            SyncMessage::SyncStep1(sv) => {
                if !self.we_write(e) {
                    return Ok(Vec::new()); // a reader sends no updates
                }
                Ok(vec![Action::Echo(EchoAction::SendDiff { space, dk, state_vector: sv.encode_v1() })])
            }
            SyncMessage::SyncStep2(update) | SyncMessage::Update(update) => {
                let first = matches!(msg_kind, Kind::Step2);
                if peer_role == Role::Reader {
                    let mut out = vec![Action::Refused { space }];
                    if first {
                        out.push(Action::Synced { space });
                    }
                    return Ok(out);
                }
                Ok(vec![Action::Echo(EchoAction::Apply { space, update, first })])
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
        let dk = self.dk(space);
        match self.spaces.get(&dk) {
            Some(e) if matches!(e.phase, Phase::Verified(_)) && self.we_write(e) => {
                vec![Action::Send(Wire::Sync { dk, message: SyncMessage::Update(update.to_vec()).encode_v1() })]
            }
            _ => Vec::new(),
        }
    }
}
