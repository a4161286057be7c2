//! The Task objects of one space as the views hold them: the rows of an ECHO subscription,
//! re-read only when the subscription says they changed (a local edit, or a peer's update
//! applied on another thread, which also asks for a repaint), never per frame.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

use dxos_client::space::task_query;
use dxos_client::{ObjectId, Space, Subscription, Task};
use eframe::egui;

/// Lists up to this long are re-read in the frame (well under a millisecond); longer ones
/// are re-read by a job, and the view shows the previous rows until they arrive.
pub const READ_IN_FRAME: usize = 1000;

/// The live task list of a space.
pub struct TaskModel {
    space: Space,
    rows: Vec<(ObjectId, Task)>,
    completed: usize,
    stale: Arc<AtomicBool>,
    generation: u64,
    reader: Option<Reader>,
    ctx: egui::Context,
    sub: Subscription,
}

/// A job that re-reads a long list off the UI thread.
struct Reader {
    /// Asks for a re-read (capacity 1: one asked for and not begun covers any more).
    want: SyncSender<()>,
    rows: Receiver<Vec<(ObjectId, Task)>>,
}

impl Reader {
    fn start(space: Space, ctx: egui::Context) -> Self {
        let (want, want_rx) = std::sync::mpsc::sync_channel::<()>(1);
        let (tx, rows) = std::sync::mpsc::channel();
        dxos_client::Jobs::new().spawn(format!("read the tasks of {}", space.name()), move |_job| {
            // Ends when the view (and its sender) is gone.
            for () in want_rx {
                if tx.send(space.tasks()).is_err() {
                    break;
                }
                ctx.request_repaint();
            }
            Ok::<(), String>(())
        });
        Self { want, rows }
    }
}

impl TaskModel {
    /// Subscribes to `space`'s tasks; changes ask `ctx` for a repaint.
    pub fn new(ctx: &egui::Context, space: Space) -> Self {
        let stale = Arc::new(AtomicBool::new(true));
        let (s, c) = (stale.clone(), ctx.clone());
        let sub = space.subscribe(task_query(), move |_| {
            s.store(true, Ordering::Release);
            c.request_repaint();
        });
        Self { space, rows: Vec::new(), completed: 0, stale, generation: 0, reader: None, ctx: ctx.clone(), sub }
    }

    /// Takes the rows if they changed (re-reading a short list now, a long one in a job);
    /// returns whether they did.
    pub fn refresh(&mut self) -> bool {
        let mut changed = false;
        if let Some(rows) = self.reader.as_ref().and_then(|r| r.rows.try_iter().last()) {
            self.set_rows(rows);
            changed = true;
        }
        if !self.stale.swap(false, Ordering::AcqRel) {
            return changed;
        }
        // Short: read now. Long (the subscription counts without reading): a job reads it,
        // from now on (so an older result never arrives after a newer one).
        if self.reader.is_none() && self.sub.len() <= READ_IN_FRAME {
            self.set_rows(self.space.tasks());
            return true;
        }
        let (space, ctx) = (self.space.clone(), self.ctx.clone());
        let reader = self.reader.get_or_insert_with(|| Reader::start(space, ctx));
        let _ = reader.want.try_send(());
        changed
    }

    fn set_rows(&mut self, rows: Vec<(ObjectId, Task)>) {
        self.rows = rows;
        self.completed = self.rows.iter().filter(|(_, t)| t.completed).count();
        self.generation += 1;
    }

    /// Bumped each time the rows change (views cache what they derive from it).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The space.
    pub fn space(&self) -> &Space {
        &self.space
    }

    /// The tasks, in order.
    pub fn rows(&self) -> &[(ObjectId, Task)] {
        &self.rows
    }

    /// How many are completed.
    pub fn completed(&self) -> usize {
        self.completed
    }

    /// How many are not.
    pub fn active(&self) -> usize {
        self.rows.len() - self.completed
    }
}

/// "1 item left", "2 items left".
pub fn items_left(n: usize) -> String {
    format!("{n} {} left", if n == 1 { "item" } else { "items" })
}

/// Ctrl+Z undoes and Ctrl+Shift+Z (or Ctrl+Y) redoes the space's local changes, unless a text
/// field with something to undo has the focus (it has its own undo). `empty_field` is the
/// view's new-item input when it is empty: its focus does not count.
pub fn undo_keys(ui: &egui::Ui, space: &Space, empty_field: Option<egui::Id>) {
    let focused = ui.memory(|m| m.focused());
    if ui.ctx().egui_wants_keyboard_input() && (focused.is_none() || focused != empty_field) {
        return;
    }
    let (undo, redo) = ui.input_mut(|i| {
        let redo = i.consume_key(egui::Modifiers::COMMAND | egui::Modifiers::SHIFT, egui::Key::Z)
            || i.consume_key(egui::Modifiers::COMMAND, egui::Key::Y);
        let undo = i.consume_key(egui::Modifiers::COMMAND, egui::Key::Z);
        (undo, redo)
    });
    if undo {
        space.undo();
    }
    if redo {
        space.redo();
    }
}

