//! Plugins and surfaces, as in DXOS Composer: a plugin contributes *surfaces* (a view for a
//! role and, for main views, an object type) to a [`Registry`]; the Layout plugin asks the
//! registry what to draw where. Adding a view is one module and one line in `ui::plugins`
//! (this module knows no plugin: each plugin imports it, not the other way round).
//! Plain Rust: no dynamic loading, no macros.

use eframe::egui;

use super::state::AppState;

/// Where a surface goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurfaceRole {
    /// The main area: a view of the selected space's objects of one type.
    Main,
    /// A section of the sidebar.
    Sidebar,
}

/// Something drawn in its place each frame. It only draws: it reads state that background
/// work refreshed and hands long work to threads.
pub trait Surface {
    /// Draws the surface.
    fn ui(&mut self, ui: &mut egui::Ui, app: &mut AppState);
}

/// Makes a surface (for the selected space, for main surfaces).
pub type MakeSurface = fn(&egui::Context, &AppState) -> Option<Box<dyn Surface>>;

/// One contribution of a plugin.
pub struct Contribution {
    /// Where it goes.
    pub role: SurfaceRole,
    /// Its id (kept in the window's saved state for the selected view).
    pub id: &'static str,
    /// Its name for people (a tab, a section heading).
    pub label: &'static str,
    /// For main surfaces: the object type it shows.
    pub typename: Option<&'static str>,
    /// Makes it.
    pub make: MakeSurface,
}

/// What plugins contributed.
#[derive(Default)]
pub struct Registry {
    contributions: Vec<Contribution>,
}

impl Registry {
    /// Adds a contribution.
    pub fn add(&mut self, c: Contribution) {
        self.contributions.push(c);
    }

    /// The contributions for a role, in registration order.
    pub fn for_role(&self, role: SurfaceRole) -> impl Iterator<Item = &Contribution> {
        self.contributions.iter().filter(move |c| c.role == role)
    }
}

/// A plugin: registers its surfaces, and may set things up once the window exists.
pub trait Plugin {
    /// Adds its surfaces.
    fn register(&self, _registry: &mut Registry) {}
    /// Runs once when the window opens.
    fn setup(&self, _ctx: &egui::Context) {}
}

/// The registry of the given plugins.
pub fn registry(plugins: &[Box<dyn Plugin>]) -> Registry {
    let mut r = Registry::default();
    for p in plugins {
        p.register(&mut r);
    }
    r
}
