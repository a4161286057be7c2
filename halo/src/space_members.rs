//! `SpaceState`: a space's members and their roles, from its credentials in any order.
//!
//! The space key signs the genesis and the creator's owner membership; after that, members
//! are admitted, changed and removed by a device of an owner or admin, which cites its own
//! device authorization as parent. The members' identity credentials travel with the space's,
//! so any holder of the genesis can check every chain. Like `IdentityState`, the state is
//! recomputed from everything received, in a fixed order: delivery order never matters.

use std::collections::{BTreeMap, HashMap};

use crate::credential::{Claim, Credential, CredentialId, Key32, Role, Subject, VerifyError};
use crate::identity::{Applied, IdentityState};
use crate::keys::PublicKey;
use crate::settle::{Settle, settle};

/// A member of a space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's identity.
    pub identity: PublicKey,
    /// Its current role (`Removed` once removed).
    pub role: Role,
    /// Its name in this space, if a member profile was seen (else its identity's name).
    pub display_name: Option<String>,
}

/// The state of one space's membership.
#[derive(Debug, Clone)]
pub struct SpaceState {
    space: PublicKey,
    received: BTreeMap<(u64, CredentialId), Credential>,
    identities: HashMap<Key32, IdentityState>,
    /// Member keys already checked to be curve points (recomputing meets each again; the
    /// check is the costly part of a recompute with many members).
    keys: HashMap<Key32, PublicKey>,
    // Derived by `recompute`:
    genesis: Option<CredentialId>,
    members: BTreeMap<Key32, Member>,
    status: HashMap<CredentialId, Result<Applied, VerifyError>>,
}

impl SpaceState {
    /// A space with no credentials yet.
    pub fn new(space: PublicKey) -> Self {
        Self {
            space,
            received: BTreeMap::new(),
            identities: HashMap::new(),
            keys: HashMap::new(),
            genesis: None,
            members: BTreeMap::new(),
            status: HashMap::new(),
        }
    }

    /// The space id.
    pub fn space(&self) -> PublicKey {
        self.space
    }

    /// Adds a space credential, or an identity credential of a (would-be) member.
    pub fn apply(&mut self, c: Credential) -> Result<Applied, VerifyError> {
        if let Some(identity) = c.claim().identity_scope() {
            let key = PublicKey::from_bytes(&identity).map_err(|e| VerifyError::Malformed(e.to_string()))?;
            let state = self.identities.entry(identity).or_insert_with(|| IdentityState::new(key));
            let r = state.apply(c);
            // A device authorization may unblock a space credential.
            self.recompute();
            return r;
        }
        match c.claim().space_scope() {
            Some(s) if s == *self.space.as_bytes() => {}
            Some(_) => return Err(VerifyError::WrongKind("about another space".into())),
            None => return Err(VerifyError::WrongKind("not a space credential".into())),
        }
        let key = (c.issued_at_ms(), c.id());
        if self.received.contains_key(&key) {
            return Ok(Applied::Duplicate);
        }
        c.verify_signature()?;
        let id = c.id();
        self.received.insert(key, c);
        self.recompute();
        match self.status.get(&id).cloned() {
            Some(Err(e)) => {
                // Keep refused credentials only from known devices: a later role change may
                // still make them valid, and strangers cannot fill the store.
                if !self.is_known_device(&self.received[&key].issuer()) {
                    self.received.remove(&key);
                }
                Err(e)
            }
            Some(Ok(a)) => Ok(a),
            None => Ok(Applied::Pending),
        }
    }

    fn is_known_device(&self, key: &Key32) -> bool {
        PublicKey::from_bytes(key).is_ok_and(|k| self.identities.values().any(|i| i.is_active_device(&k)))
    }

    /// The identity whose device issued `c` (citing its authorization as parent), checked.
    fn issuing_identity(&self, c: &Credential) -> Result<Key32, VerifyError> {
        let parent = c.parent().ok_or_else(|| VerifyError::IssuerNotAuthorized(hex::encode(c.issuer())))?;
        for (identity, state) in &self.identities {
            if state.accepted(&parent).is_some() {
                let device = state.issuer_is_device_or_root(c)?;
                return match device {
                    Some(_) => Ok(*identity),
                    None => Err(VerifyError::IssuerNotAuthorized(hex::encode(c.issuer()))),
                };
            }
        }
        Err(VerifyError::UnknownParent(parent.to_string()))
    }

