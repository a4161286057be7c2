//! Admitting and removing: pairing a new device, admitting another identity to a space,
//! revoking a device, removing a member, leaving a space. Each writes the credentials that say
//! so (checked first against a copy of the state, so a refused one changes nothing) and
//! notifies the change listeners, through which NET replicates them.

use crate::credential::{Claim, Credential, Role, Subject, now_ms};
use crate::identity::IdentityState;
use crate::keys::{KeyPair, PublicKey};

use super::{DEVICE_KEY, Halo, HaloError, IdentityInfo, Inner, check_name};

/// The identity that some credential in `credentials` says `device` acts for (unchecked: the
/// caller verifies the chain).
fn identity_authorizing(credentials: &[Credential], device: &PublicKey) -> Option<PublicKey> {
    credentials.iter().find_map(|c| match c.claim() {
        Claim::AuthorizedDevice { identity, device: d } if d == device.as_bytes() => {
            PublicKey::from_bytes(identity).ok()
        }
        _ => None,
    })
}

impl Halo {
    /// The key this fresh profile's device uses while it joins an identity (its peer id in
    /// the pairing): made and kept in the keyring on the first call, and kept as the device
    /// key once admitted. On a profile with an identity, its device key.
    pub fn joining_device_key(&self) -> Result<KeyPair, HaloError> {
        if let Some(k) = self.device_key() {
            return Ok(k);
        }
        let key = KeyPair::generate();
        self.keyring.store(DEVICE_KEY, &key)?;
        Ok(key)
    }

    /// This identity's own credentials (genesis, devices, profiles): what a guest shows a host
    /// that admits it to a space.
    /// (The identity's relay list is its own devices' business: it is left out.)
    pub fn identity_credentials(&self) -> Result<Vec<Credential>, HaloError> {
        let inner = self.lock();
        let local = inner.local.as_ref().ok_or(HaloError::NoIdentity)?;
        Ok(inner
            .identities
            .get(&local.identity)
            .map(|i| i.credentials().filter(|c| !matches!(c.claim(), Claim::Relay { .. })).cloned().collect())
            .unwrap_or_default())
    }

    /// The relays this identity's devices reserve on (shared between them as credentials);
    /// none without an identity.
    pub fn relays(&self) -> Vec<String> {
        let inner = self.lock();
        inner.local.as_ref().and_then(|l| inner.identities.get(&l.identity)).map(|i| i.relays()).unwrap_or_default()
    }

    /// Whether the identity's relay list ever said anything about `addr` (listed or removed).
    pub fn knows_relay(&self, addr: &str) -> bool {
        let inner = self.lock();
        inner.local.as_ref().and_then(|l| inner.identities.get(&l.identity)).is_some_and(|i| i.knows_relay(addr))
    }

    /// Lists a relay for every device of this identity (`listed`) or takes it off the list,
    /// as a credential signed by this device. Returns whether the list changed (nothing is
    /// written when it would not). The caller checks that `addr` is a relay's multiaddr.
    pub fn set_relay(&self, addr: &str, listed: bool) -> Result<bool, HaloError> {
        check_name(addr)?;
        let writing = self.begin_write();
        let inner = self.lock();
        let local = inner.local.as_ref().ok_or(HaloError::NoIdentity)?;
        let identity = local.identity;
        let listed_now = inner.identities.get(&identity).is_some_and(|i| i.relays().iter().any(|a| a == addr));
        if listed_now == listed {
            return Ok(false);
        }
        let c = Self::issue_as_device(
            &inner,
            Claim::Relay { identity: *identity.as_bytes(), addr: addr.to_owned(), listed },
        )?;
        self.commit(writing, inner, vec![c], None)?;
        Ok(true)
    }

