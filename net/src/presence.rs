//! Presence (`/dxos/presence/1`): who is here, what each person is looking at, and where their
//! cursor is, shared live between the devices of a space's members and never stored.
//!
//! Each device sends, for every space it shares with a connected peer, a small state signed
//! with its device key: the space, its identity, the object it views and its cursor and
//! selection as opaque positions (Yjs relative positions for text). It sends at once when its
//! state changes and again every [`HEARTBEAT`]; a peer's state expires [`PRESENCE_TTL`] after
//! the last one arrived. States go only to peers whose replication session proved them members
//! of that space (so a stranger learns nothing), and are taken only from such a peer for its
//! own device, with a valid signature and a sequence number above the last one. Streams are
//! length-framed with a small bound; a peer sending faster than [`MAX_RATE`] states a second
//! has the excess dropped. Its own protocol, so older peers never see these messages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dxos_halo::{KeyPair, PeerIdExt, PublicKey};
use futures_util::{SinkExt, StreamExt};
use libp2p::{PeerId, StreamProtocol};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};
use tokio_util::bytes::Bytes;
use tokio_util::compat::FuturesAsyncReadCompatExt;

use crate::replicate::framing;

/// The presence protocol.
pub const PRESENCE_PROTOCOL: StreamProtocol = StreamProtocol::new("/dxos/presence/1");
/// How often a device repeats its state.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a state counts after it arrived.
pub const PRESENCE_TTL: Duration = Duration::from_secs(5);
/// Most states taken from one stream per second (more are dropped).
pub const MAX_RATE: u32 = 60;
/// Changes sent closer together than this are sent as one (the latest state).
const COALESCE: Duration = Duration::from_millis(15);
/// Largest presence message.
pub const MAX_PRESENCE_MESSAGE: usize = 2048;
/// Longest object id and position carried.
const MAX_FIELD: usize = 256;
/// The signature domain.
const DOMAIN: &[u8] = b"dxos/presence/1";

/// What this device says about itself in one space.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalPresence {
    /// The object it views, if any.
    pub object: Option<String>,
    /// Where the selection starts (an opaque position in that object; a Yjs relative position
    /// for text).
    pub anchor: Option<Vec<u8>>,
    /// Where the cursor is (the selection's moving end).
    pub head: Option<Vec<u8>>,
}

/// A peer's presence in a space, as last heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPresence {
    /// The space.
    pub space: PublicKey,
    /// The device that sent it.
    pub device: PublicKey,
    /// The member identity it acts for.
    pub identity: PublicKey,
    /// What it said.
    pub state: LocalPresence,
    /// How long ago it arrived.
    pub age: Duration,
}

/// The signed part of a message.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    space: [u8; 32],
    device: [u8; 32],
    identity: [u8; 32],
    seq: u64,
    here: LocalPresence,
}

/// A message: the state's bytes and the device's signature over them.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Signed {
    state: Vec<u8>,
    signature: Vec<u8>,
}

/// Why a message was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// It does not decode.
    #[error("malformed presence message")]
    Malformed,
    /// Its signature does not verify, or it names another device than the sender.
    #[error("presence message not signed by the sending device")]
    NotSigned,
    /// The sender is not a member of that space (as its session proved), or not that identity.
    #[error("presence for a space the peer is not a member of")]
    NotMember,
    /// A state older than one already taken.
    #[error("stale presence message")]
    Stale,
}

/// Signs `here` for `space` as `device` acting for `identity`.
fn seal(device: &KeyPair, identity: PublicKey, space: PublicKey, seq: u64, here: &LocalPresence) -> Option<Vec<u8>> {
    let state = State {
        space: *space.as_bytes(),
        device: *device.public().as_bytes(),
        identity: *identity.as_bytes(),
        seq,
        here: here.clone(),
    };
    let state = postcard::to_allocvec(&state).ok()?;
    let signature = device.sign(DOMAIN, &state).to_vec();
    postcard::to_allocvec(&Signed { state, signature }).ok()
}

/// Opens a message from `sender` (checked: decodes, signed by the sender's own device key,
/// fields within bounds).
fn open(sender: &PublicKey, bytes: &[u8]) -> Result<State, Refused> {
    let signed: Signed = postcard::from_bytes(bytes).map_err(|_| Refused::Malformed)?;
    let signature: [u8; 64] = signed.signature.as_slice().try_into().map_err(|_| Refused::Malformed)?;
    let state: State = postcard::from_bytes(&signed.state).map_err(|_| Refused::Malformed)?;
    if state.device != *sender.as_bytes() || !sender.verify(DOMAIN, &signed.state, &signature) {
        return Err(Refused::NotSigned);
    }
    let h = &state.here;
    let too_long = h.object.as_ref().is_some_and(|o| o.len() > MAX_FIELD)
        || h.anchor.as_ref().is_some_and(|a| a.len() > MAX_FIELD)
        || h.head.as_ref().is_some_and(|a| a.len() > MAX_FIELD);
    if too_long {
        return Err(Refused::Malformed);
    }
    Ok(state)
}

