//! What the app's surfaces share: the profile's Client and network node ([`Services`]), the
//! selected space and view, notices for the person, an open dialog, and a [`Snapshot`] of
//! the slower facts (spaces, devices, members, peers, sync) that a background thread refreshes,
//! so a frame never touches the disk or the network.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dxos_client::space::{DOCUMENT_TYPE, DocumentInfo, TextEditor};
use dxos_client::{
    Client, ClientError, Identity, Local, LocalPresence, NetOptions, PeerEvent, PublicKey, Query, Role, Space,
    Subscription,
};
use eframe::egui;
use serde::{Deserialize, Serialize};

use super::plugin::Surface;
use super::theme::ThemeSettings;

/// The profile as the app reaches it: the client, in this process.
pub struct Services {
    /// The profile's client.
    pub client: Client,
    /// The profile, open in this process (live space handles, the node).
    pub local: Arc<Local>,
    /// How the node listens (none: this window starts no node, as in tests).
    net: Option<NetOptions>,
}

impl Services {
    /// Over `local`, starting its node with `net` when the profile has an identity.
    pub fn new(local: Arc<Local>, net: Option<NetOptions>) -> Arc<Self> {
        if let Some(options) = &net {
            local.set_net_options(options.clone());
        }
        Arc::new(Self { client: Client::in_process(local.clone()), local, net })
    }

    /// Starts the node if it does not run yet (for a profile with no identity, with the key
    /// it joins one with). Blocks: call it in a job.
    pub fn ensure_net(&self) -> Result<(), ClientError> {
        if self.local.node_running() {
            return Ok(());
        }
        let Some(options) = &self.net else {
            return Err(ClientError::Network("this window runs no network node".into()));
        };
        self.local.prepare_to_join()?;
        self.local.start_node(options)
    }
}

/// A space in the sidebar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceRow {
    /// Its id.
    pub id: PublicKey,
    /// Its name.
    pub name: String,
    /// Deleted here (restorable).
    pub deleted: bool,
    /// This identity's role (`None`: not a member any more).
    pub role: Option<Role>,
}

/// A member of the selected space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    /// Their identity.
    pub identity: PublicKey,
    /// Their name (their key's fingerprint words when they have none), computed in the
    /// background, not per frame.
    pub name: String,
    /// Their role.
    pub role: Role,
    /// A device of theirs is connected now (always true for ourselves).
    pub online: bool,
}

/// Someone else viewing an object now (presence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// Their identity.
    pub identity: PublicKey,
    /// Their name.
    pub name: String,
}

/// A connected peer as the sync section lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRow {
    /// Whose device: ours by its name, a member's by theirs, else its key's fingerprint.
    pub name: String,
    /// How it is reached, in words: "direct (QUIC)", "LAN (WebRTC)", "through relay".
    pub how: String,
}

/// How a peer is reached, in words, from its transport and the address of the connection.
pub fn reach_words(transport: &str, addr: Option<&str>) -> String {
    let kind = match transport {
        "relay" => return "through relay".into(),
        "quic" => "QUIC",
        "tcp" => "TCP",
        "webrtc-direct" | "webrtc" => "WebRTC",
        other => other,
    };
    let lan = addr
        .and_then(|a| a.split('/').nth(2))
        .and_then(|ip| ip.parse::<std::net::Ipv4Addr>().ok())
        .is_some_and(|ip| ip.is_private() || ip.is_loopback() || ip.is_link_local());
    format!("{} ({kind})", if lan { "LAN" } else { "direct" })
}

/// The slower facts the sidebar shows, refreshed in the background.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// This profile's identity.
    pub identity: Option<Identity>,
    /// Spaces, deleted ones included.
    pub spaces: Vec<SpaceRow>,
    /// Members of every space.
    pub members: Vec<(PublicKey, Vec<MemberRow>)>,
    /// Devices connected now.
    pub online_devices: Vec<PublicKey>,
    /// Whether the node runs.
    pub node: bool,
    /// Connected peers.
    pub peers: usize,
    /// The transports of the connections (`webrtc-direct`, `quic`, `tcp`, `relay`).
    pub transports: Vec<String>,
    /// Each connected peer, by name, and how it is reached.
    pub reached: Vec<PeerRow>,
    /// This profile's relays.
    pub relays: Vec<String>,
    /// Spaces verified with a peer whose first sync has not arrived yet, and all verified.
    pub syncing: (usize, usize),
}

