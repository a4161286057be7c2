//! Runs invitations over the node: the host answers guests on `/dxos/invite/1` streams; the
//! guest dials the inviter, proves, stores what admits it and waits for the first sync.
//! Every step has a timeout, and both sides publish where they stand on a watch channel (the
//! UI shows it; the CLI prints the end).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dxos_halo::{Halo, HaloError, Offer, OfferKind, PublicKey};
use futures_util::{SinkExt, StreamExt};
use libp2p::{PeerId, StreamProtocol};
use tokio::sync::watch;
use tokio_util::bytes::Bytes;
use tokio_util::compat::FuturesAsyncReadCompatExt;

use super::proto::{self, GuestJoin, HostOffer, HostState, JoinError, MAX_INVITE_MESSAGE, Refusal, Wire};
use crate::replicate::driver::SessionEvent;
use crate::replicate::framing;
use crate::{Node, NodeEvent};
use dxos_halo::PeerIdExt;

/// The invitation protocol's stream protocol name.
pub const INVITE_PROTOCOL: StreamProtocol = StreamProtocol::new("/dxos/invite/1");
/// How long the host waits for a guest's hello once its stream is open.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a guest tries to reach the inviter.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a guest waits for the host's answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a guest waits for the first sync of what it was admitted to.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the host waits, once it admitted a guest, for the guest to say it has the first
/// sync (the guest's own wait, and time to say so).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(SYNC_TIMEOUT.as_secs() + 10);

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Where an invitation stands, host side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteStatus {
    /// Open, waiting for a guest (with the failed attempts so far).
    Waiting {
        /// Failed attempts (wrong secret or code).
        failures: u32,
    },
    /// A guest proved the secret and is being admitted; both screens show `fingerprint`.
    Authenticating {
        /// The pairing's words.
        fingerprint: String,
    },
    /// The guest is in: `admitted` is its device key (pairing) or identity key (space).
    /// `delivery` says whether it has received this device's data yet.
    Admitted {
        /// Who was admitted.
        admitted: PublicKey,
        /// The pairing's words.
        fingerprint: String,
        /// Where the guest's first sync stands.
        delivery: Delivery,
    },
    /// Over without a guest: expired, cancelled, or too many failed attempts.
    Failed {
        /// Why, in plain words.
        reason: String,
        /// True when it expired.
        expired: bool,
    },
}

/// Where an admitted guest's first sync stands, host side. An inviter that runs only for the
/// invitation (`dxos invite` with no app or `serve`) waits for it before it stops, so the
/// guest is not left with nobody to sync from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The guest is receiving the first sync of what it was admitted to.
    Syncing,
    /// The guest said it has the first sync of everything it was admitted to.
    Done,
    /// The guest did not say so (it went away, or took longer than [`DELIVERY_TIMEOUT`]):
    /// it gets the data the next time both devices are online. Why, in plain words.
    Unconfirmed(String),
}

impl InviteStatus {
    /// True once nothing more will happen.
    pub fn is_final(&self) -> bool {
        match self {
            InviteStatus::Admitted { delivery, .. } => *delivery != Delivery::Syncing,
            InviteStatus::Failed { .. } => true,
            _ => false,
        }
    }

    /// True once a guest was admitted (whether or not it has its first sync yet).
    pub fn is_admitted(&self) -> bool {
        matches!(self, InviteStatus::Admitted { .. })
    }
}

/// An open invitation, host side.
#[derive(Debug, Clone)]
pub struct Invitation {
    /// The offer.
    pub offer: Offer,
    /// Its `dxos:` URI (the QR code's text).
    pub uri: String,
    /// The 6-digit code the guest must type, if the offer needs one.
    pub code: Option<String>,
    /// Where it stands.
    pub status: watch::Receiver<InviteStatus>,
}

struct Entry {
    host: HostOffer,
    /// Shared with the task answering the admitted guest, which reports its first sync after
    /// the offer itself is over (and maybe gone from the registry).
    status: Arc<watch::Sender<InviteStatus>>,
}

/// An admitted guest whose first sync the answering task waits for.
struct Delivering {
    status: Arc<watch::Sender<InviteStatus>>,
    admitted: PublicKey,
    fingerprint: String,
}

