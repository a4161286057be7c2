//! The TodoMVC view (the TodoMVC spec, on the space's Task objects): new-todo input,
//! toggle-all, toggle, double-click to edit (Enter or leaving the field saves, Esc cancels, an
//! emptied title deletes), destroy on hover, "N items left", the All / Active / Completed
//! filters, and "Clear completed" only when something is completed.

use dxos_client::{ObjectId, Space};
use eframe::egui;

use super::plugin::{Contribution, Plugin, Registry, Surface, SurfaceRole};
use super::state::{AppState, Filter};
use super::task_model::{
    READ_ONLY_NOTE, RowAction, TaskList, edit_field, items_left, row_hovered, task_checkbox, title_label,
};

/// Contributes the TodoMVC view of tasks.
pub struct TodoMvcPlugin;

impl Plugin for TodoMvcPlugin {
    fn register(&self, r: &mut Registry) {
        r.add(Contribution {
            role: SurfaceRole::Main,
            id: "todomvc",
            label: "TodoMVC",
            typename: Some(super::task_model::TASK_TYPE),
            make: |ctx, app| app.space.clone().map(|s| Box::new(TodoMvcView::new(ctx, s)) as Box<dyn Surface>),
        });
    }
}

/// The TodoMVC view of a space.
pub struct TodoMvcView {
    list: TaskList,
    /// Indexes into the model's rows that the filter shows, and what they were made from.
    shown: Vec<usize>,
    shown_for: (u64, Filter),
}

impl TodoMvcView {
    /// The view of `space`'s tasks.
    pub fn new(ctx: &egui::Context, space: Space) -> Self {
        // An emptied title deletes the todo (the TodoMVC spec).
        Self { list: TaskList::new(ctx, space, true), shown: Vec::new(), shown_for: (u64::MAX, Filter::All) }
    }

    fn refilter(&mut self, filter: Filter) {
        if self.shown_for == (self.list.model.generation(), filter) {
            return;
        }
        self.shown_for = (self.list.model.generation(), filter);
        self.shown = self
            .list
            .model
            .rows()
            .iter()
            .enumerate()
            .filter(|(_, (_, t))| match filter {
                Filter::All => true,
                Filter::Active => !t.completed,
                Filter::Completed => t.completed,
            })
            .map(|(i, _)| i)
            .collect();
    }

    fn header(&mut self, ui: &mut egui::Ui, read_only: bool) {
        ui.vertical_centered(|ui| ui.heading("todos"));
        if read_only {
            ui.label(READ_ONLY_NOTE);
            return;
        }
        let field = ui.add(
            egui::TextEdit::singleline(&mut self.list.input)
                .hint_text("What needs to be done?")
                .desired_width(f32::INFINITY),
        );
        field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "New todo"));
        self.list.input_id = Some(field.id);
        let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if enter {
            self.list.add_input();
            field.request_focus();
        } else if self.list.editing.is_none() && ui.memory(|m| m.focused().is_none()) {
            field.request_focus();
        }
    }

    fn row(&mut self, ui: &mut egui::Ui, index: usize, read_only: bool, act: &mut Option<RowAction>) {
        let Some((id, task)) = self.list.model.rows().get(index) else { return };
        let (id, title, completed) = (id.clone(), task.title.clone(), task.completed);
        ui.horizontal(|ui| {
            if let Some(done) = task_checkbox(ui, completed, !read_only, format!("Toggle {title}")) {
                *act = Some(RowAction::Toggle(id.clone(), done));
            }
            if let Some(e) = self.list.editing.as_mut().filter(|e| e.id == id) {
                // Enter and leaving the field save; Esc cancels.
                if let Some(save) = edit_field(ui, e, "Edit todo") {
                    self.list.finish_edit(save);
                }
                return;
            }
            let label = title_label(ui, &title, completed);
            if label.double_clicked() && !read_only {
                *act = Some(RowAction::Edit(id.clone(), title.clone()));
            }
            if !read_only && row_hovered(ui) {
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let destroy = ui.small_button("×");
                    destroy
                        .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, format!("Delete {title}")));
                    if destroy.clicked() {
                        *act = Some(RowAction::Delete(id.clone()));
                    }
                });
            }
        });
    }

    fn footer(&mut self, ui: &mut egui::Ui, app: &mut AppState, read_only: bool) {
        ui.horizontal(|ui| {
            ui.label(items_left(self.list.model.active()));
            ui.add_space(12.0);
            for (f, name) in [(Filter::All, "All"), (Filter::Active, "Active"), (Filter::Completed, "Completed")] {
                if ui.selectable_label(app.filter == f, name).clicked() {
                    app.filter = f;
                }
            }
            if self.list.model.completed() > 0 && !read_only {
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    if ui.button("Clear completed").clicked() {
                        let done: Vec<ObjectId> = self
                            .list
                            .model
                            .rows()
                            .iter()
                            .filter(|(_, t)| t.completed)
                            .map(|(id, _)| id.clone())
                            .collect();
                        self.list.write("clear completed tasks", move |s| done.iter().try_for_each(|id| s.delete(id)));
                    }
                });
            }
        });
    }
}

