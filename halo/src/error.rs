//! What went wrong in HALO: one error type for the facade and the store beneath it (kept
//! apart from both, so the store does not depend on the facade).

use crate::credential::VerifyError;
use crate::keyring::KeyringError;

/// What went wrong in HALO.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HaloError {
    /// The profile has no identity yet.
    #[error("this profile has no identity yet")]
    NoIdentity,
    /// The profile has an identity already.
    #[error("this profile already has an identity ({0})")]
    IdentityExists(String),
    /// This device does not hold the identity's root key.
    #[error("this device does not hold the identity's root key, so it cannot show the recovery phrase")]
    NoRootKey,
    /// The recovery phrase is not valid.
    #[error("not a valid recovery phrase: {0}")]
    InvalidPhrase(String),
    /// A name is empty or too long.
    #[error("invalid name: {0}")]
    InvalidName(String),
    /// The space is not known to HALO.
    #[error("no credentials for space {0}")]
    UnknownSpace(String),
    /// The keyring failed.
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    /// A key could not be used as a network identity.
    #[error("this device's key: {0}")]
    Key(#[from] crate::keys::KeyError),
    /// A credential was refused.
    #[error(transparent)]
    Credential(#[from] VerifyError),
    /// The store was written by a newer program.
    #[error("HALO's tables have format version {found}, newer than this program understands ({supported})")]
    FormatTooNew {
        /// Found on disk.
        found: u64,
        /// Newest understood.
        supported: u64,
    },
    /// Stored data is damaged.
    #[error("stored identity data is damaged: {0}")]
    Corrupt(String),
    /// The store failed.
    #[error("storage error: {0}")]
    Storage(String),
    /// Credentials from a host do not admit this device or identity.
    #[error("not admitted: {0}")]
    NotAdmitted(String),
    /// This identity may not do that (say, remove a member without being an owner or admin).
    #[error("not allowed: {0}")]
    Denied(String),
    /// No such device in this identity.
    #[error("no device {0} in this identity")]
    UnknownDevice(String),
}