impl Snapshot {
    /// The members of a space.
    pub fn members_of(&self, space: &PublicKey) -> &[MemberRow] {
        self.members.iter().find(|(s, _)| s == space).map(|(_, m)| m.as_slice()).unwrap_or(&[])
    }
}

/// Tracks first syncs from node events: (peer id, space) pairs verified and not yet synced.
#[derive(Default)]
struct SyncTracker {
    verified: std::collections::HashSet<(String, PublicKey)>,
    synced: std::collections::HashSet<(String, PublicKey)>,
}

impl SyncTracker {
    fn on(&mut self, ev: &PeerEvent) {
        match ev {
            PeerEvent::Verified { peer_id, space, .. } => {
                self.verified.insert((peer_id.clone(), *space));
            }
            PeerEvent::Synced { peer_id, space } => {
                self.synced.insert((peer_id.clone(), *space));
            }
            PeerEvent::Disconnected { peer_id } | PeerEvent::SessionEnded { peer_id, .. } => {
                self.verified.retain(|(q, _)| q != peer_id);
                self.synced.retain(|(q, _)| q != peer_id);
            }
            _ => {}
        }
    }

    fn progress(&self) -> (usize, usize) {
        let pending = self.verified.iter().filter(|k| !self.synced.contains(*k)).count();
        (pending, self.verified.len())
    }
}

fn compute(services: &Services, sync: &SyncTracker) -> Snapshot {
    let local = &services.local;
    let peers = local.peers();
    let identity = local.identity();
    let presence = local.presence();
    let spaces: Vec<SpaceRow> = local
        .spaces(true)
        .unwrap_or_default()
        .into_iter()
        .map(|s| SpaceRow { role: s.role, id: s.id, name: s.name, deleted: s.deleted })
        .collect();
    let ids: Vec<PublicKey> = spaces.iter().map(|s| s.id).collect();
    let members: Vec<(PublicKey, Vec<MemberRow>)> = local
        .all_members(&ids)
        .into_iter()
        .map(|(space, list)| {
            let rows = list
                .into_iter()
                .map(|m| MemberRow {
                    online: m.online,
                    name: if m.display_name.is_empty() { m.identity_key.fingerprint() } else { m.display_name },
                    identity: m.identity_key,
                    role: m.role,
                })
                .collect();
            (space, rows)
        })
        .collect();
    let name_of = |device: Option<PublicKey>| -> String {
        let Some(device) = device else { return "a peer".into() };
        if let Some(d) = identity.as_ref().and_then(|i| i.devices.iter().find(|d| d.device_key == device)) {
            return if d.name.is_empty() { format!("your device {}", device.fingerprint()) } else { d.name.clone() };
        }
        let member = presence.iter().find(|p| p.device == device).map(|p| p.member);
        let name = member.and_then(|m| {
            members.iter().flat_map(|(_, rows)| rows.iter()).find(|r| r.identity == m).map(|r| r.name.clone())
        });
        name.unwrap_or_else(|| device.fingerprint())
    };
    let reached = peers
        .iter()
        .map(|p| PeerRow {
            name: name_of(p.device_key),
            how: reach_words(&p.transport, p.addrs.first().map(String::as_str)),
        })
        .collect();
    Snapshot {
        identity,
        reached,
        relays: services.client.relays().unwrap_or_default(),
        spaces,
        members,
        online_devices: peers.iter().filter_map(|p| p.device_key).collect(),
        node: local.node_running(),
        peers: peers.len(),
        transports: peers.iter().map(|p| p.transport.clone()).collect(),
        syncing: sync.progress(),
    }
}

/// Keeps `shared` up to date as a job: it recomputes at once on every network event, and
/// at least every `every` for changes made elsewhere (asking `ctx` for a repaint when the
/// snapshot changed), until `stop`.
pub fn spawn_refresher(
    services: Arc<Services>,
    shared: Arc<Mutex<Arc<Snapshot>>>,
    ctx: egui::Context,
    stop: Arc<AtomicBool>,
    every: Duration,
) {
    let jobs = services.client.jobs().clone();
    jobs.spawn("refresh the sidebar", move |_job| -> Result<(), ClientError> {
        let mut sync = SyncTracker::default();
        let events = services.client.peer_events()?;
        while !stop.load(Ordering::SeqCst) {
            let next = compute(&services, &sync);
            let changed = {
                let mut cur = shared.lock().unwrap_or_else(|e| e.into_inner());
                if **cur != next {
                    *cur = Arc::new(next);
                    true
                } else {
                    false
                }
            };
            if changed {
                ctx.request_repaint();
            }
            // Wait for the next network event (or `every`), then take all that came.
            match events.recv_timeout(every) {
                Ok(Some(ev)) => sync.on(&ev),
                Ok(None) => {}
                Err(_) => std::thread::sleep(every),
            }
            while let Ok(Some(ev)) = events.try_recv() {
                sync.on(&ev);
            }
        }
        Ok(())
    });
}

