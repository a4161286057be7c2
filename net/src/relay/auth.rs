//! `/dxos/relay-auth/1`: a device proves to a relay that it belongs to an allowed identity,
//! before it reserves a slot there.
//!
//! The device opens the stream on its connection to the relay and sends its identity's
//! credentials (genesis, devices, revocations, profile: what a peer needs to verify it). The
//! relay checks their signatures and the chain, that the identity is allowed, and that the
//! connection's peer (proved by Noise) is an active device of it; it answers with one
//! [`AuthReply`]. A device sends its credentials again when they change, so a revocation
//! signed by any device of the identity reaches the relay and takes the revoked device's
//! admission (and reservation) away.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use dxos_halo::{Credential, IdentityState, PeerIdExt, PublicKey};
use futures_util::{SinkExt, StreamExt};
use libp2p::{PeerId, StreamProtocol};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// The protocol's stream protocol name.
pub const AUTH_PROTOCOL: StreamProtocol = StreamProtocol::new("/dxos/relay-auth/1");
/// Largest message either side accepts (an identity's credentials are a few KiB).
const MAX_AUTH_MESSAGE: usize = 256 << 10;
/// Most credentials one request may carry.
const MAX_CREDENTIALS: usize = 4096;

/// What a device sends: its identity's credentials, each as [`Credential::encode`] gives it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequest {
    /// The encoded credentials.
    pub credentials: Vec<Vec<u8>>,
}

/// What the relay answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthReply {
    /// Admitted: the device may reserve.
    Admitted,
    /// Refused, and why.
    Refused(String),
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The stream failed or closed early.
    #[error("relay authentication stream: {0}")]
    Io(#[from] std::io::Error),
    /// A message did not decode.
    #[error("relay authentication message: {0}")]
    Decode(#[from] postcard::Error),
    /// The relay refused this device.
    #[error("the relay refused this device: {0}")]
    Refused(String),
}

fn framed<S: AsyncRead + AsyncWrite>(stream: S) -> Framed<S, LengthDelimitedCodec> {
    Framed::new(stream, LengthDelimitedCodec::builder().max_frame_length(MAX_AUTH_MESSAGE).new_codec())
}

/// The device's side: sends `credentials`, waits for the answer.
pub async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    credentials: &[Credential],
) -> Result<(), AuthError> {
    let mut f = framed(stream);
    let req = AuthRequest { credentials: credentials.iter().map(Credential::encode).collect() };
    f.send(libp2p::bytes::Bytes::from(postcard::to_stdvec(&req)?)).await?;
    let frame = f.next().await.ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))??;
    match postcard::from_bytes::<AuthReply>(&frame)? {
        AuthReply::Admitted => Ok(()),
        AuthReply::Refused(why) => Err(AuthError::Refused(why)),
    }
}

/// Who may use a relay: every peer (`open`), or the devices of the allowed identities,
/// admitted one by one through [`answer`]. Shared between the auth streams and the relay's
/// reservation limiter.
#[derive(Clone)]
pub struct Gate {
    inner: Arc<Mutex<GateState>>,
}

struct GateState {
    open: bool,
    allowed: HashSet<PublicKey>,
    /// What the relay knows of each allowed identity (credentials merged from every device).
    identities: HashMap<PublicKey, IdentityState>,
    /// Admitted peers and the identity each belongs to.
    admitted: HashMap<PeerId, PublicKey>,
}

/// The outcome of one request, for the relay's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// The peer may reserve; it belongs to `identity`. `revoked` lists other peers of the
    /// identity this request's credentials revoked (their reservations must go).
    Admitted {
        /// The identity.
        identity: PublicKey,
        /// Peers no longer admitted.
        revoked: Vec<PeerId>,
    },
    /// Not a device of an allowed identity, but the relay is open: it may reserve all the
    /// same (with what the relay gives strangers).
    Open,
    /// Refused, and why.
    Refused(String),
}

