//! The desktop app: an eframe window that owns the profile (CLI.md) and hosts plugins, as
//! DXOS Composer does: each plugin contributes surfaces ([`plugin`]), the Layout puts them in
//! place ([`layout`]), and they share [`state::AppState`].
//!
//! The UI reaches the profile only through `dxos-client` (in this process). The UI thread only
//! draws: it reads results that subscriptions refreshed and a snapshot a job keeps; writes go
//! to ECHO in memory (its writer thread does the disk I/O) or to the client's jobs (HALO
//! writes, the network). It never blocks on I/O.

pub mod bidi;
pub mod crash_notice;
pub mod demo;
pub mod devices;
pub mod document;
pub mod fonts;
pub mod identity;
pub mod invite_dialog;
pub mod join_dialog;
pub mod layout;
pub mod markdown;
pub mod navtree;
pub mod plugin;
pub mod presence;
pub mod settings;
pub mod spaces;
pub mod state;
pub mod sync;
pub mod task_model;
pub mod tasks;
pub mod theme;
pub mod todomvc;
pub mod welcome;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};

use dxos_client::owner::{self, Owner, OwnerEvent};
use dxos_client::{ClientError, Local, NetOptions, OwnerRole, Profile, PublicKey, Space};
use eframe::egui;

use state::{AppState, Saved, Services};

/// Every plugin of the app, in order (sidebar sections appear in this order). The list lives
/// here, where the app is put together, so `plugin.rs` imports no plugin.
pub fn plugins() -> Vec<Box<dyn plugin::Plugin>> {
    vec![
        Box::new(theme::ThemePlugin),
        Box::new(identity::IdentityPlugin),
        Box::new(spaces::SpacesPlugin),
        Box::new(devices::DevicesPlugin),
        Box::new(sync::SyncPlugin),
        Box::new(tasks::TasksPlugin),
        Box::new(todomvc::TodoMvcPlugin),
        Box::new(document::DocumentPlugin),
        Box::new(theme::AppearancePlugin),
    ]
}

/// Name of the space made on first run.
pub const DEFAULT_SPACE: &str = "My Space";
/// The key of the app's saved state in eframe's storage.
const SAVED_KEY: &str = "dxos";

/// How [`launch`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launched {
    /// The app ran here until its window closed.
    Ran,
    /// The app already ran on the profile: it raised its window (and took the link).
    Raised,
}

/// Opens the app on `profile`, or, if it runs already, asks it to raise its window (one
/// window per profile); `link` (a checked `dxos:` link) goes to its join dialog either way.
pub fn launch(profile: &Profile, link: Option<String>) -> Result<Launched, ClientError> {
    if owner::raise(profile, link.clone())? {
        return Ok(Launched::Raised);
    }
    match run(profile, link.clone()) {
        // Another launch took the profile between our two looks: ask it instead.
        Err(ClientError::Denied(why)) => {
            if owner::raise(profile, link)? {
                Ok(Launched::Raised)
            } else {
                Err(ClientError::Denied(why))
            }
        }
        r => r.map(|()| Launched::Ran),
    }
}

