//! The spaces section of the sidebar: the navigation tree of spaces and their objects
//! ([`super::navtree`]); create, rename, share by QR, delete (and restore) and leave a space;
//! and the selected space's members, who is online, and removing one.

use dxos_client::{PublicKey, Role};
use eframe::egui;

use super::invite_dialog::InviteDialog;
use super::navtree::NavTree;
use super::plugin::{Contribution, Plugin, Registry, Surface, SurfaceRole};
use super::state::AppState;

/// Contributes the spaces and members sections.
pub struct SpacesPlugin;

impl Plugin for SpacesPlugin {
    fn register(&self, r: &mut Registry) {
        r.add(Contribution {
            role: SurfaceRole::Sidebar,
            id: "spaces",
            label: "Spaces",
            typename: None,
            make: |_, _| Some(Box::new(SpacesSection::default())),
        });
        r.add(Contribution {
            role: SurfaceRole::Sidebar,
            id: "members",
            label: "Members",
            typename: None,
            make: |_, _| Some(Box::new(MembersSection { confirm: None })),
        });
    }
}

#[derive(Default)]
struct SpacesSection {
    tree: NavTree,
    new_name: Option<String>,
    rename: Option<String>,
    confirm_leave: bool,
}

impl SpacesSection {
    /// Deleted spaces, which can come back.
    fn deleted(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        let deleted: Vec<(PublicKey, String)> = app
            .snapshot
            .spaces
            .iter()
            .filter(|s| s.deleted && s.role.is_some())
            .map(|s| (s.id, s.name.clone()))
            .collect();
        if !deleted.is_empty() {
            ui.collapsing("Deleted", |ui| {
                for (id, name) in deleted {
                    ui.horizontal(|ui| {
                        ui.label(&name);
                        // Restoring may load the space from the store: off the UI thread.
                        if ui.small_button("Restore").clicked() {
                            app.spawn_write(ui.ctx(), "restore the space", move |c| c.restore_space(id));
                        }
                    });
                }
            });
        }
    }
}

impl Surface for SpacesSection {
    fn ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        let selected = app.space.as_ref().map(|s| s.id());
        let rows: Vec<(PublicKey, String)> = app
            .snapshot
            .spaces
            .iter()
            .filter(|s| !s.deleted && s.role.is_some())
            .map(|s| (s.id, s.name.clone()))
            .collect();
        let _ = selected;
        self.tree.ui(ui, app);
        // New space.
        match &mut self.new_name {
            None => {
                if ui.small_button("New space").clicked() {
                    self.new_name = Some(String::new());
                }
            }
            Some(name) => {
                let mut done = None;
                ui.horizontal(|ui| {
                    let f = ui.add(egui::TextEdit::singleline(name).hint_text("Name").desired_width(110.0));
                    f.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "New space name"));
                    let enter = f.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    if (ui.small_button("Create").clicked() || enter) && !name.trim().is_empty() {
                        done = Some(name.trim().to_owned());
                    }
                    if ui.small_button("Cancel").clicked() {
                        done = Some(String::new());
                    }
                });
                if let Some(n) = done {
                    if !n.is_empty() {
                        app.spawn_write(ui.ctx(), "create the space", move |c| c.create_space(&n).map(|_| ()));
                    }
                    self.new_name = None;
                }
            }
        }
        self.deleted(ui, app);
        let Some(space) = app.space.clone() else { return };
        let role = app.role();
        ui.separator();
        ui.horizontal_wrapped(|ui| {
            if matches!(role, Some(Role::Owner | Role::Admin | Role::Editor)) && ui.small_button("Rename").clicked() {
                self.rename = Some(space.name());
            }
            if matches!(role, Some(Role::Owner | Role::Admin)) && ui.small_button("Share…").clicked() {
                let id = Some(space.id().to_string());
                let d = InviteDialog::new(app, ui.ctx(), id, format!("Share {}", space.name()));
                app.open_dialog(Box::new(d));
            }
            if ui.small_button("Delete").on_hover_text("Hide it here; restore it below").clicked() {
                let id = space.id();
                app.spawn_write(ui.ctx(), "delete the space", move |c| c.delete_space(id));
                // Show another space, if there is one.
                app.space = None;
                if let Some(next) = rows.iter().find(|(other, _)| *other != id).map(|(other, _)| *other) {
                    app.select_space(ui.ctx(), next);
                }
            }
            let leave = if self.confirm_leave { "Really leave?" } else { "Leave" };
            if ui.small_button(leave).on_hover_text("Leave it on all your devices; the others keep it").clicked() {
                if self.confirm_leave {
                    let id = space.id();
                    app.spawn_write(ui.ctx(), "leave the space", move |c| c.leave_space(&id.to_string()));
                }
                self.confirm_leave = !self.confirm_leave;
            }
        });
        if let Some(name) = &mut self.rename {
            let mut done = None;
            ui.horizontal(|ui| {
                let f = ui.add(egui::TextEdit::singleline(name).desired_width(110.0));
                f.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Space name"));
                let enter = f.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if ui.small_button("Save").clicked() || enter {
                    done = Some(true);
                }
                if ui.small_button("Cancel").clicked() {
                    done = Some(false);
                }
            });
            if let Some(save) = done {
                if save
                    && !name.trim().is_empty()
                    && let Err(e) = space.rename(name.trim())
                {
                    app.notify(format!("Could not rename the space: {e}"));
                }
                self.rename = None;
            }
        }
    }
}

struct MembersSection {
    confirm: Option<PublicKey>,
}

impl Surface for MembersSection {
    fn ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        let Some(space) = app.space.as_ref().map(|s| s.id()) else { return };
        let me = app.snapshot.identity.as_ref().map(|i| i.identity_key);
        let manage = matches!(app.role(), Some(Role::Owner | Role::Admin));
        let snapshot = app.snapshot.clone();
        let members = snapshot.members_of(&space);
        // A space may have many members: only the rows in view are drawn.
        let row = ui.spacing().interact_size.y + ui.spacing().item_spacing.y;
        egui::ScrollArea::vertical().id_salt("members").max_height(row * 12.0).show_rows(
            ui,
            row,
            members.len(),
            |ui, rows| {
                for m in &members[rows] {
                    ui.horizontal(|ui| {
                        super::state::online_dot(ui, m.online);
                        let you = if Some(m.identity) == me { " (you)" } else { "" };
                        ui.label(format!("{}{you}", m.name));
                        ui.label(egui::RichText::new(m.role.as_str()).weak());
                        if Some(m.identity) != me
                            && let Some(what) = app.viewing(&space, &m.identity)
                        {
                            let color = super::theme::Tokens::ui(ui).person(m.identity.as_bytes());
                            ui.label(egui::RichText::new(what).color(color));
                        }
                        if manage && Some(m.identity) != me && m.role != Role::Owner {
                            let asking = self.confirm == Some(m.identity);
                            let text = if asking { "Really remove?" } else { "Remove" };
                            if ui.small_button(text).clicked() {
                                if asking {
                                    let who = m.identity;
                                    app.spawn_write(ui.ctx(), "remove the member", move |c| {
                                        c.remove_member(&space.to_string(), who)
                                    });
                                    self.confirm = None;
                                } else {
                                    self.confirm = Some(m.identity);
                                }
                            }
                        }
                    });
                }
            },
        );
    }
}
