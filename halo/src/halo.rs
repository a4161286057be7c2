//! `Halo`: this profile's identity, device and the credentials it holds, over the profile's
//! redb store (lent by the Client) and its keyring.
//!
//! Creating an identity makes the root key and this device's key, and writes the identity's
//! genesis, the device's authorization and the profiles. A space's genesis and its creator's
//! owner membership are signed by the space key. Secrets stay in the keyring; the root key
//! stays there too (so the recovery phrase can be shown again) until the user removes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use redb::Database;

use crate::credential::{Claim, Credential, Role, VerifyError, now_ms};
pub use crate::error::HaloError;
use crate::identity::{Applied, IdentityState};
use crate::keyring::Keyring;
use crate::keys::PeerIdExt;
use crate::keys::{KeyPair, PublicKey};
use crate::space_members::SpaceState;
use crate::store;

mod membership;

/// Keyring name of the identity root key.
const ROOT_KEY: &str = "identity-root";
/// Keyring name of this device's key.
const DEVICE_KEY: &str = "device";

/// Keyring name of a space's key.
pub fn space_key_name(space: &PublicKey) -> String {
    format!("space-{space}")
}

/// This profile's identity, as `dxos identity show` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityInfo {
    /// The identity (root public key).
    pub identity_key: PublicKey,
    /// This device's key.
    pub device_key: PublicKey,
    /// This device's libp2p PeerId (base58).
    pub peer_id: String,
    /// The identity's display name (empty until known, e.g. right after a recovery).
    pub display_name: String,
    /// The identity's devices that are not revoked.
    pub devices: Vec<DeviceInfo>,
}

/// One device of the identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Its key.
    pub device_key: PublicKey,
    /// Its label.
    pub name: String,
    /// Whether it is this device.
    pub this_device: bool,
}

/// A space member, as `dxos space members` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// The member's identity.
    pub identity_key: PublicKey,
    /// Its name.
    pub display_name: String,
    /// Its role.
    pub role: Role,
}

struct Local {
    identity: PublicKey,
    device: KeyPair,
    /// The device key's libp2p PeerId, worked out once (an error then, never a made-up id).
    peer_id: String,
}

impl Local {
    fn new(identity: PublicKey, device: KeyPair) -> Result<Local, HaloError> {
        let peer_id = device.public().to_peer_id()?.to_base58();
        Ok(Local { identity, device, peer_id })
    }
}

/// A function called after HALO's credentials change.
type ChangeCallback = Arc<dyn Fn() + Send + Sync>;

/// Keeps a change callback registered (see [`Halo::on_change`]); dropping it unregisters.
pub struct ChangeListener {
    listeners: std::sync::Weak<Mutex<Vec<(u64, ChangeCallback)>>>,
    id: u64,
}

impl Drop for ChangeListener {
    fn drop(&mut self) {
        if let Some(l) = self.listeners.upgrade() {
            l.lock().unwrap_or_else(|e| e.into_inner()).retain(|(id, _)| *id != self.id);
        }
    }
}

struct Inner {
    local: Option<Local>,
    identities: HashMap<PublicKey, IdentityState>,
    spaces: HashMap<PublicKey, SpaceState>,
}

/// HALO for one profile. Cheap to clone.
#[derive(Clone)]
pub struct Halo {
    db: Arc<Database>,
    keyring: Keyring,
    /// The state. Held only to read or change it in memory, never across disk I/O: the UI
    /// reads it every frame.
    inner: Arc<Mutex<Inner>>,
    /// Held by a writer from its first look at the state to its last change of it, across
    /// the store's commit: writers go one at a time, so what one decided on is still so when
    /// it applies it, while readers only wait for `inner`. Taken before `inner`, and let go
    /// before listeners are told.
    writer: Arc<Mutex<()>>,
    listeners: Arc<Mutex<Vec<(u64, ChangeCallback)>>>,
    /// This identity's role in each space, as of the last change: what [`Halo::my_role`]
    /// answers while a writer holds the state (a peer's batch of credentials), so the UI,
    /// which asks every frame, never waits for one.
    my_roles: Arc<Mutex<HashMap<PublicKey, Role>>>,
}