impl Surface for TodoMvcView {
    fn ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        self.list.model.refresh();
        self.list.take_errors();
        let read_only = app.read_only();
        self.list.undo_keys(ui);
        self.header(ui, read_only);
        if let Some(e) = &self.list.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        if self.list.model.rows().is_empty() {
            return;
        }
        if !read_only {
            let all_done = self.list.model.active() == 0;
            let mut all = all_done;
            let toggle_all = ui.checkbox(&mut all, "Mark all as complete");
            if toggle_all.changed() {
                let ids: Vec<ObjectId> = self
                    .list
                    .model
                    .rows()
                    .iter()
                    .filter(|(_, t)| t.completed == all_done)
                    .map(|(id, _)| id.clone())
                    .collect();
                self.list.write("update the tasks", move |s| {
                    ids.iter().try_for_each(|id| s.set_task_completed(id, !all_done).map(|_| ()))
                });
            }
        }
        ui.separator();
        self.refilter(app.filter);
        let mut act = None;
        let row_height = ui.spacing().interact_size.y + ui.spacing().item_spacing.y;
        let footer_height = row_height + 12.0;
        egui::ScrollArea::vertical()
            .max_height((ui.available_height() - footer_height).max(row_height))
            .auto_shrink([false, true])
            .show_rows(ui, row_height, self.shown.len(), |ui, range| {
                for i in range {
                    let index = self.shown[i];
                    self.row(ui, index, read_only, &mut act);
                }
            });
        ui.separator();
        self.footer(ui, app, read_only);
        if let Some(a) = act {
            self.list.act(a);
        }
    }
}

#[cfg(test)]
mod tests {
    use eframe::egui;
    use eframe::egui::accesskit::{Role, Toggled};
    use egui_kittest::kittest::{NodeT, Queryable};

    use super::TodoMvcView;
    use crate::ui::state::Filter;
    use crate::ui::testing::{Drawn, fixture, harness, tasks};

    type H = egui_kittest::Harness<'static, Drawn<TodoMvcView>>;

    fn new_todo(h: &mut H, text: &str) {
        h.get_by_label("New todo").focus();
        h.step();
        h.get_by_label("New todo").type_text(text);
        h.step();
        h.key_press(egui::Key::Enter);
        h.run();
    }

    fn toggled(h: &H, label: &str) -> Option<Toggled> {
        h.get_by_label(label).accesskit_node().toggled()
    }

    #[test]
    fn enter_adds_trimmed_and_empty_is_ignored() {
        let f = fixture();
        let mut h = harness(&f, TodoMvcView::new);
        h.run();
        assert!(h.query_by_label("Mark all as complete").is_none(), "no toggle-all without todos");
        new_todo(&mut h, "  Milk  ");
        assert_eq!(tasks(&f.space), [("Milk".to_owned(), false)]);
        new_todo(&mut h, "   ");
        assert_eq!(tasks(&f.space).len(), 1, "an empty title adds nothing");
        h.get_by_label("1 item left");
        new_todo(&mut h, "Eggs");
        h.get_by_label("2 items left");
    }

    #[test]
    fn toggle_and_toggle_all() {
        let f = fixture();
        f.space.add_task("Milk").ok();
        f.space.add_task("Eggs").ok();
        let mut h = harness(&f, TodoMvcView::new);
        h.run();
        h.get_by_label("Toggle Milk").click();
        h.run();
        assert_eq!(tasks(&f.space), [("Milk".into(), true), ("Eggs".into(), false)]);
        assert_eq!(toggled(&h, "Toggle Milk"), Some(Toggled::True));
        h.get_by_label("1 item left");
        h.get_by_label("Mark all as complete").click();
        h.run();
        assert!(tasks(&f.space).iter().all(|(_, d)| *d), "toggle-all on");
        h.get_by_label("0 items left");
        assert_eq!(toggled(&h, "Mark all as complete"), Some(Toggled::True));
        h.get_by_label("Mark all as complete").click();
        h.run();
        assert!(tasks(&f.space).iter().all(|(_, d)| !*d), "toggle-all off");
        h.get_by_label("2 items left");
    }

