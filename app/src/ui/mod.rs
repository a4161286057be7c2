//! The desktop app: an eframe window that owns the profile (CLI.md) and shows its spaces.
//!
//! The UI thread only draws: it reads results that subscriptions refreshed, and writes go to
//! ECHO in memory (the store's writer thread does the disk I/O). It never blocks on I/O.

mod tasks;
mod welcome;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use eframe::egui;

use crate::client::Client;
use crate::owner::{self, Role};
use crate::profile::Profile;
use crate::request::{CmdError, Kind};

/// Name of the space made on first run.
const DEFAULT_SPACE: &str = "My Space";

/// Opens the desktop app on `profile` and returns when its window closes.
pub fn run(profile: &Profile) -> Result<(), CmdError> {
    owner::install_signal_handler();
    let (owner, _events) = owner::acquire(profile, Role::App)?;
    let owner = Arc::new(owner);
    let client = owner.client().clone();
    // The node runs in the background once the profile has an identity (on a first run,
    // after the welcome view made it); the window never waits for it.
    let net_config = crate::net::NetOptions::default().config(profile)?;
    let starter = {
        let owner = owner.clone();
        std::thread::Builder::new()
            .name("dxos-net-start".into())
            .spawn(move || {
                while !owner::STOP_SIGNAL.load(Ordering::SeqCst) {
                    if owner.client().halo().identity().is_some() {
                        if let Err(e) = owner.start_net(net_config) {
                            tracing::warn!("the network node did not start: {}", e.message);
                        }
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
            .map_err(|e| CmdError::new(Kind::Internal, e.to_string()))?
    };
    let space = match client.halo().identity() {
        Some(_) => Some(default_space(&client)?),
        None => None, // first run: the welcome view asks for a name
    };
    let options = eframe::NativeOptions {
        renderer: eframe::Renderer::Glow,
        viewport: egui::ViewportBuilder::default().with_title("DXOS").with_inner_size([760.0, 600.0]),
        ..Default::default()
    };
    let result = eframe::run_native(
        "DXOS",
        options,
        Box::new(move |cc| {
            let ctx = cc.egui_ctx.clone();
            // SIGINT/SIGTERM close the window, so the owner flushes on the way out.
            std::thread::spawn(move || {
                while !owner::STOP_SIGNAL.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                ctx.request_repaint();
            });
            Ok(Box::new(DxosApp::new(&cc.egui_ctx, client, space)))
        }),
    );
    // The window is closed and the app dropped: stop the node, flush and release the profile.
    owner::STOP_SIGNAL.store(true, Ordering::SeqCst);
    let _ = starter.join();
    let stopped = match Arc::try_unwrap(owner) {
        Ok(owner) => owner.stop(),
        Err(_) => Err(CmdError::new(Kind::Internal, "the profile is still in use")),
    };
    result.map_err(|e| CmdError::new(Kind::Internal, format!("the window could not be opened: {e}")))?;
    stopped
}

/// The first live space of the profile, or a new default one.
pub fn default_space(client: &Client) -> Result<dxos_echo::Space, CmdError> {
    match client.echo().spaces(false)?.first() {
        Some(info) => Ok(client.echo().space(&info.id)?),
        None => client.create_space(DEFAULT_SPACE),
    }
}

enum Screen {
    Welcome(welcome::WelcomeView),
    Tasks(tasks::TasksView),
}

struct DxosApp {
    screen: Screen,
}

impl DxosApp {
    fn new(ctx: &egui::Context, client: Arc<Client>, space: Option<dxos_echo::Space>) -> Self {
        let screen = match space {
            Some(space) => Screen::Tasks(tasks::TasksView::new(ctx, space)),
            None => Screen::Welcome(welcome::WelcomeView::new(client)),
        };
        Self { screen }
    }
}

impl eframe::App for DxosApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default().show(ui, |ui| match &mut self.screen {
            Screen::Welcome(w) => {
                if let Some(ready) = w.ui(ui) {
                    self.screen = Screen::Tasks(tasks::TasksView::new(ui.ctx(), ready.space));
                }
            }
            Screen::Tasks(t) => t.ui(ui),
        });
    }
}
