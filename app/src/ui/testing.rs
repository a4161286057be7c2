//! Helpers for the UI tests: a profile in a temporary folder with an identity and a space, and
//! a kittest harness drawing one surface with the app's shared state.

use std::sync::Arc;

use dxos_client::Space;
use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use super::DxosApp;
use super::plugin::Surface;
use super::state::{AppState, Saved, Services};
use dxos_client::{Local, Profile};

/// A profile with identity "Ada" and a space "Groceries".
pub struct Fixture {
    /// Removed on drop.
    #[allow(dead_code)]
    pub dir: tempfile::TempDir,
    /// The profile, open here.
    pub local: Arc<Local>,
    /// The space.
    pub space: Space,
}

/// Makes the fixture.
pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let profile = Profile::new(Some(dir.path().join("p"))).unwrap_or_else(|e| panic!("{e}"));
    let local = Arc::new(Local::open(&profile).unwrap_or_else(|e| panic!("{e}")));
    local.create_identity("Ada").unwrap_or_else(|e| panic!("{e}"));
    let space = local.create_space("Groceries").unwrap_or_else(|e| panic!("{e}"));
    Fixture { dir, local, space }
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
    let app = AppState::new(Services::new(f.local.clone(), None), Some(f.space.clone()));
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

/// The whole app in a harness.
pub type AppHarness = Harness<'static, Option<DxosApp>>;

/// The whole app over `services`, in a window of `size`. kittest fails on a character no font
/// draws; with `boxes_for_a_moment`, one shows as a box until the system's font for it is found
/// in the background (ui::fonts), as it does for a person.
pub fn app_harness(services: Arc<Services>, size: egui::Vec2, boxes_for_a_moment: bool) -> AppHarness {
    let builder = Harness::builder().with_size(size).with_step_dt(1.0 / 60.0);
    let builder = if boxes_for_a_moment { builder.allow_missing_glyphs() } else { builder };
    builder.build_ui_state(
        move |ui, app: &mut Option<DxosApp>| {
            app.get_or_insert_with(|| DxosApp::new(ui.ctx(), services.clone(), Saved::default())).frame(ui);
        },
        None,
    )
}

/// Steps until a node labelled `label` is on screen (background work repaints), for up to
/// 20 s: a loaded CI machine runs the other tests meanwhile.
pub fn wait_for_label<S>(h: &mut Harness<'static, S>, label: &str) {
    wait_for(h, &format!("{label:?}"), |h| h.query_by_label(label).is_some());
}

/// Steps until a label containing `part` is on screen, as [`wait_for_label`].
pub fn wait_for_label_containing<S>(h: &mut Harness<'static, S>, part: &str) {
    wait_for(h, &format!("a label containing {part:?}"), |h| h.query_by_label_contains(part).is_some());
}

fn wait_for<S>(h: &mut Harness<'static, S>, what: &str, shown: impl Fn(&Harness<'static, S>) -> bool) {
    use egui_kittest::kittest::NodeT;
    for _ in 0..2000 {
        h.step();
        if shown(h) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let on_screen: Vec<String> = h.root().children_recursive().filter_map(|n| n.accesskit_node().label()).collect();
    panic!("{what} never showed; on screen: {on_screen:?}");
}
