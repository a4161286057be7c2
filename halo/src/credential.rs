//! Credentials: signed statements with a canonical binary encoding and domain-separated
//! signatures.
//!
//! Wire form: the postcard encoding of a [`Body`], then its 64-byte ed25519 signature over
//! that body (domain [`DOMAIN`]). Decoding re-encodes the body and refuses anything that does
//! not come back byte for byte, so a credential has exactly one encoding and its id (SHA-256 of
//! the body) names it everywhere. This module checks form and signature only; whether the
//! issuer had the authority is the state machines' job (`identity.rs`, `space_members.rs`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::keys::{KeyPair, PublicKey};

/// The signature domain of credentials.
pub const DOMAIN: &[u8] = b"dxos/halo/credential/v1";
/// The body layout version this build writes and reads.
pub const VERSION: u8 = 1;
/// Largest encoded credential accepted.
pub const MAX_BYTES: usize = 2048;
/// Longest name or label, in bytes.
pub const MAX_NAME: usize = 256;

/// 32 bytes of an ed25519 public key, as stored in credentials.
pub type Key32 = [u8; 32];

/// A credential's id: the SHA-256 of its encoded body.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CredentialId(pub [u8; 32]);

impl fmt::Debug for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredentialId({})", &hex::encode(self.0)[..16])
    }
}

impl fmt::Display for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A member's role in a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// Full control, including over admins.
    Owner,
    /// Manages members (not owners).
    Admin,
    /// Reads and writes.
    Editor,
    /// Reads only.
    Reader,
    /// No longer a member.
    Removed,
}

impl Role {
    /// The role's name as the CLI prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Reader => "reader",
            Role::Removed => "removed",
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "editor" => Ok(Role::Editor),
            "reader" => Ok(Role::Reader),
            "removed" => Ok(Role::Removed),
            other => Err(format!("unknown role {other:?} (owner, admin, editor, reader)")),
        }
    }
}

/// Who a revocation takes access from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Subject {
    /// A device of an identity.
    Device {
        /// The identity.
        identity: Key32,
        /// The device.
        device: Key32,
    },
    /// A member of a space.
    Member {
        /// The space.
        space: Key32,
        /// The member's identity.
        identity: Key32,
    },
}

/// What a credential states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Claim {
    /// An identity exists; signed by its root key.
    IdentityGenesis {
        /// The identity (root public key).
        identity: Key32,
    },
    /// A device acts for an identity; signed by the root or an authorized device.
    AuthorizedDevice {
        /// The identity.
        identity: Key32,
        /// The device key (its libp2p identity).
        device: Key32,
    },
    /// The identity's display name.
    IdentityProfile {
        /// The identity.
        identity: Key32,
        /// The name people see.
        display_name: String,
    },
    /// A device's label and platform.
    DeviceProfile {
        /// The identity.
        identity: Key32,
        /// The device.
        device: Key32,
        /// A label, e.g. "laptop".
        label: String,
        /// The platform, e.g. "linux".
        platform: String,
    },
    /// A space exists; signed by the space key.
    SpaceGenesis {
        /// The space id (its public key).
        space: Key32,
    },
    /// An identity's role in a space; signed by the space key or an owner's or admin's device.
    SpaceMember {
        /// The space.
        space: Key32,
        /// The member.
        identity: Key32,
        /// Its role.
        role: Role,
    },
    /// A member's name in a space; signed by one of the member's devices.
    MemberProfile {
        /// The space.
        space: Key32,
        /// The member.
        identity: Key32,
        /// The name people see in this space.
        display_name: String,
    },
    /// Takes access away from a device or a member, from `issued_at_ms` on.
    Revocation(Subject),
    /// A relay the identity's devices reserve on (`listed`), or no longer (`!listed`); signed
    /// by one of its devices. The latest statement about an address wins. Only the
    /// identity's own devices receive these (they are left out of what others are shown).
    Relay {
        /// The identity.
        identity: Key32,
        /// The relay's multiaddr, ending in `/p2p/<relay peer id>`.
        addr: String,
        /// Listed (true) or removed (false).
        listed: bool,
    },
}