    #[test]
    fn double_click_edits_enter_and_blur_save_esc_cancels_empty_deletes() {
        let f = fixture();
        for t in ["Milk", "Eggs", "Tea"] {
            f.space.add_task(t).ok();
        }
        let mut h = harness(&f, TodoMvcView::new);
        h.run();
        let edit = |h: &mut H, from: &str, to: &str| {
            // Half a second apart from the last clicks, or egui counts a triple-click.
            h.run_steps(30);
            h.get_by_label(from).click();
            h.step();
            h.get_by_label(from).click();
            h.run();
            let editor = h.query_by_label("Edit todo");
            assert!(editor.is_some_and(|e| e.is_focused()), "double-click opens the editor on {from}");
            h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
            h.step();
            h.get_by_label("Edit todo").type_text(to);
            h.step();
        };
        // Enter saves (trimmed).
        edit(&mut h, "Milk", " Oat milk ");
        h.key_press(egui::Key::Enter);
        h.run();
        assert_eq!(tasks(&f.space)[0].0, "Oat milk");
        // Esc cancels.
        edit(&mut h, "Eggs", "Bacon");
        h.key_press(egui::Key::Escape);
        h.run();
        assert_eq!(tasks(&f.space)[1].0, "Eggs");
        assert!(h.query_by_label("Edit todo").is_none());
        // Leaving the field saves.
        edit(&mut h, "Tea", "Green tea");
        h.get_by_label("todos").click();
        h.run();
        assert_eq!(tasks(&f.space)[2].0, "Green tea");
        // An emptied title deletes the todo.
        edit(&mut h, "Eggs", "");
        h.key_press(egui::Key::Backspace);
        h.step();
        h.key_press(egui::Key::Enter);
        h.run();
        assert_eq!(tasks(&f.space).iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), ["Oat milk", "Green tea"]);
    }

    #[test]
    fn destroy_on_hover() {
        let f = fixture();
        f.space.add_task("Milk").ok();
        f.space.add_task("Eggs").ok();
        let mut h = harness(&f, TodoMvcView::new);
        h.run();
        assert!(h.query_by_label("Delete Milk").is_none(), "the destroy button shows on hover only");
        h.get_by_label("Milk").hover();
        h.run();
        h.get_by_label("Delete Milk").click();
        h.run();
        assert_eq!(tasks(&f.space), [("Eggs".to_owned(), false)]);
        h.get_by_label("1 item left");
    }

    #[test]
    fn filters_and_clear_completed() {
        let f = fixture();
        for t in ["Milk", "Eggs", "Tea"] {
            f.space.add_task(t).ok();
        }
        let mut h = harness(&f, TodoMvcView::new);
        h.run();
        assert!(h.query_by_label("Clear completed").is_none(), "nothing completed, no button");
        h.get_by_label("Toggle Eggs").click();
        h.run();
        let shown = |h: &H| -> Vec<String> {
            ["Milk", "Eggs", "Tea"].iter().filter(|t| h.query_by_label(t).is_some()).map(|t| t.to_string()).collect()
        };
        h.get_by_label("Active").click();
        h.run();
        assert_eq!(h.state().app.filter, Filter::Active);
        assert_eq!(shown(&h), ["Milk", "Tea"]);
        h.get_by_label("Completed").click();
        h.run();
        assert_eq!(shown(&h), ["Eggs"]);
        h.get_by_label("All").click();
        h.run();
        assert_eq!(shown(&h), ["Milk", "Eggs", "Tea"]);
        h.get_by_label("2 items left");
        h.get_by_label("Clear completed").click();
        h.run();
        assert_eq!(tasks(&f.space).iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), ["Milk", "Tea"]);
        assert!(h.query_by_label("Clear completed").is_none(), "gone once nothing is completed");
        assert_eq!(h.query_all_by_role(Role::CheckBox).count(), 3, "two rows and toggle-all");
    }
}