    /// Renames this device for every device of the identity and the members of its spaces: a
    /// device profile credential signed by this device (the latest one issued wins). Returns
    /// whether the name changed (nothing is written when it would not).
    pub fn set_device_label(&self, label: &str) -> Result<bool, HaloError> {
        let label = check_name(label)?;
        let writing = self.begin_write();
        let inner = self.lock();
        let local = inner.local.as_ref().ok_or(HaloError::NoIdentity)?;
        let (identity, device) = (local.identity, local.device.public());
        let current = inner
            .identities
            .get(&identity)
            .and_then(|i| i.devices().find(|d| d.key == device))
            .and_then(|d| d.label.clone());
        if current.as_deref() == Some(label) {
            return Ok(false);
        }
        let c = Self::issue_as_device(
            &inner,
            Claim::DeviceProfile {
                identity: *identity.as_bytes(),
                device: *device.as_bytes(),
                label: label.to_owned(),
                platform: std::env::consts::OS.to_owned(),
            },
        )?;
        self.commit(writing, inner, vec![c], None)?;
        Ok(true)
    }

    /// Issues a credential as this device (citing its own authorization).
    fn issue_as_device(inner: &Inner, claim: Claim) -> Result<Credential, HaloError> {
        let local = inner.local.as_ref().ok_or(HaloError::NoIdentity)?;
        let auth = inner
            .identities
            .get(&local.identity)
            .and_then(|i| i.devices().find(|d| d.key == local.device.public() && d.revoked_at_ms.is_none()))
            .map(|d| d.authorized_by)
            .ok_or_else(|| HaloError::Denied("this device is no longer authorized".into()))?;
        // Later than anything already said about the same scope (and than anything this
        // process issued): a credential settles in issue order, so "admit, then remove" made
        // within one millisecond must not come out the other way round.
        static LAST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let scope_latest = |creds: Vec<Credential>| creds.iter().map(Credential::issued_at_ms).max().unwrap_or(0);
        let latest = match (claim.space_scope(), claim.identity_scope()) {
            (Some(s), _) => PublicKey::from_bytes(&s)
                .ok()
                .and_then(|s| inner.spaces.get(&s))
                .map(|s| scope_latest(s.credentials()))
                .unwrap_or(0),
            (_, Some(i)) => PublicKey::from_bytes(&i)
                .ok()
                .and_then(|i| inner.identities.get(&i))
                .map(|i| scope_latest(i.credentials().cloned().collect()))
                .unwrap_or(0),
            _ => 0,
        };
        let floor = latest.max(LAST.load(std::sync::atomic::Ordering::SeqCst)) + 1;
        let t = now_ms().max(floor);
        LAST.fetch_max(t, std::sync::atomic::Ordering::SeqCst);
        Ok(Credential::issue(claim, &local.device, Some(auth), t))
    }

    /// Writes credentials this profile made or takes for itself: all of them are checked on a
    /// copy of the state first (any refused: nothing is written), then stored in one
    /// transaction (with `local`, which identity and device this profile now is).
    fn commit(
        &self,
        writing: std::sync::MutexGuard<'_, ()>,
        inner: std::sync::MutexGuard<'_, Inner>,
        creds: Vec<Credential>,
        local: Option<super::Local>,
    ) -> Result<(), HaloError> {
        let mut trial = Inner { local: None, identities: inner.identities.clone(), spaces: inner.spaces.clone() };
        for c in &creds {
            match Self::route(&mut trial, c.clone()) {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(HaloError::Denied(e.to_string())),
                None => return Err(HaloError::Denied("not an identity or space credential".into())),
            }
        }
        // The state is let go across the store's commit (readers do not wait for the disk);
        // `writing` keeps other writers out until the credentials are in the state.
        drop(inner);
        let keys = local.as_ref().map(|l| (*l.identity.as_bytes(), *l.device.public().as_bytes()));
        super::store::write(&self.db, &creds, keys)?;
        let mut inner = self.lock();
        if local.is_some() {
            inner.local = local;
        }
        for c in creds {
            Self::route(&mut inner, c);
        }
        self.publish_roles(&inner);
        drop((inner, writing));
        self.notify();
        Ok(())
    }