    fn check(&self, c: &Credential) -> Result<(), VerifyError> {
        let space = *self.space.as_bytes();
        let by_space_key = c.issuer() == space && c.parent().is_none();
        if let Claim::SpaceGenesis { .. } = c.claim() {
            return if by_space_key { Ok(()) } else { Err(VerifyError::IssuerNotAuthorized(hex::encode(c.issuer()))) };
        }
        if self.genesis.is_none() {
            return Err(VerifyError::UnknownParent("the space's genesis".into()));
        }
        match c.claim() {
            Claim::SpaceMember { identity: target, role, .. } => self.may_manage(c, by_space_key, target, *role),
            Claim::Revocation(Subject::Member { identity: target, .. }) => {
                self.may_manage(c, by_space_key, target, Role::Removed)
            }
            Claim::MemberProfile { identity, .. } => {
                if self.issuing_identity(c)? == *identity {
                    Ok(())
                } else {
                    Err(VerifyError::IssuerNotAuthorized(hex::encode(c.issuer())))
                }
            }
            _ => Err(VerifyError::WrongKind("not a space credential".into())),
        }
    }

    /// May `c`'s issuer give `target` the role `role`? The space key may; an owner's device may;
    /// an admin's device may, except for owners and making owners.
    fn may_manage(&self, c: &Credential, by_space_key: bool, target: &Key32, role: Role) -> Result<(), VerifyError> {
        if by_space_key {
            return Ok(());
        }
        let issuer = self.issuing_identity(c)?;
        // Any member may leave: remove itself.
        if role == Role::Removed && issuer == *target && self.members.contains_key(target) {
            return Ok(());
        }
        let target_role = self.members.get(target).map(|m| m.role);
        match self.members.get(&issuer).map(|m| m.role) {
            Some(Role::Owner) => Ok(()),
            Some(Role::Admin) if role != Role::Owner && target_role != Some(Role::Owner) => Ok(()),
            _ => Err(VerifyError::IssuerNotAuthorized(hex::encode(c.issuer()))),
        }
    }

    fn put(&mut self, c: &Credential) {
        match c.claim() {
            Claim::SpaceGenesis { .. } => {
                self.genesis.get_or_insert(c.id());
            }
            Claim::SpaceMember { identity, role, .. } => self.set_role(identity, *role),
            Claim::Revocation(Subject::Member { identity, .. }) => self.set_role(identity, Role::Removed),
            Claim::MemberProfile { identity, display_name, .. } => {
                if let Some(m) = self.members.get_mut(identity) {
                    m.display_name = Some(display_name.clone());
                }
            }
            _ => {}
        }
    }

    fn set_role(&mut self, identity: &Key32, role: Role) {
        let key = match self.keys.get(identity) {
            Some(k) => *k,
            None => {
                let Ok(k) = PublicKey::from_bytes(identity) else { return };
                self.keys.insert(*identity, k);
                k
            }
        };
        self.members.entry(*identity).or_insert(Member { identity: key, role, display_name: None }).role = role;
    }

    fn recompute(&mut self) {
        self.genesis = None;
        self.members.clear();
        let received = std::mem::take(&mut self.received);
        let order: Vec<&Credential> = received.values().collect();
        self.status = settle(self, &order);
        self.received = received;
    }

    /// True once the genesis is in.
    pub fn exists(&self) -> bool {
        self.genesis.is_some()
    }

    /// Members, removed ones included (with role `Removed`).
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    /// The current role of an identity (`None`: never a member).
    pub fn role_of(&self, identity: &PublicKey) -> Option<Role> {
        self.members.get(identity.as_bytes()).map(|m| m.role)
    }

    /// The member (identity and role) a device acts for, if it is an active device of a
    /// member that has not been removed.
    pub fn member_of_device(&self, device: &PublicKey) -> Option<(PublicKey, Role)> {
        self.members.values().find_map(|m| {
            let active = self.identities.get(m.identity.as_bytes()).is_some_and(|i| i.is_active_device(device));
            (active && m.role != Role::Removed).then_some((m.identity, m.role))
        })
    }

    /// The identity state of a member (or would-be member) known here.
    pub fn identity(&self, identity: &PublicKey) -> Option<&IdentityState> {
        self.identities.get(identity.as_bytes())
    }

    /// Every credential held: the space's and its members' identities', for a peer to check.
    pub fn credentials(&self) -> Vec<Credential> {
        let mut out: Vec<Credential> = self.identities.values().flat_map(|i| i.credentials().cloned()).collect();
        out.extend(self.received.values().cloned());
        out
    }
}