impl Claim {
    /// The identity this claim is about, for identity-scoped claims.
    pub fn identity_scope(&self) -> Option<Key32> {
        match self {
            Claim::IdentityGenesis { identity }
            | Claim::AuthorizedDevice { identity, .. }
            | Claim::IdentityProfile { identity, .. }
            | Claim::DeviceProfile { identity, .. }
            | Claim::Relay { identity, .. }
            | Claim::Revocation(Subject::Device { identity, .. }) => Some(*identity),
            _ => None,
        }
    }

    /// The space this claim is about, for space-scoped claims.
    pub fn space_scope(&self) -> Option<Key32> {
        match self {
            Claim::SpaceGenesis { space }
            | Claim::SpaceMember { space, .. }
            | Claim::MemberProfile { space, .. }
            | Claim::Revocation(Subject::Member { space, .. }) => Some(*space),
            _ => None,
        }
    }

    fn names(&self) -> Vec<&str> {
        match self {
            Claim::IdentityProfile { display_name, .. } | Claim::MemberProfile { display_name, .. } => {
                vec![display_name]
            }
            Claim::DeviceProfile { label, platform, .. } => vec![label, platform],
            Claim::Relay { addr, .. } => vec![addr],
            _ => Vec::new(),
        }
    }
}

/// The signed part of a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    /// Layout version ([`VERSION`]).
    pub version: u8,
    /// What is stated.
    pub claim: Claim,
    /// The key that signs.
    pub issuer: Key32,
    /// The credential that gives the issuer its authority (its device authorization), if the
    /// issuer is not itself the root of what it speaks for.
    pub parent: Option<CredentialId>,
    /// When it was issued (Unix ms); a revocation applies to what is issued from then on.
    pub issued_at_ms: u64,
}

/// Why a credential is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The bytes are not a credential (or not in canonical form).
    #[error("malformed credential: {0}")]
    Malformed(String),
    /// The signature does not match the issuer and body.
    #[error("bad signature")]
    BadSignature,
    /// The issuer has no authority for this claim.
    #[error("issuer {0} is not authorized for this claim")]
    IssuerNotAuthorized(String),
    /// The credential that would authorize the issuer has not arrived (it may later).
    #[error("the credential authorizing the issuer ({0}) is not known")]
    UnknownParent(String),
    /// The issuer was revoked before this was issued.
    #[error("issuer {0} was revoked")]
    Revoked(String),
    /// The claim does not belong here (another identity or space, or the wrong kind).
    #[error("wrong kind of credential: {0}")]
    WrongKind(String),
}

/// A decoded, signature-checked credential.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    body: Body,
    body_bytes: Vec<u8>,
    signature: [u8; 64],
    id: CredentialId,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential").field("id", &self.id).field("claim", &self.body.claim).finish()
    }
}

impl Credential {
    /// Issues a credential: `issuer` signs `claim`, citing `parent` as its authority.
    pub fn issue(claim: Claim, issuer: &KeyPair, parent: Option<CredentialId>, issued_at_ms: u64) -> Credential {
        let body = Body { version: VERSION, claim, issuer: *issuer.public().as_bytes(), parent, issued_at_ms };
        // Encoding a Body into a Vec cannot fail.
        let body_bytes = postcard::to_stdvec(&body).unwrap_or_default();
        let signature = issuer.sign(DOMAIN, &body_bytes);
        let id = CredentialId(Sha256::digest(&body_bytes).into());
        Credential { body, body_bytes, signature, id }
    }

    /// The wire form: body, then signature.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body_bytes.len() + 64);
        out.extend_from_slice(&self.body_bytes);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes the wire form, checking size, canonical form, names and the signature.
    pub fn decode(bytes: &[u8]) -> Result<Credential, VerifyError> {
        let c = Self::decode_unverified(bytes)?;
        c.verify_signature()?;
        Ok(c)
    }

