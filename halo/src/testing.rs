//! Test support (feature `testing`): an identity with one device and the credentials that
//! found it, for tests of HALO and of the crates that build on it.

use crate::credential::{Claim, Credential, CredentialId, Key32};
use crate::keys::KeyPair;

/// An identity (root key) with one authorized device.
pub struct Person {
    /// The identity's root key.
    pub root: KeyPair,
    /// Its device.
    pub device: KeyPair,
    /// Genesis, then the device's authorization (signed by the root).
    pub creds: Vec<Credential>,
}

impl Person {
    /// A fresh identity and device.
    pub fn new() -> Person {
        let root = KeyPair::generate();
        let device = KeyPair::generate();
        let me = *root.public().as_bytes();
        let g = Credential::issue(Claim::IdentityGenesis { identity: me }, &root, None, 1);
        let d = Credential::issue(
            Claim::AuthorizedDevice { identity: me, device: *device.public().as_bytes() },
            &root,
            None,
            2,
        );
        Person { root, device, creds: vec![g, d] }
    }

    /// The identity key, as stored in credentials.
    pub fn key(&self) -> Key32 {
        *self.root.public().as_bytes()
    }

    /// The id of the device's authorization (what the device cites as parent).
    pub fn auth(&self) -> CredentialId {
        self.creds[1].id()
    }
}

impl Default for Person {
    fn default() -> Self {
        Self::new()
    }
}
