//! `IdentityState`: an identity's devices and profile, from its credentials in any order.
//!
//! Every credential received is kept; the state is recomputed from all of them in a fixed
//! order (issue time, then id), retrying those whose parent had not been accepted yet. So
//! delivery order never matters, duplicates are harmless, and a revocation takes a device's
//! authority away for everything it issued from the revocation's time on.

use std::collections::{BTreeMap, HashMap};

use crate::credential::{Claim, Credential, CredentialId, Key32, Subject, VerifyError};
use crate::keys::PublicKey;
use crate::settle::{Settle, settle};

/// What became of a credential given to a state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Valid and in effect.
    Accepted,
    /// Kept, waiting for the credential that authorizes its issuer.
    Pending,
    /// Already known.
    Duplicate,
}

/// One device of an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The device key (its libp2p identity).
    pub key: PublicKey,
    /// The credential that authorized it.
    pub authorized_by: CredentialId,
    /// Its label, if a device profile was seen.
    pub label: Option<String>,
    /// Its platform, if a device profile was seen.
    pub platform: Option<String>,
    /// When it was revoked (Unix ms), if it was.
    pub revoked_at_ms: Option<u64>,
}

/// The state of one identity.
#[derive(Debug, Clone)]
pub struct IdentityState {
    identity: PublicKey,
    received: BTreeMap<(u64, CredentialId), Credential>,
    // Derived by `recompute`:
    genesis: Option<CredentialId>,
    devices: BTreeMap<Key32, Device>,
    profile: Option<String>,
    /// Which credential said the display name and each device's label: the latest issued wins,
    /// whatever order they settle in (one waiting for its parent settles after a later one).
    profile_said: Option<(u64, CredentialId)>,
    labels_said: HashMap<Key32, (u64, CredentialId)>,
    /// Each relay address's latest statement: (issued at, credential, listed).
    relays: BTreeMap<String, (u64, CredentialId, bool)>,
    accepted: HashMap<CredentialId, Credential>,
    status: HashMap<CredentialId, Result<Applied, VerifyError>>,
}

impl IdentityState {
    /// An identity with no credentials yet.
    pub fn new(identity: PublicKey) -> Self {
        Self {
            identity,
            received: BTreeMap::new(),
            genesis: None,
            devices: BTreeMap::new(),
            profile: None,
            profile_said: None,
            labels_said: HashMap::new(),
            relays: BTreeMap::new(),
            accepted: HashMap::new(),
            status: HashMap::new(),
        }
    }

    /// Builds the state from credentials in any order (signatures are checked in one batch).
    pub fn from_credentials(identity: PublicKey, credentials: Vec<Credential>) -> Result<Self, VerifyError> {
        Credential::verify_batch(&credentials).map_err(|(_, e)| e)?;
        let mut s = Self::new(identity);
        for c in credentials {
            s.check_scope(&c)?;
            s.received.insert((c.issued_at_ms(), c.id()), c);
        }
        s.recompute();
        Ok(s)
    }

    /// The identity key.
    pub fn identity(&self) -> PublicKey {
        self.identity
    }

    fn check_scope(&self, c: &Credential) -> Result<(), VerifyError> {
        match c.claim().identity_scope() {
            Some(i) if i == *self.identity.as_bytes() => Ok(()),
            Some(_) => Err(VerifyError::WrongKind("about another identity".into())),
            None => Err(VerifyError::WrongKind("not an identity credential".into())),
        }
    }

    /// Adds a credential (checking its signature) and says what became of it.
    pub fn apply(&mut self, c: Credential) -> Result<Applied, VerifyError> {
        let key = (c.issued_at_ms(), c.id());
        if self.received.contains_key(&key) {
            return Ok(Applied::Duplicate);
        }
        c.verify_signature()?;
        self.check_scope(&c)?;
        let id = c.id();
        self.received.insert(key, c);
        self.recompute();
        match self.status.get(&id).cloned() {
            Some(Err(e)) => {
                // Refused for good (not merely waiting): do not keep it.
                self.received.remove(&key);
                Err(e)
            }
            Some(Ok(a)) => Ok(a),
            None => Ok(Applied::Pending),
        }
    }

    /// Why `c` is not (or not yet) valid here, if it is not.
    fn check(&self, c: &Credential) -> Result<(), VerifyError> {
        let me = *self.identity.as_bytes();
        if let Claim::IdentityGenesis { identity } = c.claim() {
            return if *identity == me && c.issuer() == me && c.parent().is_none() {
                Ok(())
            } else {
                Err(VerifyError::IssuerNotAuthorized(hex::encode(c.issuer())))
            };
        }
        if self.genesis.is_none() {
            return Err(VerifyError::UnknownParent("the identity's genesis".into()));
        }
        self.issuer_is_device_or_root(c).map(|_| ())
    }