/// The note a reader sees above a read-only view.
pub const READ_ONLY_NOTE: &str = "You are a reader in this space: it is read-only for you.";

/// The type both task views show.
pub const TASK_TYPE: &str = "dxos.org/type/Task";

/// A task's title being edited in place.
pub struct Editing {
    /// The task.
    pub id: ObjectId,
    /// The text as typed so far.
    pub text: String,
    focused: bool,
}

impl Editing {
    /// Starts editing `id`, whose title is `text`.
    pub fn new(id: ObjectId, text: String) -> Self {
        Self { id, text, focused: false }
    }
}

/// A row's checkbox, named `name` for AccessKit; returns the new value when it was clicked.
pub fn task_checkbox(ui: &mut egui::Ui, completed: bool, enabled: bool, name: String) -> Option<bool> {
    let mut done = completed;
    let check = ui.add_enabled(enabled, egui::Checkbox::without_text(&mut done));
    check.widget_info(|| egui::WidgetInfo::selected(egui::Role::CheckBox, enabled, done, name.clone()));
    check.changed().then_some(done)
}

/// The in-place editor of a title (named `name`), focused when it opens. Returns `Some(true)`
/// to save (Enter, or leaving the field) and `Some(false)` to cancel (Esc).
pub fn edit_field(ui: &mut egui::Ui, e: &mut Editing, name: &'static str) -> Option<bool> {
    let field = ui.add(egui::TextEdit::singleline(&mut e.text).desired_width(ui.available_width() - 8.0));
    field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, name));
    if !e.focused {
        field.request_focus();
        e.focused = true;
    }
    field.lost_focus().then(|| !ui.input(|i| i.key_pressed(egui::Key::Escape)))
}

/// A task's title as a clickable label, struck through when completed, right-to-left text
/// in its reading order (a screen reader gets the title as written).
pub fn title_label(ui: &mut egui::Ui, title: &str, completed: bool) -> egui::Response {
    let style = |t: egui::RichText| if completed { t.strikethrough().weak() } else { t };
    if super::bidi::has_rtl(title) {
        let job = super::bidi::job(ui, title, style);
        let r = ui.add(egui::Label::new(job).sense(egui::Sense::click()).truncate());
        r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, title));
        r
    } else {
        ui.add(egui::Label::new(style(egui::RichText::new(title))).sense(egui::Sense::click()).truncate())
    }
}

/// Whether the pointer is over the row being drawn (hover-only buttons show then).
pub fn row_hovered(ui: &egui::Ui) -> bool {
    ui.rect_contains_pointer(ui.max_rect().expand2(egui::vec2(0.0, 2.0)))
}

/// What a task row asked for, carried out once the list has been drawn.
pub enum RowAction {
    /// Complete or reopen.
    Toggle(ObjectId, bool),
    /// Delete (soft).
    Delete(ObjectId),
    /// Move to a position in the task order.
    Move(ObjectId, usize),
    /// Open the title editor, with this text.
    Edit(ObjectId, String),
}

/// A write to run on the space, and what it was (for its error).
type Write = (&'static str, Box<dyn FnOnce(&Space) -> Result<(), String> + Send>);

/// How many writes may wait for a loading space; one more is refused with a message (a
/// person cannot type that fast; a stuck load should not grow memory without end).
pub const QUEUE_CAPACITY: usize = 1024;

/// Writes made while the space loads, run in order by a job once it has loaded (a write
/// needs the document; the frame never waits for it).
struct WriteQueue {
    tx: SyncSender<Write>,
    waiting: Arc<AtomicUsize>,
    errors: Receiver<String>,
}

impl WriteQueue {
    fn start(space: Space, ctx: egui::Context) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Write>(QUEUE_CAPACITY);
        let (err_tx, errors) = std::sync::mpsc::channel();
        let waiting = Arc::new(AtomicUsize::new(0));
        let w = waiting.clone();
        dxos_client::Jobs::new().spawn(format!("save changes to {}", space.name()), move |_job| {
            // Ends when the view (and its sender) is gone and every write is done.
            for (what, write) in rx {
                if let Err(e) = write(&space) {
                    let _ = err_tx.send(format!("Could not {what}: {e}"));
                }
                w.fetch_sub(1, Ordering::AcqRel);
                ctx.request_repaint();
            }
            Ok::<(), String>(())
        });
        Self { tx, waiting, errors }
    }
}

