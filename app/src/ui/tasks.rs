//! The Tasks view: the tasks of one space, bound live to an ECHO subscription.
//!
//! The list is refreshed only when the subscription says it changed; drawing reads the cached
//! rows, so a frame costs the visible rows, not the size of the space.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dxos_echo::tasks::task_query;
use dxos_echo::{ObjectId, Space, Subscription, Task};
use eframe::egui;

/// The Tasks view state.
pub struct TasksView {
    space: Space,
    rows: Vec<(ObjectId, Task)>,
    /// Tasks not completed, counted when the rows change (not per frame).
    left: usize,
    stale: Arc<AtomicBool>,
    _sub: Subscription,
    input: String,
    error: Option<String>,
}

impl TasksView {
    /// A view of `space`'s tasks; changes (local or remote) ask `ctx` for a repaint.
    pub fn new(ctx: &egui::Context, space: Space) -> Self {
        let error = space.enable_undo().err().map(|e| format!("Undo is not available: {e}"));
        let stale = Arc::new(AtomicBool::new(true));
        let (s, c) = (stale.clone(), ctx.clone());
        let sub = space.subscribe(task_query(), move |_| {
            s.store(true, Ordering::Release);
            c.request_repaint();
        });
        Self { space, rows: Vec::new(), left: 0, stale, _sub: sub, input: String::new(), error }
    }

    fn refresh(&mut self) {
        if self.stale.swap(false, Ordering::AcqRel) {
            self.rows = self.space.tasks();
            self.left = self.rows.iter().filter(|(_, t)| !t.completed).count();
        }
    }

    fn add(&mut self) {
        let title = self.input.trim().to_owned();
        if title.is_empty() {
            return;
        }
        match self.space.add_task(&title) {
            Ok(_) => self.input.clear(),
            Err(e) => self.error = Some(format!("Could not add the task: {e}")),
        }
    }

    /// Draws the view.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        self.refresh();
        ui.heading(self.space.name());
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            let field = ui.add(
                egui::TextEdit::singleline(&mut self.input)
                    .hint_text("What needs to be done?")
                    .desired_width(ui.available_width() - 70.0),
            );
            let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            // Typing goes to the new-task input unless something else has the focus.
            if !enter && ui.memory(|m| m.focused().is_none()) {
                field.request_focus();
            }
            if ui.button("Add").clicked() || enter {
                self.add();
                field.request_focus();
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        ui.add_space(8.0);
        let left = self.left;
        ui.label(format!("{left} {} left", if left == 1 { "item" } else { "items" }));
        ui.separator();
        let row_height = ui.spacing().interact_size.y + ui.spacing().item_spacing.y;
        let mut toggled: Option<(ObjectId, bool)> = None;
        egui::ScrollArea::vertical().auto_shrink([false, false]).show_rows(
            ui,
            row_height,
            self.rows.len(),
            |ui, range| {
                for (id, task) in &self.rows[range] {
                    let mut done = task.completed;
                    if ui.checkbox(&mut done, &task.title).changed() {
                        toggled = Some((id.clone(), done));
                    }
                }
            },
        );
        if let Some((id, done)) = toggled
            && let Err(e) = self.space.set_task_completed(&id, done)
        {
            self.error = Some(format!("Could not update the task: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Client;
    use crate::profile::Profile;
    use eframe::egui::accesskit::{Role, Toggled};
    use egui_kittest::Harness;
    use egui_kittest::kittest::{NodeT, Queryable};

    fn space() -> (tempfile::TempDir, Space) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let profile = Profile::new(Some(dir.path().join("p"))).unwrap_or_else(|e| panic!("{e}"));
        let client = Client::open(&profile).unwrap_or_else(|e| panic!("{e}"));
        client.create_identity("Ada").unwrap_or_else(|e| panic!("{e}"));
        let space = client.create_space("Groceries").unwrap_or_else(|e| panic!("{e}"));
        (dir, space)
    }

    fn harness(space: &Space) -> Harness<'static, Option<TasksView>> {
        let space = space.clone();
        Harness::new_ui_state(
            move |ui, view: &mut Option<TasksView>| {
                view.get_or_insert_with(|| TasksView::new(ui.ctx(), space.clone())).ui(ui)
            },
            None,
        )
    }

    /// Types into the new-task input (it has the focus when nothing else does).
    fn type_into(h: &mut Harness<'static, Option<TasksView>>, text: &str) {
        assert!(h.get_by_role(Role::TextInput).is_focused(), "the new-task input waits for typing");
        h.get_by_role(Role::TextInput).type_text(text);
        h.step();
    }

    fn titles(space: &Space) -> Vec<(String, bool)> {
        space.tasks().into_iter().map(|(_, t)| (t.title, t.completed)).collect()
    }

    #[test]
    fn add_by_enter_and_by_button_ignore_empty_and_complete() {
        let (_dir, space) = space();
        let mut h = harness(&space);
        h.run();
        type_into(&mut h, "  Milk ");
        h.key_press(egui::Key::Enter);
        h.run();
        assert_eq!(titles(&space), [("Milk".to_owned(), false)], "Enter adds, trimmed");
        type_into(&mut h, "Eggs");
        h.get_by_label("Add").click();
        h.run();
        type_into(&mut h, "   ");
        h.key_press(egui::Key::Enter);
        h.run();
        assert_eq!(titles(&space).len(), 2, "an empty title is ignored");
        h.get_by_label("2 items left");
        h.get_by_label("Milk").click();
        h.run();
        assert_eq!(titles(&space)[0], ("Milk".to_owned(), true));
        assert_eq!(h.get_by_label("Milk").accesskit_node().toggled(), Some(Toggled::True));
        h.get_by_label("1 item left");
    }

    #[test]
    fn a_change_from_elsewhere_shows_after_one_frame() {
        let (_dir, space) = space();
        let mut h = harness(&space);
        h.run();
        // As a peer or another process would: a write from another thread.
        let other = space.clone();
        std::thread::spawn(move || other.add_task("From elsewhere")).join().ok();
        h.step();
        h.get_by_label("From elsewhere");
        assert_eq!(h.get_by_label("From elsewhere").accesskit_node().toggled(), Some(Toggled::False));
    }
}
