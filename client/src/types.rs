//! The client's data types: what its calls return and its streams carry. Plain data (serde),
//! the same in-process and over the owner's socket.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use dxos_halo::{PublicKey, Role};

/// This profile's identity, as [`Client::identity`](crate::Client::identity) returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The identity (root public key): who this person is on every device.
    pub identity_key: PublicKey,
    /// This device's key.
    pub device_key: PublicKey,
    /// This device's network id (libp2p PeerId, base58).
    pub peer_id: String,
    /// The identity's display name (empty until known, e.g. right after a recovery).
    pub display_name: String,
    /// The identity's devices that are not revoked.
    pub devices: Vec<Device>,
}

/// One device of the identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Its key.
    pub device_key: PublicKey,
    /// Its label (the host name it was paired from).
    pub name: String,
    /// Whether it is this device.
    pub this_device: bool,
    /// Whether it is connected now (always true for this device).
    pub online: bool,
}

/// A member of a space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member's identity.
    pub identity_key: PublicKey,
    /// Their name.
    pub display_name: String,
    /// Their role.
    pub role: Role,
    /// A device acting for them is connected now (always true for ourselves).
    pub online: bool,
}

/// A space's id and name (what creating or renaming one returns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceRef {
    /// Its id (public key).
    pub id: PublicKey,
    /// Its name.
    pub name: String,
}

/// A space in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceSummary {
    /// Its id.
    pub id: PublicKey,
    /// Its name.
    pub name: String,
    /// How many members it has.
    pub members: usize,
    /// How many objects (not deleted).
    pub objects: usize,
    /// Deleted here (restorable); lists include these only when asked.
    pub deleted: bool,
    /// This identity's role (`None`: not a member any more).
    pub role: Option<Role>,
}

/// A task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskItem {
    /// Its object id.
    pub id: String,
    /// What is to be done.
    pub title: String,
    /// Whether it is done.
    pub completed: bool,
}

/// An object of any type: its id, typename and properties (JSON values; collaborative text
/// reads as a string).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectItem {
    /// Its id.
    pub id: String,
    /// Its typename, if it has one.
    pub typename: Option<String>,
    /// Its properties.
    pub data: Map<String, Value>,
}

/// A document (`dxos.org/type/Document`): its name and, where asked for, its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentItem {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its text (none in lists).
    pub text: Option<String>,
}

impl From<&dxos_echo::Object> for ObjectItem {
    fn from(o: &dxos_echo::Object) -> Self {
        ObjectItem { id: o.id.to_string(), typename: o.typename.clone(), data: o.data.clone() }
    }
}

/// Where the profile stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The identity, if it has one.
    pub identity: Option<PublicKey>,
    /// How many spaces (not deleted).
    pub spaces: usize,
    /// How many peers are connected.
    pub peers: usize,
    /// The node's listen addresses (none: no node runs).
    pub addrs: Vec<String>,
}

/// A connected peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// Its network id (base58).
    pub peer_id: String,
    /// Its device key, if it has one.
    pub device_key: Option<PublicKey>,
    /// The addresses of our connections to it, the one that carries the traffic first.
    pub addrs: Vec<String>,
    /// The transport that carries the traffic (`webrtc-direct`, `quic`, `tcp`, `webrtc`, or
    /// `relay` when it is reached only through a relay).
    pub transport: String,
    /// The round trip of the last ping on that connection, in microseconds (none before the
    /// first; pings go every second).
    #[serde(default)]
    pub rtt_micros: Option<u64>,
}

/// Someone online in a space: a connected device acting for a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The space.
    pub space: PublicKey,
    /// The connected device.
    pub device: PublicKey,
    /// The member it acts for.
    pub member: PublicKey,
}

/// A change of a watched query's result: the whole current result, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchUpdate {
    /// The ids of the objects in the result.
    pub ids: Vec<String>,
    /// The objects themselves, in the same order.
    pub objects: Vec<ObjectItem>,
}

/// What to invite and for how long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteOptions {
    /// A space (id or unique name) to share, or `None` to pair a new device of this identity.
    pub space: Option<String>,
    /// The guest's role in the space (editor by default; reader).
    pub role: Option<Role>,
    /// How long the invitation stays open, in seconds.
    pub timeout_secs: u64,
    /// Whether the guest must also type a 6-digit code.
    pub code: bool,
}