impl Gate {
    /// A gate letting in the devices of `allowed` identities, or everyone when `open`.
    pub fn new(allowed: impl IntoIterator<Item = PublicKey>, open: bool) -> Self {
        Self {
            inner: Arc::new(Mutex::new(GateState {
                open,
                allowed: allowed.into_iter().collect(),
                identities: HashMap::new(),
                admitted: HashMap::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// May `peer` reserve a slot now?
    pub fn may_reserve(&self, peer: &PeerId) -> bool {
        let st = self.lock();
        st.open || st.admitted.contains_key(peer)
    }

    /// Is `peer` an admitted device of an allowed identity (not merely let in by `open`)?
    pub fn is_admitted(&self, peer: &PeerId) -> bool {
        self.lock().admitted.contains_key(peer)
    }

    /// Forgets a peer's admission (its connection to the relay closed).
    pub fn forget(&self, peer: &PeerId) {
        self.lock().admitted.remove(peer);
    }

    /// Checks a request from `peer` and admits it if it proves an allowed identity.
    pub fn admit(&self, peer: &PeerId, req: &AuthRequest) -> Admission {
        let refuse = |why: &str| Admission::Refused(why.to_owned());
        if req.credentials.len() > MAX_CREDENTIALS {
            return refuse("too many credentials");
        }
        let Ok(device) = PublicKey::from_peer_id(peer) else {
            return refuse("the connection's peer id is not an ed25519 device key");
        };
        let mut creds = Vec::with_capacity(req.credentials.len());
        for bytes in &req.credentials {
            match Credential::decode(bytes) {
                Ok(c) => creds.push(c),
                Err(e) => return Admission::Refused(format!("a credential does not verify: {e}")),
            }
        }
        // The identity the credentials are about (all must agree).
        let mut identity = None;
        for c in &creds {
            let Some(i) = c.claim().identity_scope().and_then(|i| PublicKey::from_bytes(&i).ok()) else {
                return refuse("a credential is not about an identity");
            };
            if identity.is_some_and(|known| known != i) {
                return refuse("credentials about more than one identity");
            }
            identity = Some(i);
        }
        let Some(identity) = identity else { return refuse("no credentials") };
        let mut st = self.lock();
        if !st.allowed.contains(&identity) {
            return if st.open {
                Admission::Open
            } else {
                Admission::Refused(format!("identity {identity} is not allowed on this relay"))
            };
        }
        // Merge into what the relay knows of the identity: a revocation sent by one device
        // applies to all.
        let state = st.identities.entry(identity).or_insert_with(|| IdentityState::new(identity));
        for c in creds {
            // Credentials whose issuer is unknown or not authorized are left out (kept
            // pending or refused by the state machine); the check below decides.
            let _ = state.apply(c);
        }
        let active = state.is_active_device(&device);
        let revoked: Vec<PeerId> = st
            .admitted
            .iter()
            .filter(|(p, i)| {
                **i == identity && PublicKey::from_peer_id(p).is_ok_and(|d| !state_is_active(&st.identities, i, &d))
            })
            .map(|(p, _)| *p)
            .collect();
        for p in &revoked {
            st.admitted.remove(p);
        }
        if !active {
            st.admitted.remove(peer);
            return refuse("this device is not an active device of the identity (revoked or unknown)");
        }
        st.admitted.insert(*peer, identity);
        Admission::Admitted { identity, revoked }
    }
}

fn state_is_active(identities: &HashMap<PublicKey, IdentityState>, identity: &PublicKey, device: &PublicKey) -> bool {
    identities.get(identity).is_some_and(|s| s.is_active_device(device))
}

/// The relay's side of one stream from `peer`: reads the request, answers it, returns what
/// was decided.
pub async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    peer: PeerId,
    gate: &Gate,
) -> Result<Admission, AuthError> {
    let mut f = framed(stream);
    let frame = f.next().await.ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))??;
    let admission = match postcard::from_bytes::<AuthRequest>(&frame) {
        Ok(req) => gate.admit(&peer, &req),
        Err(e) => Admission::Refused(format!("malformed request: {e}")),
    };
    let reply = match &admission {
        Admission::Admitted { .. } | Admission::Open => AuthReply::Admitted,
        Admission::Refused(why) => AuthReply::Refused(why.clone()),
    };
    f.send(libp2p::bytes::Bytes::from(postcard::to_stdvec(&reply)?)).await?;
    let _ = SinkExt::<libp2p::bytes::Bytes>::close(&mut f).await;
    Ok(admission)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dxos_halo::testing::Person;
    use dxos_halo::{Claim, KeyPair, KeypairExt, Subject};

    fn peer(key: &KeyPair) -> PeerId {
        key.to_libp2p().map(|k| k.public().to_peer_id()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn req(creds: &[Credential]) -> AuthRequest {
        AuthRequest { credentials: creds.iter().map(Credential::encode).collect() }
    }

    #[test]
    fn admits_only_active_devices_of_allowed_identities() {
        let ada = Person::new();
        let laptop = KeyPair::generate();
        let me = ada.key();
        let mut ada_creds = ada.creds.clone();
        ada_creds.push(Credential::issue(
            Claim::AuthorizedDevice { identity: me, device: *laptop.public().as_bytes() },
            &ada.root,
            None,
            3,
        ));
        let eve = Person::new();
        let gate = Gate::new([ada.root.public()], false);

        // Ada's first device and her laptop are let in; Eve, on an identity not allowed, is not.
        assert!(matches!(gate.admit(&peer(&ada.device), &req(&ada_creds)), Admission::Admitted { .. }));
        assert!(matches!(gate.admit(&peer(&laptop), &req(&ada_creds)), Admission::Admitted { .. }));
        assert!(matches!(gate.admit(&peer(&eve.device), &req(&eve.creds)), Admission::Refused(_)));
        assert!(!gate.may_reserve(&peer(&eve.device)));
        // Eve presenting Ada's credentials over her own connection: her key is not Ada's device.
        assert!(matches!(gate.admit(&peer(&eve.device), &req(&ada_creds)), Admission::Refused(_)));
        // Garbage and nothing are refused, not a crash.
        let junk = AuthRequest { credentials: vec![vec![1, 2, 3]] };
        assert!(matches!(gate.admit(&peer(&eve.device), &junk), Admission::Refused(_)));
        assert!(matches!(gate.admit(&peer(&eve.device), &req(&[])), Admission::Refused(_)));

        // The first device revokes the laptop: the laptop's admission goes at once.
        let revoke = Credential::issue(
            Claim::Revocation(Subject::Device { identity: me, device: *laptop.public().as_bytes() }),
            &ada.device,
            Some(ada.auth()),
            4,
        );
        ada_creds.push(revoke);
        match gate.admit(&peer(&ada.device), &req(&ada_creds)) {
            Admission::Admitted { revoked, .. } => assert_eq!(revoked, vec![peer(&laptop)]),
            other => panic!("{other:?}"),
        }
        assert!(!gate.may_reserve(&peer(&laptop)));
        assert!(matches!(gate.admit(&peer(&laptop), &req(&ada_creds)), Admission::Refused(_)));
        // Even when the laptop leaves the revocation out, the relay remembers it.
        ada_creds.pop();
        assert!(matches!(gate.admit(&peer(&laptop), &req(&ada_creds)), Admission::Refused(_)));
        assert!(gate.may_reserve(&peer(&ada.device)));

        // An open relay lets anyone reserve, but admits only allowed identities.
        let open = Gate::new([], true);
        assert!(open.may_reserve(&peer(&eve.device)));
        assert_eq!(open.admit(&peer(&eve.device), &req(&eve.creds)), Admission::Open);
        assert!(!open.is_admitted(&peer(&eve.device)));
    }
}