/// The node's open offers.
#[derive(Default)]
pub(crate) struct Registry {
    offers: Mutex<HashMap<[u8; 8], Entry>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 8], Entry>> {
        self.offers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new offer made by `host` and closes it when it expires.
    pub(crate) fn open(self: &Arc<Self>, offer: Offer, code: Option<String>, host: PublicKey) -> Invitation {
        let (tx, rx) = watch::channel(InviteStatus::Waiting { failures: 0 });
        let uri = offer.to_uri();
        let id = offer.id;
        let expires_at = offer.expires_at;
        self.lock().insert(id, Entry { host: HostOffer::new(offer.clone(), code.clone(), host), status: Arc::new(tx) });
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let wait = expires_at.saturating_sub(now_s());
            tokio::time::sleep(Duration::from_secs(wait)).await;
            let mut offers = me.lock();
            if let Some(e) = offers.get_mut(&id)
                && e.host.expire(now_s().max(expires_at))
            {
                let _ = e.status.send(InviteStatus::Failed { reason: Refusal::Expired.to_string(), expired: true });
            }
            // Over either way by now: a long-running node does not keep every offer it made
            // (the status stays readable by whoever holds it).
            offers.remove(&id);
        });
        Invitation { offer, uri, code, status: rx }
    }

    /// Cancels an offer; returns whether there was an open one. An offer whose guest was
    /// admitted stays as it is (nothing can take the admission back here).
    pub(crate) fn cancel(&self, id: &[u8; 8]) -> bool {
        let mut offers = self.lock();
        let Some(e) = offers.get_mut(id) else { return false };
        if e.status.borrow().is_final() || e.status.borrow().is_admitted() {
            return false;
        }
        e.host.cancel();
        let _ = e.status.send(InviteStatus::Failed { reason: Refusal::Cancelled.to_string(), expired: false });
        true
    }

    fn publish(e: &Entry) {
        let status = match e.host.state() {
            HostState::Waiting => InviteStatus::Waiting { failures: e.host.failures() },
            HostState::Admitting { guest } => InviteStatus::Authenticating { fingerprint: e.host.fingerprint(guest) },
            HostState::Admitted { .. } => return,
            HostState::Closed(r) => {
                InviteStatus::Failed { reason: r.to_string(), expired: matches!(r, Refusal::Expired) }
            }
        };
        let _ = e.status.send(status);
    }
}

/// Answers one guest on an incoming invitation stream.
pub(crate) async fn answer(stream: libp2p::Stream, peer: PeerId, registry: Arc<Registry>, halo: Halo) {
    let Ok(guest) = PublicKey::from_peer_id(&peer) else { return };
    let mut framed = framing::framed(stream.compat(), MAX_INVITE_MESSAGE);
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, framed.next()).await {
        Ok(Some(Ok(bytes))) => Wire::decode(&bytes),
        Ok(Some(Err(e))) => {
            tracing::info!(%peer, "invitation stream: {e}");
            return;
        }
        Ok(None) => return,
        Err(_) => {
            tracing::info!(%peer, "a guest said nothing for {HELLO_TIMEOUT:?}");
            return;
        }
    };
    let (reply, delivering) = match hello {
        Ok(Wire::Hello { offer, proof, code_proof, credentials }) => {
            decide(&registry, &halo, guest, offer, &proof, code_proof.as_ref(), &credentials).await
        }
        Ok(_) => (Wire::Refused(Refusal::NotAdmitted("expected a hello".into())), None),
        Err(e) => {
            tracing::info!(%peer, "malformed invitation hello: {e}");
            return;
        }
    };
    if let Wire::Refused(r) = &reply {
        tracing::info!(%peer, "invitation refused: {r}");
    }
    let sent = SinkExt::<Bytes>::send(&mut framed, reply.encode().into()).await;
    let Some(d) = delivering else {
        let _ = SinkExt::<Bytes>::close(&mut framed).await;
        return;
    };
    // Admitted: wait for the guest to say it has the first sync of what it was admitted to.
    let delivery = match sent {
        Err(e) => Delivery::Unconfirmed(format!("the connection to the new device failed: {e}")),
        Ok(()) => match tokio::time::timeout(DELIVERY_TIMEOUT, framed.next()).await {
            Ok(Some(Ok(bytes))) => match Wire::decode(&bytes) {
                Ok(Wire::Synced) => Delivery::Done,
                Ok(_) | Err(_) => {
                    tracing::info!(%peer, "an admitted guest sent something other than `synced`");
                    Delivery::Unconfirmed("the new device did not say it has the data".into())
                }
            },
            Ok(Some(Err(_)) | None) => {
                Delivery::Unconfirmed("the new device went away before it said it has the data".into())
            }
            Err(_) => Delivery::Unconfirmed(format!(
                "the new device did not finish its first sync in {}s",
                DELIVERY_TIMEOUT.as_secs()
            )),
        },
    };
    tracing::info!(%peer, "admitted guest's first sync: {delivery:?}");
    let _ = d.status.send(InviteStatus::Admitted { admitted: d.admitted, fingerprint: d.fingerprint, delivery });
    let _ = SinkExt::<Bytes>::close(&mut framed).await;
}

