//! The Tasks view (the DXOS Tasks sample): add by button or Enter; a checkbox per task; click
//! a title to edit it (Enter or leaving saves, Esc cancels); delete and move buttons on hover;
//! drag a task by its handle to reorder; counts.

use dxos_client::Space;
use eframe::egui;

use super::plugin::{Contribution, Plugin, Registry, Surface, SurfaceRole};
use super::state::AppState;
use super::task_model::{
    READ_ONLY_NOTE, RowAction, TASK_TYPE, TaskList, edit_field, row_hovered, task_checkbox, title_label,
};

/// Contributes the Tasks view.
pub struct TasksPlugin;

impl Plugin for TasksPlugin {
    fn register(&self, r: &mut Registry) {
        r.add(Contribution {
            role: SurfaceRole::Main,
            id: "tasks",
            label: "Tasks",
            typename: Some(TASK_TYPE),
            make: |ctx, app| app.space.clone().map(|s| Box::new(TasksView::new(ctx, s)) as Box<dyn Surface>),
        });
    }
}

/// The Tasks view of a space.
pub struct TasksView {
    list: TaskList,
}

impl TasksView {
    /// Changes made here still waiting for the space to load.
    pub fn waiting(&self) -> usize {
        self.list.waiting()
    }

    /// A view of `space`'s tasks; changes (local or remote) ask `ctx` for a repaint.
    pub fn new(ctx: &egui::Context, space: Space) -> Self {
        // An emptied title keeps the old one.
        Self { list: TaskList::new(ctx, space, false) }
    }

    fn input_row(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let field = ui.add(
                egui::TextEdit::singleline(&mut self.list.input)
                    .hint_text("What needs to be done?")
                    .desired_width(ui.available_width() - 70.0),
            );
            field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "New task"));
            self.list.input_id = Some(field.id);
            let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            // Typing goes to the new-task input unless something else has the focus.
            if !enter && self.list.editing.is_none() && ui.memory(|m| m.focused().is_none()) {
                field.request_focus();
            }
            if ui.button("Add").clicked() || enter {
                self.list.add_input();
                field.request_focus();
            }
        });
    }

    fn row(&mut self, ui: &mut egui::Ui, index: usize, read_only: bool, act: &mut Option<RowAction>) {
        let count = self.list.model.rows().len();
        let Some((id, task)) = self.list.model.rows().get(index) else { return };
        let (id, title, completed) = (id.clone(), task.title.clone(), task.completed);
        let row = ui.horizontal(|ui| {
            if !read_only {
                let handle = ui.dnd_drag_source(ui.make_persistent_id(("task-drag", &id)), index, |ui| {
                    // Three short lines, drawn (no font has to have a glyph for them).
                    let (rect, _) = ui.allocate_exact_size(egui::vec2(12.0, 16.0), egui::Sense::hover());
                    let stroke = egui::Stroke::new(1.5, ui.visuals().weak_text_color());
                    for dy in [-4.0, 0.0, 4.0] {
                        let y = rect.center().y + dy;
                        ui.painter().hline(rect.left() + 1.0..=rect.right() - 1.0, y, stroke);
                    }
                });
                handle.response.on_hover_text("Drag to reorder");
            }
            if let Some(done) = task_checkbox(ui, completed, !read_only, format!("Done: {title}")) {
                *act = Some(RowAction::Toggle(id.clone(), done));
            }
            if let Some(e) = self.list.editing.as_mut().filter(|e| e.id == id) {
                // Enter and leaving the field save; Esc cancels.
                if let Some(save) = edit_field(ui, e, "Edit task") {
                    self.list.finish_edit(save);
                }
                return;
            }
            let label = title_label(ui, &title, completed);
            if label.clicked() && !read_only {
                *act = Some(RowAction::Edit(id.clone(), title.clone()));
            }
            let hovered = row_hovered(ui);
            if hovered && !read_only {
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let del = ui.small_button("Delete");
                    del.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, format!("Delete {title}")));
                    if del.clicked() {
                        *act = Some(RowAction::Delete(id.clone()));
                    }
                    if index + 1 < count {
                        let down = ui.small_button("Down");
                        down.widget_info(|| {
                            egui::WidgetInfo::labeled(egui::Role::Button, true, format!("Move {title} down"))
                        });
                        if down.clicked() {
                            *act = Some(RowAction::Move(id.clone(), index + 1));
                        }
                    }
                    if index > 0 {
                        let up = ui.small_button("Up");
                        up.widget_info(|| {
                            egui::WidgetInfo::labeled(egui::Role::Button, true, format!("Move {title} up"))
                        });
                        if up.clicked() {
                            *act = Some(RowAction::Move(id.clone(), index - 1));
                        }
                    }
                });
            }
        });
        // Dropping a dragged task on this row moves it here; a line shows where.
        if row.response.dnd_hover_payload::<usize>().is_some_and(|from| *from != index) {
            let r = row.response.rect;
            ui.painter().hline(r.x_range(), r.top(), ui.visuals().selection.stroke);
        }
        let dropped = row.response.dnd_release_payload::<usize>();
        if let Some(from) = dropped
            && *from != index
            && let Some((moved, _)) = self.list.model.rows().get(*from)
        {
            *act = Some(RowAction::Move(moved.clone(), index));
        }
    }
}