    /// Checks that `c`'s issuer is this identity's root or one of its devices (authorized by
    /// `c.parent()`, not revoked when `c` was issued); returns the device, if it is one.
    pub fn issuer_is_device_or_root(&self, c: &Credential) -> Result<Option<&Device>, VerifyError> {
        let me = *self.identity.as_bytes();
        if c.issuer() == me && c.parent().is_none() {
            return Ok(None);
        }
        let Some(parent) = c.parent() else {
            return Err(VerifyError::IssuerNotAuthorized(hex::encode(c.issuer())));
        };
        match self.accepted.get(&parent).map(|p| p.claim()) {
            Some(Claim::AuthorizedDevice { identity, device }) if *identity == me && *device == c.issuer() => {
                let d = self.devices.get(device).ok_or_else(|| VerifyError::UnknownParent(parent.to_string()))?;
                if d.revoked_at_ms.is_some_and(|t| t <= c.issued_at_ms()) {
                    return Err(VerifyError::Revoked(hex::encode(c.issuer())));
                }
                Ok(Some(d))
            }
            Some(_) => Err(VerifyError::IssuerNotAuthorized(hex::encode(c.issuer()))),
            None => Err(VerifyError::UnknownParent(parent.to_string())),
        }
    }

    fn put(&mut self, c: &Credential) {
        match c.claim() {
            Claim::IdentityGenesis { .. } => {
                self.genesis.get_or_insert(c.id());
            }
            Claim::AuthorizedDevice { device, .. } => {
                if let Ok(key) = PublicKey::from_bytes(device) {
                    self.devices.entry(*device).or_insert(Device {
                        key,
                        authorized_by: c.id(),
                        label: None,
                        platform: None,
                        revoked_at_ms: None,
                    });
                }
            }
            Claim::IdentityProfile { display_name, .. } => {
                let said = (c.issued_at_ms(), c.id());
                if self.profile_said.is_none_or(|latest| said > latest) {
                    self.profile_said = Some(said);
                    self.profile = Some(display_name.clone());
                }
            }
            Claim::DeviceProfile { device, label, platform, .. } => {
                let said = (c.issued_at_ms(), c.id());
                if let Some(d) = self.devices.get_mut(device)
                    && self.labels_said.get(device).is_none_or(|latest| said > *latest)
                {
                    self.labels_said.insert(*device, said);
                    d.label = Some(label.clone());
                    d.platform = Some(platform.clone());
                }
            }
            Claim::Relay { addr, listed, .. } => {
                let said = (c.issued_at_ms(), c.id(), *listed);
                let latest = self.relays.entry(addr.clone()).or_insert(said);
                if (said.0, said.1) > (latest.0, latest.1) {
                    *latest = said;
                }
            }
            Claim::Revocation(Subject::Device { device, .. }) => {
                if let Some(d) = self.devices.get_mut(device) {
                    let t = c.issued_at_ms();
                    d.revoked_at_ms = Some(d.revoked_at_ms.map_or(t, |old| old.min(t)));
                }
            }
            _ => {}
        }
        self.accepted.insert(c.id(), c.clone());
    }

    fn recompute(&mut self) {
        self.genesis = None;
        self.devices.clear();
        self.profile = None;
        self.profile_said = None;
        self.labels_said.clear();
        self.relays.clear();
        self.accepted.clear();
        let received = std::mem::take(&mut self.received);
        let order: Vec<&Credential> = received.values().collect();
        self.status = settle(self, &order);
        self.received = received;
    }

    /// True once the genesis credential is in.
    pub fn exists(&self) -> bool {
        self.genesis.is_some()
    }

    /// The display name, if a profile was seen.
    pub fn display_name(&self) -> Option<&str> {
        self.profile.as_deref()
    }

    /// The relays the identity's devices reserve on (the latest statement about each address
    /// lists it), by address.
    pub fn relays(&self) -> Vec<String> {
        self.relays.iter().filter(|(_, (_, _, listed))| *listed).map(|(a, _)| a.clone()).collect()
    }

    /// Whether anything was ever said about this relay address (listed or removed).
    pub fn knows_relay(&self, addr: &str) -> bool {
        self.relays.contains_key(addr)
    }

    /// Every device ever authorized (revoked ones too, with their revocation time).
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.values()
    }

    /// Is `device` authorized now (not revoked)?
    pub fn is_active_device(&self, device: &PublicKey) -> bool {
        self.devices.get(device.as_bytes()).is_some_and(|d| d.revoked_at_ms.is_none())
    }

    /// The accepted credential with this id.
    pub fn accepted(&self, id: &CredentialId) -> Option<&Credential> {
        self.accepted.get(id)
    }

    /// Every credential received (accepted or waiting), in issue order: what a peer needs to
    /// verify this identity.
    pub fn credentials(&self) -> impl Iterator<Item = &Credential> {
        self.received.values()
    }

    /// What became of the credential with this id.
    pub fn status(&self, id: &CredentialId) -> Option<&Result<Applied, VerifyError>> {
        self.status.get(id)
    }
}