async fn decide(
    registry: &Registry,
    halo: &Halo,
    guest: PublicKey,
    id: [u8; 8],
    proof: &[u8; 32],
    code_proof: Option<&[u8; 32]>,
    credentials: &[Vec<u8>],
) -> (Wire, Option<Delivering>) {
    let kind = {
        let mut offers = registry.lock();
        let Some(e) = offers.get_mut(&id) else { return (Wire::Refused(Refusal::UnknownOffer), None) };
        let checked = e.host.check(&guest, proof, code_proof, now_s());
        Registry::publish(e);
        if let Err(r) = checked {
            return (Wire::Refused(r), None);
        }
        e.host.offer().kind.clone()
    };
    let guest_creds = match proto::guest_credentials(credentials) {
        Ok(c) => c,
        Err(r) => return finish(registry, id, Err(r)),
    };
    let halo = halo.clone();
    // HALO writes to the disk: off the async workers.
    let admitted =
        tokio::task::spawn_blocking(move || -> Result<(PublicKey, Vec<dxos_halo::Credential>), HaloError> {
            match kind {
                OfferKind::Device => Ok((guest, halo.admit_device(&guest)?)),
                OfferKind::Space { space, role } => {
                    let space = PublicKey::from_bytes(&space).map_err(|e| HaloError::Corrupt(e.to_string()))?;
                    halo.admit_member(&space, role, &guest, guest_creds)
                }
            }
        })
        .await;
    let result = match admitted {
        Ok(Ok((who, creds))) => Ok((who, creds)),
        Ok(Err(e)) => Err(Refusal::NotAdmitted(e.to_string())),
        Err(e) => Err(Refusal::NotAdmitted(e.to_string())),
    };
    finish(registry, id, result)
}

fn finish(
    registry: &Registry,
    id: [u8; 8],
    result: Result<(PublicKey, Vec<dxos_halo::Credential>), Refusal>,
) -> (Wire, Option<Delivering>) {
    let mut offers = registry.lock();
    let Some(e) = offers.get_mut(&id) else { return (Wire::Refused(Refusal::UnknownOffer), None) };
    match result {
        Ok((who, creds)) => {
            let fingerprint = match e.host.state() {
                HostState::Admitting { guest } => e.host.fingerprint(guest),
                _ => String::new(),
            };
            e.host.admitted();
            let _ = e.status.send(InviteStatus::Admitted {
                admitted: who,
                fingerprint: fingerprint.clone(),
                delivery: Delivery::Syncing,
            });
            let wire = Wire::Admitted { credentials: creds.iter().map(dxos_halo::Credential::encode).collect() };
            (wire, Some(Delivering { status: Arc::clone(&e.status), admitted: who, fingerprint }))
        }
        Err(r) => {
            e.host.failed();
            Registry::publish(e);
            (Wire::Refused(r), None)
        }
    }
}

/// What a successful join brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Joined {
    /// This device is now a device of `identity`.
    Device {
        /// The identity joined.
        identity: PublicKey,
    },
    /// This identity is now a member of `space` (`already`: it was before; nothing changed).
    Space {
        /// The space.
        space: PublicKey,
        /// True if nothing had to change.
        already: bool,
    },
}

/// Why a join failed, for the CLI's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinFailure {
    /// Bad input on our side (nothing was sent): an expired offer, a missing code, a profile
    /// that already has an identity.
    InvalidInput,
    /// The inviter refused.
    Refused,
    /// The inviter could not be reached or the connection failed.
    Network,
    /// A step took too long.
    Timeout,
}