/// A small dot: filled when online.
pub fn online_dot(ui: &mut egui::Ui, online: bool) {
    let (rect, resp) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
    let tokens = super::theme::Tokens::ui(ui);
    let color = if online { tokens.online } else { tokens.weak };
    if online {
        ui.painter().circle_filled(rect.center(), 4.0, color);
    } else {
        ui.painter().circle_stroke(rect.center(), 3.5, egui::Stroke::new(1.0, color));
    }
    resp.on_hover_text(if online { "online" } else { "offline" });
}

/// TodoMVC's filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Filter {
    /// Every task.
    #[default]
    All,
    /// Not completed.
    Active,
    /// Completed.
    Completed,
}

/// The object shown in the main area (none: the space's task list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selected {
    /// Its id.
    pub id: String,
    /// Its type (which surface shows it).
    pub typename: String,
}

/// What the window remembers across runs (besides its size and place).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Saved {
    /// The selected space (hex id).
    pub space: Option<String>,
    /// The selected main view.
    pub view: Option<String>,
    /// TodoMVC's filter.
    pub filter: Filter,
    /// The object shown (none: the task list).
    pub object: Option<Selected>,
    /// The theme.
    pub theme: ThemeSettings,
}

/// A space's documents as the tree and the editor show them, kept up to date by a
/// subscription (read again only after a change).
struct DocList {
    list: Vec<DocumentInfo>,
    dirty: Arc<AtomicBool>,
    _sub: Subscription,
}

/// The shared state of the app's surfaces.
pub struct AppState {
    /// The profile and its node.
    pub services: Arc<Services>,
    shared: Arc<Mutex<Arc<Snapshot>>>,
    /// The latest snapshot (taken at the start of each frame).
    pub snapshot: Arc<Snapshot>,
    /// The selected space.
    pub space: Option<Space>,
    loading: Option<Receiver<Result<Space, String>>>,
    /// The selected main view (a surface id).
    pub view: String,
    /// TodoMVC's filter.
    pub filter: Filter,
    /// The object shown in the main area (none: the space's task list).
    pub object: Option<Selected>,
    /// The theme chosen.
    pub theme: ThemeSettings,
    docs: std::collections::HashMap<PublicKey, DocList>,
    /// What this device last said it views, per space (presence).
    announced: Option<(PublicKey, Option<String>)>,
    repaint: Option<egui::Context>,
    /// Problems a person can act on, shown until dismissed.
    pub notices: Vec<String>,
    /// The open dialog, if any.
    pub dialog: Option<Box<dyn Surface>>,
    /// Set by a dialog to close itself.
    pub close_dialog: bool,
    /// Set when the identity was joined or created in a dialog: the app restarts its views.
    pub identity_changed: bool,
    notice_tx: std::sync::mpsc::Sender<String>,
    notice_rx: Receiver<String>,
}

impl AppState {
    /// State over `services`, showing `space`.
    pub fn new(services: Arc<Services>, space: Option<Space>) -> Self {
        let (notice_tx, notice_rx) = std::sync::mpsc::channel();
        Self {
            services,
            shared: Arc::default(),
            snapshot: Arc::default(),
            space,
            loading: None,
            view: "tasks".into(),
            filter: Filter::All,
            object: None,
            theme: ThemeSettings::default(),
            docs: std::collections::HashMap::new(),
            announced: None,
            repaint: None,
            notices: Vec::new(),
            dialog: None,
            close_dialog: false,
            identity_changed: false,
            notice_tx,
            notice_rx,
        }
    }

