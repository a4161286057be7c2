//! ed25519 key pairs, the public-key type shown to people as lowercase hex, and the bridge
//! to libp2p: a device key *is* its libp2p identity (the PeerId comes from the same key).
//!
//! Keys are made with the operating system's randomness; signatures are domain-separated
//! (a signature for one purpose never verifies for another). No crypto is hand-rolled here.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use libp2p_identity::PeerId;
use sha2::{Digest, Sha256};

/// Why a key could not be read.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not 64 hex digits.
    #[error("a key is 64 hex digits (32 bytes); got {0:?}")]
    BadHex(String),
    /// The bytes are not 32 long.
    #[error("a key is 32 bytes long; got {0}")]
    BadLength(usize),
    /// The bytes are not a valid ed25519 public key.
    #[error("not a valid ed25519 public key")]
    NotOnCurve,
    /// The PeerId does not embed an ed25519 key (another key type, or a hashed key).
    #[error("peer id {0} does not hold an ed25519 public key")]
    NotEd25519PeerId(String),
    /// libp2p refused a secret key's bytes.
    #[error("not a valid ed25519 secret key")]
    BadSecret,
}

/// An ed25519 public key: names a space, an identity or a device.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Wraps 32 bytes, checking they form a valid ed25519 point.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| KeyError::BadLength(bytes.len()))?;
        VerifyingKey::from_bytes(&arr).map_err(|_| KeyError::NotOnCurve)?;
        Ok(Self(arr))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, as the CLI prints keys.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A short fingerprint people can compare at a glance: four words from the BIP-39 list,
    /// derived from a hash of the key.
    pub fn fingerprint(&self) -> String {
        let hash = Sha256::digest(self.0);
        let words = bip39::Language::English.word_list();
        let bits = u64::from_be_bytes([hash[0], hash[1], hash[2], hash[3], hash[4], hash[5], hash[6], hash[7]]);
        (0..4).map(|i| words[((bits >> (53 - 11 * i)) & 0x7ff) as usize]).collect::<Vec<_>>().join("-")
    }

    /// Checks `signature` over `message` made for `domain` by this key.
    pub fn verify(&self, domain: &[u8], message: &[u8], signature: &[u8; 64]) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.0) else { return false };
        key.verify_strict(&domain_message(domain, message), &Signature::from_bytes(signature)).is_ok()
    }
}

/// The bytes actually signed: the domain's length, the domain, then the message, so that no
/// signature made for one purpose verifies for another.
pub fn domain_message(domain: &[u8], message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + domain.len() + message.len());
    out.extend_from_slice(&(domain.len() as u16).to_be_bytes());
    out.extend_from_slice(domain);
    out.extend_from_slice(message);
    out
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 {
            return Err(KeyError::BadHex(s.to_owned()));
        }
        let bytes = hex::decode(s).map_err(|_| KeyError::BadHex(s.to_owned()))?;
        Self::from_bytes(&bytes)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

/// An ed25519 signing key with its public half. The secret never leaves unless asked for.
pub struct KeyPair(SigningKey);

impl KeyPair {
    /// A fresh key pair from the operating system's randomness.
    pub fn generate() -> Self {
        let secret: [u8; 32] = rand::random();
        Self(SigningKey::from_bytes(&secret))
    }

    /// Rebuilds a key pair from its 32 secret bytes.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| KeyError::BadLength(bytes.len()))?;
        Ok(Self(SigningKey::from_bytes(&arr)))
    }

    /// The 32 secret bytes, for the keyring to store.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `message` for `domain` (see [`PublicKey::verify`]).
    pub fn sign(&self, domain: &[u8], message: &[u8]) -> [u8; 64] {
        self.0.sign(&domain_message(domain, message)).to_bytes()
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({})", self.public())
    }
}

/// A key pair as libp2p's identity key pair: a trait, so that only the network layer
/// (which imports it) deals in libp2p's types.
pub trait KeypairExt {
    /// The same key as a libp2p identity key pair (a device's network identity).
    fn to_libp2p(&self) -> Result<libp2p_identity::Keypair, KeyError>;
}

impl KeypairExt for KeyPair {
    /// The same key as a libp2p identity key pair (a device's network identity). Any 32
    /// bytes are an ed25519 secret key, so this fails only if libp2p disagrees; then it says
    /// so rather than make up a fresh key pair (a silent new identity).
    fn to_libp2p(&self) -> Result<libp2p_identity::Keypair, KeyError> {
        let mut secret = self.0.to_bytes();
        libp2p_identity::ed25519::SecretKey::try_from_bytes(&mut secret)
            .map(|sk| libp2p_identity::Keypair::from(libp2p_identity::ed25519::Keypair::from(sk)))
            .map_err(|_| KeyError::BadSecret)
    }
}

