//! HALO: identity without servers.
//!
//! For now this crate holds what ECHO needs: ed25519 key pairs and the public-key type that
//! names spaces. Identities, devices, credentials and invitations build on it. It never does
//! I/O of its own: callers decide where secrets are stored.

pub mod keys;

pub use keys::{KeyError, KeyPair, PublicKey};