/// Opens the desktop app on `profile` and returns when its window closes; `link` opens in
/// the join dialog.
pub fn run(profile: &Profile, link: Option<String>) -> Result<(), ClientError> {
    owner::install_signal_handler();
    let (owner, events) = owner::acquire(profile, OwnerRole::App)?;
    // The node runs in the background once the profile has an identity (now, or once the
    // welcome view made one, or a join started it); the window never waits for it.
    let services = Services::new(owner.local().clone(), Some(NetOptions::default()));
    if services.local.identity_key().is_some() {
        let s = services.clone();
        services.client.jobs().spawn("start the network", move |_job| s.ensure_net());
    }
    // Read before the window opens, not in a frame.
    let crashes = crate::desktop::crash::pending(profile.dir());
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("DXOS")
        .with_app_id(crate::desktop::APP_ID)
        .with_inner_size([980.0, 640.0]);
    if let Some(icon) = crate::desktop::icon::window_icon() {
        viewport = viewport.with_icon(icon);
    }
    let options = eframe::NativeOptions {
        renderer: eframe::Renderer::Glow,
        viewport,
        persistence_path: Some(profile.dir().join("window.ron")),
        // The Theme plugin installs our own fallback to the system's fonts (ui::fonts).
        system_font_fallback: false,
        ..Default::default()
    };
    let result = eframe::run_native(
        "DXOS",
        options,
        Box::new(move |cc| {
            let ctx = cc.egui_ctx.clone();
            // SIGINT/SIGTERM close the window, so the owner flushes on the way out.
            let c = ctx.clone();
            services.client.jobs().spawn("close on a signal", move |_job| -> Result<(), ClientError> {
                owner::wait_for_signal().map_err(|e| ClientError::io("cannot wait for signals", e))?;
                c.send_viewport_cmd(egui::ViewportCommand::Close);
                c.request_repaint();
                Ok(())
            });
            let saved: Saved = cc.storage.and_then(|s| eframe::get_value(s, SAVED_KEY)).unwrap_or_default();
            let mut app = DxosApp::new(&cc.egui_ctx, services, saved);
            app.set_launches(forward_launches(events, &ctx));
            app.set_crash_reports(crashes);
            if let Some(l) = link {
                app.open_link(l);
            }
            Ok(Box::new(app))
        }),
    );
    // The window is closed and the app dropped: stop the node, flush and release the profile.
    owner::STOP_SIGNAL.store(true, Ordering::SeqCst);
    let stopped = release(owner);
    result.map_err(|e| ClientError::Internal(format!("the window could not be opened: {e}")))?;
    stopped
}