impl Settle for IdentityState {
    fn authorize(&self, c: &Credential) -> Result<(), VerifyError> {
        self.check(c)
    }
    fn accept(&mut self, c: &Credential) {
        self.put(c)
    }
    fn may_become_valid(e: &VerifyError) -> bool {
        matches!(e, VerifyError::UnknownParent(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyPair;

    struct Chain {
        root: KeyPair,
        devices: Vec<KeyPair>,
        creds: Vec<Credential>,
    }

    /// root -> device 0 -> device 1 -> device 2, each authorized by the previous.
    fn chain() -> Chain {
        let root = KeyPair::generate();
        let me = *root.public().as_bytes();
        let mut creds = vec![Credential::issue(Claim::IdentityGenesis { identity: me }, &root, None, 1)];
        let mut devices: Vec<KeyPair> = Vec::new();
        let mut parent: Option<CredentialId> = None;
        for i in 0..3u64 {
            let d = KeyPair::generate();
            let issuer = devices.last().unwrap_or(&root);
            let c = Credential::issue(
                Claim::AuthorizedDevice { identity: me, device: *d.public().as_bytes() },
                issuer,
                parent,
                10 + i,
            );
            parent = Some(c.id());
            creds.push(c);
            devices.push(d);
        }
        Chain { root, devices, creds }
    }

    #[test]
    fn a_device_chain_verifies_in_any_order_with_duplicates() -> Result<(), VerifyError> {
        let Chain { root, devices, creds } = chain();
        let forward = IdentityState::from_credentials(root.public(), creds.clone())?;
        assert_eq!(forward.devices().count(), 3);
        let mut reversed = IdentityState::new(root.public());
        for c in creds.iter().rev() {
            reversed.apply(c.clone())?;
        }
        assert_eq!(reversed.apply(creds[0].clone())?, Applied::Duplicate);
        assert_eq!(reversed.devices().count(), 3);
        assert!(devices.iter().all(|d| reversed.is_active_device(&d.public())));
        Ok(())
    }

    #[test]
    fn a_missing_link_leaves_the_rest_pending() -> Result<(), VerifyError> {
        let Chain { root, creds, devices } = chain();
        let mut s = IdentityState::new(root.public());
        assert_eq!(s.apply(creds[0].clone())?, Applied::Accepted);
        assert_eq!(s.apply(creds[3].clone())?, Applied::Pending);
        assert_eq!(s.apply(creds[2].clone())?, Applied::Pending);
        assert!(!s.is_active_device(&devices[2].public()));
        assert_eq!(s.apply(creds[1].clone())?, Applied::Accepted);
        assert!(s.is_active_device(&devices[2].public()));
        Ok(())
    }

    #[test]
    fn broken_chains_and_forgeries_are_refused() -> Result<(), VerifyError> {
        let Chain { root, creds, .. } = chain();
        let me = *root.public().as_bytes();
        let mut s = IdentityState::from_credentials(root.public(), creds.clone())?;
        // A stranger cannot authorize a device, whatever parent it cites.
        let stranger = KeyPair::generate();
        let fake = Credential::issue(
            Claim::AuthorizedDevice { identity: me, device: *stranger.public().as_bytes() },
            &stranger,
            Some(creds[1].id()),
            50,
        );
        assert!(matches!(s.apply(fake), Err(VerifyError::IssuerNotAuthorized(_))));
        // Claims about another identity do not belong here.
        let other = Credential::issue(Claim::IdentityGenesis { identity: [7; 32] }, &root, None, 1);
        assert!(matches!(s.apply(other), Err(VerifyError::WrongKind(_))));
        // A space credential is the wrong kind.
        let space = Credential::issue(Claim::SpaceGenesis { space: me }, &root, None, 1);
        assert!(matches!(s.apply(space), Err(VerifyError::WrongKind(_))));
        assert_eq!(s.devices().count(), 3);
        Ok(())
    }

    #[test]
    fn a_revoked_device_issues_nothing_new() -> Result<(), VerifyError> {
        let Chain { root, devices, creds } = chain();
        let me = *root.public().as_bytes();
        let mut s = IdentityState::from_credentials(root.public(), creds.clone())?;
        let revoke = Credential::issue(
            Claim::Revocation(Subject::Device { identity: me, device: *devices[0].public().as_bytes() }),
            &root,
            None,
            100,
        );
        assert_eq!(s.apply(revoke)?, Applied::Accepted);
        assert!(!s.is_active_device(&devices[0].public()));
        // What device 0 issued before the revocation stands (device 1 is still authorized)...
        assert!(s.is_active_device(&devices[1].public()));
        // ...what it issues afterwards does not.
        let late = Credential::issue(
            Claim::AuthorizedDevice { identity: me, device: [9; 32] },
            &devices[0],
            Some(creds[1].id()),
            200,
        );
        assert!(matches!(s.apply(late), Err(VerifyError::Revoked(_))));
        Ok(())
    }

    #[test]
    fn latest_profile_wins() -> Result<(), VerifyError> {
        let Chain { root, creds, .. } = chain();
        let me = *root.public().as_bytes();
        let mut s = IdentityState::from_credentials(root.public(), creds)?;
        s.apply(Credential::issue(Claim::IdentityProfile { identity: me, display_name: "B".into() }, &root, None, 30))?;
        s.apply(Credential::issue(Claim::IdentityProfile { identity: me, display_name: "A".into() }, &root, None, 20))?;
        assert_eq!(s.display_name(), Some("B"));
        Ok(())
    }
}