    /// Pairing, host side: authorizes `device` for this identity (nothing new if it already
    /// is) and returns everything the new device needs: the identity's credentials and those
    /// of every space this identity is a member of.
    pub fn admit_device(&self, device: &PublicKey) -> Result<Vec<Credential>, HaloError> {
        let writing = self.begin_write();
        let inner = self.lock();
        let local = inner.local.as_ref().ok_or(HaloError::NoIdentity)?;
        let identity = local.identity;
        let state = inner.identities.get(&identity).ok_or(HaloError::NoIdentity)?;
        if state.devices().any(|d| d.key == *device && d.revoked_at_ms.is_some()) {
            return Err(HaloError::Denied(format!("device {device} was revoked")));
        }
        if !state.is_active_device(device) {
            let c = Self::issue_as_device(
                &inner,
                Claim::AuthorizedDevice { identity: *identity.as_bytes(), device: *device.as_bytes() },
            )?;
            self.commit(writing, inner, vec![c], None)?;
        } else {
            drop(inner);
        }
        let inner = self.lock();
        let mut out: Vec<Credential> =
            inner.identities.get(&identity).map(|i| i.credentials().cloned().collect()).unwrap_or_default();
        for s in inner.spaces.values() {
            if s.exists() && s.role_of(&identity).is_some_and(|r| r != Role::Removed) {
                out.extend(s.credentials());
            }
        }
        Ok(out)
    }

    /// Pairing, guest side: takes this fresh profile into the identity whose credentials the
    /// host sent, once they prove this device ([`Halo::joining_device_key`]) is authorized;
    /// names the device `label`. Spaces' credentials in the batch are kept too.
    pub fn adopt_identity(&self, credentials: Vec<Credential>, label: &str) -> Result<IdentityInfo, HaloError> {
        let label = check_name(label)?;
        let writing = self.begin_write();
        if let Some(l) = &self.lock().local {
            return Err(HaloError::IdentityExists(l.identity.to_string()));
        }
        let device = self
            .keyring
            .load(DEVICE_KEY)?
            .ok_or_else(|| HaloError::NotAdmitted("this profile made no key to join with".into()))?;
        let me = device.public();
        let identity = identity_authorizing(&credentials, &me)
            .ok_or_else(|| HaloError::NotAdmitted("no credential authorizes this device".into()))?;
        let own: Vec<Credential> =
            credentials.iter().filter(|c| c.claim().identity_scope() == Some(*identity.as_bytes())).cloned().collect();
        let state = IdentityState::from_credentials(identity, own)?;
        let Some(auth) = state.devices().find(|d| d.key == me && d.revoked_at_ms.is_none()).map(|d| d.authorized_by)
        else {
            return Err(HaloError::NotAdmitted("the credentials do not authorize this device".into()));
        };
        let profile = Credential::issue(
            Claim::DeviceProfile {
                identity: *identity.as_bytes(),
                device: *me.as_bytes(),
                label: label.to_owned(),
                platform: std::env::consts::OS.to_owned(),
            },
            &device,
            Some(auth),
            now_ms(),
        );
        // The identity's credentials must all be valid; other spaces' ones are kept when they
        // are (a space's may wait for credentials still to come by replication).
        let mut mine: Vec<Credential> =
            credentials.iter().filter(|c| c.claim().identity_scope().is_some()).cloned().collect();
        mine.push(profile);
        let others: Vec<Credential> =
            credentials.into_iter().filter(|c| c.claim().identity_scope().is_none()).collect();
        let local = super::Local::new(identity, device)?;
        self.commit(writing, self.lock(), mine, Some(local))?;
        self.apply_all(others)?;
        self.identity().ok_or(HaloError::NoIdentity)
    }