fn check_name(name: &str) -> Result<&str, HaloError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(HaloError::InvalidName("a name cannot be empty".into()));
    }
    if name.len() > crate::credential::MAX_NAME {
        return Err(HaloError::InvalidName(format!("at most {} bytes", crate::credential::MAX_NAME)));
    }
    Ok(name)
}

impl Halo {
    /// Opens HALO in the profile's store and keyring.
    pub fn open(db: Arc<Database>, keyring: Keyring) -> Result<Halo, HaloError> {
        store::init(&db)?;
        let local = match store::read_local(&db)? {
            None => None,
            Some((identity, device)) => {
                let identity = PublicKey::from_bytes(&identity).map_err(|e| HaloError::Corrupt(e.to_string()))?;
                let key = keyring
                    .load(DEVICE_KEY)?
                    .ok_or_else(|| HaloError::Corrupt("this device's key is missing".into()))?;
                if key.public().as_bytes() != &device {
                    return Err(HaloError::Corrupt("this device's key does not match the store".into()));
                }
                Some(Local::new(identity, key)?)
            }
        };
        let halo = Halo {
            db: db.clone(),
            keyring,
            inner: Arc::new(Mutex::new(Inner { local, identities: HashMap::new(), spaces: HashMap::new() })),
            writer: Arc::default(),
            listeners: Arc::default(),
            my_roles: Arc::default(),
        };
        let creds = store::read_credentials(&db)?;
        {
            let mut inner = halo.lock();
            for c in creds {
                Self::route(&mut inner, c);
            }
            halo.publish_roles(&inner);
        }
        Ok(halo)
    }

    /// Calls `cb` after every change of the credentials HALO holds (a new space, a new
    /// member, a revocation...), until the returned listener is dropped. `cb` runs on the
    /// writer's thread with no HALO lock held: it should only signal (send on a channel).
    pub fn on_change(&self, cb: impl Fn() + Send + Sync + 'static) -> ChangeListener {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.listeners.lock().unwrap_or_else(|e| e.into_inner()).push((id, Arc::new(cb)));
        ChangeListener { listeners: Arc::downgrade(&self.listeners), id }
    }