/// Who may talk presence in which space: (space, device) -> member, from verified sessions.
type Members = HashMap<(PublicKey, PublicKey), PublicKey>;

struct Heard {
    identity: PublicKey,
    seq: u64,
    here: LocalPresence,
    at: Instant,
}

#[derive(Default)]
struct Inner {
    /// What this device says, per space.
    local: HashMap<PublicKey, LocalPresence>,
    /// What peers said, per (space, device).
    heard: HashMap<(PublicKey, PublicKey), Heard>,
    /// Who may talk presence, from the node's verified sessions (refreshed each heartbeat).
    members: Members,
    /// Called when a peer's state arrives or expires.
    waker: Option<Arc<dyn Fn() + Send + Sync>>,
    /// The next sequence number (starts at the clock, so a restart keeps numbers growing).
    seq: u64,
}

/// The shared presence state of a node: what this device says and what it heard.
#[derive(Default)]
pub struct Hub {
    inner: Mutex<Inner>,
    changed: Notify,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    /// Says what this device is doing in `space` (`None`: nothing; it stops being sent).
    pub fn set(&self, space: PublicKey, here: Option<LocalPresence>) {
        let changed = {
            let mut inner = lock(&self.inner);
            match here {
                Some(h) => inner.local.insert(space, h.clone()).as_ref() != Some(&h),
                None => inner.local.remove(&space).is_some(),
            }
        };
        if changed {
            self.changed.notify_one();
        }
    }

    /// Calls `waker` (from the node's thread) whenever a peer's presence arrives or expires.
    pub fn on_change(&self, waker: Arc<dyn Fn() + Send + Sync>) {
        lock(&self.inner).waker = Some(waker);
    }

    /// The peers present in `space` now (each device once), oldest identity first.
    pub fn peers(&self, space: &PublicKey) -> Vec<PeerPresence> {
        let inner = lock(&self.inner);
        let now = Instant::now();
        let mut out: Vec<PeerPresence> = inner
            .heard
            .iter()
            .filter(|((s, _), h)| s == space && now.duration_since(h.at) < PRESENCE_TTL)
            .map(|((s, d), h)| PeerPresence {
                space: *s,
                device: *d,
                identity: h.identity,
                state: h.here.clone(),
                age: now.duration_since(h.at),
            })
            .collect();
        out.sort_by_key(|p| (p.identity, p.device));
        out
    }

    /// Takes a message from `peer`; says why not when it is refused.
    fn take(&self, peer: &PublicKey, bytes: &[u8]) -> Result<(), Refused> {
        let state = open(peer, bytes)?;
        let key = |b: &[u8; 32]| PublicKey::from_bytes(b).map_err(|_| Refused::Malformed);
        let (space, device, identity) = (key(&state.space)?, key(&state.device)?, key(&state.identity)?);
        let waker = {
            let mut inner = lock(&self.inner);
            if inner.members.get(&(space, device)) != Some(&identity) {
                return Err(Refused::NotMember);
            }
            if let Some(h) = inner.heard.get(&(space, device))
                && h.seq >= state.seq
            {
                return Err(Refused::Stale);
            }
            inner
                .heard
                .insert((space, device), Heard { identity, seq: state.seq, here: state.here, at: Instant::now() });
            inner.waker.clone()
        };
        if let Some(w) = waker {
            w();
        }
        Ok(())
    }

    /// Replaces who may talk presence; forgets what expired or what non-members said.
    fn set_members(&self, members: Members) {
        let waker = {
            let mut inner = lock(&self.inner);
            let now = Instant::now();
            let before = inner.heard.len();
            inner.heard.retain(|k, h| now.duration_since(h.at) < PRESENCE_TTL && members.get(k) == Some(&h.identity));
            inner.members = members;
            (inner.heard.len() != before).then(|| inner.waker.clone()).flatten()
        };
        if let Some(w) = waker {
            w();
        }
    }