/// Passes the owner's `Open` events (a second launch, a `dxos open`) to the window, waking
/// it; the thread ends when the owner stops.
pub fn forward_launches(events: Receiver<OwnerEvent>, ctx: &egui::Context) -> Receiver<Option<String>> {
    let (tx, rx): (Sender<Option<String>>, Receiver<Option<String>>) = std::sync::mpsc::channel();
    let ctx = ctx.clone();
    let spawned = std::thread::Builder::new().name("dxos-launches".into()).spawn(move || {
        for event in events {
            if let OwnerEvent::Open(link) = event {
                if tx.send(link).is_err() {
                    return;
                }
                ctx.request_repaint();
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the thread that takes launches: {e}");
    }
    rx
}

/// Stops the owner once the app's jobs let go of the profile (within moments of the stop).
fn release(owner: Owner) -> Result<(), ClientError> {
    let flushed = owner.local().flush();
    let stopped = owner.stop();
    flushed.and(stopped)
}

/// The space `saved` names, if the profile still has it, else the first one (or a new one).
fn initial_space(local: &Local, saved: &Saved) -> Result<Space, ClientError> {
    if let Some(id) = saved.space.as_deref().and_then(|s| s.parse::<PublicKey>().ok())
        && local.my_role(&id).is_some()
        && let Ok(space) = local.space_by_id(&id)
    {
        return Ok(space);
    }
    local.first_space_or_create(DEFAULT_SPACE)
}

enum Screen {
    Welcome(welcome::WelcomeView),
    Main(layout::Layout),
}

/// The app: the plugins, their registry, the Layout, and the shared state.
pub struct DxosApp {
    registry: plugin::Registry,
    screen: Screen,
    app: AppState,
    stop: Arc<AtomicBool>,
    /// Launches handed over by the owner's socket (a link, or none: just raise the window).
    launches: Option<Receiver<Option<String>>>,
    /// A link waiting for the open dialog to close, to show in the join dialog.
    pending_link: Option<String>,
    /// Crash reports of earlier runs not yet seen.
    crashes: crash_notice::CrashNotice,
}

impl DxosApp {
    /// The app over `services`, reopening what `saved` says.
    pub fn new(ctx: &egui::Context, services: Arc<Services>, saved: Saved) -> Self {
        let plugins = plugins();
        for p in &plugins {
            p.setup(ctx);
        }
        let registry = plugin::registry(&plugins);
        let local = services.local.clone();
        let mut app = AppState::new(services.clone(), None);
        if let Some(v) = &saved.view {
            app.view = v.clone();
        }
        app.filter = saved.filter;
        app.object = saved.object.clone();
        app.theme = saved.theme;
        app.theme.apply(ctx);
        app.set_repaint(ctx);
        let stop = Arc::new(AtomicBool::new(false));
        // Nothing here touches the disk: the snapshot and the space arrive from jobs.
        let _no_disk = dxos_client::forbid_storage("the UI thread opening the app");
        app.start_refresh(ctx, stop.clone());
        let screen = if local.identity_key().is_some() {
            app.open_space_with(ctx, "open your space", move |local| initial_space(local, &saved));
            Screen::Main(layout::Layout::new(&registry, ctx, &app))
        } else {
            Screen::Welcome(welcome::WelcomeView::new(services))
        };
        Self {
            registry,
            screen,
            app,
            stop,
            launches: None,
            pending_link: None,
            crashes: crash_notice::CrashNotice::default(),
        }
    }

    /// Where launches arrive (see [`forward_launches`]).
    pub fn set_launches(&mut self, rx: Receiver<Option<String>>) {
        self.launches = Some(rx);
    }

    /// Crash reports to offer (read at launch).
    pub fn set_crash_reports(&mut self, reports: Vec<crate::desktop::crash::Pending>) {
        self.crashes = crash_notice::CrashNotice::new(reports);
    }

    /// Shows `link` in the join dialog (once no other dialog is open); never joins by itself.
    pub fn open_link(&mut self, link: String) {
        self.pending_link = Some(link);
    }

    /// Takes the launches that arrived: raises the window, and queues their links.
    fn take_launches(&mut self, ctx: &egui::Context) {
        let Some(rx) = &self.launches else { return };
        while let Ok(link) = rx.try_recv() {
            ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(false));
            ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
            if link.is_some() {
                self.pending_link = link;
            }
        }
        if self.app.dialog.is_none()
            && let Some(link) = self.pending_link.take()
        {
            self.app.dialog = Some(Box::new(join_dialog::JoinDialog::with_link(link)));
        }
    }

    /// The shared state (for tests).
    pub fn state(&self) -> &AppState {
        &self.app
    }

    /// The shared state, to change (for tests).
    #[cfg(test)]
    pub fn app_state_mut(&mut self) -> &mut AppState {
        &mut self.app
    }

    /// Draws one frame.
    pub fn frame(&mut self, ui: &mut egui::Ui) {
        // A frame never waits for the disk (debug builds check every store transaction).
        let _no_disk = dxos_client::forbid_storage("the UI thread drawing a frame");
        self.app.begin_frame();
        self.app.announce_view();
        self.take_launches(ui.ctx());
        self.crashes.ui(ui, &mut self.app);
        if self.app.identity_changed {
            self.app.identity_changed = false;
            self.app.dialog = None;
            self.app.open_default_space(ui.ctx());
            self.screen = Screen::Main(layout::Layout::new(&self.registry, ui.ctx(), &self.app));
        }
        let mut ready = None;
        match &mut self.screen {
            Screen::Welcome(w) => {
                let app = &mut self.app;
                egui::CentralPanel::default().show(ui, |ui| ready = w.ui(ui, app));
                layout::dialog(ui.ctx(), &mut self.app);
            }
            Screen::Main(l) => l.ui(ui, &mut self.app),
        }
        if let Some(r) = ready {
            self.app.space = Some(r.space);
            self.screen = Screen::Main(layout::Layout::new(&self.registry, ui.ctx(), &self.app));
        }
    }
}

impl Drop for DxosApp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl eframe::App for DxosApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        let saved = Saved {
            space: self.app.space.as_ref().map(|s| s.id().to_string()),
            view: Some(self.app.view.clone()),
            filter: self.app.filter,
            object: self.app.object.clone(),
            theme: self.app.theme,
        };
        eframe::set_value(storage, SAVED_KEY, &saved);
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod app_tests;

#[cfg(test)]
mod a11y_tests;

#[cfg(test)]
mod composer_tests;

#[cfg(test)]
mod launch_tests;