impl Surface for TasksView {
    fn ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        self.list.model.refresh();
        self.list.take_errors();
        let read_only = app.read_only();
        self.list.undo_keys(ui);
        ui.heading(self.list.model.space().name());
        ui.add_space(8.0);
        if read_only {
            ui.label(READ_ONLY_NOTE);
        } else {
            self.input_row(ui);
        }
        if let Some(e) = &self.list.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        ui.add_space(8.0);
        let (total, done) = (self.list.model.rows().len(), self.list.model.completed());
        ui.label(format!("{total} {}, {done} done", if total == 1 { "task" } else { "tasks" }));
        ui.separator();
        let row_height = ui.spacing().interact_size.y + ui.spacing().item_spacing.y + 2.0;
        let mut act = None;
        egui::ScrollArea::vertical().auto_shrink([false, false]).show_rows(ui, row_height, total, |ui, range| {
            for i in range {
                self.row(ui, i, read_only, &mut act);
            }
        });
        if let Some(a) = act {
            self.list.act(a);
        }
    }
}

#[cfg(test)]
mod tests {
    use eframe::egui;
    use eframe::egui::accesskit::Toggled;
    use egui_kittest::kittest::{NodeT, Queryable};

    use super::TasksView;
    use crate::ui::testing::{Drawn, fixture, harness, tasks};

    type H = egui_kittest::Harness<'static, Drawn<TasksView>>;

    fn titles(f: &crate::ui::testing::Fixture) -> Vec<String> {
        tasks(&f.space).into_iter().map(|(t, _)| t).collect()
    }

    fn type_new(h: &mut H, text: &str) {
        assert!(h.get_by_label("New task").is_focused(), "the new-task input waits for typing");
        h.get_by_label("New task").type_text(text);
        h.step();
    }

    #[test]
    fn add_by_enter_and_by_button_check_edit_delete() {
        let f = fixture();
        let mut h = harness(&f, TasksView::new);
        h.run();
        type_new(&mut h, "  Milk ");
        h.key_press(egui::Key::Enter);
        h.run();
        assert_eq!(titles(&f), ["Milk"], "Enter adds, trimmed");
        type_new(&mut h, "Eggs");
        h.get_by_label("Add").click();
        h.run();
        type_new(&mut h, "   ");
        h.key_press(egui::Key::Enter);
        h.run();
        assert_eq!(titles(&f), ["Milk", "Eggs"], "an empty title is ignored");
        h.get_by_label("2 tasks, 0 done");
        // Check.
        h.get_by_label("Done: Milk").click();
        h.run();
        assert_eq!(tasks(&f.space)[0], ("Milk".to_owned(), true));
        assert_eq!(h.get_by_label("Done: Milk").accesskit_node().toggled(), Some(Toggled::True));
        h.get_by_label("2 tasks, 1 done");
        // Click a title to edit it; Enter saves.
        h.get_by_label("Eggs").click();
        h.run();
        assert!(h.get_by_label("Edit task").is_focused());
        h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
        h.step();
        h.get_by_label("Edit task").type_text("Free-range eggs");
        h.step();
        h.key_press(egui::Key::Enter);
        h.run();
        assert_eq!(titles(&f), ["Milk", "Free-range eggs"]);
        // Esc cancels.
        h.get_by_label("Milk").click();
        h.run();
        h.get_by_label("Edit task").type_text(" and honey");
        h.step();
        h.key_press(egui::Key::Escape);
        h.run();
        assert_eq!(titles(&f), ["Milk", "Free-range eggs"]);
        // Delete on hover.
        h.remove_cursor();
        h.run();
        assert!(h.query_by_label("Delete Milk").is_none());
        h.get_by_label("Milk").hover();
        h.run();
        h.get_by_label("Delete Milk").click();
        h.run();
        assert_eq!(titles(&f), ["Free-range eggs"]);
    }

    #[test]
    fn reorder_by_buttons_and_by_drag() {
        let f = fixture();
        for t in ["One", "Two", "Three"] {
            f.space.add_task(t).ok();
        }
        let mut h = harness(&f, TasksView::new);
        h.run();
        h.get_by_label("One").hover();
        h.run();
        h.get_by_label("Move One down").click();
        h.run();
        assert_eq!(titles(&f), ["Two", "One", "Three"]);
        h.get_by_label("Three").hover();
        h.run();
        h.get_by_label("Move Three up").click();
        h.run();
        assert_eq!(titles(&f), ["Two", "Three", "One"]);
        // Drag "One" by its handle onto the first row.
        let from = h.get_by_label("One").rect();
        let to = h.get_by_label("Two").rect();
        let handle = egui::pos2(from.left() - 40.0, from.center().y);
        h.drag_at(handle);
        h.step();
        for i in 1..=10 {
            let t = i as f32 / 10.0;
            h.hover_at(handle + (egui::pos2(handle.x, to.center().y) - handle) * t);
            h.step();
        }
        h.drop_at(egui::pos2(handle.x, to.center().y));
        h.run();
        assert_eq!(titles(&f), ["One", "Two", "Three"], "dragged to the top");
    }

    #[test]
    fn undo_and_redo_with_the_keyboard() {
        let f = fixture();
        let mut h = harness(&f, TasksView::new);
        h.run();
        type_new(&mut h, "Milk");
        h.key_press(egui::Key::Enter);
        h.run();
        assert_eq!(titles(&f), ["Milk"]);
        // With the new-task input empty, Ctrl+Z is the space's undo.
        f.space.undo_boundary();
        h.get_by_label("Done: Milk").click();
        h.run();
        assert!(tasks(&f.space)[0].1);
        h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
        h.run();
        assert!(!tasks(&f.space)[0].1, "undone");
        h.key_press_modifiers(egui::Modifiers::COMMAND | egui::Modifiers::SHIFT, egui::Key::Z);
        h.run();
        assert!(tasks(&f.space)[0].1, "redone");
    }
}