    /// The messages to send now: for each connected member device, its spaces' states.
    fn outgoing(&self, device: &KeyPair, identity: PublicKey) -> HashMap<PublicKey, Vec<Vec<u8>>> {
        let mut inner = lock(&self.inner);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut out: HashMap<PublicKey, Vec<Vec<u8>>> = HashMap::new();
        let pairs: Vec<(PublicKey, PublicKey)> = inner.members.keys().copied().collect();
        for (space, peer) in pairs {
            let Some(here) = inner.local.get(&space).cloned() else { continue };
            inner.seq = inner.seq.saturating_add(1).max(now_ms.saturating_mul(1000));
            if let Some(m) = seal(device, identity, space, inner.seq, &here) {
                out.entry(peer).or_default().push(m);
            }
        }
        out
    }
}

/// Runs presence for `node`: answers peers' streams and sends this device's states, until the
/// node stops.
pub(crate) async fn run(node: crate::Node, hub: Arc<Hub>) {
    let mut control = node.control();
    let Ok(mut incoming) = control.accept(PRESENCE_PROTOCOL) else {
        tracing::warn!("presence: cannot take {PRESENCE_PROTOCOL} streams");
        return;
    };
    let readers: Arc<Mutex<HashMap<PeerId, usize>>> = Arc::default();
    let (h, r) = (hub.clone(), readers.clone());
    let answering = tokio::spawn(async move {
        while let Some((peer, stream)) = incoming.next().await {
            // One reader per peer (a second stream replaces nothing: it is dropped).
            {
                let mut r = r.lock().unwrap_or_else(|e| e.into_inner());
                let n = r.entry(peer).or_insert(0);
                if *n >= 1 {
                    continue;
                }
                *n += 1;
            }
            let (h, r) = (h.clone(), r.clone());
            tokio::spawn(async move {
                read(peer, stream, &h).await;
                let mut r = r.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(n) = r.get_mut(&peer) {
                    *n = n.saturating_sub(1);
                }
            });
        }
    });
    let mut senders: HashMap<PublicKey, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sent = Instant::now() - COALESCE;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = hub.changed.notified() => {
                // A change goes out at once; a burst (typing) at most once per COALESCE.
                let since = last_sent.elapsed();
                if since < COALESCE {
                    tokio::time::sleep(COALESCE - since).await;
                }
            }
        }
        last_sent = Instant::now();
        let Ok(verified) = node.presence().await else { break };
        let members: Members = verified.iter().map(|p| ((p.space, p.device), p.member)).collect();
        hub.set_members(members);
        let (Some(device), Some(identity)) = (node.halo().device_key(), node.halo().identity()) else { continue };
        let out = hub.outgoing(&device, identity.identity_key);
        senders.retain(|peer, tx| out.contains_key(peer) && !tx.is_closed());
        for (peer, messages) in out {
            let tx = senders.entry(peer).or_insert_with(|| spawn_sender(&node, peer));
            for m in messages {
                // A slow peer misses states rather than holding everyone up.
                let _ = tx.try_send(m);
            }
        }
    }
    answering.abort();
}

/// A task that opens a stream to `peer` and writes what it is given.
fn spawn_sender(node: &crate::Node, peer: PublicKey) -> mpsc::Sender<Vec<u8>> {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(32);
    let mut control = node.control();
    tokio::spawn(async move {
        let Ok(peer_id) = peer.to_peer_id() else { return };
        let opened =
            tokio::time::timeout(Duration::from_secs(5), control.open_stream(peer_id, PRESENCE_PROTOCOL)).await;
        let Ok(Ok(stream)) = opened else {
            tracing::debug!("presence: no stream to {peer_id}");
            return;
        };
        let mut framed = framing::framed(stream.compat(), MAX_PRESENCE_MESSAGE);
        while let Some(m) = rx.recv().await {
            if framed.send(Bytes::from(m)).await.is_err() {
                break;
            }
        }
    });
    tx
}

