//! [`Local`]: the profile opened in this process: its single redb store (lent to ECHO and
//! HALO), its keyring, and once started its network node. The app and `dxos serve` hold one;
//! a short command with no owner opens one for its length. It answers [`Request`]s with typed
//! [`Response`]s and never prints or touches the socket.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use dxos_echo::{Echo, Filter, Query, Space, Task};
use dxos_halo::{Halo, IdentityInfo, KeyPair, Keyring, PublicKey, Role, space_key_name};
use dxos_net::presence::{LocalPresence, PeerPresence};
use serde_json::Value;

use crate::error::{ClientError, Result};
use crate::node::{NetHost, NetOptions};
use crate::profile::Profile;
use crate::types::*;
use crate::wire::{Request, Response};

/// An open profile: store, identity, node.
pub struct Local {
    profile: Profile,
    echo: Echo,
    halo: Halo,
    keyring: Keyring,
    node: Mutex<Option<Arc<NetHost>>>,
    /// Signalled when the node starts.
    node_started: Condvar,
    /// How the node listens when a call starts it (a join on a fresh profile).
    net_options: Mutex<NetOptions>,
    /// Live presence (who is here, their cursors), kept across node restarts.
    presence: Arc<dxos_net::presence::Hub>,
}

impl Local {
    /// Opens the profile's store (creating the profile if needed). [`ClientError::Locked`] if
    /// another process holds it.
    pub fn open(profile: &Profile) -> Result<Local> {
        profile.ensure()?;
        let path = profile.store_path();
        let db = match redb::Database::create(&path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(ClientError::Locked),
            Err(e) => return Err(ClientError::Store { path: path.display().to_string(), source: Box::new(e) }),
        };
        let db = Arc::new(db);
        let echo = Echo::open(db.clone())?;
        let keyring = Keyring::open(profile.dir().join("keys")).map_err(dxos_halo::HaloError::from)?;
        let halo = Halo::open(db, keyring.clone())?;
        let local = Local {
            profile: profile.clone(),
            echo,
            halo,
            keyring,
            node: Mutex::new(None),
            node_started: Condvar::new(),
            net_options: Mutex::default(),
            presence: Arc::default(),
        };
        if let Err(e) = local.share_relays() {
            tracing::warn!("the profile's relays were not shared with the identity: {e}");
        }
        Ok(local)
    }

    /// The profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// HALO, the layer under the client (for tests and tools that set up what the client's
    /// calls cannot; apps use the calls).
    pub fn halo(&self) -> &Halo {
        &self.halo
    }

    /// ECHO, the layer under the client (for tests and tools; apps use the calls and
    /// [`Local::space`]).
    pub fn echo(&self) -> &Echo {
        &self.echo
    }

    /// This profile's identity key, if it has one: from memory only (no question to the node,
    /// so a UI thread may ask).
    pub fn identity_key(&self) -> Option<PublicKey> {
        self.halo.identity().map(|i| i.identity_key)
    }

    /// This profile's identity, if it has one, its devices marked online as the node sees them
    /// (which asks the node: not for a UI thread, which has [`Local::identity_key`]).
    pub fn identity(&self) -> Option<Identity> {
        self.halo.identity().map(|i| self.identity_of(&i, true))
    }

    /// This profile's identity, or [`HaloError::NoIdentity`](dxos_halo::HaloError::NoIdentity).
    pub fn require_identity(&self) -> Result<Identity> {
        self.identity().ok_or_else(|| dxos_halo::HaloError::NoIdentity.into())
    }

    fn identity_of(&self, i: &IdentityInfo, with_devices: bool) -> Identity {
        let connected: Vec<PublicKey> = match (with_devices, self.node()) {
            (true, Some(n)) => n.peers().iter().filter_map(|p| p.device_key).collect(),
            _ => Vec::new(),
        };
        let devices = if with_devices {
            i.devices
                .iter()
                .map(|d| Device {
                    device_key: d.device_key,
                    name: d.name.clone(),
                    this_device: d.this_device,
                    online: d.this_device || connected.contains(&d.device_key),
                })
                .collect()
        } else {
            Vec::new()
        };
        Identity {
            identity_key: i.identity_key,
            device_key: i.device_key,
            peer_id: i.peer_id.clone(),
            display_name: i.display_name.clone(),
            devices,
        }
    }