    fn notify(&self) {
        let cbs: Vec<ChangeCallback> =
            self.listeners.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(_, cb)| cb.clone()).collect();
        for cb in cbs {
            cb();
        }
    }

    /// A copy of this profile's identity state (its devices and their credentials).
    pub fn identity_state(&self) -> Option<IdentityState> {
        let inner = self.lock();
        let local = inner.local.as_ref()?;
        inner.identities.get(&local.identity).cloned()
    }

    /// The spaces HALO holds a genesis for.
    pub fn spaces(&self) -> Vec<PublicKey> {
        let mut v: Vec<PublicKey> = self.lock().spaces.iter().filter(|(_, s)| s.exists()).map(|(k, _)| *k).collect();
        v.sort_unstable();
        v
    }

    /// A copy of a space's membership state, if HALO holds its genesis.
    pub fn space_state(&self, space: &PublicKey) -> Option<SpaceState> {
        self.lock().spaces.get(space).filter(|s| s.exists()).cloned()
    }

    /// The devices this device wants to be connected to: the identity's other devices and
    /// the devices of every member of its spaces (revoked devices and removed members left
    /// out), this device excluded.
    pub fn wanted_devices(&self) -> Vec<PublicKey> {
        let inner = self.lock();
        let Some(local) = inner.local.as_ref() else { return Vec::new() };
        let me = local.device.public();
        let mut out = std::collections::BTreeSet::new();
        let mut add = |i: &IdentityState| {
            out.extend(i.devices().filter(|d| d.revoked_at_ms.is_none() && d.key != me).map(|d| d.key));
        };
        if let Some(i) = inner.identities.get(&local.identity) {
            add(i);
        }
        for s in inner.spaces.values() {
            for m in s.members().filter(|m| m.role != Role::Removed) {
                if let Some(i) = s.identity(&m.identity) {
                    add(i);
                }
            }
        }
        out.into_iter().collect()
    }

    /// The identity `device` is an active device of, among the identities this profile knows
    /// (its own and its spaces' members'), with that identity's display name if known.
    pub fn device_owner(&self, device: &PublicKey) -> Option<(PublicKey, Option<String>)> {
        let inner = self.lock();
        inner
            .identities
            .values()
            .find(|i| i.is_active_device(device))
            .map(|i| (i.identity(), i.display_name().map(str::to_owned)))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The writers' turn (see [`Halo::writer`]); take it before [`Halo::lock`].
    fn begin_write(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Files a credential into the identity and space states it belongs to.
    fn route(inner: &mut Inner, c: Credential) -> Option<Result<Applied, VerifyError>> {
        if let Some(identity) = c.claim().identity_scope() {
            let key = PublicKey::from_bytes(&identity).ok()?;
            let r = inner.identities.entry(key).or_insert_with(|| IdentityState::new(key)).apply(c.clone());
            for s in inner.spaces.values_mut() {
                let _ = s.apply(c.clone());
            }
            return Some(r);
        }
        let space = PublicKey::from_bytes(&c.claim().space_scope()?).ok()?;
        let state = inner.spaces.entry(space).or_insert_with(|| {
            let mut s = SpaceState::new(space);
            for i in inner.identities.values() {
                for ic in i.credentials() {
                    let _ = s.apply(ic.clone());
                }
            }
            s
        });
        Some(state.apply(c))
    }

    /// This profile's identity, if it has one.
    pub fn identity(&self) -> Option<IdentityInfo> {
        let inner = self.lock();
        let local = inner.local.as_ref()?;
        let state = inner.identities.get(&local.identity);
        let devices = state
            .map(|s| {
                s.devices()
                    .filter(|d| d.revoked_at_ms.is_none())
                    .map(|d| DeviceInfo {
                        device_key: d.key,
                        name: d.label.clone().unwrap_or_default(),
                        this_device: d.key == local.device.public(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(IdentityInfo {
            identity_key: local.identity,
            device_key: local.device.public(),
            peer_id: local.peer_id.clone(),
            display_name: state.and_then(|s| s.display_name()).unwrap_or_default().to_owned(),
            devices,
        })
    }

    /// This device's key pair (its libp2p identity), if the profile has an identity.
    /// On a profile with no identity, the key made for joining one ([`Halo::joining_device_key`]),
    /// if any.
    pub fn device_key(&self) -> Option<KeyPair> {
        if let Some(l) = self.lock().local.as_ref() {
            return KeyPair::from_secret_bytes(&l.device.secret_bytes()).ok();
        }
        self.keyring.load(DEVICE_KEY).ok().flatten()
    }

    /// Creates the identity and this device: root and device keys, genesis, device
    /// authorization and profiles.
    pub fn create_identity(&self, display_name: &str, device_label: &str) -> Result<IdentityInfo, HaloError> {
        let name = check_name(display_name)?;
        self.start_identity(KeyPair::generate(), Some(name), device_label)
    }

    /// Restores an identity from its recovery phrase on this (fresh) profile and authorizes
    /// this device with the root key.
    pub fn recover_identity(&self, phrase: &str, device_label: &str) -> Result<IdentityInfo, HaloError> {
        let mnemonic = bip39::Mnemonic::parse_in_normalized(bip39::Language::English, phrase.trim())
            .map_err(|e| HaloError::InvalidPhrase(e.to_string()))?;
        let entropy = mnemonic.to_entropy();
        if entropy.len() != 32 {
            return Err(HaloError::InvalidPhrase(format!(
                "a DXOS phrase has 24 words, this one {}",
                mnemonic.word_count()
            )));
        }
        let root = KeyPair::from_secret_bytes(&entropy).map_err(|e| HaloError::InvalidPhrase(e.to_string()))?;
        self.start_identity(root, None, device_label)
    }

    fn start_identity(&self, root: KeyPair, name: Option<&str>, device_label: &str) -> Result<IdentityInfo, HaloError> {
        let label = check_name(device_label)?;
        let writing = self.begin_write();
        if let Some(l) = &self.lock().local {
            return Err(HaloError::IdentityExists(l.identity.to_string()));
        }
        // A key made for joining an identity (and so the node's peer id) is kept.
        let device = self.keyring.load(DEVICE_KEY)?.unwrap_or_else(KeyPair::generate);
        let me = *root.public().as_bytes();
        let now = now_ms();
        let genesis = Credential::issue(Claim::IdentityGenesis { identity: me }, &root, None, now);
        let auth = Credential::issue(
            Claim::AuthorizedDevice { identity: me, device: *device.public().as_bytes() },
            &root,
            None,
            now,
        );
        let mut creds = vec![genesis, auth.clone()];
        if let Some(n) = name {
            creds.push(Credential::issue(
                Claim::IdentityProfile { identity: me, display_name: n.to_owned() },
                &root,
                None,
                now,
            ));
        }
        creds.push(Credential::issue(
            Claim::DeviceProfile {
                identity: me,
                device: *device.public().as_bytes(),
                label: label.to_owned(),
                platform: std::env::consts::OS.to_owned(),
            },
            &device,
            Some(auth.id()),
            now,
        ));
        let local = Local::new(root.public(), device)?;
        // Keys first, then the store in one transaction; undo the keys if the store fails.
        self.keyring.store(ROOT_KEY, &root)?;
        if let Err(e) = self.keyring.store(DEVICE_KEY, &local.device) {
            let _ = self.keyring.remove(ROOT_KEY);
            return Err(e.into());
        }
        if let Err(e) = store::write(&self.db, &creds, Some((me, *local.device.public().as_bytes()))) {
            let _ = self.keyring.remove(ROOT_KEY);
            let _ = self.keyring.remove(DEVICE_KEY);
            return Err(e);
        }
        let mut inner = self.lock();
        inner.local = Some(local);
        for c in creds {
            Self::route(&mut inner, c);
        }
        drop((inner, writing));
        self.notify();
        self.identity().ok_or(HaloError::NoIdentity)
    }

    /// The recovery phrase of the identity (24 words), on a device that holds the root key.
    pub fn recovery_phrase(&self) -> Result<String, HaloError> {
        let identity = self.lock().local.as_ref().map(|l| l.identity).ok_or(HaloError::NoIdentity)?;
        let root = self.keyring.load(ROOT_KEY)?.ok_or(HaloError::NoRootKey)?;
        if root.public() != identity {
            return Err(HaloError::Corrupt("the stored root key is not this identity's".into()));
        }
        bip39::Mnemonic::from_entropy(&root.secret_bytes())
            .map(|m| m.to_string())
            .map_err(|e| HaloError::Corrupt(e.to_string()))
    }

    /// Writes a space's genesis and this identity's owner membership (signed by the space
    /// key), and this member's name in it. Doing it again for a space that has them changes
    /// nothing.
    pub fn add_space(&self, space_key: &KeyPair) -> Result<(), HaloError> {
        let space = space_key.public();
        let writing = self.begin_write();
        let inner = self.lock();
        let local = inner.local.as_ref().ok_or(HaloError::NoIdentity)?;
        if inner.spaces.get(&space).is_some_and(|s| s.role_of(&local.identity).is_some()) {
            return Ok(());
        }
        let (me, s) = (*local.identity.as_bytes(), *space.as_bytes());
        let auth = inner
            .identities
            .get(&local.identity)
            .and_then(|i| i.devices().find(|d| d.key == local.device.public()).map(|d| d.authorized_by));
        let name = inner.identities.get(&local.identity).and_then(|i| i.display_name()).map(str::to_owned);
        let now = now_ms();
        let mut creds = vec![
            Credential::issue(Claim::SpaceGenesis { space: s }, space_key, None, now),
            Credential::issue(Claim::SpaceMember { space: s, identity: me, role: Role::Owner }, space_key, None, now),
        ];
        if let (Some(auth), Some(name)) = (auth, name) {
            creds.push(Credential::issue(
                Claim::MemberProfile { space: s, identity: me, display_name: name },
                &local.device,
                Some(auth),
                now,
            ));
        }
        drop(inner);
        store::write(&self.db, &creds, None)?;
        let mut inner = self.lock();
        for c in creds {
            Self::route(&mut inner, c);
        }
        // Without this a new space was not ours for `my_role` while a writer held the state
        // (the app then made a second space on start: seen under load in the a11y test).
        self.publish_roles(&inner);
        drop((inner, writing));
        self.notify();
        Ok(())
    }

    /// Whether HALO holds this space's genesis.
    pub fn has_space(&self, space: &PublicKey) -> bool {
        self.lock().spaces.get(space).is_some_and(SpaceState::exists)
    }

    /// The members of a space (removed ones left out).
    pub fn members(&self, space: &PublicKey) -> Result<Vec<MemberInfo>, HaloError> {
        let inner = self.lock();
        let state =
            inner.spaces.get(space).filter(|s| s.exists()).ok_or_else(|| HaloError::UnknownSpace(space.to_string()))?;
        Ok(state
            .members()
            .filter(|m| m.role != Role::Removed)
            .map(|m| MemberInfo {
                identity_key: m.identity,
                display_name: m
                    .display_name
                    .clone()
                    .or_else(|| state.identity(&m.identity).and_then(|i| i.display_name()).map(str::to_owned))
                    .unwrap_or_default(),
                role: m.role,
            })
            .collect())
    }

    /// Every credential HALO holds about a space (with its members' identity chains).
    pub fn space_credentials(&self, space: &PublicKey) -> Vec<Credential> {
        self.lock().spaces.get(space).map(SpaceState::credentials).unwrap_or_default()
    }

    /// Takes a credential from elsewhere (a peer): stored if it is valid or may become so.
    pub fn apply(&self, c: Credential) -> Result<Applied, HaloError> {
        let writing = self.begin_write();
        let mut inner = self.lock();
        let r = Self::route(&mut inner, c.clone())
            .ok_or_else(|| VerifyError::WrongKind("neither an identity nor a space credential".into()))??;
        self.publish_roles(&inner);
        drop(inner);
        if r != Applied::Duplicate {
            store::write(&self.db, &[c], None)?;
            drop(writing);
            self.notify();
        }
        Ok(r)
    }

    /// Keeps [`Halo::my_roles`] up to date (after every change of the state).
    fn publish_roles(&self, inner: &Inner) {
        let roles: HashMap<PublicKey, Role> = match inner.local.as_ref() {
            Some(local) => inner
                .spaces
                .iter()
                .filter_map(|(id, s)| s.role_of(&local.identity).filter(|r| *r != Role::Removed).map(|r| (*id, r)))
                .collect(),
            None => HashMap::new(),
        };
        *self.my_roles.lock().unwrap_or_else(|e| e.into_inner()) = roles;
    }

    /// Takes credentials from a peer in one write, with one change notification; returns
    /// how many were new. Invalid ones are skipped (a peer's verified batch may still hold
    /// credentials about other spaces' scopes HALO does not track).
    pub fn apply_all(&self, creds: Vec<Credential>) -> Result<usize, HaloError> {
        let writing = self.begin_write();
        let mut fresh = Vec::new();
        for c in creds {
            // The state is locked for one credential at a time: a reader (the UI, every
            // frame) waits for one, never for a peer's whole batch. Other writers still wait
            // for the batch (`writing`).
            let routed = Self::route(&mut self.lock(), c.clone());
            if let Some(Ok(r)) = routed
                && r != Applied::Duplicate
            {
                fresh.push(c);
            }
        }
        self.publish_roles(&self.lock());
        if fresh.is_empty() {
            return Ok(0);
        }
        store::write(&self.db, &fresh, None)?;
        drop(writing);
        self.notify();
        Ok(fresh.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &std::path::Path) -> Result<Halo, HaloError> {
        let db = Database::create(dir.join("p.redb")).map_err(|e| HaloError::Storage(e.to_string()))?;
        Halo::open(Arc::new(db), Keyring::open(dir.join("keys"))?)
    }

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn create_show_reopen() -> Result<(), HaloError> {
        let dir = tmp();
        let info = {
            let halo = open(dir.path())?;
            assert!(halo.identity().is_none());
            let info = halo.create_identity("Ada", "laptop")?;
            assert_eq!(info.display_name, "Ada");
            assert_eq!(info.devices.len(), 1);
            assert_eq!(info.devices[0].name, "laptop");
            assert_eq!(info.device_key.to_peer_id().and_then(|p| PublicKey::from_peer_id(&p)), Ok(info.device_key));
            assert!(matches!(halo.create_identity("Bob", "x"), Err(HaloError::IdentityExists(_))));
            info
        };
        let halo = open(dir.path())?;
        assert_eq!(halo.identity(), Some(info));
        Ok(())
    }

    #[test]
    fn recovery_round_trip_on_a_fresh_profile() -> Result<(), HaloError> {
        let (a, b) = (tmp(), tmp());
        let halo = open(a.path())?;
        let info = halo.create_identity("Ada", "laptop")?;
        let phrase = halo.recovery_phrase()?;
        assert_eq!(phrase.split_whitespace().count(), 24);
        let fresh = open(b.path())?;
        assert!(matches!(fresh.recover_identity("not a phrase", "phone"), Err(HaloError::InvalidPhrase(_))));
        let restored = fresh.recover_identity(&phrase, "phone")?;
        assert_eq!(restored.identity_key, info.identity_key);
        assert_ne!(restored.device_key, info.device_key);
        assert_eq!(fresh.recovery_phrase()?, phrase);
        Ok(())
    }

    #[test]
    fn readers_do_not_wait_for_a_write_to_reach_the_disk() -> Result<(), HaloError> {
        use std::sync::mpsc::channel;
        use std::time::Duration;
        let dir = tmp();
        let halo = open(dir.path())?;
        halo.create_identity("Ada", "laptop")?;
        let space = KeyPair::generate();
        halo.add_space(&space)?;
        // The next write (another space) is held at the disk.
        let (entered_tx, entered) = channel();
        let (go, go_rx) = channel();
        store::gate::hold(&halo.db, entered_tx, go_rx);
        let writer = {
            let h = halo.clone();
            std::thread::spawn(move || h.add_space(&KeyPair::generate()))
        };
        assert_eq!(entered.recv_timeout(Duration::from_secs(10)), Ok(()), "the write reached the store");
        // Meanwhile a reader (as the UI, every frame) gets its answer.
        let (tx, rx) = channel();
        {
            let (h, s) = (halo.clone(), space.public());
            std::thread::spawn(move || {
                let _ = tx.send((h.my_role(&s), h.identity().is_some(), h.spaces().len()));
            });
        }
        let read = rx.recv_timeout(Duration::from_secs(10));
        let _ = go.send(());
        writer.join().map_err(|_| HaloError::Storage("the writer panicked".into()))??;
        assert_eq!(read, Ok((Some(Role::Owner), true, 1)), "a reader waited for the disk");
        assert_eq!(halo.spaces().len(), 2);
        Ok(())
    }

    #[test]
    fn spaces_get_genesis_and_owner() -> Result<(), HaloError> {
        let dir = tmp();
        let halo = open(dir.path())?;
        let space = KeyPair::generate();
        assert!(matches!(halo.add_space(&space), Err(HaloError::NoIdentity)));
        let info = halo.create_identity("Ada", "laptop")?;
        halo.add_space(&space)?;
        halo.add_space(&space)?;
        let members = halo.members(&space.public())?;
        assert_eq!(
            members,
            vec![MemberInfo { identity_key: info.identity_key, display_name: "Ada".into(), role: Role::Owner }]
        );
        drop(halo);
        let halo = open(dir.path())?;
        assert_eq!(halo.members(&space.public())?.len(), 1);
        assert!(matches!(halo.members(&KeyPair::generate().public()), Err(HaloError::UnknownSpace(_))));
        Ok(())
    }
}