    /// Sharing, host side: admits the identity whose device `guest` is (proved by
    /// `credentials`, its identity chain) to `space` with `role`. A member already (and not
    /// removed) keeps its role. Returns the identity and the space's credentials for it.
    pub fn admit_member(
        &self,
        space: &PublicKey,
        role: Role,
        guest: &PublicKey,
        credentials: Vec<Credential>,
    ) -> Result<(PublicKey, Vec<Credential>), HaloError> {
        let identity = identity_authorizing(&credentials, guest)
            .ok_or_else(|| HaloError::NotAdmitted("the guest did not prove which identity it acts for".into()))?;
        let chain: Vec<Credential> =
            credentials.into_iter().filter(|c| c.claim().identity_scope() == Some(*identity.as_bytes())).collect();
        let state = IdentityState::from_credentials(identity, chain.clone())?;
        if !state.is_active_device(guest) {
            return Err(HaloError::NotAdmitted("the guest's device is not authorized by its identity".into()));
        }
        let writing = self.begin_write();
        let inner = self.lock();
        let s =
            inner.spaces.get(space).filter(|s| s.exists()).ok_or_else(|| HaloError::UnknownSpace(space.to_string()))?;
        let mut creds = chain;
        if s.role_of(&identity).is_none_or(|r| r == Role::Removed) {
            creds.push(Self::issue_as_device(
                &inner,
                Claim::SpaceMember { space: *space.as_bytes(), identity: *identity.as_bytes(), role },
            )?);
        }
        // Identity credentials already held are duplicates: keep only the new ones.
        let fresh: Vec<Credential> = creds
            .into_iter()
            .filter(|c| {
                let held = c
                    .claim()
                    .identity_scope()
                    .and_then(|i| PublicKey::from_bytes(&i).ok())
                    .and_then(|i| inner.identities.get(&i).map(|st| st.credentials().any(|x| x.id() == c.id())));
                held != Some(true)
            })
            .collect();
        self.commit(writing, inner, fresh, None)?;
        Ok((identity, self.space_credentials(space)))
    }

    /// Revokes another device of this identity: from now on it is no device of ours, and
    /// peers give it nothing new.
    pub fn revoke_device(&self, device: &PublicKey) -> Result<(), HaloError> {
        let writing = self.begin_write();
        let inner = self.lock();
        let local = inner.local.as_ref().ok_or(HaloError::NoIdentity)?;
        if local.device.public() == *device {
            return Err(HaloError::Denied("a device cannot revoke itself; revoke it from another device".into()));
        }
        let identity = local.identity;
        if !inner.identities.get(&identity).is_some_and(|i| i.is_active_device(device)) {
            return Err(HaloError::UnknownDevice(device.to_string()));
        }
        let c = Self::issue_as_device(
            &inner,
            Claim::Revocation(Subject::Device { identity: *identity.as_bytes(), device: *device.as_bytes() }),
        )?;
        self.commit(writing, inner, vec![c], None)
    }

    /// Removes another member from a space (owners and admins only; an admin cannot remove an
    /// owner).
    pub fn remove_member(&self, space: &PublicKey, member: &PublicKey) -> Result<(), HaloError> {
        let writing = self.begin_write();
        let inner = self.lock();
        let local = inner.local.as_ref().ok_or(HaloError::NoIdentity)?;
        if local.identity == *member {
            return Err(HaloError::Denied("to remove yourself, leave the space".into()));
        }
        let s =
            inner.spaces.get(space).filter(|s| s.exists()).ok_or_else(|| HaloError::UnknownSpace(space.to_string()))?;
        if s.role_of(member).is_none_or(|r| r == Role::Removed) {
            return Err(HaloError::Denied(format!("{member} is not a member of this space")));
        }
        match s.role_of(&local.identity) {
            Some(Role::Owner | Role::Admin) => {}
            _ => return Err(HaloError::Denied("only an owner or admin can remove members".into())),
        }
        let c = Self::issue_as_device(
            &inner,
            Claim::Revocation(Subject::Member { space: *space.as_bytes(), identity: *member.as_bytes() }),
        )?;
        self.commit(writing, inner, vec![c], None)
    }