impl Settle for SpaceState {
    fn authorize(&self, c: &Credential) -> Result<(), VerifyError> {
        self.check(c)
    }
    fn accept(&mut self, c: &Credential) {
        self.put(c)
    }
    /// A missing parent may arrive; an issuer not authorized now may become so once an
    /// earlier-issued role grant is accepted in a later round.
    fn may_become_valid(e: &VerifyError) -> bool {
        matches!(e, VerifyError::UnknownParent(_) | VerifyError::IssuerNotAuthorized(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyPair;
    use crate::testing::Person;

    fn member(space: &KeyPair, by: &Person, who: &Person, role: Role, at: u64) -> Credential {
        Credential::issue(
            Claim::SpaceMember { space: *space.public().as_bytes(), identity: who.key(), role },
            &by.device,
            Some(by.auth()),
            at,
        )
    }

    fn space_with_owner() -> (KeyPair, Person, Vec<Credential>) {
        let space = KeyPair::generate();
        let owner = Person::new();
        let s = *space.public().as_bytes();
        let mut creds = owner.creds.clone();
        creds.push(Credential::issue(Claim::SpaceGenesis { space: s }, &space, None, 3));
        creds.push(Credential::issue(
            Claim::SpaceMember { space: s, identity: owner.key(), role: Role::Owner },
            &space,
            None,
            4,
        ));
        (space, owner, creds)
    }

    #[test]
    fn owner_admits_members_in_any_order() -> Result<(), VerifyError> {
        let (space, owner, mut creds) = space_with_owner();
        let guest = Person::new();
        creds.extend(guest.creds.clone());
        creds.push(member(&space, &owner, &guest, Role::Editor, 10));
        for order in [creds.clone(), creds.iter().rev().cloned().collect()] {
            let mut s = SpaceState::new(space.public());
            for c in order {
                s.apply(c)?;
            }
            assert_eq!(s.role_of(&guest.root.public()), Some(Role::Editor));
            assert_eq!(s.member_of_device(&guest.device.public()), Some((guest.root.public(), Role::Editor)));
            assert_eq!(s.member_of_device(&KeyPair::generate().public()), None);
        }
        Ok(())
    }

    #[test]
    fn non_admins_cannot_admit_and_admins_cannot_touch_owners() -> Result<(), VerifyError> {
        let (space, owner, creds) = space_with_owner();
        let (editor, admin, outsider) = (Person::new(), Person::new(), Person::new());
        let mut s = SpaceState::new(space.public());
        for c in creds.into_iter().chain(editor.creds.clone()).chain(admin.creds.clone()).chain(outsider.creds.clone())
        {
            s.apply(c)?;
        }
        s.apply(member(&space, &owner, &editor, Role::Editor, 10))?;
        s.apply(member(&space, &owner, &admin, Role::Admin, 11))?;
        assert!(matches!(
            s.apply(member(&space, &editor, &outsider, Role::Editor, 12)),
            Err(VerifyError::IssuerNotAuthorized(_))
        ));
        assert_eq!(s.role_of(&outsider.root.public()), None);
        assert!(matches!(
            s.apply(member(&space, &admin, &owner, Role::Removed, 13)),
            Err(VerifyError::IssuerNotAuthorized(_))
        ));
        s.apply(member(&space, &admin, &outsider, Role::Reader, 14))?;
        assert_eq!(s.role_of(&outsider.root.public()), Some(Role::Reader));
        // Removal, then the removed member's devices act for no one.
        s.apply(member(&space, &owner, &editor, Role::Removed, 15))?;
        assert_eq!(s.member_of_device(&editor.device.public()), None);
        Ok(())
    }

    #[test]
    fn a_member_credential_before_its_device_waits() -> Result<(), VerifyError> {
        let (space, owner, creds) = space_with_owner();
        let guest = Person::new();
        let mut s = SpaceState::new(space.public());
        // The admission arrives before anything else.
        assert_eq!(s.apply(member(&space, &owner, &guest, Role::Editor, 10))?, Applied::Pending);
        for c in creds {
            s.apply(c)?;
        }
        assert_eq!(s.role_of(&guest.root.public()), Some(Role::Editor));
        Ok(())
    }

    #[test]
    fn other_spaces_and_forged_genesis_are_refused() {
        let (space, _owner, _) = space_with_owner();
        let mut s = SpaceState::new(space.public());
        let other = KeyPair::generate();
        let g = Credential::issue(Claim::SpaceGenesis { space: *other.public().as_bytes() }, &other, None, 1);
        assert!(matches!(s.apply(g), Err(VerifyError::WrongKind(_))));
        let forged = Credential::issue(Claim::SpaceGenesis { space: *space.public().as_bytes() }, &other, None, 1);
        assert!(matches!(s.apply(forged), Err(VerifyError::IssuerNotAuthorized(_))));
        assert!(!s.exists());
    }
}
