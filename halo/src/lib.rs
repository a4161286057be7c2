//! HALO: identity without servers.
//!
//! Each device makes its own ed25519 key (which is also its libp2p identity); an identity is a
//! root key whose signed credentials authorize devices; spaces are keys too, whose credentials
//! admit members with roles. Everything is verifiable by anyone holding the genesis
//! credentials: no server is asked. Invitations (device pairing, space sharing) are offers
//! encoded as `dxos:` URIs.
//!
//! Secrets live in the keyring (private files in the profile); credentials and public state
//! in HALO's tables of the profile's redb store, which the Client lends. No network I/O here.

pub mod credential;
mod error;
mod halo;
pub mod identity;
pub mod invitation;
pub mod keyring;
pub mod keys;
mod settle;
pub mod space_members;
pub mod storage_guard;
mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use credential::{Claim, Credential, CredentialId, Role, Subject, VerifyError};
pub use halo::{ChangeListener, DeviceInfo, Halo, HaloError, IdentityInfo, MemberInfo, space_key_name};
pub use identity::{Applied, IdentityState};
pub use invitation::{Offer, OfferError, OfferKind};
pub use keyring::{Keyring, KeyringError};
pub use keys::{KeyError, KeyPair, KeypairExt, PeerIdExt, PublicKey};
pub use space_members::{Member, SpaceState};