/// What the task views share besides their drawing: the live rows, the new-item input, the
/// title being edited, and the last error to show.
pub struct TaskList {
    /// The live rows.
    pub model: TaskModel,
    /// The new-item input.
    pub input: String,
    /// The new-item input's widget id (for the undo keys).
    pub input_id: Option<egui::Id>,
    /// The title being edited, if any.
    pub editing: Option<Editing>,
    /// The last failure, in words.
    pub error: Option<String>,
    /// Whether saving an emptied title deletes the task (TodoMVC) or keeps the old title.
    empty_deletes: bool,
    /// Writes waiting for the space to load (started on the first such write).
    queue: Option<WriteQueue>,
    ctx: egui::Context,
}

impl TaskList {
    /// The task list of `space` (with undo enabled); changes ask `ctx` for a repaint.
    pub fn new(ctx: &egui::Context, space: Space, empty_deletes: bool) -> Self {
        let error = space.enable_undo().err().map(|e| format!("Undo is not available: {e}"));
        Self {
            model: TaskModel::new(ctx, space),
            input: String::new(),
            input_id: None,
            editing: None,
            error,
            empty_deletes,
            queue: None,
            ctx: ctx.clone(),
        }
    }

    /// Makes a change: at once when the space is loaded (ECHO writes in memory; its writer
    /// thread does the disk I/O), else queued behind the load, in order, so the frame (a
    /// keystroke) never waits for it. A failure shows as `Could not {what}: ...`.
    pub fn write<E: std::fmt::Display>(
        &mut self,
        what: &'static str,
        f: impl FnOnce(&Space) -> Result<(), E> + Send + 'static,
    ) {
        let queued = self.queue.as_ref().is_some_and(|q| q.waiting.load(Ordering::Acquire) > 0);
        // Loaded and free: write now. Loading, or a writer (a peer's update) holds the space:
        // queue it, in order, rather than wait in the frame.
        if !queued && self.space().try_is_loading() == Some(false) {
            let r = f(self.space());
            self.report(r, what);
            return;
        }
        let (space, ctx) = (self.space().clone(), self.ctx.clone());
        let q = self.queue.get_or_insert_with(|| WriteQueue::start(space, ctx));
        q.waiting.fetch_add(1, Ordering::AcqRel);
        let write: Write = (what, Box::new(move |s: &Space| f(s).map_err(|e| e.to_string())));
        match q.tx.try_send(write) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                q.waiting.fetch_sub(1, Ordering::AcqRel);
                self.error = Some(format!("Could not {what}: too many changes are waiting for the space to open"));
            }
        }
    }

    /// Changes still waiting for the space to load.
    pub fn waiting(&self) -> usize {
        self.queue.as_ref().map(|q| q.waiting.load(Ordering::Acquire)).unwrap_or(0)
    }

    /// Takes failures of queued writes (call once a frame).
    pub fn take_errors(&mut self) {
        while let Some(e) = self.queue.as_ref().and_then(|q| q.errors.try_recv().ok()) {
            self.error = Some(e);
        }
    }

    /// The space.
    pub fn space(&self) -> &Space {
        self.model.space()
    }

    /// Keeps a failure to show.
    pub fn report<T, E: std::fmt::Display>(&mut self, r: Result<T, E>, what: &str) {
        if let Err(e) = r {
            self.error = Some(format!("Could not {what}: {e}"));
        }
    }

    /// Adds the input's text as a task (trimmed; nothing if empty) and clears the input.
    pub fn add_input(&mut self) {
        let title = self.input.trim().to_owned();
        if title.is_empty() {
            return;
        }
        self.input.clear();
        self.write("add the task", move |s| s.add_task(&title).map(|_| ()));
    }

    /// Closes the title editor, saving (trimmed) when `save`.
    pub fn finish_edit(&mut self, save: bool) {
        let Some(e) = self.editing.take() else { return };
        if !save {
            return;
        }
        let title = e.text.trim().to_owned();
        let id = e.id;
        match (title.is_empty(), self.empty_deletes) {
            (true, true) => self.write("save the task", move |s| s.delete(&id)),
            (true, false) => {}
            (false, _) => self.write("save the task", move |s| s.rename_task(&id, &title).map(|_| ())),
        }
    }

    /// Carries out a row's action.
    pub fn act(&mut self, a: RowAction) {
        match a {
            RowAction::Toggle(id, done) => {
                self.write("change the task", move |s| s.set_task_completed(&id, done).map(|_| ()))
            }
            RowAction::Delete(id) => self.write("delete the task", move |s| s.delete(&id)),
            RowAction::Move(id, to) => self.write("move the task", move |s| s.move_task(&id, to)),
            RowAction::Edit(id, text) => {
                self.finish_edit(true);
                self.editing = Some(Editing::new(id, text));
            }
        }
    }

    /// Ctrl+Z / Ctrl+Shift+Z on the space (see [`undo_keys`]).
    pub fn undo_keys(&self, ui: &egui::Ui) {
        let free = self.input_id.filter(|_| self.input.is_empty() && self.editing.is_none());
        undo_keys(ui, self.space(), free);
    }
}