    /// Creates the identity and this device, and adopts the spaces made before it.
    pub fn create_identity(&self, name: &str) -> Result<Identity> {
        let info = self.halo.create_identity(name, &device_label())?;
        self.adopt_spaces()?;
        self.share_relays()?;
        Ok(self.identity_of(&info, false))
    }

    /// Restores an identity from its recovery phrase on this fresh profile.
    pub fn recover_identity(&self, phrase: &str, device: Option<&str>) -> Result<Identity> {
        let label = device.map(str::to_owned).unwrap_or_else(device_label);
        let info = self.halo.recover_identity(phrase, &label)?;
        self.adopt_spaces()?;
        self.share_relays()?;
        Ok(self.identity_of(&info, false))
    }

    /// The identity's recovery phrase.
    pub fn recovery_phrase(&self) -> Result<String> {
        Ok(self.halo.recovery_phrase()?)
    }

    /// Makes sure this profile has the device key it joins an identity with (a fresh
    /// profile's node needs it before it can start).
    pub fn prepare_to_join(&self) -> Result<()> {
        if self.halo.identity().is_none() {
            self.halo.joining_device_key()?;
        }
        Ok(())
    }

    /// Writes genesis and owner membership for spaces that were made before the identity.
    fn adopt_spaces(&self) -> Result<()> {
        for info in self.echo.spaces(true)? {
            if self.halo.has_space(&info.id) {
                continue;
            }
            match self.keyring.load(&space_key_name(&info.id)).map_err(dxos_halo::HaloError::from)? {
                Some(key) => self.halo.add_space(&key)?,
                None => tracing::warn!("space {} has no key on this device; it was not adopted", info.id),
            }
        }
        Ok(())
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<()> {
        Ok(self.echo.flush()?)
    }

    /// A live handle on a space, by id or unique name: its objects read from memory, its
    /// writes return at once (ECHO's writer thread makes them durable), and subscriptions
    /// call back on every change. In-process only.
    pub fn space(&self, id_or_name: &str) -> Result<Space> {
        Ok(self.echo.find_space(id_or_name)?)
    }

    /// A live handle on a space by id (loads it from the store the first time).
    pub fn space_by_id(&self, id: &PublicKey) -> Result<Space> {
        Ok(self.echo.space(id)?)
    }

    /// This identity's role in a space (from memory).
    pub fn my_role(&self, space: &PublicKey) -> Option<Role> {
        self.halo.my_role(space)
    }

    /// Creates a space with a fresh key pair (its secret kept in the profile's keyring), with
    /// its genesis and this identity as owner.
    pub fn create_space(&self, name: &str) -> Result<Space> {
        if name.trim().is_empty() {
            return Err(ClientError::InvalidInput("a space needs a name".into()));
        }
        self.require_identity()?;
        let key = KeyPair::generate();
        self.keyring.store(&space_key_name(&key.public()), &key).map_err(dxos_halo::HaloError::from)?;
        let space = self.echo.create_space(key.public(), name)?;
        self.halo.add_space(&key)?;
        Ok(space)
    }

    /// The first live space this identity is a member of, or a new one named `name`.
    pub fn first_space_or_create(&self, name: &str) -> Result<Space> {
        match self.echo.spaces(false)?.iter().find(|s| self.halo.my_role(&s.id).is_some()) {
            Some(info) => Ok(self.echo.space(&info.id)?),
            None => self.create_space(name),
        }
    }

    /// The spaces, with deleted ones if asked.
    pub fn spaces(&self, deleted: bool) -> Result<Vec<SpaceSummary>> {
        Ok(self
            .echo
            .spaces(deleted)?
            .into_iter()
            .map(|s| SpaceSummary {
                members: self.halo.members(&s.id).map(|m| m.len()).unwrap_or(0),
                role: self.halo.my_role(&s.id),
                id: s.id,
                name: s.name,
                objects: s.objects,
                deleted: s.deleted,
            })
            .collect())
    }

    /// The members of a space, marked online when a device acting for them is connected.
    pub fn members(&self, space: &PublicKey) -> Result<Vec<Member>> {
        self.members_with(space, &self.presence())
    }

    fn members_with(&self, space: &PublicKey, presence: &[Presence]) -> Result<Vec<Member>> {
        let me = self.halo.identity().map(|i| i.identity_key);
        Ok(self
            .halo
            .members(space)?
            .into_iter()
            .map(|m| Member {
                online: Some(m.identity_key) == me
                    || presence.iter().any(|p| p.space == *space && p.member == m.identity_key),
                identity_key: m.identity_key,
                display_name: m.display_name,
                role: m.role,
            })
            .collect())
    }

    /// The members of every space at once (one look at the node for all of them).
    pub fn all_members(&self, spaces: &[PublicKey]) -> Vec<(PublicKey, Vec<Member>)> {
        let presence = self.presence();
        spaces.iter().map(|s| (*s, self.members_with(s, &presence).unwrap_or_default())).collect()
    }

    /// Starts the network node with `options` if it does not run yet (the profile needs an
    /// identity, or the key it joins one with). Blocks while the node starts: call it off a
    /// UI thread.
    pub fn start_node(&self, options: &NetOptions) -> Result<()> {
        if self.node().is_some() {
            return Ok(());
        }
        let mut config = options.config(&self.profile)?;
        config.presence = Some(self.presence.clone());
        let host = Arc::new(NetHost::start(&self.echo, &self.halo, config)?);
        let mut node = self.node.lock().unwrap_or_else(|e| e.into_inner());
        if node.is_none() {
            *node = Some(host);
            self.node_started.notify_all();
        } else {
            drop(node);
            host.shutdown();
        }
        Ok(())
    }

    /// How the node listens when a call has to start it (the default: as `dxos serve` does).
    pub fn set_net_options(&self, options: NetOptions) {
        *self.net_options.lock().unwrap_or_else(|e| e.into_inner()) = options;
    }

    /// Starts the node as [`Local::set_net_options`] said, if it does not run yet.
    pub fn start_node_as_configured(&self) -> Result<()> {
        let options = self.net_options.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.start_node(&options)
    }

    /// Whether the network node runs.
    pub fn node_running(&self) -> bool {
        self.node().is_some()
    }

    pub(crate) fn node(&self) -> Option<Arc<NetHost>> {
        self.node.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The node, waiting at most `timeout` for it to start.
    pub(crate) fn wait_for_node(&self, timeout: std::time::Duration) -> Option<Arc<NetHost>> {
        let node = self.node.lock().unwrap_or_else(|e| e.into_inner());
        let (node, _) =
            self.node_started.wait_timeout_while(node, timeout, |n| n.is_none()).unwrap_or_else(|e| e.into_inner());
        node.clone()
    }

    /// Stops the network node, if it runs (saving the known peers' addresses).
    pub fn stop_node(&self) {
        let node = self.node.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(n) = node {
            n.shutdown();
        }
    }

    /// The connected peers (none when no node runs).
    pub fn peers(&self) -> Vec<Peer> {
        self.node().map(|n| n.peers()).unwrap_or_default()
    }

    /// Who is online in which space.
    pub fn presence(&self) -> Vec<Presence> {
        self.node().map(|n| n.presence()).unwrap_or_default()
    }

    /// Says what this device is doing in `space` (the object viewed, the cursor), for the
    /// space's other members who are online (`/dxos/presence/1`); `None`: nothing. Never
    /// stored; sent while the node runs.
    pub fn set_here(&self, space: PublicKey, here: Option<LocalPresence>) {
        self.presence.set(space, here);
    }

    /// Who else is in `space` now (their devices, what they view, their cursors).
    pub fn here(&self, space: &PublicKey) -> Vec<PeerPresence> {
        self.presence.peers(space)
    }

    /// Calls `waker` (from the node's thread) whenever someone's presence arrives or expires.
    pub fn on_presence(&self, waker: Arc<dyn Fn() + Send + Sync>) {
        self.presence.on_change(waker);
    }

    /// The node's listen addresses (none when no node runs).
    pub fn addrs(&self) -> Vec<String> {
        self.node().map(|n| n.addrs()).unwrap_or_default()
    }

    /// Adds a relay to the list (`add`) or removes it; a running node reserves on the new
    /// list at once. With an identity the list is the identity's, shared by all its devices
    /// (HALO credentials); without one, the profile's `relays.json`. Returns the list.
    fn change_relays(&self, addr: &str, add: bool) -> Result<Vec<String>> {
        let a = crate::relays::parse(addr)?.to_string();
        if self.halo.identity().is_some() {
            self.share_relays()?;
            let listed = self.halo.relays().contains(&a);
            if !add && !listed {
                return Err(ClientError::NotFound(format!("no relay {a} in this identity's list")));
            }
            // The node takes the identity's new list from HALO's change notification.
            self.halo.set_relay(&a, add)?;
            return self.relay_list();
        }
        let mut list = crate::relays::load(self.profile.dir())?;
        match (add, list.contains(&a)) {
            (true, false) => list.push(a),
            (false, true) => list.retain(|x| *x != a),
            (true, true) => return Ok(list),
            (false, false) => return Err(ClientError::NotFound(format!("no relay {a} in this profile"))),
        }
        crate::relays::save(self.profile.dir(), &list)?;
        if let Some(node) = self.node() {
            node.set_relays(crate::relays::all(self.profile.dir())?);
        }
        Ok(list)
    }

    /// The relay list: the identity's (shared by its devices) or, before there is one, the
    /// profile's.
    pub fn relay_list(&self) -> Result<Vec<String>> {
        if self.halo.identity().is_some() {
            self.share_relays()?;
            return Ok(self.halo.relays());
        }
        crate::relays::load(self.profile.dir())
    }

    /// Once the profile has an identity, the relays listed in `relays.json` before it (to
    /// reach an inviter, say) join the identity's list, and the file goes: from then on the
    /// identity's list is the one, so a relay removed on another device is removed here too.
    /// One the identity already said something about (listed or removed) is not re-added.
    fn share_relays(&self) -> Result<()> {
        if self.halo.identity().is_none() {
            return Ok(());
        }
        let before = crate::relays::load(self.profile.dir())?;
        if before.is_empty() {
            return Ok(());
        }
        for a in &before {
            if !self.halo.knows_relay(a) {
                self.halo.set_relay(a, true)?;
            }
        }
        crate::relays::forget(self.profile.dir())?;
        if let Some(node) = self.node() {
            node.set_relays(crate::relays::all(self.profile.dir())?);
        }
        Ok(())
    }

    /// Where the profile stands.
    pub fn status(&self) -> Result<Status> {
        let node = self.node();
        Ok(Status {
            identity: self.halo.identity().map(|i| i.identity_key),
            spaces: self.echo.spaces(false)?.len(),
            peers: node.as_ref().map(|n| n.peers().len()).unwrap_or(0),
            addrs: node.map(|n| n.addrs()).unwrap_or_default(),
        })
    }

    /// Answers one request that is not a stream (`watch`, `invite` and `join` are
    /// [`crate::Client`]'s; `hello` and `handover` the owner's).
    pub fn execute(&self, req: &Request) -> Result<Response> {
        match req {
            Request::IdentityCreate { name } => Ok(Response::Identity(Some(self.create_identity(name)?))),
            Request::IdentityRecover { phrase, name } => {
                Ok(Response::Identity(Some(self.recover_identity(phrase, name.as_deref())?)))
            }
            Request::IdentityShow => Ok(Response::Identity(self.identity())),
            Request::IdentityPhrase => Ok(Response::Phrase(self.recovery_phrase()?)),
            Request::Status => Ok(Response::Status(self.status()?)),
            Request::Peers => Ok(Response::Peers(self.peers())),
            Request::RelayList => Ok(Response::Relays(self.relay_list()?)),
            Request::RelayAdd { addr } => Ok(Response::Relays(self.change_relays(addr, true)?)),
            Request::RelayRemove { addr } => Ok(Response::Relays(self.change_relays(addr, false)?)),
            Request::Watch { .. }
            | Request::Hello
            | Request::Handover
            | Request::Open { .. }
            | Request::Invite { .. }
            | Request::Join { .. } => Err(ClientError::Internal("this request is answered by a stream".into())),
            other => {
                self.require_identity()?;
                self.execute_data(other)
            }
        }
    }

    /// Refuses a write to a space where this identity is a reader: its peers would refuse
    /// the change anyway, so it is not made here either.
    fn check_writable(&self, space: &str) -> Result<()> {
        let s = self.space(space)?;
        if self.halo.my_role(&s.id()) == Some(Role::Reader) {
            return Err(ClientError::Denied("you are a reader in this space: it is read-only for you".into()));
        }
        Ok(())
    }

    /// Requests that read or write spaces (the profile has an identity).
    fn execute_data(&self, req: &Request) -> Result<Response> {
        match req {
            Request::SpaceRename { space, .. }
            | Request::SpaceImport { space, .. }
            | Request::TaskAdd { space, .. }
            | Request::TaskSetDone { space, .. }
            | Request::TaskRename { space, .. }
            | Request::TaskRm { space, .. }
            | Request::ObjectAdd { space, .. }
            | Request::ObjectSet { space, .. }
            | Request::ObjectRm { space, .. } => self.check_writable(space)?,
            _ => {}
        }
        match req {
            Request::SpaceMembers { space } => Ok(Response::Members(self.members(&self.space(space)?.id())?)),
            Request::SpaceCreate { name } => {
                let s = self.create_space(name)?;
                Ok(Response::Space(SpaceRef { id: s.id(), name: s.name() }))
            }
            Request::SpaceList { deleted } => Ok(Response::Spaces(self.spaces(*deleted)?)),
            Request::SpaceRename { space, name } => {
                if name.trim().is_empty() {
                    return Err(ClientError::InvalidInput("a space needs a name".into()));
                }
                let s = self.space(space)?;
                s.rename(name)?;
                Ok(Response::Space(SpaceRef { id: s.id(), name: s.name() }))
            }
            Request::DeviceRevoke { device } => {
                self.halo.revoke_device(device)?;
                Ok(Response::Revoked(*device))
            }
            Request::DeviceRename { name } => {
                self.halo.set_device_label(name)?;
                Ok(Response::Identity(self.identity()))
            }
            Request::SpaceRemoveMember { space, identity } => {
                let s = self.space(space)?;
                self.halo.remove_member(&s.id(), identity)?;
                Ok(Response::Removed(*identity))
            }
            Request::SpaceLeave { space } => {
                let s = self.space(space)?;
                self.halo.leave_space(&s.id())?;
                // Hidden here (restorable while the data stays on disk); the others keep it.
                self.echo.delete_space(&s.id())?;
                Ok(Response::Left(s.id()))
            }
            Request::SpaceDelete { space } => {
                self.echo.delete_space(space)?;
                Ok(Response::Space(SpaceRef { id: *space, name: self.echo.space(space)?.name() }))
            }
            Request::SpaceRestore { space } => {
                self.echo.restore_space(space)?;
                Ok(Response::Space(SpaceRef { id: *space, name: self.echo.space(space)?.name() }))
            }
            Request::SpaceExport { space } => Ok(Response::Exported(hex::encode(self.space(space)?.export()?))),
            Request::SpaceImport { space, update_hex } => {
                let bytes = hex::decode(update_hex).map_err(|e| ClientError::InvalidInput(e.to_string()))?;
                self.space(space)?.import(&bytes)?;
                Ok(Response::Imported)
            }
            Request::TaskAdd { space, title } => {
                let title = title.trim();
                if title.is_empty() {
                    return Err(ClientError::InvalidInput("a task needs a title".into()));
                }
                let (id, t) = self.space(space)?.add_task(title)?;
                Ok(Response::Task(task_item(&id, &t)))
            }
            Request::TaskList { space } => {
                let tasks = self.space(space)?.tasks();
                Ok(Response::Tasks(tasks.iter().map(|(id, t)| task_item(id, t)).collect()))
            }
            Request::TaskSetDone { space, id, done } => {
                let t = self.space(space)?.set_task_completed(id, *done)?;
                Ok(Response::Task(task_item(id, &t)))
            }
            Request::TaskRename { space, id, title } => {
                let t = self.space(space)?.rename_task(id, title)?;
                Ok(Response::Task(task_item(id, &t)))
            }
            Request::TaskRm { space, id } => {
                let s = self.space(space)?;
                s.get_typed::<Task>(id)?;
                s.delete(id)?;
                Ok(Response::Deleted(id.clone()))
            }
            Request::DocNew { space, name, text } => {
                let name = name.trim();
                if name.is_empty() {
                    return Err(ClientError::InvalidInput("a document needs a name".into()));
                }
                let id = self.space(space)?.add_document(name, text)?;
                Ok(Response::Document(DocumentItem {
                    id: id.to_string(),
                    name: name.to_owned(),
                    text: Some(text.clone()),
                }))
            }
            Request::DocList { space } => {
                let docs = self.space(space)?.documents(false);
                Ok(Response::Documents(
                    docs.into_iter().map(|d| DocumentItem { id: d.id.to_string(), name: d.name, text: None }).collect(),
                ))
            }
            Request::DocCat { space, id } => {
                let s = self.space(space)?;
                let name = live_document(&s, id)?;
                // A plain-string content from another client reads the same as a Y.Text.
                let text = match s.get(id)?.data.get(dxos_echo::DOCUMENT_CONTENT) {
                    Some(Value::String(t)) => t.clone(),
                    _ => String::new(),
                };
                Ok(Response::Document(DocumentItem { id: id.clone(), name, text: Some(text) }))
            }
            Request::DocEdit { space, id, at, delete, insert } => {
                let s = self.space(space)?;
                let name = live_document(&s, id)?;
                let mut editor = s.text_editor(id, dxos_echo::DOCUMENT_CONTENT)?;
                let end =
                    at.checked_add(*delete).ok_or_else(|| ClientError::InvalidInput("--delete is too large".into()))?;
                if end > editor.len_chars() {
                    return Err(ClientError::InvalidInput(format!(
                        "the edit {at}+{delete} is outside the text ({} characters)",
                        editor.len_chars()
                    )));
                }
                editor.splice(*at..end, insert)?;
                Ok(Response::Document(DocumentItem { id: id.clone(), name, text: Some(editor.text().to_owned()) }))
            }
            Request::DocRm { space, id } => {
                let s = self.space(space)?;
                live_document(&s, id)?;
                s.delete(id)?;
                Ok(Response::Deleted(id.clone()))
            }
            Request::ObjectAdd { space, typename, data } => {
                if typename.trim().is_empty() {
                    return Err(ClientError::InvalidInput("--type must not be empty".into()));
                }
                let id = self.space(space)?.add(Some(typename), data.clone())?;
                Ok(Response::Added(id.to_string()))
            }
            Request::ObjectGet { space, id } => {
                let o = self.space(space)?.get(id)?;
                if o.deleted {
                    return Err(ClientError::NotFound(format!("object {id} was deleted")));
                }
                Ok(Response::Object(ObjectItem::from(&o)))
            }
            Request::ObjectSet { space, id, data } => {
                let s = self.space(space)?;
                s.update(id, data.clone())?;
                Ok(Response::Object(ObjectItem::from(&s.get(id)?)))
            }
            Request::ObjectRm { space, id } => {
                self.space(space)?.delete(id)?;
                Ok(Response::Deleted(id.clone()))
            }
            Request::Query { space, typename, conditions } => {
                let q = build_query(typename.as_deref(), conditions);
                Ok(Response::Objects(self.space(space)?.query(&q).iter().map(ObjectItem::from).collect()))
            }
            _ => Err(ClientError::Internal("not a data request".into())),
        }
    }

    /// Runs a watch: emits the current result, then the result after every change of it or of
    /// one of its objects, until `emit` returns false or `stop` returns true.
    pub(crate) fn watch(
        &self,
        space: &str,
        typename: Option<&str>,
        stop: &dyn Fn() -> bool,
        emit: &mut dyn FnMut(WatchUpdate) -> bool,
    ) -> Result<()> {
        use std::sync::mpsc;
        use std::time::Duration;
        self.require_identity()?;
        let s = self.space(space)?;
        let q = match typename {
            Some(t) => Query::typename(t),
            None => Query::all(),
        };
        // Capacity 1: a change while one is waiting is folded into it (the whole result is sent).
        let (tx, rx) = mpsc::sync_channel::<()>(1);
        let sub = s.subscribe(q, move |_| {
            let _ = tx.try_send(());
        });
        if !emit(watch_update(&s, &sub.ids())) {
            return Ok(());
        }
        loop {
            if stop() {
                return Ok(());
            }
            // The wait is bounded only so that `stop` is looked at.
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(()) => {
                    if !emit(watch_update(&s, &sub.ids())) {
                        return Ok(());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
    }
}

/// The current result of a watched query.
fn watch_update(space: &Space, ids: &[dxos_echo::ObjectId]) -> WatchUpdate {
    let objects = ids.iter().filter_map(|i| space.get(i.as_ref()).ok()).map(|o| ObjectItem::from(&o)).collect();
    WatchUpdate { ids: ids.iter().map(|i| i.to_string()).collect(), objects }
}

fn task_item(id: &str, t: &Task) -> TaskItem {
    TaskItem { id: id.to_owned(), title: t.title.clone(), completed: t.completed }
}

fn build_query(typename: Option<&str>, conditions: &[(String, Value)]) -> Query {
    let mut q = match typename {
        Some(t) => Query::typename(t),
        None => Query::all(),
    };
    for (k, v) in conditions {
        q = q.filter(Filter::Eq(k.clone(), v.clone()));
    }
    q
}

/// The name of live document `id` of `space`; not found for anything else.
fn live_document(space: &Space, id: &str) -> Result<String> {
    let o = space.get(id)?;
    if o.typename.as_deref() != Some(dxos_echo::DOCUMENT_TYPE) {
        return Err(ClientError::NotFound(format!("{id} is not a document")));
    }
    if o.deleted {
        return Err(ClientError::NotFound(format!("document {id} was deleted")));
    }
    Ok(o.data.get(dxos_echo::DOCUMENT_NAME).and_then(|v| v.as_str()).unwrap_or_default().to_owned())
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A label for this device: the host name, or the platform.
pub fn device_label() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| std::env::consts::OS.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_made_before_the_identity_are_adopted() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let profile = Profile::new(Some(dir.path().join("p")))?;
        let local = Local::open(&profile)?;
        // As an older dxos did: a space with its key, and no identity.
        let key = KeyPair::generate();
        local.keyring.store(&space_key_name(&key.public()), &key)?;
        local.echo.create_space(key.public(), "Old")?;
        assert!(!local.halo.has_space(&key.public()));
        let me = local.create_identity("Ada")?;
        let members = local.members(&key.public())?;
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].identity_key, me.identity_key);
        assert_eq!(members[0].role, Role::Owner);
        Ok(())
    }
}
