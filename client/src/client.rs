//! [`Client`]: the one API over a profile, with two backends: in this process ([`Local`],
//! for the app and `serve`, which hold the store and the node), or through whoever holds the
//! profile (its owner's socket, or with no owner the store for the length of one call).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use dxos_halo::PublicKey;

use crate::error::{ClientError, Result};
use crate::events::{self, Emitter, Events};
use crate::jobs::Jobs;
use crate::local::Local;
use crate::owner::{self, unexpected};
use crate::profile::Profile;
use crate::types::*;
use crate::wire::{Request, Response};

/// How long a stream's job waits before it looks again whether it was cancelled.
const CANCEL_CHECK: Duration = Duration::from_millis(200);

enum Backend {
    Local(Arc<Local>),
    Profile(Profile),
}

/// A client of one profile. Cheap to clone; clones share the backend and the jobs.
#[derive(Clone)]
pub struct Client {
    backend: Arc<Backend>,
    jobs: Jobs,
}

impl Client {
    /// A client of `profile` through whoever holds it: its owner (the app or `dxos serve`) over
    /// the profile's socket, or, when nobody does, the store opened for the length of each call.
    /// Opens nothing now.
    pub fn open(profile: Profile) -> Client {
        Client { backend: Arc::new(Backend::Profile(profile)), jobs: Jobs::new() }
    }

    /// A client of a profile this process holds open (the app, `serve`, tests, examples).
    pub fn in_process(local: Arc<Local>) -> Client {
        Client { backend: Arc::new(Backend::Local(local)), jobs: Jobs::new() }
    }

    /// The profile held open in this process, if this client has one: live space handles
    /// ([`Local::space`]) and the node's state are reached through it.
    pub fn local(&self) -> Option<&Arc<Local>> {
        match &*self.backend {
            Backend::Local(l) => Some(l),
            Backend::Profile(_) => None,
        }
    }

    /// The profile held open here, or an error saying this call needs one.
    pub fn require_local(&self, what: &str) -> Result<&Arc<Local>> {
        self.local().ok_or_else(|| ClientError::Usage(format!("{what} needs the profile open in this process")))
    }

    /// The background jobs this client runs (its streams, and work its user hands it).
    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// Answers one request that is not a stream; the typed methods below are built on it.
    pub fn call(&self, req: &Request) -> Result<Response> {
        if req.is_stream() {
            return Err(ClientError::Usage("watch, invite and join are streams: use their methods".into()));
        }
        match &*self.backend {
            Backend::Local(l) => l.execute(req),
            Backend::Profile(p) => owner::call(p, req),
        }
    }

    /// This profile's identity, if it has one, with its devices (marked online when connected).
    pub fn identity(&self) -> Result<Option<Identity>> {
        match self.call(&Request::IdentityShow)? {
            Response::Identity(i) => Ok(i),
            other => Err(unexpected(&other)),
        }
    }

    /// Creates this profile's identity (and this device) with a display name.
    pub fn create_identity(&self, name: &str) -> Result<Identity> {
        match self.call(&Request::IdentityCreate { name: name.to_owned() })? {
            Response::Identity(Some(i)) => Ok(i),
            other => Err(unexpected(&other)),
        }
    }

    /// Restores an identity from its recovery phrase on this fresh profile.
    pub fn recover_identity(&self, phrase: &str, device_name: Option<&str>) -> Result<Identity> {
        let req = Request::IdentityRecover { phrase: phrase.to_owned(), name: device_name.map(str::to_owned) };
        match self.call(&req)? {
            Response::Identity(Some(i)) => Ok(i),
            other => Err(unexpected(&other)),
        }
    }

    /// The identity's recovery phrase (24 words; keep it secret).
    pub fn recovery_phrase(&self) -> Result<String> {
        match self.call(&Request::IdentityPhrase)? {
            Response::Phrase(p) => Ok(p),
            other => Err(unexpected(&other)),
        }
    }

    /// Renames this device (for the identity's other devices and the spaces' members too);
    /// returns the identity with the new name.
    pub fn rename_device(&self, name: &str) -> Result<Identity> {
        match self.call(&Request::DeviceRename { name: name.to_owned() })? {
            Response::Identity(Some(i)) => Ok(i),
            other => Err(unexpected(&other)),
        }
    }

