//! ed25519 key pairs and the public-key type shown to people as lowercase hex.
//!
//! Keys are made with the operating system's randomness; this module never hand-rolls crypto.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{SigningKey, VerifyingKey};

/// Why a key could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
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
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({})", self.public())
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
    fn bad_keys_are_typed_errors() {
        assert!(matches!("zz".parse::<PublicKey>(), Err(KeyError::BadHex(_))));
        assert!(matches!("g".repeat(64).parse::<PublicKey>(), Err(KeyError::BadHex(_))));
        assert_eq!(PublicKey::from_bytes(&[1, 2]), Err(KeyError::BadLength(2)));
        assert_eq!(KeyPair::from_secret_bytes(&[0; 5]).map(|k| k.public()), Err(KeyError::BadLength(5)));
    }
}