    /// Decodes the wire form without checking the signature (for batch verification).
    pub fn decode_unverified(bytes: &[u8]) -> Result<Credential, VerifyError> {
        if bytes.len() > MAX_BYTES {
            return Err(VerifyError::Malformed(format!("{} bytes is more than {MAX_BYTES}", bytes.len())));
        }
        if bytes.len() < 64 {
            return Err(VerifyError::Malformed("shorter than a signature".into()));
        }
        let (body_bytes, sig) = bytes.split_at(bytes.len() - 64);
        let (body, rest): (Body, &[u8]) =
            postcard::take_from_bytes(body_bytes).map_err(|e| VerifyError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(VerifyError::Malformed("trailing bytes after the body".into()));
        }
        if body.version != VERSION {
            return Err(VerifyError::Malformed(format!("unknown version {}", body.version)));
        }
        if postcard::to_stdvec(&body).ok().as_deref() != Some(body_bytes) {
            return Err(VerifyError::Malformed("not in canonical form".into()));
        }
        if body.claim.names().iter().any(|n| n.len() > MAX_NAME) {
            return Err(VerifyError::Malformed(format!("a name is longer than {MAX_NAME} bytes")));
        }
        let mut signature = [0u8; 64];
        signature.copy_from_slice(sig);
        let id = CredentialId(Sha256::digest(body_bytes).into());
        Ok(Credential { body, body_bytes: body_bytes.to_vec(), signature, id })
    }

    /// Checks the signature against the issuer.
    pub fn verify_signature(&self) -> Result<(), VerifyError> {
        let issuer = PublicKey::from_bytes(&self.body.issuer).map_err(|_| VerifyError::BadSignature)?;
        if issuer.verify(DOMAIN, &self.body_bytes, &self.signature) { Ok(()) } else { Err(VerifyError::BadSignature) }
    }

    /// Checks many signatures at once (ed25519 batch verification), falling back to one by one
    /// to name the bad one.
    pub fn verify_batch(credentials: &[Credential]) -> Result<(), (usize, VerifyError)> {
        let messages: Vec<Vec<u8>> =
            credentials.iter().map(|c| crate::keys::domain_message(DOMAIN, &c.body_bytes)).collect();
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let sigs: Vec<ed25519_dalek::Signature> =
            credentials.iter().map(|c| ed25519_dalek::Signature::from_bytes(&c.signature)).collect();
        let keys: Result<Vec<ed25519_dalek::VerifyingKey>, usize> = credentials
            .iter()
            .enumerate()
            .map(|(i, c)| ed25519_dalek::VerifyingKey::from_bytes(&c.body.issuer).map_err(|_| i))
            .collect();
        let keys = keys.map_err(|i| (i, VerifyError::BadSignature))?;
        if ed25519_dalek::verify_batch(&refs, &sigs, &keys).is_ok() {
            return Ok(());
        }
        for (i, c) in credentials.iter().enumerate() {
            c.verify_signature().map_err(|e| (i, e))?;
        }
        Ok(())
    }

    /// The credential's id.
    pub fn id(&self) -> CredentialId {
        self.id
    }

    /// What it states.
    pub fn claim(&self) -> &Claim {
        &self.body.claim
    }

    /// The signed body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The signing key.
    pub fn issuer(&self) -> Key32 {
        self.body.issuer
    }

    /// The credential cited as the issuer's authority.
    pub fn parent(&self) -> Option<CredentialId> {
        self.body.parent
    }

    /// When it was issued (Unix ms).
    pub fn issued_at_ms(&self) -> u64 {
        self.body.issued_at_ms
    }

    /// The encoded body (what the signature covers, after the domain).
    pub fn body_bytes(&self) -> &[u8] {
        &self.body_bytes
    }

    /// The signature over the body.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }
}