/// One step of an invitation, as [`Client::invite`](crate::Client::invite) streams them. A
/// failure ends the stream with an error instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InviteStep {
    /// The invitation is open: show `uri` (as a QR code) and `code`.
    Open {
        /// The invitation's id (to cancel it).
        id: String,
        /// Its `dxos:` text, the QR code's content.
        uri: String,
        /// When it expires (Unix seconds).
        expires_at: u64,
        /// The code the guest must type, if asked for.
        code: Option<String>,
    },
    /// Still open; `failures` guests gave a wrong secret or code so far (3 end it).
    Waiting {
        /// Failed attempts.
        failures: u32,
    },
    /// A guest proved the secret; both screens show these words.
    Authenticating {
        /// The pairing's words.
        fingerprint: String,
    },
    /// The guest is admitted (durably) and is receiving this device's data.
    Syncing {
        /// Its device key (pairing) or identity key (space).
        admitted: PublicKey,
    },
    /// Done: the guest has the data (`synced`), or did not confirm it (`note` says why).
    Admitted {
        /// Who was admitted.
        admitted: PublicKey,
        /// Whether it said it has the data.
        synced: bool,
        /// Why not, when not.
        note: Option<String>,
    },
}

/// One step of a join, as [`Client::join`](crate::Client::join) streams them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinStep {
    /// Reaching the inviter.
    Connecting,
    /// Proving the secret; both screens show these words.
    Authenticating {
        /// The pairing's words.
        fingerprint: String,
    },
    /// Admitted; receiving the first sync.
    Syncing,
    /// This device is now a device of `identity_key`.
    JoinedIdentity {
        /// The identity.
        identity_key: PublicKey,
    },
    /// This identity is now a member of `space` (`already`: it was before; nothing changed).
    JoinedSpace {
        /// The space.
        space: PublicKey,
        /// True if nothing had to change.
        already: bool,
    },
}

/// Something the network node saw, as [`Client::peer_events`](crate::Client::peer_events)
/// streams them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerEvent {
    /// Listening on a new address.
    Listening {
        /// The address.
        addr: String,
    },
    /// A first connection to a peer is up.
    Connected {
        /// The peer.
        peer_id: String,
        /// The connection's remote address.
        addr: String,
        /// Its transport.
        transport: String,
    },
    /// The last connection to a peer closed.
    Disconnected {
        /// The peer.
        peer_id: String,
    },
    /// A peer was found on the LAN.
    Discovered {
        /// The peer.
        peer_id: String,
        /// Where.
        addr: String,
    },
    /// A peer proved it acts for a member of a space.
    Verified {
        /// The peer.
        peer_id: String,
        /// The space.
        space: PublicKey,
        /// The member.
        member: PublicKey,
        /// The member's role.
        role: Role,
    },
    /// A peer gets nothing of a space.
    Denied {
        /// The peer.
        peer_id: String,
        /// The space.
        space: PublicKey,
        /// Why.
        reason: String,
    },
    /// The first sync of a space from a peer arrived.
    Synced {
        /// The peer.
        peer_id: String,
        /// The space.
        space: PublicKey,
    },
    /// A reader's update was refused.
    Refused {
        /// The peer.
        peer_id: String,
        /// The space.
        space: PublicKey,
    },
    /// Whether the peer is another device of this identity.
    SameIdentity {
        /// The peer.
        peer_id: String,
        /// True if it is.
        same: bool,
    },
    /// The replication session with a peer ended (with why, if it failed).
    SessionEnded {
        /// The peer.
        peer_id: String,
        /// Why it failed.
        error: Option<String>,
    },
    /// A relay refused this device (its identity is not allowed there, or it was revoked).
    RelayRefused {
        /// The relay's peer id.
        relay: String,
        /// Why.
        reason: String,
    },
    /// A `/webrtc` set-up with a peer ended: connected (`error` none) or failed, in `micros` from
    /// the signaling stream to the first data channel.
    WebRtc {
        /// The peer.
        peer_id: String,
        /// How long it took, in microseconds.
        micros: u64,
        /// Why it failed.
        error: Option<String>,
    },
}

/// First syncs in progress: spaces verified with a peer whose first sync has not arrived yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncProgress {
    /// (peer, space) pairs still waiting for their first sync.
    pub pending: usize,
    /// All (peer, space) pairs verified.
    pub verified: usize,
}

/// Who holds a profile open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerRole {
    /// The desktop app.
    App,
    /// `dxos serve`.
    Serve,
    /// A long command (`watch`, `invite`, `join`) that found no owner; it hands over on request.
    Temporary,
}

impl OwnerRole {
    /// Its name, as messages say it.
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerRole::App => "app",
            OwnerRole::Serve => "serve",
            OwnerRole::Temporary => "temporary",
        }
    }
}
