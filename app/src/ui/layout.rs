//! The Layout: where the registry's surfaces go. Sidebar sections on the left (in plugin
//! order), notices across the top, the selected space's views as tabs in the middle (one per
//! main surface for the space's object type), and a modal for the open dialog.

use dxos_client::PublicKey;
use eframe::egui;

use dxos_client::TypedObject;

use super::plugin::{Contribution, MakeSurface, Registry, Surface, SurfaceRole};
use super::state::AppState;

struct Slot {
    id: &'static str,
    label: &'static str,
    typename: Option<&'static str>,
    make: MakeSurface,
    surface: Option<Box<dyn Surface>>,
}

/// Lays out the surfaces.
pub struct Layout {
    sidebar: Vec<(&'static str, Box<dyn Surface>)>,
    mains: Vec<Slot>,
    /// The space and object the main surfaces were made for.
    for_space: Option<(PublicKey, Option<String>)>,
}

impl Layout {
    /// The layout of what `registry` holds.
    pub fn new(registry: &Registry, ctx: &egui::Context, app: &AppState) -> Self {
        let sidebar = registry
            .for_role(SurfaceRole::Sidebar)
            .filter_map(|c: &Contribution| (c.make)(ctx, app).map(|s| (c.label, s)))
            .collect();
        let mains = registry
            .for_role(SurfaceRole::Main)
            .map(|c| Slot { id: c.id, label: c.label, typename: c.typename, make: c.make, surface: None })
            .collect();
        Self { sidebar, mains, for_space: None }
    }

    fn notices(ui: &mut egui::Ui, app: &mut AppState) {
        let mut dismiss = None;
        for (i, n) in app.notices.iter().enumerate() {
            ui.horizontal(|ui| {
                ui.colored_label(ui.visuals().error_fg_color, n);
                if ui.small_button("Dismiss").clicked() {
                    dismiss = Some(i);
                }
            });
        }
        if let Some(i) = dismiss {
            app.notices.remove(i);
        }
    }

    /// Draws the main area only (the demo puts two of them side by side): the surfaces
    /// registered for the selected object's type (the task list's when none is selected), as
    /// tabs when there are several.
    pub fn main_ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        let shown = app.space.as_ref().map(|s| (s.id(), app.object.as_ref().map(|o| o.id.clone())));
        if shown != self.for_space {
            for s in &mut self.mains {
                s.surface = None;
            }
            self.for_space = shown;
        }
        if app.space.is_none() {
            ui.label(if app.is_loading() { "Opening the space…" } else { "No space selected." });
            return;
        }
        let typename = app.object.as_ref().map_or(dxos_client::Task::TYPENAME, |o| o.typename.as_str()).to_owned();
        let ids: Vec<&'static str> =
            self.mains.iter().filter(|s| s.typename.is_none_or(|t| t == typename)).map(|s| s.id).collect();
        let Some(first) = ids.first().copied() else {
            ui.label(format!("Nothing here shows objects of type {typename}."));
            return;
        };
        if !ids.contains(&app.view.as_str()) && ids.len() > 1 {
            // The task list's tabs: the first one unless one of them was chosen.
            app.view = first.to_owned();
        }
        if ids.len() > 1 {
            ui.horizontal(|ui| {
                for s in self.mains.iter().filter(|s| ids.contains(&s.id)) {
                    if ui.selectable_label(app.view == s.id, s.label).clicked() {
                        app.view = s.id.to_owned();
                    }
                }
            });
            ui.separator();
        }
        let view = if ids.contains(&app.view.as_str()) { app.view.clone() } else { first.to_owned() };
        let ctx = ui.ctx().clone();
        if let Some(slot) = self.mains.iter_mut().find(|s| s.id == view) {
            if slot.surface.is_none() {
                slot.surface = (slot.make)(&ctx, app);
            }
            if let Some(surface) = slot.surface.as_mut() {
                surface.ui(ui, app);
            }
        }
    }

    /// Draws everything.
    pub fn ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        let shortcut = egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, egui::Key::Comma);
        if app.dialog.is_none() && ui.input_mut(|i| i.consume_shortcut(&shortcut)) {
            app.dialog = Some(Box::new(super::settings::SettingsDialog::default()));
        }
        egui::Panel::left("sidebar").resizable(true).default_size(240.0).show(ui, |ui| {
            let b = ui.button("Settings").on_hover_text("Device, appearance, relays, profile folder, version (Ctrl+,)");
            if b.clicked() {
                app.dialog = Some(Box::new(super::settings::SettingsDialog::default()));
            }
            egui::ScrollArea::vertical().show(ui, |ui| {
                for (label, s) in &mut self.sidebar {
                    egui::CollapsingHeader::new(*label).default_open(true).show(ui, |ui| s.ui(ui, app));
                }
            });
        });
        egui::CentralPanel::default().show(ui, |ui| {
            Self::notices(ui, app);
            self.main_ui(ui, app);
        });
        dialog(ui.ctx(), app);
    }
}

/// Draws the open dialog as a modal; closes it when it asks to (or on Esc). A click beside
/// it does not close it: the click that opened a dialog (a quick tap, or the first click
/// after another dialog closed) could land on its backdrop and close it at once, and a
/// dialog following a join should not vanish at a stray click.
pub fn dialog(ctx: &egui::Context, app: &mut AppState) {
    let Some(mut d) = app.dialog.take() else { return };
    egui::Modal::new(egui::Id::unique("dxos-dialog")).show(ctx, |ui| {
        ui.set_max_width(420.0);
        d.ui(ui, app);
    });
    let escape = ctx.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Escape));
    if app.close_dialog || escape {
        app.close_dialog = false;
        // A dialog opened from within the dialog replaces it.
    } else if app.dialog.is_none() {
        app.dialog = Some(d);
    }
}