    /// Runs a write that touches the disk (HALO credentials, a new space) off the UI thread;
    /// a failure becomes a notice in plain words ("Could not {what}: ...").
    pub fn spawn_write(
        &self,
        ctx: &egui::Context,
        what: &str,
        f: impl FnOnce(&Client) -> Result<(), ClientError> + Send + 'static,
    ) {
        let (client, local, tx, ctx, what) = (
            self.services.client.clone(),
            self.services.local.clone(),
            self.notice_tx.clone(),
            ctx.clone(),
            what.to_owned(),
        );
        self.services.client.jobs().spawn(what.clone(), move |_job| -> Result<(), ClientError> {
            if let Err(e) = f(&client).and_then(|()| local.flush()) {
                let _ = tx.send(format!("Could not {what}: {e}"));
            }
            ctx.request_repaint();
            Ok(())
        });
    }

    /// Starts the background refresh of the snapshot (the first one arrives in moments).
    pub fn start_refresh(&self, ctx: &egui::Context, stop: Arc<AtomicBool>) {
        spawn_refresher(self.services.clone(), self.shared.clone(), ctx.clone(), stop, Duration::from_millis(250));
    }

    /// Takes the latest snapshot and any space that finished loading.
    pub fn begin_frame(&mut self) {
        self.snapshot = self.shared.lock().unwrap_or_else(|e| e.into_inner()).clone();
        while let Ok(n) = self.notice_rx.try_recv() {
            self.notify(n);
        }
        // Background work that failed says so, by the job's name.
        for f in self.services.client.jobs().take_failures() {
            self.notify(format!("Could not {}: {}", f.name, f.message));
        }
        if let Some(rx) = &self.loading {
            match rx.try_recv() {
                Ok(Ok(space)) => {
                    self.space = Some(space);
                    self.loading = None;
                }
                Ok(Err(e)) => {
                    self.notify(format!("Could not open the space: {e}"));
                    self.loading = None;
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => self.loading = None,
            }
        }
    }

    /// This identity's role in the selected space.
    pub fn role(&self) -> Option<Role> {
        self.space.as_ref().and_then(|s| self.services.local.my_role(&s.id()))
    }

    /// True when the selected space is read-only here (we are a reader).
    pub fn read_only(&self) -> bool {
        self.role() == Some(Role::Reader)
    }

    /// Shows a problem to the person.
    pub fn notify(&mut self, message: impl Into<String>) {
        let m = message.into();
        if !self.notices.contains(&m) {
            self.notices.push(m);
        }
    }

    /// Opens a space (loading it from the store off the UI thread).
    pub fn select_space(&mut self, ctx: &egui::Context, id: PublicKey) {
        if self.space.as_ref().is_some_and(|s| s.id() == id) {
            return;
        }
        self.loading = Some(self.load_space(ctx, id));
    }

    /// Opens space `id` in a job (it may load from the store); the answer arrives on the
    /// returned channel, with a repaint.
    pub fn load_space(&self, ctx: &egui::Context, id: PublicKey) -> Receiver<Result<Space, String>> {
        let (tx, rx) = std::sync::mpsc::channel();
        let (local, ctx) = (self.services.local.clone(), ctx.clone());
        self.services.client.jobs().spawn("open the space", move |_job| -> Result<(), ClientError> {
            let _ = tx.send(local.space_by_id(&id).map_err(|e| e.to_string()));
            ctx.request_repaint();
            Ok(())
        });
        rx
    }

    /// Opens the profile's first space, or makes one, off the UI thread (after a join).
    pub fn open_default_space(&mut self, ctx: &egui::Context) {
        self.open_space_with(ctx, "open your space", |local| local.first_space_or_create(super::DEFAULT_SPACE));
    }

    /// Opens the space `find` finds, in a job named `what` (the view shows it once loaded).
    pub fn open_space_with(
        &mut self,
        ctx: &egui::Context,
        what: &str,
        find: impl FnOnce(&Local) -> Result<Space, ClientError> + Send + 'static,
    ) {
        let (tx, rx) = std::sync::mpsc::channel();
        let (local, ctx) = (self.services.local.clone(), ctx.clone());
        self.services.client.jobs().spawn(what, move |_job| -> Result<(), ClientError> {
            let _ = tx.send(find(&local).map_err(|e| e.to_string()));
            ctx.request_repaint();
            Ok(())
        });
        self.space = None;
        self.loading = Some(rx);
    }

    /// Whether a space is being opened.
    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    /// Shows `object` (none: the task list) of the selected space.
    pub fn select_object(&mut self, object: Option<Selected>) {
        self.object = object;
    }

    /// Shows `object` of space `space`, opening the space first if it is another.
    pub fn show(&mut self, ctx: &egui::Context, space: PublicKey, object: Option<Selected>) {
        if self.space.as_ref().map(|s| s.id()) != Some(space) {
            self.select_space(ctx, space);
        }
        self.object = object;
    }

    /// The documents of `space` (deleted ones too), as of the last change.
    pub fn documents_of(&mut self, space: &Space) -> &[DocumentInfo] {
        let id = space.id();
        let entry = self.docs.entry(id).or_insert_with(|| {
            let dirty = Arc::new(AtomicBool::new(true));
            let (d, ctx) = (dirty.clone(), self.repaint.clone());
            let sub = space.subscribe(Query::typename(DOCUMENT_TYPE).include_deleted(), move |_| {
                d.store(true, Ordering::SeqCst);
                if let Some(ctx) = &ctx {
                    ctx.request_repaint();
                }
            });
            DocList { list: Vec::new(), dirty, _sub: sub }
        });
        if entry.dirty.swap(false, Ordering::SeqCst) {
            entry.list = space.documents(true);
        }
        &entry.list
    }

    /// A document of `space`, if its list was read ([`AppState::documents_of`]).
    pub fn document_info(&self, space: &PublicKey, id: &str) -> Option<DocumentInfo> {
        self.docs.get(space).and_then(|d| d.list.iter().find(|x| &*x.id == id).cloned())
    }

    /// A member's name in `space` (their key's fingerprint when unknown).
    pub fn member_name(&self, space: &PublicKey, identity: &PublicKey) -> String {
        self.snapshot
            .members_of(space)
            .iter()
            .find(|m| m.identity == *identity)
            .map(|m| m.name.clone())
            .unwrap_or_else(|| identity.fingerprint())
    }

    /// The other people (not this identity) viewing `object` of `space` now, each once.
    pub fn viewers_of(&self, space: &PublicKey, object: &str) -> Vec<Viewer> {
        let me = self.snapshot.identity.as_ref().map(|i| i.identity_key);
        let mut out: Vec<Viewer> = Vec::new();
        for p in self.services.local.here(space) {
            if p.state.object.as_deref() == Some(object)
                && Some(p.identity) != me
                && !out.iter().any(|v| v.identity == p.identity)
            {
                out.push(Viewer { identity: p.identity, name: self.member_name(space, &p.identity) });
            }
        }
        out
    }

    /// What a member is looking at in `space` now, in words ("viewing Launch plan", "here"),
    /// if a device of theirs says it is here (presence).
    pub fn viewing(&self, space: &PublicKey, identity: &PublicKey) -> Option<String> {
        let here = self.services.local.here(space);
        let p = here.iter().find(|p| p.identity == *identity)?;
        Some(match &p.state.object {
            Some(o) => match self.document_info(space, o) {
                Some(d) if !d.name.is_empty() => format!("viewing {}", d.name),
                Some(_) => "viewing Untitled".to_owned(),
                None => "viewing an object".to_owned(),
            },
            None => "here".to_owned(),
        })
    }

    /// Says which object this device views in the selected space (presence), when that
    /// changed.
    pub fn announce_view(&mut self) {
        let now = self.space.as_ref().map(|s| (s.id(), self.object.as_ref().map(|o| o.id.clone())));
        if now == self.announced {
            return;
        }
        if let Some((old, _)) = &self.announced
            && now.as_ref().map(|(s, _)| s) != Some(old)
        {
            self.services.local.set_here(*old, None);
        }
        if let Some((space, object)) = &now {
            self.services
                .local
                .set_here(*space, Some(LocalPresence { object: object.clone(), anchor: None, head: None }));
        }
        self.announced = now;
    }

    /// Says where this device's cursor is in `object` of `space` (presence).
    pub fn set_my_cursor(&mut self, space: &PublicKey, object: &str, editor: &TextEditor, sel: (usize, usize)) {
        let here = LocalPresence {
            object: Some(object.to_owned()),
            anchor: editor.encode_position(sel.0),
            head: editor.encode_position(sel.1),
        };
        self.services.local.set_here(*space, Some(here));
    }

    /// Remembers how to wake the window (for subscriptions made from the frame).
    pub fn set_repaint(&mut self, ctx: &egui::Context) {
        if self.repaint.is_none() {
            self.repaint = Some(ctx.clone());
            let ctx = ctx.clone();
            self.services.local.on_presence(Arc::new(move || ctx.request_repaint()));
        }
    }

    /// Opens a dialog (replacing any open one).
    pub fn open_dialog(&mut self, d: Box<dyn Surface>) {
        self.dialog = Some(d);
    }
}