/// Where a join stands, guest side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinStatus {
    /// Reaching the inviter.
    Connecting,
    /// Connected; proving the secret. Both screens show `fingerprint`.
    Authenticating {
        /// The pairing's words.
        fingerprint: String,
    },
    /// Admitted; waiting for the first sync.
    Syncing,
    /// Done.
    Done(Joined),
    /// Failed; nothing was admitted.
    Failed {
        /// Why, in plain words.
        reason: String,
        /// What kind of failure.
        kind: JoinFailure,
    },
}

impl JoinStatus {
    /// True once nothing more will happen.
    pub fn is_final(&self) -> bool {
        matches!(self, JoinStatus::Done(_) | JoinStatus::Failed { .. })
    }
}

fn fail(kind: JoinFailure, reason: impl Into<String>) -> JoinStatus {
    JoinStatus::Failed { reason: reason.into(), kind }
}

/// Runs a join to its end, publishing each step on `status`.
pub(crate) async fn join(
    node: Node,
    offer: Offer,
    code: Option<String>,
    label: String,
    status: watch::Sender<JoinStatus>,
) {
    let end = run_join(&node, offer, code, label, &status).await;
    let _ = status.send(end);
}

async fn run_join(
    node: &Node,
    offer: Offer,
    code: Option<String>,
    label: String,
    status: &watch::Sender<JoinStatus>,
) -> JoinStatus {
    let halo = node.halo().clone();
    if offer.expires_at <= now_s() {
        return fail(JoinFailure::InvalidInput, "the invitation expired");
    }
    let identity = halo.identity();
    let space = match &offer.kind {
        OfferKind::Device => {
            if let Some(i) = &identity {
                return fail(
                    JoinFailure::InvalidInput,
                    format!(
                        "this profile already has an identity ({}); join a device with a fresh profile",
                        i.identity_key
                    ),
                );
            }
            None
        }
        OfferKind::Space { space, .. } => {
            let Ok(space) = PublicKey::from_bytes(space) else {
                return fail(JoinFailure::InvalidInput, "the invitation names no valid space");
            };
            if identity.is_none() {
                return fail(
                    JoinFailure::InvalidInput,
                    "this profile has no identity yet: create one, then join the space",
                );
            }
            if halo.my_role(&space).is_some() {
                return JoinStatus::Done(Joined::Space { space, already: true });
            }
            Some(space)
        }
    };
    let me = node.peer_id();
    let Ok(my_key) = PublicKey::from_peer_id(&me) else {
        return fail(JoinFailure::InvalidInput, "this node's key is not an ed25519 key");
    };
    let guest = match GuestJoin::new(offer.clone(), code.as_deref(), &my_key) {
        Ok(g) => g,
        Err(e) => return fail(JoinFailure::InvalidInput, e.to_string()),
    };
    let Ok(host_key) = offer.inviter_key() else {
        return fail(JoinFailure::InvalidInput, "the invitation names no valid inviter");
    };
    let Ok(host) = host_key.to_peer_id() else {
        return fail(JoinFailure::InvalidInput, "the invitation names no valid inviter");
    };
    if host == me {
        return fail(JoinFailure::InvalidInput, "this invitation was made on this device");
    }
    let mut events = node.subscribe_new();

    // Connecting: dial the offer's addresses (and any the node learns by mDNS), again
    // every 1.6 s (one dial at a time; a stuck one is given up), until connected.
    let _ = status.send(JoinStatus::Connecting);
    let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
    let stream = loop {
        if tokio::time::Instant::now() >= deadline {
            return fail(
                JoinFailure::Network,
                format!(
                    "cannot reach the inviter (tried {} addresses for {}s)",
                    offer.multiaddrs().len(),
                    CONNECT_TIMEOUT.as_secs()
                ),
            );
        }
        if let Err(e) = node.dial_invite(host, offer.multiaddrs()).await {
            return fail(JoinFailure::Network, e.to_string());
        }
        let connected = tokio::time::timeout(Duration::from_millis(1600), async {
            loop {
                if node.is_connected(host).await {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
        .await;
        if connected.is_err() {
            continue;
        }
        match tokio::time::timeout(Duration::from_secs(5), node.control().open_stream(host, INVITE_PROTOCOL)).await {
            Ok(Ok(s)) => break s,
            Ok(Err(libp2p_stream::OpenStreamError::UnsupportedProtocol(_))) => {
                return fail(JoinFailure::Network, "the peer at that address does not take invitations");
            }
            Ok(Err(e)) => tracing::debug!("invitation stream: {e}"),
            Err(_) => tracing::debug!("invitation stream: timed out"),
        }
    };

    let _ = status.send(JoinStatus::Authenticating { fingerprint: guest.fingerprint() });
    let creds = match &space {
        Some(_) => halo.identity_credentials().unwrap_or_default(),
        None => Vec::new(),
    };
    let mut framed = framing::framed(stream.compat(), MAX_INVITE_MESSAGE);
    let exchange = async {
        SinkExt::<Bytes>::send(&mut framed, guest.hello(&creds).encode().into()).await?;
        framed.next().await.transpose()?.ok_or_else(|| std::io::Error::other("the inviter closed the stream"))
    };
    let reply = match tokio::time::timeout(ANSWER_TIMEOUT, exchange).await {
        Ok(Ok(bytes)) => guest.on_reply(&bytes),
        Ok(Err(e)) => return fail(JoinFailure::Network, format!("the connection to the inviter failed: {e}")),
        Err(_) => {
            return fail(JoinFailure::Timeout, format!("the inviter did not answer in {}s", ANSWER_TIMEOUT.as_secs()));
        }
    };
    let credentials = match reply {
        Ok(c) => c,
        Err(JoinError::Refused(r)) => return fail(JoinFailure::Refused, r.to_string()),
        Err(e) => return fail(JoinFailure::Refused, e.to_string()),
    };

    // Store what admits us (a HALO write: off the async workers).
    let h = halo.clone();
    let stored = tokio::task::spawn_blocking(move || -> Result<Joined, HaloError> {
        match space {
            None => Ok(Joined::Device { identity: h.adopt_identity(credentials, &label)?.identity_key }),
            Some(space) => {
                h.apply_all(credentials)?;
                match h.my_role(&space) {
                    Some(_) => Ok(Joined::Space { space, already: false }),
                    None => Err(HaloError::NotAdmitted("the inviter's credentials do not make us a member".into())),
                }
            }
        }
    })
    .await;
    let joined = match stored {
        Ok(Ok(j)) => j,
        Ok(Err(e)) => return fail(JoinFailure::Refused, e.to_string()),
        Err(e) => return fail(JoinFailure::Refused, e.to_string()),
    };

    // The first sync of everything we were admitted to.
    let _ = status.send(JoinStatus::Syncing);
    let mut pending: Vec<PublicKey> = match &joined {
        Joined::Device { .. } => halo.spaces().into_iter().filter(|s| halo.my_role(s).is_some()).collect(),
        Joined::Space { space, .. } => vec![*space],
    };
    let waited = tokio::time::timeout(SYNC_TIMEOUT, async {
        while !pending.is_empty() {
            match events.recv().await {
                Ok(NodeEvent::Session { event: SessionEvent::Synced { space }, .. }) => pending.retain(|s| *s != space),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return false,
            }
        }
        true
    })
    .await;
    match waited {
        Ok(true) => {
            // Tell the inviter we have it all: an inviter that runs only for the invitation
            // stops then. Best effort: the join is done either way.
            let told = async {
                SinkExt::<Bytes>::send(&mut framed, Wire::Synced.encode().into()).await?;
                SinkExt::<Bytes>::close(&mut framed).await?;
                // Until the inviter closes its side, which it does once it has read `synced`:
                // a guest that returned at once could exit (closing its connections) with the
                // word still in flight, and the inviter heard it "went away" (seen in CI).
                while let Some(frame) = framed.next().await {
                    frame?;
                }
                Ok::<(), std::io::Error>(())
            };
            if let Err(e) = tokio::time::timeout(Duration::from_secs(5), told).await.unwrap_or(Ok(())) {
                tracing::info!("could not tell the inviter the first sync is done: {e}");
            }
            JoinStatus::Done(joined)
        }
        Ok(false) => fail(JoinFailure::Network, "admitted, but the node stopped before the first sync"),
        Err(_) => fail(
            JoinFailure::Timeout,
            format!(
                "admitted, but the first sync did not finish in {}s; it goes on in the background",
                SYNC_TIMEOUT.as_secs()
            ),
        ),
    }
}