    /// Revokes a device of this identity: it gets nothing new from now on.
    pub fn revoke_device(&self, device: PublicKey) -> Result<()> {
        match self.call(&Request::DeviceRevoke { device })? {
            Response::Revoked(_) => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// The spaces (not deleted ones).
    pub fn spaces(&self) -> Result<Vec<SpaceSummary>> {
        match self.call(&Request::SpaceList { deleted: false })? {
            Response::Spaces(s) => Ok(s),
            other => Err(unexpected(&other)),
        }
    }

    /// Creates a space with this identity as its owner.
    pub fn create_space(&self, name: &str) -> Result<SpaceRef> {
        match self.call(&Request::SpaceCreate { name: name.to_owned() })? {
            Response::Space(s) => Ok(s),
            other => Err(unexpected(&other)),
        }
    }

    /// Renames a space (by id or unique name).
    pub fn rename_space(&self, space: &str, name: &str) -> Result<SpaceRef> {
        match self.call(&Request::SpaceRename { space: space.to_owned(), name: name.to_owned() })? {
            Response::Space(s) => Ok(s),
            other => Err(unexpected(&other)),
        }
    }

    /// The members of a space, marked online when connected.
    pub fn members(&self, space: &str) -> Result<Vec<Member>> {
        match self.call(&Request::SpaceMembers { space: space.to_owned() })? {
            Response::Members(m) => Ok(m),
            other => Err(unexpected(&other)),
        }
    }

    /// Removes a member from a space (owners and admins).
    pub fn remove_member(&self, space: &str, identity: PublicKey) -> Result<()> {
        match self.call(&Request::SpaceRemoveMember { space: space.to_owned(), identity })? {
            Response::Removed(_) => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Leaves a space: this identity gets nothing new of it; it is hidden here.
    pub fn leave_space(&self, space: &str) -> Result<()> {
        match self.call(&Request::SpaceLeave { space: space.to_owned() })? {
            Response::Left(_) => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Hides a space here (restorable with [`Client::restore_space`]); this identity stays a
    /// member and the others keep it.
    pub fn delete_space(&self, space: PublicKey) -> Result<()> {
        match self.call(&Request::SpaceDelete { space })? {
            Response::Space(_) => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Shows a hidden space again.
    pub fn restore_space(&self, space: PublicKey) -> Result<()> {
        match self.call(&Request::SpaceRestore { space })? {
            Response::Space(_) => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// A space's whole state as one update (for backups, or `import` elsewhere).
    pub fn export_space(&self, space: &str) -> Result<Vec<u8>> {
        match self.call(&Request::SpaceExport { space: space.to_owned() })? {
            Response::Exported(h) => hex::decode(h).map_err(|e| ClientError::Internal(e.to_string())),
            other => Err(unexpected(&other)),
        }
    }

    /// Merges an exported update into a space (a malformed one changes nothing).
    pub fn import_space(&self, space: &str, update: &[u8]) -> Result<()> {
        match self.call(&Request::SpaceImport { space: space.to_owned(), update_hex: hex::encode(update) })? {
            Response::Imported => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Adds a task.
    pub fn add_task(&self, space: &str, title: &str) -> Result<TaskItem> {
        match self.call(&Request::TaskAdd { space: space.to_owned(), title: title.to_owned() })? {
            Response::Task(t) => Ok(t),
            other => Err(unexpected(&other)),
        }
    }

    /// The tasks of a space, in their order.
    pub fn tasks(&self, space: &str) -> Result<Vec<TaskItem>> {
        match self.call(&Request::TaskList { space: space.to_owned() })? {
            Response::Tasks(t) => Ok(t),
            other => Err(unexpected(&other)),
        }
    }

    /// Marks a task done or not done.
    pub fn set_task_done(&self, space: &str, id: &str, done: bool) -> Result<TaskItem> {
        match self.call(&Request::TaskSetDone { space: space.to_owned(), id: id.to_owned(), done })? {
            Response::Task(t) => Ok(t),
            other => Err(unexpected(&other)),
        }
    }

    /// Renames a task.
    pub fn rename_task(&self, space: &str, id: &str, title: &str) -> Result<TaskItem> {
        let req = Request::TaskRename { space: space.to_owned(), id: id.to_owned(), title: title.to_owned() };
        match self.call(&req)? {
            Response::Task(t) => Ok(t),
            other => Err(unexpected(&other)),
        }
    }

    /// Deletes a task.
    pub fn remove_task(&self, space: &str, id: &str) -> Result<()> {
        match self.call(&Request::TaskRm { space: space.to_owned(), id: id.to_owned() })? {
            Response::Deleted(_) => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Adds a document named `name` holding `text`.
    pub fn add_document(&self, space: &str, name: &str, text: &str) -> Result<DocumentItem> {
        let req = Request::DocNew { space: space.to_owned(), name: name.to_owned(), text: text.to_owned() };
        match self.call(&req)? {
            Response::Document(d) => Ok(d),
            other => Err(unexpected(&other)),
        }
    }

    /// The space's documents (names, no text).
    pub fn documents(&self, space: &str) -> Result<Vec<DocumentItem>> {
        match self.call(&Request::DocList { space: space.to_owned() })? {
            Response::Documents(d) => Ok(d),
            other => Err(unexpected(&other)),
        }
    }

    /// A document with its text.
    pub fn document(&self, space: &str, id: &str) -> Result<DocumentItem> {
        match self.call(&Request::DocCat { space: space.to_owned(), id: id.to_owned() })? {
            Response::Document(d) => Ok(d),
            other => Err(unexpected(&other)),
        }
    }

    /// Edits a document's text as an editor does: deletes `delete` characters at `at`, then
    /// inserts `insert` there. Returns the document with its new text.
    pub fn edit_document(&self, space: &str, id: &str, at: usize, delete: usize, insert: &str) -> Result<DocumentItem> {
        let req =
            Request::DocEdit { space: space.to_owned(), id: id.to_owned(), at, delete, insert: insert.to_owned() };
        match self.call(&req)? {
            Response::Document(d) => Ok(d),
            other => Err(unexpected(&other)),
        }
    }

    /// Adds an object of any type; returns its id.
    pub fn add_object(&self, space: &str, typename: &str, data: Map<String, Value>) -> Result<String> {
        match self.call(&Request::ObjectAdd { space: space.to_owned(), typename: typename.to_owned(), data })? {
            Response::Added(id) => Ok(id),
            other => Err(unexpected(&other)),
        }
    }

    /// An object (not a deleted one).
    pub fn object(&self, space: &str, id: &str) -> Result<ObjectItem> {
        match self.call(&Request::ObjectGet { space: space.to_owned(), id: id.to_owned() })? {
            Response::Object(o) => Ok(o),
            other => Err(unexpected(&other)),
        }
    }

    /// Sets properties of an object (others stay); returns it as it is now.
    pub fn set_object(&self, space: &str, id: &str, data: Map<String, Value>) -> Result<ObjectItem> {
        match self.call(&Request::ObjectSet { space: space.to_owned(), id: id.to_owned(), data })? {
            Response::Object(o) => Ok(o),
            other => Err(unexpected(&other)),
        }
    }

    /// Deletes an object.
    pub fn remove_object(&self, space: &str, id: &str) -> Result<()> {
        match self.call(&Request::ObjectRm { space: space.to_owned(), id: id.to_owned() })? {
            Response::Deleted(_) => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// The objects of `typename` (any, if `None`) whose properties equal `conditions`.
    pub fn query(
        &self,
        space: &str,
        typename: Option<&str>,
        conditions: Vec<(String, Value)>,
    ) -> Result<Vec<ObjectItem>> {
        let req = Request::Query { space: space.to_owned(), typename: typename.map(str::to_owned), conditions };
        match self.call(&req)? {
            Response::Objects(o) => Ok(o),
            other => Err(unexpected(&other)),
        }
    }

    /// Where the profile stands (identity, spaces, peers, addresses).
    pub fn status(&self) -> Result<Status> {
        match self.call(&Request::Status)? {
            Response::Status(s) => Ok(s),
            other => Err(unexpected(&other)),
        }
    }

    /// The connected peers.
    pub fn peers(&self) -> Result<Vec<Peer>> {
        match self.call(&Request::Peers)? {
            Response::Peers(p) => Ok(p),
            other => Err(unexpected(&other)),
        }
    }

    /// The profile's relays (multiaddrs ending in `/p2p/<relay peer id>`), as kept in the
    /// profile; `DXOS_RELAYS` adds to them for the node without being listed here.
    pub fn relays(&self) -> Result<Vec<String>> {
        match self.call(&Request::RelayList)? {
            Response::Relays(r) => Ok(r),
            other => Err(unexpected(&other)),
        }
    }

    /// Adds a relay (as `dxos relay serve` prints its addresses); the node reserves on it at
    /// once if it runs. Returns the new list. Adding one already listed changes nothing.
    pub fn add_relay(&self, addr: &str) -> Result<Vec<String>> {
        match self.call(&Request::RelayAdd { addr: addr.to_owned() })? {
            Response::Relays(r) => Ok(r),
            other => Err(unexpected(&other)),
        }
    }

    /// Removes a relay; the node lets go of its reservation there. Returns the new list.
    pub fn remove_relay(&self, addr: &str) -> Result<Vec<String>> {
        match self.call(&Request::RelayRemove { addr: addr.to_owned() })? {
            Response::Relays(r) => Ok(r),
            other => Err(unexpected(&other)),
        }
    }

    /// Watches a query (objects of `typename`, or all): the current result at once, then the
    /// whole result after every change (local or from a peer), until the stream is dropped.
    pub fn watch(&self, space: &str, typename: Option<&str>) -> Events<Result<WatchUpdate>> {
        let (tx, rx) = events::channel();
        let (backend, space, typename) = (self.backend.clone(), space.to_owned(), typename.map(str::to_owned));
        self.run_stream(format!("watch {space}"), tx, move |tx, stop| match &*backend {
            Backend::Local(l) => l.watch(&space, typename.as_deref(), stop, &mut |u| tx.emit(Ok(u))),
            Backend::Profile(p) => owner::watch(p, &space, typename.as_deref(), stop, |u| tx.emit(Ok(u))),
        });
        rx
    }

    /// Opens an invitation and streams its steps (the invitation to show, the pairing words,
    /// then who was admitted); dropping the stream before a guest is admitted cancels it.
    pub fn invite(&self, options: InviteOptions) -> Events<Result<InviteStep>> {
        let (tx, rx) = events::channel();
        let backend = self.backend.clone();
        let name = if options.space.is_some() { "share the space" } else { "add a device" };
        self.run_stream(name.to_owned(), tx, move |tx, stop| match &*backend {
            Backend::Local(l) => crate::invite::invite(l, &options, stop, &mut |s| tx.emit(Ok(s))),
            Backend::Profile(p) => owner::long(p, &Request::Invite { options }, stop, |r| match r {
                Response::Invite(s) => tx.emit(Ok(s)),
                other => tx.emit(Err(unexpected(&other))),
            }),
        });
        rx
    }

    /// Redeems an invitation (its `dxos:` text, and the code if it asks for one) and streams
    /// the steps, ending with the identity or space joined. A malformed or expired invitation
    /// fails at once and changes nothing.
    pub fn join(&self, uri: &str, code: Option<String>) -> Events<Result<JoinStep>> {
        let (tx, rx) = events::channel();
        let (backend, uri) = (self.backend.clone(), uri.to_owned());
        self.run_stream("join".to_owned(), tx, move |tx, stop| {
            crate::invite::read_invitation(&uri)?;
            match &*backend {
                Backend::Local(l) => {
                    // A fresh profile's node starts with the key it joins with.
                    l.prepare_to_join()?;
                    l.start_node_as_configured()?;
                    crate::invite::join(l, &uri, code, stop, &mut |s| tx.emit(Ok(s)))
                }
                Backend::Profile(p) => owner::long(p, &Request::Join { uri, code }, stop, |r| match r {
                    Response::Join(s) => tx.emit(Ok(s)),
                    other => tx.emit(Err(unexpected(&other))),
                }),
            }
        });
        rx
    }

    /// The network node's events (connections, verified members, first syncs) from when it
    /// starts. In-process only: the owner's node is the one with events.
    pub fn peer_events(&self) -> Result<Events<PeerEvent>> {
        let local = self.require_local("peer events")?.clone();
        let (tx, rx) = events::channel();
        self.jobs.spawn("follow the network", move |_job| -> Result<()> {
            let node = loop {
                if tx.is_cancelled() {
                    return Ok(());
                }
                if let Some(n) = local.wait_for_node(CANCEL_CHECK) {
                    break n;
                }
            };
            let mut sub = node.subscribe();
            while !tx.is_cancelled() {
                match node.next_event(&mut sub, CANCEL_CHECK) {
                    Ok(Some(ev)) => {
                        if !tx.emit(crate::node::peer_event(&ev)) {
                            break;
                        }
                    }
                    Ok(None) => {}
                    Err(()) => break,
                }
            }
            Ok(())
        });
        Ok(rx)
    }

    /// Runs a stream's job: its error, if any, is the stream's last item.
    fn run_stream<T: Send + 'static>(
        &self,
        name: String,
        tx: Emitter<Result<T>>,
        f: impl FnOnce(&Emitter<Result<T>>, &dyn Fn() -> bool) -> Result<()> + Send + 'static,
    ) {
        self.jobs.spawn(name, move |_job| -> std::result::Result<(), ClientError> {
            let stop = || tx.is_cancelled() || owner::stopping();
            // The stream's reader gets the error as its last item.
            if let Err(e) = f(&tx, &stop) {
                tx.emit(Err(e));
            }
            Ok(())
        });
    }
}