/// The current Unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key32() -> impl Strategy<Value = Key32> {
        any::<[u8; 32]>()
    }

    fn claim() -> impl Strategy<Value = Claim> {
        let role = prop_oneof![
            Just(Role::Owner),
            Just(Role::Admin),
            Just(Role::Editor),
            Just(Role::Reader),
            Just(Role::Removed)
        ];
        prop_oneof![
            key32().prop_map(|identity| Claim::IdentityGenesis { identity }),
            (key32(), key32()).prop_map(|(identity, device)| Claim::AuthorizedDevice { identity, device }),
            (key32(), ".{0,40}").prop_map(|(identity, display_name)| Claim::IdentityProfile { identity, display_name }),
            (key32(), key32(), ".{0,20}", "[a-z]{0,8}").prop_map(|(identity, device, label, platform)| {
                Claim::DeviceProfile { identity, device, label, platform }
            }),
            key32().prop_map(|space| Claim::SpaceGenesis { space }),
            (key32(), key32(), role).prop_map(|(space, identity, role)| Claim::SpaceMember { space, identity, role }),
            (key32(), key32(), ".{0,40}").prop_map(|(space, identity, display_name)| Claim::MemberProfile {
                space,
                identity,
                display_name
            }),
            (key32(), key32()).prop_map(|(identity, device)| Claim::Revocation(Subject::Device { identity, device })),
            (key32(), key32()).prop_map(|(space, identity)| Claim::Revocation(Subject::Member { space, identity })),
        ]
    }

    proptest! {
        #[test]
        fn round_trip_is_canonical(claim in claim(), parent in proptest::option::of(any::<[u8; 32]>()), at in any::<u64>()) {
            let key = KeyPair::generate();
            let c = Credential::issue(claim, &key, parent.map(CredentialId), at);
            let bytes = c.encode();
            let back = Credential::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&back, &c);
            prop_assert_eq!(back.encode(), bytes);
            prop_assert_eq!(back.id(), c.id());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Credential::decode(&bytes);
        }

        #[test]
        fn mutated_credentials_are_refused(claim in claim(), at in any::<u64>(), flips in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..4)) {
            let key = KeyPair::generate();
            let c = Credential::issue(claim, &key, None, at);
            let mut bytes = c.encode();
            for (i, x) in &flips {
                let n = bytes.len();
                bytes[i % n] ^= x;
            }
            match Credential::decode(&bytes) {
                Ok(d) => prop_assert!(d == c, "a changed credential still verified"),
                Err(VerifyError::Malformed(_) | VerifyError::BadSignature) => {}
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }
    }

    #[test]
    fn forged_and_oversized_are_typed_errors() {
        let key = KeyPair::generate();
        let mut c = Credential::issue(Claim::SpaceGenesis { space: [1; 32] }, &key, None, 5);
        c.signature = Credential::issue(Claim::SpaceGenesis { space: [2; 32] }, &key, None, 5).signature;
        assert_eq!(Credential::decode(&c.encode()), Err(VerifyError::BadSignature));
        let long = Credential::issue(
            Claim::IdentityProfile { identity: [0; 32], display_name: "x".repeat(MAX_NAME + 1) },
            &key,
            None,
            1,
        );
        assert!(matches!(Credential::decode(&long.encode()), Err(VerifyError::Malformed(_))));
        assert!(matches!(Credential::decode(&[0; 5000]), Err(VerifyError::Malformed(_))));
        assert!(matches!(Credential::decode(&[]), Err(VerifyError::Malformed(_))));
    }

    #[test]
    fn batch_verification_names_the_bad_one() {
        let key = KeyPair::generate();
        let good: Vec<Credential> =
            (0..4).map(|i| Credential::issue(Claim::SpaceGenesis { space: [i; 32] }, &key, None, 1)).collect();
        assert_eq!(Credential::verify_batch(&good), Ok(()));
        let mut bad = good.clone();
        bad[2].signature = bad[1].signature;
        assert_eq!(Credential::verify_batch(&bad), Err((2, VerifyError::BadSignature)));
    }
}