/// A key as a libp2p network identity. A trait, not methods of [`PublicKey`], so that only
/// the network layer (which imports it) deals in libp2p's types.
pub trait PeerIdExt: Sized {
    /// The libp2p PeerId of this key (as a device's network identity).
    fn to_peer_id(&self) -> Result<PeerId, KeyError>;
    /// The ed25519 key a PeerId embeds.
    fn from_peer_id(peer: &PeerId) -> Result<Self, KeyError>;
}

impl PeerIdExt for PublicKey {
    /// The libp2p PeerId of this key (as a device's network identity). A `PublicKey` is
    /// checked to be a valid point when made, so this fails only if libp2p disagrees; then it
    /// says so rather than answer with some other peer's id.
    fn to_peer_id(&self) -> Result<PeerId, KeyError> {
        libp2p_identity::ed25519::PublicKey::try_from_bytes(&self.0)
            .map(|k| libp2p_identity::PublicKey::from(k).to_peer_id())
            .map_err(|_| KeyError::NotOnCurve)
    }

    /// The ed25519 key a PeerId embeds (libp2p inlines ed25519 keys in the PeerId).
    fn from_peer_id(peer: &PeerId) -> Result<Self, KeyError> {
        let bad = || KeyError::NotEd25519PeerId(peer.to_base58());
        let mh = peer.as_ref();
        if mh.code() != 0 {
            return Err(bad());
        }
        let key = libp2p_identity::PublicKey::try_decode_protobuf(mh.digest()).map_err(|_| bad())?;
        let ed = key.try_into_ed25519().map_err(|_| bad())?;
        Self::from_bytes(&ed.to_bytes())
    }
}

/// Keys travel in messages (the owner's socket) as their 64 hex digits, as people see them.
impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let k = KeyPair::generate().public();
        let s = k.to_string();
        assert_eq!(s.len(), 64);
        assert_eq!(s, s.to_lowercase());
        assert_eq!(s.parse::<PublicKey>(), Ok(k));
    }

    #[test]
    fn secret_round_trip() {
        let k = KeyPair::generate();
        let back = KeyPair::from_secret_bytes(&k.secret_bytes()).map(|k| k.public());
        assert_eq!(back, Ok(k.public()));
    }

    #[test]
    fn peer_id_round_trips_both_ways() {
        let pair = KeyPair::generate();
        let key = pair.public();
        let peer = key.to_peer_id().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(PublicKey::from_peer_id(&peer), Ok(key));
        // The libp2p key pair made from the same secret has the same PeerId.
        assert_eq!(pair.to_libp2p().map(|k| k.public().to_peer_id()), Ok(peer));
        // And a PeerId from libp2p's own ed25519 key converts back.
        let other = libp2p_identity::Keypair::generate_ed25519();
        let back = PublicKey::from_peer_id(&other.public().to_peer_id()).and_then(|k| k.to_peer_id());
        assert_eq!(back, Ok(other.public().to_peer_id()));
        assert!(matches!(PublicKey::from_peer_id(&PeerId::random()), Err(KeyError::NotEd25519PeerId(_))));
    }

    #[test]
    fn signatures_are_domain_separated() {
        let k = KeyPair::generate();
        let sig = k.sign(b"dxos/a", b"hello");
        assert!(k.public().verify(b"dxos/a", b"hello", &sig));
        assert!(!k.public().verify(b"dxos/b", b"hello", &sig));
        assert!(!k.public().verify(b"dxos/a", b"hellO", &sig));
        assert!(!KeyPair::generate().public().verify(b"dxos/a", b"hello", &sig));
    }

    #[test]
    fn fingerprints_are_short_and_stable() {
        let k = KeyPair::generate().public();
        let f = k.fingerprint();
        assert_eq!(f.split('-').count(), 4);
        assert_eq!(f, k.fingerprint());
        assert_ne!(f, KeyPair::generate().public().fingerprint());
    }

    #[test]
    fn bad_keys_are_typed_errors() {
        assert!(matches!("zz".parse::<PublicKey>(), Err(KeyError::BadHex(_))));
        assert!(matches!("g".repeat(64).parse::<PublicKey>(), Err(KeyError::BadHex(_))));
        assert_eq!(PublicKey::from_bytes(&[1, 2]), Err(KeyError::BadLength(2)));
        assert_eq!(KeyPair::from_secret_bytes(&[0; 5]).map(|k| k.public()), Err(KeyError::BadLength(5)));
    }
}
