//! The navigation tree (Composer's navtree): the profile's spaces, sorted naturally ("Space 2"
//! before "Space 10"), and in each its objects by type: the task list and the documents.
//! It filters as you type, makes a new document in a space, renames and deletes documents
//! (soft: a deleted one is listed under "Deleted" with Restore), and shows who is viewing
//! what. Selecting an object shows the surface registered for its type in the main area.
//! Every row is a focusable, labelled widget: Tab and the arrow keys (egui's focus moves) go
//! between rows, Enter opens, F2 renames and Delete deletes the focused document.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};

use dxos_client::space::{DOCUMENT_TYPE, DocumentInfo};
use dxos_client::{ClientError, PublicKey, Role, Space};
use eframe::egui;

use super::state::{AppState, Selected};
use super::theme::Tokens;

/// Compares names as people expect: runs of digits by their value, the rest ignoring case.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (a.peek().copied(), b.peek().copied()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let take = |it: &mut std::iter::Peekable<std::str::Chars<'_>>| {
                    let mut s = String::new();
                    while let Some(c) = it.peek().copied().filter(char::is_ascii_digit) {
                        s.push(c);
                        it.next();
                    }
                    s
                };
                let (na, nb) = (take(&mut a), take(&mut b));
                let (ta, tb) = (na.trim_start_matches('0'), nb.trim_start_matches('0'));
                let by_value = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                if by_value != Ordering::Equal {
                    return by_value;
                }
            }
            (Some(x), Some(y)) => {
                let (lx, ly) = (x.to_lowercase().next().unwrap_or(x), y.to_lowercase().next().unwrap_or(y));
                if lx != ly {
                    return lx.cmp(&ly);
                }
                a.next();
                b.next();
            }
        }
    }
}

/// A document just made: its space and id.
type Created = (PublicKey, String);

/// The tree's own state: which spaces are open, their handles, a rename under way.
#[derive(Default)]
pub struct NavTree {
    filter: String,
    expanded: HashSet<PublicKey>,
    spaces: HashMap<PublicKey, Space>,
    loading: HashMap<PublicKey, Receiver<Result<Space, String>>>,
    renaming: Option<(PublicKey, String, String)>,
    created: Option<(Sender<Created>, Receiver<Created>)>,
}

fn matches(filter: &str, name: &str) -> bool {
    filter.is_empty() || name.to_lowercase().contains(&filter.to_lowercase())
}

