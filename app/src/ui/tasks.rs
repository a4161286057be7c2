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
        Self { space, rows: Vec::new(), stale, _sub: sub, input: String::new(), error }
    }

    fn refresh(&mut self) {
        if self.stale.swap(false, Ordering::AcqRel) {
            self.rows = self.space.tasks();
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
            if ui.button("Add").clicked() || enter {
                self.add();
                field.request_focus();
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        ui.add_space(8.0);
        let left = self.rows.iter().filter(|(_, t)| !t.completed).count();
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
