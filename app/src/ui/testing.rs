//! Helpers for the UI tests: a profile in a temporary folder with an identity and a space, and
//! a kittest harness drawing one surface with the app's shared state.

use std::sync::Arc;

use dxos_echo::Space;
use eframe::egui;
use egui_kittest::Harness;

use super::plugin::Surface;
use super::state::{AppState, Services};
use crate::client::Client;
use crate::profile::Profile;

/// A profile with identity "Ada" and a space "Groceries".
pub struct Fixture {
    /// Removed on drop.
    #[allow(dead_code)]
    pub dir: tempfile::TempDir,
    /// The Client.
    pub client: Arc<Client>,
    /// The space.
    pub space: Space,
}

/// Makes the fixture.
pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let profile = Profile::new(Some(dir.path().join("p"))).unwrap_or_else(|e| panic!("{e}"));
    let client = Arc::new(Client::open(&profile).unwrap_or_else(|e| panic!("{e}")));
    client.create_identity("Ada").unwrap_or_else(|e| panic!("{e}"));
    let space = client.create_space("Groceries").unwrap_or_else(|e| panic!("{e}"));
    Fixture { dir, client, space }
}

/// The state a surface is drawn with, and the surface (made on the first frame).
pub struct Drawn<S> {
    /// The shared state.
    pub app: AppState,
    /// The surface.
    pub view: Option<S>,
    make: fn(&egui::Context, Space) -> S,
}

/// A harness drawing the surface `make` builds for the fixture's space.
pub fn harness<S: Surface + 'static>(f: &Fixture, make: fn(&egui::Context, Space) -> S) -> Harness<'static, Drawn<S>> {
    let app = AppState::new(Services::standalone(f.client.clone(), None), Some(f.space.clone()));
    // Steps of 1/60 s, as frames are: two clicks a step apart make a double-click.
    Harness::builder().with_size(egui::vec2(700.0, 500.0)).with_step_dt(1.0 / 60.0).build_ui_state(
        |ui, d: &mut Drawn<S>| {
            d.app.begin_frame();
            let space = d.app.space.clone();
            let make = d.make;
            let view = d.view.get_or_insert_with(|| make(ui.ctx(), space.unwrap_or_else(|| panic!("no space"))));
            view.ui(ui, &mut d.app);
        },
        Drawn { app, view: None, make },
    )
}

/// The space's tasks as (title, completed), in order.
pub fn tasks(space: &Space) -> Vec<(String, bool)> {
    space.tasks().into_iter().map(|(_, t)| (t.title, t.completed)).collect()
}