impl NavTree {
    /// Takes spaces that finished opening and documents just made.
    fn take_arrivals(&mut self, ctx: &egui::Context, app: &mut AppState) {
        let mut done = Vec::new();
        for (id, rx) in &self.loading {
            match rx.try_recv() {
                Ok(Ok(space)) => {
                    self.spaces.insert(*id, space);
                    done.push(*id);
                }
                Ok(Err(e)) => {
                    app.notify(format!("Could not open the space: {e}"));
                    done.push(*id);
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => done.push(*id),
            }
        }
        for id in done {
            self.loading.remove(&id);
        }
        if let Some((_, rx)) = &self.created {
            while let Ok((space, doc)) = rx.try_recv() {
                let name = String::new();
                self.renaming = Some((space, doc.clone(), name));
                self.expanded.insert(space);
                app.show(ctx, space, Some(Selected { id: doc, typename: DOCUMENT_TYPE.to_owned() }));
            }
        }
    }

    /// The space's handle, opening it in a job the first time it is wanted.
    fn space(&mut self, ctx: &egui::Context, app: &AppState, id: PublicKey) -> Option<Space> {
        if let Some(s) = app.space.as_ref().filter(|s| s.id() == id) {
            self.spaces.entry(id).or_insert_with(|| s.clone());
        }
        if let Some(s) = self.spaces.get(&id) {
            return Some(s.clone());
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = self.loading.entry(id) {
            slot.insert(app.load_space(ctx, id));
        }
        None
    }

    fn new_document(&mut self, ui: &egui::Ui, app: &AppState, space: Space) {
        let (tx, _) = self.created.get_or_insert_with(std::sync::mpsc::channel);
        let (tx, ctx) = (tx.clone(), ui.ctx().clone());
        let n = space.documents(false).len() + 1;
        app.spawn_write(ui.ctx(), "make the document", move |_| {
            let id = space.add_document(&format!("Untitled {n}"), "").map_err(ClientError::from)?;
            let _ = tx.send((space.id(), id.to_string()));
            ctx.request_repaint();
            Ok(())
        });
    }

    /// Draws the tree.
    pub fn ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        self.take_arrivals(ui.ctx(), app);
        let tokens = Tokens::ui(ui);
        let f = ui.add(egui::TextEdit::singleline(&mut self.filter).hint_text("Filter").desired_width(f32::INFINITY));
        f.widget_info(|| egui::WidgetInfo::labeled(egui::Role::SearchInput, true, "Filter spaces and documents"));
        let filter = self.filter.trim().to_owned();
        let selected_space = app.space.as_ref().map(|s| s.id());
        if let Some(s) = selected_space {
            self.expanded.insert(s);
        }
        let mut spaces: Vec<(PublicKey, String, Option<Role>)> = app
            .snapshot
            .spaces
            .iter()
            .filter(|s| !s.deleted && s.role.is_some())
            .map(|s| (s.id, s.name.clone(), s.role))
            .collect();
        spaces.sort_by(|a, b| natural_cmp(&a.1, &b.1).then(a.0.cmp(&b.0)));
        let row_height = ui.spacing().interact_size.y + ui.spacing().item_spacing.y;
        egui::ScrollArea::vertical().id_salt("navtree").max_height(row_height * 18.0).auto_shrink([false, true]).show(
            ui,
            |ui| {
                for (id, name, role) in spaces {
                    let name = if name.is_empty() { "(syncing…)".to_owned() } else { name };
                    let docs: Vec<DocumentInfo> = match self.space(ui.ctx(), app, id) {
                        Some(space) if self.expanded.contains(&id) || !filter.is_empty() => {
                            let mut d = app.documents_of(&space).to_vec();
                            d.sort_by(|a, b| natural_cmp(&a.name, &b.name).then(a.id.cmp(&b.id)));
                            d
                        }
                        _ => Vec::new(),
                    };
                    let space_matches = matches(&filter, &name);
                    let shown_docs: Vec<&DocumentInfo> =
                        docs.iter().filter(|d| !d.deleted && (space_matches || matches(&filter, &d.name))).collect();
                    if !space_matches && shown_docs.is_empty() {
                        continue;
                    }
                    let open = self.expanded.contains(&id) || !filter.is_empty();
                    ui.horizontal(|ui| {
                        let t = disclosure(ui, open, &tokens);
                        t.widget_info(|| {
                            let what = if open { "Collapse" } else { "Expand" };
                            egui::WidgetInfo::labeled(egui::Role::Button, true, format!("{what} {name}"))
                        });
                        if t.clicked() {
                            if open {
                                self.expanded.remove(&id);
                            } else {
                                self.expanded.insert(id);
                            }
                        }
                        let r = ui.selectable_label(selected_space == Some(id), egui::RichText::new(&name).strong());
                        let r = r.on_hover_text(format!("Space {name}"));
                        if r.clicked() {
                            self.expanded.insert(id);
                            app.show(ui.ctx(), id, None);
                        }
                    });
                    if !open {
                        continue;
                    }
                    let writable = matches!(role, Some(Role::Owner | Role::Admin | Role::Editor));
                    ui.indent(("nav-children", id), |ui| {
                        // The task list.
                        if space_matches || matches(&filter, "Task list") {
                            let sel = selected_space == Some(id) && app.object.is_none();
                            let r = ui.selectable_label(sel, "Task list");
                            if r.clicked() {
                                app.show(ui.ctx(), id, None);
                            }
                        }
                        for d in &shown_docs {
                            self.document_row(ui, app, &tokens, id, d, writable);
                        }
                        if writable
                            && let Some(space) = self.spaces.get(&id).cloned()
                            && ui
                                .small_button("+ New document")
                                .on_hover_text(format!("A new document in {name}"))
                                .clicked()
                        {
                            self.new_document(ui, app, space);
                        }
                        let deleted: Vec<&DocumentInfo> = docs.iter().filter(|d| d.deleted).collect();
                        if !deleted.is_empty() && filter.is_empty() {
                            egui::CollapsingHeader::new(format!("Deleted ({})", deleted.len()))
                                .id_salt(("nav-deleted", id))
                                .show(ui, |ui| {
                                    for d in deleted {
                                        ui.horizontal(|ui| {
                                            ui.label(egui::RichText::new(doc_name(d)).color(tokens.weak));
                                            if writable && ui.small_button("Restore").clicked() {
                                                restore(ui, app, self.spaces.get(&id).cloned(), d.id.to_string());
                                            }
                                        });
                                    }
                                });
                        }
                    });
                }
            },
        );
    }

    fn document_row(
        &mut self,
        ui: &mut egui::Ui,
        app: &mut AppState,
        tokens: &Tokens,
        space: PublicKey,
        d: &DocumentInfo,
        writable: bool,
    ) {
        let id = d.id.to_string();
        if let Some((s, doc, name)) = &mut self.renaming
            && *s == space
            && *doc == id
        {
            let mut done = None;
            ui.horizontal(|ui| {
                let f = ui.add(egui::TextEdit::singleline(name).hint_text(doc_name(d)).desired_width(120.0));
                f.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Document name"));
                if !f.has_focus() && !f.lost_focus() && name.is_empty() {
                    f.request_focus();
                }
                if f.lost_focus() {
                    done = Some(ui.input(|i| !i.key_pressed(egui::Key::Escape)));
                }
                if ui.small_button("Save").clicked() {
                    done = Some(true);
                }
            });
            if let Some(save) = done {
                let name = name.trim().to_owned();
                if save && !name.is_empty() {
                    rename(ui, app, self.spaces.get(&space).cloned(), id.clone(), name);
                }
                self.renaming = None;
            }
            return;
        }
        let sel = app.space.as_ref().map(|s| s.id()) == Some(space)
            && app.object.as_ref().map(|o| o.id.as_str()) == Some(id.as_str());
        let viewers = app.viewers_of(&space, &id);
        let label = doc_name(d);
        let r = ui
            .horizontal(|ui| {
                let r = ui.selectable_label(sel, label.as_str());
                for v in &viewers {
                    ui.label(egui::RichText::new("•").strong().color(tokens.person(v.identity.as_bytes())))
                        .on_hover_text(format!("{} is viewing this", v.name));
                }
                r
            })
            .inner;
        let who = viewers.iter().map(|v| v.name.as_str()).collect::<Vec<_>>().join(", ");
        r.widget_info(|| {
            let text =
                if who.is_empty() { format!("Document {label}") } else { format!("Document {label}, viewed by {who}") };
            egui::WidgetInfo::selected(egui::Role::Button, true, sel, text)
        });
        if r.clicked() {
            app.show(ui.ctx(), space, Some(Selected { id: id.clone(), typename: DOCUMENT_TYPE.to_owned() }));
        }
        let mut action = None;
        if writable && r.has_focus() {
            ui.input(|i| {
                if i.key_pressed(egui::Key::F2) {
                    action = Some("rename");
                } else if i.key_pressed(egui::Key::Delete) {
                    action = Some("delete");
                }
            });
        }
        if writable {
            r.context_menu(|ui| {
                if ui.button("Rename").clicked() {
                    action = Some("rename");
                    ui.close();
                }
                if ui.button("Delete").clicked() {
                    action = Some("delete");
                    ui.close();
                }
            });
        }
        match action {
            Some("rename") => self.renaming = Some((space, id, d.name.clone())),
            Some("delete") => {
                if sel {
                    app.select_object(None);
                }
                delete(ui, app, self.spaces.get(&space).cloned(), id);
            }
            _ => {}
        }
    }
}

/// The triangle that opens and closes a space's branch (drawn: no font has one everywhere).
fn disclosure(ui: &mut egui::Ui, open: bool, tokens: &Tokens) -> egui::Response {
    let size = ui.spacing().icon_width;
    let (rect, r) = ui.allocate_exact_size(egui::vec2(size, size), egui::Sense::click());
    let color = if r.hovered() || r.has_focus() { tokens.strong } else { tokens.weak };
    let c = rect.center();
    let h = size * 0.3;
    let points = if open {
        vec![c + egui::vec2(-h, -h * 0.6), c + egui::vec2(h, -h * 0.6), c + egui::vec2(0.0, h * 0.8)]
    } else {
        vec![c + egui::vec2(-h * 0.6, -h), c + egui::vec2(-h * 0.6, h), c + egui::vec2(h * 0.8, 0.0)]
    };
    ui.painter().add(egui::Shape::convex_polygon(points, color, egui::Stroke::NONE));
    r
}

fn doc_name(d: &DocumentInfo) -> String {
    if d.name.trim().is_empty() { "Untitled".to_owned() } else { d.name.clone() }
}

fn rename(ui: &egui::Ui, app: &AppState, space: Option<Space>, id: String, name: String) {
    let Some(space) = space else { return };
    app.spawn_write(ui.ctx(), "rename the document", move |_| {
        space.rename_document(&id, &name).map_err(ClientError::from)
    });
}

fn delete(ui: &egui::Ui, app: &AppState, space: Option<Space>, id: String) {
    let Some(space) = space else { return };
    app.spawn_write(ui.ctx(), "delete the document", move |_| space.delete(&id).map_err(ClientError::from));
}

fn restore(ui: &egui::Ui, app: &AppState, space: Option<Space>, id: String) {
    let Some(space) = space else { return };
    app.spawn_write(ui.ctx(), "restore the document", move |_| space.restore(&id).map_err(ClientError::from));
}

#[cfg(test)]
mod tests {
    use super::natural_cmp;

    #[test]
    fn names_sort_naturally() {
        let mut names = vec!["Space 10", "space 2", "Space 1", "Notes", "Space 02b", "alpha", "Beta", "x9", "x10", ""];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["", "alpha", "Beta", "Notes", "Space 1", "space 2", "Space 02b", "Space 10", "x9", "x10"]);
    }
}