    /// Leaves a space: this identity is no member from now on (on all its devices, once
    /// replicated); the other members keep the space.
    pub fn leave_space(&self, space: &PublicKey) -> Result<(), HaloError> {
        let writing = self.begin_write();
        let inner = self.lock();
        let local = inner.local.as_ref().ok_or(HaloError::NoIdentity)?;
        let me = local.identity;
        let s =
            inner.spaces.get(space).filter(|s| s.exists()).ok_or_else(|| HaloError::UnknownSpace(space.to_string()))?;
        if s.role_of(&me).is_none_or(|r| r == Role::Removed) {
            return Err(HaloError::UnknownSpace(space.to_string()));
        }
        let c = Self::issue_as_device(
            &inner,
            Claim::Revocation(Subject::Member { space: *space.as_bytes(), identity: *me.as_bytes() }),
        )?;
        self.commit(writing, inner, vec![c], None)
    }

    /// This identity's role in a space (`None`: not a member, or removed).
    pub fn my_role(&self, space: &PublicKey) -> Option<Role> {
        // Fresh from the state when it is free; while a writer holds it (a peer's batch of
        // credentials), as of the last change: the UI asks every frame and must not wait.
        let inner = match self.inner.try_lock() {
            Ok(inner) => inner,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                return self.my_roles.lock().unwrap_or_else(|e| e.into_inner()).get(space).copied();
            }
        };
        let me = inner.local.as_ref()?.identity;
        inner.spaces.get(space)?.role_of(&me).filter(|r| *r != Role::Removed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::keyring::Keyring;

    fn open(dir: &std::path::Path) -> Halo {
        let db = redb::Database::create(dir.join("p.redb")).unwrap_or_else(|e| panic!("{e}"));
        Halo::open(Arc::new(db), Keyring::open(dir.join("keys")).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_new_space_is_ours_even_while_a_writer_holds_the_state() -> Result<(), HaloError> {
        let dir = tmp();
        let halo = open(dir.path());
        halo.create_identity("Ada", "laptop")?;
        let space = KeyPair::generate();
        halo.add_space(&space)?;
        // While the state is held (as a peer's batch of credentials holds it), my_role
        // answers from the roles published at the last change: the new space is there.
        let held = halo.lock();
        assert_eq!(halo.my_role(&space.public()), Some(Role::Owner));
        drop(held);
        assert_eq!(halo.my_role(&space.public()), Some(Role::Owner));
        Ok(())
    }

    #[test]
    fn pairing_gives_the_new_device_the_identity_and_its_spaces() -> Result<(), HaloError> {
        let (a, b) = (tmp(), tmp());
        let host = open(a.path());
        let info = host.create_identity("Ada", "laptop")?;
        let space = KeyPair::generate();
        host.add_space(&space)?;
        let guest = open(b.path());
        let key = guest.joining_device_key()?;
        assert_eq!(guest.joining_device_key()?.public(), key.public(), "the joining key is kept");
        let creds = host.admit_device(&key.public())?;
        let joined = guest.adopt_identity(creds, "phone")?;
        assert_eq!(joined.identity_key, info.identity_key);
        assert_eq!(joined.device_key, key.public());
        assert_eq!(joined.devices.len(), 2);
        assert_eq!(guest.my_role(&space.public()), Some(Role::Owner));
        // The guest's new device profile reaches the host by replication; both list 2 devices.
        host.apply_all(guest.identity_credentials()?)?;
        assert_eq!(host.identity().map(|i| i.devices.len()), Some(2));
        // It survives a restart.
        drop(guest);
        let guest = open(b.path());
        assert_eq!(guest.identity().map(|i| i.identity_key), Some(info.identity_key));
        Ok(())
    }

    #[test]
    fn a_device_renamed_is_renamed_on_the_identity_s_other_devices_and_the_latest_name_wins() -> Result<(), HaloError> {
        let (a, b) = (tmp(), tmp());
        let laptop = open(a.path());
        assert!(matches!(laptop.set_device_label("x"), Err(HaloError::NoIdentity)));
        let info = laptop.create_identity("Ada", "laptop")?;
        let phone = open(b.path());
        let key = phone.joining_device_key()?;
        phone.adopt_identity(laptop.admit_device(&key.public())?, "phone")?;
        let name_of = |h: &Halo, d: &PublicKey| {
            h.identity().and_then(|i| i.devices.into_iter().find(|x| x.device_key == *d)).map(|x| x.name)
        };
        assert!(laptop.set_device_label("  Work laptop ")?);
        assert!(!laptop.set_device_label("Work laptop")?, "the same name writes nothing");
        assert!(matches!(laptop.set_device_label("   "), Err(HaloError::InvalidName(_))));
        assert_eq!(name_of(&laptop, &info.device_key).as_deref(), Some("Work laptop"));
        let replicate = |from: &Halo, to: &Halo| -> Result<usize, HaloError> {
            to.apply_all(from.identity_state().map(|i| i.credentials().cloned().collect()).unwrap_or_default())
        };
        replicate(&laptop, &phone)?;
        assert_eq!(name_of(&phone, &info.device_key).as_deref(), Some("Work laptop"));
        // Renamed again: the later name wins wherever the credentials arrive, in any order.
        assert!(laptop.set_device_label("Old laptop")?);
        replicate(&laptop, &phone)?;
        assert_eq!(name_of(&phone, &info.device_key).as_deref(), Some("Old laptop"));
        drop(laptop);
        assert_eq!(name_of(&open(a.path()), &info.device_key).as_deref(), Some("Old laptop"), "kept on disk");
        Ok(())
    }

    #[test]
    fn a_new_name_wins_over_the_first_whatever_order_they_settle_in() -> Result<(), HaloError> {
        // The first device profile is issued in the same millisecond as the authorization it
        // cites; half the time it sorts before it and settles in a later round than a rename
        // issued afterwards. Twelve fresh identities make that order all but certain to occur.
        for _ in 0..12 {
            let dir = tmp();
            let info = open(dir.path()).create_identity("Ada", "first")?;
            open(dir.path()).set_device_label("second")?;
            let reopened = open(dir.path());
            let name =
                reopened.identity().and_then(|i| i.devices.into_iter().find(|d| d.device_key == info.device_key));
            assert_eq!(name.map(|d| d.name).as_deref(), Some("second"));
        }
        Ok(())
    }

    #[test]
    fn the_relay_list_is_shared_by_the_identity_s_devices_and_the_latest_word_wins() -> Result<(), HaloError> {
        const R1: &str = "/ip4/203.0.113.9/udp/4001/quic-v1/p2p/12D3KooWDFmdaRwqgVNr9iMPL5vqiZr15KFdEtgASuLeRXNE5Du9";
        const R2: &str = "/ip4/198.51.100.7/tcp/4001/p2p/12D3KooWDFmdaRwqgVNr9iMPL5vqiZr15KFdEtgASuLeRXNE5Du9";
        let (a, b) = (tmp(), tmp());
        let laptop = open(a.path());
        assert!(matches!(laptop.set_relay(R1, true), Err(HaloError::NoIdentity)));
        laptop.create_identity("Ada", "laptop")?;
        let phone = open(b.path());
        let key = phone.joining_device_key()?;
        phone.adopt_identity(laptop.admit_device(&key.public())?, "phone")?;
        // The laptop lists two relays; saying it again writes nothing.
        assert!(laptop.set_relay(R1, true)?);
        assert!(laptop.set_relay(R2, true)?);
        assert!(!laptop.set_relay(R1, true)?, "already listed");
        assert_eq!(laptop.relays(), [R2, R1]);
        // Others are not shown the list (a host, a relay).
        assert!(laptop.identity_credentials()?.iter().all(|c| !matches!(c.claim(), Claim::Relay { .. })));
        // Replication between the devices carries it.
        let replicate = |from: &Halo, to: &Halo| -> Result<usize, HaloError> {
            to.apply_all(from.identity_state().map(|i| i.credentials().cloned().collect()).unwrap_or_default())
        };
        replicate(&laptop, &phone)?;
        assert_eq!(phone.relays(), [R2, R1]);
        // The phone removes R1; the laptop, later, lists it again: the later word wins on both.
        assert!(phone.set_relay(R1, false)?);
        assert!(!phone.set_relay(R1, false)?, "already off the list");
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(!laptop.set_relay(R1, true)?, "the laptop has not heard of the removal yet");
        replicate(&phone, &laptop)?;
        assert_eq!(laptop.relays(), [R2]);
        assert!(laptop.set_relay(R1, true)?);
        replicate(&laptop, &phone)?;
        assert_eq!(phone.relays(), laptop.relays());
        assert_eq!(phone.relays(), [R2, R1]);
        assert!(phone.knows_relay(R1) && !phone.knows_relay("/ip4/192.0.2.1/tcp/1"));
        // The list survives a restart.
        drop(phone);
        assert_eq!(open(b.path()).relays(), [R2, R1]);
        Ok(())
    }

    #[test]
    fn adopting_needs_credentials_for_this_device() -> Result<(), HaloError> {
        let (a, b) = (tmp(), tmp());
        let host = open(a.path());
        host.create_identity("Ada", "laptop")?;
        let guest = open(b.path());
        guest.joining_device_key()?;
        let other = KeyPair::generate();
        let creds = host.admit_device(&other.public())?;
        assert!(matches!(guest.adopt_identity(creds, "phone"), Err(HaloError::NotAdmitted(_))));
        assert!(guest.identity().is_none());
        Ok(())
    }

    #[test]
    fn sharing_revoking_removing_leaving() -> Result<(), HaloError> {
        let (a, b, c) = (tmp(), tmp(), tmp());
        let ada = open(a.path());
        ada.create_identity("Ada", "laptop")?;
        let bob = open(b.path());
        let bob_info = bob.create_identity("Bob", "desk")?;
        let space = KeyPair::generate();
        ada.add_space(&space)?;
        let id = space.public();
        let (who, creds) = ada.admit_member(&id, Role::Reader, &bob_info.device_key, bob.identity_credentials()?)?;
        assert_eq!(who, bob_info.identity_key);
        bob.apply_all(creds)?;
        assert_eq!(bob.my_role(&id), Some(Role::Reader));
        // Again: nothing changes (the role stays).
        ada.admit_member(&id, Role::Editor, &bob_info.device_key, bob.identity_credentials()?)?;
        assert_eq!(ada.space_state(&id).and_then(|s| s.role_of(&who)), Some(Role::Reader));
        // A reader cannot remove anyone; an impostor device cannot be admitted.
        assert!(matches!(
            bob.remove_member(&id, &ada.identity().map(|i| i.identity_key).unwrap_or(who)),
            Err(HaloError::Denied(_))
        ));
        let stranger = KeyPair::generate().public();
        assert!(matches!(
            ada.admit_member(&id, Role::Editor, &stranger, bob.identity_credentials()?),
            Err(HaloError::NotAdmitted(_))
        ));
        // Bob leaves; his leaving is valid for Ada too.
        bob.leave_space(&id)?;
        assert_eq!(bob.my_role(&id), None);
        ada.apply_all(bob.space_credentials(&id))?;
        assert_eq!(ada.space_state(&id).and_then(|s| s.role_of(&who)), Some(Role::Removed));
        // Ada removes a member she re-admitted.
        ada.admit_member(&id, Role::Editor, &bob_info.device_key, bob.identity_credentials()?)?;
        assert_eq!(ada.space_state(&id).and_then(|s| s.role_of(&who)), Some(Role::Editor));
        ada.remove_member(&id, &who)?;
        assert_eq!(ada.space_state(&id).and_then(|s| s.role_of(&who)), Some(Role::Removed));
        // Revoking a device of ours.
        let phone = open(c.path());
        let key = phone.joining_device_key()?;
        phone.adopt_identity(ada.admit_device(&key.public())?, "phone")?;
        assert!(matches!(
            ada.revoke_device(&ada.identity().map(|i| i.device_key).unwrap_or(key.public())),
            Err(HaloError::Denied(_))
        ));
        ada.revoke_device(&key.public())?;
        assert_eq!(ada.identity().map(|i| i.devices.len()), Some(1));
        assert!(matches!(ada.revoke_device(&key.public()), Err(HaloError::UnknownDevice(_))));
        assert!(matches!(ada.admit_device(&key.public()), Err(HaloError::Denied(_))));
        Ok(())
    }
}