/// Reads `peer`'s states from `stream` into `hub`, at most [`MAX_RATE`] a second.
async fn read(peer: PeerId, stream: libp2p::Stream, hub: &Hub) {
    let Ok(sender) = PublicKey::from_peer_id(&peer) else { return };
    let mut framed = framing::framed(stream.compat(), MAX_PRESENCE_MESSAGE);
    let mut window = Instant::now();
    let mut taken = 0u32;
    while let Some(frame) = framed.next().await {
        let Ok(bytes) = frame else {
            tracing::debug!("presence: {peer} sent a message over the bound; stream closed");
            return;
        };
        if window.elapsed() >= Duration::from_secs(1) {
            window = Instant::now();
            taken = 0;
        }
        taken += 1;
        if taken > MAX_RATE {
            continue;
        }
        if let Err(e) = hub.take(&sender, &bytes) {
            tracing::debug!("presence: from {peer}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(space: PublicKey, device: PublicKey, identity: PublicKey) -> Members {
        HashMap::from([((space, device), identity)])
    }

    #[test]
    fn a_members_signed_state_is_taken_and_expires_on_its_own() {
        let (space, dev, id) = (KeyPair::generate().public(), KeyPair::generate(), KeyPair::generate().public());
        let hub = Hub::default();
        hub.set_members(members(space, dev.public(), id));
        let here = LocalPresence { object: Some("doc".into()), anchor: Some(vec![1, 2]), head: Some(vec![3]) };
        let m = seal(&dev, id, space, 1, &here).unwrap_or_default();
        assert_eq!(hub.take(&dev.public(), &m), Ok(()));
        let peers = hub.peers(&space);
        assert_eq!(peers.len(), 1);
        assert_eq!(peers[0].state, here);
        assert_eq!(peers[0].identity, id);
        // The same message again is stale; a newer one is taken.
        assert_eq!(hub.take(&dev.public(), &m), Err(Refused::Stale));
        let m2 = seal(&dev, id, space, 2, &LocalPresence::default()).unwrap_or_default();
        assert_eq!(hub.take(&dev.public(), &m2), Ok(()));
        // Expired states are not shown.
        if let Some(h) = lock(&hub.inner).heard.values_mut().next() {
            h.at = Instant::now() - PRESENCE_TTL;
        }
        assert!(hub.peers(&space).is_empty());
    }

    #[test]
    fn strangers_forgers_and_garbage_are_refused() {
        let (space, dev, id) = (KeyPair::generate().public(), KeyPair::generate(), KeyPair::generate().public());
        let hub = Hub::default();
        hub.set_members(members(space, dev.public(), id));
        let here = LocalPresence::default();
        // A device that is not a verified member of the space.
        let stranger = KeyPair::generate();
        let m = seal(&stranger, id, space, 1, &here).unwrap_or_default();
        assert_eq!(hub.take(&stranger.public(), &m), Err(Refused::NotMember));
        // A member's device claiming another identity.
        let m = seal(&dev, stranger.public(), space, 1, &here).unwrap_or_default();
        assert_eq!(hub.take(&dev.public(), &m), Err(Refused::NotMember));
        // Another space.
        let m = seal(&dev, id, KeyPair::generate().public(), 1, &here).unwrap_or_default();
        assert_eq!(hub.take(&dev.public(), &m), Err(Refused::NotMember));
        // A message relayed by someone else (signed by the member, sent by the stranger).
        let m = seal(&dev, id, space, 1, &here).unwrap_or_default();
        assert_eq!(hub.take(&stranger.public(), &m), Err(Refused::NotSigned));
        // A tampered message.
        let mut t = m.clone();
        if let Some(b) = t.get_mut(10) {
            *b ^= 1;
        }
        assert!(hub.take(&dev.public(), &t).is_err());
        // Garbage and oversized fields.
        assert_eq!(hub.take(&dev.public(), &[0xff; 40]), Err(Refused::Malformed));
        assert_eq!(hub.take(&dev.public(), &[]), Err(Refused::Malformed));
        let big = LocalPresence { object: Some("x".repeat(MAX_FIELD + 1)), ..LocalPresence::default() };
        let m = seal(&dev, id, space, 1, &big).unwrap_or_default();
        assert_eq!(hub.take(&dev.public(), &m), Err(Refused::Malformed));
        assert!(hub.peers(&space).is_empty());
    }

    #[test]
    fn states_go_only_to_members_of_the_space() {
        let (a, b) = (KeyPair::generate().public(), KeyPair::generate().public());
        let (peer, other, me) = (KeyPair::generate().public(), KeyPair::generate().public(), KeyPair::generate());
        let hub = Hub::default();
        hub.set_members(HashMap::from([((a, peer), KeyPair::generate().public()), ((b, other), peer)]));
        hub.set(a, Some(LocalPresence { object: Some("doc".into()), ..LocalPresence::default() }));
        let out = hub.outgoing(&me, KeyPair::generate().public());
        assert_eq!(out.len(), 1, "only the peer in space a hears about space a");
        let sent = out.get(&peer).cloned().unwrap_or_default();
        assert_eq!(sent.len(), 1);
        let state = open(&me.public(), &sent[0]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(state.space, *a.as_bytes());
        // Nothing is sent once the state is cleared.
        hub.set(a, None);
        assert!(hub.outgoing(&me, KeyPair::generate().public()).is_empty());
    }
}
